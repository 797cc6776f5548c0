//! The plan for one module/version on one kernel: `maybe_build_module`,
//! `maybe_install_module`, `maybe_uninstall_module` and
//! `maybe_unbuild_module` as steps, decided by the checks the real
//! operations make.

use super::Step;
use crate::ops::binary_cache::{self, Prebuilt};
use crate::ops::dependants::dependants_to_rebuild;
use crate::ops::install::{
    apply_force_installation, check_version_sanity, destination, install_aborted, install_checks, not_obsolete, Before,
    Places,
};
use crate::ops::uninstall::{archived_originals, installed_copy, legacy_home, restorable};
use crate::ops::{add, build, prepare_kernel};
use crate::support::dkms::{Dkms, Target};
use crate::support::modfiles::compressed_or_uncompressed;
use crate::support::options::BuildOptions;
use crate::support::signing;
use dkms_proto::{PlannedAction, SkipReason};
use dkms_state::conf::Conf;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::status;
use std::path::PathBuf;

/// When the plan runs depmod after an install or uninstall: right away (as
/// upstream does), or once at the end, by the caller (autoinstall, the
/// kernel hooks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Depmod {
    #[default]
    Now,
    Later,
}

/// Where in a bigger plan a target's steps are (`Default`: on their own).
#[derive(Debug, Clone, Default)]
pub(crate) struct Within {
    /// What the build and install are run with.
    pub(crate) opts: BuildOptions,
    pub(crate) depmod: Depmod,
    /// autoinstall: the round of BUILD_DEPENDS order.
    pub(crate) round: Option<u32>,
    /// autoinstall: builds run side by side in the background.
    pub(crate) side_by_side: bool,
    /// autoinstall: the BUILD_DEPENDS installed in earlier rounds.
    pub(crate) after: Vec<String>,
    /// Modules the plan installs before this one (on this kernel), which
    /// BUILD_DEPENDS may name.
    pub(crate) installed: Vec<String>,
    /// A dependant rebuilt after an install: its own dependants are not
    /// planned (the plan is one level deep there).
    pub(crate) no_dependants: bool,
    /// The plan of an earlier kernel adds the module already (the real run
    /// adds it once).
    pub(crate) added: std::cell::Cell<bool>,
}

/// `maybe_build_module`: skip when built (with `--force`: unbuild first).
pub(crate) fn build(d: &mut Dkms, x: Target, within: &Within) -> Result<()> {
    let Target { m, v, k, a } = x;
    if status::is_module_built(&d.ctx.trees, m, v, k, a) {
        if !within.opts.force {
            Step::skip(x, SkipReason::AlreadyBuilt).emit(&d.ui);
            return Ok(());
        }
        Step::new(PlannedAction::Unbuild, x).emit(&d.ui);
    }
    do_build(d, x, within)
}

