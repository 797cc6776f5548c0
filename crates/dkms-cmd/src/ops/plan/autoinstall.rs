//! The plan of `autoinstall` (and `kernel_postinst`): per kernel, the
//! skips autoinstall's own `plan` decides, then the jobs in rounds of
//! BUILD_DEPENDS order — each round the modules whose dependencies the
//! earlier rounds installed — with whether their builds run side by side
//! in the background (`side_by_side`, as `start_builds` decides), and one
//! depmod at the end of each kernel.

use super::target::{self, Depmod, Within};
use super::Step;
use crate::ops::autoinstall::{autoinstall_failed, plan, side_by_side, unbuilt, waiting_reason, Job, Plan};
use crate::ops::prepare_kernel;
use crate::support::dkms::{Dkms, Target};
use crate::support::options::BuildOptions;
use dkms_state::error::{Error, Result};
use dkms_state::status;

/// `autoinstall` for the kernels of the command line, run as `opts` say.
pub(crate) fn autoinstall(d: &mut Dkms, opts: &BuildOptions) -> Result<()> {
    if d.ctx.conf_dir.join("no-autoinstall").is_file() {
        d.ui.outln("Automatic installation of modules has been disabled.");
        return Ok(());
    }
    let targets = d.targets();
    let mut plans = Vec::new();
    let ui = d.ui.clone();
    for (k, a) in &targets {
        let mut skip = |m: &str, v: &str, reason| Step::skip(Target::new(m, v, k, a), reason).emit(&ui);
        plans.push(plan(d, k, a, Default::default(), &mut skip));
    }
    let total: usize =
        targets.iter().zip(&plans).filter_map(|((k, a), p)| p.as_ref().ok().map(|p| unbuilt(d, p, k, a).len())).sum();
    let side = side_by_side(d, total).is_some();
    let several = targets.len() > 1;
    let mut first_failure = None;
    for ((k, a), p) in targets.iter().zip(plans) {
        match p.and_then(|p| kernel_plan(d, opts, k, a, p, side)) {
            Err(e) if several => {
                d.report(&e);
                first_failure.get_or_insert(e.code);
            }
            Err(e) => return Err(e),
            Ok(()) => {}
        }
    }
    first_failure.map_or(Ok(()), |code| Err(Error::reported(code)))
}

/// One kernel's rounds, as `autoinstall_kernel` would run them.
fn kernel_plan(d: &mut Dkms, opts: &BuildOptions, k: &str, a: &str, mut p: Plan, side: bool) -> Result<()> {
    if p.jobs.is_empty() {
        return Ok(());
    }
    let (mut installed, mut skipped, mut failed) = (p.installed.clone(), Vec::<String>::new(), Vec::new());
    let mut to_install: Vec<Job> = std::mem::take(&mut p.jobs);
    // What each job waits for in this run, before the rounds take the
    // installed away.
    let waits: Vec<(String, Vec<String>)> = to_install
        .iter()
        .map(|j| (j.module.clone(), j.depends.iter().filter(|dep| !p.installed.contains(dep)).cloned().collect()))
        .collect();
    // `--modprobe-on-install` needs modules.dep current after each install:
    // no depmod is deferred to the end of the kernel's turn then.
    let depmod = if d.ctx.modprobe_on_install { Depmod::Now } else { Depmod::Later };
    let mut newly = false;
    for round in 1.. {
        let mut progress = 0;
        for job in to_install.iter_mut() {
            job.depends.retain(|dep| !installed.contains(dep) && !skipped.contains(dep));
        }
        let (ready, waiting): (Vec<Job>, Vec<Job>) = to_install.into_iter().partition(|j| j.depends.is_empty());
        to_install = waiting;
        for job in ready {
            let (m, v) = (job.module.as_str(), job.version.as_str());
            if !status::is_module_built(&d.ctx.trees, m, v, k, a) {
                // `prepare_kernel_and_signing` before a build: no headers
                // ends the kernel's turn.
                prepare_kernel::prepare_kernel(d, k)?;
            }
            let within = Within {
                depmod,
                round: Some(round),
                side_by_side: side,
                after: waits.iter().find(|w| w.0 == m).map(|w| w.1.clone()).unwrap_or_default(),
                installed: installed.clone(),
                opts: *opts,
                ..Within::default()
            };
            let r = d.subshell(|d| target::install(d, Target::new(m, v, k, a), &within));
            if let Err(e) = &r {
                d.report(e);
            }
            match r.map_or_else(|e| e.code, |()| 0) {
                0 => {
                    newly = true;
                    installed.push(m.to_string());
                }
                77 => skipped.push(m.to_string()),
                code => {
                    failed.push(format!("{m}({code})"));
                    continue;
                }
            }
            progress += 1;
        }
        if progress == 0 {
            break;
        }
    }
    if newly && depmod == Depmod::Later && d.depmod_would_run(k) {
        Step::depmod(k, a).emit(&d.ui);
    }
    for job in &to_install {
        let mut step = Step::skip(Target::new(&job.module, &job.version, k, a), waiting_reason(job, &p.known));
        step.after = job.depends.clone();
        step.emit(&d.ui);
    }
    let unresolved = to_install.iter().any(|j| j.depends.iter().any(|dep| p.known.contains(dep)));
    if !failed.is_empty() || unresolved {
        return Err(autoinstall_failed());
    }
    Ok(())
}
