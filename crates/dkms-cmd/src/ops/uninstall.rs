//! `dkms uninstall` (`uninstall_module`, `maybe_uninstall_module`,
//! `do_uninstall` upstream): delete the installed copies, restore archived
//! originals, drop the `kernel-<kver>-<arch>` link, run POST_REMOVE and
//! depmod.

use crate::support::dkms::{Dkms, Target};
use crate::support::modfiles::compressed_or_uncompressed;
use dkms_cli::ui::{self, Ui};
use dkms_proto::{Record, SkipReason};
use dkms_state::conf::ModuleRecord;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::journal::Journal;
use dkms_state::{beneath, crash, fsutil, status, trees};
use std::path::{Path, PathBuf};

/// `maybe_uninstall_module`: uninstall if installed, else say so (unless
/// the conf has BUILD_EXCLUSIVE directives, which make "not installed"
/// expected).
pub(crate) fn maybe_uninstall_module(d: &mut Dkms, x: Target) -> Result<()> {
    let Target { m, v, k, a } = x;
    let trees = d.ctx.trees.clone();
    if status::is_module_installed(&trees, m, v, k, a) {
        return do_uninstall(d, x);
    }
    let conf_file = trees.source_link(m, v).join("dkms.conf");
    let mut excluded = false;
    if conf_file.is_file() {
        let saved = d.last_conf.clone();
        if let Ok(Some(c)) = d.read_conf_quiet(x, Some(&conf_file), false, true) {
            excluded = c.any_build_exclusive();
        }
        d.last_conf = saved;
    }
    if !excluded {
        d.ui.outln(&format!("Module {m}/{v} is not installed for kernel {k} ({a}). Skipping..."));
    }
    d.ui.emit(Record::Skipped { target: ui::target(m, v, Some(k), Some(a)), reason: SkipReason::NotInstalled });
    Ok(())
}

/// `do_uninstall`
pub(crate) fn do_uninstall(d: &mut Dkms, x: Target) -> Result<()> {
    let Target { m, v, k, a } = x;
    let trees = d.ctx.trees.clone();
    d.ui.outln(&format!("Module {m}/{v} for kernel {k} ({a}):"));
    let suffix = d.module_suffix(k);
    let conf = d.read_conf_or_die(Target::new(m, v, k, a), None, false)?;
    let link = trees.active_link(m, k, a);
    let was_active = status::is_active(&trees, m, v, k, a);
    // Journaled so that a killed uninstall is completed by the next run.
    let journal = if was_active {
        Some(
            Journal::begin(&trees.dkms_tree, "uninstall", &[m, v, k, a])
                .map_err(|e| Error::io(Kind::JournalWriteFailed, "writing the DKMS journal", e))?,
        )
    } else {
        None
    };
    let (deleted, restored) = if was_active {
        crash::point("uninstall:journaled");
        d.ui.outln("Before uninstall, this module version was ACTIVE on this kernel.");
        let files = delete_installed(d, x, &conf, suffix);
        let _ = std::fs::remove_file(&link);
        crash::point("uninstall:unlinked");
        files
    } else {
        d.ui.outln("This module version was INACTIVE for this kernel.");
        (Vec::new(), Vec::new())
    };
    d.run_build_script(m, v, "post_remove", &conf.post_remove, None)?;
    if d.delayed_depmod {
        let _ = std::fs::write(trees.depmod_pending(k, a), "");
    } else {
        d.run_depmod(k);
    }
    if let Some(j) = journal {
        crash::point("uninstall:depmod");
        let _ = j.finish();
        d.ui.emit(Record::Uninstalled {
            target: ui::target(m, v, Some(k), Some(a)),
            files: deleted,
            restored_originals: restored,
        });
    }
    drop_archived_originals(d, x, was_active);
    Ok(())
}

