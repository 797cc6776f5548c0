//! `dkms sign` (not in upstream dkms; dkms#372 asks for it): re-sign the
//! built and installed module files of one build with the key and
//! certificate a build would use now, after the pair changed. Each file is
//! signed as `do_build` signs it (the old signature stripped first, then
//! `sign-file` with the kernel's `CONFIG_MODULE_SIG_HASH`, then compressed
//! again with the tool its name says), and replaced as one transaction: the
//! new copies are staged beside the old ones and journaled, then renamed
//! into place, so a killed run leaves every file either old or new and the
//! next run completes it (or, before the commit, drops the staged copies).

use super::verify::installed_file;
use crate::support::dkms::{Dkms, Signer, Target};
use crate::support::modfiles::compressed_or_uncompressed;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::journal::{Entry, Journal};
use dkms_state::{crash, fsutil, module_image, status, tools};
use std::path::{Path, PathBuf};

/// One module file to re-sign: its built copy and, when installed, the
/// copy in the kernel's module tree (the same bytes).
struct File {
    built: PathBuf,
    installed: Option<PathBuf>,
}

/// The module files of build `x`: for each module of its dkms.conf, the
/// built copy and the installed one (when the build is installed and that
/// copy is a file of its own, not a `--symlink-modules` link to the built).
fn files(d: &mut Dkms, x: Target) -> Result<Vec<File>> {
    let Target { m, v, k, a } = x;
    let conf = d.read_conf_or_die(x, None, false)?;
    let suffix = d.module_suffix(k);
    let installed = status::is_module_installed(&d.ctx.trees, m, v, k, a);
    let module_dir = d.ctx.trees.arch_dir(m, v, k, a).join("module");
    let mut out = Vec::new();
    for i in 0..conf.num_modules() {
        let name = &conf.modules[i].dest_module_name;
        let Some(built) = compressed_or_uncompressed(&module_dir, name, suffix) else { continue };
        let inst = installed
            .then(|| installed_file(d, m, &conf, i, k, a, suffix))
            .flatten()
            .filter(|p| p.symlink_metadata().is_ok_and(|md| md.file_type().is_file()));
        out.push(File { built, installed: inst });
    }
    Ok(out)
}

/// The files `sign_build` would replace (the `--dry-run` plan): built
/// copies, then installed ones.
pub(crate) fn planned_files(d: &mut Dkms, x: Target) -> Result<Vec<String>> {
    let files = files(d, x)?;
    let built = files.iter().map(|f| f.built.display().to_string());
    let installed = files.iter().filter_map(|f| f.installed.as_ref()).map(|p| p.display().to_string());
    Ok(built.chain(installed).collect())
}

/// The new bytes of module file `file`: decompressed, old signature
/// stripped, signed with `s` in `work`, compressed again as its name says.
fn resigned(d: &Dkms, s: &Signer, file: &Path, work: &Path) -> Result<Vec<u8>> {
    let fail = |why: String| Error::die(Kind::SignFailed, [format!("Cannot re-sign {}: {why}", file.display())]);
    let bytes = module_image::contents(file).map_err(|e| fail(format!("it cannot be read ({e})")))?;
    let (unsigned, _) = module_image::split_signature(&bytes);
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (stem, suffix) = match name.find(".ko") {
        Some(i) => (&name[..i + 3], &name[i + 3..]),
        None => (name.as_str(), ""),
    };
    let plain = work.join(stem);
    std::fs::write(&plain, unsigned).map_err(|e| fail(e.to_string()))?;
    d.ui.outln(&format!("Signing module {}", file.display()));
    let mut c = tools::command(&s.sign_file, &[]);
    c.arg(&s.hash).arg(&s.key).arg(&s.cert).arg(&plain);
    let o = tools::output(&mut c).map_err(|e| fail(e.to_string()))?;
    if !o.status.success() {
        let said = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        return Err(fail(format!("{} said: {}", s.sign_file.display(), said.trim())));
    }
    let out = if suffix.is_empty() {
        plain
    } else {
        super::build_steps::compress(d, &plain, suffix)
            .ok_or_else(|| fail(format!("compressing it ({suffix}) failed")))?
    };
    std::fs::read(&out).map_err(|e| fail(e.to_string()))
}

/// A file to replace and its new bytes.
type Staged = (PathBuf, Vec<u8>);

