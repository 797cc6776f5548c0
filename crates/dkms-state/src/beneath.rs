//! Deleting inside a tree without ever leaving it: every path is resolved
//! from the tree's root with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`
//! (a component-by-component `openat(O_NOFOLLOW)` walk where the kernel
//! lacks openat2), and what is deleted is deleted through directory file
//! descriptors, so neither a `..` in a name nor a symbolic link planted in
//! the tree can make `rm -rf` reach outside it.
//!
//! Upstream joins strings and runs `rm -rf "$dkms_tree/$module/..."`; the
//! names are validated where they enter (`crate::name`), and this is the
//! second wall: a path that is not lexically under the root, or that
//! resolves outside it, is refused with `PermissionDenied` and nothing is
//! deleted.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path};

/// `rm -rf PATH` for a `path` inside the tree `root`: a missing path is not
/// an error; `path` equal to `root`, not under it, or resolving outside it
/// (through `..` or a symbolic link) is refused.
pub fn remove_all(root: &Path, path: &Path) -> io::Result<()> {
    let (parent, name) = match open_parent(root, path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        r => r?,
    };
    remove_entry(&parent, name)
}

/// `rm -f PATH` (not a directory) inside the tree `root`.
pub fn remove_file(root: &Path, path: &Path) -> io::Result<()> {
    let (parent, name) = match open_parent(root, path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        r => r?,
    };
    match rustix::fs::unlinkat(&parent, name, AtFlags::empty()) {
        Err(rustix::io::Errno::NOENT) => Ok(()),
        r => r.map_err(io::Error::from),
    }
}

/// `rmdir PATH` inside the tree `root` (fails when not empty).
pub fn remove_dir(root: &Path, path: &Path) -> io::Result<()> {
    let (parent, name) = open_parent(root, path)?;
    rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR).map_err(io::Error::from)
}

/// `remove_all` of `path`, then of each directory above it left empty, up
/// to and including `top` (a directory of `root` that holds only records
/// like this one: `.failures`, `.cache/headers`), so that an emptied DKMS
/// tree can be removed. `path` must be below `top`.
pub fn remove_pruning(root: &Path, path: &Path, top: &Path) -> io::Result<()> {
    if !path.starts_with(top) || path == top {
        return Err(outside(top, path));
    }
    remove_all(root, path)?;
    let mut p = path.parent();
    while let Some(dir) = p.filter(|d| d.starts_with(top)) {
        if remove_dir(root, dir).is_err() {
            break;
        }
        p = dir.parent();
    }
    Ok(())
}

/// Is `path` inside `root` (lexically: no `..`, not the root itself)?
pub fn is_inside(root: &Path, path: &Path) -> bool {
    relative(root, path).is_ok()
}

/// `path` relative to `root`, made only of plain names, at least one.
fn relative<'a>(root: &Path, path: &'a Path) -> io::Result<Vec<&'a OsStr>> {
    let rest = path.strip_prefix(root).map_err(|_| outside(root, path))?;
    let mut names = Vec::new();
    for c in rest.components() {
        match c {
            Component::Normal(n) => names.push(n),
            Component::CurDir => {}
            _ => return Err(outside(root, path)),
        }
    }
    if names.is_empty() {
        return Err(outside(root, path));
    }
    Ok(names)
}

fn outside(root: &Path, path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{} is not inside {}; nothing was deleted", path.display(), root.display()),
    )
}

/// The directory holding `path` (opened beneath `root`) and `path`'s name.
fn open_parent<'a>(root: &Path, path: &'a Path) -> io::Result<(OwnedFd, &'a OsStr)> {
    let names = relative(root, path)?;
    let (name, dirs) = names.split_last().expect("relative() returns at least one name");
    // The root itself is the administrator's setting: it may be a link
    // (`/lib/modules` through `/lib -> usr/lib`); below it nothing is followed.
    let root_fd = rustix::fs::open(root, dir_flags(), Mode::empty())?;
    let parent = open_beneath(&root_fd, dirs).map_err(|e| match e.raw_os_error() {
        Some(c) if c == rustix::io::Errno::XDEV.raw_os_error() || c == rustix::io::Errno::LOOP.raw_os_error() => {
            outside(root, path)
        }
        _ => e,
    })?;
    Ok((parent, name))
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

/// Open the directory `dirs` (names relative to `root`) without leaving
/// `root` and without following any link.
fn open_beneath(root: &OwnedFd, dirs: &[&OsStr]) -> io::Result<OwnedFd> {
    let rel: std::path::PathBuf = if dirs.is_empty() { ".".into() } else { dirs.iter().collect() };
    let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
    match rustix::fs::openat2(root, &rel, dir_flags() | OFlags::NOFOLLOW, Mode::empty(), resolve) {
        // Kernels before 5.6 (or a seccomp filter) lack openat2: walk.
        Err(rustix::io::Errno::NOSYS) | Err(rustix::io::Errno::PERM) => walk(root, dirs),
        r => r.map_err(io::Error::from),
    }
}

/// What openat2 does, one name at a time: each a plain name, opened with
/// `O_NOFOLLOW` from the one before.
fn walk(root: &OwnedFd, dirs: &[&OsStr]) -> io::Result<OwnedFd> {
    let mut fd = rustix::io::dup(root)?;
    for d in dirs {
        fd = rustix::fs::openat(&fd, *d, dir_flags() | OFlags::NOFOLLOW, Mode::empty())?;
    }
    Ok(fd)
}

/// Delete `name` in the directory `parent`: a directory with everything in
/// it (through descriptors, never by path), anything else unlinked.
fn remove_entry(parent: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let st = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        r => r?,
    };
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return rustix::fs::unlinkat(parent, name, AtFlags::empty()).map_err(io::Error::from);
    }
    let dir = rustix::fs::openat(parent, name, dir_flags() | OFlags::NOFOLLOW, Mode::empty())?;
    empty_dir(&dir)?;
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR).map_err(io::Error::from)
}

