//! `dkms-uninstall`: see dkms_cmd::uninstall.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(dkms_cmd::uninstall::VERB)
}
