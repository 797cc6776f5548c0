//! `dkms-enroll`: runs the verb `enroll` (crates/dkms-cmd/src/verbs).
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(&dkms_cli::table::ENROLL)
}
