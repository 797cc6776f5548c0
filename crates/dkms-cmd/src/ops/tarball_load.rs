//! `dkms ldtarball` and the tarball branch of `dkms add` (`load_tarball`
//! upstream): unpack a DKMS tarball (from `mktarball`, or any tarball with
//! a dkms.conf in it), copy its source to `$source_tree/<m>-<v>`, load its
//! prebuilt binaries into `$dkms_tree/<m>/<v>/<kver>/<arch>`, then add it.
//!
//! Unlike upstream, the archive is unpacked by `dkms_state::tarball`, which
//! refuses unsafe members, and everything is validated — members, the module
//! name and version from its dkms.conf, the kernel directory names — before
//! anything in the trees changes.
//!
//! Exit status 3 (upstream's "not a correctly formed DKMS archive") also
//! means: *the tarball was refused* — an unsafe member (absolute path, `..`,
//! link leaving the archive, device, FIFO, sparse file, too large), an
//! unreadable archive, or a PACKAGE_NAME/PACKAGE_VERSION that is not a safe
//! directory name. Nothing was written to the trees then.

use super::source_tree::{add_source_tree, check_names, refused};
use crate::support::dkms::{Dkms, Target};
use crate::support::options::BuildOptions;
use dkms_cli::ui;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::tarball::{self, LoadError};
use dkms_state::{beneath, fsutil, name, status, tools};
use std::path::{Path, PathBuf};

/// Kernel directory names that would replace a module's own entries in
/// `$dkms_tree/<m>/<v>/` (upstream would `rm -rf` the source link).
const RESERVED: [&str; 3] = ["source", "build", "tarball"];

/// What `load_tarball` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Loaded {
    /// Source (and binaries) of this module/version in place; it is to be
    /// added.
    Ready(String, String),
    /// A binaries-only tarball whose source is not on this system: upstream
    /// returns 1 (a real `source/` directory holding only dkms.conf is left).
    BinariesWithoutSource(String, String),
    /// An `.rpm` was installed and autoinstall ran: nothing more to do.
    Done,
}

/// `get_pkginfo_from_conf FILE`: (PACKAGE_NAME, PACKAGE_VERSION) when both
/// are set; a conf that does not read dies (exit 8) as upstream.
fn pkginfo(d: &mut Dkms, conf: &Path) -> Result<Option<(String, String)>> {
    if !conf.is_file() || !conf.to_string_lossy().ends_with("dkms.conf") {
        return Ok(None);
    }
    let (k, a) = d.kernelver0();
    let c = d.read_conf_or_die(Target::new("", "", &k, &a), Some(conf), false)?;
    if c.package_name.is_empty() || c.package_version.is_empty() {
        return Ok(None);
    }
    Ok(Some((c.package_name, c.package_version)))
}

