//! `dkms ldtarball`: `load_tarball && add_module` (`ops::tarball_load`).

use crate::ops::add::add_module;
use crate::ops::tarball_load::{load_tarball, Loaded};
use crate::support::dkms::Dkms;
use crate::support::options::BuildOptions;
use dkms_state::error::{Error, Kind, Result};

/// `dkms ldtarball`: `load_tarball && add_module`.
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    if d.ctx.args.force && !nix::unistd::geteuid().is_root() {
        return Err(Error::die(Kind::NotRoot, ["You must be root to use this command with the --force option."]));
    }
    // The tarball's dkms.conf is untrusted shell code until it is added.
    let _untrusted = d.untrusted_confs()?;
    let opts = BuildOptions::from_args(&d.ctx.args);
    match load_tarball(d, &opts)? {
        Loaded::Ready(m, v) => add_module(d, &opts, &m, &v).map(drop),
        Loaded::BinariesWithoutSource(..) => Err(Error::exit(Kind::BinariesOnlyWithoutSource)),
        Loaded::Done => Ok(()),
    }
}
