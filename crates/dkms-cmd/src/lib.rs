//! One module per dkms verb. Each exposes `VERB` (its table entry), `parse`
//! (the shared grammar and prologue) and `run`; `run_verb` is the `main` of
//! every `dkms-<verb>` binary.
#![forbid(unsafe_code)]

pub mod add;
pub mod autoinstall;
pub mod build;
pub mod builds;
pub mod common;
pub mod generate_mok;
pub mod install;
pub mod invoke;
pub mod kernel_hooks;
pub mod ldtarball;
pub mod matching;
pub mod mktarball;
pub mod recover;
pub mod remove;
pub mod signing;
pub mod status;
pub mod uninstall;

use common::Dkms;
use dkms_cli::table::{LockKind, Verb};
use dkms_cli::{ui, Ctx};
use dkms_state::error::{Error, Result};
use dkms_state::lock;
use std::ffi::OsString;
use std::process::ExitCode;

/// `parse` for any verb: upstream's grammar and start-up prologue with the
/// verb's action implied. `Err` is the exit status (already reported).
pub fn parse(verb: &'static Verb, argv0: &str, argv: &[OsString]) -> std::result::Result<Ctx, u8> {
    Ctx::start(argv0, argv, Some(verb))
}

fn runner(name: &str) -> fn(&mut Dkms) -> Result<()> {
    match name {
        "add" => add::run,
        "build" => build::run,
        "install" => install::run,
        "autoinstall" => autoinstall::run,
        "match" => matching::run,
        "mktarball" => mktarball::run,
        "ldtarball" => ldtarball::run,
        "generate_mok" => generate_mok::run,
        "kernel_postinst" => autoinstall::run_kernel_postinst,
        "kernel_preinst" => kernel_hooks::run_preinst,
        "kernel_prerm" => kernel_hooks::run_prerm,
        "remove" => remove::run,
        "status" => status::run,
        "unbuild" => remove::run_unbuild,
        "uninstall" => uninstall::run,
        other => unreachable!("no runner for {other}"),
    }
}

/// Upstream runs each kernel of a multi-kernel build/install in a subshell:
/// a failure is reported and the next kernel still runs, state set inside
/// (the conf cache, the prepared kernel, a module name found by `add`) does
/// not leak into the next one, and the exit status is the last kernel's.
pub fn for_each_kernel(d: &mut Dkms, mut f: impl FnMut(&mut Dkms, &str, &str) -> Result<()>) -> Result<()> {
    let targets = d.targets();
    let mut last = Ok(());
    for (k, a) in targets {
        let saved = d.subshell_state();
        let a2 = &d.ctx.args;
        ui::set_target(Some(ui::target(&a2.module, &a2.module_version, Some(&k), Some(&a))));
        let r = f(d, &k, &a);
        d.restore_subshell_state(saved);
        last = r.map_err(|e| {
            ui::report(&e);
            Error::exit(e.code, "reported")
        });
    }
    last
}

/// Recover an unfinished journal before anything else: under our exclusive
/// lock, or, for readers, under an exclusive lock taken just for this.
fn recover_if_needed(d: &mut Dkms, have_exclusive: bool) {
    let tree = d.ctx.trees.dkms_tree.clone();
    if !dkms_state::journal::any_pending(&tree) {
        return;
    }
    if have_exclusive {
        recover::recover(d);
        return;
    }
    if !dkms_state::fsutil::writable(&tree) {
        ui::errln("dkms: an interrupted transaction needs recovery; run dkms as root to complete it.");
        return;
    }
    let holder = std::env::args().collect::<Vec<_>>().join(" ");
    if let Ok(Some(_l)) = lock::acquire(&tree, lock::Mode::Exclusive, &holder, None, ui::errln) {
        recover::recover(d);
    }
}

