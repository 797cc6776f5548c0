//! dkms.conf: evaluated by bash exactly as upstream's `read_conf` /
//! `read_conf_strict` do (see `shell`), then post-processed here into the
//! module records, make command, patches and BUILD_EXCLUSIVE verdict, with
//! upstream's validation messages.
//!
//! dkms.conf is bash, not a key=value file: real ones use arrays, `$(...)`
//! and conditionals on `$kernelver`, so only bash can read them faithfully —
//! except plain ones (assignments of quoted words and known variables),
//! which `shell::plain` evaluates to exactly what bash gives, without bash.

pub mod directives;
mod ere;
mod process;

pub(crate) use ere::ere_match;
use process::process;
pub use process::strict_diags;

use crate::distro::{self, Family};
use crate::shell::{self, Request, Sourced};
use crate::version;
use std::path::{Path, PathBuf};

/// `dkms_conf_variables`: everything dkms.conf may set (the last group is
/// deprecated). Anything else defined in dkms.conf is discarded.
pub const DKMS_CONF_VARIABLES: [&str; 40] = [
    "PACKAGE_NAME",
    "PACKAGE_VERSION",
    "POST_ADD",
    "POST_BUILD",
    "POST_INSTALL",
    "POST_REMOVE",
    "PRE_BUILD",
    "PRE_INSTALL",
    "BUILD_DEPENDS",
    "BUILD_EXCLUSIVE_ARCH",
    "BUILD_EXCLUSIVE_CONFIG",
    "BUILD_EXCLUSIVE_KERNEL",
    "BUILD_EXCLUSIVE_KERNEL_MIN",
    "BUILD_EXCLUSIVE_KERNEL_MAX",
    "build_exclude",
    "MAKE",
    "MAKE_MATCH",
    "PATCH",
    "PATCH_MATCH",
    "patch_array",
    "BUILT_MODULE_NAME",
    "built_module_name",
    "BUILT_MODULE_LOCATION",
    "built_module_location",
    "DEST_MODULE_NAME",
    "dest_module_name",
    "DEST_MODULE_LOCATION",
    "dest_module_location",
    "STRIP",
    "strip",
    "AUTOINSTALL",
    "NO_WEAK_MODULES",
    "BUILD_DEPENDS_REBUILD",
    "OBSOLETE_BY",
    "CLEAN",
    "REMAKE_INITRD",
    "MODULES_CONF",
    "MODULES_CONF_OBSOLETES",
    "MODULES_CONF_ALIAS_TYPE",
    "MODULES_CONF_OBSOLETE_ONLY",
];

/// Variables whose presence earns a `Deprecated feature:` line in strict
/// reads (`safe_source` with `show_deprecation_warnings`).
pub const DEPRECATED: [&str; 7] = [
    "CLEAN",
    "REMAKE_INITRD",
    "MODULES_CONF",
    "MODULES_CONF_OBSOLETES",
    "MODULES_CONF_ALIAS_TYPE",
    "MODULES_CONF_OBSOLETE_ONLY",
    "OBSOLETE_BY",
];

/// A message upstream prints while reading a conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    /// stderr (true) or stdout (false)
    pub stderr: bool,
    pub text: String,
}

impl Diag {
    fn err(text: impl Into<String>) -> Self {
        Diag { stderr: true, text: text.into() }
    }
}

/// What one read needs to know.
#[derive(Debug, Clone)]
pub struct Spec {
    pub module: String,
    pub module_version: String,
    pub kernelver: String,
    pub arch: String,
    /// The dkms.conf to read.
    pub file: PathBuf,
    /// `/etc/dkms`, for the override chain.
    pub conf_dir: PathBuf,
    pub kernel_source_dir: PathBuf,
    pub kernel_config: PathBuf,
    /// `$dkms_tree`, for the default make command.
    pub dkms_tree: PathBuf,
    pub running_distribution: String,
    pub addon_modules_dir: Option<String>,
    /// Other upstream variables visible to the conf (`dkms_tree`, ...).
    pub context: Vec<(String, String)>,
    /// `--directive NAME=value` values, applied after all files.
    pub directives: Vec<String>,
    /// `read_conf_strict`: deprecations, zero modules, duplicates.
    pub strict: bool,
    /// Capture the conf's own stderr into `Read::stderr` (see `shell`).
    pub capture_stderr: bool,
}

