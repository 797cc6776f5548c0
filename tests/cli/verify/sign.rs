//! `dkms sign` with real keys (openssl), the kernel's own `sign-file` and
//! a real module built against the installed headers, xz-compressed as the
//! kernel's modules are: after a key rotation `sign --all` re-signs built
//! and installed copies (modinfo shows the new signer, the old one is gone)
//! and `status --verify` passes; killed (SIGKILL, crash points) at each
//! step, every file is either old or new, and recovery leaves the built and
//! installed copies alike.

use super::secureboot::{pair, signer};
use super::{unavailable, Real};
use crate::json::Validator;
use crate::skip::skip_unless;
use crate::support::Impl;
use std::ffi::OsStr;
use std::fs;
use std::path::PathBuf;

const FIRST: &str = "DKMS module signing key";
const ROTATED: &str = "rotated key";

/// A sandbox with okm/1.0 installed and other/1.0 built (signed with a
/// pair the first build generated), then the pair replaced by a new one
/// (`CN=rotated key`); (okm's built copy, its installed copy, other's built copy).
fn rotated(r: &mut Real) -> (PathBuf, PathBuf, PathBuf) {
    r.compress_xz();
    r.source("okm", "1.0", None, "");
    r.source("other", "1.0", None, "");
    let k = r.k.clone();
    let a = crate::support::arch();
    for (verb, m) in [("install", "okm/1.0"), ("build", "other/1.0")] {
        let (code, out, err) = r.dkms(&[verb, m, "-k", &k]);
        assert_eq!(code, 0, "{verb} {m}: {out}\n{err}");
    }
    let built = r.sb.dkms.join(format!("okm/1.0/{k}/{a}/module/okm.ko.xz"));
    let installed = r.sb.inst.join(&k).join("updates/dkms/okm.ko.xz");
    let other = r.sb.dkms.join(format!("other/1.0/{k}/{a}/module/other.ko.xz"));
    for f in [&built, &installed, &other] {
        assert_eq!(signer(f), FIRST, "{}", f.display());
    }
    // The rotation: generate_mok's pair moved aside, a new one in its place.
    let (key, cert) = pair(r, "rotated", ROTATED);
    fs::copy(key, r.key()).unwrap();
    fs::copy(cert, r.cert()).unwrap();
    (built, installed, other)
}

