//! `dkms uninstall` (`uninstall_module` upstream): the checks, then
//! `maybe_uninstall_module` for each kernel of the command line.

use crate::ops::plan::{self, target::Depmod};
use crate::ops::uninstall::maybe_uninstall_module;
use crate::support::dkms::{Dkms, Target};
use dkms_state::error::Result;

/// `dkms uninstall`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    let (m, v) = d.checked_target("uninstall", &d.module, &d.module_version)?;
    d.check_root()?;
    let targets = d.targets();
    for (i, (k, a)) in targets.iter().enumerate() {
        if i > 0 {
            d.ui.outln("");
        }
        if d.ctx.args.dry_run {
            plan::target::uninstall(d, Target::new(&m, &v, k, a), Depmod::Now)?;
        } else {
            maybe_uninstall_module(d, Target::new(&m, &v, k, a))?;
        }
    }
    if !d.ctx.args.dry_run {
        d.maybe_post_transaction();
    }
    Ok(())
}
