//! Proof that `shell::plain` (dkms.conf evaluation without bash) gives exactly
//! what bash gives through `safe_source` (`shell::source_by_bash`): values
//! of every whitelisted variable at every index, the files reported, the
//! deprecation report and the captured stderr. Every real dkms.conf of
//! `reference/dkms-conf-corpus/`, every dkms.conf of upstream's test suite
//! and a few hundred generated variants (quoting, arrays, indexes, the
//! second expansion of the write-back, word splitting and pathname
//! expansion in its `echo`, override chains, CRLF) are evaluated in several
//! contexts; wherever `shell::plain` answers, bash must agree, and a good
//! share of the real confs must be answered.
//! Without ../shared (the corpus and upstream's code) these tests are
//! reported skipped, and fail under `CI=true`.

// Tests run programs and read the environment directly: the funnels of
// clippy.toml are rules for the product, not for the code that drives it.
#![allow(clippy::disallowed_methods)]

use dkms_state::conf::{DEPRECATED, DKMS_CONF_VARIABLES};
use dkms_state::shell::plain;
use dkms_state::shell::{self, Request, Sourced};
use std::fs;
use std::path::{Path, PathBuf};

/// The skip reporting shared with the `cli` tests (ledger, CI rule).
#[path = "../../../tests/cli/skip.rs"]
mod skip;
use skip::skip_unless;
#[path = "plain_eval/cases.rs"]
mod cases;
use cases::*;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The variables `read_conf` gives a conf (`Dkms::shell_context` and
/// `conf::request`), for one kernel.
#[derive(Clone)]
struct Ctx {
    kernelver: &'static str,
    dkms_tree: String,
    kernel_source_dir: String,
    force: &'static str,
}

impl Ctx {
    fn request(&self, files: Vec<PathBuf>, strict: bool) -> Request {
        let ctx: Vec<(&str, String)> = vec![
            ("dkms_tree", self.dkms_tree.clone()),
            ("source_tree", "/usr/src".into()),
            ("install_tree", "/lib/modules".into()),
            ("tmp_location", "/tmp".into()),
            ("parallel_jobs", "4".into()),
            ("running_distribution", "debian".into()),
            ("current_kernel", "6.1.0-99-amd64".into()),
            ("current_os", "Linux".into()),
            ("verbose", String::new()),
            ("force", self.force.into()),
            ("module", "zt".into()),
            ("module_version", "1.0".into()),
            ("kernelver", self.kernelver.into()),
            ("arch", "x86_64".into()),
            ("kernel_source_dir", self.kernel_source_dir.clone()),
            ("kernel_config", format!("{}/.config", self.kernel_source_dir)),
        ];
        Request {
            context: ctx.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            unset_first: true,
            preset: Vec::new(),
            files,
            whitelist: DKMS_CONF_VARIABLES.to_vec(),
            report: if strict { DEPRECATED.to_vec() } else { Vec::new() },
            capture_stderr: true,
        }
    }
}

fn contexts(tmp: &Path) -> Vec<Ctx> {
    let ksrc = tmp.join("ksrc");
    fs::create_dir_all(&ksrc).unwrap();
    fs::write(ksrc.join(".config"), "CONFIG_ZT=y\n").unwrap();
    vec![
        Ctx {
            kernelver: "6.1.0-99-amd64",
            dkms_tree: "/var/lib/dkms".into(),
            kernel_source_dir: ksrc.display().to_string(),
            force: "",
        },
        Ctx {
            kernelver: "4.19.0-1-686-pae",
            dkms_tree: "/var/lib/dkms".into(),
            kernel_source_dir: "/lib/modules/4.19.0-1-686-pae/build".into(),
            force: "true",
        },
        // Context values that the write-back's second expansion re-reads:
        // blanks, a `$` expansion, a glob character, a double quote.
        Ctx {
            kernelver: "5.10.0-1-amd64",
            dkms_tree: "/var/lib/a  b/$kernelver/*".into(),
            kernel_source_dir: "/src/\"q\"/x".into(),
            force: "",
        },
    ]
}

/// One comparison.
struct Case {
    label: String,
    req: Request,
}

/// Evaluates every case both ways; returns (accepted labels, mismatches).
// Test code: a switch for more output, read directly.
fn compare(cases: &[Case]) -> (Vec<String>, Vec<String>) {
    let ours: Vec<Option<Sourced>> = cases.iter().map(|c| plain::evaluate(&c.req)).collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    let chunk = cases.len().div_ceil(threads).max(1);
    let theirs: Vec<Sourced> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let reqs: Vec<Request> = part.iter().map(|c| c.req.clone()).collect();
                    shell::source_by_bash(&reqs).expect("run bash")
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(theirs.len(), cases.len(), "bash answered every request");
    let mut accepted = Vec::new();
    let mut mismatches = Vec::new();
    let verbose = std::env::var_os("CONFSTATIC_VERBOSE").is_some();
    for ((c, o), t) in cases.iter().zip(ours).zip(theirs) {
        if verbose {
            eprintln!("{} {}", if o.is_some() { "accepted" } else { "refused " }, c.label);
        }
        let Some(o) = o else { continue };
        accepted.push(c.label.clone());
        if o != t {
            mismatches.push(format!(
                "{}:\n  text:  {:?}\n  ours:  {:?}\n  bash:  {:?} stderr {:?}",
                c.label,
                c.req.files.iter().map(|f| fs::read_to_string(f).unwrap_or_default()).collect::<Vec<_>>(),
                o,
                t,
                String::from_utf8_lossy(&t.stderr)
            ));
        }
    }
    (accepted, mismatches)
}

fn real_confs() -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    let corpus = shared().join("reference/dkms-conf-corpus");
    let mut names: Vec<_> = fs::read_dir(&corpus).into_iter().flatten().flatten().map(|e| e.path()).collect();
    names.sort();
    for p in names {
        files.push((format!("corpus/{}", p.file_name().unwrap().to_string_lossy()), p));
    }
    let tests = shared().join("conformance/upstream/test");
    let mut found = Vec::new();
    let mut dirs = vec![tests.clone()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.file_name().is_some_and(|n| n == "dkms.conf") {
                found.push(p);
            }
        }
    }
    found.sort();
    for p in found {
        let label = format!("upstream/{}", p.strip_prefix(&tests).unwrap().display());
        files.push((label, p));
    }
    files
}

