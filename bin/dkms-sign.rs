//! `dkms-sign`: runs the verb `sign` (crates/dkms-cmd/src/verbs).
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(&dkms_cli::table::SIGN)
}
