//! `dkms-generate-mok`: see dkms_cmd::generate_mok.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(dkms_cmd::generate_mok::VERB)
}
