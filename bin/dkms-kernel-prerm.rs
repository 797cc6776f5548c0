//! `dkms-kernel-prerm`: runs the verb `kernel_prerm` (crates/dkms-cmd/src/verbs).
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(&dkms_cli::table::KERNEL_PRERM)
}
