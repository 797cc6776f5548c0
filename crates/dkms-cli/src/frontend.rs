//! The git-style `dkms` front-end: find the action word anywhere in argv,
//! and exec `dkms-<verb>` with the other arguments in their original order,
//! so exit status and signals pass straight through.
//!
//! When the verb's binary is this very file (the release build hardlinks
//! every `dkms-<verb>` to one multicall `dkms`), it runs in-process instead.
//!
//! Built-in verbs are looked up in `--exec-path=DIR` / `DKMS_EXEC_PATH`, the
//! directory of the running executable (`current_exe`, which resolves
//! `/usr/sbin/dkms` symlinks) when `dkms-<verb>` is there, then the libexec
//! dir baked in at build time — so a fresh build in `target/release` runs
//! its own verbs, not stale ones installed in the libexec dir. Never on
//! `$PATH`, since dkms runs as root from kernel hooks. Words that are not
//! upstream actions may name `dkms-<word>` plugins on `$PATH`.

use crate::args;
use crate::ctx::Ctx;
use crate::table::{Verb, EXEC_PATH, LIST_CMDS, VERBS};
use crate::ui::{self, Ui};
use dkms_state::env;
use dkms_state::error::{Error, Kind};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// Where built-in binaries are looked up, in order.
pub fn exec_path(cli: Option<PathBuf>) -> Vec<PathBuf> {
    lookup_order(
        cli.or_else(|| env::nonempty("DKMS_EXEC_PATH").map(PathBuf::from)),
        std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from)),
        option_env!("DKMS_LIBEXECDIR").map(PathBuf::from),
    )
}

/// The lookup order: the directory given (`--exec-path`, `DKMS_EXEC_PATH`),
/// the running executable's own directory, the baked-in libexec dir; each
/// directory once.
fn lookup_order(given: Option<PathBuf>, own: Option<PathBuf>, libexec: Option<PathBuf>) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for d in [given, own, libexec].into_iter().flatten() {
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    dirs
}

/// The binary implementing `verb`, if built.
pub fn find_builtin(verb: &Verb, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(verb.binary)).find(|p| p.is_file())
}

/// `dkms-<name>` plugins on `$PATH` (names that are not built-in binaries).
pub fn plugins() -> Vec<String> {
    let mut v: Vec<String> = env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("dkms-").map(String::from))
        .filter(|n| !VERBS.iter().any(|v| v.binary == format!("dkms-{n}")))
        .filter(|n| which::which(format!("dkms-{n}")).is_ok())
        .collect();
    v.sort();
    v.dedup();
    v
}

fn exec(ui: &Ui, program: PathBuf, argv0: &str, args: Vec<OsString>) -> ExitCode {
    ui::flush();
    let json = args::json_requested(&args);
    let err = dkms_state::tools::exec(&program, argv0, args);
    fail(ui, json, Error::die(Kind::ExecFailed, [format!("Cannot run {}: {err}", program.display())]))
}

/// Report a failure of the front-end itself (then, in JSON mode, the
/// `result` record) and exit with its status.
fn fail(ui: &Ui, json: bool, e: Error) -> ExitCode {
    ui.set_json(json);
    ui.report(&e);
    ui.emit_result(e.code);
    ExitCode::from(e.code)
}

/// Runs a built-in verb in this process: `(verb, argv0, arguments)`.
pub type InProcess = fn(&Ui, &'static Verb, &str, Vec<OsString>) -> ExitCode;

/// Is `bin` the file this process is running (a hardlink or symlink to
/// it)? Then exec'ing it would only start this program again.
fn is_this_program(bin: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(me), Ok(it)) = (std::env::current_exe().and_then(std::fs::metadata), std::fs::metadata(bin)) else {
        return false;
    };
    (me.dev(), me.ino()) == (it.dev(), it.ino())
}

/// `main` of a front-end that cannot run verbs itself.
pub fn main() -> ExitCode {
    main_with(None)
}