/// `load_tarball`: the archive is `--archive` or the file given as a word.
pub(crate) fn load_tarball(d: &mut Dkms, opts: &BuildOptions) -> Result<Loaded> {
    let archive = d.opts.archive_location.clone().unwrap_or_default();
    if !archive.exists() || archive.as_os_str().is_empty() {
        return Err(Error::die(Kind::ArchiveMissing, [format!("{} does not exist.", archive.display())]));
    }
    if archive.to_string_lossy().ends_with(".rpm") {
        return load_rpm(d, opts, &archive);
    }

    let tmp = unpack(d, &archive)?;
    let root = tmp.path().to_path_buf();

    let main_tree = root.join("dkms_main_tree");
    if !main_tree.is_dir() {
        // Not made by mktarball: the first dkms.conf found is the source.
        let Some(conf) = tarball::find_first(&root, "dkms.conf") else {
            return Err(Error::die(
                Kind::TarballWithoutConf,
                ["Tarball does not appear to be a correctly formed DKMS archive. No dkms.conf found within it."],
            ));
        };
        let dir = conf.parent().unwrap_or(&root).to_path_buf();
        let (m, v) = add_source_tree(d, opts.force, &dir, Some(&archive))?;
        return Ok(Loaded::Ready(m, v));
    }

    let (loc, m, v) = valid_conf(d, opts.force, &root, &archive)?;
    let builds = prebuilt(&main_tree);
    if let Some((k, _, _)) = builds.iter().find(|(k, _, _)| RESERVED.contains(&k.as_str())) {
        return Err(refused(
            &archive,
            format!("its dkms_main_tree has a kernel directory named '{k}', which would replace the module's own"),
        ));
    }
    if let Some((k, a, _)) = builds.iter().find(|(k, a, _)| !name::is_valid(k) || !name::is_valid(a)) {
        let (k, a) = (name::printable(k), name::printable(a));
        return Err(refused(
            &archive,
            format!("its dkms_main_tree holds '{k}/{a}', which is no kernel version and arch"),
        ));
    }

    d.ui.outln("");
    d.ui.outln(&format!("Loading tarball for {m}/{v}"));
    let trees = d.ctx.trees.clone();
    if loc == "dkms_source_tree" {
        add_source_tree(d, opts.force, &root.join(loc), Some(&archive))?;
    } else if !trees.source_dir(&m, &v).is_dir() {
        // No source on this system: a stub holding only dkms.conf.
        let source_dir = trees.source_link(&m, &v);
        d.ui.outln(&format!("Creating {}", source_dir.display()));
        std::fs::create_dir_all(&source_dir)
            .map_err(|e| Error::io(Kind::TarballLoadFailed, format!("mkdir -p {}", source_dir.display()), e))?;
        d.ui.outln(&format!("Copying dkms.conf to {} ...", source_dir.display()));
        fsutil::copy_file(&root.join(loc).join("dkms.conf"), &source_dir.join("dkms.conf"))
            .map_err(|e| Error::io(Kind::TarballLoadFailed, format!("cp dkms.conf {}", source_dir.display()), e))?;
    }

    let loaded = load_builds(d, opts.force, &m, &v, builds)?;
    d.ui.emit(dkms_proto::Record::TarballLoaded {
        target: ui::target(&m, &v, None, None),
        path: archive.display().to_string(),
        builds: loaded,
    });
    drop(tmp);

    if loc == "dkms_binaries_only" && !trees.source_dir(&m, &v).is_dir() {
        return Ok(Loaded::BinariesWithoutSource(m, v));
    }
    Ok(Loaded::Ready(m, v))
}

/// Unpack `archive` into a private directory under `tmp_location`,
/// refusing unsafe members (see `dkms_state::tarball`).
fn unpack(d: &Dkms, archive: &Path) -> Result<tempfile::TempDir> {
    let tmp = tarball::private_dir(&d.ctx.tmp_location)
        .map_err(|_| Error::die(Kind::MktempFailed, ["Unable to make temporary directory."]))?;
    let root = tmp.path().to_path_buf();
    match tarball::extract(archive, &root, &tarball::Limits::from_env()) {
        Ok(()) => {}
        Err(e @ LoadError::Refused { .. }) => return Err(refused(archive, e.to_string())),
        Err(LoadError::Corrupt(why)) => {
            return Err(Error::die(
                Kind::TarballUnreadable,
                [
                    "Tarball does not appear to be a correctly formed DKMS archive.".to_string(),
                    format!("{}: {why}", archive.display()),
                ],
            ))
        }
        Err(LoadError::Io(e)) => {
            return Err(Error::io(
                Kind::TarballLoadFailed,
                format!("unpacking {} into {}", archive.display(), root.display()),
                e,
            ))
        }
    }
    Ok(tmp)
}

