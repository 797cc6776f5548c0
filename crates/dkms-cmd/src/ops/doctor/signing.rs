//! doctor's checks of module signing: the key and certificate dkms signs
//! with exist, the key is readable only by root, the two belong together
//! (same public key, asked of openssl); Secure Boot's state (efivars) and
//! whether the certificate is enrolled (`mokutil --test-key`, where
//! mokutil exists), saying so when either cannot be told.

use super::{install_cmd, Report};
use crate::support::dkms::Dkms;
use crate::support::secureboot::{self, Enrolment, SecureBoot};
use crate::support::signing;
use dkms_proto::Severity::{Error, Info, Warning};
use dkms_state::tools;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub(super) fn check(d: &Dkms, r: &mut Report, k: &str, a: &str) {
    let settings = signing::settings(d, k, a);
    if settings.get("try_sign_modules").is_some_and(|p| p == "false") {
        r.add(Info, "signing-off", "Module signing is disabled by policy (try_sign_modules).".into(), None);
        return;
    }
    let (key, cert) = signing::mok_paths(d, &settings, &d.kernel_config(k));
    let (kp, cp) = (Path::new(&key), Path::new(&cert));
    let generate = Some("dkms generate_mok".to_string());
    match (kp.is_file() || key.starts_with("pkcs11:"), cp.is_file()) {
        (false, false) => {
            r.add(Info, "mok-missing", format!("No signing key {key} yet; the first build creates it."), generate)
        }
        (true, false) => r.add(
            Error,
            "certificate-missing",
            format!("The signing key {key} has no certificate {cert}: modules cannot be signed."),
            generate,
        ),
        (false, true) => r.add(
            Error,
            "key-missing",
            format!("The certificate {cert} has no signing key {key}: modules cannot be signed."),
            Some(format!("restore {key}, or move {cert} aside and run: dkms generate_mok")),
        ),
        (true, true) => {
            permissions(r, kp);
            pair(r, &key, &cert);
            enrolled(d, r, &cert);
        }
    }
}

/// The private key is owned by root and not readable by anyone else.
fn permissions(r: &mut Report, key: &Path) {
    let Ok(m) = std::fs::metadata(key) else { return };
    if m.uid() != 0 || m.mode() & 0o077 != 0 {
        r.add(
            Warning,
            "key-permissions",
            format!(
                "The signing key {} is readable by others (mode {:o}, owner {}).",
                key.display(),
                m.mode() & 0o7777,
                m.uid()
            ),
            Some(format!("chown root:root {k} && chmod 600 {k}", k = key.display())),
        );
    }
}

/// The public key of the private key and the certificate's, as openssl
/// prints them (PEM).
fn pair(r: &mut Report, key: &str, cert: &str) {
    if key.starts_with("pkcs11:") || !tools::available("openssl") {
        return;
    }
    let run = |args: &[&str]| -> Option<String> {
        let mut c = tools::command("openssl", &[]);
        c.args(args);
        let o = tools::output(&mut c).ok().filter(|o| o.status.success())?;
        Some(String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let from_key = run(&["pkey", "-in", key, "-pubout"]);
    let from_cert = run(&["x509", "-inform", "DER", "-in", cert, "-noout", "-pubkey"])
        .or_else(|| run(&["x509", "-in", cert, "-noout", "-pubkey"]));
    match (from_key, from_cert) {
        (Some(a), Some(b)) if a == b => {}
        (Some(_), Some(_)) => r.add(
            Error,
            "key-certificate-mismatch",
            format!("The signing key {key} and the certificate {cert} do not belong together: signed modules will not load."),
            Some(format!("move {key} and {cert} aside, then run: dkms generate_mok (and enroll the new certificate)")),
        ),
        (None, _) => r.add(Error, "key-unreadable", format!("openssl cannot read the signing key {key}."), None),
        (_, None) => r.add(Error, "certificate-unreadable", format!("openssl cannot read the certificate {cert}."), None),
    }
}

/// Secure Boot's state and, when it is on, what `mokutil --test-key`
/// says of the certificate ("is already enrolled" / "is already in db",
/// "is already in the enrollment request", "is not enrolled", "is blocked
/// in dbx"/"MokListX"); when it cannot tell, say so.
fn enrolled(d: &Dkms, r: &mut Report, cert: &str) {
    let sure = match secureboot::state() {
        SecureBoot::NoEfi => Some("Not booted with EFI: no Secure Boot.".to_string()),
        SecureBoot::Off => Some("Secure Boot is off.".to_string()),
        SecureBoot::On => None,
        SecureBoot::Unknown(why) => {
            r.add(
                Warning,
                "secure-boot-unknown",
                format!("Whether Secure Boot is on cannot be told: {why}; nor whether {cert} must be enrolled."),
                Some("mount -t efivarfs efivarfs /sys/firmware/efi/efivars".into()),
            );
            return;
        }
    };
    if let Some(state) = sure {
        return r.add(Info, "secure-boot", state, None);
    }
    if !tools::available("mokutil") {
        return r.add(
            Warning,
            "mok-enrollment-unknown",
            format!("Secure Boot is on; whether {cert} is enrolled cannot be told without mokutil."),
            Some(install_cmd(d, "mokutil", "mokutil")),
        );
    }
    let reenroll =
        format!("move {cert} and its key aside, run dkms generate_mok, then mokutil --import the new certificate");
    match secureboot::enrolment(cert) {
        Enrolment::NotEnrolled => r.add(
            Error,
            "mok-not-enrolled",
            format!("Secure Boot is on and {cert} is not enrolled: modules dkms signs will not load."),
            Some(format!("mokutil --import {cert} (then reboot and confirm the enrolment)")),
        ),
        Enrolment::Pending => r.add(
            Warning,
            "mok-enrollment-pending",
            format!("Secure Boot is on and {cert} waits to be enrolled: modules dkms signs load after the next boot's confirmation."),
            Some("reboot and confirm the enrolment in MokManager".into()),
        ),
        Enrolment::Blocked(said) => r.add(
            Error,
            "mok-blocked",
            format!("Secure Boot is on and {cert} is blocked ({said}): modules dkms signs will not load."),
            Some(reenroll),
        ),
        Enrolment::Enrolled => r.add(Info, "secure-boot", format!("Secure Boot is on and {cert} is enrolled."), None),
        Enrolment::Unknown(why) => r.add(
            Warning,
            "mok-enrollment-unknown",
            format!("Secure Boot is on; whether {cert} is enrolled cannot be told ({why})."),
            Some(format!("mokutil --test-key {cert}")),
        ),
    }
}
