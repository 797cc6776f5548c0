//! `read_conf`'s post-processing: what bash gave for a dkms.conf turned into
//! the module records, make command, patches and BUILD_EXCLUSIVE verdict,
//! with upstream's validation messages in upstream's order.

use super::{ere_match, override_dest_module_location, Conf, Diag, ModuleRecord, Read, Spec};
use crate::shell::Sourced;
use crate::tools;
use std::path::{Path, PathBuf};

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

/// `read_conf`'s post-processing of what bash gave, step by step; `diags`
/// come out in upstream's order.
pub(super) fn process(spec: &Spec, mut raw: Sourced) -> Read {
    let mut diags = Vec::new();
    let stderr = std::mem::take(&mut raw.stderr);
    if spec.strict {
        deprecations(&raw, &mut diags);
    }
    apply_directives(spec, &mut raw, &mut diags);
    let mut ok = true;
    let mut c = header(spec, &raw, &mut diags, &mut ok);
    let num_modules = module_count(&raw, &mut diags, &mut ok);
    c.modules = module_records(spec, &raw, &c.package_name, num_modules, &mut diags, &mut ok);
    check_lowercase_arrays(&raw, num_modules, &mut diags, &mut ok);
    c.make_command = make_command(spec, &raw);
    c.patch_array = patches(spec, &raw);
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
    yes_no_flags(&mut c, &mut diags, &mut ok);
    if ok && spec.strict {
        strict_checks(&c, &mut diags, &mut ok);
    }
    Read { conf: c, diags, ok, stderr }
}

/// `--directive NAME=value`: set (index 0) after the conf was sourced.
fn apply_directives(spec: &Spec, raw: &mut Sourced, diags: &mut Vec<Diag>) {
    for d in &spec.directives {
        let (name, value) = d.split_once('=').unwrap_or((d, ""));
        raw.vars.entry(name.to_string()).or_default().insert(0, value.to_string());
        diags.push(Diag { stderr: false, text: format!("DIRECTIVE: {name}=\"{value}\"") });
    }
}

/// The scalars, with the checks of the two mandatory ones.
fn header(spec: &Spec, raw: &Sourced, diags: &mut Vec<Diag>, ok: &mut bool) -> Conf {
    let c = Conf {
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
        *ok = false;
    }
    if c.package_version.is_empty() {
        diags.push(Diag::err("dkms.conf: Error! No 'PACKAGE_VERSION' directive specified."));
        *ok = false;
    }
    c
}

/// More module records than any real dkms.conf has (the largest known
/// ones name a few dozen modules).
pub const MAX_MODULES: usize = 1024;

/// The arrays may be sparse: the number of modules is 1 + the highest
/// index used in any of the four name/location arrays. Upstream then walks
/// (and fills lowercase arrays for) every index up to it, so one
/// `BUILT_MODULE_NAME[99999999]=x` costs gigabytes; an index past
/// `MAX_MODULES` is refused instead (not upstream; such a conf is invalid
/// there too, every missing record being an error) and no record is made.
fn module_count(raw: &Sourced, diags: &mut Vec<Diag>, ok: &mut bool) -> usize {
    let highest = ["BUILT_MODULE_NAME", "BUILT_MODULE_LOCATION", "DEST_MODULE_NAME", "DEST_MODULE_LOCATION"]
        .iter()
        .filter_map(|n| raw.vars.get(*n).and_then(|a| a.keys().next_back()).map(|&i| (i, *n)))
        .max();
    match highest {
        Some((i, name)) if i >= MAX_MODULES => {
            diags.push(Diag::err(format!(
                "dkms.conf: Error! Index {i} of '{name}' is too large (at most {MAX_MODULES} modules)."
            )));
            *ok = false;
            0
        }
        Some((i, _)) => i + 1,
        None => 0,
    }
}

/// One record per module index, with upstream's defaults and checks.
fn module_records(
    spec: &Spec,
    raw: &Sourced,
    package_name: &str,
    num_modules: usize,
    diags: &mut Vec<Diag>,
    ok: &mut bool,
) -> Vec<ModuleRecord> {
    let mut modules = Vec::new();
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
            r.built_module_name = package_name.to_string();
        }
        if r.dest_module_name.is_empty() {
            r.dest_module_name = r.built_module_name.clone();
        }
        if !r.built_module_location.is_empty() && !r.built_module_location.ends_with('/') {
            r.built_module_location.push('/');
        }
        r.dest_module_location = override_dest_module_location(
            &r.orig_dest_module_location,
            &spec.running_distribution,
            spec.addon_modules_dir.as_deref(),
        );
        check_record(&r, index, diags, ok);
        modules.push(r);
    }
    modules
}

/// Upstream's checks of one module record's names and location.
fn check_record(r: &ModuleRecord, index: usize, diags: &mut Vec<Diag>, ok: &mut bool) {
    if r.built_module_name.is_empty() {
        diags.push(Diag::err(format!(
            "dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #{index}."
        )));
        *ok = false;
    }
    if r.built_module_name.ends_with(".o") || r.built_module_name.ends_with(".ko") {
        diags.push(Diag::err(format!(
            "dkms.conf: Error! 'BUILT_MODULE_NAME' directive ends in '.o' or '.ko' in record #{index}."
        )));
        *ok = false;
    }
    if r.dest_module_name.ends_with(".o") || r.dest_module_name.ends_with(".ko") {
        diags.push(Diag::err(format!(
            "dkms.conf: Error! 'DEST_MODULE_NAME' directive ends in '.o' or '.ko' in record #{index}."
        )));
        *ok = false;
    }
    check_paths(r, index, diags, ok);
    let loc = &r.orig_dest_module_location;
    if loc.is_empty() {
        diags.push(Diag::err(format!(
            "dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #{index}."
        )));
        *ok = false;
    } else if !(loc.starts_with("/kernel") || loc.starts_with("/updates") || loc.starts_with("/extra")) {
        diags.push(Diag::err("dkms.conf: Error! Directive 'DEST_MODULE_LOCATION' does not begin with"));
        diags.push(Diag::err(format!("'/kernel', '/updates', or '/extra' in record #{index}.")));
        *ok = false;
    }
}

