//! `dkms build` (`build_module`, `maybe_build_module`, `do_build`,
//! `prepare_kernel_and_signing` upstream): copy the source to `build/`,
//! apply patches, run PRE_BUILD, make, check the `.ko` files, strip, sign
//! and compress them into `<kver>/.tmp_<arch>_XXXXXX/`, rename that into
//! place atomically, run POST_BUILD and keep make.log. With a binary cache
//! (not upstream), a verified entry takes the place of patches, PRE_BUILD
//! and make; the rest is the same.

use super::binary_cache::Prebuilt;
use super::build_steps::{apply_patches, built_modules_present, check_vermagic, run_make, stage_modules};
use super::prepare_kernel::{date, make_env, prepare_kernel_and_signing};
use crate::support::dkms::{Dkms, Target};
use crate::support::options::BuildOptions;
use crate::support::products::{self, Untaken};
use dkms_cli::{ui, RELEASE_STRING};
use dkms_proto::{Record, SkipReason};
use dkms_state::conf::Conf;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{beneath, crash, failures, fsutil, status};
use std::path::{Path, PathBuf};

/// `maybe_build_module` of m/v: skip (or with `--force` unbuild first)
/// when built.
pub(crate) fn maybe_build_module(d: &mut Dkms, opts: &BuildOptions, x: Target) -> Result<()> {
    let Target { m, v, k, a } = x;
    if status::is_module_built(&d.ctx.trees, m, v, k, a) {
        if opts.force {
            super::unbuild::do_unbuild(d, x);
            d.ui.emit(Record::Unbuilt { target: ui::target(m, v, Some(k), Some(a)) });
        } else {
            d.skip_already(x, "built for", SkipReason::AlreadyBuilt);
            return Ok(());
        }
    }
    do_build(d, opts, x).map(drop)
}

/// `do_build` of m/v on kernel `k`, arch `a`, adding it first when it is
/// not added (m/v empty: what the command line's tarball or directory
/// holds). The module/version built.
pub(crate) fn do_build(d: &mut Dkms, opts: &BuildOptions, x: Target) -> Result<(String, String)> {
    let Target { m, v, k, a } = x;
    if k.is_empty() || a.is_empty() {
        return Err(Error::die(Kind::EmptyKernelver, ["do_build: Empty $kernelver or $arch"]));
    }
    let (mut m, mut v) = (m.to_string(), v.to_string());
    if !status::is_module_added(&d.ctx.trees, &m, &v) {
        if let Some(added) = super::add::add_module(d, opts, &m, &v)? {
            (m, v) = added;
        }
        d.ui.outln("");
    }
    let t = d.ctx.trees.clone();
    let base_dir = t.arch_dir(&m, &v, k, a);

    // Not upstream: a `<kver>/<arch>` without `module/` is no build (upstream's
    // `is_module_built` says so too) but a leftover; it is removed rather than
    // blocking every build of this kernel.
    super::unbuild::drop_leftover(&t, Target::new(&m, &v, k, a));
    let suffix = d.module_suffix(k);
    let conf = build_checks(d, Target::new(&m, &v, k, a), base_dir.is_dir())?;
    prepare_kernel_and_signing(d, k, a)?;
    let env = make_env(d, k);

    check_build_depends(d, opts.force, Target::new(&m, &v, k, a), &conf, &[])?;
    // Not upstream: a verified entry of the binary cache stands in for
    // make (fetched before the tree changes; None without a cache).
    let prebuilt = super::binary_cache::fetch(d, Target::new(&m, &v, k, a), &conf, &env, suffix);

    // From here the build changes the tree: journal it, so a killed build's
    // staging directory is cleaned up by the next run (see `recover`).
    let started = std::time::Instant::now();
    let journal = dkms_state::journal::Journal::begin(&t.dkms_tree, "build", &[&m, &v, k, a])
        .map_err(|e| Error::io(Kind::JournalWriteFailed, "writing the DKMS journal", e))?;
    crash::point("build:journaled");
    let res = build_in_journal(d, opts, Target::new(&m, &v, k, a), &conf, suffix, env.clone(), prebuilt.as_ref());
    remember(d, Target::new(&m, &v, k, a), &res);
    let _ = journal.finish();
    if res.is_ok() {
        let target = ui::target(&m, &v, Some(k), Some(a));
        let modules = d.built_modules(Target::new(&m, &v, k, a));
        match &prebuilt {
            Some(p) => d.ui.emit(Record::Substituted { target, source: p.word.clone(), key: p.key.clone(), modules }),
            None => {
                d.ui.emit(Record::Built {
                    target,
                    log: base_dir.join("log/make.log").display().to_string(),
                    elapsed_ms: started.elapsed().as_millis() as u64,
                    modules,
                });
                super::binary_cache::push_after_build(d, Target::new(&m, &v, k, a), &conf, &env, suffix);
            }
        }
    }
    res.map(|()| (m, v))
}

