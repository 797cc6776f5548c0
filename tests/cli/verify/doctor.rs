//! `dkms doctor` on a healthy tree with a real, signed, installed module
//! exits 0; each injected fault yields its finding (text and JSON, with a
//! remedy), and error-level ones exit 19. Doctor changes nothing: the tree
//! listing is the same before and after each run.

use super::{unavailable, Real};
use crate::json::Validator;
use crate::skip::skip_unless;
use std::fs;
use std::os::unix::fs::symlink;

struct Doc {
    r: Real,
    v: Validator,
}

impl Doc {
    /// Run doctor (text and JSON); (exit, text, JSON finding records).
    fn run(&mut self) -> (i32, String, Vec<serde_json::Value>) {
        let before = self.r.sb.listing();
        let (code, out, err) = self.r.dkms(&["doctor"]);
        let (jcode, json, _) = self.r.dkms(&["doctor", "--json"]);
        assert_eq!(code, jcode, "{out}\n{err}");
        assert_eq!(self.r.sb.listing(), before, "doctor changed the tree");
        let findings = self.v.check(&json, jcode).into_iter().filter(|r| r["type"] == "finding").collect();
        (code, out, findings)
    }

    /// Inject a fault, expect `kind` with a remedy and the exit status,
    /// then undo it and expect a clean bill again.
    fn fault(&mut self, what: &str, kind: &str, code: i32, inject: &dyn Fn(&Real), undo: &dyn Fn(&Real)) {
        inject(&self.r);
        let (got, out, findings) = self.run();
        assert_eq!(got, code, "{what}: {out}");
        let f = findings.iter().find(|f| f["kind"] == kind).unwrap_or_else(|| panic!("{what}: no {kind} in {out}"));
        assert!(f["remedy"].as_str().is_some_and(|r| !r.is_empty()), "{what}: no remedy: {f}");
        assert!(out.contains(&format!(": {kind}: ")), "{what}: {out}");
        eprintln!("FAULT {what}: {} {kind}: {} | remedy: {}", f["severity"], f["message"], f["remedy"]);
        undo(&self.r);
        let (got, out, _) = self.run();
        assert_eq!(got, 0, "{what} undone: {out}");
    }
}

#[test]
fn doctor_is_clean_then_finds_each_fault() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let mut r = Real::new(true);
    r.source("okm", "1.0", None, "");
    let k = r.k.clone();
    let (code, out, err) = r.dkms(&["install", "okm/1.0", "-k", &k]);
    assert_eq!(code, 0, "{out}\n{err}");
    let mut doc = Doc { r, v: Validator::new() };
    let (code, out, findings) = doc.run();
    assert_eq!(code, 0, "healthy: {out}");
    assert!(findings.iter().all(|f| f["severity"] != "error"), "{out}");
    // Whether builds run confined is reported (off by default, as upstream).
    let sandbox = findings.iter().find(|f| f["kind"] == "build-sandbox-off").unwrap_or_else(|| panic!("{out}"));
    assert_eq!(sandbox["severity"], "info", "{out}");

    let build = doc.r.sb.inst.join(&k).join("build");
    doc.fault(
        "headers link missing",
        "headers-missing",
        0,
        &|r| fs::remove_file(r.sb.inst.join(&r.k).join("build")).unwrap(),
        &|_| {
            symlink(fs::canonicalize(std::path::Path::new("/lib/modules").join(&k).join("build")).unwrap(), &build)
                .unwrap()
        },
    );
    let aside = doc.r.sb.root.join("cert-aside");
    doc.fault("key without certificate", "certificate-missing", 19, &|r| fs::rename(r.cert(), &aside).unwrap(), &|r| {
        fs::rename(&aside, r.cert()).unwrap()
    });
    let saved = fs::read(doc.r.cert()).unwrap();
    doc.fault(
        "key and certificate of different pairs",
        "key-certificate-mismatch",
        19,
        &|r| {
            let (_, other) = super::new_pair(r, "other-pair");
            fs::copy(other, r.cert()).unwrap();
        },
        &|r| fs::write(r.cert(), &saved).unwrap(),
    );
    doc.fault(
        "key readable by others",
        "key-permissions",
        0,
        &|r| fs::set_permissions(r.key(), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap(),
        &|r| fs::set_permissions(r.key(), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap(),
    );
    let link = doc.r.sb.dkms.join("okm/1.0/source");
    let target = fs::read_link(&link).unwrap();
    doc.fault(
        "dangling source link",
        "source-link-dangling",
        19,
        &|r| {
            fs::remove_file(&link).unwrap();
            symlink(r.sb.src.join("gone-1.0"), &link).unwrap();
        },
        &|_| {
            fs::remove_file(&link).unwrap();
            symlink(&target, &link).unwrap();
        },
    );
    doc.fault(
        "leftover journal",
        "journal-leftover",
        0,
        &|r| {
            let j = dkms_state::journal::Journal::begin(&r.sb.dkms, "build", &["okm", "1.0", &r.k, "x86_64"]).unwrap();
            std::mem::forget(j);
        },
        &|r| fs::remove_dir_all(dkms_state::journal::dir(&r.sb.dkms)).unwrap(),
    );
    let installed = doc.r.sb.inst.join(&k).join("updates/dkms/okm.ko");
    let module = fs::read(&installed).unwrap();
    doc.fault(
        "installed module corrupted",
        "verify-failed",
        19,
        &|_| {
            let mut b = module.clone();
            b[100] ^= 1;
            fs::write(&installed, b).unwrap();
        },
        &|_| fs::write(&installed, &module).unwrap(),
    );
    let gone = doc.r.sb.dkms.join("okm/1.0/6.0.0-1-gone/x86_64/module");
    doc.fault("built for a kernel that is gone", "kernel-gone", 0, &|r| r.sb.write(&gone.join("okm.ko"), "x"), &|r| {
        fs::remove_dir_all(r.sb.dkms.join("okm/1.0/6.0.0-1-gone")).unwrap()
    });
}
