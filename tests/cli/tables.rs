//! The verb table (`dkms_cli::table::VERBS`), the files `bin/dkms-*.rs` and
//! the `[[bin]]` entries of the root Cargo.toml must agree, and every binary
//! cargo built must run.

use dkms_cli::table::{verb_by_binary, verb_by_name, FLAGS, VERBS};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `(name, path)` of every `[[bin]]` table in the root Cargo.toml, by plain
/// line scanning (keys `name = "..."` and `path = "..."` inside the table).
fn bin_entries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).expect("read Cargo.toml");
    let mut out = Vec::new();
    let mut cur: Option<(Option<String>, Option<String>)> = None;
    let mut flush = |cur: &mut Option<(Option<String>, Option<String>)>| {
        if let Some((name, path)) = cur.take() {
            out.push((name.expect("[[bin]] without name"), path.expect("[[bin]] without path")));
        }
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.starts_with('[') {
            flush(&mut cur);
            if line == "[[bin]]" {
                cur = Some((None, None));
            }
            continue;
        }
        let Some(entry) = cur.as_mut() else { continue };
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.trim().trim_matches('"').to_string();
        match key.trim() {
            "name" => entry.0 = Some(value),
            "path" => entry.1 = Some(value),
            _ => {}
        }
    }
    flush(&mut cur);
    out
}

#[test]
fn cargo_toml_scan_finds_the_front_end() {
    let bins = bin_entries();
    assert!(bins.contains(&("dkms".to_string(), "bin/dkms.rs".to_string())), "{bins:?}");
    assert!(bins.len() >= 2, "expected the front-end and at least one verb: {bins:?}");
}

#[test]
fn bin_files_cargo_entries_and_verbs_agree() {
    let bins = bin_entries();
    let names: BTreeSet<&str> = bins.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), bins.len(), "duplicate [[bin]] names: {bins:?}");

    // Every [[bin]] path exists, is named after its file, and is either the
    // front-end or a verb of the table.
    for (name, path) in &bins {
        assert!(root().join(path).is_file(), "[[bin]] {name}: {path} does not exist");
        assert_eq!(path, &format!("bin/{name}.rs"), "[[bin]] {name} should live in bin/{name}.rs");
        assert!(name == "dkms" || verb_by_binary(name).is_some(), "[[bin]] {name} is not a binary of VERBS");
    }

    // Every bin/*.rs has its [[bin]] entry.
    let mut files = Vec::new();
    for e in std::fs::read_dir(root().join("bin")).expect("read bin/") {
        let name = e.expect("dir entry").file_name().into_string().expect("utf-8 name");
        if let Some(stem) = name.strip_suffix(".rs") {
            files.push(stem.to_string());
        }
    }
    assert!(files.iter().any(|f| f == "dkms"), "bin/dkms.rs missing");
    for stem in &files {
        let path = format!("bin/{stem}.rs");
        assert!(
            bins.iter().any(|(n, p)| n == stem && *p == path),
            "bin/{stem}.rs has no [[bin]] entry with name = \"{stem}\", path = \"{path}\""
        );
        if stem != "dkms" {
            assert!(verb_by_binary(stem).is_some(), "bin/{stem}.rs is not a binary of VERBS");
        }
    }
}