/// The checks `do_build` makes before it changes anything (a dry run makes
/// them too): no build in the way (`present`: `<kver>/<arch>` exists and is
/// not a leftover), a valid dkms.conf that BUILD_EXCLUSIVE does not
/// exclude, a source tree with something in it. The conf read.
pub(crate) fn build_checks(d: &mut Dkms, x: Target, present: bool) -> Result<Conf> {
    let Target { m, v, k, a } = x;
    let base_dir = d.ctx.trees.arch_dir(m, v, k, a);
    // Not added yet (only in a dry run: `do_build` adds first): the source
    // and conf `add` would register.
    let source_dir = d.build_source(m, v);
    let file = d.build_conf(m, v);
    if present {
        return Err(Error::die(
            Kind::AlreadyBuilt,
            [
                format!("This module/version has already been built on: {k}"),
                format!(
                    "Directory {} already exists. Use the dkms remove function before trying to build again.",
                    base_dir.display()
                ),
            ],
        ));
    }
    let conf = d.read_conf_or_die(x, file.as_deref(), true)?;
    if conf.build_exclude {
        return Err(Error::warn(
            Kind::BuildExclusive,
            [
                format!("The {}/dkms.conf", base_dir.display()),
                format!("for module {m}/{v} includes BUILD_EXCLUSIVE directives"),
                "which do not match this kernel/arch/config for any modules.".into(),
                "This indicates that it should not be built.".into(),
            ],
        ));
    }
    if fsutil::entry_count(&source_dir) < 2 {
        return Err(Error::die(
            Kind::SourceEmpty,
            [
                format!(
                    "The directory {} does not appear to have module source located within it.",
                    source_dir.display()
                ),
                "Build halted.".into(),
            ],
        ));
    }
    Ok(conf)
}

/// Failure memory (not in upstream dkms): a failed build is recorded with
/// a copy of its make.log (`dkms_state::failures`); a successful one
/// forgets the target's earlier failure.
fn remember(d: &Dkms, x: Target, res: &Result<()>) {
    let Target { m, v, k, a } = x;
    let tree = &d.ctx.trees.dkms_tree;
    let Err(e) = res else {
        failures::clear(tree, m, v, k, a);
        return;
    };
    let hash = failures::inputs_hash(&d.ctx.trees.source_link(m, v), &d.kernel_config(k), k);
    let f = failures::Failure::happened((m, v, k, a), e.kind.name(), e.code, hash);
    let _ = failures::record(tree, &f, failed_log(d, m, v));
}

/// The make.log of a failed build, for the failure memory: only as the
/// build's products are taken (a link the build left is not followed).
pub(crate) fn failed_log(d: &Dkms, m: &str, v: &str) -> Option<std::fs::File> {
    products::open(&d.ctx.trees.build_dir(m, v), "make.log").ok()
}

/// make.log (dkms's, but in `build/`, where MAKE and POST_BUILD could
/// replace it) into `log/` of the build, copied from the opened file as
/// the build's products are taken. A make.log that is no longer a regular
/// file of its own fails the build, which is then undone.
fn keep_make_log(d: &Dkms, x: Target, build_dir: &Path, base_dir: &Path) -> Result<()> {
    let mut log = match products::open(build_dir, "make.log") {
        Ok(f) => f,
        Err(Untaken::Missing) => return Ok(()),
        Err(Untaken::Refused(why)) => {
            let _ = beneath::remove_all(&d.ctx.trees.dkms_tree, base_dir);
            return Err(super::build_steps::product_refused(d, x, &why));
        }
    };
    let to = base_dir.join("log/make.log");
    fsutil::write_atomic_from(&to, &mut log, Some(0o644))
        .map_err(|e| Error::io(Kind::BuildStagingFailed, to.display(), e))?;
    Ok(())
}