/// Run by make (a recipe marked recursive, under `make -jN`): builds use
/// make's jobserver instead of adding their own `-j` on top. Looked for
/// first thing, before dkms opens pipes of its own (see `jobs::outer`).
fn join_outer_jobserver(d: &mut Dkms, action: &str) {
    if !matches!(action, "build" | "install" | "autoinstall" | "kernel_postinst" | "match" | "ldtarball") {
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

/// `main` of `dkms-<verb>`.
pub fn run_verb(verb: &'static Verb) -> ExitCode {
    let mut all = std::env::args_os();
    let argv0 = all.next().map(|a| a.to_string_lossy().into_owned()).unwrap_or_else(|| "dkms".into());
    run_verb_with(verb, &argv0, all.collect())
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

/// `run_verb` with the program name and arguments given.
pub fn run_verb_with(verb: &'static Verb, argv0: &str, argv: Vec<OsString>) -> ExitCode {
    dkms_cli::install_panic_hook();
    let ctx = match parse(verb, argv0, &argv) {
        Ok(c) => c,
        Err(code) => return ExitCode::from(code),
    };
    // A second action word on the command line of dkms-<verb> has been
    // refused by the parser; the action is ours.
    let action = ctx.args.action.unwrap_or(verb);
    // Targets from a pipeline are read completely before any lock is taken,
    // so `dkms build --json - | dkms install --json -` cannot deadlock.
    let stdin_targets = ctx.args.stdin_targets.then(read_stdin_targets);
    let mut dkms = Dkms::new(ctx);
    join_outer_jobserver(&mut dkms, action.name);
    if action.lock != LockKind::Exclusive {
        // Readers recover under an exclusive lock of their own, taken and
        // released before their shared one.
        recover_if_needed(&mut dkms, false);
    }
    let held = match action.lock {
        LockKind::None => None,
        kind => {
            let mode = if kind == LockKind::Shared { lock::Mode::Shared } else { lock::Mode::Exclusive };
            let holder = std::env::args().collect::<Vec<_>>().join(" ");
            let timeout = dkms
                .ctx
                .args
                .lock_timeout
                .or_else(|| dkms.ctx.setting("lock_timeout").parse().ok())
                .map(std::time::Duration::from_secs);
            match lock::acquire(&dkms.ctx.trees.dkms_tree, mode, &holder, timeout, ui::errln) {
                Ok(l) => l,
                Err(e) => {
                    ui::report(&e);
                    return ExitCode::from(e.code);
                }
            }
        }
    };
    if held.is_some() {
        dkms.exports.push((lock::HELD_VAR.into(), std::process::id().to_string()));
    }
    if action.lock == LockKind::Exclusive && held.is_some() {
        recover_if_needed(&mut dkms, true);
    }
    let run = runner(action.name);
    let code = match stdin_targets {
        None => {
            let a = &dkms.ctx.args;
            ui::set_target(Some(ui::target(&a.module, &a.module_version, None, None)));
            match run(&mut dkms) {
                Ok(()) => 0,
                Err(e) => {
                    ui::report(&e);
                    e.code
                }
            }
        }
        Some(targets) => run_targets(&mut dkms, run, targets),
    };
    drop(held);
    ui::emit_result(code);
    ExitCode::from(code)
}

/// Read JSON Lines from stdin: records naming a target are returned in
/// order; `error` records are passed through untouched (their targets are
/// not acted on); anything else is ignored.
fn read_stdin_targets() -> Vec<dkms_proto::Target> {
    use std::io::BufRead;
    let mut targets: Vec<dkms_proto::Target> = Vec::new();
    let mut failed: Vec<dkms_proto::Target> = Vec::new();
    for line in std::io::stdin().lock().lines().map_while(std::result::Result::ok) {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if value.get("type").and_then(|t| t.as_str()) == Some("error") {
            ui::passthrough(&line);
            if let Ok(env) = serde_json::from_value::<dkms_proto::Envelope>(value) {
                failed.extend(env.record.target());
            }
            continue;
        }
        let (Some(module), Some(version)) =
            (value.get("module").and_then(|v| v.as_str()), value.get("version").and_then(|v| v.as_str()))
        else {
            continue;
        };
        let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(String::from);
        let t = dkms_proto::Target {
            module: module.into(),
            version: version.into(),
            kernel: field("kernel"),
            arch: field("arch"),
        };
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    targets.retain(|t| !failed.iter().any(|f| f.module == t.module && f.version == t.version));
    targets
}

/// Run the verb once per target read from stdin; the exit status is that
/// of the last target that failed (0 if none did).
fn run_targets(d: &mut Dkms, run: fn(&mut Dkms) -> Result<()>, targets: Vec<dkms_proto::Target>) -> u8 {
    let (kernels, arches) = (d.ctx.kernelver.clone(), d.ctx.arch.clone());
    let mut code = 0;
    for t in targets {
        d.ctx.args.module = t.module.clone();
        d.ctx.args.module_version = t.version.clone();
        match &t.kernel {
            Some(k) => {
                d.ctx.kernelver = vec![k.clone()];
                d.ctx.arch = vec![t.arch.clone().or_else(|| arches.first().cloned()).unwrap_or_default()];
            }
            None => {
                d.ctx.kernelver = kernels.clone();
                d.ctx.arch = arches.clone();
            }
        }
        ui::set_target(Some(t.clone()));
        let saved = d.subshell_state();
        if let Err(e) = run(d) {
            ui::report(&e);
            code = e.code;
        }
        d.restore_subshell_state(saved);
    }
    code
}

#[cfg(test)]
mod tests {
    #[test]
    fn verb_constants_name_their_module() {
        assert_eq!(super::add::VERB.name, "add");
        assert_eq!(super::build::VERB.name, "build");
        assert_eq!(super::install::VERB.name, "install");
        assert_eq!(super::remove::VERB.name, "remove");
        assert_eq!(super::status::VERB.name, "status");
        assert_eq!(super::uninstall::VERB.name, "uninstall");
        assert_eq!(super::remove::UNBUILD.name, "unbuild");
    }
}
