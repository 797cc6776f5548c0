//! The steps of a build after its checks (`do_build` upstream, from the
//! patches on): patches, make (confined, bounded), the check that every
//! module was built for the right kernel, and staging — strip, sign,
//! compress, rename into place. A failure says how to find its cause
//! (`report_build_problem`).

use crate::support::dkms::{Dkms, Signer, Target};
use crate::support::invoke::Cmd;
use crate::support::products::{self, Untaken};
use dkms_cli::ui::Ui;
use dkms_state::conf::Conf;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::progress::Previous;
use dkms_state::{beneath, crash, fsutil, tools, trees};
use std::path::{Path, PathBuf};

/// The apport package hook upstream's `report_build_problem` runs. We do not
/// ship one (README: apport); it is run only where another package put it.
const APPORT_HOOK: &str = "/usr/share/apport/package-hooks/dkms_packages.py";

/// `report_build_problem`: file an apport report where apport and its dkms
/// hook exist, then die. Upstream checks only for apport and so runs
/// "python3: can't open file" where the hook is missing.
pub(super) fn report_build_problem(d: &Dkms, x: Target, kind: Kind, lines: Vec<String>) -> Error {
    if fsutil::executable(Path::new("/usr/share/apport/apport"))
        && Path::new(APPORT_HOOK).is_file()
        && tools::available("python3")
    {
        let mut c = tools::command("python3", &d.exports);
        c.arg(APPORT_HOOK).args(["-m", x.m, "-v", x.v, "-k", x.k]);
        let _ = tools::status(&mut c);
    }
    Error::die(kind, lines)
}

