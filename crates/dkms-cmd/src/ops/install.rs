//! `dkms install` (`install_module`, `maybe_install_module`, `do_install`,
//! `check_version_sanity` upstream): build first if needed, check versions
//! against what the kernel already has, archive a pre-existing module of the
//! same name, copy the modules into `/lib/modules/<kver>/<dest>/`, point
//! `kernel-<kver>-<arch>` at the build, run POST_INSTALL and depmod.

use crate::support::dkms::{Dkms, Target};
use crate::support::modfiles::compressed_or_uncompressed;
use crate::support::options::BuildOptions;
use crate::support::secureboot;
use dkms_cli::ui::{self, Ui};
use dkms_proto::{Record, SkipReason};
use dkms_state::conf::{Conf, ModuleRecord};
use dkms_state::error::{Error, Kind, Result};
use dkms_state::journal::Journal;
use dkms_state::modinfo::{self, Cmp};
use dkms_state::{crash, fsutil, status, trees, untrusted, version};
use std::path::{Path, PathBuf};

/// `maybe_install_module` of m/v: skip (or with `--force` uninstall
/// first) when installed.
pub(crate) fn maybe_install_module(d: &mut Dkms, opts: &BuildOptions, x: Target) -> Result<()> {
    let Target { m, v, k, a } = x;
    if status::is_module_installed(&d.ctx.trees, m, v, k, a) {
        if opts.force {
            super::uninstall::do_uninstall(d, x)?;
            d.ui.outln("");
        } else {
            d.skip_already(x, "installed on", SkipReason::AlreadyInstalled);
            return Ok(());
        }
    }
    do_install(d, opts, x)
}

/// `force_installation`: `/usr/share/dkms/modules_to_force_install/*` may
/// list `<module>` or `<module>_version-override`.
fn force_installation(module: &str) -> Option<&'static str> {
    let dir = Path::new("/usr/share/dkms/modules_to_force_install");
    let mut words = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        words.extend(std::fs::read_to_string(e.path()).unwrap_or_default().split_whitespace().map(String::from));
    }
    for w in words {
        if w == module {
            return Some("force");
        }
        if w == format!("{module}_version-override") {
            return Some("version-override");
        }
    }
    None
}

/// What `force_installation` says of `module`, applied: the options
/// with `--force` or `--force-version-override` set, and the line upstream
/// prints about it (a dry run's plan applies it silently).
pub(crate) fn apply_force_installation(opts: &BuildOptions, module: &str) -> (BuildOptions, Option<String>) {
    match force_installation(module) {
        None => (*opts, None),
        Some("force") => (opts.forced(), Some(format!("Forcing installation of {module}"))),
        Some(_) => (
            BuildOptions { force_version_override: true, ..*opts },
            Some(format!("Forcing version override of {module}")),
        ),
    }
}

/// `find_module TREE NAME`: every `NAME.ko` or `NAME.ko<suffix>` file below TREE.
fn find_module(tree: &Path, name: &str, suffix: &str) -> Vec<PathBuf> {
    let (plain, comp) = (format!("{name}.ko"), format!("{name}.ko{suffix}"));
    let mut found = Vec::new();
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir).into_iter().flatten().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries.into_iter().rev() {
            let Ok(ft) = e.file_type() else { continue };
            let n = e.file_name().to_string_lossy().into_owned();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() && (n == plain || n == comp) {
                found.push(e.path());
            }
        }
    }
    found
}

/// `do_install` of m/v on kernel `k`, arch `a`, building it first when it
/// is not built (m/v empty: what the command line's tarball or directory
/// holds).
pub(crate) fn do_install(d: &mut Dkms, opts: &BuildOptions, x: Target) -> Result<()> {
    let Target { m, v, k, a } = x;
    if k.is_empty() || a.is_empty() {
        return Err(Error::die(Kind::EmptyKernelver, ["do_install: Empty $kernelver or $arch"]));
    }
    let (mut m, mut v) = (m.to_string(), v.to_string());
    let key = (m.clone(), v.clone(), k.to_string(), a.to_string());
    // A parallel autoinstall may have built it in the background already.
    if let Some(built) = d.builds.clone().and_then(|b| b.take(&key)) {
        built.replay(d)?;
    } else if !status::is_module_built(&d.ctx.trees, &m, &v, k, a) {
        (m, v) = super::build::do_build(d, opts, Target::new(&m, &v, k, a))?;
    }
    secureboot::warn_at_install(d, k, a);
    let (forced, line) = apply_force_installation(opts, &m);
    if let Some(line) = line {
        d.ui.outln(&line);
    }
    install_steps(d, opts, &forced, Target::new(&m, &v, k, a))
}