/// Delete the installed copies of each module of `conf` for k/a, putting
/// back the originals dkms archived when it installed them; the files
/// deleted and restored.
fn delete_installed(d: &Dkms, x: Target, conf: &dkms_state::conf::Conf, suffix: &str) -> (Vec<String>, Vec<String>) {
    let Target { m, k, a, .. } = x;
    let trees = &d.ctx.trees;
    let backup = trees.original_module_dir(m, k, a);
    let lib = trees.lib_tree(k);
    let (mut deleted, mut restored) = (Vec::new(), Vec::new());
    for i in 0..conf.num_modules() {
        let name = conf.modules[i].dest_module_name.clone();
        match d.find_actual_dest_module_location(m, conf, i, k, a, suffix) {
            Some(loc) => {
                let (dir, file) = installed_copy(trees, k, &loc, &name, suffix);
                d.ui.outln(&format!("Deleting {file}"));
                deleted.push(file);
                remove_module_files(&dir, &name);
                crash::point("uninstall:deleted");
                fsutil::rmdir_parents(&lib, &loc);
            }
            None => d.ui.outln(&format!("Module {name}.ko{suffix} was not found within {}/", lib.display())),
        }
        if backup.is_dir() {
            restored.extend(restore_originals(&d.ui, &backup, &lib, &name));
            if let Some(parent) = backup.parent() {
                fsutil::remove_empty_dirs(parent);
            }
        }
        if let Some(orig) = compressed_or_uncompressed(&backup, &name, suffix) {
            // Archived by dkms versions that wrote no .origin file.
            d.ui.outln("Restoring archived original module");
            let home = legacy_home(trees, k, &conf.modules[i], &orig);
            if let Some(dir) = home.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if fsutil::move_file(&orig, &home).is_ok() {
                restored.push(home.display().to_string());
            }
        }
    }
    (deleted, restored)
}

/// After the uninstall of an active version: drop the originals archived
/// for k/a (restored by now), and `original_module/` once it is empty.
fn drop_archived_originals(d: &Dkms, x: Target, was_active: bool) {
    let Target { m, k, a, .. } = x;
    let trees = &d.ctx.trees;
    let backup = trees.original_module_dir(m, k, a);
    let orig_root = trees.module_dir(m).join("original_module");
    if was_active && backup.is_dir() {
        d.ui.outln(&format!("Removing original module(s) from DKMS tree for kernel {k} ({a})"));
        let _ = beneath::remove_all(&trees.dkms_tree, &backup);
        let kdir = orig_root.join(k);
        if fsutil::subdirs(&kdir).is_empty() {
            let _ = beneath::remove_all(&trees.dkms_tree, &kdir);
        }
    }
    if fsutil::subdirs(&orig_root).is_empty() {
        let _ = beneath::remove_all(&trees.dkms_tree, &orig_root);
    }
}

/// The installed copy of module `name` at DEST_MODULE_LOCATION `loc` (as
/// `find_actual_dest_module_location` found it): its directory, and the
/// file as uninstall names it.
pub(crate) fn installed_copy(t: &trees::Trees, k: &str, loc: &str, name: &str, suffix: &str) -> (PathBuf, String) {
    let dir = trees::cat(&t.install_tree, &format!("{k}{loc}"));
    let file = format!("{}/{name}.ko{suffix}", dir.display());
    (dir, file)
}

/// Where an original archived without a `.origin` file (by older dkms
/// versions) goes back: its module's ORIG_DEST_MODULE_LOCATION.
pub(crate) fn legacy_home(t: &trees::Trees, k: &str, r: &ModuleRecord, orig: &Path) -> PathBuf {
    let dir = trees::cat(&t.install_tree, &format!("{k}{}/", r.orig_dest_module_location));
    dir.join(orig.file_name().unwrap_or_default())
}

/// `rm -f DIR/NAME.ko*`
fn remove_module_files(dir: &Path, name: &str) {
    let prefix = format!("{name}.ko");
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The archived originals of `name` an uninstall puts back, in order:
/// (the archived file, the place its `.origin` file names, that `.origin`
/// file). Read-only: `restore_originals` and a dry run's plan both ask.
pub(crate) fn archived_originals(backup: &Path, name: &str) -> Vec<(PathBuf, String, PathBuf)> {
    let mut origins: Vec<PathBuf> = Vec::new();
    let mut stack = vec![backup.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if dkms_state::glob::matches(&format!("{name}.*.origin"), &e.file_name().to_string_lossy()) {
                origins.push(p);
            }
        }
    }
    origins.sort();
    let mut found = Vec::new();
    for origin in origins {
        let module = PathBuf::from(origin.to_string_lossy().trim_end_matches(".origin"));
        if !module.is_file() {
            continue;
        }
        let location = std::fs::read_to_string(&origin).unwrap_or_default();
        let location = location.lines().next().unwrap_or_default().to_string();
        found.push((module, location, origin));
    }
    found
}

