//! The committed man pages and completion scripts are what the generator
//! makes from the tables today (regenerated into a temp dir and compared),
//! and the hand-written parts of dkms.8 cover every setting and directive.

use dkms_cli::table::{FLAGS, FRONT_END_OPTIONS, VERBS};
use std::collections::BTreeSet;
use std::path::Path;

fn files_under(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for dir in xtask::GENERATED_DIRS {
        for e in std::fs::read_dir(root.join(dir)).into_iter().flatten().flatten() {
            out.insert(format!("{dir}/{}", e.file_name().to_string_lossy()));
        }
    }
    out
}

#[test]
fn committed_files_do_not_drift() {
    let tmp = tempfile::tempdir().expect("temp dir");
    xtask::generate(tmp.path()).expect("generate");
    let repo = xtask::repo_root();
    let fresh = files_under(tmp.path());
    assert_eq!(files_under(&repo), fresh, "generated file set differs; run `cargo run -p xtask -- gen`");
    for f in &fresh {
        let want = std::fs::read_to_string(tmp.path().join(f)).expect("read generated");
        let have = std::fs::read_to_string(repo.join(f)).expect("read committed");
        assert!(have == want, "{f} is out of date; run `cargo run -p xtask -- gen` and commit the result");
    }
    assert!(xtask::drift(&repo).is_empty());
}

#[test]
fn drift_is_detected() {
    let tmp = tempfile::tempdir().expect("temp dir");
    xtask::generate(tmp.path()).expect("generate");
    assert!(xtask::drift(tmp.path()).is_empty());
    std::fs::write(tmp.path().join("man/dkms.8"), "stale").expect("write");
    std::fs::write(tmp.path().join("completions/old.bash"), "").expect("write");
    std::fs::remove_file(tmp.path().join("completions/_dkms")).expect("remove");
    let d = xtask::drift(tmp.path());
    assert_eq!(d.len(), 3, "{d:?}");
    xtask::generate(tmp.path()).expect("generate");
    assert!(xtask::drift(tmp.path()).is_empty());
    assert!(!tmp.path().join("completions/old.bash").exists());
}

/// The text of a man page as a reader sees it: roff escapes removed.
fn plain(roff: &str) -> String {
    roff.replace("\\-", "-").replace("\\fB", "").replace("\\fI", "").replace("\\fR", "")
}

#[test]
fn dkms_8_covers_everything() {
    let page = plain(&xtask::man::dkms_8());
    let section = |name: &str| -> String {
        let head = format!(".SH {name}\n");
        let start = page.find(&head).unwrap_or_else(|| panic!("no section {name}"));
        let rest = &page[start + head.len()..];
        rest[..rest.find("\n.SH ").unwrap_or(rest.len())].to_string()
    };
    for s in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "ACTIONS",
        "OPTIONS",
        "DKMS.CONF",
        "FRAMEWORK.CONF",
        "LAYOUT",
        "EXIT STATUS",
        "JSON OUTPUT",
        "ENVIRONMENT",
        "FILES",
        "SEE ALSO",
    ] {
        section(s);
    }
    let actions = section("ACTIONS");
    for v in VERBS.iter() {
        assert!(actions.contains(&format!("{} [options]", v.name)), "action {} undocumented", v.name);
    }
    let options = section("OPTIONS");
    for f in FLAGS.iter() {
        let word = if f.long.is_empty() { format!("-{}", f.short.expect("short")) } else { f.long.to_string() };
        assert!(options.contains(&word), "option {word} undocumented");
    }
    for o in FRONT_END_OPTIONS.iter() {
        assert!(options.contains(o.long), "option {} undocumented", o.long);
    }
    let fw = section("FRAMEWORK.CONF");
    for name in dkms_state::framework::NONSIGNING.iter().chain(dkms_state::framework::SIGNING.iter()) {
        assert!(fw.contains(name), "framework.conf setting {name} undocumented");
    }
    let conf = section("DKMS.CONF");
    for name in dkms_state::conf::DKMS_CONF_VARIABLES.iter().filter(|n| n.chars().all(|c| !c.is_lowercase())) {
        assert!(conf.contains(name), "dkms.conf directive {name} undocumented");
    }
    let exit = section("EXIT STATUS");
    for code in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 21, 75, 77, 101, 127, 255] {
        assert!(
            exit.contains(&format!(".TP\n{code}\n")) || exit.contains(&format!(".TP 5\n{code}\n")),
            "exit status {code} undocumented"
        );
    }
    assert!(section("JSON OUTPUT").contains("jq"));
}

#[test]
fn every_verb_has_a_page() {
    for v in VERBS.iter() {
        let page = xtask::man::verb_page(v);
        assert!(page.contains(&format!(".TH {} 8", v.binary.to_uppercase())), "{}", v.binary);
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"] {
            let quoted = format!(".SH \"{section}\"\n");
            assert!(page.contains(&format!(".SH {section}\n")) || page.contains(&quoted), "{}: no {section}", v.binary);
        }
    }
}

/// dkms.8's EXIT STATUS lists exactly the statuses of the registry
/// (`dkms_state::error::Kind`) plus 0, each kind by name; and every kind of
/// the registry is used somewhere in the sources (none is dead).
#[test]
fn exit_status_is_the_registry() {
    use dkms_state::error::{Kind, Status};
    let repo = xtask::repo_root();
    let page = std::fs::read_to_string(repo.join("man/dkms.8")).expect("read dkms.8");
    let section = page.split(".SH EXIT STATUS").nth(1).and_then(|s| s.split("\n.SH ").next()).expect("section");
    let documented: BTreeSet<u8> = section
        .lines()
        .filter_map(|l| l.strip_prefix("\\fB").and_then(|l| l.strip_suffix("\\fR")))
        .filter_map(|n| n.parse().ok())
        .collect();
    let mut registry: BTreeSet<u8> =
        Kind::ALL.iter().filter_map(|k| if let Status::Fixed(c) = k.status() { Some(c) } else { None }).collect();
    registry.insert(0);
    assert_eq!(documented, registry, "dkms.8 EXIT STATUS and the registry disagree");
    let mut sources = String::new();
    let mut stack = vec![repo.join("crates")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("src/kind.rs") {
                sources.push_str(&std::fs::read_to_string(&p).expect("read source"));
            }
        }
    }
    for k in Kind::ALL {
        let name = k.name().replace('\\', "");
        assert!(section.contains(&name.replace('-', "\\-")), "{name} is not in dkms.8");
        let variant = format!("Kind::{k:?}");
        assert!(sources.contains(&variant), "{variant} is in the registry but never used");
    }
}
