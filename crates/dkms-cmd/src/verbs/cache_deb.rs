//! `dkms cache deb MODULE/VERSION -k KERNEL --to DIR` and `dkms cache deb
//! --all -k KERNEL --to DIR` (not in upstream dkms): one Debian binary
//! package per built module/version and kernel (`ops::debpkg`). With
//! `--all`, every module/version built for the kernel; one that cannot be
//! packaged is reported and the others are still written.

use crate::ops::debpkg;
use crate::support::dkms::{Dkms, Target};
use crate::support::subshell::for_each_kernel;
use dkms_cli::ui;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{name, status};

/// `cache deb`'s usage error (its own: `verbs::cache` calls this file).
fn usage(why: &str) -> Error {
    Error::die(
        Kind::CacheUsage,
        [why.to_string(), "Usage: dkms cache deb MODULE/VERSION|--all -k KERNEL --to DIR".to_string()],
    )
}

/// `cache deb`, `operand` the word after `deb`.
pub(crate) fn run(d: &mut Dkms, operand: Option<&str>) -> Result<()> {
    let (all, force) = (d.ctx.args.all, d.ctx.args.force);
    let (mut m, mut v) = (d.module.clone(), d.module_version.clone());
    if let Some((om, ov)) = operand.and_then(|o| o.split_once('/')) {
        // The operand enters here, not through `-m`: checked as `-m` is.
        name::check(name::What::Module, om)?;
        name::check(name::What::Version, ov)?;
        (m, v) = (om.into(), ov.into());
    }
    // Exactly one of the two: a module/version or --all.
    let none_given = m.is_empty() && v.is_empty();
    if all != none_given {
        return Err(usage("cache deb needs a module/version or --all (not both)."));
    }
    if !all && (m.is_empty() || v.is_empty()) {
        return Err(usage("cache deb needs a module/version."));
    }
    let to = d.ctx.args.cache_to.clone().ok_or_else(|| usage("cache deb needs --to DIR."))?;
    for_each_kernel(d, &m, &v, |d, k, a| {
        if !all {
            return debpkg::write(d, force, Target::new(&m, &v, k, a), &to).map(drop);
        }
        let mut last = Ok(());
        for (m, v) in status::list_module_version_combos(&d.ctx.trees, None, None) {
            if !status::is_module_built(&d.ctx.trees, &m, &v, k, a) {
                continue;
            }
            d.reporting = Some(ui::target(&m, &v, Some(k), Some(a)));
            if let Err(e) = d.subshell(|d| debpkg::write(d, force, Target::new(&m, &v, k, a), &to)) {
                d.report(&e);
                last = Err(Error::reported(e.code));
            }
        }
        last
    })
}
