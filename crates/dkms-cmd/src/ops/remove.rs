//! `remove_module` upstream: uninstall and unbuild the requested kernels,
//! then delete the version from the tree when no kernel directory remains
//! (and the module directory when no version does).

use super::unbuild::{drop_leftover, maybe_unbuild_module};
use super::uninstall::maybe_uninstall_module;
use crate::support::dkms::{Dkms, Target};
use crate::support::options::RemoveOptions;
use crate::support::process::{grandparent_pid, process_start};
use dkms_cli::ui;
use dkms_proto::Record;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::trees::Trees;
use dkms_state::{beneath, crash, fsutil, journal};

/// Directories of a version that are not kernels (upstream's list).
pub(crate) const KEPT: [&str; 6] = ["build", "tarball", "driver_disk", "rpm", "deb", "source"];

/// `remove_module` for m/v on the command line's kernels.
pub(crate) fn remove_module(d: &mut Dkms, opts: &RemoveOptions, m: &str, v: &str) -> Result<()> {
    let (m, v) = (m.to_string(), v.to_string());
    let trees = d.ctx.trees.clone();
    let vdir = trees.version_dir(&m, &v);
    // Leftovers of interrupted builds and unbuilds (staging directories,
    // and `<kver>/<arch>` without `module/`), then empty directories.
    for k in fsutil::subdirs(&vdir) {
        for e in std::fs::read_dir(vdir.join(&k)).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp_") {
                let _ = beneath::remove_all(&trees.dkms_tree, &e.path());
            } else if e.file_type().is_ok_and(|t| t.is_dir()) && !KEPT.iter().any(|s| k.ends_with(s)) {
                drop_leftover(&trees, Target::new(&m, &v, &k, &name));
            }
        }
    }
    for e in std::fs::read_dir(&vdir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir(e.path());
        }
    }
    if opts.rpm_safe_upgrade && rpm_safe_upgrade_cancels(d, &m, &v, true) {
        return Err(rpm_safe_upgrade_cancelled());
    }
    for (k, a) in d.targets() {
        maybe_uninstall_module(d, Target::new(&m, &v, &k, &a))?;
        maybe_unbuild_module(d, Target::new(&m, &v, &k, &a));
        d.ui.outln("");
    }
    let remaining = std::fs::read_dir(&vdir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .any(|n| !KEPT.iter().any(|s| n.ends_with(s)));
    if !remaining {
        d.ui.outln(&format!("Deleting module {m}/{v} completely from the DKMS tree."));
        dkms_state::crash::point("remove:deleting");
        delete_version(&trees, &m, &v)?;
        d.ui.emit(Record::Removed { target: ui::target(&m, &v, None, None) });
    }
    let mdir = trees.module_dir(&m);
    if fsutil::entry_count(&mdir) == 0 {
        let _ = beneath::remove_all(&trees.dkms_tree, &mdir);
    }
    Ok(())
}
/// `rm -rf <dkms_tree>/<m>/<v>` as a transaction: journaled, renamed aside
/// in one step, then deleted, so a kill never leaves a version without its
/// `source` link (which `status` would call broken); recovery completes it
/// (`finish_remove`).
fn delete_version(t: &Trees, m: &str, v: &str) -> Result<()> {
    let vdir = t.version_dir(m, v);
    let journal = journal::Journal::begin(&t.dkms_tree, "remove", &[m, v])
        .map_err(|e| Error::io(Kind::JournalWriteFailed, "writing the DKMS journal", e))?;
    crash::point("remove:journaled");
    let aside = t.module_dir(m).join(format!(".tmp_remove_{v}.{}", std::process::id()));
    std::fs::rename(&vdir, &aside)
        .map_err(|e| Error::io(Kind::TreeWriteFailed, format!("rm -rf {}", vdir.display()), e))?;
    crash::point("remove:renamed");
    finish_remove(t, m, v);
    let _ = journal.finish();
    Ok(())
}

/// Delete what a removal of `m/v` moved aside. A removal killed before its
/// rename is complete too: it only starts once nothing but the version's
/// own directories is left (`remove_module`).
pub(crate) fn finish_remove(t: &Trees, m: &str, v: &str) {
    let mdir = t.module_dir(m);
    let prefix = format!(".tmp_remove_{v}.");
    let vdir = t.version_dir(m, v);
    if vdir.symlink_metadata().is_ok() {
        let _ = std::fs::rename(&vdir, mdir.join(format!("{prefix}{}", std::process::id())));
    }
    for e in std::fs::read_dir(&mdir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = beneath::remove_all(&t.dkms_tree, &e.path());
        }
    }
    // Not upstream: what dkms-rs keeps about the version beside the tree
    // (header stamps, the failure memory) goes with it.
    dkms_state::dpkg::drop_version_stamps(&t.dkms_tree, m, v);
    dkms_state::failures::clear_version(&t.dkms_tree, m, v);
}

/// The remove an rpm upgrade cancels (exit 0, a warning).
pub(crate) fn rpm_safe_upgrade_cancelled() -> Error {
    Error::warn(Kind::RpmSafeUpgrade, ["Remove cancelled because --rpm_safe_upgrade scenario detected."])
}

/// Does a lock file written by `add --rpm_safe_upgrade` in the same rpm
/// transaction name this module? (It is consumed if so and `consume`.)
pub(crate) fn rpm_safe_upgrade_cancels(d: &Dkms, m: &str, v: &str, consume: bool) -> bool {
    let pppid = grandparent_pid();
    let stamp = process_start(&pppid);
    let prefix = format!("dkms_rpm_safe_upgrade_lock.{pppid}.");
    for e in std::fs::read_dir(&d.ctx.tmp_location).into_iter().flatten().flatten() {
        if !e.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let mut lines = text.lines();
        let head = lines.next().unwrap_or_default();
        let tail = text.lines().last().unwrap_or_default();
        if head == format!("{m}-{v}") && !stamp.is_empty() && tail == stamp {
            if consume {
                let _ = std::fs::remove_file(e.path());
            }
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::Fixture;

    /// `--rpm_safe_upgrade`: a lock file of this rpm transaction (our
    /// grandparent, with its start time) naming m-v cancels the remove,
    /// once; another module's, or a reused pid's, does not.
    #[test]
    fn rpm_safe_upgrade_cancels_only_for_its_own_transaction_and_module() {
        let f = Fixture::new();
        let pppid = grandparent_pid();
        let stamp = process_start(&pppid);
        assert!(!pppid.is_empty() && !stamp.is_empty(), "ps must report our grandparent's start");
        let lock = |name: &str, text: &str| f.write(&format!("tmp/dkms_rpm_safe_upgrade_lock.{pppid}.{name}"), text);
        lock("a", &format!("other-1.0\n{stamp}\n"));
        lock("b", "hello-1.0\nMon Jan  1 00:00:00 2001\n");
        assert!(!rpm_safe_upgrade_cancels(&f.d, "hello", "1.0", true));
        let ours = lock("c", &format!("hello-1.0\n{stamp}\n"));
        assert!(rpm_safe_upgrade_cancels(&f.d, "hello", "1.0", false));
        assert!(ours.exists(), "a dry run does not consume it");
        assert!(rpm_safe_upgrade_cancels(&f.d, "hello", "1.0", true));
        assert!(!ours.exists());
        assert!(!rpm_safe_upgrade_cancels(&f.d, "hello", "1.0", true));
    }
}
