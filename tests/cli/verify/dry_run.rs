//! `--dry-run` with real kernel builds: each verb's plan leaves every file
//! of the sandbox as it was (contents, modes, link targets, mtimes), and
//! the real run that follows does what was planned: the planned records
//! and the real run's records name the same steps, targets and files.

use super::{unavailable, Real};
use crate::json::Validator;
use crate::skip::skip_unless;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Every path under `root` with its type, mode, size, mtime, link target
/// and a hash of its contents.
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let what = if md.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if md.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else {
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::fs::read(&p).unwrap().hash(&mut h);
                format!("file {} {:x}", md.len(), h.finish())
            };
            // tmp_location: reading a dkms.conf may use a temporary file
            // there, deleted again (its contents are still compared).
            let stamp = if p == root.join("tmp") {
                format!("{:o}", md.mode())
            } else {
                format!("{:o} {}.{}", md.mode(), md.mtime(), md.mtime_nsec())
            };
            out.insert(p.display().to_string(), format!("{what} {stamp}"));
        }
    }
    out
}

struct Case {
    r: Real,
    v: Validator,
}

/// A record's step: (action, module/version, kernel, files, originals).
type Step = (String, String, String, Vec<String>, Vec<String>);

fn strings(v: &Value) -> Vec<String> {
    let mut s: Vec<String> =
        v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default();
    s.sort();
    s
}

/// The step a real run's record stands for (None: not a step).
fn real_step(r: &Value) -> Option<Step> {
    let (action, files, originals) = match r["type"].as_str()? {
        "added" => ("add", Value::Null, Value::Null),
        "built" => ("build", r["modules"].clone(), Value::Null),
        "substituted" => ("substitute", r["modules"].clone(), Value::Null),
        "installed" => ("install", r["files"].clone(), r["replaced_originals"].clone()),
        "uninstalled" => ("uninstall", r["files"].clone(), r["restored_originals"].clone()),
        "unbuilt" => ("unbuild", Value::Null, Value::Null),
        "removed" => ("remove", Value::Null, Value::Null),
        "skipped" => ("skip", Value::Null, Value::Null),
        _ => return None,
    };
    let action = match r["reason"].as_str() {
        Some(reason) => format!("skip:{reason}"),
        None => action.to_string(),
    };
    Some((action, mv(r), r["kernel"].as_str().unwrap_or_default().into(), strings(&files), strings(&originals)))
}

fn mv(r: &Value) -> String {
    format!("{}/{}", r["module"].as_str().unwrap_or_default(), r["version"].as_str().unwrap_or_default())
}

/// A planned record's step (its `add` names the source, not files).
fn planned_step(r: &Value) -> Step {
    let action = r["action"].as_str().unwrap().to_string();
    let action = match r["reason"].as_str() {
        Some(reason) => format!("skip:{reason}"),
        None => action,
    };
    let files = if action == "add" { Vec::new() } else { strings(&r["files"]) };
    (action, mv(r), r["kernel"].as_str().unwrap_or_default().into(), files, strings(&r["originals"]))
}

impl Case {
    /// Run `args` with `--dry-run` (text and JSON: the sandbox must not
    /// change), then for real; returns the planned steps (without depmod),
    /// the kernels planned for depmod, and the real run's steps.
    fn plan_then_run(&mut self, args: &[&str], code: i32) -> (Vec<Step>, Vec<String>, Vec<Step>) {
        let before = snapshot(&self.r.sb.root);
        let dry: Vec<&str> = args.iter().copied().chain(["--dry-run"]).collect();
        let (tcode, text, terr) = self.r.dkms(&dry);
        assert_eq!(tcode, code, "{args:?} --dry-run: {text}{terr}");
        let json: Vec<&str> = dry.iter().copied().chain(["--json"]).collect();
        let (jcode, out, err) = self.r.dkms(&json);
        assert_eq!(jcode, code, "{args:?} --dry-run --json: {out}{err}");
        assert_eq!(before, snapshot(&self.r.sb.root), "{args:?} --dry-run changed the sandbox");
        let planned: Vec<Value> = self.v.check(&out, jcode).into_iter().filter(|r| r["type"] == "planned").collect();
        assert!(!planned.is_empty(), "{args:?}: no planned record in {out}");
        for p in &planned {
            let first = text.lines().any(|l| l.contains("Would") && l.contains(&mv(p)) || p["action"] == "depmod");
            assert!(first, "{args:?}: the text does not say {p}:\n{text}");
        }
        let depmods = planned
            .iter()
            .filter(|p| p["action"] == "depmod")
            .map(|p| p["kernel"].as_str().unwrap().to_string())
            .collect();
        let steps = planned.iter().filter(|p| p["action"] != "depmod").map(planned_step).collect();
        let real: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        let (rcode, out, err) = self.r.dkms(&real);
        assert_eq!(rcode, code, "{args:?}: {out}{err}");
        let done = self.v.check(&out, rcode).iter().filter_map(real_step).collect();
        (steps, depmods, done)
    }