fn build_in_journal(
    d: &mut Dkms,
    opts: &BuildOptions,
    x: Target,
    conf: &Conf,
    suffix: &'static str,
    env: Vec<(String, String)>,
    prebuilt: Option<&Prebuilt>,
) -> Result<()> {
    let Target { m, v, k, a } = x;
    let t = d.ctx.trees.clone();
    let source_dir = t.source_link(m, v);
    let build_dir = t.build_dir(m, v);
    let build_log = build_dir.join("make.log");
    let _own = BuildDirGuard::take(&build_dir);
    beneath::remove_all(&t.dkms_tree, &build_dir)
        .map_err(|e| Error::io(Kind::BuildPrepareFailed, format!("rm -rf {}", build_dir.display()), e))?;
    fsutil::copy_tree(&source_dir, &build_dir).map_err(|e| {
        Error::io(Kind::BuildPrepareFailed, format!("cp -a {}/ {}", source_dir.display(), build_dir.display()), e)
    })?;
    crash::point("build:copied");
    let overlay = d.ctx.conf_dir.join(m).join("patches");
    if overlay.is_dir() {
        let _ = fsutil::copy_tree(&overlay, &build_dir.join("patches"));
    }
    let header = format!("DKMS ({RELEASE_STRING}) make.log for {m}/{v} for kernel {k} ({a})\n{}", date());
    // The source may hold a make.log, even a link: dkms's own is new.
    let _ = std::fs::remove_file(&build_log);
    fsutil::create_exclusive(&build_log)
        .and_then(|mut f| std::io::Write::write_all(&mut f, header.as_bytes()))
        .map_err(|e| Error::io(Kind::BuildPrepareFailed, build_log.display(), e))?;

    let saved_exports = std::mem::replace(&mut d.exports, env);
    let res = build_steps(d, opts, x, conf, suffix, &build_log, prebuilt);
    d.exports = saved_exports;
    res
}

/// Exclusive use of a module version's `build/` directory, which all its
/// kernels' builds share (upstream's layout): a parallel autoinstall may
/// build one module for two kernels, or rebuild a dependant in the main
/// thread while a background build runs.
struct BuildDirGuard(PathBuf);

static BUILD_DIRS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
static BUILD_DIR_FREED: std::sync::Condvar = std::sync::Condvar::new();

