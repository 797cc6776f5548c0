//! `dkms cache deb` (not in upstream dkms): a Debian binary package of the
//! built modules of m/v for one kernel, `<module>-modules-<kernel>`, whose
//! files are where `dkms install` places them (`install::destination`:
//! DEST_MODULE_LOCATION and the distribution's override, compression and
//! signature as built). Made in a private staging directory with
//! `dpkg-deb --build --root-owner-group`, then copied into the target
//! directory under a temporary name and renamed, so a reader never sees
//! half a package. A module/version added but not built here is packaged
//! from a verified entry of `binary_cache` when one has it (no compiler
//! needed). The texts are in `debpkg_text`.

use super::debpkg_text::{self as text, failed, Facts};
use super::install::{destination, install_aborted, install_checks, not_obsolete, Before, Places};
use crate::support::dkms::{Dkms, Target};
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{env, fsutil, status, tarball, tools, trees};
use std::path::{Path, PathBuf};

/// Where the packaged modules live on the machines that install them.
const MODULES_ROOT: &str = "lib/modules";

/// The licence files looked for at the top of the module source, in order.
const LICENSE_FILES: &[&str] =
    &["COPYING", "LICENSE", "LICENCE", "COPYING.txt", "LICENSE.txt", "LICENSE.md", "COPYING.md", "COPYING.GPL"];

/// One module of the package: the built file and its path in the package.
struct Placed {
    source: PathBuf,
    /// Relative to the package root (`lib/modules/<k>/updates/dkms/x.ko`).
    rel: PathBuf,
}

/// Write the package of the build of `x` into `to`; its path. `force`:
/// `--force`, which keeps modules OBSOLETE_BY would leave out, as install.
pub(crate) fn write(d: &mut Dkms, force: bool, x: Target, to: &Path) -> Result<PathBuf> {
    let Target { m, v, k, a } = x;
    let built_here = status::is_module_built(&d.ctx.trees, m, v, k, a);
    // Not built here: a verified entry of binary_cache stands in for the build.
    let entry = if built_here { None } else { from_cache(d, x)? };
    if !built_here && entry.is_none() {
        return Err(Error::die(Kind::NotBuilt, [format!("{m}/{v} is not built for {k} ({a}): nothing to package.")]));
    }
    let modules_from = entry.as_ref().map(|e| e.module_dir());
    let placed = modules(d, force, x, modules_from.as_deref())?;
    let package = text::package_name(m, k)?;
    if text::package_word(m) != m {
        d.ui.outln(&format!("Package name {package}: Debian names allow no upper case or '_' ('_' is written '-')"));
    }
    dkms_state::name::check(dkms_state::name::What::Module, &package)?;
    // The modules' times: a cache entry keeps its builder's, so a node
    // packaging it writes the version the builder would.
    let built = build_time(&modules_from.clone().unwrap_or_else(|| d.ctx.trees.arch_dir(m, v, k, a).join("module")));
    let files = placed.iter().filter_map(|p| p.rel.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
    let mut facts = Facts {
        provides: format!("{}-modules", text::package_word(m)),
        version: text::package_version(v, built)?,
        deb_arch: text::deb_arch(a)?.to_string(),
        module: m.into(),
        module_version: v.into(),
        kernel: k.into(),
        files,
        maintainer: maintainer(),
        built,
        installed_kib: 0,
        package,
    };
    let stage =
        tarball::private_dir(&d.ctx.tmp_location).map_err(|e| Error::io(Kind::DebFailed, "a staging directory", e))?;
    let root = stage.path().join("root");
    stage_files(d, x, &placed, &mut facts, &root).map_err(|e| failed(format!("Staging the package failed: {e}")))?;
    let name = format!("{}_{}_{}.deb", facts.package, facts.version, facts.deb_arch);
    let built_deb = stage.path().join(&name);
    dpkg_deb(&root, &built_deb, built)?;
    std::fs::create_dir_all(to).map_err(|e| Error::io(Kind::DebFailed, to.display(), e))?;
    let dest = to.join(&name);
    let copied =
        std::fs::File::open(&built_deb).and_then(|mut f| fsutil::write_atomic_from(&dest, &mut f, Some(0o644)));
    copied.map_err(|e| Error::io(Kind::DebFailed, dest.display(), e))?;
    d.ui.outln(&format!("Package {} written to {}", facts.package, dest.display()));
    Ok(dest)
}

/// The modules an install of `x` would place, each with its path in the
/// package: install's checks, and its refusals with its errors (a module
/// BUILD_EXCLUSIVE leaves out or OBSOLETE_BY obsoletes is not placed;
/// none placed: "Installation aborted.").
fn modules(d: &mut Dkms, force: bool, x: Target, entry: Option<&Path>) -> Result<Vec<Placed>> {
    let (conf, buildable, suffix) = install_checks(d, x, entry.is_none(), false, force)?;
    let places = Places::of(&d.ctx.trees, x);
    let lib_tree = d.ctx.trees.lib_tree(x.k);
    let mut placed = Vec::new();
    for &i in &buildable {
        // As install: an obsoleted module is left out, said as install says it.
        if !not_obsolete(&d.ui, force, x.k, &conf.obsolete_by) {
            continue;
        }
        let dst = destination(d, x, &conf.modules[i], suffix, &places, &Before::default());
        let below = dst
            .dest
            .strip_prefix(&lib_tree)
            .map_err(|_| failed(format!("{} is not below {}", dst.dest.display(), lib_tree.display())))?;
        let rel = trees::cat(&Path::new(MODULES_ROOT).join(x.k), &below.to_string_lossy());
        let source = match entry {
            Some(dir) => dir.join(dst.source.file_name().unwrap_or_default()),
            None => dst.source,
        };
        if !source.is_file() {
            return Err(failed(format!("{} is missing", source.display())));
        }
        placed.push(Placed { source, rel });
    }
    if conf.num_modules() > 0 && placed.is_empty() {
        return Err(install_aborted());
    }
    Ok(placed)
}

/// The entry of `binary_cache` for the build of `x`, verified and unpacked
/// as a build would take it (`cache::fetch`: signature, hashes, vermagic);
/// None when no cache is set or no source has it (each said why).
fn from_cache(d: &mut Dkms, x: Target) -> Result<Option<super::binary_cache::Prebuilt>> {
    if super::binary_cache::sources(d).is_empty() || !status::is_module_added(&d.ctx.trees, x.m, x.v) {
        return Ok(None);
    }
    let conf = d.read_conf_or_die(x, None, true)?;
    let prepared = d.quietly(|d| super::prepare_kernel::prepare_kernel_and_signing(d, x.k, x.a));
    prepared?;
    let env = super::prepare_kernel::make_env(d, x.k);
    let suffix = d.module_suffix(x.k);
    Ok(super::binary_cache::fetch(d, x, &conf, &env, suffix))
}

/// When the build was made: its newest file's time (a rebuild is newer).
fn build_time(arch_dir: &Path) -> u64 {
    let mut newest = 0;
    let mut stack = vec![arch_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else if let Ok(t) = md.modified() {
                newest = newest.max(t.duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_secs()));
            }
        }
    }
    newest
}

