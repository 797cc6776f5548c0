//! The shape of the code, checked: no import cycle between the modules of
//! any crate (from `crate::` and `super::` paths, as ../shared/tools/modgraph
//! counts them), and dkms-cmd's layers import only downward:
//! driver → verbs → ops → support.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`ops::build`, `""` for the crate root) of a source file.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().expect("file name");
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module a path names: its longest prefix that is a module.
fn resolve(modules: &BTreeSet<String>, path: &[&str]) -> Option<String> {
    (1..=path.len()).rev().map(|n| path[..n].join("::")).find(|m| modules.contains(m))
}

/// Import edges between the modules of the crate in `src` (test modules
/// inside a file are left out: their `super` is the file itself).
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let me = module_of(src, f);
        let text = std::fs::read_to_string(f).expect("read source");
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
        let parent: Vec<&str> = {
            let mut p: Vec<&str> = me.split("::").filter(|s| !s.is_empty()).collect();
            let is_dir_module = f.ends_with("mod.rs");
            if !is_dir_module {
                p.pop();
            }
            p
        };
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
            for (i, _) in code.match_indices(prefix) {
                if i > 0 && code.as_bytes()[i - 1].is_ascii_alphanumeric() {
                    continue;
                }
                let rest = &code[i + prefix.len()..];
                let words: Vec<&str> = rest
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .next()
                    .unwrap_or_default()
                    .split("::")
                    .filter(|w| !w.is_empty())
                    .collect();
                let full: Vec<&str> = base.iter().copied().chain(words).collect();
                if let Some(target) = resolve(&modules, &full) {
                    if target != me {
                        edges.entry(me.clone()).or_default().insert(target);
                    }
                }
            }
        }
    }
    edges
}

/// A cycle in the graph, if there is one.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| s == n).unwrap_or(0);
                return Some(stack[start..].to_vec());
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    edges.keys().find_map(|n| visit(n, edges, &mut state, &mut Vec::new()))
}

fn crates() -> Vec<PathBuf> {
    let root = xtask::repo_root().join("crates");
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(root).expect("crates/").flatten().map(|e| e.path().join("src")).collect();
    out.retain(|p| p.is_dir());
    out.sort();
    out
}

#[test]
fn no_crate_has_an_import_cycle() {
    let all = crates();
    assert!(all.len() >= 5, "{all:?}");
    for src in all {
        let g = graph(&src);
        assert!(cycle(&g).is_none(), "{}: import cycle {:?}", src.display(), cycle(&g));
    }
}

#[test]
fn a_cycle_is_found() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert!(cycle(&g).is_none());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle(&g), Some(vec!["a".to_string(), "b".to_string(), "c".to_string()]));
}

#[test]
fn dkms_cmd_layers_import_only_downward() {
    let src = xtask::repo_root().join("crates/dkms-cmd/src");
    let rank = |m: &str| match m.split("::").next().unwrap_or_default() {
        "driver" => Some(3),
        "verbs" => Some(2),
        "ops" => Some(1),
        "support" => Some(0),
        _ => None,
    };
    let g = graph(&src);
    let mut checked = 0;
    for (from, tos) in &g {
        let Some(r) = rank(from) else { continue };
        for to in tos {
            let t = rank(to).unwrap_or_else(|| panic!("{from} imports {to}, which is in no layer"));
            assert!(t <= r, "{from} imports {to}: a lower layer imports a higher one");
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} edges found: is the scan broken?");
    assert!(g.get("ops::install").is_some_and(|t| t.contains("ops::build")), "{g:?}");
}
