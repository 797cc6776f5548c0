//! File-system operations with upstream's semantics (`cp -fprT`, `rm -rf`,
//! `rmdir -p --ignore-fail-on-non-empty`) made crash-safe where state is
//! concerned: symlinks and files are replaced by rename, so a `kill -9` at
//! any point leaves either the old or the new state, never half of one.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A sibling temporary name for `path` (same directory, so rename is atomic):
/// `.NAME.TAG.PID`, the pattern `stale_siblings` and recovery look for.
/// Only a name: create it with `fresh_sibling`, never by opening it.
pub fn temp_sibling(path: &Path, tag: &str) -> PathBuf {
    sibling_name(path, tag, 0)
}

/// The `n`th candidate: `.NAME.TAG.PID`, then `.NAME~n.TAG.PID` (the tail
/// stays `.TAG.PID` for `stale_siblings`).
fn sibling_name(path: &Path, tag: &str, n: u32) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = path.parent().unwrap_or(Path::new("."));
    let tilde = if n == 0 { String::new() } else { format!("~{n}") };
    dir.join(format!(".{name}{tilde}.{tag}.{}", std::process::id()))
}

/// Make a new temporary beside `path` with `make`, which must create it
/// exclusively (a file with `create_new`, a directory, a symlink): a name
/// that exists, whatever it is (a symlink planted in a shared directory
/// among them), is never opened or removed; the next name is tried.
pub fn fresh_sibling<T>(
    path: &Path,
    tag: &str,
    mut make: impl FnMut(&Path) -> io::Result<T>,
) -> io::Result<(PathBuf, T)> {
    for n in 0..100 {
        let tmp = sibling_name(path, tag, n);
        match make(&tmp) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            r => return r.map(|t| (tmp, t)),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("no free temporary name beside {}", path.display())))
}

/// A new temporary file beside `path`, opened for writing: created with
/// O_EXCL|O_NOFOLLOW, so nothing planted at its name is written through.
pub fn create_temp_sibling(path: &Path, tag: &str) -> io::Result<(PathBuf, fs::File)> {
    fresh_sibling(path, tag, create_exclusive)
}

/// Create `path` as a new file (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0666 less
/// the umask, as `File::create`).
pub fn create_exclusive(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
        .open(path)
}

/// Point `link` at `target`, replacing any existing link atomically
/// (upstream does `rm -f` then `ln -s`, which leaves a window with no link).
pub fn replace_symlink(target: &Path, link: &Path) -> io::Result<()> {
    let (tmp, ()) = fresh_sibling(link, "new", |tmp| std::os::unix::fs::symlink(target, tmp))?;
    fs::rename(&tmp, link).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Write a file through a new temporary sibling and a rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_atomic_from(path, &mut &contents[..], None).map(drop)
}

/// Write `path` with what `from` reads, through a new temporary sibling
/// (exclusive, see `create_temp_sibling`) and a rename; `mode`, when given,
/// is set on the temporary first. The bytes written.
pub fn write_atomic_from(path: &Path, from: &mut impl io::Read, mode: Option<u32>) -> io::Result<u64> {
    let (tmp, mut f) = create_temp_sibling(path, "new")?;
    let written = (|| {
        let n = io::copy(from, &mut f)?;
        if let Some(mode) = mode {
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        Ok(n)
    })();
    written.inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Is `path` a symlink (without following it)?
pub fn is_symlink(path: &Path) -> bool {
    path.symlink_metadata().is_ok_and(|m| m.file_type().is_symlink())
}

/// `mv -f SRC DST` for a file: a rename, or across file systems a copy
/// (into a new temporary beside DST, from SRC opened without following a
/// link; a link is moved as a link, as `mv` does) and a removal.
pub fn move_file(src: &Path, dst: &Path) -> io::Result<()> {
    match fs::rename(src, dst) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) && is_symlink(src) => {
            let target = fs::read_link(src)?;
            replace_symlink(&target, dst)?;
            fs::remove_file(src)
        }
        Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
            let mut from = crate::untrusted::open_regular(src, crate::untrusted::Links::Refuse)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", src.display())))?;
            let meta = from.metadata()?;
            let (tmp, mut to) = create_temp_sibling(dst, "move")?;
            let copied = io::copy(&mut from, &mut to).and_then(|_| {
                drop(to);
                preserve(&meta, &tmp)?;
                fs::rename(&tmp, dst)
            });
            copied.inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })?;
            fs::remove_file(src)
        }
        Err(e) => Err(e),
    }
}

/// `rm -rf PATH`: a missing path is not an error. Private: only for what
/// `copy_tree` is replacing inside its own destination; everything else
/// deletes through `crate::beneath`, which cannot leave its tree.
fn remove_all(path: &Path) -> io::Result<()> {
    match path.symlink_metadata() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    }
}

