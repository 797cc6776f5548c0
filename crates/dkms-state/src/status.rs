//! The state machine read off the tree, as upstream derives it
//! (`list_module_version_combos`, `is_module_broken`, `is_module_added`,
//! `module_status_built`, `_is_module_installed`): nothing is stored besides
//! the layout itself, so status can never disagree with the tree.

use crate::glob;
use crate::trees::Trees;
use std::path::Path;

/// The state of a module/version (or of one of its kernel/arch builds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// The source symlink is dangling, or missing while the source exists.
    Broken,
    /// Registered: the source symlink resolves to a directory.
    Added,
    /// `<kver>/<arch>/module/` exists.
    Built,
    /// Built, and `kernel-<kver>-<arch>` resolves to that build.
    Installed,
}

impl State {
    /// The word upstream prints.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Broken => "broken",
            State::Added => "added",
            State::Built => "built",
            State::Installed => "installed",
        }
    }
}

/// One line of `module_status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub module: String,
    pub version: String,
    /// Set for built/installed entries.
    pub kernel: Option<String>,
    pub arch: Option<String>,
    pub state: State,
}

fn sorted_entries(dir: &Path, pat: Option<&str>, extglob_kernel: bool) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| match pat {
            Some(p) => glob::matches(p, n),
            None if extglob_kernel => glob::is_kernel_dir_name(n),
            None => !n.starts_with('.'),
        })
        .collect();
    v.sort();
    v
}

/// Sort "a/b" pairs the way a glob over `a/b` paths is sorted: by the whole
/// string, byte order (C locale).
fn sort_pairs(v: &mut [(String, String)]) {
    v.sort_by(|x, y| format!("{}/{}", x.0, x.1).cmp(&format!("{}/{}", y.0, y.1)));
}

/// `list_module_version_combos MODULE_GLOB VERSION_GLOB`: every directory
/// `<tree>/<m>/<v>` except the `kernel-*-*` links.
pub fn list_module_version_combos(trees: &Trees, module: Option<&str>, version: Option<&str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in sorted_entries(&trees.dkms_tree, module.filter(|s| !s.is_empty()), false) {
        for v in sorted_entries(&trees.module_dir(&m), version.filter(|s| !s.is_empty()), false) {
            if glob::matches("kernel-*-*", &v) || !trees.version_dir(&m, &v).is_dir() {
                continue;
            }
            out.push((m.clone(), v));
        }
    }
    sort_pairs(&mut out);
    out
}

/// `is_module_broken`
pub fn is_module_broken(trees: &Trees, module: &str, version: &str) -> bool {
    if module.is_empty() || version.is_empty() || !trees.version_dir(module, version).is_dir() {
        return false;
    }
    let src = trees.source_link(module, version);
    let is_link = src.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink());
    (is_link && !src.is_dir()) || (!is_link && trees.source_dir(module, version).is_dir())
}

/// `is_module_added`
pub fn is_module_added(trees: &Trees, module: &str, version: &str) -> bool {
    if module.is_empty() || version.is_empty() || !trees.version_dir(module, version).is_dir() {
        return false;
    }
    let src = trees.source_link(module, version);
    src.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) && src.is_dir()
}

/// `is_module_built`
pub fn is_module_built(trees: &Trees, module: &str, version: &str, kernelver: &str, arch: &str) -> bool {
    ![module, version, kernelver, arch].iter().any(|s| s.is_empty())
        && trees.arch_dir(module, version, kernelver, arch).join("module").is_dir()
}

/// `_is_module_installed` (assumes built): the active link resolves to this
/// build. Upstream compares `$(readlink -f "$k")` with the *string*
/// `$dkms_tree/m/v/k/a`, so a dkms tree given with a trailing slash, a `.`
/// component, relatively or through a symlink never counts as installed;
/// the comparison is byte-wise here too (`Path`'s `==` would normalise).
pub fn is_active(trees: &Trees, module: &str, version: &str, kernelver: &str, arch: &str) -> bool {
    let link = trees.active_link(module, kernelver, arch);
    if !link.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink()) {
        return false;
    }
    let d = trees.arch_dir(module, version, kernelver, arch);
    link.canonicalize().is_ok_and(|resolved| resolved.as_os_str() == d.as_os_str())
}

/// `is_module_installed`: built and active.
pub fn is_module_installed(trees: &Trees, module: &str, version: &str, kernelver: &str, arch: &str) -> bool {
    is_module_built(trees, module, version, kernelver, arch) && is_active(trees, module, version, kernelver, arch)
}

/// `module_status_built M V KERNEL_GLOB ARCH_GLOB`: built/installed kernels,
/// kernel dirs restricted to `+([0-9]).*` unless a kernel pattern is given.
pub fn module_status_built(
    trees: &Trees,
    module: &str,
    version: &str,
    kernel: Option<&str>,
    arch: Option<&str>,
) -> Vec<(String, String, State)> {
    let vdir = trees.version_dir(module, version);
    let mut pairs = Vec::new();
    for k in sorted_entries(&vdir, kernel.filter(|s| !s.is_empty()), true) {
        for a in sorted_entries(&vdir.join(&k), arch.filter(|s| !s.is_empty()), false) {
            pairs.push((k.clone(), a));
        }
    }
    sort_pairs(&mut pairs);
    pairs
        .into_iter()
        .filter(|(k, a)| is_module_built(trees, module, version, k, a))
        .map(|(k, a)| {
            let st = if is_active(trees, module, version, &k, &a) { State::Installed } else { State::Built };
            (k, a, st)
        })
        .collect()
}

/// `module_status M V K A`: broken, added, or one entry per built kernel.
pub fn module_status(
    trees: &Trees,
    module: Option<&str>,
    version: Option<&str>,
    kernel: Option<&str>,
    arch: Option<&str>,
) -> Vec<Entry> {
    let mut out = Vec::new();
    for (m, v) in list_module_version_combos(trees, module, version) {
        let entry = |kernel, arch, state| Entry { module: m.clone(), version: v.clone(), kernel, arch, state };
        if is_module_broken(trees, &m, &v) {
            out.push(entry(None, None, State::Broken));
            continue;
        }
        if !is_module_added(trees, &m, &v) {
            continue;
        }
        let built = module_status_built(trees, &m, &v, kernel, arch);
        if built.is_empty() {
            out.push(entry(None, None, State::Added));
        }
        for (k, a, st) in built {
            out.push(entry(Some(k), Some(a), st));
        }
    }
    out
}
