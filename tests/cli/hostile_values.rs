//! Hostile values for every verb (issue 24): each verb run with `-m`, `-v`,
//! `-k` and `-a` set to a value that would name a directory outside the
//! trees (`..`, `../..`, `a/../../b`, `/`, an absolute path, a path to a
//! sentinel next to the trees), a newline, a byte that is not UTF-8, a
//! 4,000-byte name; and the same values in stdin records. Against a tree
//! holding an installed module, with sentinel directories outside it:
//! nothing outside the trees changes, nothing inside them either (every
//! such value is refused where it enters), no run panics, and `--json`
//! always ends with a `result` record.

use crate::support::{arch, walk, Output, Sandbox, KVER};
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;

/// The hostile values; `victim` is the absolute path of a sentinel.
fn values(victim: &str) -> Vec<(&'static str, OsString)> {
    vec![
        ("..", "..".into()),
        ("../..", "../..".into()),
        ("a/../../b", "a/../../b".into()),
        ("/", "/".into()),
        ("absolute path", victim.into()),
        // From `<dkms>/hello/1.0/<kernel>`: `-k ../../../victim` is kernel
        // `..` and arch `../../victim`, which is `<root>/victim`.
        ("../../../victim", "../../../victim".into()),
        ("newline", "nl\nx".into()),
        ("not UTF-8", OsString::from_vec(b"m\xff".to_vec())),
        ("4,000 bytes", "n".repeat(4000).into()),
        ("-rf", "-rf".into()),
    ]
}

/// The command line of `verb` with `option` set to `value` and the other
/// names valid (the module `hello/1.0` is installed for `KVER`).
fn command_line(verb: &str, option: &str, value: &OsString, json: bool) -> Vec<OsString> {
    let mut a: Vec<OsString> = verb.split(' ').map(OsString::from).collect();
    let v = value.clone();
    let rest: Vec<OsString> = match option {
        // Alone: `-m a/../../b` is module `a`, version `../../b`, which a
        // later `-v` would replace.
        "-m" => vec!["-m".into(), v],
        "-v" => vec!["-m".into(), "hello".into(), "-v".into(), v],
        "-k" => vec!["hello/1.0".into(), "-k".into(), v],
        _ => vec!["hello/1.0".into(), "-k".into(), KVER.into(), "-a".into(), v],
    };
    a.extend(rest);
    if json {
        a.push("--json".into());
    }
    a
}

/// Everything under the sandbox root but the trees and TMPDIR, and the
/// trees themselves, as two listings.
fn snapshot(sb: &Sandbox) -> (String, String) {
    let mut outside = Vec::new();
    for e in fs::read_dir(&sb.root).expect("read sandbox").flatten() {
        let p = e.path();
        if ![&sb.dkms, &sb.src, &sb.inst, &sb.tmp].contains(&&p) {
            outside.push(p.display().to_string());
            walk(&p, &mut outside);
        }
    }
    outside.sort();
    (outside.join("\n"), sb.listing())
}

/// What every run must hold to: no panic, and with `--json` a `result`
/// record last on stdout.
fn check_run(what: &str, out: &Output, json: bool) {
    assert!(out.code != 255 && out.code != 134 && out.code >= 0, "{what}: exit {}\n{}", out.code, out.combined);
    assert!(!out.stderr.contains("panicked") && !out.stderr.contains("internal error"), "{what}: {}", out.stderr);
    if json {
        let last = out.stdout.lines().last().unwrap_or_default();
        let v: serde_json::Value =
            serde_json::from_str(last).unwrap_or_else(|e| panic!("{what}: last line is no JSON ({e}): {last:?}"));
        assert_eq!(v["type"], "result", "{what}: last record {last}");
        for line in out.stdout.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{what}: {e}: {line:?}"));
        }
    }
}

fn world() -> (Sandbox, String) {
    let sb = Sandbox::new();
    sb.installed("hello", "1.0");
    for victim in [sb.root.join("victim"), sb.work.join("victim")] {
        sb.write(&victim.join("keep"), "sentinel\n");
        sb.write(&victim.join("sub/keep"), "sentinel\n");
    }
    let victim = sb.root.join("victim").display().to_string();
    (sb, victim)
}