/// One module record (an index of the BUILT_/DEST_ arrays).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleRecord {
    pub built_module_name: String,
    /// With a trailing `/` when non-empty.
    pub built_module_location: String,
    pub dest_module_name: String,
    /// After the distribution override.
    pub dest_module_location: String,
    /// `DEST_MODULE_LOCATION[i]` as written.
    pub orig_dest_module_location: String,
    pub strip: bool,
}

/// A read dkms.conf.
#[derive(Debug, Clone, Default)]
pub struct Conf {
    pub raw: Sourced,
    pub file: PathBuf,
    pub package_name: String,
    pub package_version: String,
    pub post_add: String,
    pub post_build: String,
    pub post_install: String,
    pub post_remove: String,
    pub pre_build: String,
    pub pre_install: String,
    pub obsolete_by: String,
    pub modules: Vec<ModuleRecord>,
    pub make_command: String,
    pub patch_array: Vec<String>,
    /// No module is buildable for this kernel/arch/config.
    pub build_exclude: bool,
    pub autoinstall: bool,
    pub build_depends_rebuild: bool,
    pub no_weak_modules: bool,
    pub build_depends: Vec<String>,
    /// Effective BUILD_EXCLUSIVE_KERNEL_MAX[0] (OBSOLETE_BY may set it).
    exclusive_kernel_max0: String,
    kernel_config: PathBuf,
}

/// The outcome of a read: the conf, the messages to print in order, and
/// whether it passed validation.
#[derive(Debug, Clone)]
pub struct Read {
    pub conf: Conf,
    pub diags: Vec<Diag>,
    pub ok: bool,
    /// The conf's own stderr, when captured.
    pub stderr: Vec<u8>,
}

/// `override_dest_module_location`
pub fn override_dest_module_location(orig: &str, distribution: &str, addon: Option<&str>) -> String {
    if let Some(a) = addon.filter(|a| !a.is_empty()) {
        return format!("/{a}");
    }
    match distro::family(distribution) {
        Family::RedHat => "/extra".into(),
        Family::Suse => "/updates".into(),
        Family::Debian | Family::Arch => "/updates/dkms".into(),
        Family::Gentoo | Family::Other => orig.into(),
    }
}

/// The override chain upstream sources after the conf itself.
fn chain(spec: &Spec) -> Vec<PathBuf> {
    let (m, v, k, a) = (&spec.module, &spec.module_version, &spec.kernelver, &spec.arch);
    let d = &spec.conf_dir;
    vec![
        spec.file.clone(),
        d.join(format!("{m}.conf")),
        d.join(format!("{m}-{v}.conf")),
        d.join(format!("{m}-{v}-{k}.conf")),
        d.join(format!("{m}-{v}-{k}-{a}.conf")),
        d.join(format!("{m}--{k}.conf")),
        d.join(format!("{m}--{k}-{a}.conf")),
    ]
}

fn request(spec: &Spec) -> Request {
    let mut context = spec.context.clone();
    for (k, v) in [
        ("module", spec.module.as_str()),
        ("module_version", spec.module_version.as_str()),
        ("kernelver", spec.kernelver.as_str()),
        ("arch", spec.arch.as_str()),
        ("kernel_source_dir", &spec.kernel_source_dir.to_string_lossy()),
        ("kernel_config", &spec.kernel_config.to_string_lossy()),
    ] {
        context.push((k.to_string(), v.to_string()));
    }
    Request {
        context,
        unset_first: true,
        preset: Vec::new(),
        files: chain(spec).into_iter().filter(|p| p.exists()).collect(),
        whitelist: DKMS_CONF_VARIABLES.to_vec(),
        report: if spec.strict { DEPRECATED.to_vec() } else { Vec::new() },
        capture_stderr: spec.capture_stderr,
    }
}

/// Read several confs with one bash process. The caller has checked that
/// each file is readable (upstream dies with exit 4 otherwise).
pub fn read_many(specs: &[Spec]) -> std::io::Result<Vec<Read>> {
    let reqs: Vec<Request> = specs.iter().map(request).collect();
    let sourced = shell::source(&reqs)?;
    Ok(specs.iter().zip(sourced).map(|(s, r)| process(s, r)).collect())
}

