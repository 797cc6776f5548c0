//! `dkms enroll` against a `mokutil` stand-in on `PATH` — a stand-in
//! because firmware cannot be changed here — that logs its arguments and
//! answers each state (not enrolled, pending, enrolled) as mokutil does,
//! with a fake efivars directory (`DKMS_EFI_DIR`) saying Secure Boot is on.
//! The certificate is a real one (openssl), named in framework.conf.

use crate::json::Validator;
use crate::skip::skip_unless;
use crate::support::{have, Impl, Output, Sandbox};
use std::ffi::OsStr;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

struct Enroll {
    sb: Sandbox,
    cert: PathBuf,
    efi: PathBuf,
    v: Validator,
}

impl Enroll {
    fn new() -> Enroll {
        let sb = Sandbox::new();
        let (key, cert) = (sb.root.join("mok.key"), sb.root.join("mok.der"));
        crate::support::mok_pair(&key, &cert, "enroll test");
        let fp = Command::new("openssl")
            .args(["x509", "-inform", "DER", "-noout", "-fingerprint", "-sha1", "-in"])
            .arg(&cert)
            .output()
            .unwrap();
        let fp = String::from_utf8_lossy(&fp.stdout).trim().rsplit('=').next().unwrap().to_ascii_lowercase();
        sb.write(&sb.root.join("fingerprint"), &format!("{fp}\n"));
        let conf = format!("mok_signing_key=\"{}\"\nmok_certificate=\"{}\"\n", key.display(), cert.display());
        sb.write(&sb.sysconf.join("dkms/framework.conf"), &conf);
        crate::support::mokutil_stand_in(&sb);
        let efi = sb.root.join("efi");
        let var = efi.join("efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c");
        fs::create_dir_all(var.parent().unwrap()).unwrap();
        fs::write(var, [6, 0, 0, 0, 1]).unwrap();
        Enroll { sb, cert, efi, v: Validator::new() }
    }

    fn state(&self, s: &str) {
        fs::write(self.sb.root.join("mok-state"), s).unwrap();
    }

    fn log(&self) -> String {
        fs::read_to_string(self.sb.root.join("mokutil.log")).unwrap_or_default()
    }

    /// `dkms enroll ARGS` in text, then in JSON (the stand-in's state put
    /// back in between); the text run, and the JSON `enrolment` or `error`
    /// record.
    fn run(&mut self, args: &[&str]) -> (Output, serde_json::Value) {
        let state = fs::read_to_string(self.sb.root.join("mok-state")).unwrap();
        let vars: [(&str, &OsStr); 1] = [("DKMS_EFI_DIR", self.efi.as_os_str())];
        let mut a = vec!["enroll"];
        a.extend(args);
        let text = self.sb.run_env(Impl::Ours, None, &a, false, &vars);
        let after = fs::read_to_string(self.sb.root.join("mok-state")).unwrap();
        self.state(&state);
        a.push("--json");
        let j = self.sb.run_env(Impl::Ours, None, &a, false, &vars);
        assert_eq!(j.code, text.code, "{}", j.stdout);
        self.state(&after);
        let records = self.v.check(&j.stdout, j.code);
        let rec = records.into_iter().find(|r| r["type"] == "enrolment" || r["type"] == "error").expect("a record");
        (text, rec)
    }
}

#[test]
fn enroll_queues_the_certificate_once_with_a_stand_in_mokutil() {
    skip_unless!(have("openssl"), "no openssl here");
    let mut e = Enroll::new();
    let cert = e.cert.display().to_string().replace(&e.sb.root.display().to_string(), "<ROOT>");
    let pw = e.sb.root.join("pw");
    e.sb.write(&pw, "s3cret\n");
    let pw = pw.display().to_string();

    // Not enrolled: queued with the password given twice on mokutil's stdin.
    e.state("not-enrolled");
    let (o, rec) = e.run(&["--password-file", &pw]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.starts_with(&format!("The certificate {cert} is queued for enrolment. At the next boot")),
        "{}",
        o.stdout
    );
    assert_eq!((rec["state"].as_str(), rec["certificate"].as_str()), (Some("queued"), Some(cert.as_str())));
    assert_eq!(fs::read_to_string(e.sb.root.join("mok-state")).unwrap().trim(), "pending");
    assert!(e.log().contains(&format!("--import {}", e.cert.display())), "{}", e.log());
    let pws = fs::read_to_string(e.sb.root.join("mokutil.pw")).unwrap();
    assert_eq!(pws, "s3cret|s3cret\ns3cret|s3cret\n", "twice per run, text and JSON");

    // Pending (told by --test-key, or only by --list-new) and enrolled:
    // nothing imported.
    for (state, says, want) in [
        ("pending", "already waits to be enrolled", "pending"),
        ("unknown-pending", "already waits to be enrolled", "pending"),
        ("enrolled", "is already enrolled", "enrolled"),
    ] {
        e.state(state);
        fs::remove_file(e.sb.root.join("mokutil.log")).unwrap();
        let (o, rec) = e.run(&["--password-file", &pw]);
        assert_eq!(o.code, 0, "{state}: {}", o.stderr);
        assert!(o.stdout.contains(says), "{state}: {}", o.stdout);
        assert_eq!(rec["state"], want, "{state}");
        assert!(!e.log().contains("--import"), "{state}: imported again: {}", e.log());
    }
    assert!(e.log().contains("--test-key"), "{}", e.log());
}

#[test]
fn enroll_refuses_to_wait_without_a_terminal_or_password() {
    skip_unless!(have("openssl"), "no openssl here");
    let mut e = Enroll::new();
    e.state("not-enrolled");
    // stdin is /dev/null (not a terminal) and there is no --password-file:
    // an error at once, nothing imported (the stand-in would read EOF).
    let (o, rec) = e.run(&[]);
    assert_eq!(o.code, 23, "{}", o.stderr);
    assert_eq!(rec["kind"], "password-unavailable");
    assert!(o.stderr.contains("No terminal to ask for the one-time enrolment password on"), "{}", o.stderr);
    assert!(!e.log().contains("--import"), "{}", e.log());

    // An empty password file: refused before mokutil runs.
    let pw = e.sb.root.join("empty");
    e.sb.write(&pw, "\n");
    let (o, rec) = e.run(&["--password-file", pw.to_str().unwrap()]);
    assert_eq!((o.code, rec["kind"].as_str()), (25, Some("enroll-failed")), "{}", o.stderr);
    assert!(!e.log().contains("--import"), "{}", e.log());

    // No certificate: exit 1, the remedy generate_mok.
    fs::remove_file(&e.cert).unwrap();
    let (o, rec) = e.run(&[]);
    assert_eq!((o.code, rec["kind"].as_str()), (1, Some("mok-unavailable")), "{}", o.stderr);
    assert_eq!(rec["hint"], "dkms generate_mok");

    // --password-file is enroll's only: an unknown option elsewhere.
    let o = e.sb.run_with(Impl::Ours, None, &["status", "--password-file", "x"], true);
    assert_ne!(o.code, 0, "{}", o.stdout);
}
