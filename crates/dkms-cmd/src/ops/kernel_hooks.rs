//! `dkms kernel_preinst` and `dkms kernel_prerm`: before a kernel is
//! upgraded or removed, unbuild the modules built for it (preinst: only the
//! AUTOINSTALL ones), with one depmod at the end and empty directories of the
//! kernel's module tree cleaned up.

use super::unbuild::maybe_unbuild_module;
use super::uninstall::maybe_uninstall_module;
use crate::support::dkms::{Dkms, Target};
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{dpkg, fsutil, status};

/// `(module=m module_version=v unbuild_module)` for one kernel.
fn unbuild_in_subshell(d: &mut Dkms, x: Target) -> Result<()> {
    let Target { m, v, k, a } = x;
    d.subshell(|d| {
        maybe_uninstall_module(d, Target::new(m, v, k, a)).map(|()| maybe_unbuild_module(d, Target::new(m, v, k, a)))
    })
}

/// Whether the hook takes m/v away from the kernel: it is built for it
/// (kernel_preinst: and AUTOINSTALL). A dry run's plan asks too.
pub(crate) fn hook_takes(d: &mut Dkms, x: Target, preinst: bool) -> Result<bool> {
    let Target { m, v, k, a } = x;
    if !status::is_module_built(&d.ctx.trees, m, v, k, a) {
        return Ok(false);
    }
    if !preinst {
        return Ok(true);
    }
    if keeps(d, x) {
        return Ok(false);
    }
    let file = d.ctx.trees.source_link(m, v).join("dkms.conf");
    Ok(d.read_conf_or_die(x, Some(&file), false)?.autoinstall)
}

/// kernel_preinst under dpkg keeps a build made against the headers that
/// are installed now: the image follows its headers (apt configures them in
/// separate runs), and unbuilding would only make the trigger rebuild the
/// same thing. Outside dpkg upstream's behaviour stays: always unbuild.
fn keeps(d: &Dkms, x: Target) -> bool {
    let Target { m, v, k, a } = x;
    let t = &d.ctx.trees;
    let stamp = dpkg::header_stamp(&t.dkms_tree, m, v, k, a);
    dpkg::maintscript_package().is_some()
        && dpkg::built_against(&stamp, &t.arch_dir(m, v, k, a), &d.kernel_source_dir(k), &d.kernel_config(k))
}

/// The hook `action` for the command line's kernel: uninstall and unbuild
/// what `hook_takes`, one depmod, then an error naming every module that
/// failed.
pub(crate) fn unbuild_all(d: &mut Dkms, action: &str, preinst: bool) -> Result<()> {
    let (k, a) = d.kernelver0();
    d.delayed_depmod = true;
    let mut failed = String::new();
    for (m, v) in status::list_module_version_combos(&d.ctx.trees, None, None) {
        if !hook_takes(d, Target::new(&m, &v, &k, &a), preinst)? {
            if preinst && keeps(d, Target::new(&m, &v, &k, &a)) {
                d.ui.errln(&format!(
                    "dkms: keeping module {m}/{v} for kernel {k} ({a}): built against its installed headers"
                ));
            }
            continue;
        }
        d.ui.errln(&format!("dkms: removing module {m}/{v} for kernel {k} ({a})"));
        if let Err(e) = unbuild_in_subshell(d, Target::new(&m, &v, &k, &a)) {
            d.report(&e);
            failed.push_str(&format!(" {m}/{v}({})", e.code));
        }
        if !preinst {
            d.ui.outln("");
        }
    }
    let pending = d.ctx.trees.depmod_pending(&k, &a);
    if pending.exists() {
        let _ = std::fs::remove_file(&pending);
        // Upstream passes an empty kernel here, so its deferred depmod never
        // runs; ours runs it for the kernel whose modules went away.
        d.run_depmod(&k);
    }
    d.delayed_depmod = false;
    let lib = d.ctx.trees.lib_tree(&k);
    if lib.is_dir() {
        fsutil::remove_empty_dirs(&lib);
    }
    hook_result(action, &k, &a, &failed)
}

/// The hook's end: an error naming every module that failed (` m/v(code)`
/// each), if any.
pub(crate) fn hook_result(action: &str, k: &str, a: &str, failed: &str) -> Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::die(
        Kind::KernelHookFailed,
        [format!("dkms {action} for kernel {k} ({a}) failed for module(s){failed}.")],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::{conf, Fixture, A, K};

    /// m/v added with `extra` in its conf and built for K.
    fn built(f: &Fixture, m: &str, extra: &str) {
        f.add(m, "1.0", &conf(m, "1.0", extra));
        f.build(Target::new(m, "1.0", K, A), &[&format!("{m}.ko")]);
    }

    #[test]
    fn prerm_takes_every_build_of_the_kernel_preinst_only_autoinstall_ones() {
        let mut f = Fixture::new();
        built(&f, "auto", "AUTOINSTALL=yes");
        built(&f, "manual", "");
        f.add("unbuilt", "1.0", &conf("unbuilt", "1.0", "AUTOINSTALL=yes"));
        let mut takes = |m: &str, preinst| hook_takes(&mut f.d, Target::new(m, "1.0", K, A), preinst).unwrap();
        assert!(takes("auto", false) && takes("manual", false));
        assert!(takes("auto", true) && !takes("manual", true));
        assert!(!takes("unbuilt", false) && !takes("unbuilt", true));
    }

    #[test]
    fn a_hook_fails_naming_every_module_that_failed() {
        assert!(hook_result("kernel_prerm", K, A, "").is_ok());
        let e = hook_result("kernel_prerm", K, A, " a/1(6) b/2(11)").unwrap_err();
        assert_eq!((e.kind, e.code), (Kind::KernelHookFailed, 14));
        assert_eq!(e.lines, [format!("dkms kernel_prerm for kernel {K} ({A}) failed for module(s) a/1(6) b/2(11).")]);
    }
}