#[test]
fn real_confs_match_bash() {
    let corpus = shared().join("reference/dkms-conf-corpus");
    skip_unless!(corpus.is_dir(), &format!("{} is absent", corpus.display()));
    let files = real_confs();
    let tmp = tempfile::tempdir().unwrap();
    let ctxs = contexts(tmp.path());
    let mut cases = Vec::new();
    for (label, file) in &files {
        for (n, ctx) in ctxs.iter().enumerate() {
            for strict in [false, true] {
                let label = format!("{label} (context {n}, strict {strict})");
                cases.push(Case { label, req: ctx.request(vec![file.clone()], strict) });
            }
        }
    }
    let (accepted, mismatches) = compare(&cases);
    assert!(mismatches.is_empty(), "{} differ from bash:\n{}", mismatches.len(), mismatches.join("\n"));
    // A file counts as accepted when its evaluation in the first context
    // (an ordinary one) is.
    let accepted_files = |prefix: &str| {
        files
            .iter()
            .filter(|(l, _)| l.starts_with(prefix))
            .filter(|(l, _)| accepted.contains(&format!("{l} (context 0, strict false)")))
            .count()
    };
    let total = |prefix: &str| files.iter().filter(|(l, _)| l.starts_with(prefix)).count();
    let (corpus, fixtures) = (accepted_files("corpus/"), accepted_files("upstream/"));
    eprintln!(
        "shell::plain: corpus {corpus}/{}, upstream fixtures {fixtures}/{}, evaluations {}/{} accepted, all equal to bash",
        total("corpus/"),
        total("upstream/"),
        accepted.len(),
        cases.len()
    );
    if total("corpus/") == 45 {
        assert!(corpus >= 30, "only {corpus} of the 45 real confs are evaluated without bash");
    }
    if total("upstream/") > 0 {
        // All of them: upstream's own test confs are plain.
        assert_eq!(fixtures, total("upstream/"), "every upstream fixture is evaluated without bash");
    }
}

