//! `dkms-mktarball`: see dkms_cmd::mktarball.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(dkms_cmd::mktarball::VERB)
}
