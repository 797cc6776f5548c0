//! `dkms __complete KIND [ARG] [-- WORDS...]`: the values the shell
//! completion scripts (completions/, generated from the tables) cannot know
//! statically, one a line on stdout. WORDS is the command line typed so far;
//! its `--dkmstree`, `--sourcetree` and `--installtree` options are honoured,
//! otherwise the trees come from framework.conf, as for every verb.
//!
//! Kinds: `modules`, `versions MODULE`, `module-versions` (the DKMS tree);
//! `source-modules`, `source-versions MODULE`, `source-module-versions`,
//! `source-dirs` (module sources in the source tree, for `add`); `kernels`
//! (the module tree); `arches`. Hidden: not an action, never fails loudly.

use crate::table::{self, FlagId};
use crate::ui::Ui;
use crate::versort;
use dkms_state::fsutil::subdirs;
use dkms_state::trees::{Trees, DEFAULT_DKMS_TREE, DEFAULT_INSTALL_TREE, DEFAULT_SOURCE_TREE};
use dkms_state::{framework, kernel, status};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// The front-end word that selects this helper.
pub const WORD: &str = "__complete";

/// Tree options given on the command line being completed.
fn tree_overrides(words: &[String]) -> Vec<(FlagId, String)> {
    let mut out = Vec::new();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let Some(f) = table::lookup(w) else { continue };
        if f.value.is_none() {
            continue;
        }
        let value = match w.split_once('=') {
            Some((_, v)) => v.to_string(),
            // bash splits `--opt=value` into `--opt`, `=`, `value`.
            None => match it.next().map(String::as_str) {
                Some("=") => it.next().cloned().unwrap_or_default(),
                other => other.unwrap_or_default().to_string(),
            },
        };
        if matches!(f.id, FlagId::DkmsTree | FlagId::SourceTree | FlagId::InstallTree) && !value.is_empty() {
            out.retain(|(id, _)| *id != f.id);
            out.push((f.id, value));
        }
    }
    out
}

/// The trees: command line, then framework.conf, then the built-in defaults.
fn trees(words: &[String]) -> Trees {
    let cli = tree_overrides(words);
    let mut initial = BTreeMap::new();
    initial.insert("dkms_tree".to_string(), DEFAULT_DKMS_TREE.to_string());
    initial.insert("source_tree".to_string(), DEFAULT_SOURCE_TREE.to_string());
    let moddir = option_env!("DKMS_MODDIR").unwrap_or(DEFAULT_INSTALL_TREE);
    initial.insert("install_tree".to_string(), moddir.to_string());
    let fw = if cli.len() == 3 {
        initial
    } else {
        framework::read(&["dkms_tree", "source_tree", "install_tree"], &initial, Vec::new())
    };
    let pick = |id: FlagId, name: &str| {
        let given = cli.iter().find(|(i, _)| *i == id).map(|(_, v)| v.clone());
        PathBuf::from(given.unwrap_or_else(|| fw[name].clone()))
    };
    Trees {
        dkms_tree: pick(FlagId::DkmsTree, "dkms_tree"),
        source_tree: pick(FlagId::SourceTree, "source_tree"),
        install_tree: pick(FlagId::InstallTree, "install_tree"),
    }
}

/// `module/version` pairs registered in the DKMS tree.
fn tree_pairs(trees: &Trees) -> Vec<(String, String)> {
    status::list_module_version_combos(trees, None, None).into_iter().filter(|(_, v)| v != "original_module").collect()
}

/// Split `<module>-<version>` at the first `-` followed by a digit (else the
/// last `-`): module names may hold dashes, versions start with a digit.
fn split_source_name(name: &str) -> Option<(&str, &str)> {
    let b = name.as_bytes();
    let at = (1..b.len().saturating_sub(1))
        .find(|&i| b[i] == b'-' && b[i + 1].is_ascii_digit())
        .or_else(|| name.rfind('-').filter(|&i| i > 0 && i + 1 < name.len()))?;
    Some((&name[..at], &name[at + 1..]))
}

/// Source directories (`<source_tree>/<m>-<v>/dkms.conf` exists).
fn source_dirs(trees: &Trees) -> Vec<String> {
    subdirs(&trees.source_tree).into_iter().filter(|n| trees.source_tree.join(n).join("dkms.conf").is_file()).collect()
}

/// The candidates for `kind`.
pub fn candidates(kind: &str, arg: Option<&str>, words: &[String]) -> Vec<String> {
    let trees = trees(words);
    let mut out: Vec<String> = match (kind, arg) {
        ("modules", _) => tree_pairs(&trees).into_iter().map(|(m, _)| m).collect(),
        ("versions", Some(m)) => tree_pairs(&trees).into_iter().filter(|p| p.0 == m).map(|(_, v)| v).collect(),
        ("module-versions", _) => tree_pairs(&trees).into_iter().map(|(m, v)| format!("{m}/{v}")).collect(),
        ("source-modules", _) => {
            source_dirs(&trees).iter().filter_map(|n| split_source_name(n)).map(|(m, _)| m.to_string()).collect()
        }
        ("source-versions", Some(m)) => source_dirs(&trees)
            .iter()
            .filter_map(|n| n.strip_prefix(m).and_then(|r| r.strip_prefix('-')))
            .filter(|v| !v.is_empty())
            .map(String::from)
            .collect(),
        ("source-module-versions", _) => {
            source_dirs(&trees).iter().filter_map(|n| split_source_name(n)).map(|(m, v)| format!("{m}/{v}")).collect()
        }
        ("source-dirs", _) => {
            source_dirs(&trees).iter().map(|n| trees.source_tree.join(n).to_string_lossy().into_owned()).collect()
        }
        ("kernels", _) => {
            let mut k = subdirs(&trees.install_tree);
            k.sort_by(|a, b| versort::compare(a, b));
            return k;
        }
        ("arches", _) => vec![kernel::uname_m()],
        _ => Vec::new(),
    };
    out.sort();
    out.dedup();
    out
}

/// `main` of `dkms __complete ...` (argv after the word `__complete`).
pub fn main(ui: &Ui, argv: &[OsString]) -> ExitCode {
    let argv: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let (head, words) = match argv.iter().position(|a| a == "--") {
        Some(i) => (&argv[..i], &argv[i + 1..]),
        None => (&argv[..], &[][..]),
    };
    let Some(kind) = head.first() else {
        return ExitCode::from(dkms_state::error::Kind::Usage.code_or(2));
    };
    for c in candidates(kind, head.get(1).map(String::as_str), words) {
        ui.outln(&c);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names() {
        assert_eq!(split_source_name("foo-1.0"), Some(("foo", "1.0")));
        assert_eq!(split_source_name("nvidia-srov-550.54"), Some(("nvidia-srov", "550.54")));
        assert_eq!(split_source_name("foo-1.0-2"), Some(("foo", "1.0-2")));
        assert_eq!(split_source_name("foo-bar"), Some(("foo", "bar")));
        assert_eq!(split_source_name("foo"), None);
        assert_eq!(split_source_name("linux-headers-6.1.0-9-amd64"), Some(("linux-headers", "6.1.0-9-amd64")));
    }

    #[test]
    fn tree_options_of_the_line() {
        let w: Vec<String> = ["install", "--dkmstree=/a", "--sourcetree", "/b", "-m", "x", "--installtree", "=", "/c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = tree_overrides(&w);
        let want = [(FlagId::DkmsTree, "/a"), (FlagId::SourceTree, "/b"), (FlagId::InstallTree, "/c")];
        assert_eq!(o, want.map(|(i, v)| (i, v.to_string())).to_vec());
    }
}