#[test]
fn verb_table_is_consistent() {
    let mut seen_names = BTreeSet::new();
    let mut seen_bins = BTreeSet::new();
    for v in VERBS.iter() {
        assert!(seen_names.insert(v.name), "duplicate verb {}", v.name);
        assert!(seen_bins.insert(v.binary), "duplicate binary {}", v.binary);
        // `kernel_postinst` is implemented by `dkms-kernel-postinst`.
        assert_eq!(v.binary, format!("dkms-{}", v.name.replace('_', "-")));
        assert_eq!(verb_by_name(v.name), Some(*v));
        assert_eq!(verb_by_binary(v.binary), Some(*v));
        assert!(!v.summary.is_empty(), "{} has no summary", v.name);
    }
    // Upstream's action words, all of them.
    let upstream: BTreeSet<&str> = "remove install uninstall autoinstall match mktarball build unbuild add status \
                                    ldtarball generate_mok kernel_preinst kernel_postinst kernel_prerm"
        .split_whitespace()
        .collect();
    let ours: BTreeSet<&str> = VERBS.iter().filter(|v| !v.extension).map(|v| v.name).collect();
    assert_eq!(ours, upstream);
    // Our additions, documented as such (the reference page's words that
    // upstream never shipped).
    let extensions: BTreeSet<&str> = VERBS.iter().filter(|v| v.extension).map(|v| v.name).collect();
    assert_eq!(
        extensions,
        ["cache", "doctor", "enroll", "kernel_queue", "kernel_trigger", "log", "ltdk", "mktree", "sign", "unmktree"]
            .into_iter()
            .collect()
    );
    for v in VERBS.iter().filter(|v| v.extension) {
        assert!(v.description.contains("Not in upstream dkms"), "{}: not documented as an addition", v.name);
    }
    assert!(verb_by_name("frobnicate").is_none());
    // Options: long names unique, short letters unique.
    let mut longs = BTreeSet::new();
    let mut shorts = BTreeSet::new();
    for f in FLAGS.iter() {
        assert!(f.long.is_empty() || longs.insert(f.long), "duplicate option {}", f.long);
        if let Some(c) = f.short {
            assert!(shorts.insert(c), "duplicate option -{c}");
        }
    }
}

/// Cargo builds every `[[bin]]` next to `dkms` before running integration
/// tests; each verb binary must start, and answer `--version` like upstream.
#[test]
fn every_built_binary_runs() {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_dkms")).parent().expect("bin dir").to_path_buf();
    for (name, _) in bin_entries() {
        let exe = dir.join(&name);
        assert!(exe.is_file(), "{name} was not built at {}", exe.display());
        let out = std::process::Command::new(&exe).arg("--version").output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{name} --version: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "dkms-3.4.3\n", "{name} --version");
    }
}

/// The sub-words of a verb in the table (what completion offers after
/// `dkms cache`) are the ones the verb acts on, and it refuses others.
#[test]
fn sub_words_are_what_the_verb_takes() {
    let cache = verb_by_name("cache").expect("cache");
    let words: Vec<&str> = cache.sub_words.iter().map(|w| w.word).collect();
    assert_eq!(words, ["key", "push", "deb", "verify", "gc", "gate", "status", "kmm"]);
    assert!(cache.operands.contains(&dkms_cli::table::Operand::SubWord));
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = |word: &str| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_dkms"));
        c.args(["cache", word, "--dkmstree"]).arg(tmp.path()).env("DKMS_SYSCONFDIR", tmp.path());
        let out = c.output().expect("run dkms cache");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for w in &words {
        let err = run(w);
        assert!(!err.contains("Unknown cache action"), "cache {w}: {err}");
    }
    assert!(run("frobnicate").contains("Unknown cache action: frobnicate"));
    for v in VERBS.iter() {
        assert_eq!(v.sub_words.is_empty(), !v.operands.contains(&dkms_cli::table::Operand::SubWord), "{}", v.name);
    }
}

/// Every man page renders without a troff warning at 80 columns (a word
/// troff cannot break, an unknown request): what `man` shows a user.
#[test]
fn man_pages_render_cleanly_at_80_columns() {
    crate::skip::skip_unless!(crate::support::have("man"), "man (man-db) is not installed");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("man"))
        .expect("read man/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|e| e.to_str()).is_some_and(|e| e.chars().all(|c| c.is_ascii_digit())))
        .collect();
    pages.sort();
    // Every section: dkms.8 and the verbs' pages, the file formats, the JSON records.
    for name in ["dkms.8", "dkms-install.8", "dkms.conf.5", "framework.conf.5", "dkms-json.7"] {
        assert!(pages.iter().any(|p| p.ends_with(name)), "man/{name} is not rendered");
    }
    for page in pages {
        let out = std::process::Command::new("man")
            .args(["--warnings=w", "-l"])
            .arg(&page)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("run man");
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && warnings.trim().is_empty(), "{}: {warnings}", page.display());
    }
}