    /// `plan_then_run`, and the planned steps are the real ones (in order).
    fn same(&mut self, args: &[&str], code: i32) -> Vec<String> {
        let (planned, depmods, done) = self.plan_then_run(args, code);
        assert_eq!(planned, done, "{args:?}: plan and run differ");
        depmods
    }
}

#[test]
fn dry_run_changes_nothing_and_plans_what_the_run_does() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let mut c = Case { r: Real::new(true), v: Validator::new() };
    let k = c.r.k.clone();
    c.r.source("dry_mod", "1.0", None, "");
    // A module of the same name shipped with the kernel: archived on install.
    let original = c.r.sb.inst.join(&k).join("kernel/drivers/misc/dry_mod.ko");
    c.r.sb.write(&original, "an older dry_mod");
    let kernel = ["-k", k.as_str()];
    let mv = ["-m", "dry_mod", "-v", "1.0"];
    let args = |verb: &'static str| -> Vec<&str> { [verb].iter().copied().chain(mv).chain(kernel).collect() };

    // Not added: add, build (signing key generated by the real run only),
    // install with the original archived, depmod.
    let depmods = c.same(&args("install"), 0);
    assert_eq!(depmods, std::slice::from_ref(&k), "one depmod for the install");
    assert!(!original.exists(), "the real install archived the original");
    // Installed: skipped, with the reason the real run gives.
    c.same(&args("install"), 0);
    c.same(&args("build"), 0);
    // Uninstall restores the original; then a reinstall archives it again.
    c.same(&args("uninstall"), 0);
    assert!(original.exists());
    // Built, not installed: build --force unbuilds first.
    let mut rebuild = args("build");
    rebuild.push("--force");
    c.same(&rebuild, 0);
    c.same(&args("install"), 0);
    // --force: uninstall and install again.
    let mut forced = args("install");
    forced.push("--force");
    c.same(&forced, 0);
    // remove --all: uninstall, unbuild, remove.
    c.same(&["remove", "-m", "dry_mod", "-v", "1.0", "--all"], 0);

    // BUILD_DEPENDS_REBUILD: installing base_e 2.0 rebuilds dep_f, built
    // against base_e 1.0 (uninstall, unbuild, build, install).
    c.r.source("base_e", "1.0", None, "");
    c.r.source("base_e", "2.0", None, "");
    c.r.source("dep_f", "1.0", None, "BUILD_DEPENDS=base_e\nBUILD_DEPENDS_REBUILD=yes\n");
    for (m, v) in [("base_e", "1.0"), ("dep_f", "1.0")] {
        let (code, out, err) = c.r.dkms(&["install", "-m", m, "-v", v, "-k", &k]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let (planned, _, done) = c.plan_then_run(&["install", "-m", "base_e", "-v", "2.0", "-k", &k], 0);
    assert_eq!(planned, done, "BUILD_DEPENDS_REBUILD: plan and run differ");
    let actions: Vec<String> = planned.iter().map(|s| format!("{} {}", s.0, s.1)).collect();
    assert_eq!(
        actions,
        [
            "add base_e/2.0",
            "build base_e/2.0",
            "install base_e/2.0",
            "uninstall dep_f/1.0",
            "unbuild dep_f/1.0",
            "build dep_f/1.0",
            "install dep_f/1.0"
        ]
    );

    // OBSOLETE_BY an older kernel (upstream 3.4.3 reads it as
    // BUILD_EXCLUSIVE_KERNEL_MAX): added, then excluded (exit 77), in the
    // plan as in the run.
    c.r.source("obs_g", "1.0", None, "OBSOLETE_BY=\"2.6.0\"\nAUTOINSTALL=no\n");
    c.same(&["install", "-m", "obs_g", "-v", "1.0", "-k", &k], 77);

    // autoinstall: dep_b waits for dep_a (BUILD_DEPENDS), plain_c is not
    // AUTOINSTALL, BUILD_EXCLUSIVE excludes excl_d; the two builds run side
    // by side in rounds 1 and 2.
    c.r.source("dep_a", "1.0", None, "AUTOINSTALL=yes\n");
    c.r.source("dep_b", "1.0", None, "AUTOINSTALL=yes\nBUILD_DEPENDS=dep_a\n");
    c.r.source("plain_c", "1.0", None, "AUTOINSTALL=no\n");
    c.r.source("excl_d", "1.0", None, "BUILD_EXCLUSIVE_KERNEL=\"^0\\.\"\n");
    for m in ["dep_b", "dep_a", "plain_c", "excl_d"] {
        let (code, out, err) = c.r.dkms(&["add", "-m", m, "-v", "1.0"]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let (_, text, _) = c.r.dkms(&["autoinstall", "-k", &k, "--dry-run"]);
    assert!(text.contains("[round 1] Would build dep_a/1.0"), "{text}");
    assert!(text.contains("[round 2] Would build dep_b/1.0"), "{text}");
    assert!(text.contains("in the background, side by side with other builds, after dep_a"), "{text}");
    assert!(text.contains("side by side"), "{text}");
    let (planned, depmods, done) = c.plan_then_run(&["autoinstall", "-k", &k], 0);
    assert_eq!(depmods, std::slice::from_ref(&k), "one depmod at the end");
    // Background builds may report in another order: the same steps, and
    // the installs in the planned order.
    let sorted = |s: &[Step]| {
        let mut s = s.to_vec();
        s.sort();
        s
    };
    assert_eq!(sorted(&planned), sorted(&done), "autoinstall: plan and run differ");
    let installs = |s: &[Step]| s.iter().filter(|x| x.0 == "install").map(|x| x.1.clone()).collect::<Vec<_>>();
    assert_eq!(installs(&planned), ["dep_a/1.0", "dep_b/1.0"]);
    assert_eq!(installs(&planned), installs(&done));
    // Again: everything installed is skipped.
    c.same(&["autoinstall", "-k", &k], 0);

    // kernel_prerm: uninstall and unbuild both, one depmod at the end.
    let depmods = c.same(&["kernel_prerm", "-k", &k], 0);
    assert_eq!(depmods, std::slice::from_ref(&k));
    // kernel_postinst: autoinstall again (dep_a and base_e 2.0 in round 1,
    // dep_b and dep_f in round 2); then unbuild one, kernel_preinst the rest.
    let (planned, _, done) = c.plan_then_run(&["kernel_postinst", "-k", &k], 0);
    assert_eq!(sorted(&planned), sorted(&done), "kernel_postinst: plan and run differ");
    assert_eq!(installs(&planned), installs(&done));
    c.same(&["unbuild", "-m", "dep_a", "-v", "1.0", "-k", &k], 0);
    c.same(&["kernel_preinst", "-k", &k], 0);

    // BUILD_EXCLUSIVE: the real run's exit status 77 and skip reason.
    c.same(&["build", "-m", "excl_d", "-v", "1.0", "-k", &k], 77);

    // Verbs that cannot plan refuse the option, as upstream refuses
    // options it does not know.
    let before = snapshot(&c.r.sb.root);
    let (code, _, err) = c.r.dkms(&["add", "-m", "plain_c", "-v", "1.0", "--dry-run"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Unknown option: --dry-run"), "{err}");
    assert_eq!(before, snapshot(&c.r.sb.root));
}

/// A BUILD_DEPENDS_REBUILD module built ahead in a parallel autoinstall is
/// not rebuilt by the install of a module before it: in upstream's serial
/// order it is not built yet when that install checks its dependants. Here
/// dep_f's POST_BUILD holds its build between "modules in place" and
/// "dependency versions recorded" for seconds, while dep_b (before it,
/// same round) finishes and installs: the window in which the install once
/// unbuilt dep_f under its own build (a missing make.log, exit 11).
#[test]
fn a_dependant_built_ahead_is_not_rebuilt_under_its_install() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let mut c = Case { r: Real::new(true), v: Validator::new() };
    let k = c.r.k.clone();
    c.r.source("base_e", "1.0", None, "AUTOINSTALL=yes\n");
    let slow_make = "obj-m := dep_b.o\n$(shell sleep 2)\n";
    c.r.source("dep_b", "1.0", Some(slow_make), "AUTOINSTALL=yes\nBUILD_DEPENDS=base_e\n");
    let rebuild = "AUTOINSTALL=yes\nBUILD_DEPENDS=base_e\nBUILD_DEPENDS_REBUILD=yes\nPOST_BUILD=hold.sh\n";
    c.r.source("dep_f", "1.0", None, rebuild);
    let hold = c.r.sb.src.join("dep_f-1.0/hold.sh");
    c.r.sb.write(&hold, "#!/bin/sh\nsleep 8\n");
    std::fs::set_permissions(&hold, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for m in ["base_e", "dep_b", "dep_f"] {
        let (code, out, err) = c.r.dkms(&["add", "-m", m, "-v", "1.0"]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let (planned, _, done) = c.plan_then_run(&["autoinstall", "-k", &k, "-j", "4"], 0);
    let actions = |s: &[Step]| {
        let mut a: Vec<String> = s.iter().map(|x| format!("{} {}", x.0, x.1)).collect();
        a.sort();
        a
    };
    assert_eq!(actions(&done), actions(&planned), "autoinstall: plan and run differ");
    assert!(!actions(&done).iter().any(|a| a.starts_with("unbuild")), "{done:?}");
}
