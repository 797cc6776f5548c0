//! `status --verify` on a real, signed, xz-compressed installed module:
//! it verifies (exit 0, plain status output), then each injected fault is
//! reported with its reason under the status line, exit 18, and JSON
//! `verify` records that validate against the schema.

use super::{unavailable, Real};
use crate::json::Validator;
use crate::skip::skip_unless;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn xz(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut c = Command::new("xz").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("xz");
    use std::io::Write;
    c.stdin.take().expect("stdin").write_all(input).expect("write");
    let o = c.wait_with_output().expect("xz");
    assert!(o.status.success());
    o.stdout
}

fn unpack(file: &Path) -> Vec<u8> {
    xz(&["-d", "-c"], &fs::read(file).expect("read"))
}

fn pack(file: &Path, bytes: &[u8]) {
    fs::write(file, xz(&["-c", "--check=crc32"], bytes)).expect("write");
}

/// The module without its appended signature.
fn unsigned(bytes: &[u8]) -> Vec<u8> {
    dkms_state::module_file::split_signature(bytes).0.to_vec()
}

struct Case {
    r: Real,
    k: String,
    installed: PathBuf,
    v: Validator,
}

impl Case {
    /// (exit, text stdout, JSON verify records' reasons).
    fn verify(&mut self) -> (i32, String, Vec<String>) {
        let (code, out, err) = self.r.dkms(&["status", "--verify"]);
        let (jcode, json, _) = self.r.dkms(&["status", "--verify", "--json"]);
        assert_eq!(code, jcode, "{err}");
        let records = self.v.check(&json, jcode);
        let mut reasons = Vec::new();
        for rec in records.iter().filter(|r| r["type"] == "verify") {
            assert_eq!(rec["ok"], rec["problems"].as_array().expect("problems").is_empty());
            for p in rec["problems"].as_array().expect("problems") {
                reasons.push(p["reason"].as_str().expect("reason").to_string());
            }
        }
        (code, out, reasons)
    }

    /// Apply a fault, check verify reports exactly `want` (in text and
    /// JSON) with exit 18, then put the installed file back.
    fn fault(&mut self, what: &str, want: &[&str], apply: &dyn Fn(&Case)) {
        let saved = fs::read(&self.installed).expect("read");
        let dep = self.r.sb.inst.join(&self.k).join("modules.dep");
        let saved_dep = fs::read(&dep).expect("modules.dep");
        apply(self);
        let (code, out, reasons) = self.verify();
        assert_eq!(code, 18, "{what}: {out}");
        let mut got = reasons.clone();
        got.sort();
        got.dedup();
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{what}: {out}");
        for r in &want {
            assert!(out.contains(&format!("\t{r}: ")), "{what}: no {r} line in\n{out}");
        }
        eprintln!("FAULT {what}: {}", reasons.join(", "));
        fs::write(&self.installed, saved).expect("restore");
        fs::write(&dep, saved_dep).expect("restore");
        assert_eq!(self.verify().0, 0, "{what}: restored");
    }
}

#[test]
fn verify_passes_then_reports_each_fault() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let mut r = Real::new(true);
    r.compress_xz();
    r.source("okm", "1.0", None, "");
    r.source("other", "1.0", None, "");
    let k = r.k.clone();
    for m in ["okm/1.0", "other/1.0"] {
        let (code, out, err) = r.dkms(&["install", m, "-k", &k]);
        assert_eq!(code, 0, "{out}\n{err}");
    }
    let installed = r.sb.inst.join(&k).join("updates/dkms/okm.ko.xz");
    let mut c = Case { installed, k: k.clone(), r, v: Validator::new() };

    // Healthy: exit 0 and the text is exactly plain status's.
    let (plain_code, plain, _) = c.r.dkms(&["status"]);
    let (code, out, reasons) = c.verify();
    assert_eq!((plain_code, code), (0, 0), "{out}");
    assert_eq!(out, plain);
    assert!(reasons.is_empty());

    c.fault("one byte corrupted", &["corrupted"], &|c| {
        let mut b = fs::read(&c.installed).unwrap();
        let mid = b.len() / 2;
        b[mid] ^= 0x55;
        fs::write(&c.installed, b).unwrap();
    });
    c.fault("deleted", &["missing"], &|c| fs::remove_file(&c.installed).unwrap());
    c.fault("replaced by another module", &["corrupted"], &|c| {
        let other = c.r.sb.inst.join(&c.k).join("updates/dkms/other.ko.xz");
        fs::copy(other, &c.installed).unwrap();
    });
    c.fault("signature stripped", &["corrupted", "unsigned"], &|c| {
        let b = unsigned(&unpack(&c.installed));
        pack(&c.installed, &b);
    });
    c.fault("signed with another key", &["corrupted", "foreign-signer"], &|c| {
        let (key, cert) = super::new_pair(&c.r, "other-key");
        let dir = c.r.sb.root.join("other-key");
        let plain = dir.join("m.ko");
        fs::write(&plain, unsigned(&unpack(&c.installed))).unwrap();
        let sign_file = Path::new("/lib/modules").join(&c.k).join("build/scripts/sign-file");
        let st = Command::new(sign_file).arg("sha256").arg(&key).arg(&cert).arg(&plain).status().unwrap();
        assert!(st.success());
        pack(&c.installed, &fs::read(&plain).unwrap());
    });
    c.fault("vermagic of another kernel", &["corrupted", "wrong-kernel"], &|c| {
        let mut b = unpack(&c.installed);
        let from = format!("vermagic={}", c.k);
        // Same length, so the ELF layout stays valid.
        let to = format!("vermagic={}", c.k.replacen(|ch: char| ch.is_ascii_digit(), "9", 1));
        assert_ne!(from, to);
        let at = b.windows(from.len()).position(|w| w == from.as_bytes()).expect("vermagic in module");
        b[at..at + to.len()].copy_from_slice(to.as_bytes());
        pack(&c.installed, &b);
    });
    c.fault("dropped from modules.dep", &["not-in-depmod"], &|c| {
        let dep = c.r.sb.inst.join(&c.k).join("modules.dep");
        let text = fs::read_to_string(&dep).unwrap();
        let kept: String = text.lines().filter(|l| !l.contains("okm")).map(|l| format!("{l}\n")).collect();
        fs::write(&dep, kept).unwrap();
    });
}