#[test]
fn no_value_leaves_the_trees_for_any_verb() {
    let (mut sb, victim) = world();
    let before = snapshot(&sb);
    let verbs: Vec<String> = dkms_cli::table::VERBS
        .iter()
        .map(|v| if v.name == "cache" { "cache key".to_string() } else { v.name.to_string() })
        .collect();
    let (values, options) = (values(&victim), ["-m", "-v", "-k", "-a"]);
    let mut runs = 0;
    for verb in &verbs {
        for option in options {
            for (name, value) in &values {
                for json in [false, true] {
                    let what = format!("dkms {verb} {option} <{name}>{}", if json { " --json" } else { "" });
                    let out = sb.run_os(&command_line(verb, option, value, json));
                    check_run(&what, &out, json);
                    let after = snapshot(&sb);
                    assert_eq!(after.0, before.0, "{what} changed something outside the trees");
                    assert_eq!(after.1, before.1, "{what} changed the trees\n{}", out.combined);
                    runs += 1;
                }
            }
        }
    }
    eprintln!(
        "hostile values: {} verbs x {} values x {} options x 2 output modes = {runs} runs, \
         changes outside the trees: 0, changes inside: 0",
        verbs.len(),
        values.len(),
        options.len()
    );
}

/// The same values in the records a pipeline feeds a verb on stdin.
#[test]
fn no_stdin_record_leaves_the_trees() {
    let (mut sb, victim) = world();
    let before = snapshot(&sb);
    let mut runs = 0;
    for verb in ["build", "install", "uninstall", "unbuild", "remove", "status"] {
        for field in ["module", "version", "kernel", "arch"] {
            for (name, value) in values(&victim) {
                let Ok(value) = value.into_string() else { continue };
                let mut rec = serde_json::json!({
                    "format_version": 1, "type": "built",
                    "module": "hello", "version": "1.0", "kernel": KVER, "arch": arch(),
                });
                rec[field] = value.into();
                let out = sb.run_stdin(&[verb, "--json", "-"], &format!("{rec}\n"));
                let what = format!("{verb} - with {field} <{name}>");
                check_run(&what, &out, true);
                assert_ne!(out.code, 0, "{what} was accepted\n{}", out.combined);
                assert!(out.stdout.contains("\"kind\":\"name-unsafe\""), "{what}: {}", out.stdout);
                assert_eq!(snapshot(&sb), before, "{what} changed something");
                runs += 1;
            }
        }
    }
    eprintln!("hostile stdin records: {runs} runs, changes: 0");
}

/// Defect 1 as reported: `unbuild -k ../../../victim` (kernel `..`, arch
/// `../../victim`) deleted `<root>/victim`; `-k ../1.0` the registration.
#[test]
fn unbuild_with_dot_dot_kernels_deletes_nothing() {
    let (mut sb, _) = world();
    let before = snapshot(&sb);
    for k in ["../../../victim", "../1.0", "..", "../../.."] {
        for verb in ["unbuild", "build", "install", "remove"] {
            let out = sb.dkms(&[verb, "hello/1.0", "-k", k]);
            assert_eq!(out.code, 8, "{verb} -k {k}: {}", out.combined);
            assert!(out.stderr.contains("cannot be used"), "{verb} -k {k}: {}", out.stderr);
            assert_eq!(snapshot(&sb), before, "{verb} -k {k} changed something");
        }
    }
    assert!(sb.root.join("victim/sub/keep").exists());
}

/// Defect 9: `-q` silenced stdout too, so `--json -q` printed no record at
/// all, not even the error and the result. The records stay; the human
/// text (stderr) is what `-q` silences.
#[test]
fn quiet_json_keeps_the_records() {
    let (mut sb, _) = world();
    for args in [
        &["--json", "-q", "status"][..],
        &["-q", "status", "--json"],
        &["--json", "-q", "build", "hello/1.0", "-k", ".."],
    ] {
        let out = sb.dkms(args);
        check_run(&format!("{args:?}"), &out, true);
        assert!(out.stderr.is_empty(), "{args:?}: -q left {}", out.stderr);
    }
    let out = sb.dkms(&["--json", "-q", "status"]);
    assert!(out.stdout.contains("\"type\":\"status\""), "{}", out.stdout);
    let out = sb.dkms(&["--json", "-q", "build", "hello/1.0", "-k", ".."]);
    assert!(out.stdout.contains("\"kind\":\"name-unsafe\""), "{}", out.stdout);
    // Without --json, -q is upstream's: nothing at all.
    let out = sb.dkms(&["-q", "status"]);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
}
