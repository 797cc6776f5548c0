//! `dkms autoinstall` and `dkms kernel_postinst` (`autoinstall` upstream):
//! install the newest version of every AUTOINSTALL module on a kernel, in
//! BUILD_DEPENDS order.
//!
//! The work is planned first — per kernel, one job per module with its
//! dependency edges — then executed in upstream's order: rounds of jobs
//! whose dependencies are done, installed one by one. When two or more
//! modules need building, the builds run ahead in the background
//! (`builds`), side by side under one jobs budget, their output captured and
//! printed when the install gets to them, so the output is upstream's, byte
//! for byte. depmod runs once per kernel at the end instead of after every
//! module (unless modules are loaded on install, which needs it current).
//!
//! Extensions: several kernels in one run (`-k` repeated, or
//! `--all-kernels`: every kernel of the install tree that has headers), one
//! plan for all of them.

use super::parallel::{Builds, Key};
use crate::support::dkms::Signer;
use crate::support::dkms::{Dkms, Target};
use crate::support::options::BuildOptions;
use dkms_cli::ui::{self, Ui};
use dkms_proto::{Record, SkipReason};
use dkms_state::capture::{self, Capture, Chunks};
use dkms_state::conf::Conf;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::failures;
use dkms_state::jobs::Budget;
use dkms_state::status::{self, State};
use dkms_state::version;
use std::sync::Arc;

/// One module to install, with the dependencies it still waits for.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) module: String,
    pub(crate) version: String,
    pub(crate) depends: Vec<String>,
}

/// The plan: modules already installed, and the jobs to run.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) known: Vec<String>,
    pub(crate) installed: Vec<String>,
    pub(crate) jobs: Vec<Job>,
}

/// Decide what to install: the newest version of each module (by upstream's
/// VER compare), skipping installed ones and those without AUTOINSTALL
/// (each skip is told to `skip`, in order).
pub(crate) fn plan(
    d: &mut Dkms,
    k: &str,
    a: &str,
    opts: Options,
    skip: &mut dyn FnMut(&str, &str, SkipReason),
) -> Result<Plan> {
    let mut p = Plan::default();
    let mut latest: Vec<(String, String)> = Vec::new();
    for e in status::module_status(&d.ctx.trees, None, None, None, None) {
        if e.state == State::Broken {
            d.ui.error(&[
                format!(
                    "{}/{} is broken! Missing the source directory or the symbolic link pointing to it.",
                    e.module, e.version
                ),
                "Manual intervention is required!".into(),
            ]);
            continue;
        }
        match latest.iter_mut().find(|(m, _)| *m == e.module) {
            None => {
                p.known.push(e.module.clone());
                latest.push((e.module, e.version));
            }
            Some(slot) => {
                if version::compare(&e.version, &slot.1).is_gt() {
                    slot.1 = e.version;
                }
            }
        }
    }
    for (m, v) in latest {
        if status::is_active(&d.ctx.trees, &m, &v, k, a) {
            skip(&m, &v, SkipReason::AlreadyInstalled);
            p.installed.push(m);
            continue;
        }
        let file = d.ctx.trees.source_link(&m, &v).join("dkms.conf");
        let conf = d.read_conf_or_die(Target::new(&m, &v, k, a), Some(&file), false)?;
        if !conf.autoinstall {
            skip(&m, &v, SkipReason::NotAutoinstall);
            continue;
        }
        if opts.skip_known_failures && known_failure(d, Target::new(&m, &v, k, a)) {
            continue;
        }
        p.jobs.push(Job { module: m, version: v, depends: conf.build_depends.clone() });
    }
    Ok(p)
}

/// How an autoinstall runs.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// Started by a kernel hook's trigger (not by hand): a module whose
    /// remembered build failure for the kernel has the same inputs is not
    /// built again (it would fail the same way, once per apt run).
    pub(crate) skip_known_failures: bool,
    /// What each install (and its build) is run with.
    pub(crate) build: BuildOptions,
}