/// (e): a module whose name the kernel already has is installed over it,
/// dkms archives the kernel's copy (status: "Original modules exist");
/// when that archived copy is lost, `status --verify` says `missing` (the
/// archived original), exit 18, and JSON that validates.
#[test]
fn verify_reports_a_lost_archived_original() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let mut r = Real::new(false);
    let (k, a) = (r.k.clone(), crate::support::arch());
    // The kernel's own okm: version 0.1, built by dkms, placed where the
    // kernel's modules are, then forgotten by dkms.
    r.source("okm", "0.1", None, "");
    let (code, out, err) = r.dkms(&["build", "okm/0.1", "-k", &k]);
    assert_eq!(code, 0, "{out}\n{err}");
    let theirs = r.sb.inst.join(&k).join("kernel/drivers/misc/okm.ko");
    fs::create_dir_all(theirs.parent().unwrap()).unwrap();
    fs::copy(r.sb.dkms.join(format!("okm/0.1/{k}/{a}/module/okm.ko")), &theirs).unwrap();
    let (code, out, err) = r.dkms(&["remove", "okm/0.1", "--all"]);
    assert_eq!(code, 0, "{out}\n{err}");

    r.source("okm", "1.0", None, "");
    let (code, out, err) = r.dkms(&["install", "okm/1.0", "-k", &k]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains(&format!("Found pre-existing {}, archiving for uninstallation", r.shown(&theirs))), "{out}");
    let archived = r.sb.dkms.join(format!("okm/original_module/{k}/{a}/okm.ko"));
    assert!(archived.is_file() && !theirs.exists());
    let v = Validator::new();
    let verify = |r: &mut Real| {
        let (code, out, _) = r.dkms(&["status", "--verify"]);
        let (jcode, json, _) = r.dkms(&["status", "--verify", "--json"]);
        assert_eq!(code, jcode, "{out}");
        let records = v.check(&json, jcode);
        let problems: Vec<serde_json::Value> = records
            .iter()
            .filter(|rec| rec["type"] == "verify")
            .flat_map(|rec| rec["problems"].as_array().cloned().unwrap_or_default())
            .collect();
        (code, out, problems)
    };
    let (code, out, problems) = verify(&mut r);
    let line = format!("okm/1.0, {k}, {a}: installed (Original modules exist)\n");
    assert_eq!((code, out.clone(), problems.len()), (0, line.clone(), 0), "{out}");

    let saved = fs::read(&archived).unwrap();
    fs::remove_file(&archived).unwrap();
    let (code, out, problems) = verify(&mut r);
    assert_eq!(code, 18, "{out}");
    let message = format!("the archived original {} is gone", r.shown(&archived));
    assert_eq!(out, format!("{line}\tmissing: {message}\n"));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["reason"], "missing");
    assert_eq!(problems[0]["module_name"], "okm");
    assert_eq!(problems[0]["file"], r.shown(&archived));
    assert_eq!(problems[0]["message"], message);
    eprintln!("FAULT archived original deleted: missing: {message} | exit {code}");

    fs::write(&archived, saved).unwrap();
    assert_eq!(verify(&mut r).0, 0, "archived original back");
}
