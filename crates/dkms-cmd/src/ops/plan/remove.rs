//! The plan of what takes modules away: `remove_module` (uninstall and
//! unbuild each kernel, then the version when no kernel is left) and the
//! kernel hooks' `unbuild_all` (kernel_preinst, kernel_prerm).

use super::target::{self, Depmod};
use super::Step;
use crate::ops::kernel_hooks::{hook_result, hook_takes};
use crate::ops::remove::{rpm_safe_upgrade_cancelled, rpm_safe_upgrade_cancels, KEPT};
use crate::ops::unbuild::is_leftover;
use crate::support::dkms::{Dkms, Target};
use crate::support::options::RemoveOptions;
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
        target::uninstall(d, Target::new(m, v, &k, &a), Depmod::Now)?;
        if target::unbuild(d, Target::new(m, v, &k, &a)) {
            unbuilt.push((k, a));
        }
    }
    if !kernels_left(&d.ctx.trees, m, v, &unbuilt) {
        Step::new(PlannedAction::Remove, Target::new(m, v, "", "")).emit(&d.ui);
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
        if !hook_takes(d, Target::new(&m, &v, &k, &a), preinst)? {
            continue;
        }
        match d.subshell(|d| target::uninstall(d, Target::new(&m, &v, &k, &a), Depmod::Later)) {
            Ok(u) => {
                uninstalled |= u;
                target::unbuild(d, Target::new(&m, &v, &k, &a));
            }
            Err(e) => {
                d.report(&e);
                failed.push_str(&format!(" {m}/{v}({})", e.code));
            }
        }
    }
    let pending = d.ctx.trees.depmod_pending(&k, &a);
    if (uninstalled || pending.exists()) && d.depmod_would_run(&k) {
        Step::depmod(&k, &a).emit(&d.ui);
    }
    hook_result(action, &k, &a, &failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::{captured, conf, Fixture, A, K};

    #[test]
    fn a_version_stays_while_a_kernel_it_does_not_unbuild_is_left() {
        let f = Fixture::new();
        f.add("hello", "1.0", &conf("hello", "1.0", ""));
        f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
        let t = f.trees();
        let unbuilt = [(K.to_string(), A.to_string())];
        assert!(kernels_left(t, "hello", "1.0", &[]));
        assert!(!kernels_left(t, "hello", "1.0", &unbuilt));
        // What remove sweeps first does not keep it: staging, a `<k>/<a>`
        // without module/, upstream's non-kernel directories.
        std::fs::create_dir_all(t.kernel_dir("hello", "1.0", K).join(".tmp_x86_64.1")).unwrap();
        std::fs::create_dir_all(t.arch_dir("hello", "1.0", "5.10.0-1", A)).unwrap();
        std::fs::create_dir_all(t.build_dir("hello", "1.0")).unwrap();
        assert!(!kernels_left(t, "hello", "1.0", &unbuilt));
        // Another kernel's build does.
        f.build(Target::new("hello", "1.0", "5.10.0-1", A), &["hello.ko"]);
        assert!(kernels_left(t, "hello", "1.0", &unbuilt));
    }

    #[test]
    fn remove_plans_each_kernel_then_the_version() {
        let mut f = Fixture::new();
        f.kernel(K);
        f.add("hello", "1.0", &conf("hello", "1.0", ""));
        f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
        let (r, out, _) = captured(|| {
            let o = f.remove_opts();
            remove_module(&mut f.d, &o, "hello", "1.0")
        });
        r.unwrap();
        assert_eq!(
            out,
            format!(
                "Would skip hello/1.0 for kernel {K} ({A}): not installed\nWould unbuild hello/1.0 for kernel {K} ({A})\n\
                 Would remove hello/1.0 from the DKMS tree\n"
            )
        );
        // Built for a kernel the command line does not name: it stays.
        f.build(Target::new("hello", "1.0", "5.10.0-1", A), &["hello.ko"]);
        let (_, out, _) = captured(|| {
            let o = f.remove_opts();
            remove_module(&mut f.d, &o, "hello", "1.0")
        });
        assert!(!out.contains("Would remove"), "{out}");
    }
}