/// Does a failed build point at a Makefile that builds for the running
/// kernel (`uname -r`) instead of the one asked for? Only the build's own
/// evidence counts: a module built there whose vermagic names another
/// kernel, or make.log showing another kernel's tree. A Makefile merely
/// mentioning `uname -r` is no evidence (librem-ec-acpi's does, and its
/// build fails on a compiler error).
fn uname_r_evidence(build_dir: &Path, build_log: &Path, k: &str) -> bool {
    let log = std::fs::read(build_log).unwrap_or_default();
    if log_names_other_kernel(&String::from_utf8_lossy(&log), k) {
        return true;
    }
    let mut dirs = vec![(build_dir.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let (path, name) = (e.path(), e.file_name().to_string_lossy().into_owned());
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() && depth < 4 && !name.starts_with('.') {
                dirs.push((path, depth + 1));
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

/// Does make.log name another kernel's tree: `/lib/modules/<other>/`, or
/// `linux-headers-<other>` of another release (Debian's
/// `linux-headers-<release>-common` of k's own release is k's)?
fn log_names_other_kernel(log: &str, k: &str) -> bool {
    let release = k.rsplit_once('-').map_or(k, |(r, _)| r);
    let names = |pat: &str| -> Vec<String> {
        log.match_indices(pat)
            .map(|(i, p)| log[i + p.len()..].chars().take_while(|c| !matches!(c, '/' | '\'' | '"' | '`')).collect())
            .filter(|n: &String| !n.trim().is_empty())
            .collect()
    };
    names("/lib/modules/").iter().any(|n| n != k)
        || names("linux-headers-").iter().any(|n| !n.starts_with(&format!("{release}-")) && n != k)
}

/// Apply the conf's PATCH[]es in `build/` (`patch -p1`, confined like make).
pub(super) fn apply_patches(d: &Dkms, x: Target, conf: &Conf, build_log: &Path) -> Result<()> {
    let build_dir = &d.ctx.trees.build_dir(x.m, x.v);
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
    Ok(())
}

/// Run MAKE in `build/` (under the jobs budget, confined, bounded by
/// `build_timeout`): a failure says how to find the cause. `cached`: the
/// last build as the binary cache records it, for `--progress`.
pub(super) fn run_make(
    d: &Dkms,
    x: Target,
    conf: &Conf,
    build_log: &Path,
    cached: impl FnOnce() -> Option<Previous>,
) -> Result<()> {
    let Target { m, v, k, a } = x;
    let build_dir = &d.ctx.trees.build_dir(m, v);
    let log_s = build_log.display().to_string();
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
    // Not upstream: show how far make has got (`--progress`).
    let watch = d.watch_make(x, build_log, cached);
    let made = d.invoke_command_bounded(cmd.confined(build_dir), "Building module(s)", Some(build_log), true, limit);
    drop(watch);
    let Some(made) = made else {
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
        if uname_r_evidence(build_dir, build_log, k) {
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
    Ok(())
}

/// The modules the conf builds for this kernel, each of which make must
/// have left in `build/` as a regular file of its own (`products`).
pub(super) fn built_modules_present(d: &Dkms, x: Target, conf: &Conf, build_log: &Path) -> Result<Vec<usize>> {
    let Target { m, v, k, a } = x;
    let build_dir = &d.ctx.trees.build_dir(m, v);
    let log_s = build_log.display().to_string();
    let buildable: Vec<usize> = (0..conf.num_modules()).filter(|&i| conf.module_buildable(i, k, a)).collect();
    for &i in &buildable {
        let r = &conf.modules[i];
        let rel = format!("{}{}.ko", r.built_module_location, r.built_module_name);
        let taken = products::open(build_dir, &rel);
        if let Err(Untaken::Refused(why)) = taken {
            return Err(product_refused(d, x, &why));
        }
        if taken.is_err() {
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

    Ok(buildable)
}

/// A product of the build refused (see `products`): the build fails.
pub(super) fn product_refused(d: &Dkms, x: Target, why: &str) -> Error {
    let Target { k, a, .. } = x;
    report_build_problem(
        d,
        x,
        Kind::ProductRefused,
        vec![
            format!("Build refused for: {k} ({a}): {why}."),
            "dkms takes only regular files the build made in build/; nothing this one points to was read.".into(),
        ],
    )
}

/// Strip, sign and compress the built modules into the staging directory
/// of `stage_build`. Every file is taken from `build/` as `products` says
/// (checked again before strip and sign, which write it in place) and
/// copied from the opened file.
pub(super) fn stage_modules(d: &Dkms, x: Target, conf: &Conf, buildable: &[usize], suffix: &str) -> Result<()> {
    let build_dir = &d.ctx.trees.build_dir(x.m, x.v);
    let refused = |why: String| product_refused(d, x, &why);
    stage_build(d, x, conf, suffix, |module_dir| {
        match products::copy(build_dir, "Module.symvers", &module_dir.join("Module.symvers")) {
            Err(Untaken::Refused(why)) => return Err(refused(why)),
            Ok(_) | Err(Untaken::Missing) => {}
        }
        let clang = d.exports.iter().any(|(n, v)| n == "CC" && v == "clang");
        for &i in buildable {
            let r = &conf.modules[i];
            let rel = format!("{}{}.ko", r.built_module_location, r.built_module_name);
            let built = trees::cat(build_dir, &rel);
            match products::open(build_dir, &rel) {
                Err(Untaken::Refused(why)) => return Err(refused(why)),
                Err(Untaken::Missing) => {
                    d.ui.warn(&[format!("{} has disappeared", built.display())]);
                    continue;
                }
                Ok(_) => {}
            }
            if r.strip {
                let mut c = tools::command(if clang { "llvm-strip" } else { "strip" }, &d.exports);
                c.arg("-g").arg(&built);
                let _ = tools::status(&mut c);
            }
            if let Some(s) = d.signer.clone() {
                sign(&d.ui, &s, &built);
            }
            let (from, to) = match compress(d, &built, suffix) {
                Some(_) => (format!("{rel}{suffix}"), module_dir.join(format!("{}.ko{suffix}", r.dest_module_name))),
                None => (rel, module_dir.join(format!("{}.ko", r.dest_module_name))),
            };
            products::copy(build_dir, &from, &to).map_err(|e| match e {
                Untaken::Refused(why) => refused(why),
                Untaken::Missing => Error::io(Kind::BuildStagingFailed, from, std::io::ErrorKind::NotFound.into()),
            })?;
        }
        Ok(())
    })
}

/// The staging of every build, local or substituted from the binary
/// cache: a directory `<kernelver>/.tmp_<arch>_XXXXXX` with `log/` and
/// `module/`, the latter filled by `fill`, which must then hold every
/// module built for this kernel; renamed to `<kernelver>/<arch>` (and so
/// counted as built) only when complete, so a crash never leaves a
/// half-filled build (`do_build`'s `mktemp_or_die -d` and `mv -T`).
pub(super) fn stage_build(
    d: &Dkms,
    x: Target,
    conf: &Conf,
    suffix: &str,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let Target { m, v, k, a } = x;
    let t = &d.ctx.trees;
    let (kernelver_dir, base_dir) = (&t.kernel_dir(m, v, k), &t.arch_dir(m, v, k, a));
    std::fs::create_dir_all(kernelver_dir)
        .map_err(|e| Error::io(Kind::BuildStagingFailed, kernelver_dir.display(), e))?;
    let staging = tempfile::Builder::new()
        .prefix(&format!(".tmp_{a}_"))
        .rand_bytes(6)
        .tempdir_in(kernelver_dir)
        .map_err(|_| Error::die(Kind::MktempFailed, ["Unable to make temporary directory."]))?;
    let tmp = staging.path().to_path_buf();
    let module_dir = tmp.join("module");
    for dir in [tmp.join("log"), module_dir.clone()] {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(Kind::BuildStagingFailed, dir.display(), e))?;
    }
    fill(&module_dir)?;
    if let Some(name) = missing_module(conf, k, a, &module_dir, suffix) {
        return Err(Error::die(Kind::ModuleMissing, [format!("Missing module '{name}' in {}", tmp.display())]));
    }
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755));
    crash::point("build:staged");
    let tmp = staging.keep();
    std::fs::rename(&tmp, base_dir).map_err(|e| {
        let _ = beneath::remove_all(&t.dkms_tree, &tmp);
        Error::die(Kind::RenameFailed, [format!("do_build: final mv failed ({e})")])
    })?;
    // What the build was made against, so that kernel_preinst keeps it when
    // the image follows its unchanged headers (not in upstream dkms; a
    // missing stamp only means upstream's unbuild).
    let stamp = dkms_state::dpkg::header_stamp(&t.dkms_tree, m, v, k, a);
    let _ = dkms_state::dpkg::write_stamp(&stamp, base_dir, &d.kernel_source_dir(k), &d.kernel_config(k));
    Ok(())
}

/// The first module built for kernel `k` (arch `a`) that `module_dir`
/// lacks, compressed with `suffix` or not (`compressed_or_uncompressed`).
pub(super) fn missing_module<'c>(conf: &'c Conf, k: &str, a: &str, module_dir: &Path, suffix: &str) -> Option<&'c str> {
    let mut buildable = (0..conf.num_modules()).filter(|&i| conf.module_buildable(i, k, a));
    buildable.find_map(|i| {
        let name = &conf.modules[i].dest_module_name;
        crate::support::modfiles::compressed_or_uncompressed(module_dir, name, suffix)
            .is_none()
            .then_some(name.as_str())
    })
}

/// Every built module's `vermagic` must name the kernel built for (not in
/// upstream dkms, which installs such modules and the kernel refuses them
/// at load: upstream #505, #563). Checked after make, before anything is
/// stripped, signed or staged, so nothing is installed. A module whose
/// vermagic cannot be read (no ELF object, no `vermagic=`) is not judged.
pub(super) fn check_vermagic(d: &Dkms, x: Target, conf: &Conf, buildable: &[usize]) -> Result<()> {
    let Target { m, v, k, a } = x;
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
fn sign(ui: &Ui, s: &Signer, module: &Path) {
    ui.outln(&format!("Signing module {}", module.display()));
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
        ui.warn(&[format!("Failed to sign module '{}'!", module.display()), text]);
    }
}

/// Compress a built module as the kernel's own modules are; returns the
/// compressed file, or None to install it uncompressed.
pub(crate) fn compress(d: &Dkms, built: &Path, suffix: &str) -> Option<PathBuf> {
    let (tool, opts) = match suffix {
        ".gz" => ("gzip", d.ctx.setting("compress_gzip_opts")),
        ".xz" => ("xz", d.ctx.setting("compress_xz_opts")),
        ".zst" => ("zstd", d.ctx.setting("compress_zstd_opts")),
        _ => return None,
    };
    let out = PathBuf::from(format!("{}{suffix}", built.display()));
    // Whatever the build left at the compressor's output name (a link
    // among them) goes first: `-f` would overwrite it, maybe through it.
    let _ = std::fs::remove_file(&out);
    let mut c = tools::command(tool, &d.exports);
    c.args(opts.split_ascii_whitespace()).arg("-f").arg(built);
    let ok = tools::status(&mut c).is_ok_and(|s| s == 0);
    (ok && out.symlink_metadata().is_ok_and(|m| m.is_file())).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::log_names_other_kernel;

    #[test]
    fn only_another_kernels_tree_in_make_log_is_evidence() {
        let k = "6.1.0-56-amd64";
        let own = "make -C /lib/modules/6.1.0-56-amd64/build M=/x\nmake[1]: Entering directory '/usr/src/linux-headers-6.1.0-56-common'\n";
        assert!(!log_names_other_kernel(own, k));
        assert!(!log_names_other_kernel("error: incompatible-pointer-types\n", k));
        assert!(log_names_other_kernel("make -C /lib/modules/6.1.0-48-amd64/build\n", k));
        assert!(log_names_other_kernel("Entering directory '/usr/src/linux-headers-6.1.0-48-amd64'\n", k));
    }
}
