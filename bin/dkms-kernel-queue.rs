//! `dkms-kernel-queue`: runs the verb `kernel_queue` (crates/dkms-cmd/src/verbs).
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(&dkms_cli::table::KERNEL_QUEUE)
}
