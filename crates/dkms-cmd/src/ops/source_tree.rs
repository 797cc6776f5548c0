//! `add_source_tree` upstream: a module source directory (given to `add`,
//! or unpacked from a tarball) validated and copied to
//! `$source_tree/<PACKAGE_NAME>-<PACKAGE_VERSION>`; the module name and
//! version must be safe directory names (not upstream, which writes
//! outside the trees for a `PACKAGE_NAME=../x`).

use crate::support::dkms::{Dkms, Target};
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{beneath, fsutil, name};
use std::path::Path;

/// `add_source_tree DIR`: validate the conf and copy DIR to
/// `$source_tree/<PACKAGE_NAME>-<PACKAGE_VERSION>` unless it already is;
/// the module/version found (upstream sets `$module`/`$module_version`).
/// `archive` is the tarball DIR was unpacked from: its module name and
/// version must then be safe directory names. `force`: replace a copy
/// already there.
pub(crate) fn add_source_tree(
    d: &mut Dkms,
    force: bool,
    dir: &Path,
    archive: Option<&Path>,
) -> Result<(String, String)> {
    let from = dir.canonicalize().ok().filter(|f| f.join("dkms.conf").is_file());
    let Some(from) = from else {
        return Err(Error::die(Kind::NoDkmsConf, [format!("{} must contain a dkms.conf file!", dir.display())]));
    };
    d.check_root()?;
    let (k, a) = d.kernelver0();
    let conf = d.read_conf_or_die(Target::new("", "", &k, &a), Some(&from.join("dkms.conf")), false)?;
    if conf.package_name.is_empty() || conf.package_version.is_empty() {
        return Err(Error::die(Kind::ConfMalformed, ["Malformed dkms.conf file. Cannot load source tree."]));
    }
    let (m, v) = (conf.package_name, conf.package_version);
    match archive {
        Some(archive) => check_names(archive, &m, &v)?,
        None => check_conf_names(&from, &m, &v)?,
    }
    let trees = d.ctx.trees.clone();
    let dest = trees.source_dir(&m, &v);
    if force && dest.is_dir() {
        d.ui.errln("");
        d.ui.outln(&format!("Forcing install of {m}/{v}"));
        beneath::remove_all(&trees.source_tree, &dest)
            .map_err(|e| Error::io(Kind::SourceTreeWriteFailed, format!("rm -rf {}", dest.display()), e))?;
    }
    let same = |p: &Path| p.canonicalize().is_ok_and(|c| c == from) || p == from;
    if same(&dest) || from == trees.source_link(&m, &v) || from == trees.build_dir(&m, &v) {
        return Ok((m, v));
    }
    copy_source(&from, &dest).map_err(|e| {
        Error::io(Kind::SourceTreeWriteFailed, format!("copying {} to {}", from.display(), dest.display()), e)
    })?;
    Ok((m, v))
}

/// `cp -fprT FROM/ DEST`. A new destination is filled under a temporary
/// name and renamed into place, so a failed copy leaves nothing behind.
fn copy_source(from: &Path, dest: &Path) -> std::io::Result<()> {
    if dest.is_dir() {
        return fsutil::copy_tree(from, dest);
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let (tmp, ()) = fsutil::fresh_sibling(dest, "copy", |t| std::fs::create_dir(t))?;
    let parent = dest.parent().unwrap_or(Path::new("."));
    let res = fsutil::copy_tree(from, &tmp).and_then(|()| std::fs::rename(&tmp, dest));
    if res.is_err() {
        let _ = beneath::remove_all(parent, &tmp);
    }
    res
}

/// Refuse a PACKAGE_NAME or PACKAGE_VERSION that is not one safe path
/// component (it names directories in every tree).
pub(crate) fn check_names(archive: &Path, m: &str, v: &str) -> Result<()> {
    for (what, s) in [("PACKAGE_NAME", m), ("PACKAGE_VERSION", v)] {
        if let Some(why) = name::problem(s) {
            let s = name::printable(s);
            return Err(refused(archive, format!("its dkms.conf sets {what} to '{s}', which cannot be used: {why}")));
        }
    }
    Ok(())
}

/// Not upstream: a source directory's dkms.conf naming its module or
/// version with `/` or `..` would have the copy (and the DKMS tree entry)
/// land outside the trees; upstream copies it there.
fn check_conf_names(dir: &Path, m: &str, v: &str) -> Result<()> {
    for (what, s) in [("PACKAGE_NAME", m), ("PACKAGE_VERSION", v)] {
        if let Some(why) = name::problem(s) {
            return Err(name::unsafe_name(&format!("{what} in {}/dkms.conf", dir.display()), s, why));
        }
    }
    Ok(())
}

/// The error for a refused tarball.
pub(crate) fn refused(archive: &Path, why: String) -> Error {
    Error::die(
        Kind::TarballRefused,
        [
            format!("Refusing to load {}: {why}.", archive.display()),
            "Nothing was loaded; the DKMS and source trees are unchanged.".into(),
        ],
    )
    .with_hint("Only load tarballs made by `dkms mktarball` or from a source you trust.")
}
