//! `dkms kernel_queue` (not in upstream dkms): a kernel hook inside a dpkg
//! run queues its kernel for dkms-rs's trigger instead of building
//! (`dkms_state::dpkg`); anywhere else it does nothing and exits 23, and
//! the hook builds at once, as upstream's.

use crate::support::dkms::Dkms;
use dkms_state::dpkg;
use dkms_state::error::{Error, Kind, Result};

/// `dkms kernel_queue -k K`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    // Decided first: outside dpkg the hook must go on as upstream's, with
    // nothing printed.
    if !dpkg::should_defer() {
        return Err(Error::exit(Kind::NotDeferred));
    }
    d.check_root()?;
    d.ctx.have_one_kernel("kernel_queue")?;
    let (k, _) = d.kernelver0();
    let tree = d.ctx.trees.dkms_tree.clone();
    dpkg::enqueue(&tree, &k).map_err(|e| Error::io(Kind::KernelQueueFailed, dpkg::queue_dir(&tree).display(), e))?;
    if let Err(e) = dpkg::activate() {
        // Not queued after all: the hook builds at once.
        let _ = dpkg::dequeue(&tree, &k);
        return Err(Error::io(Kind::KernelQueueFailed, "dpkg-trigger", e));
    }
    d.ui.outln(&format!(
        "dkms: kernel {k}: modules are built once this dpkg run has configured its packages (trigger {}).",
        dpkg::TRIGGER
    ));
    Ok(())
}
