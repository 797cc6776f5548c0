//! What a command line asks of the run before anything else, done after
//! parsing (which only stores it, `args::parse`): the notices parsing met,
//! `-q`, then a refusal, `--version` or `--help`, in upstream's order.

use crate::args::{self, Args, Notice, Parsed, Special};
use crate::ui::{self, Ui};
use dkms_state::error::{Error, Result};
use std::ffi::OsString;

/// Act on what `argv` parsed to: `Ok` with the arguments when the run goes
/// on, else `Err` with the status to exit with, all printed.
pub fn settle(ui: &Ui, parsed: Parsed, argv: &[OsString], argv0: &str) -> Result<Args> {
    let Parsed { args: a, refused } = parsed;
    // Known before the first error, which may come earlier in argv.
    ui.set_json(args::json_requested(argv));
    // Notices are kept only from before any -q: printed, then silenced.
    for n in &a.notices {
        match n {
            Notice::Deprecated(what) => ui.deprecated(what),
            Notice::Unhandled(word) => ui.warn(&[format!("I do not know how to handle {word}.")]),
        }
    }
    if a.quiet {
        go_quiet(ui);
    }
    if let Some(r) = refused {
        ui.report(&r.error);
        if r.usage {
            ui.usage(argv0);
        }
        return Err(Error::reported(r.error.code));
    }
    match a.special {
        Some(Special::Version) if ui.json() => {
            ui.emit(dkms_proto::Record::Version { version: crate::RELEASE_STRING.into() });
        }
        Some(Special::Version) => ui.outln(crate::RELEASE_STRING),
        Some(Special::Help) => ui.usage(argv0),
        None => {
            ui.set_json(a.json);
            return Ok(a);
        }
    }
    // After the `version` record no `result` follows (`Ui::emit`).
    Err(Error::reported(0))
}

/// Redirect our stdout and stderr to /dev/null, as upstream's
/// `exec >/dev/null 2>&1` does for `-q` (children inherit it too). With
/// `--json` stdout carries only the records a script asked for (the human
/// text and children's output go to stderr): only stderr is silenced.
fn go_quiet(ui: &Ui) {
    ui::flush();
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        if !ui.json() {
            let _ = nix::unistd::dup2_stdout(&null);
        }
        let _ = nix::unistd::dup2_stderr(&null);
    }
}
