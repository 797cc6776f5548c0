//! Opening and reading files dkms did not write itself (module files,
//! make.log, cache entries and their manifests and signatures): opened
//! with O_NONBLOCK (a FIFO must not make a root process wait for a writer
//! while it holds the lock), checked on the opened descriptor to be a
//! regular file (a link to `/dev/zero` is no module), then read with a
//! bound or streamed. O_NOFOLLOW where a link is never legitimate.

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Whether the last component may be a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Installed modules may be links to the built copy (upstream follows
    /// them); still regular files only.
    Follow,
    /// What a build, a cache or a log left is taken only as itself.
    Refuse,
}

/// Open `path` for reading without blocking, and only if it is a regular
/// file; the descriptor is left blocking again for the reads.
pub fn open_regular(path: &Path, links: Links) -> io::Result<File> {
    let mut flags = libc::O_NONBLOCK;
    if links == Links::Refuse {
        flags |= libc::O_NOFOLLOW;
    }
    // std adds O_CLOEXEC itself.
    let f = std::fs::OpenOptions::new().read(true).custom_flags(flags).open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) && links == Links::Refuse {
            io::Error::new(io::ErrorKind::InvalidInput, "is a symbolic link, not followed")
        } else {
            e
        }
    })?;
    let kind = f.metadata()?.file_type();
    if !kind.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "is not a regular file"));
    }
    // Regular files never block; clearing O_NONBLOCK keeps a later
    // caller's reads (and any child given the descriptor) ordinary.
    fcntl(&f, FcntlArg::F_SETFL(OFlag::empty())).map_err(io::Error::from)?;
    Ok(f)
}

/// The error of a file past its size bound.
pub fn too_large(limit: u64) -> io::Error {
    io::Error::new(io::ErrorKind::FileTooLarge, format!("is larger than {limit} bytes"))
}

/// The whole of `f`, at most `limit` bytes (an error past that: a file
/// that grows while read is caught too, not only one that was large).
pub fn read_all_bounded(f: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    f.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(out)
}

/// The regular file `path` (no link followed), at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    read_all_bounded(open_regular(path, Links::Refuse)?, limit)
}

/// The first `limit` bytes of the regular file `path` (no link followed):
/// for small files whose head is all that matters (an efivar, a password
/// file's first line).
pub fn read_head(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    open_regular(path, Links::Refuse)?.take(limit).read_to_end(&mut out)?;
    Ok(out)
}

/// Two regular files (links followed) with the same bytes, compared in
/// blocks (a size mismatch decides without reading).
pub fn same_contents(a: &Path, b: &Path) -> bool {
    let (Ok(fa), Ok(fb)) = (open_regular(a, Links::Follow), open_regular(b, Links::Follow)) else { return false };
    let (Ok(ma), Ok(mb)) = (fa.metadata(), fb.metadata()) else { return false };
    ma.len() == mb.len() && same_stream(fa, fb).unwrap_or(false)
}

fn same_stream(a: impl Read, b: impl Read) -> io::Result<bool> {
    let (mut a, mut b) = (io::BufReader::with_capacity(1 << 16, a), io::BufReader::with_capacity(1 << 16, b));
    loop {
        use io::BufRead;
        let (x, y) = (a.fill_buf()?, b.fill_buf()?);
        let n = x.len().min(y.len());
        if n == 0 {
            return Ok(x.is_empty() && y.is_empty());
        }
        if x[..n] != y[..n] {
            return Ok(false);
        }
        a.consume(n);
        b.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_refuse_links_and_stop_at_the_bound() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read_head(&f, 4).unwrap(), b"0123");
        let l = d.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert!(read_head(&l, 4).is_err(), "a link is not followed");
        assert!(read_head(d.path(), 4).is_err(), "a directory is no regular file");
    }

    #[test]
    fn only_regular_files_open() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("f");
        std::fs::write(&file, "abc").unwrap();
        let fifo = t.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let zero = t.path().join("zero");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        assert_eq!(read_bounded(&file, 3).unwrap(), b"abc");
        assert_eq!(read_bounded(&file, 2).unwrap_err().kind(), io::ErrorKind::FileTooLarge);
        // A FIFO without a writer: refused at once, not waited on.
        let e = open_regular(&fifo, Links::Follow).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(read_bounded(&link, 10).unwrap_err().to_string().contains("symbolic link"));
        assert!(open_regular(&link, Links::Follow).is_ok());
        assert!(open_regular(&zero, Links::Follow).is_err());
        // Reads after the check block as usual.
        let f = open_regular(&file, Links::Follow).unwrap();
        assert_eq!(fcntl(&f, FcntlArg::F_GETFL).unwrap() & libc::O_NONBLOCK, 0);
    }

    #[test]
    fn compares_in_blocks() {
        let t = tempfile::tempdir().unwrap();
        let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
        let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        std::fs::write(&a, &big).unwrap();
        std::fs::write(&b, &big).unwrap();
        let mut other = big.clone();
        other[150_000] ^= 1;
        std::fs::write(&c, &other).unwrap();
        assert!(same_contents(&a, &b));
        assert!(!same_contents(&a, &c));
        assert!(!same_contents(&a, &t.path().join("missing")));
    }
}
