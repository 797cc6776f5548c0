//! Running a verb: parse the command line, join an outer jobserver, take
//! the lock, recover an interrupted transaction, read stdin targets, run
//! the verb's `run` (once, or once per target), report, exit.

mod cache_status;
mod recovery;
mod signals;
mod stdin;

use crate::support::dkms::Dkms;
use crate::support::options::RunOptions;
use crate::verbs;
use dkms_cli::table::{LockKind, Verb};
use dkms_cli::ui::{self, Ui};
use dkms_cli::Ctx;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::lock;
use std::ffi::OsString;
use std::process::ExitCode;

/// `parse` for any verb: upstream's grammar and start-up prologue with the
/// verb's action implied. `Err` is the exit status (already reported).
pub(crate) fn parse(ui: &Ui, verb: &'static Verb, argv0: &str, argv: &[OsString]) -> std::result::Result<Ctx, u8> {
    Ctx::start(ui, argv0, argv, Some(verb))
}

/// The `run` of each verb of the table (a test checks that every entry has
/// one).
fn runner(verb: &Verb) -> Option<fn(&mut Dkms) -> Result<()>> {
    use dkms_cli::table as t;
    Some(match *verb {
        t::ADD => verbs::add::run,
        t::AUTOINSTALL => verbs::autoinstall::run,
        t::BUILD => verbs::build::run,
        t::CACHE => verbs::cache::run,
        t::GENERATE_MOK => verbs::generate_mok::run,
        t::ENROLL => verbs::enroll::run,
        t::SIGN => verbs::sign::run,
        t::INSTALL => verbs::install::run,
        t::KERNEL_POSTINST => verbs::kernel_postinst::run,
        t::KERNEL_PREINST => verbs::kernel_preinst::run,
        t::KERNEL_PRERM => verbs::kernel_prerm::run,
        t::KERNEL_QUEUE => verbs::kernel_queue::run,
        t::KERNEL_TRIGGER => verbs::kernel_trigger::run,
        t::LDTARBALL => verbs::ldtarball::run,
        t::LTDK => verbs::ltdk::run,
        t::MATCH => verbs::matching::run,
        t::MKTARBALL => verbs::mktarball::run,
        t::MKTREE => verbs::mktree::run,
        t::REMOVE => verbs::remove::run,
        t::STATUS => verbs::status::run,
        t::UNBUILD => verbs::unbuild::run,
        t::UNINSTALL => verbs::uninstall::run,
        t::UNMKTREE => verbs::unmktree::run,
        t::LOG => verbs::log::run,
        t::DOCTOR => verbs::doctor::run,
        _ => return None,
    })
}

/// Run by make (a recipe marked recursive, under `make -jN`): builds use
/// make's jobserver instead of adding their own `-j` on top. Looked for
/// first thing, before dkms opens pipes of its own (see `jobs::outer`).
fn join_outer_jobserver(d: &mut Dkms, action: &Verb) {
    if !action.runs_make {
        return;
    }
    if dkms_state::jobs::outer().is_none() {
        return;
    }
    // `-j 0` (parallel_jobs empty) leaves the number to make: as many
    // builds as there are CPUs may wait for its tokens.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = d.ctx.parallel_jobs.parse().unwrap_or(cpus);
    d.jobs = dkms_state::jobs::Budget::new(jobs).ok().map(std::sync::Arc::new);
}

/// How a verb locks the tree: not at all (`LockKind::None`), shared,
/// exclusive, or for a `--dry-run` (which writes nothing, not even the
/// lock file) shared where the lock file exists.
fn lock_mode(kind: LockKind, dry_run: bool) -> Option<lock::Mode> {
    match kind {
        LockKind::None => None,
        _ if dry_run => Some(lock::Mode::Peek),
        LockKind::Shared => Some(lock::Mode::Shared),
        LockKind::Exclusive => Some(lock::Mode::Exclusive),
    }
}

/// The lock on the tree in `mode` (none for None), waiting at most
/// `--lock-timeout` or framework.conf's `lock_timeout` seconds.
fn take_lock(dkms: &Dkms, mode: Option<lock::Mode>) -> Result<Option<lock::Lock>> {
    let Some(mode) = mode else { return Ok(None) };
    let setting = dkms.ctx.setting("lock_timeout");
    let timeout = match (dkms.ctx.args.lock_timeout, setting.parse::<u64>()) {
        (Some(t), _) => Some(t),
        (None, Ok(t)) => Some(t),
        (None, Err(_)) if setting.is_empty() => None,
        // Not a silent "wait forever": the flag refuses the same value.
        (None, Err(_)) => {
            return Err(Error::die(
                Kind::SettingInvalid,
                [format!("lock_timeout in framework.conf needs a number of seconds, not '{setting}'")],
            ))
        }
    };
    let holder = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
    let timeout = timeout.map(std::time::Duration::from_secs);
    lock::acquire(&dkms.ctx.trees.dkms_tree, mode, &holder, timeout, |s| dkms.ui.errln(s))
}

