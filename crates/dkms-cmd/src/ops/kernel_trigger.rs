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
use crate::support::options::BuildOptions;
use dkms_cli::ui::Ui;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{dpkg, failures, status, tools};
use std::path::Path;

/// Build every queued kernel (as `opts` say); the status of the first
/// that failed.
pub(crate) fn run_queue(d: &mut Dkms, opts: &BuildOptions) -> Result<()> {
    let tree = d.ctx.trees.dkms_tree.clone();
    let (kernels, refused) = dpkg::queued(&tree);
    for r in refused {
        d.ui.warn(&[format!("dkms: dropped '{r}' from {}: not a kernel name.", dpkg::queue_dir(&tree).display())]);
    }
    let arch = d.arch.first().cloned().unwrap_or_default();
    let mut first_failure = None;
    for k in kernels {
        if let Err(e) = one_kernel(d, opts, &k, &arch) {
            d.report(&e);
            first_failure.get_or_insert(e.code);
        }
    }
    first_failure.map_or(Ok(()), |code| Err(Error::reported(code)))
}

fn one_kernel(d: &mut Dkms, opts: &BuildOptions, k: &str, a: &str) -> Result<()> {
    let tree = d.ctx.trees.dkms_tree.clone();
    let dequeue =
        || dpkg::dequeue(&tree, k).map_err(|e| Error::io(Kind::KernelQueueFailed, dpkg::queue_dir(&tree).display(), e));
    if !d.ctx.trees.lib_tree(k).exists() {
        // Removed before its trigger ran: nothing to build for.
        return dequeue();
    }
    let headers = d.kernel_source_dir(k);
    if !headers.join("include").is_dir() {
        d.ui.outln(&format!(
            "dkms: kernel {k}: modules not built yet, its headers are not installed ({} is missing); \
             install linux-headers-{k} and they are built then.",
            headers.display()
        ));
        return Ok(());
    }
    let before = installed(d, k, a);
    // One autoinstall for this kernel: what the run is for, as a stdin
    // record's kernel is (post_transaction and the hooks read it).
    d.kernelver = vec![k.to_string()];
    d.arch = vec![a.to_string()];
    let res = {
        let _inhibitor = inhibit(k);
        autoinstall_with(d, Options { skip_known_failures: true, build: *opts })
    };
    dequeue()?;
    if installed(d, k, a) != before && feeds_host_initramfs(&d.ctx.trees.install_tree) {
        update_initramfs(&d.ui, k);
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

/// Is `install_tree` the module tree the host's initramfs is made from
/// (`/lib/modules`, however linked)? Modules installed into a private tree
/// (`--installtree`) are in no initramfs of this host.
fn feeds_host_initramfs(install_tree: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    canon(install_tree).is_some_and(|t| Some(t) == canon(Path::new("/lib/modules")))
}

/// After modules were installed for k, its initramfs is rebuilt so that a
/// module it includes (/etc/initramfs-tools/modules) is in it. Run here,
/// for k, rather than through initramfs-tools' trigger: that one runs
/// `update-initramfs -u`, which updates only the newest kernel's, and k may
/// not be the newest. The image's own postinst.d hook made the initramfs
/// before this trigger ran, so this comes after it.
fn update_initramfs(ui: &Ui, k: &str) {
    if !Path::new("/boot").join(format!("initrd.img-{k}")).is_file() || !tools::available("update-initramfs") {
        return;
    }
    let mut c = tools::command("update-initramfs", &[]);
    c.args(["-u", "-k", k]);
    match tools::status(&mut c) {
        Ok(0) => {}
        Ok(st) => ui.warn(&[format!("dkms: update-initramfs -u -k {k} failed (exit status {st}).")]),
        Err(e) => ui.warn(&[format!("dkms: update-initramfs -u -k {k}: {e}")]),
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
    d.ui.errln(&format!("======== dkms: FAILED to build/install for kernel {k} ========"));
    for l in list {
        d.ui.errln(&l);
    }
    d.ui.errln(&format!("  These modules are NOT installed for {k}: it may boot without them."));
    d.ui.errln(&format!("  Retry: dkms autoinstall -k {k}; list: dkms status -k {k} --json"));
    d.ui.errln(&format!("======== dkms: end of failures for kernel {k} ========"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::{captured, Fixture, K};

    #[test]
    fn only_the_host_module_tree_feeds_its_initramfs() {
        let f = Fixture::new();
        assert!(!feeds_host_initramfs(&f.trees().install_tree), "a private tree");
        assert!(!feeds_host_initramfs(Path::new("/nonexistent/lib/modules")));
        if Path::new("/lib/modules").is_dir() {
            assert!(feeds_host_initramfs(Path::new("/lib/modules")));
            assert!(feeds_host_initramfs(Path::new("/lib/modules/.")));
        }
    }

    fn queue(f: &Fixture) -> Vec<String> {
        dpkg::queued(&f.trees().dkms_tree).0
    }

    #[test]
    fn a_kernel_removed_before_its_trigger_ran_leaves_the_queue() {
        let mut f = Fixture::new();
        dpkg::enqueue(&f.trees().dkms_tree, "5.99.0-gone").unwrap();
        let (r, out, err) = captured(|| run_queue(&mut f.d, &BuildOptions::default()));
        r.unwrap();
        assert_eq!((out.as_str(), err.as_str()), ("", ""));
        assert!(queue(&f).is_empty());
    }

    #[test]
    fn a_kernel_without_headers_stays_queued_for_their_own_hook() {
        let mut f = Fixture::new();
        std::fs::create_dir_all(f.trees().lib_tree(K)).unwrap();
        dpkg::enqueue(&f.trees().dkms_tree, K).unwrap();
        let (r, out, _) = captured(|| run_queue(&mut f.d, &BuildOptions::default()));
        r.unwrap();
        assert!(out.starts_with(&format!("dkms: kernel {K}: modules not built yet, its headers are not installed")));
        assert!(out.contains(&format!("install linux-headers-{K}")));
        assert_eq!(queue(&f), [K]);
    }

    #[test]
    fn a_kernel_with_headers_is_autoinstalled_once_and_dequeued() {
        let mut f = Fixture::new();
        f.kernel(K);
        dpkg::enqueue(&f.trees().dkms_tree, K).unwrap();
        dpkg::enqueue(&f.trees().dkms_tree, "5.99.0-gone").unwrap();
        f.d.kernelver = vec!["0.0.0-command-line".into()];
        let given = f.d.ctx.kernelver.clone();
        let (r, _, _) = captured(|| run_queue(&mut f.d, &BuildOptions::default()));
        r.unwrap();
        assert!(queue(&f).is_empty());
        assert_eq!(f.d.kernelver, [K], "the autoinstall ran for the queued kernel");
        assert_eq!(f.d.ctx.kernelver, given, "the command line's kernels are kept");
    }

    #[test]
    fn what_is_not_a_kernel_name_is_dropped_from_the_queue_with_a_warning() {
        let mut f = Fixture::new();
        let dir = dpkg::queue_dir(&f.trees().dkms_tree);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("-rf"), "").unwrap();
        std::fs::write(dir.join(".tmp-crashed"), "").unwrap();
        let (r, _, err) = captured(|| run_queue(&mut f.d, &BuildOptions::default()));
        r.unwrap();
        assert!(err.contains("dropped '-rf' from"), "{err}");
        assert!(!err.contains(".tmp-crashed"), "a crashed temporary goes silently");
        assert!(!dir.join("-rf").exists() && !dir.join(".tmp-crashed").exists());
    }
}
