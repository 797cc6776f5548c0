//! `dkms doctor` (not in upstream dkms): print the findings of
//! `ops::doctor` (text: one `<severity>: <kind>: <message>` line each, the
//! remedy indented under it; JSON: `finding` records); exit 19 when one is
//! an error.

use crate::ops::doctor::diagnose;
use crate::support::dkms::Dkms;
use dkms_proto::{Record, Severity};
use dkms_state::error::{Error, Kind, Result};

/// `dkms doctor`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    let findings = diagnose(d, &d.ctx.args.kernelver);
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    for f in &findings {
        if d.ui.json() {
            d.ui.emit(Record::Finding {
                severity: f.severity,
                kind: f.kind.to_string(),
                message: f.message.clone(),
                remedy: f.remedy.clone(),
                kernel: f.kernel.clone(),
            });
            continue;
        }
        let severity = match f.severity {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        d.ui.outln(&format!("{severity}: {}: {}", f.kind, f.message));
        if let Some(remedy) = &f.remedy {
            d.ui.outln(&format!("\tremedy: {remedy}"));
        }
    }
    if errors > 0 {
        return Err(Error::die(Kind::DoctorErrors, [format!("doctor found {errors} error(s).")]));
    }
    if !d.ui.json() && findings.iter().all(|f| f.severity == Severity::Info) {
        d.ui.outln("No problems found.");
    }
    Ok(())
}