/// Copy metadata the way `cp -p` does: mode, ownership (when permitted) and
/// timestamps.
fn preserve(src_meta: &fs::Metadata, dst: &Path) -> io::Result<()> {
    let is_link = src_meta.file_type().is_symlink();
    // Ownership can only be kept as root; cp -p silently keeps ours otherwise.
    let _ = std::os::unix::fs::lchown(dst, Some(src_meta.uid()), Some(src_meta.gid()));
    if !is_link {
        fs::set_permissions(dst, fs::Permissions::from_mode(src_meta.mode() & 0o7777))?;
    }
    let atime = filetime::FileTime::from_last_access_time(src_meta);
    let mtime = filetime::FileTime::from_last_modification_time(src_meta);
    filetime::set_symlink_file_times(dst, atime, mtime)
}

/// `cp -fprT FROM/ TO`: copy the contents of `from` into `to` (created if
/// needed), recursively, preserving modes, ownership and times; symlinks
/// inside are copied as symlinks, FIFOs, devices and sockets as new nodes;
/// existing files are overwritten.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::metadata(from)?;
    if !to.is_dir() {
        fs::create_dir_all(to)?;
    }
    for e in fs::read_dir(from)? {
        let e = e?;
        let src = e.path();
        let dst = to.join(e.file_name());
        let m = src.symlink_metadata()?;
        let ft = m.file_type();
        if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&src)?;
            let _ = remove_all(&dst);
            std::os::unix::fs::symlink(target, &dst)?;
            preserve(&m, &dst)?;
        } else if ft.is_file() {
            if is_symlink(&dst) {
                fs::remove_file(&dst)?;
            }
            copy_file(&src, &dst)?;
            preserve(&m, &dst)?;
        } else {
            copy_special(&m, &dst)?;
        }
    }
    preserve(&meta, to)
}

/// A FIFO, device or socket is copied as what it is (`cp -p` makes a new
/// node), never opened: opening a FIFO blocks until a writer comes, and
/// that under the exclusive lock.
fn copy_special(m: &fs::Metadata, dst: &Path) -> io::Result<()> {
    use nix::sys::stat::{mknod, Mode, SFlag};
    use std::os::unix::fs::FileTypeExt;
    let ft = m.file_type();
    let kind = if ft.is_fifo() {
        SFlag::S_IFIFO
    } else if ft.is_char_device() {
        SFlag::S_IFCHR
    } else if ft.is_block_device() {
        SFlag::S_IFBLK
    } else {
        SFlag::S_IFSOCK
    };
    let _ = remove_all(dst);
    mknod(dst, kind, Mode::from_bits_truncate(m.mode() & 0o7777), m.rdev()).map_err(io::Error::from)?;
    preserve(m, dst)
}

/// `cp -f SRC DST` for a regular file (overwrites, keeps DST's absence of
/// metadata preservation).
pub fn copy_file(src: &Path, dst: &Path) -> io::Result<u64> {
    match fs::copy(src, dst) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            let _ = fs::remove_file(dst);
            fs::copy(src, dst)
        }
        r => r,
    }
}

/// `rmdir -p --ignore-fail-on-non-empty REL` run from `base`: remove `rel`
/// and then each parent inside `base` while they are empty.
pub fn rmdir_parents(base: &Path, rel: &str) {
    let mut rel = PathBuf::from(rel.trim_start_matches('/'));
    loop {
        if rel.as_os_str().is_empty() || fs::remove_dir(base.join(&rel)).is_err() {
            return;
        }
        if !rel.pop() {
            return;
        }
    }
}

/// `find DIR -type d -empty -delete`: delete empty directories bottom-up,
/// including `dir` itself if it ends up empty.
pub fn remove_empty_dirs(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

/// Number of entries in a directory (0 if unreadable).
pub fn entry_count(dir: &Path) -> usize {
    fs::read_dir(dir).map(|rd| rd.count()).unwrap_or(0)
}

/// Subdirectories of `dir` (following symlinks), sorted.
pub fn subdirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

/// Entries of `dir` that `temp_sibling(_, tag)` made for a process that is
/// gone (`.NAME.TAG.PID`): what a kill left behind.
pub fn stale_siblings(dir: &Path, tag: &str) -> Vec<PathBuf> {
    let marker = format!(".{tag}.");
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with('.')
                && name.rsplit_once(&marker).is_some_and(|(_, pid)| pid.parse().is_ok_and(|p| !process_alive(p)))
        })
        .map(|e| e.path())
        .collect()
}