impl BuildDirGuard {
    fn take(dir: &Path) -> BuildDirGuard {
        let mut busy = BUILD_DIRS.lock().unwrap_or_else(|e| e.into_inner());
        while busy.iter().any(|d| d == dir) {
            busy = BUILD_DIR_FREED.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        busy.push(dir.to_path_buf());
        BuildDirGuard(dir.to_path_buf())
    }
}

impl Drop for BuildDirGuard {
    fn drop(&mut self) {
        let mut busy = BUILD_DIRS.lock().unwrap_or_else(|e| e.into_inner());
        busy.retain(|d| d != &self.0);
        BUILD_DIR_FREED.notify_all();
    }
}

/// BUILD_DEPENDS must be installed (any version) for this kernel/arch, or
/// be among `planned` (modules a dry run's plan installs first).
pub(crate) fn check_build_depends(d: &Dkms, force: bool, x: Target, conf: &Conf, planned: &[String]) -> Result<()> {
    let Target { m, v, k, a } = x;
    let missing: Vec<&String> = conf
        .build_depends
        .iter()
        .filter(|bd| !planned.contains(bd))
        .filter(|bd| {
            !status::module_status(&d.ctx.trees, Some(bd), None, Some(k), Some(a))
                .iter()
                .any(|e| e.state == status::State::Installed)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list: String = missing.iter().map(|s| format!(" {s}")).collect();
    if force {
        d.ui.warn(&[format!(
            "Trying to build module {m}/{v} for kernel {k} ({a}) despite of missing BUILD_DEPENDS:{list}."
        )]);
        return Ok(());
    }
    Err(Error::die(
        Kind::BuildDependsMissing,
        [
            format!("Aborting build of module {m}/{v} for kernel {k} ({a}) due to missing BUILD_DEPENDS:{list}."),
            "You may override by specifying --force.".into(),
        ],
    ))
}

/// Patch, PRE_BUILD, make, and stage the modules (in `build/`, logging to
/// `build_log`) into `<kernelver>/<arch>`, or place them from the binary
/// cache's `prebuilt` entry instead; then what follows make either way:
/// POST_BUILD, make.log into place, `build/` removed, the BUILD_DEPENDS
/// versions remembered.
fn build_steps(
    d: &mut Dkms,
    opts: &BuildOptions,
    x: Target,
    conf: &Conf,
    suffix: &str,
    build_log: &Path,
    prebuilt: Option<&Prebuilt>,
) -> Result<()> {
    let Target { m, v, k, a } = x;
    let t = d.ctx.trees.clone();
    let (build_dir, base_dir) = (&t.build_dir(m, v), &t.arch_dir(m, v, k, a));
    match prebuilt {
        Some(p) => super::binary_cache::place(d, x, conf, suffix, p, build_log)?,
        None => {
            apply_patches(d, x, conf, build_log)?;
            d.run_build_script(m, v, "pre_build", &conf.pre_build, Some(build_log))?;
            let dd: &Dkms = d;
            run_make(dd, x, conf, build_log, || super::binary_cache::last_make(dd, m, v))?;
            let buildable = built_modules_present(d, x, conf, build_log)?;
            check_vermagic(d, x, conf, &buildable)?;
            stage_modules(d, x, conf, &buildable, suffix)?;
        }
    }
    crash::point("build:renamed");
    d.run_build_script(m, v, "post_build", &conf.post_build, Some(build_log))?;
    crash::point("build:post-build");
    keep_make_log(d, x, build_dir, base_dir)?;
    crash::point("build:log-moved");
    let _ = beneath::remove_all(&d.ctx.trees.dkms_tree, build_dir);

    if conf.build_depends_rebuild && !opts.force {
        for bd in &conf.build_depends {
            if let Some(latest) = d.latest_version_of(bd, k, a) {
                let _ = fsutil::write_atomic(&base_dir.join(format!(".dep_{bd}")), format!("{latest}\n").as_bytes());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::{captured, conf, Fixture, A, K};

    /// top/1.0 needing `base` (BUILD_DEPENDS), and its conf.
    fn top(f: &mut Fixture) -> Conf {
        f.add("top", "1.0", &conf("top", "1.0", "BUILD_DEPENDS[0]=base"));
        f.read_conf(Target::new("top", "1.0", K, A))
    }

    #[test]
    fn build_depends_must_be_installed_for_the_kernel() {
        let mut f = Fixture::new();
        let c = top(&mut f);
        let x = Target::new("top", "1.0", K, A);
        let e = check_build_depends(&f.d, f.build_opts().force, x, &c, &[]).unwrap_err();
        assert_eq!((e.kind, e.code), (Kind::BuildDependsMissing, 13));
        assert_eq!(
            e.lines[0],
            format!("Aborting build of module top/1.0 for kernel {K} ({A}) due to missing BUILD_DEPENDS: base.")
        );
        // Built is not enough; installed (any version) is; so is a dry
        // run's plan installing it first.
        f.add("base", "0.1", &conf("base", "0.1", ""));
        f.build(Target::new("base", "0.1", K, A), &["base.ko"]);
        assert!(check_build_depends(&f.d, f.build_opts().force, x, &c, &[]).is_err());
        assert!(check_build_depends(&f.d, f.build_opts().force, x, &c, &["base".into()]).is_ok());
        f.install(Target::new("base", "0.1", K, A));
        assert!(check_build_depends(&f.d, f.build_opts().force, x, &c, &[]).is_ok());
    }

    #[test]
    fn force_builds_despite_missing_build_depends_with_a_warning() {
        let mut f = Fixture::with(|a| a.force = true);
        let c = top(&mut f);
        let (r, _, err) =
            captured(|| check_build_depends(&f.d, f.build_opts().force, Target::new("top", "1.0", K, A), &c, &[]));
        r.unwrap();
        assert!(err.contains("Trying to build module top/1.0"), "{err}");
        assert!(err.contains("despite of missing BUILD_DEPENDS: base."), "{err}");
    }
}
