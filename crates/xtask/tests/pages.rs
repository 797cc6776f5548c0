//! dkms.conf(5), framework.conf(5) and dkms-json(7) name everything the code
//! reads or writes (directives, settings and their environment variables,
//! record types and fields), dkms.8 points to them, and every repository
//! path that ARCHITECTURE.md and README.md name exists.

use dkms_state::conf::directives::DIRECTIVES;
use dkms_state::conf::DKMS_CONF_VARIABLES;
use dkms_state::framework::settings::{Env, ReadBy, SETTINGS};
use dkms_state::framework::{NONSIGNING, SIGNING};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The text of a page as a reader sees it: roff escapes removed.
fn plain(roff: &str) -> String {
    roff.replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\(aq", "'")
        .replace("\\*(Aq", "'")
}

/// The body of section `name` (`.SH name` up to the next `.SH`).
fn section(page: &str, name: &str) -> String {
    // clap_mangen's roff quotes a heading with a space; the template does not.
    let (plain_head, quoted) = (format!(".SH {name}\n"), format!(".SH \"{name}\"\n"));
    let (start, head) = match page.find(&plain_head) {
        Some(i) => (i, plain_head),
        None => (page.find(&quoted).unwrap_or_else(|| panic!("no section {name}")), quoted),
    };
    let rest = &page[start + head.len()..];
    rest[..rest.find("\n.SH ").unwrap_or(rest.len())].to_string()
}

#[test]
fn dkms_conf_5_names_every_directive() {
    let page = plain(&xtask::conf_pages::dkms_conf_5());
    let (public, internal) = (section(&page, "DIRECTIVES"), section(&page, "INTERNAL NAMES"));
    for name in DKMS_CONF_VARIABLES {
        let d = DIRECTIVES.iter().find(|d| d.name == name).expect("every kept name has an entry");
        let head = format!(".TP\n{name}{}\n", if d.array { "[#]" } else { "" });
        let body = if d.internal { &internal } else { &public };
        assert!(body.contains(&head), "dkms.conf(5) does not document {name}");
    }
    assert!(page.contains(".TH DKMS.CONF 5 "));
}

#[test]
fn framework_conf_5_names_every_setting_and_its_environment() {
    let page = plain(&xtask::conf_pages::framework_conf_5());
    let settings = section(&page, "SETTINGS");
    for name in NONSIGNING.iter().chain(SIGNING.iter()) {
        assert!(settings.contains(&format!(".TP\n{name}")), "framework.conf(5) does not document {name}");
    }
    for s in SETTINGS {
        let item = settings.split(&format!(".TP\n{}", s.name)).nth(1).expect("documented");
        let item = &item[..item.find(".TP\n").unwrap_or(item.len())];
        assert!(item.contains(&format!("Default: {}", if s.default.is_empty() { "empty" } else { s.default })));
        assert_eq!(item.starts_with(" (not upstream)\n"), !s.upstream, "{}", s.name);
        if let Env::Under(v) | Env::Over(v) = s.env {
            assert!(item.contains(&format!("Environment: {v} ")), "{}: environment {v} undocumented", s.name);
        }
    }
}

/// The names the start-up prologue takes from the environment under their
/// own names (dkms-cli's `ctx::FROM_ENV`) are exactly the settings
/// documented so.
#[test]
fn environment_settings_are_the_prologue_s() {
    let documented: BTreeSet<&str> =
        SETTINGS.iter().filter(|s| s.read_by == ReadBy::Start && s.env == Env::Under(s.name)).map(|s| s.name).collect();
    assert_eq!(documented, dkms_cli::ctx::FROM_ENV.into_iter().collect());
}

#[test]
fn dkms_json_7_names_every_record_and_field() {
    let page = plain(&xtask::json_page::dkms_json_7());
    let records = section(&page, "RECORDS");
    let all = xtask::json_page::record_fields();
    assert!(all.len() >= 30, "{} record types", all.len());
    for (i, (ty, fields)) in all.iter().enumerate() {
        let start = records.find(&format!(".SS {ty}\n")).unwrap_or_else(|| panic!("record {ty} undocumented"));
        let rest = &records[start + 1..];
        let body = &rest[..rest.find("\n.SS ").unwrap_or(rest.len())];
        for f in fields.iter().filter(|f| *f != "type") {
            assert!(body.contains(&format!(".TP\n{f} (")), "{ty}: field {f} undocumented");
        }
        assert!(i == 0 || records.find(&format!(".SS {}\n", all[i - 1].0)) < Some(start), "order");
    }
    for def in ["SkipReason", "State", "Severity", "Counts"] {
        assert!(section(&page, "VALUES").contains(&format!(".SS {def}\n")), "{def}");
    }
    assert!(section(&page, "VALUES").contains(".TP\n\"already-built\"\n"));
}

#[test]
fn dkms_8_points_to_the_new_pages() {
    let page = plain(&std::fs::read_to_string(xtask::repo_root().join("man/dkms.8")).expect("dkms.8"));
    let see_also = section(&page, "SEE ALSO");
    for p in ["dkms.conf (5)", "framework.conf (5)", "dkms-json (7)"] {
        assert!(see_also.contains(&format!(".BR {p}")), "SEE ALSO lacks {p}");
    }
    // dkms.8's sections are made from the same tables.
    assert!(section(&page, "DKMS.CONF").contains(&plain(&xtask::conf_pages::directives_body())));
    assert!(section(&page, "FRAMEWORK.CONF").contains(&plain(&xtask::conf_pages::settings_body())));
}

/// Every file and directory of the repository, relative, `/`-separated
/// (target/, build/ and dot-directories left out).
fn repository_paths(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in std::fs::read_dir(root.join(&rel)).expect("read dir").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || (rel.as_os_str().is_empty() && matches!(name.as_str(), "target" | "build")) {
                continue;
            }
            let p = rel.join(&name);
            out.push(p.to_string_lossy().into_owned());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out
}

/// The words between backquotes of `text` that name a path of the
/// repository: no space or shell syntax, not absolute (those are paths of
/// an installed system), and either under one of `top` (the repository's
/// top-level entries and the crates' names) or a source file (`.rs`, `.sh`,
/// `.in`). Paths of the DKMS tree (`log/make.log`) and build products
/// (`build/`, `target/`) are neither.
fn named_paths(text: &str, top: &[String]) -> Vec<String> {
    let exts = [".rs", ".sh", ".in"];
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| !w.is_empty() && !w.contains(|c: char| c.is_whitespace() || "<>*$=:|(){}[]'\",@".contains(c)))
        .filter(|w| !w.starts_with(['/', '.', '-', '~']))
        .filter(|w| top.iter().any(|t| w.split('/').next() == Some(t)) || exts.iter().any(|e| w.ends_with(e)))
        .map(|w| w.trim_end_matches('/').to_string())
        .collect()
}