/// Is process `pid` alive? (Temporaries named after their process are
/// stale once it is gone; `/proc` is how upstream's tools look too.)
pub fn process_alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// Can we write to `path` (bash's `[[ -w path ]]`)?
pub fn writable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// Is `path` executable by us (bash's `[[ -x path ]]`)?
pub fn executable(path: &Path) -> bool {
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_trees_and_replaces_links() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), "x").unwrap();
        fs::set_permissions(src.join("sub/f"), fs::Permissions::from_mode(0o751)).unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("l")).unwrap();
        let dst = d.path().join("dst");
        copy_tree(&src, &dst).unwrap();
        assert_eq!(fs::read_to_string(dst.join("sub/f")).unwrap(), "x");
        assert_eq!(fs::metadata(dst.join("sub/f")).unwrap().mode() & 0o777, 0o751);
        assert_eq!(fs::read_link(dst.join("l")).unwrap(), Path::new("sub/f"));

        let link = d.path().join("link");
        replace_symlink(Path::new("a"), &link).unwrap();
        replace_symlink(Path::new("b"), &link).unwrap();
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("b"));

        fs::create_dir_all(d.path().join("base/a/b/c")).unwrap();
        fs::write(d.path().join("base/a/keep"), "").unwrap();
        rmdir_parents(&d.path().join("base"), "/a/b/c");
        assert!(!d.path().join("base/a/b").exists());
        assert!(d.path().join("base/a").exists());
    }

    /// Temporaries are created exclusively and without following links: a
    /// symlink planted at the predictable name (in a directory shared with
    /// others) is skipped, its target is never written (issue 24, defect 4).
    #[test]
    fn temporaries_never_write_through_planted_links() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let dir = d.path().join("shared");
        fs::create_dir(&dir).unwrap();
        let path = dir.join("f");
        for n in 0..3 {
            std::os::unix::fs::symlink(&victim, sibling_name(&path, "new", n)).unwrap();
        }
        write_atomic(&path, b"ours").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "ours");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        replace_symlink(Path::new("t"), &dir.join("l")).unwrap();
        let (tmp, _) = create_temp_sibling(&path, "new").unwrap();
        assert_eq!(tmp, sibling_name(&path, "new", 3));
        // The planted links are left alone; the created names are found
        // as stale once their process is gone (here: never, it is us).
        assert!(fs::symlink_metadata(sibling_name(&path, "new", 0)).unwrap().file_type().is_symlink());
        assert!(tmp.file_name().unwrap().to_string_lossy().ends_with(&format!(".new.{}", std::process::id())));
        // Each tag has its own names.
        let (t2, _) = fresh_sibling(&path, "move", create_exclusive).unwrap();
        assert_eq!(t2, sibling_name(&path, "move", 0));
    }

    /// `move_file` across file systems (/dev/shm to $TMPDIR, where
    /// they differ): a file keeps its bytes and mode, a link stays a link,
    /// and a link planted at the temporary's name is not written through.
    #[test]
    fn moves_across_file_systems_without_following_links() {
        let Ok(shm) = tempfile::tempdir_in("/dev/shm") else {
            eprintln!("NOTE: no /dev/shm; move_file across file systems not tested");
            return;
        };
        let here = tempfile::tempdir().unwrap();
        let dev = |p: &Path| fs::metadata(p).unwrap().dev();
        if dev(shm.path()) == dev(here.path()) {
            eprintln!("NOTE: /dev/shm is on $TMPDIR's file system; move_file across file systems not tested");
            return;
        }
        let victim = here.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let (src, dst) = (shm.path().join("m.ko"), here.path().join("m.ko"));
        fs::write(&src, "module").unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink(&victim, temp_sibling(&dst, "move")).unwrap();
        move_file(&src, &dst).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(&dst).unwrap(), "module");
        assert_eq!(fs::metadata(&dst).unwrap().mode() & 0o777, 0o640);
        assert!(!src.exists());
        let (lsrc, ldst) = (shm.path().join("l.ko"), here.path().join("l.ko"));
        std::os::unix::fs::symlink("/nowhere/x.ko", &lsrc).unwrap();
        move_file(&lsrc, &ldst).unwrap();
        assert_eq!(fs::read_link(&ldst).unwrap(), Path::new("/nowhere/x.ko"));
        assert!(fs::symlink_metadata(&lsrc).is_err());
    }

    /// A FIFO (and a socket, and as root a device) is copied as a node,
    /// never opened: opening the FIFO would wait for a writer forever.
    #[test]
    fn copies_special_files_without_opening_them() {
        use std::os::unix::fs::FileTypeExt;
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(&src).unwrap();
        nix::unistd::mkfifo(&src.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o640)).unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
        let root = nix::unistd::geteuid().is_root();
        if root {
            let null = fs::metadata("/dev/null").unwrap();
            nix::sys::stat::mknod(
                &src.join("null"),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::from_bits_truncate(0o600),
                null.rdev(),
            )
            .unwrap();
        }
        let dst = d.path().join("dst");
        let (tx, rx) = std::sync::mpsc::channel();
        let (s2, d2) = (src.clone(), dst.clone());
        std::thread::spawn(move || tx.send(copy_tree(&s2, &d2).map_err(|e| e.to_string())));
        let r = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("copy_tree blocked on a FIFO");
        r.unwrap();
        let fifo = fs::symlink_metadata(dst.join("fifo")).unwrap();
        assert!(fifo.file_type().is_fifo());
        assert_eq!(fifo.mode() & 0o777, 0o640);
        assert!(fs::symlink_metadata(dst.join("sock")).unwrap().file_type().is_socket());
        if root {
            let n = fs::symlink_metadata(dst.join("null")).unwrap();
            assert!(n.file_type().is_char_device());
            assert_eq!(n.rdev(), fs::metadata("/dev/null").unwrap().rdev());
        }
    }
}
