//! `dkms remove` and `dkms unbuild` (`remove_module`, `unbuild_module`,
//! `maybe_unbuild_module`, `do_unbuild` upstream): uninstall and delete the
//! builds of the requested kernels; `remove` then deletes the version from
//! the tree when no kernel directory remains.

use crate::common::Dkms;
use crate::uninstall::maybe_uninstall_module;
use dkms_cli::table::{Verb, VERBS};
use dkms_cli::ui;
use dkms_proto::{Record, SkipReason};
use dkms_state::error::{Error, Result};
use dkms_state::{fsutil, status};

/// The table entry of `remove`.
pub const VERB: &Verb = &VERBS[1];
/// The table entry of `unbuild`.
pub const UNBUILD: &Verb = &VERBS[3];

/// The checks upstream runs before remove/unbuild/uninstall: arguments
/// given, not broken, added.
pub fn checked_target(d: &Dkms, action: &str) -> Result<(String, String)> {
    d.check_module_args(action)?;
    let (m, v) = (d.ctx.args.module.clone(), d.ctx.args.module_version.clone());
    d.module_is_broken_and_die(&m, &v)?;
    d.module_is_added_or_die(&m, &v)?;
    Ok((m, v))
}

/// `dkms unbuild`
pub fn run_unbuild(d: &mut Dkms) -> Result<()> {
    let (m, v) = checked_target(d, "unbuild")?;
    d.check_rw_dkms_tree()?;
    for (i, (k, a)) in d.targets().iter().enumerate() {
        if i > 0 {
            ui::outln("");
        }
        maybe_uninstall_module(d, &m, &v, k, a)?;
        maybe_unbuild_module(d, &m, &v, k, a);
    }
    d.maybe_post_transaction();
    Ok(())
}

/// `maybe_unbuild_module`
pub fn maybe_unbuild_module(d: &Dkms, m: &str, v: &str, k: &str, a: &str) {
    if !status::is_module_built(&d.ctx.trees, m, v, k, a) {
        ui::outln(&format!("Module {m}/{v} is not built for kernel {k} ({a}). Skipping..."));
        ui::emit(Record::Skipped { target: ui::target(m, v, Some(k), Some(a)), reason: SkipReason::NotBuilt });
        return;
    }
    do_unbuild(d, m, v, k, a);
    ui::emit(Record::Unbuilt { target: ui::target(m, v, Some(k), Some(a)) });
}

/// `do_unbuild`: delete `<kver>/<arch>`, and `<kver>` when no arch is left.
pub fn do_unbuild(d: &Dkms, m: &str, v: &str, k: &str, a: &str) {
    let t = &d.ctx.trees;
    let _ = fsutil::remove_all(&t.arch_dir(m, v, k, a));
    dkms_state::crash::point("unbuild:removed");
    let kdir = t.kernel_dir(m, v, k);
    if fsutil::subdirs(&kdir).is_empty() {
        let _ = fsutil::remove_all(&kdir);
    }
}

/// `dkms remove`
pub fn run(d: &mut Dkms) -> Result<()> {
    let (m, v) = checked_target(d, "remove")?;
    d.check_rw_dkms_tree()?;
    let trees = d.ctx.trees.clone();
    let vdir = trees.version_dir(&m, &v);
    // Leftovers of interrupted builds, then empty directories.
    for k in fsutil::subdirs(&vdir) {
        for e in std::fs::read_dir(vdir.join(&k)).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp_") {
                let _ = fsutil::remove_all(&e.path());
            }
        }
    }
    for e in std::fs::read_dir(&vdir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir(e.path());
        }
    }
    if d.ctx.args.rpm_safe_upgrade && rpm_safe_upgrade_cancels(d, &m, &v) {
        return Err(Error::warn(
            0,
            "rpm-safe-upgrade",
            ["Remove cancelled because --rpm_safe_upgrade scenario detected."],
        ));
    }
    for (k, a) in d.targets() {
        maybe_uninstall_module(d, &m, &v, &k, &a)?;
        maybe_unbuild_module(d, &m, &v, &k, &a);
        ui::outln("");
    }
    let kept = ["build", "tarball", "driver_disk", "rpm", "deb", "source"];
    let remaining = std::fs::read_dir(&vdir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .any(|n| !kept.iter().any(|s| n.ends_with(s)));
    if !remaining {
        ui::outln(&format!("Deleting module {m}/{v} completely from the DKMS tree."));
        dkms_state::crash::point("remove:deleting");
        fsutil::remove_all(&vdir).map_err(|e| Error::io(1, format!("rm -rf {}", vdir.display()), e))?;
        ui::emit(Record::Removed { target: ui::target(&m, &v, None, None) });
    }
    let mdir = trees.module_dir(&m);
    if fsutil::entry_count(&mdir) == 0 {
        let _ = fsutil::remove_all(&mdir);
    }
    d.maybe_post_transaction();
    Ok(())
}

/// The PID of our parent's parent (the rpm transaction, upstream's `pppid`).
pub fn grandparent_pid() -> String {
    let ppid = nix::unistd::getppid();
    std::fs::read_to_string(format!("/proc/{ppid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PPid:").map(|v| v.trim().to_string())))
        .unwrap_or_default()
}

/// `ps -o lstart --no-headers -p PID`
pub fn process_start(pid: &str) -> String {
    let mut c = dkms_state::tools::command("ps", &[]);
    c.args(["-o", "lstart", "--no-headers", "-p", pid]);
    dkms_state::tools::output(&mut c)
        .map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_string())
        .unwrap_or_default()
}

/// Does a lock file written by `add --rpm_safe_upgrade` in the same rpm
/// transaction name this module? (It is consumed if so.)
fn rpm_safe_upgrade_cancels(d: &Dkms, m: &str, v: &str) -> bool {
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
            let _ = std::fs::remove_file(e.path());
            return true;
        }
    }
    false
}
