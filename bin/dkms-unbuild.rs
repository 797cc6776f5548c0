//! `dkms-unbuild`: see dkms_cmd::remove.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(dkms_cmd::remove::UNBUILD)
}
