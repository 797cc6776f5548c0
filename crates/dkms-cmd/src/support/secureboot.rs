//! Secure Boot as the firmware reports it (efivars) and whether a
//! certificate is enrolled as a MOK (`mokutil --test-key`), shared by
//! `doctor`, `enroll` and the one warning a build or install gives when
//! modules it signs will not load (not in upstream dkms: dkms#429 asked for
//! "a hint").

use super::dkms::Dkms;
use super::signing;
use dkms_cli::ui::Ui;
use dkms_proto::Record;
use dkms_state::{env, tools};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the firmware says of Secure Boot.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SecureBoot {
    /// Not booted with EFI (no `/sys/firmware/efi`).
    NoEfi,
    Off,
    On,
    /// Booted with EFI, but the variable cannot be read (why).
    Unknown(String),
}

/// The EFI directory: `DKMS_EFI_DIR` when set (to diagnose a mounted system
/// image, and for the tests: firmware cannot be changed), else
/// `/sys/firmware/efi`.
pub(crate) fn efi_dir() -> PathBuf {
    PathBuf::from(env::nonempty("DKMS_EFI_DIR").unwrap_or_else(|| "/sys/firmware/efi".into()))
}

/// `SecureBoot-8be4df61-...` in efivars: 4 bytes of attributes, then 1
/// when Secure Boot is on. No such variable: the firmware has no Secure
/// Boot.
pub(crate) fn state() -> SecureBoot {
    let dir = efi_dir();
    if !dir.is_dir() {
        return SecureBoot::NoEfi;
    }
    let vars = dir.join("efivars");
    if std::fs::read_dir(&vars).map_or(true, |mut rd| rd.next().is_none()) {
        return SecureBoot::Unknown(format!("{} is empty or missing (efivarfs not mounted)", vars.display()));
    }
    let var = vars.join("SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c");
    match dkms_state::untrusted::read_head(&var, 64) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => SecureBoot::Off,
        Err(e) => SecureBoot::Unknown(format!("{}: {e}", var.display())),
        Ok(b) if b.len() < 5 => SecureBoot::Unknown(format!("{} is too short", var.display())),
        Ok(b) if b[4] == 1 => SecureBoot::On,
        Ok(_) => SecureBoot::Off,
    }
}

/// Whether a certificate is enrolled, as `mokutil --test-key` says it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Enrolment {
    /// "is already enrolled" / "is already in db".
    Enrolled,
    /// "is already in the enrollment request": confirmed at the next boot.
    Pending,
    NotEnrolled,
    /// "is blocked in dbx/MokListX" (what mokutil said).
    Blocked(String),
    /// mokutil is missing, or said something else (why).
    Unknown(String),
}