/// Delete everything inside the open directory `dir`.
fn empty_dir(dir: &OwnedFd) -> io::Result<()> {
    let names: Vec<std::ffi::CString> = rustix::fs::Dir::read_from(dir.as_fd())?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for n in names {
        use std::os::unix::ffi::OsStrExt;
        remove_entry(dir, OsStr::from_bytes(n.as_bytes()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn world() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("tree");
        let victim = d.path().join("victim");
        fs::create_dir_all(root.join("m/1.0/6.1/x86_64/module")).unwrap();
        fs::write(root.join("m/1.0/6.1/x86_64/module/m.ko"), "ko").unwrap();
        fs::create_dir_all(&victim).unwrap();
        fs::write(victim.join("keep"), "keep").unwrap();
        (d, root, victim)
    }

    #[test]
    fn removes_inside_the_tree() {
        let (_d, root, _) = world();
        remove_all(&root, &root.join("m/1.0/6.1/x86_64")).unwrap();
        assert!(!root.join("m/1.0/6.1/x86_64").exists());
        assert!(root.join("m/1.0/6.1").is_dir());
        remove_all(&root, &root.join("m/1.0/nothing")).unwrap();
        remove_all(&root, &root.join("absent/dir/x")).unwrap();
    }

    #[test]
    fn pruning_stops_at_a_parent_in_use_and_at_top() {
        let (_d, root, victim) = world();
        let top = root.join("m");
        fs::create_dir_all(root.join("m/2.0/6.1")).unwrap();
        std::os::unix::fs::symlink(&victim, root.join("m/3.0")).unwrap();
        assert!(remove_pruning(&root, &root.join("m/3.0/keep"), &top).is_err(), "through a planted link");
        assert!(victim.join("keep").is_file());
        fs::remove_file(root.join("m/3.0")).unwrap();
        remove_pruning(&root, &root.join("m/1.0/6.1/x86_64"), &top).unwrap();
        assert!(!root.join("m/1.0").exists(), "emptied parents go");
        assert!(root.join("m/2.0/6.1").is_dir(), "a parent in use stays");
        remove_pruning(&root, &root.join("m/9.9/6.1/x86_64"), &top).unwrap();
        assert!(root.join("m/2.0/6.1").is_dir(), "nothing there: nothing done");
        remove_pruning(&root, &root.join("m/2.0/6.1"), &top).unwrap();
        assert!(!top.exists() && root.is_dir(), "up to and including top, not above");
        for p in [top.clone(), root.join("other/x"), root.join("m/../x")] {
            assert!(remove_pruning(&root, &p, &top).is_err(), "{}", p.display());
        }
    }

    #[test]
    fn refuses_dot_dot_absolute_and_the_root() {
        let (_d, root, victim) = world();
        for p in [root.join("m/1.0/../../../victim"), root.join(".."), root.clone(), victim.clone()] {
            let e = remove_all(&root, &p).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{}", p.display());
        }
        assert!(victim.join("keep").exists());
    }

    #[test]
    fn never_follows_a_planted_link() {
        let (_d, root, victim) = world();
        // A link in the middle of the path, and one as the last name.
        std::os::unix::fs::symlink(&victim, root.join("m/1.0/link")).unwrap();
        remove_all(&root, &root.join("m/1.0/link/keep")).unwrap_err();
        assert!(victim.join("keep").exists(), "nothing behind the link is deleted");
        remove_all(&root, &root.join("m/1.0/link")).unwrap();
        assert!(victim.join("keep").exists(), "the link's target survives");
        assert!(root.join("m/1.0/link").symlink_metadata().is_err(), "the link itself is gone");
        // A link inside a directory being removed is unlinked, not followed.
        std::os::unix::fs::symlink(&victim, root.join("m/1.0/6.1/x86_64/out")).unwrap();
        remove_all(&root, &root.join("m/1.0")).unwrap();
        assert!(victim.join("keep").exists());
        assert!(!root.join("m/1.0").exists());
    }

    #[test]
    fn the_fallback_walk_refuses_links_too() {
        let (_d, root, victim) = world();
        std::os::unix::fs::symlink(&victim, root.join("m/ln")).unwrap();
        let fd = rustix::fs::open(&root, dir_flags(), Mode::empty()).unwrap();
        assert!(walk(&fd, &[OsStr::new("m"), OsStr::new("ln")]).is_err());
        assert!(walk(&fd, &[OsStr::new("m"), OsStr::new("1.0")]).is_ok());
    }
}
