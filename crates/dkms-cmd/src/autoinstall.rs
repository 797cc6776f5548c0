//! `dkms autoinstall` and `dkms kernel_postinst` (`autoinstall` upstream):
//! install the newest version of every AUTOINSTALL module on one kernel, in
//! BUILD_DEPENDS order.
//!
//! The work is planned first — one job per module with its dependency edges
//! — and then executed round by round in upstream's order, so output stays
//! byte-identical; independent jobs of a round are what a parallel executor
//! may later run side by side.

use crate::common::Dkms;
use dkms_cli::table::{Verb, VERBS};
use dkms_cli::ui;
use dkms_proto::{Record, SkipReason};
use dkms_state::error::{Error, Result};
use dkms_state::status::{self, State};
use dkms_state::version;

/// The table entry of `autoinstall`.
pub const VERB: &Verb = &VERBS[7];
/// The table entry of `kernel_postinst`.
pub const KERNEL_POSTINST: &Verb = &VERBS[13];

/// One module to install, with the dependencies it still waits for.
#[derive(Debug, Clone)]
pub struct Job {
    pub module: String,
    pub version: String,
    pub depends: Vec<String>,
}

/// The plan: modules already installed, and the jobs to run.
#[derive(Debug, Default)]
pub struct Plan {
    pub known: Vec<String>,
    pub installed: Vec<String>,
    pub jobs: Vec<Job>,
}

/// `dkms autoinstall`
pub fn run(d: &mut Dkms) -> Result<()> {
    d.ctx.have_one_kernel("autoinstall")?;
    d.check_root()?;
    autoinstall(d)
}

/// `dkms kernel_postinst`
pub fn run_kernel_postinst(d: &mut Dkms) -> Result<()> {
    d.check_root()?;
    d.ctx.have_one_kernel("kernel_postinst")?;
    autoinstall(d)
}

/// Decide what to install: the newest version of each module (by upstream's
/// VER compare), skipping installed ones and those without AUTOINSTALL.
pub fn plan(d: &mut Dkms, k: &str, a: &str) -> Result<Plan> {
    let mut p = Plan::default();
    let mut latest: Vec<(String, String)> = Vec::new();
    for e in status::module_status(&d.ctx.trees, None, None, None, None) {
        if e.state == State::Broken {
            ui::error(&[
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
            ui::emit(Record::Skipped {
                target: ui::target(&m, &v, Some(k), Some(a)),
                reason: SkipReason::AlreadyInstalled,
            });
            p.installed.push(m);
            continue;
        }
        let file = d.ctx.trees.source_link(&m, &v).join("dkms.conf");
        let conf = d.read_conf_or_die(&m, &v, k, a, Some(&file), false)?;
        if !conf.autoinstall {
            ui::emit(Record::Skipped {
                target: ui::target(&m, &v, Some(k), Some(a)),
                reason: SkipReason::NotAutoinstall,
            });
            continue;
        }
        p.jobs.push(Job { module: m, version: v, depends: conf.build_depends.clone() });
    }
    Ok(p)
}

/// `autoinstall`
pub fn autoinstall(d: &mut Dkms) -> Result<()> {
    if d.ctx.conf_dir.join("no-autoinstall").is_file() {
        ui::outln("Automatic installation of modules has been disabled.");
        return Ok(());
    }
    let (k, a) = d.kernelver0();
    let mut plan = plan(d, &k, &a)?;
    if plan.jobs.is_empty() {
        return Ok(());
    }
    let mut installed = plan.installed.clone();
    let mut skipped: Vec<String> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut to_install = std::mem::take(&mut plan.jobs);
    loop {
        let mut progress = 0;
        for job in to_install.iter_mut() {
            job.depends.retain(|dep| !installed.contains(dep) && !skipped.contains(dep));
        }
        let mut next = Vec::new();
        for job in to_install {
            if !job.depends.is_empty() {
                next.push(job);
                continue;
            }
            let (m, v) = (job.module.clone(), job.version.clone());
            if !status::is_module_built(&d.ctx.trees, &m, &v, &k, &a) {
                crate::build::prepare_kernel_and_signing(d, &k, &a)?;
            }
            ui::outln(&format!("Autoinstall of module {m}/{v} for kernel {k} ({a})"));
            match install_in_subshell(d, &m, &v, &k, &a) {
                0 => {
                    installed.push(m);
                    progress += 1;
                }
                77 => {
                    skipped.push(m);
                    progress += 1;
                }
                code => failed.push(format!("{m}({code})")),
            }
            ui::outln("");
        }
        to_install = next;
        if progress == 0 {
            break;
        }
    }
    if !installed.is_empty() {
        ui::outln(&format!("Autoinstall on {k} succeeded for module(s) {}.", installed.join(" ")));
    }
    if !skipped.is_empty() {
        ui::outln(&format!("Autoinstall on {k} was skipped for module(s) {}.", skipped.join(" ")));
    }
    if !failed.is_empty() {
        ui::outln(&format!("Autoinstall on {k} failed for module(s) {}.", failed.join(" ")));
    }
    let (mut unresolved, mut deferred) = (Vec::new(), Vec::new());
    for job in &to_install {
        let mv = format!("{}/{}", job.module, job.version);
        let (real, later): (Vec<&String>, Vec<&String>) = job.depends.iter().partition(|dep| plan.known.contains(dep));
        if !real.is_empty() {
            let list: String = real.iter().map(|s| format!(" {s}")).collect();
            ui::outln(&format!("{mv} autoinstall failed due to missing dependencies:{list}."));
            let t = ui::target(&job.module, &job.version, Some(&k), Some(&a));
            ui::emit(Record::Skipped { target: t, reason: SkipReason::DependencyFailed });
            unresolved.push(mv);
        } else {
            let list: String = later.iter().map(|s| format!(" {s}")).collect();
            ui::outln(&format!("{mv} autoinstall deferred: BUILD_DEPENDS not registered with DKMS:{list}."));
            let t = ui::target(&job.module, &job.version, Some(&k), Some(&a));
            ui::emit(Record::Skipped { target: t, reason: SkipReason::DependencyNotRegistered });
            deferred.push(mv);
        }
    }
    if !deferred.is_empty() {
        ui::outln(&format!(
            "Autoinstall on {k} deferred module(s) {} due to BUILD_DEPENDS not yet registered with DKMS.",
            deferred.join(" ")
        ));
        ui::outln("These may be provided externally or by a package not yet configured; autoinstall will retry on the next trigger.");
    }
    if !failed.is_empty() || !unresolved.is_empty() {
        return Err(Error::die(
            11,
            "autoinstall-failed",
            [
                "One or more modules failed to install during autoinstall.",
                "Refer to previous errors for more information.",
            ],
        ));
    }
    Ok(())
}

/// `(module=m module_version=v kernelver=k arch=a install_module)`: errors
/// are reported and become the job's status; nothing leaks back.
pub fn install_in_subshell(d: &mut Dkms, m: &str, v: &str, k: &str, a: &str) -> i32 {
    let saved = d.subshell_state();
    d.ctx.args.module = m.into();
    d.ctx.args.module_version = v.into();
    let r = crate::install::maybe_install_module(d, k, a);
    d.restore_subshell_state(saved);
    match r {
        Ok(()) => 0,
        Err(e) => {
            ui::report(&e);
            i32::from(e.code)
        }
    }
}