/// Where an install of m/v on k/a reads and writes.
pub(crate) struct Places {
    /// `<dkms_tree>/<m>/<v>/<k>/<a>/module`: the built modules.
    module_dir: PathBuf,
    /// `<install_tree>/<k>`
    lib_tree: PathBuf,
    /// `<dkms_tree>/<m>/original_module/<k>/<a>`: archived originals.
    backup: PathBuf,
    /// `<dkms_tree>/<m>/kernel-<k>-<a>`
    active_link: PathBuf,
}

impl Places {
    pub(crate) fn of(t: &trees::Trees, x: Target) -> Places {
        Places {
            module_dir: t.arch_dir(x.m, x.v, x.k, x.a).join("module"),
            lib_tree: t.lib_tree(x.k),
            backup: t.original_module_dir(x.m, x.k, x.a),
            active_link: t.active_link(x.m, x.k, x.a),
        }
    }
}

/// The checks `install_steps` makes before it changes anything (a dry run
/// makes them too, for the state it would be in: `built`, the build exists,
/// so its files are checked; `installed`, it is installed):
/// the kernel's module tree exists, a valid dkms.conf (read with `$force`
/// as `force`), every buildable module built, not installed yet. The conf,
/// the buildable modules and the kernel's module suffix.
pub(crate) fn install_checks(
    d: &mut Dkms,
    x: Target,
    built: bool,
    installed: bool,
    force: bool,
) -> Result<(Conf, Vec<usize>, &'static str)> {
    let Target { m, v, k, a } = x;
    let t = d.ctx.trees.clone();
    let Places { module_dir, lib_tree, .. } = Places::of(&t, x);
    if !lib_tree.exists() {
        return Err(Error::die(
            Kind::KernelMissing,
            [
                format!("The directory {} doesn't exist.", lib_tree.display()),
                "You cannot install a module onto a non-existent kernel.".into(),
            ],
        ));
    }
    let suffix = d.module_suffix(k);
    let conf = d.read_conf_or_die_as(Target::new(m, v, k, a), d.build_conf(m, v).as_deref(), true, force)?;
    let buildable: Vec<usize> = (0..conf.num_modules()).filter(|&i| conf.module_buildable(i, k, a)).collect();
    for &i in buildable.iter().filter(|_| built) {
        let name = &conf.modules[i].dest_module_name;
        if compressed_or_uncompressed(&module_dir, name, suffix).is_none() {
            return Err(Error::die(
                Kind::BuiltModuleMissing,
                [format!("Missing module {name} in {}", module_dir.display())],
            ));
        }
    }
    if installed {
        return Err(Error::die(
            Kind::AlreadyInstalled,
            [format!("This module/version combo is already installed for kernel {k} ({a}).")],
        ));
    }
    Ok((conf, buildable, suffix))
}

