//! `dkms mktarball`: the checks of upstream's `mktarball)` branch, then
//! `make_tarball` (`ops::tarball_make`).

use crate::ops::tarball_make::make_tarball;
use crate::support::dkms::Dkms;
use crate::support::options::TarballOptions;
use dkms_state::error::Result;

/// `dkms mktarball`: the checks of upstream's `mktarball)` branch, then
/// `make_tarball`. No permission check, as upstream.
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    let (m, v) = (d.module.clone(), d.module_version.clone());
    d.check_module_args("mktarball", &m, &v)?;
    d.module_is_broken_and_die(&m, &v)?;
    d.module_is_added_or_die(&m, &v)?;
    make_tarball(d, &TarballOptions::from_args(&d.ctx.args), &m, &v)
}