/// `main` of the `dkms` binary. With `in_process`, a built-in verb whose
/// binary is this very program (the hardlinked release layout) runs here
/// rather than through an exec of the same file.
pub fn main_with(in_process: Option<InProcess>) -> ExitCode {
    crate::install_panic_hook();
    let ui = Ui::new();
    let mut all = std::env::args_os();
    let argv0 = all.next().map(|a| a.to_string_lossy().into_owned()).unwrap_or_else(|| "dkms".into());
    let mut argv: Vec<OsString> = Vec::new();
    let mut exec_dir = None;
    for a in all {
        match a.to_str().and_then(|s| s.strip_prefix(EXEC_PATH.long)).and_then(|s| s.strip_prefix('=')) {
            Some(d) => exec_dir = Some(PathBuf::from(d)),
            None => argv.push(a),
        }
    }
    if argv.first().is_some_and(|a| a == crate::complete::WORD) {
        return crate::complete::main(&ui, &argv[1..]);
    }
    let dirs = exec_path(exec_dir);
    if argv.len() == 1 && argv[0] == LIST_CMDS.long {
        for v in VERBS.iter().filter(|v| find_builtin(v, &dirs).is_some()) {
            ui.outln(v.name);
        }
        for p in plugins() {
            ui.outln(&p);
        }
        return ExitCode::SUCCESS;
    }

    let words = args::Words::of(&argv);
    let actions = if words.is_cache_status() { vec![(0, &crate::table::CACHE)] } else { words.actions() };
    if let [(at, verb)] = actions[..] {
        let Some(bin) = find_builtin(verb, &dirs) else {
            let e = Error::die(
                Kind::VerbMissing,
                [
                    format!("The action {} is not available in this build of dkms.", verb.name),
                    format!(
                        "{} was not found in: {}",
                        verb.binary,
                        dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
                    ),
                ],
            );
            return fail(&ui, args::json_requested(&argv), e);
        };
        let mut rest = argv;
        rest.remove(at);
        if let Some(run) = in_process.filter(|_| is_this_program(&bin)) {
            return run(&ui, verb, &argv0, rest);
        }
        return exec(&ui, bin, &argv0, rest);
    }
    if actions.is_empty() {
        if let Some((at, word)) = words.first_word() {
            if let Ok(plugin) = which::which(format!("dkms-{word}")) {
                let mut rest = argv;
                rest.remove(at);
                return exec(&ui, plugin, &argv0, rest);
            }
        }
    }
    // No action or several: upstream's own messages, in upstream's order.
    match Ctx::start(&ui, &argv0, &argv, None) {
        Err(code) => ExitCode::from(code),
        Ok(_) => {
            // Upstream exits 0 here; JSON gets the error record all the same.
            ui.report(&Error::die(Kind::ActionMissing, ["Unknown action specified: \"\""]));
            ui.usage(&argv0);
            ui.emit_result(0);
            ExitCode::SUCCESS
        }
    }
}

#[cfg(test)]
mod tests {
    use super::lookup_order;
    use std::path::PathBuf;

    fn p(s: &str) -> Option<PathBuf> {
        Some(PathBuf::from(s))
    }

    #[test]
    fn own_directory_before_the_baked_libexec_dir() {
        let own = p("/src/target/release");
        let libexec = p("/usr/local/libexec/dkms");
        assert_eq!(
            lookup_order(None, own.clone(), libexec.clone()),
            [own.clone(), libexec.clone()].into_iter().flatten().collect::<Vec<_>>()
        );
        // --exec-path / DKMS_EXEC_PATH comes first.
        assert_eq!(
            lookup_order(p("/x"), own.clone(), libexec.clone()),
            [p("/x"), own.clone(), libexec.clone()].into_iter().flatten().collect::<Vec<_>>()
        );
        // No libexec dir baked in (a debug build); a directory listed once.
        assert_eq!(lookup_order(None, own.clone(), None), vec![own.clone().unwrap()]);
        assert_eq!(lookup_order(libexec.clone(), own.clone(), libexec.clone()).len(), 2);
        assert_eq!(lookup_order(None, libexec.clone(), libexec.clone()), vec![libexec.unwrap()]);
    }
}