/// Names a value is assigned to: whitelisted (written back), at an index,
/// and a plain variable read back through a whitelisted one.
fn with_value(v: &str) -> Vec<String> {
    vec![
        format!("MAKE={v}\n"),
        format!("BUILT_MODULE_NAME[3]={v}\n"),
        format!("x={v}\nPACKAGE_NAME=\"[$x]\"\n"),
        format!("PATCH=({v} z)\n"),
    ]
}

#[test]
fn generated_confs_match_bash() {
    let tmp = tempfile::tempdir().unwrap();
    let ctxs = contexts(tmp.path());
    let mut texts: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    for v in VALUES {
        texts.extend(with_value(v));
    }
    let mut cases = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let f = tmp.path().join(format!("gen{i}.conf"));
        fs::write(&f, text).unwrap();
        for (n, ctx) in ctxs.iter().enumerate() {
            cases.push(Case {
                label: format!("gen{i} {text:?} (context {n})"),
                req: ctx.request(vec![f.clone()], n == 1),
            });
        }
    }
    let (accepted, mismatches) = compare(&cases);
    assert!(mismatches.is_empty(), "{} differ from bash:\n{}", mismatches.len(), mismatches.join("\n"));
    eprintln!(
        "shell::plain: generated {} files, {} of {} evaluations accepted, all equal to bash",
        texts.len(),
        accepted.len(),
        cases.len()
    );
    assert!(accepted.len() * 2 > cases.len(), "most generated confs are plain: {} of {}", accepted.len(), cases.len());
    // Sanity: the generator exercises what it claims to.
    let ok = |text: &str| accepted.iter().any(|l| l.contains(&format!("{text:?} (context 0)")));
    for plain in ["PATCH=(a.patch b.patch)\n", "MAKE='$kernelver'\n", "BUILT_MODULE_NAME[3]=\"a b\"\n", "MAKE=yes\r\n"]
    {
        assert!(ok(plain), "{plain:?} should be accepted");
    }
    for refused in ["MAKE=$(uname)\n", "MAKE=\"a *.toml b\"\n", "PATCH=(*.patch)\n", "MAKE='$HOME'\n"] {
        assert!(!ok(refused), "{refused:?} should be refused");
    }
}

/// Random confs (a fixed seed: the same ones every run), a few lines of
/// `NAME=` and random pieces each, bare or in quotes.
fn random_confs(n: usize) -> Vec<String> {
    let mut seed: u64 = 0x5eed_d1c5;
    let mut next = |m: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as usize) % m
    };
    (0..n)
        .map(|_| {
            let mut text = String::new();
            for _ in 0..1 + next(4) {
                text.push_str(NAMES[next(NAMES.len())]);
                text.push('=');
                // Bare, in double quotes or in single quotes.
                let quote = ["", "\"", "'"][next(3)];
                text.push_str(quote);
                for _ in 0..next(5) {
                    text.push_str(PIECES[next(PIECES.len())]);
                }
                text.push_str(quote);
                text.push('\n');
            }
            text
        })
        .collect()
}

#[test]
fn random_confs_match_bash() {
    let tmp = tempfile::tempdir().unwrap();
    let ctxs = contexts(tmp.path());
    let texts = random_confs(1000);
    let mut cases = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let f = tmp.path().join(format!("rnd{i}.conf"));
        fs::write(&f, text).unwrap();
        for (n, ctx) in ctxs.iter().enumerate().take(2) {
            cases.push(Case {
                label: format!("rnd{i} {text:?} (context {n})"),
                req: ctx.request(vec![f.clone()], n == 1),
            });
        }
    }
    let (accepted, mismatches) = compare(&cases);
    assert!(mismatches.is_empty(), "{} differ from bash:\n{}", mismatches.len(), mismatches.join("\n"));
    eprintln!(
        "shell::plain: random {} files, {} of {} evaluations accepted, all equal to bash",
        texts.len(),
        accepted.len(),
        cases.len()
    );
    assert!(
        accepted.len() * 5 > cases.len(),
        "the random confs exercise the evaluator: {} of {}",
        accepted.len(),
        cases.len()
    );
}