/// `do_build`: add first when not added, the checks, then the build step
/// with the module files it makes.
fn do_build(d: &mut Dkms, x: Target, within: &Within) -> Result<()> {
    let Target { m, v, k, a } = x;
    if k.is_empty() || a.is_empty() {
        return Err(Error::die(Kind::EmptyKernelver, ["do_build: Empty $kernelver or $arch"]));
    }
    if m.is_empty() || v.is_empty() {
        return Err(Error::die(
            Kind::DryRunNeedsModule,
            ["--dry-run plans for a module/version: add the tarball or source directory first, or name it with -m/-v."],
        ));
    }
    if !status::is_module_added(&d.ctx.trees, m, v) && !within.added.get() {
        d.check_module_args("add", m, v)?;
        let (source, _) = add::add_checks(d, m, v)?;
        let mut step = Step::new(PlannedAction::Add, Target::new(m, v, "", ""));
        step.files = vec![source.display().to_string()];
        step.emit(&d.ui);
        within.added.set(true);
    }
    // Not built: `<kver>/<arch>` is absent or a leftover that `do_build`
    // drops (a build there is `is_module_built`, planned by the caller).
    let conf = match build::build_checks(d, Target::new(m, v, k, a), false) {
        Ok(conf) => conf,
        // The real run's warning, its exit status 77, and the skip as a
        // planned step rather than the `skipped` record `report` makes.
        Err(e) if e.kind == Kind::BuildExclusive => {
            d.ui.warn(&e.lines);
            Step::skip(Target::new(m, v, k, a), SkipReason::BuildExclusive).emit(&d.ui);
            return Err(Error::reported(e.code));
        }
        Err(e) => return Err(e),
    };
    prepare_kernel::prepare_kernel(d, k)?;
    build::check_build_depends(d, within.opts.force, Target::new(m, v, k, a), &conf, &within.installed)?;
    let suffix = d.module_suffix(k);
    let module_dir = d.ctx.trees.arch_dir(m, v, k, a).join("module");
    let mut step = Step::new(PlannedAction::Build, Target::new(m, v, k, a));
    if let Some(p) = substitute(d, Target::new(m, v, k, a), &conf, suffix) {
        step.action = PlannedAction::Substitute;
        step.source = Some((p.word.clone(), p.key.clone()));
    }
    step.files = (0..conf.num_modules())
        .filter(|&i| conf.module_buildable(i, k, a))
        .map(|i| module_dir.join(format!("{}.ko{suffix}", conf.modules[i].dest_module_name)).display().to_string())
        .collect();
    (step.round, step.side_by_side, step.after) = (within.round, within.side_by_side, within.after.clone());
    step.emit(&d.ui);
    Ok(())
}

/// The entry of the binary cache the build would take, fetched and
/// verified as `do_build` does it (with the signer `prepare_signing` would
/// set up: it is part of the key), into a temporary directory.
fn substitute(d: &mut Dkms, x: Target, conf: &Conf, suffix: &str) -> Option<Prebuilt> {
    if binary_cache::sources(d).is_empty() {
        return None;
    }
    let config = d.kernel_config(x.k);
    let signer = signing::expected_signer(d, x.k, x.a, &config).ok();
    let saved = std::mem::replace(&mut d.signer, signer);
    let env = prepare_kernel::make_env(d, x.k);
    let found = binary_cache::fetch(d, x, conf, &env, suffix);
    d.signer = saved;
    found
}

/// `maybe_install_module`: skip when installed (with `--force`: uninstall
/// first), build first when not built.
pub(crate) fn install(d: &mut Dkms, x: Target, within: &Within) -> Result<()> {
    let Target { m, v, k, a } = x;
    if status::is_module_installed(&d.ctx.trees, m, v, k, a) {
        if !within.opts.force {
            Step::skip(x, SkipReason::AlreadyInstalled).emit(&d.ui);
            return Ok(());
        }
        // `do_uninstall` runs its depmod right away outside the hooks.
        let before = do_uninstall(d, x, Depmod::Now)?;
        return do_install(d, x, within, before);
    }
    do_install(d, x, within, Before::default())
}