/// The install proper, with the options `force_installation` left
/// (`forced`); the dependants that follow are rebuilt with the caller's
/// `--force` (`opts`), as upstream puts its global back before them.
fn install_steps(d: &mut Dkms, opts: &BuildOptions, forced: &BuildOptions, x: Target) -> Result<()> {
    let Target { m, v, k, a } = x;
    let t = d.ctx.trees.clone();
    let places = Places::of(&t, x);
    let installed = status::is_module_installed(&t, m, v, k, a);
    let (conf, buildable, suffix) = install_checks(d, x, true, installed, forced.force)?;
    let active_link = &places.active_link;
    let forced = if forced.rpm_safe_upgrade { forced.forced() } else { *forced };
    let pre = d.run_build_script(m, v, "pre_install", &conf.pre_install, None)?;
    if pre != 0 && !forced.force {
        return Err(Error::die(
            Kind::PreInstallFailed,
            ["pre_install failed, aborting install.", "You may override by specifying --force."],
        ));
    }

    // The transaction: archive, place, link, depmod. Each step is journaled
    // before it is taken, so an error or a kill -9 at any point is rolled
    // back (or, once linked, forward) by `recover`.
    let link_before = std::fs::read_link(active_link).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let mut journal = Journal::begin(&t.dkms_tree, "install", &[m, v, k, a])
        .and_then(|mut j| j.record("link-before", &[&link_before]).map(|()| j))
        .map_err(|e| Error::io(Kind::InstallWriteFailed, "writing the DKMS journal", e))?;
    crash::point("install:journaled");
    let res = install_transaction(d, &forced, &mut journal, x, (&conf, &buildable, suffix), &places);
    if let Err(e) = res {
        super::recover::rollback_install(d, &owned(&[m, v, k, a]), &journal.steps());
        let _ = journal.finish();
        return Err(e);
    }
    let steps = journal.steps();
    let args_of = |key: &str| -> Vec<String> {
        steps.iter().filter(|s| s.key == key).filter_map(|s| s.args.first().cloned()).collect()
    };
    let (files, replaced_originals) = (args_of("place"), args_of("archive"));
    d.run_build_script(m, v, "post_install", &conf.post_install, None)?;
    crash::point("install:post-install");
    let depmod_status = d.run_or_defer_depmod(k);
    crash::point("install:depmod");
    super::recover::drop_displaced(&journal.steps());
    let _ = journal.finish();
    if depmod_status != 0 {
        super::uninstall::do_uninstall(d, Target::new(m, v, k, a))?;
        return Err(Error::die(
            Kind::DepmodFailed,
            [
                "Problems with depmod detected. Automatically uninstalling this module.",
                "Install Failed (depmod problems). Module rolled back to built state.",
            ],
        ));
    }
    d.ui.emit(Record::Installed { target: ui::target(m, v, Some(k), Some(a)), files, replaced_originals });
    if d.ctx.modprobe_on_install && k == d.ctx.current_kernel {
        modprobe_on_install(d);
    }
    // Upstream restores --force (a modules_to_force_install entry may have
    // set it) before looking at dependants, not --force-version-override.
    let after = BuildOptions { force: opts.force, ..forced };
    check_and_rebuild_dependent_modules(d, &after, k, a)
}

/// `check_and_rebuild_dependent_modules`: after an install, rebuild and
/// reinstall the BUILD_DEPENDS_REBUILD modules built for this kernel whose
/// dependencies changed.
fn check_and_rebuild_dependent_modules(d: &mut Dkms, opts: &BuildOptions, k: &str, a: &str) -> Result<()> {
    let to_rebuild = super::dependants::dependants_to_rebuild(d, opts.force, k, a, None)?;
    // Upstream's ordering pass never finds a dependency among the rebuilt
    // modules (it compares names with "module/version" strings), so every
    // candidate is rebuilt in one pass, in status order; each reinstall
    // checks its own dependants in turn.
    for (m, v) in to_rebuild {
        d.ui.outln("");
        d.ui.outln(&format!("Rebuilding module {m}/{v} due to updated dependencies"));
        d.ui.outln("");
        super::uninstall::do_uninstall(d, Target::new(&m, &v, k, a))?;
        super::unbuild::do_unbuild(d, Target::new(&m, &v, k, a));
        d.ui.emit(Record::Unbuilt { target: ui::target(&m, &v, Some(k), Some(a)) });
        if super::build::do_build(d, opts, Target::new(&m, &v, k, a)).is_ok() {
            do_install(d, opts, Target::new(&m, &v, k, a))?;
        }
    }
    Ok(())
}

