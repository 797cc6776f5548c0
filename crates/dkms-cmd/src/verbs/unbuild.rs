//! `dkms unbuild` (`unbuild_module` upstream): uninstall, then delete the
//! builds of the requested kernels.

use crate::ops::plan::{self, target::Depmod};
use crate::ops::unbuild::maybe_unbuild_module;
use crate::ops::uninstall::maybe_uninstall_module;
use crate::support::dkms::{Dkms, Target};
use dkms_state::error::Result;

/// `dkms unbuild`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    let (m, v) = d.checked_target("unbuild", &d.module, &d.module_version)?;
    d.check_rw_dkms_tree()?;
    for (i, (k, a)) in d.targets().iter().enumerate() {
        if i > 0 {
            d.ui.outln("");
        }
        if d.ctx.args.dry_run {
            plan::target::uninstall(d, Target::new(&m, &v, k, a), Depmod::Now)?;
            plan::target::unbuild(d, Target::new(&m, &v, k, a));
            continue;
        }
        maybe_uninstall_module(d, Target::new(&m, &v, k, a))?;
        maybe_unbuild_module(d, Target::new(&m, &v, k, a));
    }
    if !d.ctx.args.dry_run {
        d.maybe_post_transaction();
    }
    Ok(())
}
