//! `dkms-generate-mok`: runs the verb `generate_mok` (crates/dkms-cmd/src/verbs).
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(&dkms_cli::table::GENERATE_MOK)
}
