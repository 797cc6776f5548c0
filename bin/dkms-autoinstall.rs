//! `dkms-autoinstall`: see dkms_cmd::autoinstall.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(dkms_cmd::autoinstall::VERB)
}