/// `read_many`, using and filling the evaluation cache in `cache_dir`
/// (see `shell::memo`): cached evaluations need no bash at all, the others
/// are still evaluated together by one bash process.
pub fn read_many_cached(specs: &[Spec], cache_dir: &Path) -> std::io::Result<Vec<Read>> {
    let reqs: Vec<Request> = specs.iter().map(request).collect();
    // One slot per conf file and module/version/kernel/arch.
    let slots: Vec<PathBuf> = specs
        .iter()
        .map(|s| shell::memo::slot(cache_dir, &s.file, &[&s.module, &s.module_version, &s.kernelver, &s.arch]))
        .collect();
    let sourced = shell::source_cached(&reqs, &slots)?;
    // Like read_many, a short answer from bash yields fewer reads.
    Ok(specs.iter().zip(sourced).map(|(s, r)| process(s, r)).collect())
}

/// Read one conf.
pub fn read(spec: &Spec) -> std::io::Result<Read> {
    Ok(read_many(std::slice::from_ref(spec))?.remove(0))
}

impl Conf {
    /// Number of module records.
    pub fn num_modules(&self) -> usize {
        self.modules.len()
    }

    /// Does record `i` (or the global index 0) carry any BUILD_EXCLUSIVE
    /// directive? With `global`, index 0 counts for every record, as in
    /// upstream's `check_build_exclusive_for_module`.
    pub(crate) fn has_build_exclusive(&self, i: usize, global: bool) -> bool {
        let names =
            ["BUILD_EXCLUSIVE_KERNEL", "BUILD_EXCLUSIVE_KERNEL_MIN", "BUILD_EXCLUSIVE_ARCH", "BUILD_EXCLUSIVE_CONFIG"];
        let at =
            |idx: usize| names.iter().any(|n| !self.raw.get(n, idx).is_empty()) || !self.kernel_max(idx).is_empty();
        (global && at(0)) || at(i)
    }

    fn kernel_max(&self, i: usize) -> &str {
        if i == 0 {
            &self.exclusive_kernel_max0
        } else {
            self.raw.get("BUILD_EXCLUSIVE_KERNEL_MAX", i)
        }
    }

    /// `check_build_exclusive_for_module i kver arch`.
    pub fn module_buildable(&self, i: usize, kernelver: &str, arch: &str) -> bool {
        let text = self.config_text();
        self.module_buildable_with(i, kernelver, arch, text.as_deref())
    }

    /// The kernel config, read only when a BUILD_EXCLUSIVE_CONFIG needs it
    /// (it is large, and status checks every module of every build).
    fn config_text(&self) -> Option<String> {
        if self.raw.count("BUILD_EXCLUSIVE_CONFIG") == 0 {
            return None;
        }
        std::fs::read_to_string(&self.kernel_config).ok()
    }

    fn module_buildable_with(&self, i: usize, kernelver: &str, arch: &str, config: Option<&str>) -> bool {
        let ok_at = |idx: usize| {
            let kernel = self.raw.get("BUILD_EXCLUSIVE_KERNEL", idx);
            let min = self.raw.get("BUILD_EXCLUSIVE_KERNEL_MIN", idx);
            let max = self.kernel_max(idx);
            let a = self.raw.get("BUILD_EXCLUSIVE_ARCH", idx);
            // An invalid pattern excludes, as `[[ ! $k =~ $re ]]` does.
            !((!kernel.is_empty() && !ere_match(kernelver, kernel))
                || (!min.is_empty() && version::compare(kernelver, min).is_lt())
                || (!max.is_empty() && version::compare(kernelver, max).is_gt())
                || (!a.is_empty() && !ere_match(arch, a)))
        };
        if !ok_at(0) || !ok_at(i) {
            return false;
        }
        let Some(config) = config else { return true };
        [0, i].iter().all(|&idx| {
            self.raw.get("BUILD_EXCLUSIVE_CONFIG", idx).split_ascii_whitespace().all(|k| match k.strip_prefix('!') {
                Some(n) => !crate::kernel::config_enabled(config, n),
                None => crate::kernel::config_enabled(config, k),
            })
        })
    }

    /// Does any record carry a BUILD_EXCLUSIVE directive of its own (used by
    /// uninstall to keep quiet about modules that were never installed)?
    pub fn any_build_exclusive(&self) -> bool {
        (0..self.num_modules()).any(|i| self.has_build_exclusive(i, false))
    }
}
