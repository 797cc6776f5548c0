//! `add_module` upstream: register a module source tree (a tarball goes
//! through `load_tarball` first, a directory through `add_source_tree`);
//! the tree then gets `<m>/<v>/build/` and the `source` symlink that marks
//! it added.

use super::source_tree::add_source_tree;
use super::tarball_load::Loaded;
use crate::support::dkms::{Dkms, Target};
use crate::support::options::BuildOptions;
use dkms_cli::ui;
use dkms_proto::Record;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{beneath, fsutil, status};

/// `add_module` for m/v: also the first step of build and install for a
/// module that is not added yet. With no m/v, the tarball or source
/// directory of the command line says what to add. The module/version
/// added; None when an `.rpm` was installed instead (and autoinstall ran).
pub(crate) fn add_module(d: &mut Dkms, opts: &BuildOptions, m: &str, v: &str) -> Result<Option<(String, String)>> {
    let (mut m, mut v) = (m.to_string(), v.to_string());
    let a = &d.opts;
    let mut _untrusted = None;
    if a.archive_location.is_some() && m.is_empty() && v.is_empty() {
        // The tarball's dkms.conf is untrusted shell code until it is added.
        _untrusted = Some(d.untrusted_confs()?);
        // Upstream ignores load_tarball's status here: a binaries-only
        // tarball without source then fails below (no source directory).
        match super::tarball_load::load_tarball(d, opts)? {
            Loaded::Done => return Ok(None),
            Loaded::Ready(lm, lv) | Loaded::BinariesWithoutSource(lm, lv) => (m, v) = (lm, lv),
        }
    } else if let (Some(src), true, true) = (a.try_source_tree.clone(), m.is_empty(), v.is_empty()) {
        (m, v) = add_source_tree(d, opts.force, &src, None)?;
    }
    d.check_module_args("add", &m, &v)?;
    if opts.rpm_safe_upgrade {
        rpm_safe_upgrade_lock(d, &m, &v)?;
    }
    let trees = d.ctx.trees.clone();
    let (source_dir, conf) = add_checks(d, &m, &v)?;

    let link = trees.source_link(&m, &v);
    d.ui.outln(&format!("Creating symlink {} -> {}", link.display(), source_dir.display()));
    let vdir = trees.version_dir(&m, &v);
    if vdir.is_dir() {
        // A broken entry whose only problem is the missing link can be
        // re-added; the link is created atomically.
        let build = trees.build_dir(&m, &v);
        std::fs::create_dir_all(&build)
            .map_err(|e| Error::io(Kind::TreeWriteFailed, format!("mkdir -p {}", build.display()), e))?;
        dkms_state::crash::point("add:build-dir");
        fsutil::replace_symlink(&source_dir, &link)
            .map_err(|e| Error::io(Kind::TreeWriteFailed, format!("ln -s {}", link.display()), e))?;
    } else {
        // `<m>/<v>/` appears complete (build/ and the source link) or not at
        // all: it is assembled under a temporary name and renamed.
        let parent = vdir.parent().unwrap_or(&trees.dkms_tree);
        let (tmp, ()) = std::fs::create_dir_all(parent)
            .and_then(|()| fsutil::fresh_sibling(&vdir, "add", |t| std::fs::create_dir(t)))
            .map_err(|e| Error::io(Kind::TreeWriteFailed, format!("creating {}", vdir.display()), e))?;
        let made = std::fs::create_dir(tmp.join("build"))
            .and_then(|()| std::os::unix::fs::symlink(&source_dir, tmp.join("source")))
            .and_then(|()| {
                dkms_state::crash::point("add:build-dir");
                std::fs::rename(&tmp, &vdir)
            });
        if let Err(e) = made {
            let _ = beneath::remove_all(&trees.dkms_tree, &tmp);
            return Err(Error::io(Kind::TreeWriteFailed, format!("creating {}", vdir.display()), e));
        }
    }
    dkms_state::crash::point("add:linked");
    d.run_build_script(&m, &v, "post_add", &conf.post_add, None)?;
    d.ui.emit(Record::Added { target: ui::target(&m, &v, None, None), source: source_dir.display().to_string() });
    Ok(Some((m, v)))
}

/// The checks `add_module` makes before it registers m/v (a dry run makes
/// them too): not added yet, the source directory there, a valid dkms.conf.
/// The source directory and the conf.
pub(crate) fn add_checks(d: &mut Dkms, m: &str, v: &str) -> Result<(std::path::PathBuf, dkms_state::conf::Conf)> {
    let trees = d.ctx.trees.clone();
    if status::is_module_added(&trees, m, v) {
        return Err(Error::die(
            Kind::AlreadyAdded,
            [
                format!("DKMS tree already contains: {m}/{v}"),
                "You cannot add the same module/version combo more than once.".into(),
            ],
        )
        .with_hint(format!("Remove it first with: dkms remove {m}/{v} --all")));
    }
    let source_dir = trees.source_dir(m, v);
    let source_conf = d.opts.conf.clone().unwrap_or_else(|| source_dir.join("dkms.conf"));
    if !source_dir.is_dir() {
        return Err(Error::die(
            Kind::SourceMissing,
            [
                "Could not find module source directory.".to_string(),
                format!("Directory: {} does not exist.", source_dir.display()),
            ],
        )
        .with_hint("Pass the module's source directory instead (dkms add ./path/to/source), or unpack it there."));
    }
    let (k, arch) = d.kernelver0();
    let conf = d.read_conf_or_die(Target::new(m, v, &k, &arch), Some(&source_conf), true)?;
    Ok((source_dir, conf))
}

