//! `dkms-kernel-trigger`: runs the verb `kernel_trigger` (crates/dkms-cmd/src/verbs).
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(&dkms_cli::table::KERNEL_TRIGGER)
}
