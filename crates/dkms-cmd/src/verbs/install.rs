//! `dkms install` (`install_module` upstream): the checks, then
//! `maybe_install_module` for each kernel of the command line.

use crate::ops::install::maybe_install_module;
use crate::ops::plan::{self, target::Within};
use crate::support::dkms::{Dkms, Target};
use crate::support::options::BuildOptions;
use crate::support::subshell::for_each_kernel;
use dkms_state::error::Result;

/// `dkms install`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    d.ctx.check_all_is_banned("install")?;
    let (m, v) = (d.module.clone(), d.module_version.clone());
    d.module_is_broken_and_die(&m, &v)?;
    d.check_root()?;
    let opts = BuildOptions::from_args(&d.ctx.args);
    if d.ctx.args.dry_run {
        // One plan for all kernels: a module not added yet is added once.
        let within = Within { opts, ..Within::default() };
        return for_each_kernel(d, &m, &v, |d, k, a| plan::target::install(d, Target::new(&m, &v, k, a), &within));
    }
    for_each_kernel(d, &m, &v, |d, k, a| maybe_install_module(d, &opts, Target::new(&m, &v, k, a)))?;
    d.maybe_post_transaction();
    Ok(())
}
