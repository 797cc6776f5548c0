//! dkms.conf: evaluated by bash exactly as upstream's `read_conf` /
//! `read_conf_strict` do (see `shell`), then post-processed here into the
//! module records, make command, patches and BUILD_EXCLUSIVE verdict, with
//! upstream's validation messages.
//!
//! dkms.conf is bash, not a key=value file: real ones use arrays, `$(...)`
//! and conditionals on `$kernelver`, so only bash can read them faithfully —
//! except plain ones (assignments of quoted words and known variables),
//! which `confstatic` evaluates to exactly what bash gives, without bash.

use crate::confcache;
use crate::distro::{self, Family};
use crate::shell::{self, Request, Sourced};
use crate::tools;
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
/// (see `confcache`): cached evaluations need no bash at all, the others
/// are still evaluated together by one bash process.
pub fn read_many_cached(specs: &[Spec], cache_dir: &Path) -> std::io::Result<Vec<Read>> {
    let reqs: Vec<Request> = specs.iter().map(request).collect();
    let mut sourced: Vec<Option<Sourced>> = vec![None; specs.len()];
    let mut misses = Vec::new();
    for (i, (spec, req)) in specs.iter().zip(&reqs).enumerate() {
        // A plain conf is evaluated directly (`confstatic`): cheaper than
        // hashing its inputs for the cache.
        if let Some(s) = crate::confstatic::evaluate(req) {
            sourced[i] = Some(s);
            continue;
        }
        let slot =
            confcache::slot(cache_dir, &spec.file, &[&spec.module, &spec.module_version, &spec.kernelver, &spec.arch]);
        let key = confcache::key(req);
        match key.and_then(|k| confcache::lookup(&slot, &k)) {
            // The chain of files must be the one sourced now (the key
            // covers it; this is a cheap second check).
            Some(s) if s.after_file.iter().map(|(f, _)| f).eq(req.files.iter()) => sourced[i] = Some(s),
            _ => misses.push((i, slot, key)),
        }
    }
    let miss_reqs: Vec<Request> = misses.iter().map(|(i, ..)| reqs[*i].clone()).collect();
    for ((i, slot, key), s) in misses.iter().zip(shell::source_by_bash(&miss_reqs)?) {
        if let Some(k) = key {
            confcache::store(slot, k, &s);
        }
        sourced[*i] = Some(s);
    }
    // Like read_many, a short answer from bash yields fewer reads.
    Ok(specs.iter().zip(sourced).map_while(|(spec, s)| Some(process(spec, s?))).collect())
}

/// Read one conf.
pub fn read(spec: &Spec) -> std::io::Result<Read> {
    Ok(read_many(std::slice::from_ref(spec))?.remove(0))
}

fn deprecations(raw: &Sourced, diags: &mut Vec<Diag>) {
    for (file, set) in &raw.after_file {
        let f = file.to_string_lossy();
        for name in set {
            let line = match name.as_str() {
                // CLEAN is exempt when it only names a no-op.
                "CLEAN" => match raw.scalar("CLEAN") {
                    "true" | "/bin/true" | "/usr/bin/true" => continue,
                    _ => format!("CLEAN ({f})"),
                },
                "OBSOLETE_BY" => format!("OBSOLETE_BY ({f}): use BUILD_EXCLUSIVE_KERNEL_MAX instead"),
                other => format!("{other} ({f})"),
            };
            diags.push(Diag::err(format!("Deprecated feature: {line}")));
        }
    }
}

/// Is `text` matched by the bash ERE `re` (`[[ $text =~ $re ]]`)?
pub fn ere_match(text: &str, re: &str) -> bool {
    regex::Regex::new(re).is_ok_and(|r| r.is_match(text))
}