/// Did m/v fail to build for k/a with the inputs it has now? If so, say so
/// in one line, naming its log and how to retry. Not in upstream dkms.
fn known_failure(d: &Dkms, x: Target) -> bool {
    let Target { m, v, k, a } = x;
    let Some(f) = failures::read(&d.ctx.trees.dkms_tree, m, v, k, a) else { return false };
    let now = failures::inputs_hash(&d.ctx.trees.source_link(m, v), &d.kernel_config(k), k);
    if f.inputs_hash.is_empty() || f.inputs_hash != now {
        return false;
    }
    d.ui.outln(&format!(
        "dkms: not building {m}/{v} for kernel {k} ({a}) again: it failed with the same sources and kernel \
         (dkms log {m}/{v} -k {k}); retry with: dkms autoinstall -k {k}"
    ));
    true
}

/// One kernel's part of the run, planned before anything is built.
struct KernelRun {
    k: String,
    a: String,
    plan: Result<Plan>,
    /// What planning printed, shown when the kernel's turn comes.
    plan_out: Chunks,
    /// The conf planning read last (upstream's `last_mvka`), which every
    /// install of this kernel starts from.
    last_conf: Option<(String, Conf)>,
    package_name: String,
    /// `prepare_kernel_and_signing`, run ahead for the background builds.
    prologue: Option<Prologue>,
}

/// A `prepare_kernel_and_signing` run ahead of its turn.
struct Prologue {
    chunks: Chunks,
    result: Result<()>,
    prepared_kernel: Option<String>,
    signer: Option<Signer>,
}

fn plan_kernel(d: &mut Dkms, k: &str, a: &str, opts: Options) -> KernelRun {
    let out = Capture::new();
    let ui = d.ui.clone();
    let mut skipped = |m: &str, v: &str, reason| {
        ui.emit(Record::Skipped { target: ui::target(m, v, Some(k), Some(a)), reason });
    };
    let plan = capture::scoped(Some(out.clone()), || plan(d, k, a, opts, &mut skipped));
    KernelRun {
        k: k.into(),
        a: a.into(),
        plan,
        plan_out: out.take(),
        last_conf: d.last_conf.clone(),
        package_name: d.package_name.clone(),
        prologue: None,
    }
}

/// `autoinstall` for the kernels of the command line.
pub(crate) fn autoinstall(d: &mut Dkms, opts: &BuildOptions) -> Result<()> {
    autoinstall_with(d, Options { build: *opts, ..Options::default() })
}

/// `autoinstall` for the kernels this run is for, run as `opts` say.
pub(crate) fn autoinstall_with(d: &mut Dkms, opts: Options) -> Result<()> {
    if d.ctx.conf_dir.join("no-autoinstall").is_file() {
        d.ui.outln("Automatic installation of modules has been disabled.");
        return Ok(());
    }
    let targets = d.targets();
    let mut runs: Vec<KernelRun> = targets.iter().map(|(k, a)| plan_kernel(d, k, a, opts)).collect();
    let saved_jobs = d.jobs.clone();
    let builds = start_builds(d, &opts.build, &mut runs);
    d.builds = builds.clone().map(|b| b as Arc<dyn crate::support::dkms::BuildsAhead>);
    if !d.ctx.modprobe_on_install {
        d.deferred_depmod = Some(Default::default());
    }
    let several = runs.len() > 1;
    let mut first_failure: Option<u8> = None;
    let mut result = Ok(());
    for run in runs {
        match autoinstall_kernel(d, &opts.build, run, builds.as_deref()) {
            Err(e) if several => {
                d.report(&e);
                first_failure.get_or_insert(e.code);
            }
            Err(e) => {
                result = Err(e);
                break;
            }
            Ok(()) => {}
        }
    }
    d.builds = None;
    if let Some(b) = builds {
        b.finish();
    }
    // A kernel whose turn ended early (an error before its summary) or never
    // came (the run died before) still gets the depmod of what was
    // installed for it.
    for (k, _) in &targets {
        d.run_deferred_depmod(k);
    }
    d.deferred_depmod = None;
    d.jobs = saved_jobs;
    match first_failure {
        Some(code) => Err(Error::reported(code)),
        None => result,
    }
}

