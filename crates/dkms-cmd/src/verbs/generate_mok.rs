//! `dkms generate_mok`: read the framework's signing settings and make sure
//! the MOK key and certificate exist (`read_framework_conf
//! "$dkms_framework_signing_variables"` then `prepare_mok` upstream).
//! Existing files are never overwritten (see `signing::prepare_mok`).

use crate::support::dkms::Dkms;
use crate::support::signing;
use dkms_state::error::{Error, Kind, Result};

/// `dkms generate_mok`: no permission check and no lock, as upstream; the
/// exit status is prepare_mok's (1 when the pair cannot be had).
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    let (k, a) = d.kernelver0();
    let settings = signing::settings(d, &k, &a);
    let config = d.kernel_config(&k);
    match signing::prepare_mok(d, &settings, &config) {
        Some((key, certificate)) => {
            d.ui.emit(dkms_proto::Record::Mok { key, certificate });
            Ok(())
        }
        None => Err(Error::exit(Kind::MokUnavailable)),
    }
}