/// `DEBFULLNAME <DEBEMAIL>` (as dch takes them), else a placeholder on
/// the reserved `.invalid` domain.
fn maintainer() -> String {
    let name = env::nonempty("DEBFULLNAME").unwrap_or_else(|| "dkms cache deb".into());
    let mail = env::nonempty("DEBEMAIL").unwrap_or_else(|| "dkms@modules.invalid".into());
    format!("{name} <{mail}>")
}

/// Fill `root`: the modules, the documentation, DEBIAN/.
fn stage_files(d: &Dkms, x: Target, placed: &[Placed], f: &mut Facts, root: &Path) -> std::io::Result<()> {
    let mut bytes = 0;
    for p in placed {
        let dest = root.join(&p.rel);
        std::fs::create_dir_all(dest.parent().unwrap_or(root))?;
        bytes += fsutil::write_atomic_from(&dest, &mut std::fs::File::open(&p.source)?, Some(0o644))?;
    }
    let doc = root.join("usr/share/doc").join(&f.package);
    std::fs::create_dir_all(&doc)?;
    let source = d.build_source(x.m, x.v);
    let license = LICENSE_FILES
        .iter()
        .find_map(|n| std::fs::read_to_string(source.join(n)).ok().map(|t| (*n, t)))
        .filter(|(_, t)| !t.trim().is_empty());
    let declared: Vec<(String, String)> =
        placed.iter().map(|p| (file_name(&p.rel), modinfo_license(d, &p.source))).collect();
    let notices = copyright_notices(&source);
    let license = license.as_ref().map(|(n, t)| (*n, t.as_str()));
    let copyright = text::copyright(f, license, &declared, &notices);
    write_file(&doc.join("copyright"), copyright.as_bytes(), 0o644)?;
    write_file(&doc.join("changelog.Debian"), text::changelog(f).as_bytes(), 0o644)?;
    gzip(d, &doc.join("changelog.Debian"))?;
    bytes += copyright.len() as u64 + 512;
    f.installed_kib = bytes.div_ceil(1024);
    let debian = root.join("DEBIAN");
    std::fs::create_dir_all(&debian)?;
    write_file(&debian.join("postinst"), text::maintainer_script(x.k, "configure").as_bytes(), 0o755)?;
    write_file(&debian.join("postrm"), text::maintainer_script(x.k, "remove").as_bytes(), 0o755)?;
    write_file(&debian.join("triggers"), text::TRIGGERS.as_bytes(), 0o644)?;
    write_file(&debian.join("md5sums"), &md5sums(d, root)?, 0o644)?;
    write_file(&debian.join("control"), text::control(f).as_bytes(), 0o644)?;
    dirs_0755(root)
}

