//! `dkms-add`: see dkms_cmd::add.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(dkms_cmd::add::VERB)
}
