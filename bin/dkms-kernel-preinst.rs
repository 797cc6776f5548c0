//! `dkms-kernel-preinst`: see dkms_cmd::kernel_hooks.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(dkms_cmd::kernel_hooks::KERNEL_PREINST)
}