/// `--rpm_safe_upgrade`: note this add in a lock file that a matching
/// `remove` from the same rpm transaction recognises.
fn rpm_safe_upgrade_lock(d: &Dkms, m: &str, v: &str) -> Result<()> {
    let pppid = crate::support::process::grandparent_pid();
    let mut f = tempfile::Builder::new()
        .prefix(&format!("dkms_rpm_safe_upgrade_lock.{pppid}."))
        .rand_bytes(6)
        .tempfile_in(&d.ctx.tmp_location)
        .map_err(|_| Error::die(Kind::MktempFailed, ["Unable to make temporary file."]))?;
    // Written through the file tempfile created (O_EXCL), never reopened
    // by its name in a shared $TMPDIR.
    let stamp = crate::support::process::process_start(&pppid);
    std::io::Write::write_all(&mut f, format!("{m}-{v}\n{stamp}").as_bytes())
        .map_err(|e| Error::io(Kind::MktempFailed, f.path().display(), e))?;
    f.keep().map(drop).map_err(|_| Error::die(Kind::MktempFailed, ["Unable to make temporary file."]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::{captured, conf, Fixture};

    /// `<source_tree>/hello-1.0` with its dkms.conf, not added.
    fn source(f: &Fixture) -> std::path::PathBuf {
        f.write("src/hello-1.0/Makefile", "obj-m := hello.o\n");
        f.write("src/hello-1.0/dkms.conf", &conf("hello", "1.0", "")).parent().unwrap().to_path_buf()
    }

    #[test]
    fn add_links_the_source_once() {
        let mut f = Fixture::new();
        let src = source(&f);
        let (r, out, _) = captured(|| {
            let o = f.build_opts();
            add_module(&mut f.d, &o, "hello", "1.0")
        });
        assert_eq!(r.unwrap(), Some(("hello".to_string(), "1.0".to_string())));
        let link = f.trees().source_link("hello", "1.0");
        assert_eq!(out, format!("Creating symlink {} -> {}\n", link.display(), src.display()));
        assert!(status::is_module_added(f.trees(), "hello", "1.0"));
        assert!(f.trees().build_dir("hello", "1.0").is_dir());
        let e = {
            let o = f.build_opts();
            add_module(&mut f.d, &o, "hello", "1.0")
        }
        .unwrap_err();
        assert_eq!((e.kind, e.code), (Kind::AlreadyAdded, 3));
        assert_eq!(e.hint.as_deref(), Some("Remove it first with: dkms remove hello/1.0 --all"));
    }

    #[test]
    fn add_needs_the_source_directory_and_a_valid_conf() {
        let mut f = Fixture::new();
        assert_eq!(add_checks(&mut f.d, "hello", "1.0").unwrap_err().kind, Kind::SourceMissing);
        f.write("src/hello-1.0/dkms.conf", "PACKAGE_NAME=hello\n");
        let (r, _, _) = captured(|| add_checks(&mut f.d, "hello", "1.0"));
        assert_eq!(r.unwrap_err().kind, Kind::ConfInvalid);
        assert!(!f.trees().version_dir("hello", "1.0").exists(), "nothing registered");
    }

    #[test]
    fn a_broken_entry_is_repaired_by_adding_again() {
        // The version directory without its link (a crash, or by hand).
        let mut f = Fixture::new();
        source(&f);
        std::fs::create_dir_all(f.trees().version_dir("hello", "1.0")).unwrap();
        let (r, _, _) = captured(|| {
            let o = f.build_opts();
            add_module(&mut f.d, &o, "hello", "1.0")
        });
        r.unwrap();
        assert!(status::is_module_added(f.trees(), "hello", "1.0"));
    }

    #[test]
    fn an_rpm_safe_upgrade_add_leaves_the_lock_its_remove_recognises() {
        let mut f = Fixture::with(|a| a.rpm_safe_upgrade = true);
        source(&f);
        let (r, _, _) = captured(|| {
            let o = f.build_opts();
            add_module(&mut f.d, &o, "hello", "1.0")
        });
        r.unwrap();
        assert!(crate::ops::remove::rpm_safe_upgrade_cancels(&f.d, "hello", "1.0", true));
        assert!(!crate::ops::remove::rpm_safe_upgrade_cancels(&f.d, "hello", "1.0", true), "consumed");
    }
}