/// Ask `mokutil --test-key CERT`.
pub(crate) fn enrolment(cert: &str) -> Enrolment {
    if !tools::available("mokutil") {
        return Enrolment::Unknown("mokutil is not installed".into());
    }
    let mut c = tools::command("mokutil", &[]);
    c.args(["--test-key", cert]);
    let text = tools::output(&mut c)
        .map(|o| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
        .unwrap_or_default();
    if text.contains("is not enrolled") {
        Enrolment::NotEnrolled
    } else if text.contains("is already in the enrollment request") {
        Enrolment::Pending
    } else if text.contains("is blocked in") {
        Enrolment::Blocked(text.trim().to_string())
    } else if text.contains("is already enrolled") || text.contains("is already in db") {
        Enrolment::Enrolled
    } else {
        let said = text.trim();
        Enrolment::Unknown(if said.is_empty() {
            "mokutil --test-key said nothing".into()
        } else {
            format!("mokutil --test-key said \"{said}\"")
        })
    }
}

/// Given once per process, however many modules and kernels a run signs.
static WARNED: AtomicBool = AtomicBool::new(false);

/// The warning of a build or install that signs (or installed modules
/// signed) with `cert`, for kernel `k`: when Secure Boot is on and the
/// certificate is not enrolled, or that cannot be told, one `Warning:` on
/// stderr naming the remedy and a JSON `warning` record. Nothing when
/// Secure Boot is off or unknown (upstream's output stays as it is), or the
/// enrolment is pending (`dkms enroll` was run). Never an error.
pub(crate) fn warn_if_unenrolled(ui: &Ui, cert: &str, k: &str) {
    if WARNED.load(Ordering::Relaxed) || state() != SecureBoot::On {
        return;
    }
    let enroll = "dkms enroll".to_string();
    let (kind, said, remedy) = match enrolment(cert) {
        Enrolment::Enrolled | Enrolment::Pending => return,
        Enrolment::NotEnrolled => ("mok-not-enrolled", format!("the certificate {cert} is not enrolled"), enroll),
        Enrolment::Blocked(why) => (
            "mok-blocked",
            format!("the certificate {cert} is blocked ({why})"),
            "move the key pair aside, run 'dkms generate_mok', then 'dkms enroll' and 'dkms sign --all'".into(),
        ),
        Enrolment::Unknown(why) => (
            "mok-enrollment-unknown",
            format!("whether the certificate {cert} is enrolled cannot be told ({why})"),
            enroll,
        ),
    };
    if WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    let message = format!("Secure Boot is on and {said}: the kernel may refuse modules signed with it.");
    ui.warn(&[
        message.clone(),
        format!("Remedy: {remedy} (the enrolment is confirmed in MokManager at the next boot)"),
    ]);
    ui.emit(Record::Warning { kind: kind.into(), message, remedy: Some(remedy), kernel: Some(k.into()) });
}

/// `warn_if_unenrolled` for an install of modules built for `k`/`a`
/// earlier: with the certificate a build for that kernel signs with (none:
/// nothing to say).
pub(crate) fn warn_at_install(d: &Dkms, k: &str, a: &str) {
    if WARNED.load(Ordering::Relaxed) || state() != SecureBoot::On {
        return;
    }
    if let Ok(s) = signing::expected_signer(d, k, a, &d.kernel_config(k)) {
        warn_if_unenrolled(&d.ui, &s.cert, k);
    }
}

/// The certificate's SHA-1 fingerprint as mokutil prints it
/// (`ab:cd:...`), asked of openssl (DER, else PEM).
fn fingerprint(cert: &str) -> Option<String> {
    let run = |form: &str| {
        let mut c = tools::command("openssl", &[]);
        c.args(["x509", "-inform", form, "-in", cert, "-noout", "-fingerprint", "-sha1"]);
        tools::output(&mut c).ok().filter(|o| o.status.success())
    };
    let o = run("DER").or_else(|| run("PEM"))?;
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    Some(text.trim().rsplit('=').next()?.to_ascii_lowercase())
}

/// `mokutil --list-new` lists the certificate (its SHA-1 fingerprint):
/// an enrolment request waits for the next boot. For when `--test-key`
/// cannot tell.
pub(crate) fn listed_as_new(cert: &str) -> bool {
    let Some(fp) = fingerprint(cert) else { return false };
    let mut c = tools::command("mokutil", &[]);
    c.arg("--list-new");
    let Ok(o) = tools::output(&mut c) else { return false };
    String::from_utf8_lossy(&o.stdout).to_ascii_lowercase().contains(&fp)
}

/// `mokutil --import CERT`: the one-time password given twice on its
/// stdin (as scripts feed it; mokutil asks twice), or, with none, mokutil
/// asks on the terminal itself. Ok, or what mokutil said.
pub(crate) fn import(cert: &str, password: Option<&str>) -> Result<(), String> {
    let mut c = tools::command("mokutil", &[]);
    c.args(["--import", cert]);
    let (code, said) = match password {
        Some(pw) => {
            c.stderr(std::process::Stdio::piped());
            match tools::output_with_input(&mut c, format!("{pw}\n{pw}\n").as_bytes()) {
                Ok(o) => (tools::exit_code(o.status), String::from_utf8_lossy(&o.stderr).trim().to_string()),
                Err(e) => (1, e.to_string()),
            }
        }
        None => match tools::status(&mut c) {
            Ok(code) => (code, String::new()),
            Err(e) => (1, e.to_string()),
        },
    };
    if code == 0 {
        Ok(())
    } else if said.is_empty() {
        Err(format!("mokutil --import exited with status {code}"))
    } else {
        Err(format!("mokutil --import exited with status {code}: {said}"))
    }
}