/// `do_install`: the build if needed, the checks, then where every module
/// goes and which originals are archived (after what the plan did `before`).
fn do_install(d: &mut Dkms, x: Target, within: &Within, before: Before) -> Result<()> {
    let Target { m, v, k, a } = x;
    let built = status::is_module_built(&d.ctx.trees, m, v, k, a) && !before.unbuilt;
    if !built {
        do_build(d, Target::new(m, v, k, a), within)?;
    }
    let (conf, buildable, suffix) = install_checks(d, x, built, false, within.opts.force)?;
    // modules_to_force_install and --rpm_safe_upgrade force the version
    // check, as they do in `do_install`.
    let (forced, _) = apply_force_installation(&within.opts, m);
    let forced = if forced.rpm_safe_upgrade { forced.forced() } else { forced };
    let places = Places::of(&d.ctx.trees, x);
    let mut step = Step::new(PlannedAction::Install, Target::new(m, v, k, a));
    (step.round, step.after) = (within.round, within.after.clone());
    for &i in &buildable {
        let r = &conf.modules[i];
        // The version check compares with the built module: not built yet,
        // only its OBSOLETE_BY part can be made (the rest when it runs).
        let sane = match built {
            true => check_version_sanity(d, &forced, x, &conf.obsolete_by, &r.dest_module_name, suffix),
            false => not_obsolete(&d.ui, forced.force, k, &conf.obsolete_by),
        };
        if !sane {
            continue;
        }
        let to = destination(d, x, r, suffix, &places, &before);
        step.files.push(to.dest.display().to_string());
        step.originals.extend(to.original.map(|o| o.display().to_string()));
    }
    if conf.num_modules() > 0 && step.files.is_empty() {
        return Err(install_aborted());
    }
    step.emit(&d.ui);
    if !conf.pre_install.is_empty() {
        d.ui.outln(&format!("  running PRE_INSTALL {} first, which may abort it", conf.pre_install));
    }
    plan_depmod(d, k, a, within.depmod);
    if !within.no_dependants {
        rebuild_dependants(d, x, within)?;
    }
    Ok(())
}

/// `check_and_rebuild_dependent_modules` after the install of `x`: every
/// BUILD_DEPENDS_REBUILD module of the kernel whose dependencies change is
/// uninstalled, unbuilt, built and installed again.
fn rebuild_dependants(d: &mut Dkms, x: Target, within: &Within) -> Result<()> {
    let Target { m, v, k, a } = x;
    let mut installed = within.installed.clone();
    installed.push(m.to_string());
    let again =
        Within { opts: within.opts, installed, no_dependants: true, depmod: within.depmod, ..Within::default() };
    for (dm, dv) in dependants_to_rebuild(d, within.opts.force, k, a, Some((m, v)))? {
        // `do_uninstall` runs (and its depmod) even when it is not installed.
        let mut before = match status::is_module_installed(&d.ctx.trees, &dm, &dv, k, a) {
            true => do_uninstall(d, Target::new(&dm, &dv, k, a), Depmod::Now)?,
            false => {
                plan_depmod(d, k, a, Depmod::Now);
                Before::default()
            }
        };
        if status::is_module_built(&d.ctx.trees, &dm, &dv, k, a) {
            Step::new(PlannedAction::Unbuild, Target::new(&dm, &dv, k, a)).emit(&d.ui);
        }
        before.unbuilt = true;
        if let Err(e) = do_install(d, Target::new(&dm, &dv, k, a), &again, before) {
            d.report(&e);
        }
    }
    Ok(())
}

/// `maybe_uninstall_module`: uninstall when installed, else skip.
pub(crate) fn uninstall(d: &mut Dkms, x: Target, depmod: Depmod) -> Result<bool> {
    let Target { m, v, k, a } = x;
    if !status::is_module_installed(&d.ctx.trees, m, v, k, a) {
        Step::skip(x, SkipReason::NotInstalled).emit(&d.ui);
        return Ok(false);
    }
    do_uninstall(d, x, depmod)?;
    Ok(true)
}

/// `do_uninstall` of an installed (active) build: the files deleted and
/// the archived originals put back (what the plan then assumes).
fn do_uninstall(d: &mut Dkms, x: Target, depmod: Depmod) -> Result<Before> {
    let Target { m, v, k, a } = x;
    let t = d.ctx.trees.clone();
    let suffix = d.module_suffix(k);
    let conf = d.read_conf_or_die(Target::new(m, v, k, a), None, false)?;
    let (backup, lib) = (t.original_module_dir(m, k, a), t.lib_tree(k));
    let mut step = Step::new(PlannedAction::Uninstall, Target::new(m, v, k, a));
    for i in 0..conf.num_modules() {
        let name = &conf.modules[i].dest_module_name;
        if let Some(loc) = d.find_actual_dest_module_location(m, &conf, i, k, a, suffix) {
            step.files.push(installed_copy(&t, k, &loc, name, suffix).1);
        }
        let back: Vec<_> = archived_originals(&backup, name).into_iter().filter(|o| restorable(&o.1, &lib)).collect();
        step.originals.extend(back.iter().map(|o| o.1.clone()));
        // Archived by dkms versions that wrote no .origin file, or one whose
        // .origin names no place to restore to: the legacy restore takes it.
        if let Some(orig) = compressed_or_uncompressed(&backup, name, suffix) {
            if !back.iter().any(|o| o.0 == orig) {
                step.originals.push(legacy_home(&t, k, &conf.modules[i], &orig).display().to_string());
            }
        }
    }
    let before = Before {
        uninstalled: true,
        deleted: step.files.iter().map(PathBuf::from).collect(),
        restored: step.originals.iter().map(PathBuf::from).collect(),
        unbuilt: false,
    };
    step.emit(&d.ui);
    plan_depmod(d, k, a, depmod);
    Ok(before)
}

