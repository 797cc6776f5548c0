//! `dkms doctor` on a healthy tree with a real, signed, installed module
//! exits 0; each injected fault yields its finding (text and JSON, with a
//! remedy), and error-level ones exit 19. Doctor changes nothing: the tree
//! listing is the same before and after each run.

use super::{unavailable, Real};
use crate::json::Validator;
use crate::skip::skip_unless;
use crate::support::Impl;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::symlink;

pub(super) struct Doc {
    pub r: Real,
    v: Validator,
    /// Options after `doctor` (e.g. `-k KERNEL`).
    pub args: Vec<String>,
    /// Variables set for the runs (e.g. a whole `PATH`, `DKMS_EFI_DIR`).
    pub vars: Vec<(String, OsString)>,
    /// A wrapper run instead of dkms (it runs dkms with the arguments).
    pub program: Option<std::path::PathBuf>,
}

impl Doc {
    pub fn new(r: Real) -> Doc {
        Doc { r, v: Validator::new(), args: Vec::new(), vars: Vec::new(), program: None }
    }

    /// Run doctor (text and JSON); (exit, text, JSON finding records).
    pub fn run(&mut self) -> (i32, String, Vec<serde_json::Value>) {
        let before = self.r.sb.listing();
        let vars: Vec<(&str, &OsStr)> = self.vars.iter().map(|(k, v)| (k.as_str(), v.as_os_str())).collect();
        let mut args: Vec<&str> = vec!["doctor"];
        args.extend(self.args.iter().map(String::as_str));
        let program = self.program.clone();
        let o = self.r.sb.run_env(Impl::Ours, program.as_deref(), &args, true, &vars);
        args.push("--json");
        let j = self.r.sb.run_env(Impl::Ours, program.as_deref(), &args, true, &vars);
        assert_eq!(o.code, j.code, "{}\n{}", o.stdout, o.stderr);
        assert_eq!(self.r.sb.listing(), before, "doctor changed the tree");
        let findings = self.v.check(&j.stdout, j.code).into_iter().filter(|r| r["type"] == "finding").collect();
        (o.code, o.stdout, findings)
    }

    /// Run doctor and expect the exit status `code` and a finding `kind`
    /// of `severity` (in text and JSON) whose message holds `says`; the
    /// finding.
    pub fn expect(&mut self, what: &str, kind: &str, severity: &str, code: i32, says: &str) -> serde_json::Value {
        let (got, out, findings) = self.run();
        assert_eq!(got, code, "{what}: {out}");
        let f = findings.iter().find(|f| f["kind"] == kind).unwrap_or_else(|| panic!("{what}: no {kind} in {out}"));
        assert_eq!(f["severity"], severity, "{what}: {f}");
        let message = f["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{what}: {message:?} does not say {says:?}");
        assert!(out.contains(&format!("{severity}: {kind}: {message}\n")), "{what}: {out}");
        if let Some(remedy) = f["remedy"].as_str() {
            assert!(out.contains(&format!("\tremedy: {remedy}\n")), "{what}: {out}");
        }
        eprintln!("FAULT {what}: {severity} {kind}: {message} | remedy: {} | exit {got}", f["remedy"]);
        f.clone()
    }

    /// Run doctor and expect no finding of `kind`.
    pub fn expect_no(&mut self, what: &str, kind: &str) {
        let (_, out, findings) = self.run();
        assert!(findings.iter().all(|f| f["kind"] != kind), "{what}: {kind} in {out}");
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
    let mut doc = Doc::new(r);
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
    // Where dkms archived the kernel's own module (upstream's
    // original_module/): not a build, so not half-built (`dkms unbuild`
    // of it would fail).
    let orig = doc.r.sb.dkms.join(format!("okm/original_module/{k}/x86_64"));
    doc.r.sb.write(&orig.join("okm.ko"), "x");
    doc.expect_no("the kernel's own module archived", "half-built");
    fs::remove_dir_all(doc.r.sb.dkms.join("okm/original_module")).unwrap();
}
