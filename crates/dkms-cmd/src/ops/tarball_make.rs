//! `dkms mktarball` (`make_tarball` upstream): archive a module's built
//! binaries for some kernels together with its source tree (or, with
//! `--binaries-only`, just its dkms.conf and name) as
//! `dkms_main_tree/<kver>/<arch>/...` plus `dkms_source_tree/` or
//! `dkms_binaries_only/`, so that `ldtarball` can load it elsewhere.
//!
//! Upstream copies everything into a temporary directory and runs
//! `tar -caf`; here the members are streamed straight from the trees into
//! the archive, which is written under a temporary name and renamed into
//! place.

use crate::support::dkms::{Dkms, Target};
use crate::support::options::TarballOptions;
use dkms_cli::ui;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{fsutil, tarball, trees};
use std::path::{Path, PathBuf};

/// Upstream's `kernel_version_list` is replaced by `manykernels` when
/// `echo "$list" | wc -m` (characters plus the newline) exceeds this.
const MAX_KERNEL_LIST: usize = 200;

/// What goes under `dkms_main_tree/`: (kernel, arch, built dir).
type Kernels = Vec<(String, String, PathBuf)>;

/// `make_tarball`
pub(crate) fn make_tarball(d: &mut Dkms, opts: &TarballOptions, m: &str, v: &str) -> Result<()> {
    let (k0, a0) = d.kernelver0();
    d.read_conf_or_die(Target::new(m, v, &k0, &a0), None, false)?;
    let (kernel_version_list, kernels) = marked_kernels(d, opts, m, v)?;
    let source_dir = d.ctx.trees.source_link(m, v);
    d.ui.outln("");
    if opts.binaries_only {
        d.ui.outln("Creating tarball structure to specifically accommodate binaries.");
    } else {
        d.ui.outln(&format!("Marking {} for archiving...", source_dir.display()));
    }
    let path = destination(d, m, v, kernel_version_list)?;
    let conf = d.opts.conf.clone().unwrap_or_else(|| source_dir.join("dkms.conf"));
    let binaries_only = opts.binaries_only;
    let written = tarball::create(&path, |w| {
        w.add_dir("dkms_main_tree")?;
        let mut kdirs: Vec<&str> = Vec::new();
        for (k, a, intree) in &kernels {
            if !kdirs.contains(&k.as_str()) {
                w.add_dir(&format!("dkms_main_tree/{k}"))?;
                kdirs.push(k);
            }
            w.add_tree(intree, &format!("dkms_main_tree/{k}/{a}"))?;
        }
        if binaries_only {
            w.add_dir("dkms_binaries_only")?;
            w.add_bytes("dkms_binaries_only/PACKAGE_NAME", format!("{m}\n").as_bytes())?;
            w.add_bytes("dkms_binaries_only/PACKAGE_VERSION", format!("{v}\n").as_bytes())?;
            // Upstream copies "$conf" under its own name (`cp -f "$conf"
            // dir/`), so `-c other.conf` made a tarball no loader accepts;
            // the loaders look for dkms.conf, so that is its name here.
            if Path::new(&conf).is_file() {
                w.add_path(&conf, "dkms_binaries_only/dkms.conf")?;
            }
        } else {
            w.add_tree(&source_dir, "dkms_source_tree")?;
        }
        Ok(())
    });
    match written {
        Ok(skipped) => {
            for p in skipped {
                d.ui.warn(&[format!("{} is not a file, directory or symlink; it was left out.", p.display())]);
            }
            d.ui.emit(dkms_proto::Record::TarballCreated {
                target: ui::target(m, v, None, None),
                path: path.display().to_string(),
                builds: kernels.iter().map(|(k, a, _)| format!("{k}/{a}")).collect(),
                source: !binaries_only,
                binaries_only,
            });
            Ok(())
        }
        Err(e) => Err(Error::die(Kind::TarballFailed, ["Failed to make tarball."]).with_hint(e.to_string())),
    }
}

/// The builds to archive, each marked as upstream prints it, and
/// `kernel_version_list` (`source-only` with `--source-only`).
fn marked_kernels(d: &Dkms, opts: &TarballOptions, m: &str, v: &str) -> Result<(String, Kernels)> {
    let mut kernels: Kernels = Vec::new();
    if opts.source_only {
        return Ok(("source-only".to_string(), kernels));
    }
    let mut list = String::new();
    for (k, a) in d.targets() {
        let intree = d.ctx.trees.arch_dir(m, v, &k, &a);
        if !intree.is_dir() {
            return Err(Error::die(
                Kind::NotBuilt,
                [
                    format!("No modules built for {k} ({a})."),
                    "Modules must already be in the built state before using mktarball.".into(),
                ],
            ));
        }
        d.ui.outln(&format!("Marking modules for {k} ({a}) for archiving..."));
        if !list.is_empty() {
            list.push('-');
        }
        list.push_str(&format!("kernel{k}-{a}"));
        // The same kernel twice on the command line is copied twice
        // upstream (to the same place); archive it once.
        if !kernels.iter().any(|(kk, aa, _)| *kk == k && *aa == a) {
            kernels.push((k, a, intree));
        }
    }
    Ok((list, kernels))
}

/// Where the tarball goes (`--archive`, else `<m>/<v>/tarball/` with
/// upstream's name), said as upstream says it; its directory must be
/// writable.
fn destination(d: &Dkms, m: &str, v: &str, kernel_version_list: String) -> Result<PathBuf> {
    let kernel_version_list = if kernel_version_list.chars().count() + 1 > MAX_KERNEL_LIST {
        "manykernels".into()
    } else {
        kernel_version_list
    };
    let mut tarball_name = format!("{m}-{v}-{kernel_version_list}.dkms.tar.gz");
    let mut tarball_dest = format!("{}/", trees::cat(&d.ctx.trees.version_dir(m, v), "tarball").display());
    if let Some(archive) = &d.opts.archive_location {
        // "${archive_location##*/}" and "${archive_location%/*}".
        let s = archive.to_string_lossy().into_owned();
        match s.rsplit_once('/') {
            Some((dir, name)) => {
                tarball_name = name.into();
                tarball_dest = dir.into();
            }
            None => tarball_name = s,
        }
    }
    d.ui.outln("");
    d.ui.outln(&format!("Tarball location: {tarball_dest}/{tarball_name}"));
    let dest_dir = PathBuf::from(&tarball_dest);
    let no_write =
        || Error::die(Kind::TarballDestNotWritable, [format!("Missing write permissions for {tarball_dest}.")]);
    if !dest_dir.is_dir() && std::fs::create_dir_all(&dest_dir).is_err() {
        return Err(no_write());
    }
    if !fsutil::writable(&dest_dir) {
        return Err(no_write());
    }
    Ok(PathBuf::from(format!("{tarball_dest}/{tarball_name}")))
}