/// Not upstream: the names and locations of a record become paths in the
/// trees (`build/<BUILT_MODULE_LOCATION><BUILT_MODULE_NAME>.ko`,
/// `<install_tree>/<kernel><DEST_MODULE_LOCATION>/<DEST_MODULE_NAME>.ko`),
/// so a name is one plain name and a location has no `..` (upstream's
/// prefix check passes `/kernel/../../../etc`); BUILT_MODULE_LOCATION is
/// relative to the build directory.
fn check_paths(r: &ModuleRecord, index: usize, diags: &mut Vec<Diag>, ok: &mut bool) {
    let names = [("BUILT_MODULE_NAME", &r.built_module_name), ("DEST_MODULE_NAME", &r.dest_module_name)];
    for (what, value) in names {
        if !value.is_empty() && !crate::name::is_valid(value) {
            let value = crate::name::printable(value);
            diags
                .push(Diag::err(format!("dkms.conf: Error! '{what}' '{value}' is no module name in record #{index}.")));
            *ok = false;
        }
    }
    let dot_dot = |p: &str| p.split('/').any(|c| c == ".." || c.chars().any(char::is_control));
    let built = &r.built_module_location;
    let locations = [("DEST_MODULE_LOCATION", &r.orig_dest_module_location), ("BUILT_MODULE_LOCATION", built)];
    for (what, value) in locations {
        if dot_dot(value) || (what == "BUILT_MODULE_LOCATION" && value.starts_with('/')) {
            let value = crate::name::printable(value);
            diags.push(Diag::err(format!("dkms.conf: Error! '{what}' '{value}' leaves its tree in record #{index}.")));
            *ok = false;
        }
    }
}

/// The lowercase arrays are filled for 0..num_modules; extra indices a
/// conf set itself make their length differ.
fn check_lowercase_arrays(raw: &Sourced, num_modules: usize, diags: &mut Vec<Diag>, ok: &mut bool) {
    for n in ["built_module_name", "built_module_location", "dest_module_name", "dest_module_location"] {
        let extra = raw.vars.get(n).map_or(0, |a| a.keys().filter(|&&i| i >= num_modules).count());
        if extra > 0 {
            diags.push(Diag::err("dkms.conf: Error! Module name/location array length mismatch."));
            *ok = false;
        }
    }
}

/// MAKE[0] unless MAKE_MATCH[0] is set; the last MAKE[i] whose
/// MAKE_MATCH[i] matches the kernel wins. Iterates 0..${#MAKE[@]}.
fn make_command(spec: &Spec, raw: &Sourced) -> String {
    let mut make = String::new();
    if raw.get("MAKE_MATCH", 0).is_empty() {
        make = raw.get("MAKE", 0).into();
    }
    for index in 0..raw.count("MAKE") {
        let (mk, mm) = (raw.get("MAKE", index), raw.get("MAKE_MATCH", index));
        if !mk.is_empty() && !mm.is_empty() && ere_match(&spec.kernelver, mm) {
            make = mk.into();
        }
    }
    if make.is_empty() {
        make = format!(
            "make -C {} M={}/{}/{}/build",
            spec.kernel_source_dir.display(),
            spec.dkms_tree.display(),
            spec.module,
            spec.module_version
        );
    }
    if kernel_built_with_clang(&spec.kernel_source_dir, &spec.kernel_config) {
        make.push_str(" LLVM=1");
    }
    make
}

/// The PATCH[i] whose PATCH_MATCH[i] is empty or matches the kernel.
fn patches(spec: &Spec, raw: &Sourced) -> Vec<String> {
    let mut out = Vec::new();
    for index in 0..raw.count("PATCH") {
        let (p, pm) = (raw.get("PATCH", index), raw.get("PATCH_MATCH", index));
        if !p.is_empty() && (pm.is_empty() || ere_match(&spec.kernelver, pm)) {
            out.push(p.into());
        }
    }
    out
}

/// AUTOINSTALL, BUILD_DEPENDS_REBUILD, NO_WEAK_MODULES: yes, no or empty.
fn yes_no_flags(c: &mut Conf, diags: &mut Vec<Diag>, ok: &mut bool) {
    for (name, field) in [("AUTOINSTALL", 0), ("BUILD_DEPENDS_REBUILD", 1), ("NO_WEAK_MODULES", 2)] {
        let v = c.raw.scalar(name).to_string();
        let yes = match v.to_ascii_lowercase().as_str() {
            "" | "no" => false,
            "yes" => true,
            _ => {
                diags.push(Diag::err(format!("dkms.conf: Error! Unsupported {name} value '{v}'")));
                *ok = false;
                false
            }
        };
        match field {
            0 => c.autoinstall = yes,
            1 => c.build_depends_rebuild = yes,
            _ => c.no_weak_modules = yes,
        }
    }
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
