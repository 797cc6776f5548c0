//! `dkms add`: register a module source tree, a directory or a tarball
//! (`ops::add`).

use crate::ops::add::add_module;
use crate::support::dkms::Dkms;
use crate::support::options::BuildOptions;
use dkms_state::error::Result;

/// `dkms add`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    d.ctx.check_all_is_banned("add")?;
    d.check_rw_dkms_tree()?;
    let (m, v) = (d.module.clone(), d.module_version.clone());
    add_module(d, &BuildOptions::from_args(&d.ctx.args), &m, &v).map(drop)
}