/// `maybe_unbuild_module`: unbuild when built, else skip. Whether it is.
pub(crate) fn unbuild(d: &Dkms, x: Target) -> bool {
    let Target { m, v, k, a } = x;
    if !status::is_module_built(&d.ctx.trees, m, v, k, a) {
        Step::skip(x, SkipReason::NotBuilt).emit(&d.ui);
        return false;
    }
    Step::new(PlannedAction::Unbuild, x).emit(&d.ui);
    true
}

/// A depmod step for `k`, when it is run now and would run at all.
fn plan_depmod(d: &Dkms, k: &str, a: &str, depmod: Depmod) {
    if depmod == Depmod::Now && d.depmod_would_run(k) {
        Step::depmod(k, a).emit(&d.ui);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::{captured, conf, Fixture, A, K};

    /// hello/1.0 added for Debian, kernel K with an in-tree hello.ko and
    /// modules.dep (so depmod would run).
    fn fixture(edit: impl FnOnce(&mut dkms_cli::args::Args)) -> (Fixture, PathBuf) {
        let f = Fixture::with(edit);
        f.kernel(K);
        f.write(&format!("modules/{K}/modules.dep"), "");
        f.add("hello", "1.0", &conf("hello", "1.0", ""));
        let in_tree = f.write(&format!("modules/{K}/kernel/drivers/hello.ko"), "in-tree");
        (f, in_tree)
    }

    fn plan_install(f: &mut Fixture) -> (Result<()>, String) {
        let (r, out, _) = {
            let w = Within { opts: f.build_opts(), ..Within::default() };
            captured(|| install(&mut f.d, Target::new("hello", "1.0", K, A), &w))
        };
        (r, out)
    }

    #[test]
    fn an_install_of_a_built_module_places_it_archives_the_original_then_depmod() {
        let (mut f, in_tree) = fixture(|_| {});
        f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
        let (r, out) = plan_install(&mut f);
        r.unwrap();
        let lib = f.trees().lib_tree(K);
        assert_eq!(
            out,
            format!(
                "Would install hello/1.0 for kernel {K} ({A})\n  placing {}\n  archiving the original {}\n\
                 Would run depmod for kernel {K} ({A})\n",
                lib.join("updates/dkms/hello.ko").display(),
                in_tree.display()
            )
        );
    }

    #[test]
    fn an_installed_module_is_skipped_unless_forced() {
        let (mut f, _) = fixture(|_| {});
        f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
        f.install(Target::new("hello", "1.0", K, A));
        let (r, out) = plan_install(&mut f);
        r.unwrap();
        assert_eq!(
            out,
            format!("Would skip hello/1.0 for kernel {K} ({A}): already installed (use --force to reinstall)\n")
        );
    }

    #[test]
    fn a_forced_reinstall_uninstalls_first_and_archives_what_that_restores() {
        let (mut f, in_tree) = fixture(|a| a.force = true);
        f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
        f.install(Target::new("hello", "1.0", K, A));
        // Installed: the in-tree module archived, the dkms copy in its place.
        let installed = f.write(&format!("modules/{K}/updates/dkms/hello.ko"), "hello.ko");
        std::fs::rename(&in_tree, f.write(&format!("dkms/hello/original_module/{K}/{A}/hello.ko"), "")).unwrap();
        f.write(&format!("dkms/hello/original_module/{K}/{A}/hello.ko.origin"), &format!("{}\n", in_tree.display()));
        let (r, out) = plan_install(&mut f);
        r.unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [
                format!("Would uninstall hello/1.0 for kernel {K} ({A})"),
                format!("  deleting {}", installed.display()),
                format!("  restoring the original {}", in_tree.display()),
                format!("Would run depmod for kernel {K} ({A})"),
                format!("Would install hello/1.0 for kernel {K} ({A})"),
                format!("  placing {}", installed.display()),
                format!("  archiving the original {}", in_tree.display()),
                format!("Would run depmod for kernel {K} ({A})"),
            ]
        );
    }

    #[test]
    fn an_unbuilt_module_is_built_first_and_an_obsolete_one_is_excluded() {
        let (mut f, _) = fixture(|_| {});
        let (r, out) = plan_install(&mut f);
        r.unwrap();
        let module_dir = f.trees().arch_dir("hello", "1.0", K, A).join("module");
        assert!(out.starts_with(&format!(
            "Would build hello/1.0 for kernel {K} ({A})\n  making {}\nWould install",
            module_dir.join("hello.ko").display()
        )));
        // OBSOLETE_BY at or below the kernel: upstream 3.4 reads it as
        // BUILD_EXCLUSIVE_KERNEL_MAX, so the build is excluded (status 77).
        let (mut f, _) = fixture(|_| {});
        std::fs::write(
            f.trees().source_dir("hello", "1.0").join("dkms.conf"),
            conf("hello", "1.0", "OBSOLETE_BY=5.10"),
        )
        .unwrap();
        let (r, out, err) = {
            let w = Within { opts: f.build_opts(), ..Within::default() };
            captured(|| install(&mut f.d, Target::new("hello", "1.0", K, A), &w))
        };
        assert_eq!(r.err().map(|e| e.code), Some(77));
        assert_eq!(out, format!("Would skip hello/1.0 for kernel {K} ({A}): BUILD_EXCLUSIVE excludes this kernel\n"));
        assert!(err.contains("Deprecated feature: OBSOLETE_BY"), "{err}");
    }

    #[test]
    fn a_built_module_is_skipped_by_build_unless_forced() {
        let (mut f, _) = fixture(|_| {});
        f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
        let (r, out, _) = {
            let w = Within { opts: f.build_opts(), ..Within::default() };
            captured(|| build(&mut f.d, Target::new("hello", "1.0", K, A), &w))
        };
        r.unwrap();
        assert_eq!(out, format!("Would skip hello/1.0 for kernel {K} ({A}): already built (use --force to rebuild)\n"));
        let (mut f, _) = fixture(|a| a.force = true);
        f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
        let (r, out, _) = {
            let w = Within { opts: f.build_opts(), ..Within::default() };
            captured(|| build(&mut f.d, Target::new("hello", "1.0", K, A), &w))
        };
        r.unwrap();
        assert!(
            out.starts_with(&format!("Would unbuild hello/1.0 for kernel {K} ({A})\nWould build hello/1.0")),
            "{out}"
        );
    }

    #[test]
    fn uninstall_and_unbuild_of_what_is_not_there_are_skips() {
        let (mut f, _) = fixture(|_| {});
        let (r, out, _) = captured(|| uninstall(&mut f.d, Target::new("hello", "1.0", K, A), Depmod::Now));
        assert!(!r.unwrap());
        assert_eq!(out, format!("Would skip hello/1.0 for kernel {K} ({A}): not installed\n"));
        let (built, out, _) = captured(|| unbuild(&f.d, Target::new("hello", "1.0", K, A)));
        assert!(!built);
        assert_eq!(out, format!("Would skip hello/1.0 for kernel {K} ({A}): not built\n"));
    }
}
