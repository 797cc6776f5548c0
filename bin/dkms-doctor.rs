//! `dkms-doctor`: runs the verb `doctor` (crates/dkms-cmd/src/verbs).
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(&dkms_cli::table::DOCTOR)
}
