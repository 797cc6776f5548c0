//! Build progress (`--progress`, not in upstream dkms) with real kernel
//! builds against the installed headers: heartbeat lines without a
//! terminal, `progress` records with `--json`, and the live status lines on
//! a real terminal (tmux) for a build and for a parallel autoinstall of
//! three modules, after which the screen holds upstream's text alone.
//! Needs gcc and kernel headers (the terminal tests also tmux, autoinstall
//! root); skipped, and said so, otherwise.

mod terminal;

use crate::json::Validator;
use crate::skip::skip;
use crate::support::{arch, have, newest_kernel, Sandbox};
use std::ffi::OsStr;
use std::fs;

/// A kernel whose headers are installed (`/lib/modules/<k>/build` with
/// `include/` or a Makefile).
pub(crate) fn kernel() -> Option<String> {
    newest_kernel(|b| b.join("include").is_dir() || b.join("Makefile").is_file())
}

const WHY: &str = "needs gcc and kernel headers in /lib/modules/*/build";

/// The kernel to build for, or None (the test is reported skipped).
pub(crate) fn ready() -> Option<String> {
    let k = if have("gcc") && have("make") { kernel() } else { None };
    if k.is_none() {
        skip(WHY);
    }
    k
}

/// A sandbox whose install tree points at the host's headers for `k`, with
/// signing off.
pub(crate) fn setup(k: &str) -> Sandbox {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.inst.join(k)).unwrap();
    let headers = fs::canonicalize(format!("/lib/modules/{k}/build")).unwrap();
    std::os::unix::fs::symlink(headers, sb.inst.join(k).join("build")).unwrap();
    sb.write(&sb.sysconf.join("dkms/framework.conf"), "try_sign_modules=\"false\"\n");
    sb
}

/// A real one-file module `m` (its name does not match upstream's
/// `dkms*_test`, so dkms shows its dots) whose `all:` sleeps `before`
/// seconds, runs kbuild, then sleeps `after` seconds.
fn module(sb: &Sandbox, m: &str, before: u32, after: u32) {
    let (before, after) = (format!("\tsleep {before}\n"), format!("\tsleep {after}\n"));
    crate::support::kbuild_module(sb, m, "AUTOINSTALL=yes\n", &before, &after);
}

/// `m/1.0` added from the source tree.
fn added(sb: &mut Sandbox, m: &str, before: u32, after: u32) {
    module(sb, m, before, after);
    let out = sb.dkms(&["add", &format!("{m}/1.0")]);
    assert_eq!(out.code, 0, "{}", out.combined);
}

/// `--progress=lines` (and `progress=lines` from DKMS_PROGRESS) prints a
/// heartbeat per running build on stderr, stdout keeping upstream's text;
/// `--progress=never` prints none.
#[test]
fn heartbeat_lines_without_a_terminal() {
    let Some(k) = ready() else { return };
    let mut sb = setup(&k);
    added(&mut sb, "progress_lines", 3, 1);
    let fast: &[(&str, &OsStr)] = &[("DKMS_PROGRESS_INTERVAL", OsStr::new("1"))];
    let build = ["build", "progress_lines/1.0", "-k", &k];
    let heartbeat = format!("dkms: progress_lines/1.0 for {k}: building, ");

    let out = sb.run_env(crate::support::Impl::Ours, None, &[&build[..], &["--progress=lines"]].concat(), true, fast);
    assert_eq!(out.code, 0, "{}", out.combined);
    let beats: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with(&heartbeat)).collect();
    assert!(beats.len() >= 2, "no heartbeats:\n{}", out.stderr);
    assert!(beats.iter().all(|l| l.ends_with(" steps")), "{beats:?}");
    assert!(out.stdout.contains("Building module(s)...") && out.stdout.contains(" done.\n"), "{}", out.stdout);

    let env: &[(&str, &OsStr)] = &[fast[0], ("DKMS_PROGRESS", OsStr::new("lines"))];
    let forced = [&build[..], &["--force"]].concat();
    let out = sb.run_env(crate::support::Impl::Ours, None, &forced, true, env);
    assert_eq!(out.code, 0, "{}", out.combined);
    assert!(out.stderr.contains(&heartbeat), "DKMS_PROGRESS=lines gave none:\n{}", out.stderr);

    let out = sb.run_env(crate::support::Impl::Ours, None, &[&forced[..], &["--progress=never"]].concat(), true, env);
    assert_eq!(out.code, 0, "{}", out.combined);
    assert!(!out.stderr.contains("dkms: "), "{}", out.stderr);
}

