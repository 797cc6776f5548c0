//! DKMS tarballs, read and written in-process: the archive side of
//! upstream's `make_tarball` (`tar -caf`, compression chosen from the file
//! name) and `load_tarball` (`tar -xaf`, compression detected from content).
//!
//! Upstream extracts whatever the archive holds with no checks. Here a
//! tarball is unpacked into a private directory and *refused* (nothing is
//! kept) when any entry
//! - has an absolute path or a `..` component,
//! - is a symlink whose target is absolute or resolves outside the
//!   extraction directory (checked lexically when read and again, following
//!   every link, once all links exist),
//! - would be written *through* a symlink of the archive (symlinks are only
//!   created after every other entry, so nothing is ever written through one),
//! - is a hard link to anything but an earlier regular file of the archive,
//! - is a character or block device, a FIFO, a GNU sparse file, or of a
//!   type this reader does not know,
//! - would take the declared size of all files past `Limits::max_bytes`
//!   (checked against the header *before* anything of the entry is written,
//!   so a "10 GB" entry costs nothing), or the entry count past
//!   `Limits::max_entries`.
//!
//! Ownership is not restored (files belong to whoever loads the tarball) and
//! set-id bits are dropped; modes and modification times are kept.

mod extract;
mod write;

pub use extract::extract;
pub use write::{create, Writer};

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Default cap on the bytes one tarball may unpack to.
pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;
/// Default cap on the number of archive members.
pub const DEFAULT_MAX_ENTRIES: u64 = 1_000_000;
/// The environment variable that overrides `DEFAULT_MAX_BYTES`
/// (a number of bytes, optionally with a K, M, G or T suffix, powers of 1024).
pub const MAX_BYTES_VAR: &str = "DKMS_TARBALL_MAX_BYTES";

/// How a tarball is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    /// `.lzma` (the "lzma_alone" format).
    Lzma,
    Zstd,
}

impl Compression {
    /// What GNU `tar -a` picks for a file name (its suffix table); `Err`
    /// names a compressor tar would run that we do not carry (lzip, lzop,
    /// compress). A name without a known suffix is a plain tar, as with tar.
    pub(crate) fn from_name(name: &str) -> Result<Compression, String> {
        let suffix = |s: &[&str]| s.iter().any(|x| name.ends_with(x));
        Ok(if suffix(&[".gz", ".tgz", ".taz"]) {
            Compression::Gzip
        } else if suffix(&[".bz2", ".tz2", ".tbz2", ".tbz"]) {
            Compression::Bzip2
        } else if suffix(&[".xz", ".txz"]) {
            Compression::Xz
        } else if suffix(&[".lzma", ".tlz"]) {
            Compression::Lzma
        } else if suffix(&[".zst", ".tzst"]) {
            Compression::Zstd
        } else if suffix(&[".lz", ".lzo", ".tzo", ".Z", ".taZ"]) {
            return Err(format!("no built-in compressor for {name}"));
        } else {
            Compression::None
        })
    }

    /// What `tar -x` detects from the first bytes of the file.
    fn sniff(magic: &[u8]) -> Result<Compression, String> {
        Ok(if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(b"BZh") {
            Compression::Bzip2
        } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if magic.starts_with(&[0x5d, 0, 0]) {
            Compression::Lzma
        } else if magic.starts_with(&[0x1f, 0x9d]) || magic.starts_with(b"LZIP") || magic.starts_with(b"\x89LZO") {
            return Err("compressed with a program dkms cannot read (compress, lzip or lzop)".into());
        } else {
            Compression::None
        })
    }
}

/// Caps on what one tarball may unpack to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total declared size of all regular files.
    pub max_bytes: u64,
    /// Number of archive members (headers).
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: DEFAULT_MAX_BYTES, max_entries: DEFAULT_MAX_ENTRIES }
    }
}

impl Limits {
    /// The defaults, with `max_bytes` from `DKMS_TARBALL_MAX_BYTES` when it
    /// is set to a valid size.
    pub fn from_env() -> Limits {
        let mut l = Limits::default();
        if let Some(n) = crate::env::nonempty(MAX_BYTES_VAR).as_deref().and_then(parse_size) {
            l.max_bytes = n;
        }
        l
    }
}

/// `123`, `64K`, `512M`, `4G`, `1T` (powers of 1024).
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, shift) = match s.char_indices().last()? {
        (i, 'K' | 'k') => (&s[..i], 10),
        (i, 'M' | 'm') => (&s[..i], 20),
        (i, 'G' | 'g') => (&s[..i], 30),
        (i, 'T' | 't') => (&s[..i], 40),
        _ => (s, 0),
    };
    num.parse::<u64>().ok()?.checked_mul(1u64 << shift)
}

/// Why a tarball was not loaded.
#[derive(Debug)]
pub enum LoadError {
    /// A member that would be unsafe to unpack (`entry` is its name in the
    /// archive, `reason` says what is wrong with it).
    Refused { entry: String, reason: String },
    /// Not a (readable) tar archive.
    Corrupt(String),
    /// The extraction directory could not be written.
    Io(io::Error),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Refused { entry, reason } => write!(f, "entry '{entry}' {reason}"),
            LoadError::Corrupt(why) => write!(f, "{why}"),
            LoadError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A private directory (mode 0700) under `tmp_location` to unpack into,
/// removed when dropped (`mktemp -d "$tmp_location/dkms.XXXXXX"`).
pub fn private_dir(tmp_location: &Path) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("dkms.").permissions(fs::Permissions::from_mode(0o700)).tempdir_in(tmp_location)
}

/// `find DIR -name dkms.conf | head -n 1`, in a stable order: a depth-first
/// walk, entries sorted by name, not following symlinked directories.
pub fn find_first(dir: &Path, name: &str) -> Option<PathBuf> {
    let mut names: Vec<_> = fs::read_dir(dir).ok()?.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for n in names {
        let p = dir.join(&n);
        if n == name {
            return Some(p);
        }
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            if let Some(found) = find_first(&p, name) {
                return Some(found);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_from_name_follows_tar() {
        assert_eq!(Compression::from_name("a.dkms.tar.gz"), Ok(Compression::Gzip));
        assert_eq!(Compression::from_name("a.tgz"), Ok(Compression::Gzip));
        assert_eq!(Compression::from_name("a.tar.xz"), Ok(Compression::Xz));
        assert_eq!(Compression::from_name("a.tar.zst"), Ok(Compression::Zstd));
        assert_eq!(Compression::from_name("a.tar.bz2"), Ok(Compression::Bzip2));
        assert_eq!(Compression::from_name("a.tar.lzma"), Ok(Compression::Lzma));
        assert_eq!(Compression::from_name("a.tar"), Ok(Compression::None));
        assert_eq!(Compression::from_name("a.whatever"), Ok(Compression::None));
        assert!(Compression::from_name("a.tar.lz").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("64k"), Some(64 << 10));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("99999999999T"), None);
    }
}
