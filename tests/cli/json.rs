//! The JSON Lines protocol end to end: every line of every verb's `--json`
//! output validates against the committed schema (error paths included),
//! the add | build | install pipeline works on a private tree, and
//! `status --json` names exactly the targets and states the text status does.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::fake::{Tree, KVER};
use crate::skip::skip_part;
use crate::support::is_root;

/// Why the root-only parts are skipped when not root.
const NEEDS_ROOT: &str = "needs root (install and the kernel hooks refuse others)";

pub(crate) struct Validator {
    schemas: boon::Schemas,
    id: boon::SchemaIndex,
}

impl Validator {
    pub(crate) fn new() -> Validator {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/dkms.schema.json");
        let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut schemas = boon::Schemas::new();
        let mut c = boon::Compiler::new();
        c.add_resource("dkms.schema.json", schema).unwrap();
        let id = c.compile("dkms.schema.json", &mut schemas).unwrap();
        Validator { schemas, id }
    }

    /// Every line is a schema-valid record whose first keys are
    /// format_version and type; the last is `result` with the exit code.
    pub(crate) fn check(&self, out: &str, code: i32) -> Vec<serde_json::Value> {
        let lines: Vec<&str> = out.lines().collect();
        assert!(!lines.is_empty(), "no JSON output");
        let mut records = Vec::new();
        for l in &lines {
            assert!(l.starts_with("{\"format_version\":1,\"type\":\""), "bad first keys: {l}");
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            if let Err(e) = self.schemas.validate(&v, self.id) {
                panic!("{l}\ndoes not validate: {e}");
            }
            records.push(v);
        }
        let last = records.last().unwrap();
        assert_eq!(last["type"], "result");
        assert_eq!(last["exit_code"], code);
        records
    }
}

fn types(records: &[serde_json::Value]) -> Vec<String> {
    records.iter().map(|r| r["type"].as_str().unwrap().to_string()).collect()
}

#[test]
fn every_verb_validates_including_errors() {
    let t = Tree::new();
    let v = Validator::new();
    let (code, out, _) = t.run(&["add", "--json", "-m", "dkms_hello", "-v", "1.0"], "");
    assert_eq!(code, 0);
    assert_eq!(types(&v.check(&out, 0)), ["added", "result"]);

    let (code, out, err) = t.run(&["build", "--json", "dkms_hello/1.0", "-k", KVER], "");
    assert_eq!(code, 0, "{err}");
    let recs = v.check(&out, 0);
    assert_eq!(types(&recs), ["built", "result"]);
    assert!(recs[0]["modules"][0].as_str().unwrap().ends_with("/module/dkms_hello.ko"));
    assert!(err.contains("Building module(s)... done."), "human text goes to stderr: {err}");

    let (code, out, _) = t.run(&["build", "--json", "dkms_hello/1.0", "-k", KVER], "");
    assert_eq!(code, 0);
    let recs = v.check(&out, 0);
    assert_eq!(recs[0]["reason"], "already-built");

    // Missing headers: an error record with kind and exit code 21, then result.
    let (code, out, _) = t.run(&["build", "--json", "dkms_hello/1.0", "-k", "6.1.0-1-noheaders"], "");
    assert_eq!(code, 21);
    let recs = v.check(&out, 21);
    assert_eq!(types(&recs), ["error", "result"]);
    assert_eq!(recs[0]["kind"], "kernel-headers-missing");
    assert_eq!(recs[0]["kernel"], "6.1.0-1-noheaders");

    let (code, out, _) = t.run(&["status", "--json"], "");
    assert_eq!(code, 0);
    assert_eq!(types(&v.check(&out, 0)), ["status", "result"]);

    if is_root() {
        let (code, out, err) = t.run(&["install", "--json", "dkms_hello/1.0", "-k", KVER], "");
        assert_eq!(code, 0, "{err}");
        assert_eq!(types(&v.check(&out, 0)), ["installed", "result"]);
        let (code, out, _) = t.run(&["uninstall", "--json", "dkms_hello/1.0", "-k", KVER], "");
        assert_eq!(code, 0);
        assert_eq!(types(&v.check(&out, 0)), ["uninstalled", "result"]);
        let (code, out, _) = t.run(&["autoinstall", "--json", "-k", KVER], "");
        assert_eq!(code, 0);
        assert!(types(&v.check(&out, 0)).contains(&"installed".to_string()));
    } else {
        skip_part("the install, uninstall and autoinstall records", NEEDS_ROOT);
    }
    let (code, out, _) = t.run(&["unbuild", "--json", "dkms_hello/1.0", "-k", KVER], "");
    assert_eq!(code, 0);
    assert!(types(&v.check(&out, 0)).contains(&"unbuilt".to_string()));
    let (code, out, _) = t.run(&["remove", "--json", "dkms_hello/1.0", "--all"], "");
    assert_eq!(code, 0);
    assert!(types(&v.check(&out, 0)).contains(&"removed".to_string()));

    // Usage errors keep upstream's exit codes; the records still validate.
    let (code, out, _) = t.run(&["remove", "--json", "-m", "nothing", "-v", "1"], "");
    assert_eq!(code, 3);
    assert_eq!(v.check(&out, 3)[0]["kind"], "module-not-added");
}

