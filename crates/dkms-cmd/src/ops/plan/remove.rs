//! The plan of what takes modules away: `remove_module` (uninstall and
//! unbuild each kernel, then the version when no kernel is left) and the
//! kernel hooks' `unbuild_all` (kernel_preinst, kernel_prerm).

use super::target::{self, Depmod};
use super::Step;
use crate::ops::kernel_hooks::{hook_result, hook_takes};
use crate::ops::remove::{rpm_safe_upgrade_cancelled, rpm_safe_upgrade_cancels, KEPT};
use crate::ops::unbuild::is_leftover;
use crate::support::dkms::{mvka, Dkms};
use crate::support::options::RemoveOptions;
use dkms_cli::ui;
use dkms_proto::PlannedAction;
use dkms_state::error::Result;
use dkms_state::status;
use dkms_state::trees::Trees;

/// `remove_module` for m/v on the command line's kernels.
pub(crate) fn remove_module(d: &mut Dkms, opts: &RemoveOptions, m: &str, v: &str) -> Result<()> {
    if opts.rpm_safe_upgrade && rpm_safe_upgrade_cancels(d, m, v, false) {
        return Err(rpm_safe_upgrade_cancelled());
    }
    let mut unbuilt = Vec::new();
    for (k, a) in d.targets() {
        target::uninstall(d, m, v, &k, &a, Depmod::Now)?;
        if target::unbuild(d, m, v, &k, &a) {
            unbuilt.push((k, a));
        }
    }
    if !kernels_left(&d.ctx.trees, m, v, &unbuilt) {
        Step::new(PlannedAction::Remove, m, v, "", "").emit();
    }
    Ok(())
}

/// Would a kernel directory of m/v remain after `remove_module` has swept
/// leftovers (`.tmp_*` staging, `<kver>/<arch>` without `module/`) and
/// unbuilt `unbuilt`? Then the version stays registered.
fn kernels_left(t: &Trees, m: &str, v: &str, unbuilt: &[(String, String)]) -> bool {
    let vdir = t.version_dir(m, v);
    let dirs = std::fs::read_dir(&vdir).into_iter().flatten().flatten().filter(|e| e.path().is_dir());
    for kdir in dirs {
        let k = kdir.file_name().to_string_lossy().into_owned();
        if KEPT.iter().any(|s| k.ends_with(s)) {
            continue;
        }
        for e in std::fs::read_dir(kdir.path()).into_iter().flatten().flatten() {
            let a = e.file_name().to_string_lossy().into_owned();
            let is_dir = e.path().is_dir();
            let swept = a.starts_with(".tmp_") || is_leftover(&e.path());
            let unbuilds = is_dir && unbuilt.iter().any(|u| u.0 == k && u.1 == a);
            if !swept && !unbuilds {
                return true;
            }
        }
    }
    false
}

/// The kernel hooks' `unbuild_all` for the command line's kernel: uninstall
/// and unbuild every module built for it (kernel_preinst: the AUTOINSTALL
/// ones), then one depmod.
pub(crate) fn unbuild_all(d: &mut Dkms, action: &str, preinst: bool) -> Result<()> {
    let (k, a) = d.kernelver0();
    let mut uninstalled = false;
    let mut failed = String::new();
    for (m, v) in status::list_module_version_combos(&d.ctx.trees, None, None) {
        if !hook_takes(d, mvka(&m, &v, &k, &a), preinst)? {
            continue;
        }
        match d.subshell(|d| target::uninstall(d, &m, &v, &k, &a, Depmod::Later)) {
            Ok(u) => {
                uninstalled |= u;
                target::unbuild(d, &m, &v, &k, &a);
            }
            Err(e) => {
                ui::report(&e);
                failed.push_str(&format!(" {m}/{v}({})", e.code));
            }
        }
    }
    let pending = d.ctx.trees.depmod_pending(&k, &a);
    if (uninstalled || pending.exists()) && d.depmod_would_run(&k) {
        Step::depmod(&k, &a).emit();
    }
    hook_result(action, &k, &a, &failed)
}
