//! dkms-rs's dpkg trigger (`dkms kernel_trigger`): build each kernel the
//! hooks queued (`dkms_state::dpkg`) once, after the transaction's kernel
//! and header packages are configured. Not in upstream dkms, whose hooks
//! build at once from every kernel package (dkms#521, #545).
//!
//! Per queued kernel: without headers, one line and it stays queued (the
//! headers' own hook queues it again); with them, one autoinstall (the
//! parallel one) under a shutdown inhibitor, skipping modules whose build
//! failed before with the same inputs, then off the queue, the initramfs
//! updated when something was installed, and the failures listed.

use super::autoinstall::{autoinstall_with, Options};
use crate::support::dkms::Dkms;
use dkms_cli::ui;
use dkms_state::error::{Error, Result};
use dkms_state::{dpkg, failures, status, tools};
use std::path::Path;

/// Build every queued kernel; the status of the first that failed.
pub(crate) fn run_queue(d: &mut Dkms) -> Result<()> {
    let tree = d.ctx.trees.dkms_tree.clone();
    let (kernels, refused) = dpkg::queued(&tree);
    for r in refused {
        ui::warn(&[format!("dkms: dropped '{r}' from {}: not a kernel name.", dpkg::queue_dir(&tree).display())]);
    }
    let arch = d.ctx.arch.first().cloned().unwrap_or_default();
    let mut first_failure = None;
    for k in kernels {
        if let Err(e) = one_kernel(d, &k, &arch) {
            ui::report(&e);
            first_failure.get_or_insert(e.code);
        }
    }
    first_failure.map_or(Ok(()), |code| Err(Error::reported(code)))
}

fn one_kernel(d: &mut Dkms, k: &str, a: &str) -> Result<()> {
    let tree = d.ctx.trees.dkms_tree.clone();
    let dequeue = || dpkg::dequeue(&tree, k).map_err(|e| Error::io(1, dpkg::queue_dir(&tree).display(), e));
    if !d.ctx.trees.lib_tree(k).exists() {
        // Removed before its trigger ran: nothing to build for.
        return dequeue();
    }
    let headers = d.kernel_source_dir(k);
    if !headers.join("include").is_dir() {
        ui::outln(&format!(
            "dkms: kernel {k}: modules not built yet, its headers are not installed ({} is missing); \
             install linux-headers-{k} and they are built then.",
            headers.display()
        ));
        return Ok(());
    }
    let before = installed(d, k, a);
    d.ctx.kernelver = vec![k.to_string()];
    d.ctx.arch = vec![a.to_string()];
    let res = {
        let _inhibitor = inhibit(k);
        autoinstall_with(d, Options { skip_known_failures: true })
    };
    dequeue()?;
    if installed(d, k, a) != before {
        update_initramfs(k);
    }
    if res.is_err() {
        failure_block(d, k);
    }
    res
}

/// The module/versions installed for k/a, to tell whether the autoinstall
/// installed anything.
fn installed(d: &Dkms, k: &str, a: &str) -> Vec<(String, String)> {
    let t = &d.ctx.trees;
    status::list_module_version_combos(t, None, None)
        .into_iter()
        .filter(|(m, v)| status::is_module_installed(t, m, v, k, a))
        .collect()
}

/// Hold off shutdown and sleep while modules build, where logind runs (as
/// akmods does): a machine powered off mid-build boots a kernel without
/// them. Nothing where there is no logind or no systemd-inhibit.
fn inhibit(k: &str) -> Option<tools::Held> {
    if !logind_runs() || !tools::available("systemd-inhibit") {
        return None;
    }
    let mut c = tools::command("systemd-inhibit", &[]);
    c.args(["--what=shutdown:sleep", "--who=dkms", "--mode=block"])
        .arg(format!("--why=building kernel modules for {k}"))
        .arg("cat");
    tools::hold(&mut c).ok()
}

/// Does logind run? systemd's own tests: `sd_booted()` (/run/systemd/system)
/// and `logind_running()` (/run/systemd/seats). Both, because a container
/// image may carry the seats directory with no systemd booted (no logind
/// to ask, and systemd-inhibit would only fail).
fn logind_runs() -> bool {
    Path::new("/run/systemd/system").is_dir() && Path::new("/run/systemd/seats").is_dir()
}

/// After modules were installed for k, its initramfs is rebuilt so that a
/// module it includes (/etc/initramfs-tools/modules) is in it. Run here,
/// for k, rather than through initramfs-tools' trigger: that one runs
/// `update-initramfs -u`, which updates only the newest kernel's, and k may
/// not be the newest. The image's own postinst.d hook made the initramfs
/// before this trigger ran, so this comes after it.
fn update_initramfs(k: &str) {
    if !Path::new("/boot").join(format!("initrd.img-{k}")).is_file() || !tools::available("update-initramfs") {
        return;
    }
    let mut c = tools::command("update-initramfs", &[]);
    c.args(["-u", "-k", k]);
    match tools::status(&mut c) {
        Ok(0) => {}
        Ok(st) => ui::warn(&[format!("dkms: update-initramfs -u -k {k} failed (exit status {st}).")]),
        Err(e) => ui::warn(&[format!("dkms: update-initramfs -u -k {k}: {e}")]),
    }
}

/// The hooks' closing block (`dkms-failures`): the modules that failed for
/// k, their logs, and how to retry.
fn failure_block(d: &Dkms, k: &str) {
    let t = &d.ctx.trees;
    let list: Vec<String> = failures::list(&t.dkms_tree)
        .into_iter()
        .filter(|f| f.kernel == k && t.source_link(&f.module, &f.version).exists())
        .map(|f| {
            let kind = if f.kind.is_empty() { String::new() } else { format!("{}, ", f.kind) };
            let log = f.log.map(|l| format!(", log: {}", l.display())).unwrap_or_default();
            format!("  {}/{} ({}): {kind}exit status {}{log}", f.module, f.version, f.arch, f.exit_code)
        })
        .collect();
    if list.is_empty() {
        return;
    }
    ui::errln(&format!("======== dkms: FAILED to build/install for kernel {k} ========"));
    for l in list {
        ui::errln(&l);
    }
    ui::errln(&format!("  These modules are NOT installed for {k}: it may boot without them."));
    ui::errln(&format!("  Retry: dkms autoinstall -k {k}; list: dkms status -k {k} --json"));
    ui::errln(&format!("======== dkms: end of failures for kernel {k} ========"));
}
