//! `maybe_unbuild_module` and `do_unbuild` upstream: delete a module's
//! build for one kernel, as a transaction (journaled; the build is renamed
//! aside before it is deleted, so a kill never leaves a half-deleted
//! `<kver>/<arch>` that later builds take for a build).

use crate::support::dkms::Dkms;
use dkms_cli::ui;
use dkms_proto::{Record, SkipReason};
use dkms_state::{beneath, crash, fsutil, journal, status, trees::Trees};
use std::path::{Path, PathBuf};

/// `maybe_unbuild_module`
pub(crate) fn maybe_unbuild_module(d: &Dkms, m: &str, v: &str, k: &str, a: &str) {
    if !status::is_module_built(&d.ctx.trees, m, v, k, a) {
        // Not a build, but a `<kver>/<arch>` left by a killed dkms (or by
        // hand) would block every later build of this kernel: drop it.
        drop_leftover(&d.ctx.trees, m, v, k, a);
        ui::outln(&format!("Module {m}/{v} is not built for kernel {k} ({a}). Skipping..."));
        ui::emit(Record::Skipped { target: ui::target(m, v, Some(k), Some(a)), reason: SkipReason::NotBuilt });
        return;
    }
    do_unbuild(d, m, v, k, a);
    ui::emit(Record::Unbuilt { target: ui::target(m, v, Some(k), Some(a)) });
}

/// `do_unbuild`: delete `<kver>/<arch>`, and `<kver>` when no arch is left.
/// Upstream's `rm -rf` leaves a partial directory when killed; here the
/// directory is renamed aside first (one atomic step) under a journal, and
/// recovery completes the deletion (`finish_unbuild`).
pub(crate) fn do_unbuild(d: &Dkms, m: &str, v: &str, k: &str, a: &str) {
    let t = &d.ctx.trees;
    let journal = journal::Journal::begin(&t.dkms_tree, "unbuild", &[m, v, k, a]);
    crash::point("unbuild:journaled");
    let aside = aside_name(t, m, v, k, a);
    if std::fs::rename(t.arch_dir(m, v, k, a), &aside).is_err() {
        // Not renamable (e.g. a read-only tree): upstream's plain delete.
        let _ = beneath::remove_all(&t.dkms_tree, &t.arch_dir(m, v, k, a));
    }
    crash::point("unbuild:renamed");
    finish_unbuild(t, m, v, k, a);
    crash::point("unbuild:removed");
    if let Ok(j) = journal {
        let _ = j.finish();
    }
}

/// Where `do_unbuild` moves a build before deleting it: a `.tmp_<arch>_`
/// sibling, the prefix of build staging directories, which `remove` and
/// recovery already clean.
fn aside_name(t: &Trees, m: &str, v: &str, k: &str, a: &str) -> PathBuf {
    t.kernel_dir(m, v, k).join(format!(".tmp_{a}_unbuild.{}", std::process::id()))
}

/// Delete what an unbuild of `m/v` for `k`/`a` moved aside (and the build
/// itself if it was not moved yet), then `<kver>` if it is empty. Recovery
/// calls this to complete a killed unbuild.
pub(crate) fn finish_unbuild(t: &Trees, m: &str, v: &str, k: &str, a: &str) {
    let kdir = t.kernel_dir(m, v, k);
    let prefix = format!(".tmp_{a}_unbuild.");
    for e in std::fs::read_dir(&kdir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = beneath::remove_all(&t.dkms_tree, &e.path());
        }
    }
    let base = t.arch_dir(m, v, k, a);
    if base.symlink_metadata().is_ok() {
        let _ = beneath::remove_all(&t.dkms_tree, &base);
    }
    remove_if_empty(&kdir);
}

/// A `<kver>/<arch>` that is not a build (no `module/`: an interrupted
/// build or unbuild of an older dkms, or made by hand): upstream's
/// `is_module_built` calls it not built, yet `do_build` refuses to build
/// over it ("already been built"). Delete it; returns whether there was one.
pub(crate) fn drop_leftover(t: &Trees, m: &str, v: &str, k: &str, a: &str) -> bool {
    let base = t.arch_dir(m, v, k, a);
    if [m, v, k, a].iter().any(|s| s.is_empty()) || !is_leftover(&base) {
        return false;
    }
    let _ = beneath::remove_all(&t.dkms_tree, &base);
    remove_if_empty(&t.kernel_dir(m, v, k));
    true
}

/// Whether `<kver>/<arch>` is a leftover, not a build: a directory without
/// `module/` (a dry run's plan of `remove` asks too).
pub(crate) fn is_leftover(base: &Path) -> bool {
    base.is_dir() && !base.join("module").is_dir()
}

fn remove_if_empty(dir: &Path) {
    if fsutil::entry_count(dir) == 0 {
        let _ = std::fs::remove_dir(dir);
    }
}
