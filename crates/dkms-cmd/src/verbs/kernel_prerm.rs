//! `dkms kernel_prerm`: before a kernel is removed, unbuild every module
//! built for it (`ops::kernel_hooks`).

use crate::ops::kernel_hooks::unbuild_all;
use crate::ops::plan;
use crate::support::dkms::Dkms;
use dkms_state::error::Result;

/// `dkms kernel_prerm`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    d.check_root()?;
    d.ctx.have_one_kernel("kernel_prerm")?;
    if d.ctx.args.dry_run {
        return plan::remove::unbuild_all(d, "kernel_prerm", false);
    }
    unbuild_all(d, "kernel_prerm", false)
}
