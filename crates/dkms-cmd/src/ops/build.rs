//! `dkms build` (`build_module`, `maybe_build_module`, `do_build`,
//! `prepare_kernel_and_signing` upstream): copy the source to `build/`,
//! apply patches, run PRE_BUILD, make, check the `.ko` files, strip, sign
//! and compress them into `<kver>/.tmp_<arch>_XXXXXX/`, rename that into
//! place atomically, run POST_BUILD and keep make.log.

use crate::support::dkms::Signer;
use crate::support::dkms::{mvka, Dkms, Mvka};
use crate::support::invoke::Cmd;
use crate::support::signing;
use dkms_cli::{ui, RELEASE_STRING};
use dkms_proto::{Record, SkipReason};
use dkms_state::conf::Conf;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{crash, failures, fsutil, kernel, status, tools, trees};
use std::path::{Path, PathBuf};

/// `maybe_build_module` of m/v: skip (or with `--force` unbuild first)
/// when built.
pub fn maybe_build_module(d: &mut Dkms, m: &str, v: &str, k: &str, a: &str) -> Result<()> {
    if status::is_module_built(&d.ctx.trees, m, v, k, a) {
        if d.ctx.args.force {
            super::unbuild::do_unbuild(d, m, v, k, a);
        } else {
            d.skip_already(m, v, k, a, "built for", SkipReason::AlreadyBuilt);
            return Ok(());
        }
    }
    do_build(d, m, v, k, a).map(drop)
}

/// Compiler variables a kernel wants (upstream exports them before make).
pub(crate) fn compiler_env(d: &Dkms, ksrc: &Path, config: &Path) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let kv = ksrc.join(".kernelvariables");
    if kv.is_file() {
        let mk = format!("show-%:\n\t@echo $($*)\ninclude {}\n", kv.display());
        let mut c = tools::command("make", &d.exports);
        c.args(["-f", "-", "show-CC"]);
        if let Ok(o) = tools::output_with_input(&mut c, mk.as_bytes()) {
            env.push(("CC".into(), String::from_utf8_lossy(&o.stdout).trim().to_string()));
        }
    }
    if let Ok(text) = std::fs::read_to_string(config) {
        let cc = text.lines().find_map(|l| l.strip_prefix("CONFIG_CC_VERSION_TEXT=")).and_then(|v| {
            let v = v.trim_start_matches('"');
            v.contains(' ').then(|| v.split([' ', '"']).next().unwrap_or_default().to_string())
        });
        let mut set = |names: [&str; 2], value: &str| {
            for n in names {
                env.retain(|(k, _)| k != n);
                env.push((n.to_string(), value.to_string()));
            }
        };
        if let Some(cc) = cc.filter(|c| !c.is_empty() && tools::available(c)) {
            set(["CC", "KERNEL_CC"], &cc);
        }
        if text.contains("CONFIG_CC_IS_CLANG=y") && tools::available("clang") {
            set(["CC", "KERNEL_CC"], "clang");
        }
        if text.contains("CONFIG_LD_IS_LLD=y") && tools::available("ld.lld") {
            set(["LD", "KERNEL_LD"], "ld.lld");
        }
    }
    env
}

