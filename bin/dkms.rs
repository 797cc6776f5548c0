//! `dkms`: the git-style front-end that dispatches to `dkms-<verb>`, and
//! the verb itself when invoked as a hardlinked `dkms-<verb>`.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_dkms()
}