/// The deferred depmod of a kernel failed: say so (the modules stay
/// installed; a later depmod fixes the index).
fn depmod_result(k: &str, status: Option<i32>) -> Result<()> {
    match status {
        Some(st) if st != 0 => Err(Error::die(
            Kind::DepmodFailed,
            [
                format!("Problems with depmod detected (exit status {st}) for kernel {k}."),
                format!("The modules are installed, but modules.dep is not up to date: run 'depmod -a {k}'."),
            ],
        )),
        _ => Ok(()),
    }
}

/// The jobs of a kernel's plan that need building (a dry run counts them
/// too, to say whether builds run side by side).
pub(crate) fn unbuilt(d: &Dkms, plan: &Plan, k: &str, a: &str) -> Vec<Job> {
    plan.jobs.iter().filter(|j| !status::is_module_built(&d.ctx.trees, &j.module, &j.version, k, a)).cloned().collect()
}

/// Whether `total` builds run ahead, side by side (two or more of them,
/// and `parallel_jobs` or an outer jobserver allows two or more at once):
/// the number of jobs when they do.
pub(crate) fn side_by_side(d: &Dkms, total: usize) -> Option<usize> {
    let jobs = match d.ctx.parallel_jobs.as_str() {
        "" => total,
        n => n.parse::<usize>().ok()?,
    };
    (total >= 2 && (jobs >= 2 || d.jobs.is_some())).then_some(jobs)
}

/// When two or more modules need building, start the background builds:
/// one budget of `parallel_jobs` for all (or the outer make's jobserver),
/// each kernel's signing prologue run ahead, each build queued with the
/// session it would start from.
fn start_builds(d: &mut Dkms, opts: &BuildOptions, runs: &mut [KernelRun]) -> Option<Arc<Builds>> {
    let todos: Vec<Vec<Job>> =
        runs.iter().map(|r| r.plan.as_ref().map(|p| unbuilt(d, p, &r.k, &r.a)).unwrap_or_default()).collect();
    let total: usize = todos.iter().map(Vec::len).sum();
    let jobs = side_by_side(d, total)?;
    let budget = match d.jobs.clone() {
        Some(b) => b,
        None => Arc::new(Budget::new(jobs).ok()?),
    };
    d.jobs = Some(Arc::clone(&budget));
    let builds = Builds::start(budget, total, *opts);
    for (run, todo) in runs.iter_mut().zip(todos) {
        if todo.is_empty() {
            continue;
        }
        let mut start = d.clone();
        start.builds = None;
        start.deferred_depmod = None;
        start.last_conf = run.last_conf.clone();
        start.package_name = run.package_name.clone();
        let out = Capture::new();
        let result = capture::scoped(Some(out.clone()), || {
            super::prepare_kernel::prepare_kernel_and_signing(&mut start, &run.k, &run.a)
        });
        let ok = result.is_ok();
        run.prologue = Some(Prologue {
            chunks: out.take(),
            result,
            prepared_kernel: start.prepared_kernel.clone(),
            signer: start.signer.clone(),
        });
        if !ok {
            // Its turn will show the failure; nothing of it is built.
            continue;
        }
        let installed = run.plan.as_ref().map(|p| p.installed.clone()).unwrap_or_default();
        for job in todo {
            let depends = job.depends.into_iter().filter(|dep| !installed.contains(dep)).collect();
            builds.add((job.module, job.version, run.k.clone(), run.a.clone()), depends, start.clone());
        }
    }
    Some(builds)
}

/// `prepare_kernel_and_signing` where upstream's loop calls it: the one
/// run ahead, printed now, or the real thing.
fn prepare(d: &mut Dkms, k: &str, a: &str, prologue: &mut Option<Prologue>) -> Result<()> {
    let Some(p) = prologue.take() else { return super::prepare_kernel::prepare_kernel_and_signing(d, k, a) };
    d.ui.replay(p.chunks);
    p.result?;
    d.prepared_kernel = p.prepared_kernel;
    d.signer = p.signer;
    Ok(())
}

