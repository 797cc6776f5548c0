//! `maybe_unbuild_module` and `do_unbuild` upstream: delete a module's
//! build for one kernel, as a transaction (journaled; the build is renamed
//! aside before it is deleted, so a kill never leaves a half-deleted
//! `<kver>/<arch>` that later builds take for a build).

use crate::support::dkms::{Dkms, Target};
use dkms_cli::ui;
use dkms_proto::{Record, SkipReason};
use dkms_state::{beneath, crash, fsutil, journal, status, trees::Trees};
use std::path::{Path, PathBuf};

/// `maybe_unbuild_module`
pub(crate) fn maybe_unbuild_module(d: &Dkms, x: Target) {
    let Target { m, v, k, a } = x;
    if !status::is_module_built(&d.ctx.trees, m, v, k, a) {
        // Not a build, but a `<kver>/<arch>` left by a killed dkms (or by
        // hand) would block every later build of this kernel: drop it.
        drop_leftover(&d.ctx.trees, x);
        d.ui.outln(&format!("Module {m}/{v} is not built for kernel {k} ({a}). Skipping..."));
        d.ui.emit(Record::Skipped { target: ui::target(m, v, Some(k), Some(a)), reason: SkipReason::NotBuilt });
        return;
    }
    do_unbuild(d, x);
    d.ui.emit(Record::Unbuilt { target: ui::target(m, v, Some(k), Some(a)) });
}

/// `do_unbuild`: delete `<kver>/<arch>`, and `<kver>` when no arch is left.
/// Upstream's `rm -rf` leaves a partial directory when killed; here the
/// directory is renamed aside first (one atomic step) under a journal, and
/// recovery completes the deletion (`finish_unbuild`).
pub(crate) fn do_unbuild(d: &Dkms, x: Target) {
    let Target { m, v, k, a } = x;
    let t = &d.ctx.trees;
    let journal = journal::Journal::begin(&t.dkms_tree, "unbuild", &[m, v, k, a]);
    crash::point("unbuild:journaled");
    let aside = aside_name(t, x);
    if std::fs::rename(t.arch_dir(m, v, k, a), &aside).is_err() {
        // Not renamable (e.g. a read-only tree): upstream's plain delete.
        let _ = beneath::remove_all(&t.dkms_tree, &t.arch_dir(m, v, k, a));
    }
    crash::point("unbuild:renamed");
    finish_unbuild(t, x);
    crash::point("unbuild:removed");
    if let Ok(j) = journal {
        let _ = j.finish();
    }
}

/// Where `do_unbuild` moves a build before deleting it: a `.tmp_<arch>_`
/// sibling, the prefix of build staging directories, which `remove` and
/// recovery already clean.
fn aside_name(t: &Trees, x: Target) -> PathBuf {
    let Target { m, v, k, a } = x;
    t.kernel_dir(m, v, k).join(format!(".tmp_{a}_unbuild.{}", std::process::id()))
}

/// Delete what an unbuild of `m/v` for `k`/`a` moved aside (and the build
/// itself if it was not moved yet), then `<kver>` if it is empty. Recovery
/// calls this to complete a killed unbuild.
pub(crate) fn finish_unbuild(t: &Trees, x: Target) {
    let Target { m, v, k, a } = x;
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
    // Its header stamp described this build alone.
    dkms_state::dpkg::drop_stamp(&t.dkms_tree, m, v, k, a);
}

/// A `<kver>/<arch>` that is not a build (no `module/`: an interrupted
/// build or unbuild of an older dkms, or made by hand): upstream's
/// `is_module_built` calls it not built, yet `do_build` refuses to build
/// over it ("already been built"). Delete it; returns whether there was one.
pub(crate) fn drop_leftover(t: &Trees, x: Target) -> bool {
    let Target { m, v, k, a } = x;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::{captured, Fixture, A, K};

    #[test]
    fn unbuild_deletes_the_build_and_its_empty_kernel_directory_leaving_no_journal() {
        let f = Fixture::new();
        f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
        f.build(Target::new("hello", "1.0", K, "i686"), &["hello.ko"]);
        let t = f.trees();
        let (_, out, _) = captured(|| maybe_unbuild_module(&f.d, Target::new("hello", "1.0", K, A)));
        assert_eq!(out, "");
        assert!(!t.arch_dir("hello", "1.0", K, A).exists());
        assert!(t.arch_dir("hello", "1.0", K, "i686").is_dir(), "the other arch stays");
        do_unbuild(&f.d, Target::new("hello", "1.0", K, "i686"));
        assert!(!t.kernel_dir("hello", "1.0", K).exists());
        assert!(journal::pending(&t.dkms_tree).is_empty());
    }

    #[test]
    fn a_leftover_that_is_no_build_is_dropped_and_said_not_built() {
        let f = Fixture::new();
        let t = f.trees();
        std::fs::create_dir_all(t.arch_dir("hello", "1.0", K, A).join("log")).unwrap();
        assert!(is_leftover(&t.arch_dir("hello", "1.0", K, A)));
        let (_, out, _) = captured(|| maybe_unbuild_module(&f.d, Target::new("hello", "1.0", K, A)));
        assert_eq!(out, format!("Module hello/1.0 is not built for kernel {K} ({A}). Skipping...\n"));
        assert!(!t.kernel_dir("hello", "1.0", K).exists());
    }

    #[test]
    fn finishing_a_killed_unbuild_removes_what_was_moved_aside() {
        // Recovery's half: the build renamed aside, the process killed.
        let f = Fixture::new();
        let t = f.trees();
        f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
        let aside = aside_name(t, Target::new("hello", "1.0", K, A));
        std::fs::rename(t.arch_dir("hello", "1.0", K, A), &aside).unwrap();
        f.build(Target::new("hello", "1.0", K, "i686"), &["hello.ko"]);
        finish_unbuild(t, Target::new("hello", "1.0", K, A));
        assert!(!aside.exists());
        assert!(t.arch_dir("hello", "1.0", K, "i686").is_dir(), "only the unbuilt arch goes");
    }
}
