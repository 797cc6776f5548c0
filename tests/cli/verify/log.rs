//! `dkms log` and the failure memory: a failed build is remembered (status
//! JSON lists it as a `failed` record, doctor as `build-failed`) and its
//! make.log is what `dkms log` prints; after a successful build the failure
//! is forgotten and `dkms log` prints the new log. No log: exit 20.

use super::{unavailable, Real};
use crate::json::Validator;
use crate::skip::skip_unless;
use std::fs;

#[test]
fn failed_builds_are_remembered_and_logged() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let mut r = Real::new(false);
    let v = Validator::new();
    r.source("bad", "1.0", None, "");
    let c = r.sb.src.join("bad-1.0/bad.c");
    let good = fs::read_to_string(&c).unwrap();
    fs::write(&c, format!("{good}\nthis is not C;\n")).unwrap();
    let k = r.k.clone();

    let (code, out, err) = r.dkms(&["log", "bad/1.0", "-k", &k]);
    assert_eq!(code, 20, "no log yet: {out}{err}");

    let (code, _, _) = r.dkms(&["build", "bad/1.0", "-k", &k]);
    assert_eq!(code, 10);
    let (code, out, _) = r.dkms(&["log", "bad/1.0", "-k", &k]);
    assert_eq!(code, 0);
    assert!(out.contains("make.log for bad/1.0 for kernel") && out.contains("error"), "{out}");
    let (code, path, _) = r.dkms(&["log", "bad/1.0", "-k", &k, "--path"]);
    assert_eq!(code, 0);
    assert!(path.trim_end().ends_with(&format!("/.failures/bad/1.0/{k}/x86_64/make.log")), "{path}");
    let (code, json, _) = r.dkms(&["log", "--json", "bad/1.0", "-k", &k]);
    let recs = v.check(&json, code);
    assert!(recs.iter().any(|r| r["type"] == "log" && r["failed"] == true), "{json}");

    let (code, json, _) = r.dkms(&["status", "--json"]);
    let recs = v.check(&json, code);
    let failed: Vec<_> = recs.iter().filter(|r| r["type"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{json}");
    assert_eq!(failed[0]["kind"], "build-failed");
    assert_eq!(failed[0]["exit_code"], 10);
    assert_eq!(failed[0]["inputs_hash"].as_str().unwrap().len(), 64);
    // Plain text status is unchanged by the memory.
    let (_, text, _) = r.dkms(&["status"]);
    assert_eq!(text, "bad/1.0: added\n");
    let (_, doc, _) = r.dkms(&["doctor"]);
    assert!(doc.contains(&format!(": build-failed: The last build of bad/1.0 for {k}")), "{doc}");

    // Fixed: the failure is forgotten, the log is the successful build's.
    fs::write(&c, good).unwrap();
    let (code, out, err) = r.dkms(&["build", "bad/1.0", "-k", &k]);
    assert_eq!(code, 0, "{out}{err}");
    let (_, json, _) = r.dkms(&["status", "--json"]);
    assert!(!json.contains(r#""type":"failed""#), "{json}");
    let (code, path, _) = r.dkms(&["log", "bad/1.0", "-k", &k, "--path"]);
    assert_eq!(code, 0);
    assert!(path.trim_end().ends_with(&format!("bad/1.0/{k}/x86_64/log/make.log")), "{path}");
}
