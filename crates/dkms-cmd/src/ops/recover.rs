//! Recovery from an interrupted transaction (see `dkms_state::journal`):
//! run before anything else by every verb that can write the tree. A killed
//! build leaves its staging directory, which is removed; a killed install is
//! rolled back (archived originals put back, placed modules removed, the old
//! link restored) unless it had already linked, in which case it is
//! completed; a killed uninstall, unbuild or removal is completed; a
//! killed sign is completed after its commit, else rolled back.

use crate::support::dkms::{Dkms, Target};
use dkms_state::journal::{self, Entry, Pending};
use dkms_state::{beneath, fsutil, status};
use std::path::{Path, PathBuf};

/// Where a module file that an install replaces waits until the install is over.
pub(crate) fn displaced_name(dest: &Path) -> PathBuf {
    PathBuf::from(format!("{}.dkms-displaced", dest.display()))
}

/// Delete the files an install displaced (it succeeded).
pub(crate) fn drop_displaced(steps: &[Entry]) {
    for s in steps.iter().filter(|s| s.key == "displace") {
        if let Some(old) = s.args.get(1) {
            let _ = std::fs::remove_file(old);
        }
    }
}

/// Undo the recorded steps of the install of `target` (m, v, k, a), newest first.
pub(crate) fn rollback_install(d: &Dkms, target: &[String], steps: &[Entry]) {
    let t = &d.ctx.trees;
    for s in steps.iter().rev() {
        let arg = |i: usize| s.args.get(i).map(PathBuf::from).unwrap_or_default();
        match s.key.as_str() {
            "place" => {
                let dest = arg(0);
                let _ = std::fs::remove_file(&dest);
                // A copy interrupted before its rename leaves a temporary sibling.
                remove_temp_siblings(&dest);
            }
            "displace" => {
                let (dest, old) = (arg(0), arg(1));
                if old.exists() || fsutil::is_symlink(&old) {
                    let _ = std::fs::rename(&old, &dest);
                }
            }
            "archive" => {
                let (orig, archived) = (arg(0), arg(1));
                if archived.exists() {
                    if orig.exists() {
                        // The move was interrupted after its copy: the
                        // original is still in place.
                        let _ = std::fs::remove_file(&archived);
                    } else {
                        if let Some(p) = orig.parent() {
                            let _ = std::fs::create_dir_all(p);
                        }
                        let _ = fsutil::move_file(&archived, &orig);
                    }
                }
                let _ = std::fs::remove_file(format!("{}.origin", archived.display()));
                if let Some(dir) = archived.parent() {
                    remove_temp_siblings(&dir.join("x"));
                }
            }
            _ => {}
        }
    }
    {
        if let [m, _, k, a] = target {
            let link = t.active_link(m, k, a);
            let before = steps.iter().find(|s| s.key == "link-before").and_then(|s| s.args.first()).cloned();
            match before.as_deref() {
                Some("") | None => {
                    let _ = std::fs::remove_file(&link);
                }
                Some(target) => {
                    let _ = fsutil::replace_symlink(Path::new(target), &link);
                }
            }
            let orig_root = t.module_dir(m).join("original_module");
            fsutil::remove_empty_dirs(&orig_root);
        }
    }
}

