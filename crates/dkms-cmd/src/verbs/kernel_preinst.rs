//! `dkms kernel_preinst`: before a kernel is upgraded, unbuild the
//! AUTOINSTALL modules built for it (`ops::kernel_hooks`).

use crate::ops::kernel_hooks::unbuild_all;
use crate::ops::plan;
use crate::support::dkms::Dkms;
use dkms_state::error::Result;

/// `dkms kernel_preinst`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    d.check_root()?;
    d.ctx.have_one_kernel("kernel_preinst")?;
    if d.ctx.args.dry_run {
        return plan::remove::unbuild_all(d, "kernel_preinst", true);
    }
    unbuild_all(d, "kernel_preinst", true)
}