/// Variables exported by the framework's `build_environment` file.
pub(crate) fn build_environment(d: &Dkms) -> Vec<(String, String)> {
    let file = d.ctx.setting("build_environment");
    if file.is_empty() || !Path::new(file).is_file() {
        return Vec::new();
    }
    let script = format!(
        "( . {} ) >/dev/null 2>&1; set -a; . {} >/dev/null 2>&1; env -0",
        dkms_state::shell::quote(file),
        dkms_state::shell::quote(file)
    );
    let mut c = tools::bash(&script, &[]);
    let before: Vec<(String, String)> = dkms_state::env::vars().collect();
    match tools::output(&mut c) {
        Ok(o) => o
            .stdout
            .split(|&b| b == 0)
            .filter_map(|kv| String::from_utf8_lossy(kv).split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .filter(|kv| !before.contains(kv) && kv.0 != "_" && kv.0 != "SHLVL" && kv.0 != "PWD")
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The apport package hook upstream's `report_build_problem` runs. We do not
/// ship one (README: apport); it is run only where another package put it.
const APPORT_HOOK: &str = "/usr/share/apport/package-hooks/dkms_packages.py";

/// `report_build_problem`: file an apport report where apport and its dkms
/// hook exist, then die. Upstream checks only for apport and so runs
/// "python3: can't open file" where the hook is missing.
fn report_build_problem(d: &Dkms, x: Mvka, kind: Kind, lines: Vec<String>) -> Error {
    if fsutil::executable(Path::new("/usr/share/apport/apport"))
        && Path::new(APPORT_HOOK).is_file()
        && tools::available("python3")
    {
        let (m, v) = (x.m, x.v);
        let mut c = tools::command("python3", &d.exports);
        c.arg(APPORT_HOOK).args(["-m", m, "-v", v, "-k"]);
        c.arg(d.ctx.kernelver.first().cloned().unwrap_or_default());
        let _ = tools::status(&mut c);
    }
    Error::die(kind, lines)
}

/// Does a failed build point at a Makefile that builds for the running
/// kernel (`uname -r`) instead of the one asked for? Evidence: `uname -r`
/// in one of the build tree's makefiles, or a module built there whose
/// vermagic names another kernel.
fn uname_r_evidence(build_dir: &Path, k: &str) -> bool {
    let mut dirs = vec![(build_dir.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let (path, name) = (e.path(), e.file_name().to_string_lossy().into_owned());
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() && depth < 4 && !name.starts_with('.') {
                dirs.push((path, depth + 1));
            } else if t.is_file() && is_makefile(&name) {
                if mentions_uname_r(&String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default())) {
                    return true;
                }
            } else if t.is_file() && name.ends_with(".ko") {
                let mut c = tools::command("modinfo", &[]);
                c.args(["-F", "vermagic"]).arg(&path);
                if let Ok(o) = tools::output(&mut c) {
                    let text = String::from_utf8_lossy(&o.stdout);
                    let vermagic = text.trim_start().strip_prefix("vermagic:").unwrap_or(&text);
                    if vermagic.split_whitespace().next().is_some_and(|kv| kv != k) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// `uname -r`, `$(shell uname -r)`, `` `uname -r` ``.
fn mentions_uname_r(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(2).any(|w| w[0].trim_start_matches(['(', '`', '$']).ends_with("uname") && w[1].starts_with("-r"))
}

fn is_makefile(name: &str) -> bool {
    matches!(name, "Makefile" | "makefile" | "GNUmakefile" | "Kbuild") || name.ends_with(".mk")
}

/// `prepare_kernel`: the headers must be there.
pub fn prepare_kernel(d: &Dkms, k: &str) -> Result<()> {
    if kernel::headers_present(&d.kernel_source_dir(k)) {
        return Ok(());
    }
    let it = d.ctx.trees.install_tree.display();
    Err(Error::die(Kind::KernelHeadersMissing,
        [
            format!("Your kernel headers for kernel {k} cannot be found at {it}/{k}/build or {it}/{k}/source."),
            format!("Please install your distribution's kernel headers package matching {k}, or use the --kernelsourcedir option to tell DKMS where it's located."),
        ],
    )
    .with_hint(format!("On Debian and Ubuntu: apt-get install linux-headers-{k}")))
}

/// `prepare_kernel_and_signing`: once per kernel/arch; prints the signing
/// prologue and an empty line.
pub fn prepare_kernel_and_signing(d: &mut Dkms, k: &str, a: &str) -> Result<()> {
    let key = format!("{k}/{a}");
    if d.prepared_kernel.as_deref() == Some(key.as_str()) {
        return Ok(());
    }
    prepare_kernel(d, k)?;
    let config = d.kernel_config(k);
    d.signer = signing::prepare_signing(d, k, a, &config);
    d.prepared_kernel = Some(key);
    ui::outln("");
    Ok(())
}

fn date() -> String {
    let mut c = tools::command("date", &[]);
    tools::output(&mut c).map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_else(|_| "\n".into())
}

/// `do_build` of m/v on kernel `k`, arch `a`, adding it first when it is
/// not added (m/v empty: what the command line's tarball or directory
/// holds). The module/version built.
pub fn do_build(d: &mut Dkms, m: &str, v: &str, k: &str, a: &str) -> Result<(String, String)> {
    if k.is_empty() || a.is_empty() {
        return Err(Error::die(Kind::EmptyKernelver, ["do_build: Empty $kernelver or $arch"]));
    }
    let (mut m, mut v) = (m.to_string(), v.to_string());
    if !status::is_module_added(&d.ctx.trees, &m, &v) {
        if let Some(added) = super::add::add_module(d, &m, &v)? {
            (m, v) = added;
        }
        ui::outln("");
    }
    let t = d.ctx.trees.clone();
    let source_dir = t.source_link(&m, &v);
    let base_dir = t.arch_dir(&m, &v, k, a);

    // Not upstream: a `<kver>/<arch>` without `module/` is no build (upstream's
    // `is_module_built` says so too) but a leftover; it is removed rather than
    // blocking every build of this kernel.
    super::unbuild::drop_leftover(&t, &m, &v, k, a);
    if base_dir.is_dir() {
        return Err(Error::die(
            Kind::AlreadyBuilt,
            [
                format!("This module/version has already been built on: {k}"),
                format!(
                    "Directory {} already exists. Use the dkms remove function before trying to build again.",
                    base_dir.display()
                ),
            ],
        ));
    }
    let suffix = d.module_suffix(k);
    let conf = d.read_conf_or_die(mvka(&m, &v, k, a), None, true)?;
    if conf.build_exclude {
        return Err(Error::warn(
            Kind::BuildExclusive,
            [
                format!("The {}/dkms.conf", base_dir.display()),
                format!("for module {m}/{v} includes BUILD_EXCLUSIVE directives"),
                "which do not match this kernel/arch/config for any modules.".into(),
                "This indicates that it should not be built.".into(),
            ],
        ));
    }
    if fsutil::entry_count(&source_dir) < 2 {
        return Err(Error::die(
            Kind::SourceEmpty,
            [
                format!(
                    "The directory {} does not appear to have module source located within it.",
                    source_dir.display()
                ),
                "Build halted.".into(),
            ],
        ));
    }
    prepare_kernel_and_signing(d, k, a)?;
    let ksrc = d.kernel_source_dir(k);
    let config = d.kernel_config(k);
    let mut env = d.exports.clone();
    env.retain(|(n, _)| !["CC", "KERNEL_CC", "LD", "KERNEL_LD"].contains(&n.as_str()));
    env.extend(compiler_env(d, &ksrc, &config));
    env.extend(build_environment(d));

    check_build_depends(d, &m, &v, k, a, &conf)?;
    if let Some(placed) = super::cache::substitute(d, mvka(&m, &v, k, a), &conf, &env, suffix) {
        return placed.map(|()| (m, v));
    }

    // From here the build changes the tree: journal it, so a killed build's
    // staging directory is cleaned up by the next run (see `recover`).
    let started = std::time::Instant::now();
    let journal = dkms_state::journal::Journal::begin(&t.dkms_tree, "build", &[&m, &v, k, a])
        .map_err(|e| Error::io(1, "writing the DKMS journal", e))?;
    crash::point("build:journaled");
    let res = build_in_journal(d, mvka(&m, &v, k, a), &conf, suffix, env.clone());
    remember(d, mvka(&m, &v, k, a), &res);
    let _ = journal.finish();
    if res.is_ok() {
        let base_dir = t.arch_dir(&m, &v, k, a);
        let modules = d.built_modules(&m, &v, k, a);
        ui::emit(Record::Built {
            target: ui::target(&m, &v, Some(k), Some(a)),
            log: base_dir.join("log/make.log").display().to_string(),
            elapsed_ms: started.elapsed().as_millis() as u64,
            modules,
        });
        super::cache::push_after_build(d, mvka(&m, &v, k, a), &conf, &env, suffix);
    }
    res.map(|()| (m, v))
}

/// Failure memory (not in upstream dkms): a failed build is recorded with
/// a copy of its make.log (`dkms_state::failures`); a successful one
/// forgets the target's earlier failure.
fn remember(d: &Dkms, x: Mvka, res: &Result<()>) {
    let Mvka { m, v, k, a } = x;
    let tree = &d.ctx.trees.dkms_tree;
    let Err(e) = res else {
        failures::clear(tree, m, v, k, a);
        return;
    };
    let f = failures::Failure {
        module: m.into(),
        version: v.into(),
        kernel: k.into(),
        arch: a.into(),
        kind: e.kind.name().into(),
        exit_code: e.code,
        time: failures::now(),
        inputs_hash: failures::inputs_hash(&d.ctx.trees.source_link(m, v), &d.kernel_config(k), k),
        log: None,
    };
    let _ = failures::record(tree, &f, Some(&d.ctx.trees.build_dir(m, v).join("make.log")));
}

fn build_in_journal(
    d: &mut Dkms,
    x: Mvka,
    conf: &Conf,
    suffix: &'static str,
    env: Vec<(String, String)>,
) -> Result<()> {
    let Mvka { m, v, k, a } = x;
    let t = d.ctx.trees.clone();
    let source_dir = t.source_link(m, v);
    let build_dir = t.build_dir(m, v);
    let build_log = build_dir.join("make.log");
    let _own = BuildDirGuard::take(&build_dir);
    fsutil::remove_all(&build_dir).map_err(|e| Error::io(1, format!("rm -rf {}", build_dir.display()), e))?;
    fsutil::copy_tree(&source_dir, &build_dir)
        .map_err(|e| Error::io(1, format!("cp -a {}/ {}", source_dir.display(), build_dir.display()), e))?;
    crash::point("build:copied");
    let overlay = d.ctx.conf_dir.join(m).join("patches");
    if overlay.is_dir() {
        let _ = fsutil::copy_tree(&overlay, &build_dir.join("patches"));
    }
    let header = format!("DKMS ({RELEASE_STRING}) make.log for {m}/{v} for kernel {k} ({a})\n{}", date());
    std::fs::write(&build_log, header).map_err(|e| Error::io(1, build_log.display(), e))?;

    let saved_exports = std::mem::replace(&mut d.exports, env);
    let res = build_steps(d, x, conf, suffix, &build_log);
    d.exports = saved_exports;
    res
}

/// Exclusive use of a module version's `build/` directory, which all its
/// kernels' builds share (upstream's layout): a parallel autoinstall may
/// build one module for two kernels, or rebuild a dependant in the main
/// thread while a background build runs.
struct BuildDirGuard(PathBuf);

static BUILD_DIRS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
static BUILD_DIR_FREED: std::sync::Condvar = std::sync::Condvar::new();

impl BuildDirGuard {
    fn take(dir: &Path) -> BuildDirGuard {
        let mut busy = BUILD_DIRS.lock().unwrap_or_else(|e| e.into_inner());
        while busy.iter().any(|d| d == dir) {
            busy = BUILD_DIR_FREED.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        busy.push(dir.to_path_buf());
        BuildDirGuard(dir.to_path_buf())
    }
}

impl Drop for BuildDirGuard {
    fn drop(&mut self) {
        let mut busy = BUILD_DIRS.lock().unwrap_or_else(|e| e.into_inner());
        busy.retain(|d| d != &self.0);
        BUILD_DIR_FREED.notify_all();
    }
}

/// BUILD_DEPENDS must be installed (any version) for this kernel/arch.
fn check_build_depends(d: &Dkms, m: &str, v: &str, k: &str, a: &str, conf: &Conf) -> Result<()> {
    let missing: Vec<&String> = conf
        .build_depends
        .iter()
        .filter(|bd| {
            !status::module_status(&d.ctx.trees, Some(bd), None, Some(k), Some(a))
                .iter()
                .any(|e| e.state == status::State::Installed)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list: String = missing.iter().map(|s| format!(" {s}")).collect();
    if d.ctx.args.force {
        ui::warn(&[format!(
            "Trying to build module {m}/{v} for kernel {k} ({a}) despite of missing BUILD_DEPENDS:{list}."
        )]);
        return Ok(());
    }
    Err(Error::die(
        Kind::BuildDependsMissing,
        [
            format!("Aborting build of module {m}/{v} for kernel {k} ({a}) due to missing BUILD_DEPENDS:{list}."),
            "You may override by specifying --force.".into(),
        ],
    ))
}

/// Patch, PRE_BUILD, make, and stage the modules (in `build/`, logging to
/// `build_log`) into `<kernelver>/<arch>`; then POST_BUILD.
fn build_steps(d: &mut Dkms, x: Mvka, conf: &Conf, suffix: &str, build_log: &Path) -> Result<()> {
    let Mvka { m, v, k, a } = x;
    let t = d.ctx.trees.clone();
    let (build_dir, kernelver_dir, base_dir) = (&t.build_dir(m, v), &t.kernel_dir(m, v, k), &t.arch_dir(m, v, k, a));
    let log_s = build_log.display().to_string();
    for p in &conf.patch_array {
        if format!("patches/{p}").contains("/../") {
            return Err(report_build_problem(
                d,
                x,
                Kind::PatchBadPath,
                vec![format!("Patch {p} as specified in dkms.conf contains '..' path component.")],
            ));
        }
        if !build_dir.join("patches").join(p).exists() {
            return Err(report_build_problem(
                d,
                x,
                Kind::PatchMissing,
                vec![
                    format!("Patch {p} as specified in dkms.conf cannot be"),
                    format!("found in {}/patches/.", build_dir.display()),
                ],
            ));
        }
        let cmd = Cmd::Shell { cmd: format!("patch -p1 < ./patches/{p}"), cwd: Some(build_dir.to_path_buf()) }
            .confined(build_dir);
        if d.invoke_command(cmd, &format!("Applying patch {p}"), Some(build_log), true) != 0 {
            return Err(report_build_problem(
                d,
                x,
                Kind::PatchFailed,
                vec![format!("Application of patch {p} failed."), format!("Consult {log_s} for more information.")],
            ));
        }
    }
    d.run_build_script(m, v, "pre_build", &conf.pre_build, Some(build_log))?;

    let make = match conf.make_command.strip_prefix("make") {
        Some(rest) => format!("make -j{} KERNELRELEASE={k}{rest}", d.ctx.parallel_jobs),
        None => conf.make_command.clone(),
    };
    let cwd = Some(build_dir.to_path_buf());
    // Under a jobs budget (a parallel autoinstall, or an outer make's
    // jobserver) make gets the jobserver in MAKEFLAGS and no `-j` of its
    // own, which would override it; messages and make.log still show
    // upstream's command, the one to rerun by hand.
    let cmd = match (conf.make_command.strip_prefix("make"), d.jobs.clone()) {
        (Some(rest), Some(jobs)) => Cmd::Make { shown: make, cmd: format!("make KERNELRELEASE={k}{rest}"), cwd, jobs },
        (None, Some(jobs)) => Cmd::Make { shown: make.clone(), cmd: make, cwd, jobs },
        (_, None) => Cmd::Shell { cmd: make, cwd },
    };
    let limit = build_timeout(d)?;
    let Some(made) =
        d.invoke_command_bounded(cmd.confined(build_dir), "Building module(s)", Some(build_log), true, limit)
    else {
        let secs = limit.map_or(0, |l| l.as_secs());
        return Err(report_build_problem(
            d,
            x,
            Kind::BuildTimeout,
            vec![
                format!(
                    "The module build on kernel: {k} ({a}) ran longer than build_timeout ({secs}s) and was stopped."
                ),
                format!("Consult {log_s} for more information."),
            ],
        ));
    };
    crash::point("build:made");
    if made != 0 {
        let mut hint = format!("The first compiler error in {log_s} is the one to fix");
        if uname_r_evidence(build_dir, k) {
            hint.push_str(&format!("; a Makefile that uses `uname -r` must use $(KERNELRELEASE) ({k}) instead"));
        }
        return Err(report_build_problem(
            d,
            x,
            Kind::BuildFailed,
            vec![
                format!("Bad return status for module build on kernel: {k} ({a})"),
                format!("Consult {log_s} for more information."),
            ],
        )
        .with_hint(hint + "."));
    }
    let buildable: Vec<usize> = (0..conf.num_modules()).filter(|&i| conf.module_buildable(i, k, a)).collect();
    for &i in &buildable {
        let r = &conf.modules[i];
        let rel = format!("{}{}.ko", r.built_module_location, r.built_module_name);
        if !build_dir.join(&rel).exists() {
            return Err(report_build_problem(
                d,
                x,
                Kind::ModuleNotBuilt,
                vec![
                    format!("Build of {rel} failed for: {k} ({a})"),
                    "Make sure the name and location of the generated module are correct,".into(),
                    format!("or consult {log_s} for more information."),
                ],
            ));
        }
    }

    check_vermagic(d, x, conf, &buildable)?;

    // Stage everything in a temporary directory next to the final one and
    // rename it into place, so a crash never leaves a half-filled build.
    std::fs::create_dir_all(kernelver_dir).map_err(|e| Error::io(7, kernelver_dir.display(), e))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".tmp_{a}_"))
        .rand_bytes(6)
        .tempdir_in(kernelver_dir)
        .map_err(|_| Error::die(Kind::MktempFailed, ["Unable to make temporary directory."]))?;
    let tmp = staging.path().to_path_buf();
    let module_dir = tmp.join("module");
    for dir in [tmp.join("log"), module_dir.clone()] {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(7, dir.display(), e))?;
    }
    let symvers = build_dir.join("Module.symvers");
    if symvers.is_file() {
        let _ = fsutil::copy_file(&symvers, &module_dir.join("Module.symvers"));
    }
    let clang = d.exports.iter().any(|(n, v)| n == "CC" && v == "clang");
    for &i in &buildable {
        let r = &conf.modules[i];
        let built = trees::cat(build_dir, &format!("{}{}.ko", r.built_module_location, r.built_module_name));
        if !built.is_file() {
            ui::warn(&[format!("{} has disappeared", built.display())]);
            continue;
        }
        if r.strip {
            let mut c = tools::command(if clang { "llvm-strip" } else { "strip" }, &d.exports);
            c.arg("-g").arg(&built);
            let _ = tools::status(&mut c);
        }
        if let Some(s) = d.signer.clone() {
            sign(&s, &built);
        }
        let installed_name = match compress(d, &built, suffix) {
            Some(compressed) => {
                fsutil::copy_file(&compressed, &module_dir.join(format!("{}.ko{suffix}", r.dest_module_name)))
                    .map_err(|e| Error::io(7, compressed.display(), e))?;
                continue;
            }
            None => module_dir.join(format!("{}.ko", r.dest_module_name)),
        };
        fsutil::copy_file(&built, &installed_name).map_err(|e| Error::io(7, built.display(), e))?;
    }
    for &i in &buildable {
        let name = &conf.modules[i].dest_module_name;
        if crate::support::modfiles::compressed_or_uncompressed(&module_dir, name, suffix).is_none() {
            return Err(Error::die(Kind::ModuleMissing, [format!("Missing module '{name}' in {}", tmp.display())]));
        }
    }
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755));
    crash::point("build:staged");
    let tmp = staging.keep();
    std::fs::rename(&tmp, base_dir).map_err(|e| {
        let _ = fsutil::remove_all(&tmp);
        Error::die(Kind::RenameFailed, [format!("do_build: final mv failed ({e})")])
    })?;

    crash::point("build:renamed");
    d.run_build_script(m, v, "post_build", &conf.post_build, Some(build_log))?;
    crash::point("build:post-build");
    let _ = std::fs::rename(build_log, base_dir.join("log/make.log"));
    crash::point("build:log-moved");
    let _ = fsutil::remove_all(build_dir);

    if conf.build_depends_rebuild && !d.ctx.args.force {
        for bd in &conf.build_depends {
            if let Some(latest) = d.latest_version_of(bd, k, a) {
                let _ = fsutil::write_atomic(&base_dir.join(format!(".dep_{bd}")), format!("{latest}\n").as_bytes());
            }
        }
    }
    Ok(())
}

/// Every built module's `vermagic` must name the kernel built for (not in
/// upstream dkms, which installs such modules and the kernel refuses them
/// at load: upstream #505, #563). Checked after make, before anything is
/// stripped, signed or staged, so nothing is installed. A module whose
/// vermagic cannot be read (no ELF object, no `vermagic=`) is not judged.
fn check_vermagic(d: &Dkms, x: Mvka, conf: &Conf, buildable: &[usize]) -> Result<()> {
    let Mvka { m, v, k, a } = x;
    let build_dir = d.ctx.trees.build_dir(m, v);
    for &i in buildable {
        let r = &conf.modules[i];
        let rel = format!("{}{}.ko", r.built_module_location, r.built_module_name);
        let Some(facts) = dkms_state::module_file::read(&trees::cat(&build_dir, &rel)) else { continue };
        let Some(found) = facts.release() else { continue };
        if found == k {
            continue;
        }
        let hint = format!(
            "The module's Makefile probably uses `uname -r` or $(shell uname -r) to find the kernel; it must use \
             $(KERNELRELEASE) (dkms passes KERNELRELEASE={k}) or dkms.conf's $kernelver instead."
        );
        return Err(report_build_problem(
            d,
            x,
            Kind::WrongKernel,
            vec![
                format!("Module {rel} of {m}/{v} was built for kernel {found}, not for {k} ({a})."),
                format!("Its vermagic is: {}", facts.vermagic.as_deref().unwrap_or_default().trim_end()),
                hint.clone(),
                "Nothing was installed.".into(),
            ],
        )
        .with_hint(hint));
    }
    Ok(())
}

/// framework.conf's `build_timeout` (not upstream): how long make may run;
/// unset, no limit (upstream's behaviour).
fn build_timeout(d: &Dkms) -> Result<Option<std::time::Duration>> {
    let s = d.ctx.setting("build_timeout");
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<u64>() {
        Ok(n) if n > 0 => Ok(Some(std::time::Duration::from_secs(n))),
        _ => Err(Error::die(
            Kind::SettingInvalid,
            [format!("build_timeout in framework.conf needs a positive number of seconds, not '{s}'")],
        )),
    }
}

/// Sign one module; a failure is a warning, the build goes on.
fn sign(s: &Signer, module: &Path) {
    ui::outln(&format!("Signing module {}", module.display()));
    let mut c = tools::command(&s.sign_file, &[]);
    c.arg(&s.hash).arg(&s.key).arg(&s.cert).arg(module);
    let out = tools::output(&mut c);
    let (ok, text) = match out {
        Ok(o) => {
            let mut t = String::from_utf8_lossy(&o.stdout).into_owned();
            t.push_str(&String::from_utf8_lossy(&o.stderr));
            (o.status.success(), t)
        }
        Err(e) => (false, e.to_string()),
    };
    if !ok {
        // `$(...)` drops trailing newlines.
        let text = text.trim_end_matches('\n').to_string();
        ui::warn(&[format!("Failed to sign module '{}'!", module.display()), text]);
    }
}

/// Compress a built module as the kernel's own modules are; returns the
/// compressed file, or None to install it uncompressed.
fn compress(d: &Dkms, built: &Path, suffix: &str) -> Option<PathBuf> {
    let (tool, opts) = match suffix {
        ".gz" => ("gzip", d.ctx.setting("compress_gzip_opts")),
        ".xz" => ("xz", d.ctx.setting("compress_xz_opts")),
        ".zst" => ("zstd", d.ctx.setting("compress_zstd_opts")),
        _ => return None,
    };
    let mut c = tools::command(tool, &d.exports);
    c.args(opts.split_ascii_whitespace()).arg("-f").arg(built);
    let ok = tools::status(&mut c).is_ok_and(|s| s == 0);
    let out = PathBuf::from(format!("{}{suffix}", built.display()));
    (ok && out.is_file()).then_some(out)
}
