//! What a build step left in `build/` (the modules, Module.symvers,
//! make.log): third-party code wrote it, confined or not, so dkms takes it
//! only as a regular file of the build's own, opened beneath `build/`
//! without following a link at any component, never a hard link to a file
//! the build did not create, a device or a FIFO. Root copying a link that a
//! sandboxed step planted (`ln -s /var/lib/dkms/mok.key foo.ko`) would
//! read the file it names into the trees (issue 24, defect 2).

use dkms_state::fsutil;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use std::fs::File;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Why a product cannot be taken.
#[derive(Debug)]
pub(crate) enum Untaken {
    /// It is not there (make did not build it).
    Missing,
    /// It is there but not a file dkms may read: why.
    Refused(String),
}

/// Open `rel` (a `/`-separated path) under `build_dir` for reading, one
/// component at a time with O_NOFOLLOW (directories) and
/// O_NOFOLLOW|O_NONBLOCK (the file), then check the open file: regular,
/// one link.
pub(crate) fn open(build_dir: &Path, rel: &str) -> Result<File, Untaken> {
    let refused = |why: &str| Untaken::Refused(format!("{rel} {why}"));
    let errno = |e: nix::errno::Errno, last: bool| match e {
        nix::errno::Errno::ENOENT => Untaken::Missing,
        nix::errno::Errno::ELOOP => refused("is a symbolic link"),
        nix::errno::Errno::ENOTDIR if !last => refused("passes through a symbolic link or a non-directory"),
        e => refused(&format!("cannot be opened ({e})")),
    };
    let base = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    let mut dir = nix::fcntl::open(build_dir, base | OFlag::O_DIRECTORY, Mode::empty()).map_err(|e| errno(e, false))?;
    let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let Some((name, dirs)) = parts.split_last() else { return Err(refused("names no file")) };
    for c in dirs {
        if *c == ".." {
            return Err(refused("leaves build/"));
        }
        dir = openat(&dir, *c, base | OFlag::O_DIRECTORY, Mode::empty()).map_err(|e| errno(e, false))?;
    }
    if *name == ".." {
        return Err(refused("leaves build/"));
    }
    let fd = openat(&dir, *name, base | OFlag::O_NONBLOCK, Mode::empty()).map_err(|e| errno(e, true))?;
    let f = File::from(fd);
    let meta = f.metadata().map_err(|e| refused(&format!("cannot be read ({e})")))?;
    if !meta.is_file() {
        return Err(refused("is not a regular file"));
    }
    if meta.nlink() > 1 {
        return Err(refused("has other hard links (to a file the build may not have made)"));
    }
    Ok(f)
}

/// Copy the product `rel` of `build_dir` to `to` (a new file: created
/// exclusively, never through a link), with its permission bits, as
/// `cp` would; the bytes copied.
pub(crate) fn copy(build_dir: &Path, rel: &str, to: &Path) -> Result<u64, Untaken> {
    let mut from = open(build_dir, rel)?;
    let io_err = |e: io::Error| Untaken::Refused(format!("{rel} cannot be copied to {} ({e})", to.display()));
    let mode = from.metadata().map_err(io_err)?.mode() & 0o7777;
    let mut out = fsutil::create_exclusive(to).map_err(io_err)?;
    let copied = io::copy(&mut from, &mut out)
        .and_then(|n| out.set_permissions(std::fs::Permissions::from_mode(mode)).map(|()| n));
    copied.map_err(|e| {
        let _ = std::fs::remove_file(to);
        io_err(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only regular files of the build's own are taken: a link (at the
    /// file or at a directory above it), a hard link, a FIFO are refused
    /// without being followed or opened for long; `..` does not leave.
    #[test]
    fn takes_only_regular_files_of_its_own() {
        let t = tempfile::tempdir().unwrap();
        let (b, secret) = (t.path().join("build"), t.path().join("secret"));
        std::fs::create_dir_all(b.join("sub")).unwrap();
        std::fs::write(&secret, "secret").unwrap();
        std::fs::write(b.join("sub/ok.ko"), "module").unwrap();
        std::os::unix::fs::symlink(&secret, b.join("link.ko")).unwrap();
        std::os::unix::fs::symlink(t.path(), b.join("dirlink")).unwrap();
        std::fs::write(b.join("made.ko"), "m").unwrap();
        std::fs::hard_link(b.join("made.ko"), b.join("hard.ko")).unwrap();
        nix::unistd::mkfifo(&b.join("fifo.ko"), Mode::from_bits_truncate(0o644)).unwrap();
        let refused = |rel: &str| matches!(open(&b, rel), Err(Untaken::Refused(_)));
        assert!(open(&b, "sub/ok.ko").is_ok() && open(&b, "./sub//ok.ko").is_ok());
        assert!(matches!(open(&b, "none.ko"), Err(Untaken::Missing)));
        for rel in ["link.ko", "dirlink/secret", "hard.ko", "made.ko", "fifo.ko", "sub/../../secret", "sub"] {
            assert!(refused(rel), "{rel} taken");
        }
        let to = t.path().join("out.ko");
        assert_eq!(copy(&b, "sub/ok.ko", &to).unwrap(), 6);
        assert!(matches!(copy(&b, "link.ko", &t.path().join("out2.ko")), Err(Untaken::Refused(_))));
        assert!(!t.path().join("out2.ko").exists());
        // The destination is new: a link planted there is not written through.
        std::os::unix::fs::symlink(&secret, t.path().join("planted.ko")).unwrap();
        assert!(copy(&b, "sub/ok.ko", &t.path().join("planted.ko")).is_err());
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "secret");
    }
}