#[test]
fn sign_all_re_signs_built_and_installed_copies_after_a_key_rotation() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    skip_unless!(crate::support::have("modinfo"), "no modinfo here");
    let mut r = Real::new(true);
    let (built, installed, other) = rotated(&mut r);
    let (code, out, _) = r.dkms(&["status", "--verify"]);
    assert_eq!(code, 18, "the old signer no longer verifies: {out}");
    assert!(out.contains("\tforeign-signer: "), "{out}");

    // The plan: each build and the files it would replace; nothing changes.
    let before: Vec<Vec<u8>> = [&built, &installed, &other].iter().map(|f| fs::read(f).unwrap()).collect();
    let (code, out, err) = r.dkms(&["sign", "--all", "--dry-run"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let k = r.k.clone();
    let a = crate::support::arch();
    let plan = format!(
        "Would re-sign okm/1.0 for kernel {k} ({a})\n  re-signing {}\n  re-signing {}\n\
         Would re-sign other/1.0 for kernel {k} ({a})\n  re-signing {}\n",
        r.shown(&built),
        r.shown(&installed),
        r.shown(&other)
    );
    assert_eq!(out, plan);
    let (code, json, _) = r.dkms(&["sign", "--all", "--dry-run", "--json"]);
    let records = Validator::new().check(&json, code);
    let planned: Vec<_> = records.iter().filter(|x| x["type"] == "planned" && x["action"] == "sign").collect();
    assert_eq!(planned.len(), 2, "{json}");
    let after: Vec<Vec<u8>> = [&built, &installed, &other].iter().map(|f| fs::read(f).unwrap()).collect();
    assert_eq!(before, after, "the dry run changed a file");

    let (code, out, err) = r.dkms(&["sign", "--all"]);
    assert_eq!(code, 0, "{out}\n{err}");
    eprintln!("TRANSCRIPT dkms sign --all:\n{out}{err}");
    assert!(out.contains(&format!("Public certificate (MOK): {}\n", r.shown(&r.cert()))), "{out}");
    assert!(out.contains(&format!("Signing module {}\n", r.shown(&built))), "{out}");
    for f in [&built, &installed, &other] {
        assert_eq!(signer(f), ROTATED, "{}", f.display());
    }
    assert_eq!(fs::read(&built).unwrap(), fs::read(&installed).unwrap(), "installed copy = built copy");
    let (code, out, err) = r.dkms(&["status", "--verify"]);
    assert_eq!(code, 0, "{out}\n{err}");

    // JSON: one signed record per build, valid by the schema; again is fine.
    let (code, json, err) = r.dkms(&["sign", "okm/1.0", "--json"]);
    assert_eq!(code, 0, "{err}");
    let records = Validator::new().check(&json, code);
    let signed: Vec<_> = records.iter().filter(|x| x["type"] == "signed").collect();
    assert_eq!(signed.len(), 1, "{json}");
    assert_eq!(signed[0]["module"], "okm");
    let files = signed[0]["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{json}");
    assert_eq!(files[1], r.shown(&installed));
    assert_eq!(signer(&installed), ROTATED);

    // Without a key pair: nothing is generated, nothing changes, exit 1.
    fs::remove_file(r.key()).unwrap();
    let before = fs::read(&built).unwrap();
    let (code, _, err) = r.dkms(&["sign", "--all"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(!r.key().exists(), "a pair was generated");
    assert_eq!(fs::read(&built).unwrap(), before);
    // No target: the usage error of a verb without its module.
    let (code, _, err) = r.dkms(&["sign"]);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn sign_killed_at_each_step_leaves_every_file_old_or_new() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    skip_unless!(crate::support::have("modinfo"), "no modinfo here");
    let mut r = Real::new(true);
    let (built, installed, other) = rotated(&mut r);
    let files = [&built, &installed, &other];
    let old: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
    let restore = |r: &Real| {
        for (f, b) in files.iter().zip(&old) {
            fs::write(f, b).unwrap();
        }
        assert!(!r.sb.dkms.join(".journal.d").exists(), "a journal was left");
    };
    // The new bytes (sign-file and xz are deterministic), from a whole run.
    let (code, out, err) = r.dkms(&["sign", "--all"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let new: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
    for (o, n) in old.iter().zip(&new) {
        assert_ne!(o, n);
    }
    let mut points = 0;
    for n in 1.. {
        restore(&r);
        let at = n.to_string();
        let vars: [(&str, &OsStr); 1] = [("DKMS_CRASH_AT", OsStr::new(&at))];
        let o = r.sb.run_env(Impl::Ours, None, &["sign", "--all"], true, &vars);
        if o.code == 0 {
            break;
        }
        assert_eq!(o.code, -1, "killed at crash point {n}: {}", o.stderr);
        points += 1;
        let now: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
        for (i, b) in now.iter().enumerate() {
            assert!(*b == old[i] || *b == new[i], "point {n}: {} is neither old nor new", files[i].display());
        }
        // Recovery (run first by any verb that writes the tree; this one then
        // fails: no such module).
        let (code, _, recovery) = r.dkms(&["sign", "nosuch/1"]);
        assert_eq!(code, 3, "{recovery}");
        let said = recovery.lines().find(|l| l.contains("recovered from an interrupted sign of okm/1.0"));
        let said = said.or_else(|| recovery.lines().find(|l| l.contains("interrupted sign of other/1.0")));
        let said = said.unwrap_or_else(|| panic!("point {n}: no recovery: {recovery}")).to_string();
        let after: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
        assert_eq!(after[0], after[1], "point {n}: built and installed copies differ after recovery");
        for (i, b) in after.iter().enumerate() {
            assert!(*b == old[i] || *b == new[i], "point {n}: {} is neither old nor new", files[i].display());
        }
        let (code, out, _) = r.dkms(&["status"]);
        assert_eq!(code, 0, "status reads the tree: {out}");
        let (code, out, err) = r.dkms(&["sign", "--all"]);
        assert_eq!(code, 0, "point {n}: {out}\n{err}");
        let (code, out, _) = r.dkms(&["status", "--verify"]);
        assert_eq!(code, 0, "point {n}: {out}");
        eprintln!("CRASH POINT {n}: {said}");
    }
    assert!(points >= 5, "sign passes its crash points: stage x2, commit, rename x2 for okm (got {points})");
}