/// What a kernel's autoinstall did with each module (upstream's
/// `installed_modules`, `skipped_modules`, `failed_modules`).
#[derive(Default)]
struct Outcome {
    installed: Vec<String>,
    skipped: Vec<String>,
    failed: Vec<String>,
}

impl Outcome {
    /// The summary lines upstream prints after the kernel's modules.
    fn print(&self, ui: &Ui, k: &str) {
        if !self.installed.is_empty() {
            ui.outln(&format!("Autoinstall on {k} succeeded for module(s) {}.", self.installed.join(" ")));
        }
        if !self.skipped.is_empty() {
            ui.outln(&format!("Autoinstall on {k} was skipped for module(s) {}.", self.skipped.join(" ")));
        }
        if !self.failed.is_empty() {
            ui.outln(&format!("Autoinstall on {k} failed for module(s) {}.", self.failed.join(" ")));
        }
    }
}

/// `autoinstall` on one kernel.
fn autoinstall_kernel(d: &mut Dkms, opts: &BuildOptions, mut run: KernelRun, builds: Option<&Builds>) -> Result<()> {
    d.ui.replay(std::mem::take(&mut run.plan_out));
    d.last_conf = run.last_conf.take();
    d.package_name = std::mem::take(&mut run.package_name);
    let (k, a) = (run.k.clone(), run.a.clone());
    let mut plan = std::mem::replace(&mut run.plan, Ok(Plan::default()))?;
    if plan.jobs.is_empty() {
        return Ok(());
    }
    let mut done = Outcome { installed: plan.installed.clone(), ..Outcome::default() };
    let mut to_install = std::mem::take(&mut plan.jobs);
    loop {
        let mut progress = 0;
        for job in to_install.iter_mut() {
            job.depends.retain(|dep| !done.installed.contains(dep) && !done.skipped.contains(dep));
        }
        let mut next = Vec::new();
        for job in to_install {
            if !job.depends.is_empty() {
                next.push(job);
                continue;
            }
            if install_job(d, opts, &job, &mut run, builds, &mut done)? {
                progress += 1;
            }
        }
        to_install = next;
        if progress == 0 {
            break;
        }
    }
    // One depmod for everything installed on this kernel, before the summary.
    let depmod = d.run_deferred_depmod(&k);
    done.print(&d.ui, &k);
    let unresolved = report_waiting(&d.ui, &to_install, &plan.known, &k, &a);
    if !done.failed.is_empty() || !unresolved.is_empty() {
        if let Err(e) = depmod_result(&k, depmod) {
            d.report(&e);
        }
        return Err(autoinstall_failed());
    }
    depmod_result(&k, depmod)
}

/// Install one module whose dependencies are settled, as upstream's loop
/// does (preparing the kernel first where it would build), noting the
/// outcome in `done`; whether it is settled (installed or skipped), which
/// lets what waits for it go on.
fn install_job(
    d: &mut Dkms,
    opts: &BuildOptions,
    job: &Job,
    run: &mut KernelRun,
    builds: Option<&Builds>,
    done: &mut Outcome,
) -> Result<bool> {
    let (m, v, k, a) = (job.module.as_str(), job.version.as_str(), run.k.clone(), run.a.clone());
    let key: Key = (m.to_string(), v.to_string(), k.clone(), a.clone());
    let in_background = builds.as_ref().is_some_and(|b| b.owns(&key));
    if in_background || !status::is_module_built(&d.ctx.trees, m, v, &k, &a) {
        prepare(d, &k, &a, &mut run.prologue)?;
    }
    d.ui.outln(&format!("Autoinstall of module {m}/{v} for kernel {k} ({a})"));
    let result = install_in_subshell(d, opts, Target::new(m, v, &k, &a));
    remember(d, Target::new(m, v, &k, &a), result.as_ref().err());
    let settled = match result.map_or_else(|e| i32::from(e.code), |()| 0) {
        0 => {
            done.installed.push(m.to_string());
            true
        }
        77 => {
            done.skipped.push(m.to_string());
            true
        }
        code => {
            done.failed.push(format!("{m}({code})"));
            false
        }
    };
    // Builds waiting for this module may start.
    if let (true, Some(b)) = (settled, builds) {
        b.resolved(m, &k, &a);
    }
    d.ui.outln("");
    Ok(settled)
}