/// `main` of `dkms-<verb>`.
pub fn run_verb(verb: &'static Verb) -> ExitCode {
    let mut all = std::env::args_os();
    let argv0 = all.next().map(|a| a.to_string_lossy().into_owned()).unwrap_or_else(|| "dkms".into());
    run_verb_with(&Ui::new(), verb, &argv0, all.collect())
}

/// `main` of `dkms`. The release build is one binary under many names
/// (`make release` hardlinks `dkms-<verb>` to `dkms`): invoked as
/// `dkms-<verb>` — by `argv[0]`, or by the file the kernel executed, which
/// is how the front-end's exec of a hardlink is recognised — it is that
/// verb; otherwise it is the front-end, which runs a verb in-process
/// instead of exec'ing a `dkms-<verb>` that is this very file.
pub fn run_dkms() -> ExitCode {
    let name_of = |p: &std::path::Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let argv0 = std::env::args_os().next().map(std::path::PathBuf::from);
    let exe = std::env::current_exe().ok();
    for name in [argv0.as_deref().and_then(name_of), exe.as_deref().and_then(name_of)].into_iter().flatten() {
        if let Some(verb) = dkms_cli::table::verb_by_binary(&name) {
            return run_verb(verb);
        }
    }
    dkms_cli::frontend::main_with(Some(run_verb_with))
}

/// `run_verb` with the output, program name and arguments given (the
/// front-end's output when it runs the verb in-process).
pub(crate) fn run_verb_with(ui: &Ui, verb: &'static Verb, argv0: &str, argv: Vec<OsString>) -> ExitCode {
    dkms_cli::install_panic_hook();
    signals::install();
    // Not upstream: live progress lines step aside for a child writing to
    // the terminal (`--progress`).
    dkms_state::tools::around_inherited(dkms_cli::live::pause, dkms_cli::live::resume);
    let ctx = match parse(ui, verb, argv0, &argv) {
        Ok(c) => c,
        Err(code) => return ExitCode::from(code),
    };
    if let Some(argv) = cache_status::upstreams(&ctx, verb, &argv) {
        return run_verb_with(ui, &dkms_cli::table::STATUS, argv0, argv);
    }
    // A second action word on the command line of dkms-<verb> has been
    // refused by the parser; the action is ours.
    let action = ctx.args.action.unwrap_or(verb);
    // Targets from a pipeline are read completely before any lock is taken,
    // so `dkms build --json - | dkms install --json -` cannot deadlock.
    let stdin_targets = ctx.args.stdin_targets.then(|| stdin::read_stdin_targets(ui));
    let opts = RunOptions::from_args(&ctx.args);
    let mv = (ctx.args.module.clone(), ctx.args.module_version.clone());
    let mut dkms = Dkms::new(ctx, ui.clone(), opts, mv, crate::ops::autoinstall::autoinstall);
    join_outer_jobserver(&mut dkms, action);
    if action.runs_make {
        if let Err(e) = dkms.sandbox_check() {
            dkms.report(&e);
            dkms.ui.emit_result(e.code);
            return ExitCode::from(e.code);
        }
    }
    // A dry run writes nothing: a shared lock (the tree may not change
    // under the plan), and no recovery, which it mentions instead.
    let dry_run = dkms.ctx.args.dry_run;
    let mode = lock_mode(action.lock, dry_run);
    if dry_run {
        recovery::mention_pending(&dkms);
    } else if action.lock != LockKind::Exclusive && *action != dkms_cli::table::DOCTOR {
        // Readers recover under an exclusive lock of their own, taken and
        // released before their shared one (doctor only reports it).
        recovery::recover_if_needed(&mut dkms, false);
    }
    let held = match take_lock(&dkms, mode) {
        Ok(l) => l,
        Err(e) => {
            dkms.report(&e);
            dkms.ui.emit_result(e.code);
            return ExitCode::from(e.code);
        }
    };
    if held.is_some() {
        dkms.exports.push((lock::HELD_VAR.into(), std::process::id().to_string()));
    }
    if mode == Some(lock::Mode::Exclusive) && held.is_some() {
        recovery::recover_if_needed(&mut dkms, true);
    }
    let run = runner(action).unwrap_or_else(|| unreachable!("no runner for {}", action.name));
    let code = match stdin_targets {
        None => {
            let a = &dkms.ctx.args;
            dkms.reporting = Some(ui::target(&a.module, &a.module_version, None, None));
            match run(&mut dkms) {
                Ok(()) => 0,
                Err(e) => {
                    dkms.report(&e);
                    e.code
                }
            }
        }
        Some(targets) => stdin::run_targets(&mut dkms, run, targets),
    };
    // A signal being handled: its thread exits, holding the lock until
    // the children are stopped.
    dkms_state::tools::settle();
    drop(held);
    dkms.ui.emit_result(code);
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_table_verb_has_a_runner() {
        for v in dkms_cli::table::VERBS {
            assert!(super::runner(v).is_some(), "no runner for {}", v.name);
        }
        let unknown = dkms_cli::table::Verb { name: "no-such-verb", ..dkms_cli::table::ADD };
        assert!(super::runner(&unknown).is_none());
    }
}