fn process(spec: &Spec, mut raw: Sourced) -> Read {
    let mut diags = Vec::new();
    let stderr = std::mem::take(&mut raw.stderr);
    if spec.strict {
        deprecations(&raw, &mut diags);
    }
    for d in &spec.directives {
        let (name, value) = d.split_once('=').unwrap_or((d, ""));
        raw.vars.entry(name.to_string()).or_default().insert(0, value.to_string());
        diags.push(Diag { stderr: false, text: format!("DIRECTIVE: {name}=\"{value}\"") });
    }
    let mut ok = true;
    let mut c = Conf {
        file: spec.file.clone(),
        package_name: raw.scalar("PACKAGE_NAME").into(),
        package_version: raw.scalar("PACKAGE_VERSION").into(),
        post_add: raw.scalar("POST_ADD").into(),
        post_build: raw.scalar("POST_BUILD").into(),
        post_install: raw.scalar("POST_INSTALL").into(),
        post_remove: raw.scalar("POST_REMOVE").into(),
        pre_build: raw.scalar("PRE_BUILD").into(),
        pre_install: raw.scalar("PRE_INSTALL").into(),
        obsolete_by: raw.scalar("OBSOLETE_BY").into(),
        kernel_config: spec.kernel_config.clone(),
        ..Default::default()
    };
    if c.package_name.is_empty() {
        diags.push(Diag::err("dkms.conf: Error! No 'PACKAGE_NAME' directive specified."));
        ok = false;
    }
    if c.package_version.is_empty() {
        diags.push(Diag::err("dkms.conf: Error! No 'PACKAGE_VERSION' directive specified."));
        ok = false;
    }

    // The arrays may be sparse: the number of modules is 1 + the highest
    // index used in any of the four name/location arrays.
    let num_modules = ["BUILT_MODULE_NAME", "BUILT_MODULE_LOCATION", "DEST_MODULE_NAME", "DEST_MODULE_LOCATION"]
        .iter()
        .filter_map(|n| raw.vars.get(*n).and_then(|a| a.keys().next_back().copied()))
        .max()
        .map_or(0, |m| m + 1);
    let mut strip0: Option<bool> = None;
    for index in 0..num_modules {
        let mut r = ModuleRecord {
            built_module_name: raw.get("BUILT_MODULE_NAME", index).into(),
            built_module_location: raw.get("BUILT_MODULE_LOCATION", index).into(),
            dest_module_name: raw.get("DEST_MODULE_NAME", index).into(),
            orig_dest_module_location: raw.get("DEST_MODULE_LOCATION", index).into(),
            ..Default::default()
        };
        let s = raw.get("STRIP", index);
        let strip = match s.chars().next() {
            Some('n' | 'N') => Some(false),
            Some('y' | 'Y') => Some(true),
            None => Some(strip0.unwrap_or(true)),
            // Any other value leaves strip[i] empty, which means "strip".
            Some(_) => None,
        };
        if index == 0 {
            strip0 = strip;
        }
        r.strip = strip.unwrap_or(true);
        if r.built_module_name.is_empty() && num_modules == 1 {
            r.built_module_name = c.package_name.clone();
        }
        if r.dest_module_name.is_empty() {
            r.dest_module_name = r.built_module_name.clone();
        }
        if !r.built_module_location.is_empty() && !r.built_module_location.ends_with('/') {
            r.built_module_location.push('/');
        }
        if r.built_module_name.is_empty() {
            diags.push(Diag::err(format!(
                "dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #{index}."
            )));
            ok = false;
        }
        if r.built_module_name.ends_with(".o") || r.built_module_name.ends_with(".ko") {
            diags.push(Diag::err(format!(
                "dkms.conf: Error! 'BUILT_MODULE_NAME' directive ends in '.o' or '.ko' in record #{index}."
            )));
            ok = false;
        }
        if r.dest_module_name.ends_with(".o") || r.dest_module_name.ends_with(".ko") {
            diags.push(Diag::err(format!(
                "dkms.conf: Error! 'DEST_MODULE_NAME' directive ends in '.o' or '.ko' in record #{index}."
            )));
            ok = false;
        }
        r.dest_module_location = override_dest_module_location(
            &r.orig_dest_module_location,
            &spec.running_distribution,
            spec.addon_modules_dir.as_deref(),
        );
        let loc = &r.orig_dest_module_location;
        if loc.is_empty() {
            diags.push(Diag::err(format!(
                "dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #{index}."
            )));
            ok = false;
        } else if !(loc.starts_with("/kernel") || loc.starts_with("/updates") || loc.starts_with("/extra")) {
            diags.push(Diag::err("dkms.conf: Error! Directive 'DEST_MODULE_LOCATION' does not begin with"));
            diags.push(Diag::err(format!("'/kernel', '/updates', or '/extra' in record #{index}.")));
            ok = false;
        }
        c.modules.push(r);
    }
    // The lowercase arrays are filled for 0..num_modules; extra indices a
    // conf set itself make their length differ.
    for n in ["built_module_name", "built_module_location", "dest_module_name", "dest_module_location"] {
        let extra = raw.vars.get(n).map_or(0, |a| a.keys().filter(|&&i| i >= num_modules).count());
        if extra > 0 {
            diags.push(Diag::err("dkms.conf: Error! Module name/location array length mismatch."));
            ok = false;
        }
    }

    // MAKE[0] unless MAKE_MATCH[0] is set; the last MAKE[i] whose
    // MAKE_MATCH[i] matches the kernel wins. Iterates 0..${#MAKE[@]}.
    if raw.get("MAKE_MATCH", 0).is_empty() {
        c.make_command = raw.get("MAKE", 0).into();
    }
    for index in 0..raw.count("MAKE") {
        let (mk, mm) = (raw.get("MAKE", index), raw.get("MAKE_MATCH", index));
        if !mk.is_empty() && !mm.is_empty() && ere_match(&spec.kernelver, mm) {
            c.make_command = mk.into();
        }
    }
    if c.make_command.is_empty() {
        c.make_command = format!(
            "make -C {} M={}/{}/{}/build",
            spec.kernel_source_dir.display(),
            spec.dkms_tree.display(),
            spec.module,
            spec.module_version
        );
    }
    if kernel_built_with_clang(&spec.kernel_source_dir, &spec.kernel_config) {
        c.make_command.push_str(" LLVM=1");
    }

    for index in 0..raw.count("PATCH") {
        let (p, pm) = (raw.get("PATCH", index), raw.get("PATCH_MATCH", index));
        if !p.is_empty() && (pm.is_empty() || ere_match(&spec.kernelver, pm)) {
            c.patch_array.push(p.into());
        }
    }

    // OBSOLETE_BY acts as BUILD_EXCLUSIVE_KERNEL_MAX when neither a global nor
    // a per-module maximum is set.
    c.exclusive_kernel_max0 = raw.get("BUILD_EXCLUSIVE_KERNEL_MAX", 0).into();
    if !c.obsolete_by.is_empty() && c.exclusive_kernel_max0.is_empty() {
        let per_module = (0..num_modules).any(|i| !raw.get("BUILD_EXCLUSIVE_KERNEL_MAX", i).is_empty());
        if !per_module {
            c.exclusive_kernel_max0 = c.obsolete_by.clone();
        }
    }
    c.build_depends = raw.array("BUILD_DEPENDS").into_values().collect();
    c.raw = raw;
    let config_text = c.config_text();
    let buildable = (0..num_modules)
        .filter(|&i| c.module_buildable_with(i, &spec.kernelver, &spec.arch, config_text.as_deref()))
        .count();
    c.build_exclude = buildable == 0 && (0..num_modules).any(|i| c.has_build_exclusive(i, true));

    for (name, field) in [("AUTOINSTALL", 0), ("BUILD_DEPENDS_REBUILD", 1), ("NO_WEAK_MODULES", 2)] {
        let v = c.raw.scalar(name).to_string();
        let yes = match v.to_ascii_lowercase().as_str() {
            "" | "no" => false,
            "yes" => true,
            _ => {
                diags.push(Diag::err(format!("dkms.conf: Error! Unsupported {name} value '{v}'")));
                ok = false;
                false
            }
        };
        match field {
            0 => c.autoinstall = yes,
            1 => c.build_depends_rebuild = yes,
            _ => c.no_weak_modules = yes,
        }
    }

    if ok && spec.strict {
        strict_checks(&c, &mut diags, &mut ok);
    }
    Read { conf: c, diags, ok, stderr }
}