#[test]
fn pipeline_add_build_install() {
    let t = Tree::new();
    let v = Validator::new();
    let (code, added, _) = t.run(&["add", "--json", "-m", "dkms_hello", "-v", "1.0"], "");
    assert_eq!(code, 0);
    // A record of an unknown type and a foreign error are in the stream too.
    let foreign_error =
        r#"{"format_version":1,"type":"error","kind":"x","exit_code":9,"message":"m","module":"other","version":"2"}"#;
    let input = format!("{added}{{\"format_version\":1,\"type\":\"from-the-future\"}}\n{foreign_error}\n");
    let (code, built, err) = t.run(&["build", "--json", "-", "-k", KVER], &input);
    assert_eq!(code, 0, "{err}");
    let recs = v.check(&built, 0);
    assert_eq!(types(&recs), ["error", "built", "result"], "the foreign error is passed through first");
    assert_eq!(built.lines().next().unwrap(), foreign_error);
    assert_eq!(recs[1]["kernel"], KVER);
    let (final_state, expected) = if is_root() {
        let (code, out, err) = t.run(&["install", "--json", "-"], &built);
        assert_eq!(code, 0, "{err}");
        let recs = v.check(&out, 0);
        assert_eq!(types(&recs), ["error", "installed", "result"]);
        assert!(t.path(&format!("modules/{KVER}/updates/dkms/dkms_hello.ko")).is_file());
        ("installed", "installed")
    } else {
        skip_part("the install stage of the pipeline", NEEDS_ROOT);
        ("built", "built")
    };
    let (_, status, _) = t.run(&["status", "--json"], "");
    let states: Vec<String> = v
        .check(&status, 0)
        .iter()
        .filter(|r| r["type"] == "status")
        .map(|r| format!("{}/{} {} {}", r["module"], r["version"], r["kernel"], r["state"]).replace('"', ""))
        .collect();
    assert_eq!(states, [format!("dkms_hello/1.0 {KVER} {expected}")], "final state {final_state}");
    // The same check with jq, as the README recipes do, where jq exists.
    if Command::new("jq").arg("--version").output().is_ok() {
        let mut jq = Command::new("jq")
            .args(["-r", r#"select(.type=="status") | "\(.module) \(.state)""#])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        jq.stdin.take().unwrap().write_all(status.as_bytes()).unwrap();
        let o = jq.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), format!("dkms_hello {expected}\n"));
    } else {
        skip_part("the check with jq", "jq is not installed");
    }
}

