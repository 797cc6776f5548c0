//! `dkms`: the git-style front-end that dispatches to `dkms-<verb>`.
fn main() -> std::process::ExitCode {
    dkms_cli::frontend::main()
}
