//! `dkms ltdk` (not in upstream dkms): the licence check of every module
//! file built for the kernels of the command line (`ops::ltdk`).

use crate::ops::ltdk::{check_build, refused_error};
use crate::support::dkms::{Dkms, Target};
use dkms_cli::ui;
use dkms_state::error::Result;

/// `dkms ltdk`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    d.ctx.check_all_is_banned("ltdk")?;
    let (m, v) = d.checked_target("ltdk", &d.module, &d.module_version)?;
    let mut refused = 0;
    for (i, (k, a)) in d.targets().iter().enumerate() {
        if i > 0 {
            d.ui.outln("");
        }
        d.reporting = Some(ui::target(&m, &v, Some(k), Some(a)));
        refused += check_build(d, Target::new(&m, &v, k, a))?;
    }
    d.reporting = Some(ui::target(&m, &v, None, None));
    if refused > 0 {
        return Err(refused_error(&m, &v, refused));
    }
    Ok(())
}