#[test]
fn status_json_matches_text_status() {
    let t = Tree::new();
    // added, built, broken (and installed when root)
    for (m, v) in [("m_added", "1"), ("m_built", "2"), ("m_broken", "3")] {
        let src = t.path(&format!("src/{m}-{v}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("dkms.conf"),
            format!(
                "PACKAGE_NAME={m}\nPACKAGE_VERSION={v}\nBUILT_MODULE_NAME[0]={m}\nDEST_MODULE_LOCATION[0]=/extra\n"
            ),
        )
        .unwrap();
        std::fs::write(src.join("Makefile"), format!("obj-m += {m}.o\n")).unwrap();
        assert_eq!(t.run(&["add", "-m", m, "-v", v], "").0, 0);
    }
    assert_eq!(t.run(&["build", "m_built/2", "-k", KVER], "").0, 0);
    std::fs::remove_file(t.path("dkms/m_broken/3/source")).unwrap();
    if is_root() {
        assert_eq!(t.run(&["install", "dkms_hello/1.0", "-k", KVER], "").0, 0);
    } else {
        skip_part("an installed module in the compared status", NEEDS_ROOT);
    }
    let (_, text, _) = t.run(&["status"], "");
    let from_text: BTreeSet<String> = text
        .lines()
        .map(|l| {
            let (head, state) = l.rsplit_once(": ").unwrap();
            let parts: Vec<&str> = head.split(", ").collect();
            format!("{} {} {}", parts[0], parts.get(1).unwrap_or(&"-"), state.split(' ').next().unwrap())
        })
        .collect();
    let (_, json, _) = t.run(&["status", "--json"], "");
    let from_json: BTreeSet<String> = Validator::new()
        .check(&json, 0)
        .iter()
        .filter(|r| r["type"] == "status")
        .map(|r| {
            format!("{}/{} {} {}", r["module"], r["version"], r["kernel"].as_str().unwrap_or("-"), r["state"])
                .replace('"', "")
        })
        .collect();
    assert_eq!(from_text, from_json);
    assert!(from_json.contains("m_broken/3 - broken"));
    assert!(from_json.contains(&format!("m_built/2 {KVER} built")));
}

#[test]
fn tarball_mok_and_kernel_hooks_validate() {
    let t = Tree::new();
    let v = Validator::new();
    let conf = t.path("etc/dkms/framework.conf");
    let mut fw = std::fs::read_to_string(&conf).unwrap();
    fw.push_str(&format!(
        "mok_signing_key=\"{}\"\nmok_certificate=\"{}\"\n",
        t.path("mok.key").display(),
        t.path("mok.pub").display()
    ));
    std::fs::write(&conf, fw).unwrap();
    let (code, out, err) = t.run(&["generate_mok", "--json"], "");
    assert_eq!(code, 0, "{err}");
    let recs = v.check(&out, 0);
    assert_eq!(types(&recs), ["mok", "result"]);
    assert!(t.path("mok.key").is_file() && t.path("mok.pub").is_file());

    assert_eq!(t.run(&["add", "-m", "dkms_hello", "-v", "1.0"], "").0, 0);
    assert_eq!(t.run(&["build", "dkms_hello/1.0", "-k", KVER], "").0, 0);
    let tarball = t.path("hello.dkms.tar.gz");
    let archive = format!("--archive={}", tarball.display());
    let (code, out, err) = t.run(&["mktarball", "--json", "dkms_hello/1.0", "-k", KVER, &archive], "");
    assert_eq!(code, 0, "{err}");
    let recs = v.check(&out, 0);
    assert_eq!(types(&recs), ["tarball-created", "result"]);
    assert_eq!(recs[0]["builds"][0], format!("{KVER}/{}", crate::support::arch()));

    // Into a fresh tree, without rebuilding.
    let fresh = Tree::new();
    let tb = tarball.display().to_string();
    let (code, out, err) = fresh.run(&["ldtarball", "--json", &tb], "");
    if is_root() {
        assert_eq!(code, 0, "{err}");
        let recs = v.check(&out, 0);
        assert!(types(&recs).contains(&"tarball-loaded".to_string()), "{out}");
        let (code, out, err) = fresh.run(&["kernel_prerm", "--json", "-k", KVER], "");
        assert_eq!(code, 0, "{err}");
        assert!(types(&v.check(&out, 0)).contains(&"unbuilt".to_string()));
        let (code, out, _) = fresh.run(&["kernel_postinst", "--json", "-k", KVER], "");
        assert_eq!(code, 0);
        assert!(types(&v.check(&out, 0)).contains(&"installed".to_string()));
        let (code, out, _) = fresh.run(&["kernel_preinst", "--json", "-k", KVER], "");
        assert_eq!(code, 0);
        v.check(&out, 0);
        let (code, out, _) = fresh.run(&["match", "--json", "--templatekernel", KVER, "-k", "6.1.0-2-other"], "");
        assert_eq!(code, 0);
        v.check(&out, 0);
    } else {
        skip_part("the loaded tarball's kernel_* records", NEEDS_ROOT);
        // ldtarball of a source tarball needs root, as upstream.
        assert_eq!(code, 1);
        assert_eq!(v.check(&out, 1)[0]["kind"], "not-root");
    }
}

/// Every way the argument parser and the start-up checks refuse a command
/// line, through the front-end and through each verb's own binary: in JSON
/// mode stdout is JSON Lines only, schema-valid, ending with `result` (or,
/// for `--version`, being one `version` record). Upstream's text is
/// unchanged (checked by the conformance suite).
#[test]
fn argument_errors_are_json_with_a_result() {
    let t = Tree::new();
    let v = Validator::new();
    // (arguments after the verb, exit status)
    let errors: &[(&[&str], i32)] = &[
        (&["--bogus"], 2),
        (&["-kfoo"], 2),
        (&["--format="], 2),
        (&["--format=xml"], 2),
        (&["--lock-timeout=abc"], 2),
        (&["--lock-timeout", "-1"], 2),
        (&["add"], 4),
        (&["-k", KVER, "--all"], 2),
        (&["-a", "x86_64", "--all"], 3),
        (&["-k", ""], 16),
        (&["-k", KVER, "-a", ""], 16),
        (&["--binaries-only", "--source-only"], 8),
        (&["--help"], 0),
    ];
    let verbs: Vec<&str> = dkms_cli::table::VERBS.iter().map(|v| v.name).collect();
    let mut runs = 0;
    for verb in &verbs {
        for (args, code) in errors {
            // "add" as a second action: for the add verb, use another.
            let args: Vec<&str> =
                args.iter().map(|a| if *a == "add" && *verb == "add" { "remove" } else { a }).collect();
            for direct in [false, true] {
                let mut c = t.cmd(&[]);
                if direct {
                    let bin = dkms_cli::table::VERBS.iter().find(|v| v.name == *verb).unwrap().binary;
                    c = Command::new(crate::fake::bin_dir().join(bin));
                    c.args(&args).arg("--json").arg("--dkmstree").arg(t.path("dkms"));
                } else {
                    c.args([verb]).args(&args).arg("--json");
                }
                let o = c.stdin(Stdio::null()).output().unwrap();
                let (got, out) = (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout));
                let ctx = format!("{verb} {args:?} (direct: {direct})");
                // -k with kernel_* and an empty one: the checks' order
                // decides which of the refusals comes first.
                let expected = *code;
                // Our own verbs (mktree, ...) next to an upstream action
                // word are a plain word (a module name), not a second action.
                let extension = dkms_cli::table::verb_by_name(verb).is_some_and(|v| v.extension);
                let loose = verb.starts_with("kernel_") || *verb == "status" || *verb == "generate_mok";
                if got != expected && !loose && !(extension && args.contains(&"add")) {
                    panic!("{ctx}: exit {got}, expected {expected}\n{out}");
                }
                std::panic::catch_unwind(|| v.check(&out, got)).unwrap_or_else(|_| panic!("{ctx}: {out}"));
                runs += 1;
            }
        }
    }
    // The front-end's own paths: no action, two actions, an unknown option,
    // a plugin that cannot be run (its interpreter is missing); each error
    // names its kind, whose status is the registry's.
    let plugin = t.path("bin/dkms-zt-unrunnable");
    std::fs::create_dir_all(t.path("bin")).unwrap();
    std::fs::write(&plugin, "#!/nonexistent/interpreter\n").unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for (args, code, kind) in [
        (&["--json"][..], 0, "action-missing"),
        (&["--json", "add", "remove"], 4, "several-actions"),
        (&["--json", "--bogus"], 2, "usage"),
        (&["zt-unrunnable", "--json"], 126, "exec-failed"),
    ] {
        assert_one_error(&t, &v, args, code, kind);
        runs += 1;
    }
    let (code, out, _) = t.run(&["--json", "--version"], "");
    assert_eq!(code, 0);
    let line: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(v.schemas.validate(&line, v.id).is_ok(), "{out}");
    assert_eq!((line["type"].as_str(), line["version"].as_str()), (Some("version"), Some("dkms-3.4.3")));
    // A lock held elsewhere past --lock-timeout: exit 75, error then result.
    let mut holder = Command::new("flock").arg(t.path("dkms/.lock")).args(["sleep", "30"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (code, out, _) = t.run(&["add", "--json", "--lock-timeout=1", "dkms_hello/1.0"], "");
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code, 75, "{out}");
    assert_eq!(types(&v.check(&out, 75)), ["error", "result"]);
    eprintln!("argument errors: {runs} command lines checked");
}

/// `dkms ARGS` exits `code` with exactly one `error` record, of `kind` and
/// `code`, in a stream that validates.
fn assert_one_error(t: &Tree, v: &Validator, args: &[&str], code: i32, kind: &str) {
    let (got, out, err) = t.run(args, "");
    assert_eq!(got, code, "{args:?}: {out}{err}");
    let recs = v.check(&out, code);
    let errors: Vec<_> = recs.iter().filter(|r| r["type"] == "error").collect();
    assert_eq!(errors.len(), 1, "{args:?}: {out}");
    assert_eq!((errors[0]["kind"].as_str(), errors[0]["exit_code"].as_i64()), (Some(kind), Some(code.into())));
}

/// A stage that fails names itself: its kind and its status come from the
/// registry (`dkms_state::kind`), not from the place that failed.
#[test]
fn failing_stages_name_their_kind() {
    let t = Tree::new();
    let v = Validator::new();
    let missing = t.path("no-such-cache").display().to_string();
    let holder = t.path("").display().to_string();
    for (args, code, kind) in [
        (&["cache", "verify", &missing, "--json"][..], 1, "cache-dir-unreadable"),
        (&["cache", "gc", &missing, "--keep-kernels", "none", "--json"], 1, "cache-dir-unreadable"),
        (&["mktree", "zt_self/1.0", "--from", &holder, "--json"], 2, "from-holds-source-tree"),
    ] {
        assert_one_error(&t, &v, args, code, kind);
    }
    assert!(!t.path("src/zt_self-1.0").exists(), "mktree refused, yet made the tree");
}

/// `status -` filters the failure memory by each stdin record's kernel
/// (not the command line's -k): a record naming one kernel gets that
/// kernel's `failed` record only, one naming none gets every kernel's.
#[test]
fn status_from_stdin_filters_failures_by_the_record_kernel() {
    const OTHER: &str = "6.1.0-78-jsontest";
    let t = Tree::new();
    let v = Validator::new();
    let headers = t.path(&format!("modules/{OTHER}/build/include"));
    std::fs::create_dir_all(&headers).unwrap();
    std::fs::write(headers.join("version.h"), "").unwrap();
    t.add_failing_source("broke", "1.0");
    assert_eq!(t.run(&["add", "broke/1.0"], "").0, 0);
    for k in [KVER, OTHER] {
        let (code, _, err) = t.run(&["build", "broke/1.0", "-k", k], "");
        assert_ne!(code, 0, "the build for {k} fails: {err}");
    }
    let failed = |args: &[&str], input: &str| -> Vec<String> {
        let (code, out, err) = t.run(args, input);
        assert_eq!(code, 0, "{args:?}: {err}");
        let recs = v.check(&out, 0);
        recs.iter().filter(|r| r["type"] == "failed").map(|r| r["kernel"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(failed(&["status", "--json"], "").len(), 2);
    assert_eq!(failed(&["status", "--json", "-k", KVER], ""), [KVER]);
    let record = |k: Option<&str>| {
        let k = k.map_or(String::new(), |k| format!(r#","kernel":"{k}""#));
        format!("{{\"format_version\":1,\"type\":\"added\",\"module\":\"broke\",\"version\":\"1.0\"{k}}}\n")
    };
    assert_eq!(failed(&["status", "--json", "-", "-k", KVER], &record(Some(OTHER))), [OTHER]);
    assert_eq!(failed(&["status", "--json", "-"], &record(Some(KVER))), [KVER]);
    assert_eq!(failed(&["status", "--json", "-"], &record(None)).len(), 2);
}