/// A path named in a document exists when some path of the repository ends
/// with it at a component boundary (documents name files relative to a
/// crate or a directory named just before).
#[test]
fn paths_named_in_architecture_and_readme_exist() {
    let root = xtask::repo_root();
    let paths = repository_paths(&root);
    let top = top_names(&root);
    let mut missing = Vec::new();
    for doc in ["ARCHITECTURE.md", "README.md"] {
        let text = std::fs::read_to_string(root.join(doc)).expect("read doc");
        let mut named = named_paths(&text, &top);
        // Markdown links to files of the repository.
        named.extend(
            text.split("](")
                .skip(1)
                .filter_map(|r| r.split(')').next())
                .filter(|t| !t.contains("://"))
                .map(String::from),
        );
        assert!(named.len() >= 10, "{doc}: only {} paths found", named.len());
        for n in named {
            let found = paths.iter().any(|p| p == &n || p.ends_with(&format!("/{n}")));
            if !found {
                missing.push(format!("{doc}: `{n}`"));
            }
        }
    }
    assert!(missing.is_empty(), "paths that do not exist:\n{}", missing.join("\n"));
}

/// The repository's top-level entries and the names of its crates.
fn top_names(root: &Path) -> Vec<String> {
    let names = |dir: PathBuf| -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("read dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let mut top: Vec<String> = names(root.to_path_buf()).into_iter().filter(|n| !n.starts_with('.')).collect();
    top.retain(|n| n != "target" && n != "build");
    top.extend(names(root.join("crates")));
    top
}

#[test]
fn named_paths_are_recognised() {
    let t = "`crates/dkms-cli/src/table.rs`, `ctx.rs`, `/etc/dkms`, `dkms status`, `build/`, `log/make.log`, \
             `dkms-cli/src/args.rs`, `a <b>/c`, `scripts/demo.sh`";
    let top = ["crates".to_string(), "scripts".into(), "dkms-cli".into()];
    assert_eq!(
        named_paths(t, &top),
        ["crates/dkms-cli/src/table.rs", "ctx.rs", "dkms-cli/src/args.rs", "scripts/demo.sh"]
    );
}