fn owned(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// Archive originals, place the modules and replace the active link.
/// (`checked`: what `install_checks` found: the conf, the buildable
/// modules, the module suffix.)
fn install_transaction(
    d: &mut Dkms,
    opts: &BuildOptions,
    journal: &mut Journal,
    x: Target,
    checked: (&Conf, &[usize], &str),
    places: &Places,
) -> Result<()> {
    let (conf, buildable, suffix) = checked;
    let Target { v, k, a, .. } = x;
    let Places { backup, active_link, .. } = places;
    let jerr = |e: std::io::Error| Error::io(Kind::InstallWriteFailed, "writing the DKMS journal", e);
    let mut any_installed = false;
    for &i in buildable {
        let r = &conf.modules[i];
        if !check_version_sanity(d, opts, x, &conf.obsolete_by, &r.dest_module_name, suffix) {
            continue;
        }
        let Destination { original, already_archived, source: toinstall, dest } =
            destination(d, x, r, suffix, places, &Before::default());
        if already_archived {
            d.ui.outln("An original module was already stored during a previous install");
        }
        if let Some(orig) = original {
            let file = orig.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let archived = backup.join(&file);
            journal.record("archive", &[&orig.to_string_lossy(), &archived.to_string_lossy()]).map_err(jerr)?;
            archive_original(&d.ui, &orig, backup)?;
            crash::point("install:archived");
        }
        let dest_dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        let dest_name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        d.ui.outln(&format!("Installing {}/{dest_name}", dest_dir.display()));
        std::fs::create_dir_all(&dest_dir).map_err(|e| Error::io(Kind::InstallWriteFailed, dest_dir.display(), e))?;
        if fsutil::is_symlink(&dest) || dest.exists() {
            // Not archived (another version of this module is active): keep
            // it beside until the transaction is over.
            let old = super::recover::displaced_name(&dest);
            journal.record("displace", &[&dest.to_string_lossy(), &old.to_string_lossy()]).map_err(jerr)?;
            std::fs::rename(&dest, &old).map_err(|e| Error::io(Kind::InstallWriteFailed, dest.display(), e))?;
        }
        journal.record("place", &[&dest.to_string_lossy()]).map_err(jerr)?;
        if let Err(e) = place(&toinstall, &dest, d.ctx.symlink_modules) {
            return Err(Error::die(Kind::CopyFailed, [format!("Copying '{}' failed", toinstall.display())])
                .with_hint(e.to_string()));
        }
        crash::point("install:placed");
        any_installed = true;
    }
    if conf.num_modules() > 0 && !any_installed {
        return Err(install_aborted());
    }
    fsutil::replace_symlink(Path::new(&format!("{v}/{k}/{a}")), active_link)
        .map_err(|e| Error::io(Kind::InstallWriteFailed, active_link.display(), e))?;
    journal.record("linked", &[]).map_err(jerr)?;
    crash::point("install:linked");
    Ok(())
}

/// Where one module of an install goes.
pub(crate) struct Destination {
    /// A pre-existing module of the same name, archived before the install.
    pub(crate) original: Option<PathBuf>,
    /// An earlier install archived the original already.
    pub(crate) already_archived: bool,
    /// The built file installed (predicted when not built yet).
    pub(crate) source: PathBuf,
    /// Where it is placed.
    pub(crate) dest: PathBuf,
}

/// What a dry run's plan has done before an install (`--force`: an
/// uninstall), which the files do not show yet. A real install has done
/// nothing (`Default`).
#[derive(Debug, Default)]
pub(crate) struct Before {
    /// The active link is gone.
    pub(crate) uninstalled: bool,
    /// Installed files deleted.
    pub(crate) deleted: Vec<PathBuf>,
    /// Archived originals put back there.
    pub(crate) restored: Vec<PathBuf>,
    /// The build was deleted (a dependant rebuilt after its BUILD_DEPENDS).
    pub(crate) unbuilt: bool,
}

/// Where module `r` of m/v goes on kernel `k` (read-only: the install
/// transaction and a dry run's plan both ask, the plan with what it did
/// `before`). The original to archive is looked for only when this
/// module/version is not active on the kernel: in `extra/`, `updates/`,
/// DEST_MODULE_LOCATION, then anywhere below the kernel's module tree
/// (`find_module`).
pub(crate) fn destination(
    d: &Dkms,
    x: Target,
    r: &ModuleRecord,
    suffix: &str,
    places: &Places,
    before: &Before,
) -> Destination {
    let Target { k, .. } = x;
    let t = &d.ctx.trees;
    let Places { module_dir, lib_tree, backup, active_link } = places;
    let name = &r.dest_module_name;
    let linked = fsutil::is_symlink(active_link) && !before.uninstalled;
    let already_archived = linked && compressed_or_uncompressed(backup, name, suffix).is_some();
    let dest_dir = trees::cat(&t.install_tree, &format!("{k}{}", r.dest_module_location));
    let original = if linked {
        None
    } else {
        let mut candidates: Vec<PathBuf> = [
            compressed_or_uncompressed(&lib_tree.join("extra"), name, suffix),
            compressed_or_uncompressed(&lib_tree.join("updates"), name, suffix),
            compressed_or_uncompressed(&dest_dir, name, suffix),
        ]
        .into_iter()
        .flatten()
        .collect();
        candidates.extend(find_module(lib_tree, name, suffix));
        let named = |p: &&PathBuf| {
            p.file_name()
                .is_some_and(|n| [format!("{name}.ko"), format!("{name}.ko{suffix}")].iter().any(|x| n == x.as_str()))
        };
        candidates.extend(before.restored.iter().filter(named).cloned());
        candidates.into_iter().find(|p| before.restored.contains(p) || (p.is_file() && !before.deleted.contains(p)))
    };
    let source = compressed_or_uncompressed(module_dir, name, suffix)
        .unwrap_or_else(|| module_dir.join(format!("{name}.ko{suffix}")));
    let dest_name = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Destination { original, already_archived, source, dest: dest_dir.join(dest_name) }
}

/// No module of the install passed `check_version_sanity`.
pub(crate) fn install_aborted() -> Error {
    Error::die(Kind::InstallAborted, ["Installation aborted."])
}

/// Copy (or with `--symlink-modules` link) a built module into place through
/// a temporary name, so a half-copied module is never visible.
/// The temporary is new (O_EXCL), never a name found there.
fn place(src: &Path, dest: &Path, symlink: bool) -> std::io::Result<()> {
    let tmp = if symlink {
        fsutil::fresh_sibling(dest, "dkms-new", |t| std::os::unix::fs::symlink(src, t))?.0
    } else {
        let mut from = std::fs::File::open(src)?;
        let mode = from.metadata()?.permissions();
        let (tmp, mut to) = fsutil::create_temp_sibling(dest, "dkms-new")?;
        let copied = std::io::copy(&mut from, &mut to).and_then(|_| to.set_permissions(mode));
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        tmp
    };
    std::fs::rename(&tmp, dest).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Move a module that would be overwritten into `original_module/` with a
/// `.origin` file recording where it came from.
fn archive_original(ui: &Ui, orig: &Path, backup: &Path) -> Result<()> {
    ui.outln(&format!("Found pre-existing {}, archiving for uninstallation", orig.display()));
    std::fs::create_dir_all(backup).map_err(|e| Error::io(Kind::InstallWriteFailed, backup.display(), e))?;
    let name = orig.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Record the origin first: a crash after it but before the move leaves a
    // harmless .origin; the reverse order could lose the module's way home.
    fsutil::write_atomic(&backup.join(format!("{name}.origin")), format!("{}\n", orig.display()).as_bytes())
        .map_err(|e| Error::io(Kind::InstallWriteFailed, backup.display(), e))?;
    fsutil::move_file(orig, &backup.join(&name)).map_err(|e| Error::io(Kind::InstallWriteFailed, orig.display(), e))
}

/// `check_version_sanity`: false means "do not install this module".
pub(crate) fn check_version_sanity(
    d: &Dkms,
    opts: &BuildOptions,
    x: Target,
    obsolete_by: &str,
    name: &str,
    suffix: &str,
) -> bool {
    let Target { m, v, k, a } = x;
    let force = opts.force;
    if !not_obsolete(&d.ui, opts.force, k, obsolete_by) {
        return false;
    }
    let lib_tree = d.ctx.trees.lib_tree(k);
    let Some(existing) = find_module(&lib_tree, name, suffix).into_iter().next() else { return true };
    if opts.force_version_override {
        return true;
    }
    let ours =
        compressed_or_uncompressed(&d.ctx.trees.arch_dir(m, v, k, a).join("module"), name, suffix).unwrap_or_default();
    let (theirs_info, ours_info) = (modinfo::verinfo(&existing), modinfo::verinfo(&ours));
    match modinfo::compare(&theirs_info, &ours_info) {
        Cmp::Newer if !force => {
            d.ui.error(&[
                format!("Module version {} for {name}.ko{suffix}", ours_info.version),
                format!("is not newer than what is already found in kernel {k} ({}).", theirs_info.version),
                "You may override by specifying --force.".into(),
            ]);
            false
        }
        Cmp::Same if !force => {
            let versioned = !(ours_info.version.trim().is_empty() && ours_info.srcversion.trim().is_empty());
            // As before: the same bytes, or neither readable; compared in
            // blocks, never by opening a FIFO or reading a device.
            let readable = |p: &Path| untrusted::open_regular(p, untrusted::Links::Follow).is_ok();
            let identical = untrusted::same_contents(&existing, &ours) || (!readable(&existing) && !readable(&ours));
            if versioned || identical {
                if ours_info.version.is_empty() {
                    d.ui.errln(&format!(
                        "Module {} already installed (unversioned module), override by specifying --force",
                        existing.display()
                    ));
                } else {
                    d.ui.errln(&format!(
                        "Module {} already installed at version {}, override by specifying --force",
                        existing.display(),
                        ours_info.version
                    ));
                }
                return false;
            }
            true
        }
        _ => true,
    }
}

/// The OBSOLETE_BY part of `check_version_sanity` (it needs no built
/// module: a dry run asks it before the build): false, said as upstream
/// says it, when the kernel has the module already.
pub(crate) fn not_obsolete(ui: &Ui, force: bool, k: &str, obsolete_by: &str) -> bool {
    if obsolete_by.is_empty() || force || !obsoleted(k, obsolete_by) {
        return true;
    }
    ui.errln("");
    ui.errln(&format!("Module has been obsoleted due to being included in kernel {obsolete_by}."));
    ui.errln(&format!("We will avoid installing for future kernels above {obsolete_by}."));
    ui.errln("You may override by specifying --force.");
    false
}

/// The OBSOLETE_BY comparison of `check_version_sanity` (dashes become
/// spaces and the whole strings are compared with VER, as upstream does).
fn obsoleted(kernelver: &str, obsolete_by: &str) -> bool {
    let obs = version::ver(&obsolete_by.replace('-', " "));
    let my = version::ver(&kernelver.replace('-', " "));
    // With a quoted expansion the second element is always empty, so an
    // equal release counts as obsoleted.
    obs == my || my > obs
}

/// `--modprobe-on-install` for the running kernel: load modules for every
/// modalias the hardware announces, then restart systemd-modules-load.
fn modprobe_on_install(d: &Dkms) {
    let mut aliases: Vec<String> = Vec::new();
    let mut stack = vec![PathBuf::from("/sys/devices")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if e.file_name() == "modalias" {
                if let Ok(s) = std::fs::read_to_string(e.path()) {
                    aliases.extend(s.lines().map(String::from));
                }
            }
        }
    }
    aliases.sort();
    aliases.dedup();
    let mut c = dkms_state::tools::command("modprobe", &d.exports);
    c.args(["-a", "-b", "-q"]).args(&aliases);
    let _ = dkms_state::tools::status(&mut c);
    if Path::new("/lib/systemd/system/systemd-modules-load.service").is_file() {
        let mut c = dkms_state::tools::command("systemctl", &d.exports);
        c.args(["restart", "systemd-modules-load.service"]);
        let _ = dkms_state::tools::status(&mut c);
    }
}

#[cfg(test)]
#[path = "install_tests.rs"]
mod tests;