/// The first of `dkms_source_tree/`, `dkms_binaries_only/` holding a
/// valid dkms.conf (a sane tarball has one): where, and its module/version.
fn valid_conf(d: &mut Dkms, force: bool, root: &Path, archive: &Path) -> Result<(&'static str, String, String)> {
    for loc in ["dkms_source_tree", "dkms_binaries_only"] {
        let conf = root.join(loc).join("dkms.conf");
        if !conf.is_file() {
            continue;
        }
        let Some((m, v)) = pkginfo(d, &conf)? else {
            d.ui.errln("");
            d.ui.errln("Malformed dkms.conf, refusing to load.");
            continue;
        };
        check_names(archive, &m, &v)?;
        if status::is_module_added(&d.ctx.trees, &m, &v) && !force {
            return Err(Error::die(
                Kind::TarballAlreadyLoaded,
                [format!("{m}/{v} is already added!"), "Aborting.".into()],
            ));
        }
        return Ok((loc, m, v));
    }
    Err(Error::die(
        Kind::TarballWithoutValidConf,
        [
            "No valid dkms.conf in dkms_source_tree or dkms_binaries_only.".to_string(),
            format!("{} is not a valid DKMS tarball.", archive.display()),
        ],
    ))
}

/// Load the precompiled modules of the tarball: the `<kernel>/<arch>`
/// builds loaded.
fn load_builds(d: &Dkms, force: bool, m: &str, v: &str, builds: Vec<(String, String, PathBuf)>) -> Result<Vec<String>> {
    let trees = &d.ctx.trees;
    // Upstream's loop declares its variables
    // `local -r`, so from the second kernel on it reuses the first one's
    // path (and warns "readonly variable"); every kernel is loaded here.
    let mut loaded = Vec::new();
    for (k, a, from) in builds {
        let to = trees.arch_dir(m, v, &k, &a);
        if to.is_dir() && !force {
            d.ui.warn(&[format!("{} already exists. Skipping...", to.display())]);
            continue;
        }
        d.ui.outln(&format!("Loading {}...", to.display()));
        load_build(&from, &trees.kernel_dir(m, v, &k), &a, &to).map_err(|e| {
            Error::io(Kind::TarballLoadFailed, format!("loading {} into {}", from.display(), to.display()), e)
        })?;
        loaded.push(format!("{k}/{a}"));
    }
    Ok(loaded)
}

/// `dkms_main_tree/*/*` directories: (kernel, arch, path), in name order.
fn prebuilt(main_tree: &Path) -> Vec<(String, String, PathBuf)> {
    let mut out = Vec::new();
    for k in fsutil::subdirs(main_tree) {
        for a in fsutil::subdirs(&main_tree.join(&k)) {
            let p = main_tree.join(&k).join(&a);
            out.push((k.clone(), a, p));
        }
    }
    out
}

/// Put one prebuilt `<kver>/<arch>` in place: staged in
/// `<kver>/.tmp_<arch>_XXXXXX` (what remove cleans up after a crash) and
/// renamed over the old one.
fn load_build(from: &Path, kernel_dir: &Path, arch: &str, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(kernel_dir)?;
    let staging = tempfile::Builder::new().prefix(&format!(".tmp_{arch}_")).tempdir_in(kernel_dir)?;
    fsutil::copy_tree(from, staging.path())?;
    beneath::remove_all(kernel_dir, to)?;
    let staged: PathBuf = staging.keep();
    std::fs::rename(&staged, to).inspect_err(|_| {
        let _ = beneath::remove_all(kernel_dir, &staged);
    })
}

/// An `.rpm`: `rpm -Uvh` it and run autoinstall (exit with its status).
fn load_rpm(d: &mut Dkms, opts: &BuildOptions, archive: &Path) -> Result<Loaded> {
    ui::flush();
    let mut c = tools::command("rpm", &[]);
    c.arg("-Uvh").arg(archive);
    if tools::status(&mut c).is_ok_and(|s| s == 0) {
        (d.autoinstall)(d, opts)?;
        return Ok(Loaded::Done);
    }
    Err(Error::die(
        Kind::RpmInstallFailed,
        [
            format!("Unable to install {} using rpm.", archive.display()),
            "Check to ensure that your system can install .rpm files.".into(),
        ],
    ))
}