/// Re-sign every module file of build `x` with `s`; returns the files
/// replaced (built, then installed copies).
pub(crate) fn sign_build(d: &mut Dkms, x: Target, s: &Signer) -> Result<Vec<String>> {
    let files = files(d, x)?;
    let tmp = d.ctx.tmp_location.clone();
    let work = tempfile::Builder::new()
        .prefix("dkms-sign.")
        .tempdir_in(&tmp)
        .map_err(|e| Error::io(Kind::SignWriteFailed, tmp.display(), e))?;
    let (mut staged, mut installed): (Vec<Staged>, Vec<Staged>) = (Vec::new(), Vec::new());
    for f in &files {
        let bytes = resigned(d, s, &f.built, work.path())?;
        if let Some(i) = &f.installed {
            installed.push((i.clone(), bytes.clone()));
        }
        staged.push((f.built.clone(), bytes));
    }
    staged.extend(installed);
    commit(d, x, &staged)?;
    Ok(staged.iter().map(|(p, _)| p.display().to_string()).collect())
}

/// Stage each new copy beside its file (journaled before it is written),
/// record the commit, then rename them into place.
fn commit(d: &Dkms, x: Target, staged: &[Staged]) -> Result<()> {
    let Target { m, v, k, a } = x;
    let io = |p: &Path, e: std::io::Error| Error::io(Kind::SignWriteFailed, p.display(), e);
    let tree = &d.ctx.trees.dkms_tree;
    let mut j = Journal::begin(tree, "sign", &[m, v, k, a]).map_err(|e| io(tree, e))?;
    let mut temps = Vec::new();
    for (dest, bytes) in staged {
        let tmp = fsutil::temp_sibling(dest, "dkms-sign");
        j.record("stage", &[&dest.to_string_lossy(), &tmp.to_string_lossy()]).map_err(|e| io(tree, e))?;
        write_like(dest, &tmp, bytes).map_err(|e| io(&tmp, e))?;
        crash::point("sign-staged");
        temps.push((tmp, dest));
    }
    j.record("commit", &[]).map_err(|e| io(tree, e))?;
    crash::point("sign-committed");
    for (tmp, dest) in temps {
        std::fs::rename(&tmp, dest).map_err(|e| io(dest, e))?;
        crash::point("sign-renamed");
    }
    j.finish().map_err(|e| io(tree, e))
}

/// Write `bytes` to the new file `tmp` (never an existing one) with the
/// permissions of `like`, synced.
fn write_like(like: &Path, tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mode = std::fs::symlink_metadata(like).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0o644);
    let _ = std::fs::remove_file(tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Recovery of a killed `sign`: after its commit, every staged copy still
/// there is renamed into place (completed); before it, they are removed
/// (rolled back). Either way each file is old or new, built and installed
/// copies alike.
pub(crate) fn recover(steps: &[Entry]) -> &'static str {
    let committed = steps.iter().any(|s| s.key == "commit");
    for s in steps.iter().filter(|s| s.key == "stage") {
        let (Some(dest), Some(tmp)) = (s.args.first(), s.args.get(1)) else { continue };
        if committed && Path::new(tmp).is_file() {
            let _ = std::fs::rename(tmp, dest);
        } else {
            let _ = std::fs::remove_file(tmp);
        }
    }
    if committed {
        "completed"
    } else {
        "rolled back"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, args: &[&Path]) -> Entry {
        Entry { key: key.into(), args: args.iter().map(|p| p.display().to_string()).collect() }
    }

    /// A killed `sign` leaves each module old or new: staged copies are
    /// renamed into place after the commit, removed before it.
    #[test]
    fn recovery_completes_after_the_commit_and_rolls_back_before() {
        let t = tempfile::tempdir().unwrap();
        let (dest, tmp) = (t.path().join("hello.ko"), t.path().join(".hello.ko.dkms-sign"));
        let stage = |committed: bool| {
            std::fs::write(&dest, "old").unwrap();
            std::fs::write(&tmp, "new").unwrap();
            let mut steps = vec![entry("stage", &[&dest, &tmp])];
            if committed {
                steps.push(entry("commit", &[]));
            }
            recover(&steps)
        };
        assert_eq!(stage(false), "rolled back");
        assert_eq!((std::fs::read_to_string(&dest).unwrap(), tmp.exists()), ("old".into(), false));
        assert_eq!(stage(true), "completed");
        assert_eq!((std::fs::read_to_string(&dest).unwrap(), tmp.exists()), ("new".into(), false));
        // A copy already renamed before the kill: nothing left to do.
        assert_eq!(recover(&[entry("stage", &[&dest, &tmp]), entry("commit", &[])]), "completed");
        assert_eq!(std::fs::read_to_string(&dest).unwrap(), "new");
    }
}
