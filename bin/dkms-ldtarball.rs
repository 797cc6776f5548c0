//! `dkms-ldtarball`: see dkms_cmd::ldtarball.
fn main() -> std::process::ExitCode {
    dkms_cmd::run_verb(dkms_cmd::ldtarball::VERB)
}
