//! `dkms kernel_trigger` (not in upstream dkms): what dkms-rs's postinst
//! runs when its dpkg trigger fires — build the kernels `kernel_queue`
//! queued (`ops::kernel_trigger`).

use crate::ops::kernel_trigger::run_queue;
use crate::support::dkms::Dkms;
use crate::support::options::BuildOptions;
use dkms_state::error::Result;

/// `dkms kernel_trigger`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    d.check_root()?;
    run_queue(d, &BuildOptions::from_args(&d.ctx.args))
}