/// `read_conf_strict`'s extra checks on an already read conf (upstream runs
/// them even when `read_conf` returned early from its cache).
pub fn strict_diags(c: &Conf) -> (Vec<Diag>, bool) {
    let (mut diags, mut ok) = (Vec::new(), true);
    strict_checks(c, &mut diags, &mut ok);
    (diags, ok)
}

/// `read_conf_strict`'s extra checks.
fn strict_checks(c: &Conf, diags: &mut Vec<Diag>, ok: &mut bool) {
    if c.modules.is_empty() {
        diags.push(Diag::err("dkms.conf: Warning! Zero modules specified."));
    }
    let mut names: Vec<String> = Vec::new();
    for (index, r) in c.modules.iter().enumerate() {
        let m = format!("{}{}", r.built_module_location, r.built_module_name);
        if names.contains(&m) {
            diags.push(Diag::err(format!("dkms.conf: Error! Duplicate module '{m}' in 'BUILT_MODULE_NAME[{index}]'.")));
            *ok = false;
        }
        names.push(m);
    }
    let mut names: Vec<&str> = Vec::new();
    for (index, r) in c.modules.iter().enumerate() {
        let m = r.dest_module_name.as_str();
        if names.contains(&m) {
            diags.push(Diag::err(format!("dkms.conf: Error! Duplicate module '{m}' in 'DEST_MODULE_NAME[{index}]'.")));
            *ok = false;
        }
        names.push(m);
    }
}