/// Whether an original may go back to `location`: only inside this
/// kernel's module tree.
pub(crate) fn restorable(location: &str, lib: &Path) -> bool {
    location.starts_with(&format!("{}/", lib.display()))
}

/// Put back every archived original of `name` whose `.origin` file names a
/// place inside this kernel's module tree.
fn restore_originals(ui: &Ui, backup: &Path, lib: &Path, name: &str) -> Vec<String> {
    let mut restored = Vec::new();
    for (module, location, origin) in archived_originals(backup, name) {
        if restorable(&location, lib) {
            ui.outln(&format!("Restoring archived original module {location}"));
            if let Some(parent) = Path::new(&location).parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            let _ = fsutil::move_file(&module, Path::new(&location));
            crash::point("uninstall:restored");
            restored.push(location.clone());
            let _ = std::fs::remove_file(&origin);
        } else {
            ui.warn(&[format!("Bad original location '{location}' in {}", origin.display())]);
        }
    }
    restored
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::{conf, Fixture, A, K};

    #[test]
    fn archived_originals_are_those_with_their_module_and_an_origin() {
        // §6.7: each archived module has a `.origin` naming where it was.
        let f = Fixture::new();
        let backup = f.trees().original_module_dir("hello", K, A);
        let lib = f.trees().lib_tree(K);
        let origin = |rel: &str, to: &str| f.write(&format!("dkms/hello/original_module/{K}/{A}/{rel}"), to);
        origin("hello.ko", "module");
        origin("hello.ko.origin", &format!("{}/kernel/hello.ko\n", lib.display()));
        origin("sub/hello.ko.xz", "module");
        origin("sub/hello.ko.xz.origin", "/elsewhere/hello.ko.xz\n");
        origin("gone.ko.origin", "/x\n");
        origin("hello.ko.gz.origin", "/module/missing\n");
        origin("hello2.ko", "other module");
        origin("hello2.ko.origin", "/y\n");
        let found: Vec<(PathBuf, String)> =
            archived_originals(&backup, "hello").into_iter().map(|o| (o.0, o.1)).collect();
        assert_eq!(
            found,
            [
                (backup.join("hello.ko"), format!("{}/kernel/hello.ko", lib.display())),
                (backup.join("sub/hello.ko.xz"), "/elsewhere/hello.ko.xz".to_string()),
            ]
        );
    }

    #[test]
    fn an_original_goes_back_only_inside_its_kernels_module_tree() {
        let lib = Path::new("/lib/modules/6.1.0-unit");
        assert!(restorable("/lib/modules/6.1.0-unit/kernel/drivers/hello.ko", lib));
        assert!(!restorable("/lib/modules/6.1.0-unit-other/kernel/hello.ko", lib));
        assert!(!restorable("/etc/hello.ko", lib));
        assert!(!restorable("", lib));
    }

    #[test]
    fn legacy_originals_go_to_the_confs_own_location_and_copies_are_named_as_upstream() {
        // An archive without `.origin` (older dkms): ORIG_DEST_MODULE_LOCATION,
        // not Debian's /updates/dkms.
        let mut f = Fixture::new();
        f.add("hello", "1.0", &conf("hello", "1.0", ""));
        let r = f.read_conf(Target::new("hello", "1.0", K, A)).modules[0].clone();
        let t = f.trees();
        let home = legacy_home(t, K, &r, Path::new("/backup/hello.ko.xz"));
        assert_eq!(home, t.lib_tree(K).join("kernel/extra/hello.ko.xz"));
        let (dir, file) = installed_copy(t, K, "/updates/dkms", "hello", ".xz");
        assert_eq!(dir, t.lib_tree(K).join("updates/dkms"));
        assert_eq!(file, format!("{}/hello.ko.xz", dir.display()));
    }
}
