//! `dkms remove` (`remove_module` upstream): the argument and state checks,
//! then `ops::remove`.

use crate::ops::plan;
use crate::ops::remove::remove_module;
use crate::support::dkms::Dkms;
use crate::support::options::RemoveOptions;
use dkms_state::error::Result;

/// `dkms remove`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    let (m, v) = d.checked_target("remove", &d.module, &d.module_version)?;
    d.check_rw_dkms_tree()?;
    let opts = RemoveOptions::from_args(&d.ctx.args);
    if d.ctx.args.dry_run {
        return plan::remove::remove_module(d, &opts, &m, &v);
    }
    remove_module(d, &opts, &m, &v)?;
    d.maybe_post_transaction();
    Ok(())
}