/// The kernel was built with clang: its vmlinux `.comment` says so, or (no
/// vmlinux) the config has `CONFIG_CC_IS_CLANG=y`.
/// Remembered per vmlinux/config (and their inode, size and mtime) for the
/// run: status reads hundreds of confs for the same few kernels.
fn kernel_built_with_clang(ksrc: &Path, config: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    type Stamp = Option<(u64, u64, i64, i64)>;
    type Memo = std::collections::HashMap<(PathBuf, PathBuf), (Stamp, Stamp, bool)>;
    static MEMO: std::sync::OnceLock<std::sync::Mutex<Memo>> = std::sync::OnceLock::new();
    let stamp = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.ino(), m.size(), m.mtime(), m.mtime_nsec()));
    let id = (ksrc.to_path_buf(), config.to_path_buf());
    let stamps = (stamp(&ksrc.join("vmlinux")), stamp(config));
    let memo = MEMO.get_or_init(Default::default);
    if let Some(&(a, b, v)) = memo.lock().ok().as_ref().and_then(|m| m.get(&id)) {
        if (a, b) == stamps {
            return v;
        }
    }
    let v = kernel_built_with_clang_uncached(ksrc, config);
    if let Ok(mut m) = memo.lock() {
        m.insert(id, (stamps.0, stamps.1, v));
    }
    v
}

fn kernel_built_with_clang_uncached(ksrc: &Path, config: &Path) -> bool {
    let vmlinux = ksrc.join("vmlinux");
    if vmlinux.exists() {
        let mut c = tools::command("readelf", &[]);
        c.arg("-p").arg(".comment").arg(&vmlinux);
        return tools::output(&mut c).is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout).contains("clang") || String::from_utf8_lossy(&o.stderr).contains("clang")
        });
    }
    crate::kernel::config_contains(config, "CONFIG_CC_IS_CLANG=y")
}

impl Conf {
    /// Number of module records.
    pub fn num_modules(&self) -> usize {
        self.modules.len()
    }

    /// Does record `i` (or the global index 0) carry any BUILD_EXCLUSIVE
    /// directive? With `global`, index 0 counts for every record, as in
    /// upstream's `check_build_exclusive_for_module`.
    pub fn has_build_exclusive(&self, i: usize, global: bool) -> bool {
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
