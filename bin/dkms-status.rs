//! `dkms-status`: see dkms_cmd::status.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(dkms_cmd::status::VERB)
}
