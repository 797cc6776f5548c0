//! `dkms-match`: see dkms_cmd::matching.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(dkms_cmd::matching::VERB)
}
