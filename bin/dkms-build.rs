//! `dkms-build`: see dkms_cmd::build.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(dkms_cmd::build::VERB)
}