/// The case as it is, with no test knob: a build of over 35 s
/// (kbuild, then a 34 s sleep) gives one heartbeat, at the default 30 s.
#[test]
fn one_heartbeat_for_a_35s_build_at_the_default_interval() {
    let Some(k) = ready() else { return };
    let mut sb = setup(&k);
    added(&mut sb, "progress_35s", 1, 34);
    let t0 = std::time::Instant::now();
    let out = sb.run_env(
        crate::support::Impl::Ours,
        None,
        &["build", "progress_35s/1.0", "-k", &k, "--progress=lines"],
        true,
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.combined);
    let secs = t0.elapsed().as_secs();
    assert!(secs >= 35, "the build took {secs}s");
    let heartbeat = format!("dkms: progress_35s/1.0 for {k}: building, ");
    let beats: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with(&heartbeat)).collect();
    assert!(!beats.is_empty() && (beats.len() == 1 || secs >= 60), "{secs}s:\n{}", out.stderr);
    // At 30 s (31 s when the machine is too busy to look in time).
    let at = &beats[0][heartbeat.len()..];
    assert!((at.starts_with("30s, ") || at.starts_with("31s, ")) && at.ends_with(" steps"), "{beats:?}");
}

/// `--json`: schema-valid `progress` records for the running build, at
/// most one a second, with a rising `done`; the total and the time left
/// once a kept make.log of the same module/version exists.
#[test]
fn json_progress_records_rise() {
    let Some(k) = ready() else { return };
    let mut sb = setup(&k);
    added(&mut sb, "progress_json", 2, 2);
    let v = Validator::new();
    let out = sb.dkms(&["build", "progress_json/1.0", "-k", &k, "--json"]);
    let records = v.check(&out.stdout, 0);
    let progress: Vec<&serde_json::Value> = records.iter().filter(|r| r["type"] == "progress").collect();
    assert!(progress.len() >= 3, "{}", out.stdout);
    let done: Vec<u64> = progress.iter().map(|r| r["done"].as_u64().unwrap()).collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]) && done[0] < done[done.len() - 1], "{done:?}");
    let elapsed: Vec<u64> = progress.iter().map(|r| r["elapsed_s"].as_u64().unwrap()).collect();
    assert!(elapsed.windows(2).all(|w| w[0] < w[1]), "more than one a second: {elapsed:?}");
    let p = progress[progress.len() - 1];
    assert_eq!(
        (&p["module"], &p["version"], &p["kernel"], &p["arch"]),
        (&"progress_json".into(), &"1.0".into(), &k.as_str().into(), &arch().into())
    );
    assert!(p.get("total").is_none() && p.get("eta_s").is_none(), "{p}");
    assert!(p["step"].as_str().unwrap().contains(" [M] progress_json."), "{p}");
    // Progress comes before the outcome.
    let built = records.iter().position(|r| r["type"] == "built").unwrap();
    assert!(records.iter().rposition(|r| r["type"] == "progress").unwrap() < built);

    // The kept log of this build, as another kernel's, is the last build.
    let kept = sb.dkms.join(format!("progress_json/1.0/{k}/{}/log/make.log", arch()));
    let other = sb.dkms.join(format!("progress_json/1.0/0.0.0-other/{}/log", arch()));
    fs::create_dir_all(&other).unwrap();
    fs::copy(kept, other.join("make.log")).unwrap();
    let out = sb.dkms(&["build", "progress_json/1.0", "-k", &k, "--json", "--force"]);
    let records = v.check(&out.stdout, 0);
    let p = records.iter().rfind(|r| r["type"] == "progress").unwrap();
    assert!(p["total"].as_u64().unwrap() >= 2 && p["eta_s"].is_u64(), "{p}");
}
