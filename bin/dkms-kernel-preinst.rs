//! `dkms-kernel-preinst`: runs the verb `kernel_preinst` (crates/dkms-cmd/src/verbs).
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(&dkms_cli::table::KERNEL_PREINST)
}