/// A kernel's autoinstall failed for some module (each said before).
pub(crate) fn autoinstall_failed() -> Error {
    Error::die(
        Kind::AutoinstallFailed,
        ["One or more modules failed to install during autoinstall.", "Refer to previous errors for more information."],
    )
}

/// The modules still waiting for BUILD_DEPENDS at the end of a kernel's
/// turn: those whose dependency failed (returned) and those deferred
/// because a dependency is not registered, said as upstream says it.
fn report_waiting(ui: &Ui, to_install: &[Job], known: &[String], k: &str, a: &str) -> Vec<String> {
    let (mut unresolved, mut deferred) = (Vec::new(), Vec::new());
    for job in to_install {
        let mv = format!("{}/{}", job.module, job.version);
        let (real, later): (Vec<&String>, Vec<&String>) = job.depends.iter().partition(|dep| known.contains(dep));
        let reason = waiting_reason(job, known);
        if reason == SkipReason::DependencyFailed {
            let list: String = real.iter().map(|s| format!(" {s}")).collect();
            ui.outln(&format!("{mv} autoinstall failed due to missing dependencies:{list}."));
            unresolved.push(mv);
        } else {
            let list: String = later.iter().map(|s| format!(" {s}")).collect();
            ui.outln(&format!("{mv} autoinstall deferred: BUILD_DEPENDS not registered with DKMS:{list}."));
            deferred.push(mv);
        }
        ui.emit(Record::Skipped { target: ui::target(&job.module, &job.version, Some(k), Some(a)), reason });
    }
    if !deferred.is_empty() {
        ui.outln(&format!(
            "Autoinstall on {k} deferred module(s) {} due to BUILD_DEPENDS not yet registered with DKMS.",
            deferred.join(" ")
        ));
        ui.outln("These may be provided externally or by a package not yet configured; autoinstall will retry on the next trigger.");
    }
    unresolved
}

/// Why a job still waits at the end of its kernel's turn: a dependency
/// that is registered failed, or one is not registered with DKMS at all.
pub(crate) fn waiting_reason(job: &Job, known: &[String]) -> SkipReason {
    if job.depends.iter().any(|dep| known.contains(dep)) {
        SkipReason::DependencyFailed
    } else {
        SkipReason::DependencyNotRegistered
    }
}

/// Not upstream: a failed autoinstall of a module is remembered
/// (`dkms_state::failures`: for `dkms status`, `doctor` and the kernel
/// hooks' closing list). A failed build has recorded itself, with its own
/// kind and make.log; what fails after the build (the install) is noted
/// here. A later install or BUILD_EXCLUSIVE skip forgets it. Best effort:
/// the record is a note, not state.
fn remember(d: &Dkms, x: Target, failure: Option<&Error>) {
    let tree = &d.ctx.trees.dkms_tree;
    let Target { m, v, k, a } = x;
    match failure {
        None => failures::clear(tree, m, v, k, a),
        Some(e) if e.code == 77 => failures::clear(tree, m, v, k, a),
        Some(e) => {
            if failures::read(tree, m, v, k, a).is_none() {
                let f = failures::Failure::happened((m, v, k, a), e.kind.name(), e.code, String::new());
                let _ = failures::record(tree, &f, super::build::failed_log(d, m, v));
            }
        }
    }
}

/// `(module=m module_version=v kernelver=k arch=a install_module)`: errors
/// are reported (and returned, for the job's status); nothing leaks back.
pub(crate) fn install_in_subshell(d: &mut Dkms, opts: &BuildOptions, x: Target) -> Result<()> {
    let Target { m, v, k, a } = x;
    let r = d.subshell(|d| super::install::maybe_install_module(d, opts, Target::new(m, v, k, a)));
    if let Err(e) = &r {
        // The record names the module (a BUILD_EXCLUSIVE one is `skipped`).
        d.ui.report_for(e, Some(&ui::target(m, v, Some(k), Some(a))));
    }
    r
}

#[cfg(test)]
#[path = "autoinstall_tests.rs"]
mod tests;