/// Remove `.NAME.*` temporaries left beside `path` by an interrupted
/// copy or rename (`fsutil::temp_sibling`).
fn remove_temp_siblings(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    // `.NAME.TAG.PID`, or `.NAME~N.TAG.PID` where that name was taken.
    let name = name.to_string_lossy();
    let ours = |n: &str| {
        name == "x"
            || n.strip_prefix('.')
                .and_then(|n| n.strip_prefix(name.as_ref()))
                .is_some_and(|r| r.starts_with(['.', '~']))
    };
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with('.') && ours(&n) && (n.contains(".dkms-new.") || n.contains(".move.") || n.contains(".new.")) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A killed build: drop its staging directories and a `<kver>/<arch>`
/// without `module/` (upstream #513: such a directory blocks every later build).
fn cleanup_build(d: &Dkms, x: Target) {
    let Target { m, v, k, a } = x;
    let t = &d.ctx.trees;
    let kdir = t.kernel_dir(m, v, k);
    for e in std::fs::read_dir(&kdir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(&format!(".tmp_{a}_")) {
            let _ = beneath::remove_all(&t.dkms_tree, &e.path());
        }
    }
    let base = t.arch_dir(m, v, k, a);
    if base.is_dir() && !base.join("module").is_dir() {
        let _ = beneath::remove_all(&t.dkms_tree, &base);
    }
    if fsutil::entry_count(&kdir) == 0 {
        let _ = std::fs::remove_dir(&kdir);
    }
}

/// Finish whatever the unfinished journals describe, oldest first. Prints
/// one line on stderr per transaction saying what was done.
pub(crate) fn recover(d: &mut Dkms) {
    // Deferred depmods last: they must see the tree the others leave.
    let (depmods, others): (Vec<Pending>, Vec<Pending>) =
        journal::pending(&d.ctx.trees.dkms_tree).into_iter().partition(|p| p.op == "depmod");
    for p in others.into_iter().chain(depmods) {
        recover_one(d, p);
    }
    // A journal being written when the process died never got its name.
    let dir = journal::dir(&d.ctx.trees.dkms_tree);
    for f in journal::stale_temporaries(&d.ctx.trees.dkms_tree) {
        let _ = std::fs::remove_file(f);
    }
    let _ = std::fs::remove_dir(&dir);
}

/// Remove what killed dkms processes left outside the DKMS tree: partial
/// source copies of `add` (`<source_tree>/.<m>-<v>.copy.<pid>`) and the
/// conf evaluator's directories in `$TMPDIR`. Only those of processes that
/// are gone, so it needs no lock; done by every run (two directory reads).
pub(crate) fn sweep(d: &Dkms) {
    let mut stale = fsutil::stale_siblings(&d.ctx.trees.source_tree, "copy");
    stale.extend(dkms_state::shell::stale_temporaries());
    for p in stale {
        // Each is a direct entry of the directory it was found in.
        let _ = p.parent().map(|dir| beneath::remove_all(dir, &p));
    }
}

fn recover_one(d: &mut Dkms, p: Pending) {
    let Pending { op, target, steps, .. } = &p;
    if let ("depmod", [k]) = (op.as_str(), &target[..]) {
        // A parallel autoinstall installed modules whose depmod it runs once
        // at the end (see `autoinstall`): run it now.
        d.quietly(|d| {
            d.run_depmod(k);
        });
        let _ = journal::clear(&p);
        d.ui.errln(&format!("dkms: recovered from an interrupted depmod for kernel {k}: completed."));
        return;
    }
    if let ("remove", [m, v]) = (op.as_str(), &target[..]) {
        super::remove::finish_remove(&d.ctx.trees, m, v);
        let mdir = d.ctx.trees.module_dir(m);
        if fsutil::entry_count(&mdir) == 0 {
            let _ = std::fs::remove_dir(&mdir);
        }
        let _ = journal::clear(&p);
        d.ui.errln(&format!("dkms: recovered from an interrupted removal of {m}/{v}: completed."));
        return;
    }
    let [m, v, k, a] = &target[..] else {
        let _ = journal::clear(&p);
        return;
    };
    let (m, v, k, a) = (m.clone(), v.clone(), k.clone(), a.clone());
    let outcome = match op.as_str() {
        "build" => {
            cleanup_build(d, Target::new(&m, &v, &k, &a));
            "cleaned up"
        }
        // The build was uninstalled before its unbuild began; should it be
        // active again (another dkms installed it since?), keep it.
        "unbuild" if status::is_module_installed(&d.ctx.trees, &m, &v, &k, &a) => "rolled back",
        "unbuild" => {
            super::unbuild::finish_unbuild(&d.ctx.trees, Target::new(&m, &v, &k, &a));
            "completed"
        }
        "install" if steps.iter().any(|s| s.key == "linked") => {
            drop_displaced(steps);
            d.quietly(|d| {
                d.run_depmod(&k);
            });
            "completed"
        }
        "install" => {
            rollback_install(d, target, steps);
            "rolled back"
        }
        "sign" => super::sign::recover(steps),
        "uninstall" => {
            let _ = journal::clear(&p);
            if status::is_module_installed(&d.ctx.trees, &m, &v, &k, &a) {
                d.quietly(|d| {
                    let _ = d.subshell(|d| super::uninstall::do_uninstall(d, Target::new(&m, &v, &k, &a)));
                });
            } else {
                d.quietly(|d| {
                    d.run_depmod(&k);
                });
            }
            "completed"
        }
        _ => "discarded",
    };
    let _ = journal::clear(&p);
    d.ui.errln(&format!("dkms: recovered from an interrupted {op} of {m}/{v} for kernel {k} ({a}): {outcome}."));
}