/// The /etc/dkms override chain: each file sourced on top of the last
/// one's write-back (values expanded once more per file).
#[test]
fn override_chains_match_bash() {
    let tmp = tempfile::tempdir().unwrap();
    let ctxs = contexts(tmp.path());
    let chains: &[&[&str]] = &[
        &["PACKAGE_NAME=a\nMAKE=make\n", "MAKE=\"make from-override\"\nAUTOINSTALL=yes\n"],
        &["PACKAGE_NAME=a\nMAKE=make\n", "MAKE=\"$MAKE extra\"\n", "MAKE[1]=\"${MAKE} again\"\n"],
        &["PACKAGE_NAME=a\nMAKE='\\$kernelver'\n", "AUTOINSTALL=yes\n"],
        &["PACKAGE_NAME=a\nMAKE='\\$nothere'\n", "AUTOINSTALL=yes\n"],
        &["PACKAGE_NAME=a\nMAKE='\\\\\\\\x'\n", "AUTOINSTALL=yes\n", "CLEAN=c\n"],
        &["PACKAGE_NAME=a\nMAKE=\"a  b\"\n", "x=1\n"],
        &["PACKAGE_NAME=a\nPATCH=(x y z)\n", "PATCH[1]=Y\n"],
        &["PACKAGE_NAME=a\n", "PACKAGE_NAME=$(echo b)\n"],
        &["PACKAGE_NAME=a\nCLEAN=true\n", "REMAKE_INITRD=yes\n"],
        &["PACKAGE_NAME=a\r\n", "PACKAGE_VERSION=1\r\n"],
        &["", ""],
    ];
    let mut cases = Vec::new();
    for (i, chain) in chains.iter().enumerate() {
        let mut files: Vec<PathBuf> = chain
            .iter()
            .enumerate()
            .map(|(j, text)| {
                let f = tmp.path().join(format!("chain{i}-{j}.conf"));
                fs::write(&f, text).unwrap();
                f
            })
            .collect();
        // Missing files of the chain are skipped, as `read_conf` does.
        files.insert(1, tmp.path().join("missing.conf"));
        for (n, ctx) in ctxs.iter().enumerate() {
            for strict in [false, true] {
                cases.push(Case {
                    label: format!("chain{i} {chain:?} (context {n}, strict {strict})"),
                    req: ctx.request(files.clone(), strict),
                });
            }
        }
    }
    let (accepted, mismatches) = compare(&cases);
    assert!(mismatches.is_empty(), "{} differ from bash:\n{}", mismatches.len(), mismatches.join("\n"));
    eprintln!(
        "shell::plain: override chains {} of {} evaluations accepted, all equal to bash",
        accepted.len(),
        cases.len()
    );
    assert!(accepted.len() * 2 > cases.len());
}

/// `shell::source` answers plain requests itself and the others by bash,
/// in the order asked.
#[test]
fn source_mixes_both_paths_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = &contexts(tmp.path())[0];
    let texts = ["PACKAGE_NAME=plain\n", "PACKAGE_NAME=$(echo bash)\n", "PACKAGE_NAME='plain $kernelver'\n"];
    let reqs: Vec<Request> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let f = tmp.path().join(format!("m{i}.conf"));
            fs::write(&f, t).unwrap();
            ctx.request(vec![f], false)
        })
        .collect();
    assert!(plain::evaluate(&reqs[0]).is_some());
    assert!(plain::evaluate(&reqs[1]).is_none());
    let got = shell::source(&reqs).unwrap();
    let names: Vec<&str> = got.iter().map(|s| s.scalar("PACKAGE_NAME")).collect();
    assert_eq!(names, ["plain", "bash", "plain 6.1.0-99-amd64"]);
    assert_eq!(got, shell::source_by_bash(&reqs).unwrap());
}