/// Every directory 0755 whatever the umask (a hook may run with 077):
/// dpkg-deb and lintian want DEBIAN/ and the tree that way.
fn dirs_0755(root: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))?;
    for e in std::fs::read_dir(root)?.flatten() {
        if e.file_type()?.is_dir() {
            dirs_0755(&e.path())?;
        }
    }
    Ok(())
}

/// The copyright lines of the module's sources (`.c`, `.h`, licence
/// files but the GPL's text; at most 2 levels down), as their authors wrote them,
/// without comment marks: the notices the copyright file repeats.
fn copyright_notices(source: &Path) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut stack = vec![(source.to_path_buf(), 0)];
    while let Some((dir, depth)) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir).into_iter().flatten().flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let n = e.file_name().to_string_lossy().into_owned();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() && depth < 2 && !n.starts_with('.') {
                stack.push((e.path(), depth + 1));
            } else if ft.is_file() && (n.ends_with(".c") || n.ends_with(".h") || LICENSE_FILES.contains(&n.as_str())) {
                let text = String::from_utf8_lossy(&std::fs::read(e.path()).unwrap_or_default()).into_owned();
                // The GPL's own notice (the FSF's) is not the module's.
                if text::full_gpl(&text).is_some() {
                    continue;
                }
                for line in text.lines().take(200) {
                    let l = line.trim().trim_start_matches(['/', '*', '#', ' ']).trim();
                    let notice = l.starts_with("Copyright") || l.starts_with("(C)") || l.starts_with("(c)");
                    if notice && l.len() < 200 && !found.iter().any(|f| f == l) && found.len() < 20 {
                        found.push(l.to_string());
                    }
                }
            }
        }
    }
    found
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A new file (O_EXCL: the staging directory is ours and empty) with `mode`.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let mut f = fsutil::create_exclusive(path)?;
    f.write_all(bytes)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// `modinfo -F license FILE` ("" when it cannot be read).
fn modinfo_license(d: &Dkms, file: &Path) -> String {
    let mut c = tools::command("modinfo", &d.exports);
    c.args(["-F", "license"]).arg(file);
    tools::output(&mut c)
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// `gzip -9n FILE` (no name or time stamp in it: reproducible).
fn gzip(d: &Dkms, file: &Path) -> std::io::Result<()> {
    let mut c = tools::command("gzip", &d.exports);
    c.args(["-9n", "--"]).arg(file);
    match tools::status(&mut c)? {
        0 => Ok(()),
        n => Err(std::io::Error::other(format!("gzip exited with status {n}"))),
    }
}

/// DEBIAN/md5sums: `md5sum` of every file below `root` but DEBIAN/.
fn md5sums(d: &Dkms, root: &Path) -> std::io::Result<Vec<u8>> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)?.flatten() {
            if e.file_type()?.is_dir() {
                if e.path() != root.join("DEBIAN") {
                    stack.push(e.path());
                }
            } else if let Ok(rel) = e.path().strip_prefix(root) {
                files.push(rel.to_path_buf());
            }
        }
    }
    files.sort();
    let mut c = tools::command("md5sum", &d.exports);
    c.arg("--").args(&files).current_dir(root);
    let o = tools::output(&mut c)?;
    if !o.status.success() {
        return Err(std::io::Error::other(String::from_utf8_lossy(&o.stderr).into_owned()));
    }
    Ok(o.stdout)
}

/// `dpkg-deb --build --root-owner-group ROOT OUT`, the archive's times
/// clamped to the build's (SOURCE_DATE_EPOCH: the same build gives the
/// same package).
fn dpkg_deb(root: &Path, out: &Path, built: u64) -> Result<()> {
    if !tools::available("dpkg-deb") {
        return Err(failed("dpkg-deb is not installed (package dpkg)."));
    }
    let mut c = tools::command("dpkg-deb", &[("SOURCE_DATE_EPOCH".into(), built.to_string())]);
    c.args(["--build", "--root-owner-group"]).arg(root).arg(out);
    let o = tools::output(&mut c).map_err(|e| failed(format!("dpkg-deb cannot run: {e}")))?;
    if !o.status.success() {
        return Err(failed(format!("dpkg-deb failed: {}", String::from_utf8_lossy(&o.stderr).trim())));
    }
    Ok(())
}
