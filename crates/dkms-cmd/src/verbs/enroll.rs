//! `dkms enroll` (not in upstream dkms; dkms#429 agreed only to "a hint"):
//! queue the certificate dkms signs with for enrolment as a Machine Owner
//! Key (`mokutil --import`), so that with Secure Boot on the kernel loads
//! the modules dkms signs once the enrolment is confirmed at the next boot.
//! Never waits for a password nobody can type (subiquity#1969: the
//! enrolment prompt hung unattended installs).

use crate::support::dkms::Dkms;
use crate::support::secureboot::{self, Enrolment};
use crate::support::signing;
use dkms_proto::{EnrolState, Record};
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{tools, untrusted};
use std::io::IsTerminal;
use std::path::Path;

/// What shim's MokManager asks at the next boot.
const NEXT_BOOT: &str = "At the next boot, shim's MokManager asks to enroll it: choose \"Enroll MOK\", \
\"Continue\" and \"Yes\", then type the one-time password. From then on, with Secure Boot on, the kernel \
loads the modules dkms signs with it.";

pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    let (k, a) = d.kernelver0();
    let settings = signing::settings(d, &k, &a);
    let (_, cert) = signing::mok_paths(d, &settings, &d.kernel_config(&k));
    if !Path::new(&cert).is_file() {
        return Err(Error::die(
            Kind::MokUnavailable,
            [format!("The certificate {cert} does not exist: nothing to enroll.")],
        )
        .with_hint("dkms generate_mok"));
    }
    if !tools::available("mokutil") {
        return Err(Error::die(Kind::MokutilMissing, [format!("mokutil not found, can't enroll {cert}.")])
            .with_hint("install mokutil (Debian, Ubuntu, Fedora, SUSE: package mokutil)"));
    }
    let state = match secureboot::enrolment(&cert) {
        Enrolment::Enrolled => Some(EnrolState::Enrolled),
        Enrolment::Pending => Some(EnrolState::Pending),
        Enrolment::Unknown(_) if secureboot::listed_as_new(&cert) => Some(EnrolState::Pending),
        _ => None,
    };
    if let Some(state) = state {
        d.ui.outln(&match state {
            EnrolState::Enrolled => format!("The certificate {cert} is already enrolled: nothing to do."),
            _ => format!("The certificate {cert} already waits to be enrolled: nothing to do. {NEXT_BOOT}"),
        });
        d.ui.emit(Record::Enrolment { certificate: cert, state });
        return Ok(());
    }
    let password = password(d)?;
    secureboot::import(&cert, password.as_deref())
        .map_err(|why| Error::die(Kind::EnrollFailed, [format!("The certificate {cert} was not queued: {why}")]))?;
    d.ui.outln(&format!("The certificate {cert} is queued for enrolment. {NEXT_BOOT}"));
    d.ui.emit(Record::Enrolment { certificate: cert, state: EnrolState::Queued });
    Ok(())
}

/// The one-time password: the first line of `--password-file` (a file dkms
/// did not write: not followed if a link, read with a bound); None when
/// mokutil is to ask on the terminal; an error when there is neither.
fn password(d: &Dkms) -> Result<Option<String>> {
    let Some(file) = d.ctx.args.password_file.clone() else {
        if std::io::stdin().is_terminal() {
            return Ok(None);
        }
        return Err(Error::die(
            Kind::PasswordUnavailable,
            ["No terminal to ask for the one-time enrolment password on, and no --password-file: nothing was queued."],
        )
        .with_hint("dkms enroll --password-file FILE (the password on its first line)"));
    };
    let fail = |why: String| Error::die(Kind::EnrollFailed, [format!("{}: {why}", file.display())]);
    let bytes = untrusted::read_head(&file, 4096).map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| fail("not text".into()))?;
    let pw = text.lines().next().unwrap_or_default().to_string();
    // mokutil's limits (PASSWORD_MIN, PASSWORD_MAX).
    if pw.is_empty() || pw.chars().count() > 256 {
        return Err(fail("the first line must hold a password of 1 to 256 characters".into()));
    }
    Ok(Some(pw))
}
