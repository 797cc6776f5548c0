//! `dkms kernel_postinst`: after a kernel is installed, `autoinstall` for it.

use crate::ops::autoinstall::autoinstall;
use crate::ops::plan;
use crate::support::dkms::Dkms;
use crate::support::options::BuildOptions;
use dkms_state::error::Result;

/// `dkms kernel_postinst`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    d.check_root()?;
    d.ctx.have_one_kernel("kernel_postinst")?;
    let opts = BuildOptions::from_args(&d.ctx.args);
    if d.ctx.args.dry_run {
        return plan::autoinstall::autoinstall(d, &opts);
    }
    autoinstall(d, &opts)
}
