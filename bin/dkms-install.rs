//! `dkms-install`: see dkms_cmd::install.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(dkms_cmd::install::VERB)
}
