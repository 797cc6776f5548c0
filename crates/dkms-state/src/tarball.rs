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

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Default cap on the bytes one tarball may unpack to.
pub const DEFAULT_MAX_BYTES: u64 = 4 << 30;
/// Default cap on the number of archive members.
pub const DEFAULT_MAX_ENTRIES: u64 = 1_000_000;
/// The environment variable that overrides `DEFAULT_MAX_BYTES`
/// (a number of bytes, optionally with a K, M, G or T suffix, powers of 1024).
pub const MAX_BYTES_VAR: &str = "DKMS_TARBALL_MAX_BYTES";
/// Longest GNU long name / long link we accept (PATH_MAX is 4096).
const MAX_LONG_NAME: u64 = 64 * 1024;
/// Largest pax extended header we accept.
const MAX_PAX: u64 = 1 << 20;

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
    pub fn from_name(name: &str) -> Result<Compression, String> {
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

// ---------------------------------------------------------------- writing

/// A compressing writer that can be finished (trailers written).
enum Encoder {
    Plain(fs::File),
    Gzip(flate2::write::GzEncoder<fs::File>),
    Bzip2(bzip2::write::BzEncoder<fs::File>),
    Xz(liblzma::write::XzEncoder<fs::File>),
    Zstd(zstd::stream::write::Encoder<'static, fs::File>),
}

impl Encoder {
    fn new(f: fs::File, c: Compression) -> io::Result<Encoder> {
        Ok(match c {
            Compression::None => Encoder::Plain(f),
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(f, flate2::Compression::default())),
            Compression::Bzip2 => Encoder::Bzip2(bzip2::write::BzEncoder::new(f, bzip2::Compression::best())),
            Compression::Xz => Encoder::Xz(liblzma::write::XzEncoder::new(f, 6)),
            Compression::Lzma => {
                let opts = liblzma::stream::LzmaOptions::new_preset(6).map_err(io::Error::other)?;
                let s = liblzma::stream::Stream::new_lzma_encoder(&opts).map_err(io::Error::other)?;
                Encoder::Xz(liblzma::write::XzEncoder::new_stream(f, s))
            }
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(f, 3)?),
        })
    }

    fn finish(self) -> io::Result<fs::File> {
        match self {
            Encoder::Plain(f) => Ok(f),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Bzip2(e) => e.finish(),
            Encoder::Xz(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }

    fn inner(&mut self) -> &mut dyn Write {
        match self {
            Encoder::Plain(f) => f,
            Encoder::Gzip(e) => e,
            Encoder::Bzip2(e) => e,
            Encoder::Xz(e) => e,
            Encoder::Zstd(e) => e,
        }
    }
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner().flush()
    }
}

/// A tarball being written, laid out as GNU tar lays out upstream's
/// `tar -C tmp -caf X .`: member names start with `./`, directories end
/// with `/`, names and link targets past 100 bytes get GNU long-name
/// headers, owners are recorded by number and name. Unlike upstream there is
/// no `./` member: extracting one makes tar chmod the current directory.
pub struct Writer {
    builder: tar::Builder<Encoder>,
    names: std::collections::BTreeMap<(bool, u32), String>,
    /// Special files (devices, FIFOs, sockets) left out: our own loader
    /// refuses them, so a tarball holding one could never be loaded.
    pub skipped: Vec<PathBuf>,
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Writer {
    fn new(f: fs::File, c: Compression) -> io::Result<Writer> {
        let mut builder = tar::Builder::new(Encoder::new(f, c)?);
        builder.follow_symlinks(false);
        Ok(Writer { builder, names: Default::default(), skipped: Vec::new() })
    }

    /// The user (or group) name of an id, as tar records it ("" if none).
    fn owner_name(&mut self, group: bool, id: u32) -> String {
        self.names
            .entry((group, id))
            .or_insert_with(|| {
                let name = if group {
                    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(id)).ok().flatten().map(|g| g.name)
                } else {
                    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(id)).ok().flatten().map(|u| u.name)
                };
                name.filter(|n| n.len() < 32).unwrap_or_default()
            })
            .clone()
    }

    /// A GNU `././@LongLink` member carrying a name too long for a header.
    fn long_name(&mut self, kind: u8, bytes: &[u8]) -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let mut data = bytes.to_vec();
        data.push(0);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.builder.append(&h, &data[..])
    }

    /// Append `h` as member `./<name>` (with a trailing `/` for
    /// directories) and its data, the names written verbatim.
    fn append(&mut self, mut h: tar::Header, name: &[u8], link: Option<&[u8]>, data: impl Read) -> io::Result<()> {
        let mut full = b"./".to_vec();
        full.extend_from_slice(name);
        if h.entry_type().is_dir() {
            full.push(b'/');
        }
        if full.len() > 100 {
            self.long_name(b'L', &full)?;
        }
        let n = full.len().min(100);
        let old = h.as_old_mut();
        old.name = [0; 100];
        old.name[..n].copy_from_slice(&full[..n]);
        if let Some(link) = link {
            if link.len() > 100 {
                self.long_name(b'K', link)?;
            }
            let n = link.len().min(100);
            let old = h.as_old_mut();
            old.linkname = [0; 100];
            old.linkname[..n].copy_from_slice(&link[..n]);
        }
        let (uid, gid) = (h.uid()? as u32, h.gid()? as u32);
        let (user, group) = (self.owner_name(false, uid), self.owner_name(true, gid));
        h.set_username(&user)?;
        h.set_groupname(&group)?;
        h.set_cksum();
        self.builder.append(&h, data)
    }

    /// A header for something made up for the archive, owned by us.
    fn made_up(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(nix::unistd::geteuid().as_raw().into());
        h.set_gid(nix::unistd::getegid().as_raw().into());
        h.set_mtime(now());
        h.set_size(size);
        h
    }

    /// A directory made up for the archive (`mkdir -p` under umask 022).
    pub fn add_dir(&mut self, name: &str) -> io::Result<()> {
        let h = Self::made_up(tar::EntryType::Directory, 0o755, 0);
        self.append(h, name.as_bytes(), None, io::empty())
    }

    /// A file made up for the archive (`echo ... > file`).
    pub fn add_bytes(&mut self, name: &str, data: &[u8]) -> io::Result<()> {
        let h = Self::made_up(tar::EntryType::Regular, 0o644, data.len() as u64);
        self.append(h, name.as_bytes(), None, data)
    }

    /// One file, directory or symlink from disk, under `name`, with its
    /// metadata (`cp -p` semantics: mode, owner, mtime).
    pub fn add_path(&mut self, from: &Path, name: &str) -> io::Result<()> {
        let meta = fs::symlink_metadata(from)?;
        self.add_with_meta(from, &meta, name.as_bytes())
    }

    fn add_with_meta(&mut self, from: &Path, meta: &fs::Metadata, name: &[u8]) -> io::Result<()> {
        let ft = meta.file_type();
        let mut h = tar::Header::new_gnu();
        h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
        if ft.is_symlink() {
            let target = fs::read_link(from)?;
            h.set_size(0);
            self.append(h, name, Some(target.as_os_str().as_bytes()), io::empty())
        } else if ft.is_dir() {
            h.set_size(0);
            self.append(h, name, None, io::empty())
        } else if ft.is_file() {
            let f = fs::File::open(from)?;
            // A file that changes size while it is read must still fill
            // exactly what its header declares.
            let len = meta.len();
            self.append(h, name, None, f.take(len).chain(io::repeat(0)).take(len))
        } else {
            self.skipped.push(from.to_path_buf());
            Ok(())
        }
    }

    /// `from` (following it if it is a symlink, like `cp -r from/`) and
    /// everything below it, in name order, under `name`.
    pub fn add_tree(&mut self, from: &Path, name: &str) -> io::Result<()> {
        let meta = fs::metadata(from)?;
        self.add_with_meta(from, &meta, name.as_bytes())?;
        self.add_children(from, name.as_bytes())
    }

    fn add_children(&mut self, dir: &Path, name: &[u8]) -> io::Result<()> {
        let mut names: Vec<_> = fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name())).collect::<io::Result<_>>()?;
        names.sort();
        for n in names {
            let path = dir.join(&n);
            let mut child = name.to_vec();
            child.push(b'/');
            child.extend_from_slice(n.as_bytes());
            let meta = fs::symlink_metadata(&path)?;
            self.add_with_meta(&path, &meta, &child)?;
            if meta.is_dir() {
                self.add_children(&path, &child)?;
            }
        }
        Ok(())
    }

    fn finish(self) -> io::Result<(fs::File, Vec<PathBuf>)> {
        let enc = self.builder.into_inner()?;
        Ok((enc.finish()?, self.skipped))
    }
}

/// Write the tarball `dest` (compression from its name): `fill` adds the
/// members; the archive is written under a temporary name beside `dest`
/// and renamed into place, so `dest` is either the old file or the whole
/// new one. Returns the special files that were left out.
pub fn create(dest: &Path, fill: impl FnOnce(&mut Writer) -> io::Result<()>) -> io::Result<Vec<PathBuf>> {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let c = Compression::from_name(&name).map_err(io::Error::other)?;
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir)?;
    let f = tmp.as_file().try_clone()?;
    let mut w = Writer::new(f, c)?;
    fill(&mut w)?;
    let (f, skipped) = w.finish()?;
    // tar creates the file 0666 minus the umask (022 in dkms).
    f.set_permissions(fs::Permissions::from_mode(0o644))?;
    f.sync_all()?;
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(skipped)
}

// ---------------------------------------------------------------- reading

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
pub fn parse_size(s: &str) -> Option<u64> {
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

fn refuse(entry: &str, reason: impl Into<String>) -> LoadError {
    LoadError::Refused { entry: entry.to_string(), reason: reason.into() }
}

fn corrupt(e: io::Error) -> LoadError {
    LoadError::Corrupt(format!("not a readable tar archive: {e}"))
}

/// A private directory (mode 0700) under `tmp_location` to unpack into,
/// removed when dropped (`mktemp -d "$tmp_location/dkms.XXXXXX"`).
pub fn private_dir(tmp_location: &Path) -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("dkms.").permissions(fs::Permissions::from_mode(0o700)).tempdir_in(tmp_location)
}

/// The decompressing reader for an archive file (format from its content).
fn open(archive: &Path) -> Result<Box<dyn Read>, LoadError> {
    let f = fs::File::open(archive).map_err(LoadError::Io)?;
    let mut r = BufReader::new(f);
    let magic = r.fill_buf().map_err(LoadError::Io)?.to_vec();
    let c = Compression::sniff(&magic).map_err(LoadError::Corrupt)?;
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(r)),
        Compression::Lzma => {
            let s = liblzma::stream::Stream::new_lzma_decoder(u64::MAX).map_err(|e| LoadError::Io(e.into()))?;
            Box::new(liblzma::bufread::XzDecoder::new_stream(r, s))
        }
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r).map_err(LoadError::Io)?),
    })
}

/// The archive name made relative and checked: no root, no `..`; `.`
/// components dropped. Empty means the extraction directory itself.
fn safe_rel(shown: &str, raw: &Path) -> Result<PathBuf, LoadError> {
    let mut rel = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(refuse(shown, "has an absolute path")),
            Component::ParentDir => return Err(refuse(shown, "has a '..' component (it would leave the archive)")),
        }
    }
    Ok(rel)
}

/// Where a symlink target lands, resolved lexically from the link's
/// directory; None when it leaves the extraction directory.
fn lexical_target(link: &Path, target: &Path) -> Option<PathBuf> {
    if target.is_absolute() {
        return None;
    }
    let mut at: Vec<&std::ffi::OsStr> =
        link.parent().map(|p| p.components().map(|c| c.as_os_str()).collect()).unwrap_or_default();
    for c in target.components() {
        match c {
            Component::Normal(n) => at.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                at.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(at.iter().collect())
}

/// Resolve `rel` inside `root` following every symlink on the way, as the
/// kernel would; false when any step leaves `root` (or loops).
fn stays_inside(root: &Path, rel: &Path) -> bool {
    let mut queue: std::collections::VecDeque<std::ffi::OsString> =
        rel.components().map(|c| c.as_os_str().to_os_string()).collect();
    let mut at: Vec<std::ffi::OsString> = Vec::new();
    let mut hops = 0;
    while let Some(c) = queue.pop_front() {
        match c.to_str() {
            Some(".") => continue,
            Some("..") => {
                if at.pop().is_none() {
                    return false;
                }
                continue;
            }
            _ => {}
        }
        at.push(c);
        let here: PathBuf = root.join(at.iter().collect::<PathBuf>());
        if let Ok(target) = fs::read_link(&here) {
            hops += 1;
            if hops > 40 || target.is_absolute() {
                return false;
            }
            at.pop();
            for (i, t) in target.components().enumerate() {
                queue.insert(i, t.as_os_str().to_os_string());
            }
        }
    }
    true
}

/// What a member name and link name look like once GNU long-name and pax
/// extension headers are applied.
#[derive(Default)]
struct Pending {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
}

fn read_capped(entry: &mut tar::Entry<'_, Box<dyn Read>>, cap: u64, shown: &str) -> Result<Vec<u8>, LoadError> {
    if entry.size() > cap {
        return Err(refuse(shown, format!("is an extension header of {} bytes (limit {cap})", entry.size())));
    }
    let mut v = Vec::new();
    entry.read_to_end(&mut v).map_err(corrupt)?;
    Ok(v)
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

fn os(bytes: &[u8]) -> PathBuf {
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// Unpack `archive` into the empty directory `root`, refusing anything
/// unsafe (see the module documentation). On `Err`, `root` holds a partial
/// extraction that the caller must discard.
pub fn extract(archive: &Path, root: &Path, limits: &Limits) -> Result<(), LoadError> {
    let reader = open(archive)?;
    let mut ar = tar::Archive::new(reader);
    // Raw entries: long names and pax headers are handled here, with caps,
    // instead of being read whole into memory by the tar crate.
    let entries = ar.entries().map_err(corrupt)?.raw(true);
    let mut pending = Pending::default();
    let mut count = 0u64;
    let mut total = 0u64;
    // Symlinks, created after everything else: (path, target).
    let mut links: Vec<(PathBuf, PathBuf, String)> = Vec::new();
    let mut link_paths: BTreeSet<PathBuf> = BTreeSet::new();
    // Directories get their mode and time last (a read-only directory must
    // not stop its own members from being written).
    let mut dirs: Vec<(PathBuf, u32, u64)> = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(corrupt)?;
        count += 1;
        let header_name = String::from_utf8_lossy(&entry.header().path_bytes()).into_owned();
        if count > limits.max_entries {
            return Err(refuse(&header_name, format!("is past the limit of {} archive members", limits.max_entries)));
        }
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::GNULongName => {
                pending.path = Some(trim_nul(read_capped(&mut entry, MAX_LONG_NAME, &header_name)?));
                continue;
            }
            tar::EntryType::GNULongLink => {
                pending.link = Some(trim_nul(read_capped(&mut entry, MAX_LONG_NAME, &header_name)?));
                continue;
            }
            tar::EntryType::XGlobalHeader => {
                read_capped(&mut entry, MAX_PAX, &header_name)?;
                continue;
            }
            tar::EntryType::XHeader => {
                let data = read_capped(&mut entry, MAX_PAX, &header_name)?;
                for ext in tar::PaxExtensions::new(&data) {
                    let ext = ext.map_err(corrupt)?;
                    match ext.key_bytes() {
                        b"path" => pending.path = Some(ext.value_bytes().to_vec()),
                        b"linkpath" => pending.link = Some(ext.value_bytes().to_vec()),
                        b"size" => {
                            let n = ext.value().ok().and_then(|v| v.parse().ok());
                            pending.size = Some(n.ok_or_else(|| refuse(&header_name, "has an invalid pax size"))?);
                        }
                        k if k.starts_with(b"GNU.sparse.") => {
                            return Err(refuse(&header_name, "describes a sparse file (not supported)"));
                        }
                        _ => {}
                    }
                }
                continue;
            }
            _ => {}
        }
        let p = std::mem::take(&mut pending);
        let raw_path = p.path.unwrap_or_else(|| entry.header().path_bytes().into_owned());
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        if raw_path.is_empty() {
            return Err(refuse(&shown, "has an empty name"));
        }
        let rel = safe_rel(&shown, &os(&raw_path))?;
        let size = entry.size();
        if p.size.is_some_and(|s| s != size) {
            // The tar crate would read the data with the header's size;
            // tar writes a pax size only past 8 GiB, far over any limit.
            return Err(refuse(&shown, "has a pax size that differs from its header"));
        }
        if let Some(l) = link_paths.iter().find(|l| rel.starts_with(l) && rel != **l) {
            return Err(refuse(
                &shown,
                format!("would be written through the symlink '{}' of the archive", l.display()),
            ));
        }
        let dest = root.join(&rel);
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        let mtime = entry.header().mtime().unwrap_or(0);
        let is_dir = kind == tar::EntryType::Directory || (kind.is_file() && raw_path.ends_with(b"/"));
        match kind {
            _ if is_dir => {
                if rel.as_os_str().is_empty() {
                    // "./": the extraction directory itself; keep it 0700.
                    continue;
                }
                if let Ok(m) = fs::symlink_metadata(&dest) {
                    if !m.is_dir() {
                        fs::remove_file(&dest).map_err(LoadError::Io)?;
                    }
                }
                fs::create_dir_all(&dest).map_err(LoadError::Io)?;
                dirs.push((dest, mode, mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if rel.as_os_str().is_empty() {
                    return Err(refuse(&shown, "names the extraction directory itself"));
                }
                total = total.saturating_add(size);
                if total > limits.max_bytes {
                    return Err(refuse(
                        &shown,
                        format!(
                            "declares {size} bytes, which takes the tarball past the limit of {} bytes ({MAX_BYTES_VAR})",
                            limits.max_bytes
                        ),
                    ));
                }
                link_paths.remove(&rel);
                prepare_slot(&shown, &dest)?;
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&dest)
                    .map_err(LoadError::Io)?;
                let copied = io::copy(&mut entry, &mut f).map_err(corrupt)?;
                if copied != size {
                    return Err(LoadError::Corrupt(format!("{shown}: archive truncated")));
                }
                drop(f);
                fs::set_permissions(&dest, fs::Permissions::from_mode(mode)).map_err(LoadError::Io)?;
                let t = filetime::FileTime::from_unix_time(mtime as i64, 0);
                filetime::set_file_mtime(&dest, t).map_err(LoadError::Io)?;
            }
            tar::EntryType::Symlink => {
                let target = p.link.or_else(|| entry.header().link_name_bytes().map(|b| b.into_owned()));
                let target = os(&target.unwrap_or_default());
                if target.as_os_str().is_empty() {
                    return Err(refuse(&shown, "is a symlink without a target"));
                }
                if rel.as_os_str().is_empty() {
                    return Err(refuse(&shown, "names the extraction directory itself"));
                }
                if lexical_target(&rel, &target).is_none() {
                    return Err(refuse(
                        &shown,
                        format!("is a symlink pointing outside the archive (to '{}')", target.display()),
                    ));
                }
                if link_paths.iter().any(|l| l.starts_with(&rel) && *l != rel) {
                    return Err(refuse(&shown, "is a symlink replacing a directory of the archive"));
                }
                link_paths.insert(rel.clone());
                links.retain(|(r, _, _)| *r != rel);
                links.push((rel, target, shown));
            }
            tar::EntryType::Link => {
                let target = p.link.or_else(|| entry.header().link_name_bytes().map(|b| b.into_owned()));
                let target = os(&target.unwrap_or_default());
                let shown_target = target.display().to_string();
                let outside =
                    || refuse(&shown, format!("is a hard link pointing outside the archive (to '{shown_target}')"));
                let trel = safe_rel(&shown, &target).map_err(|_| outside())?;
                if trel.as_os_str().is_empty() {
                    return Err(outside());
                }
                let src = root.join(&trel);
                let is_earlier_file = !link_paths.iter().any(|l| trel.starts_with(l))
                    && fs::symlink_metadata(&src).is_ok_and(|m| m.file_type().is_file());
                if !is_earlier_file {
                    return Err(refuse(
                        &shown,
                        format!("is a hard link to '{shown_target}', which is not an earlier file of the archive"),
                    ));
                }
                link_paths.remove(&rel);
                if src != dest {
                    prepare_slot(&shown, &dest)?;
                    fs::hard_link(&src, &dest).map_err(LoadError::Io)?;
                }
            }
            tar::EntryType::Char => return Err(refuse(&shown, "is a character device")),
            tar::EntryType::Block => return Err(refuse(&shown, "is a block device")),
            tar::EntryType::Fifo => return Err(refuse(&shown, "is a FIFO")),
            tar::EntryType::GNUSparse => return Err(refuse(&shown, "is a sparse file (not supported)")),
            other => {
                return Err(refuse(&shown, format!("has an unsupported type '{}'", other.as_byte() as char)));
            }
        }
    }
    for (rel, target, shown) in &links {
        let dest = root.join(rel);
        if let Ok(m) = fs::symlink_metadata(&dest) {
            if m.is_dir() {
                return Err(refuse(shown, "is a symlink replacing a directory of the archive"));
            }
            fs::remove_file(&dest).map_err(LoadError::Io)?;
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(LoadError::Io)?;
        }
        std::os::unix::fs::symlink(target, &dest).map_err(LoadError::Io)?;
    }
    // Links through links (`a -> .`, `b -> a/a/../..`) are only seen once
    // all exist: resolve each for real.
    for (rel, target, shown) in &links {
        if !stays_inside(root, rel) {
            return Err(refuse(
                shown,
                format!("is a symlink resolving outside the archive (to '{}')", target.display()),
            ));
        }
    }
    for (dir, mode, mtime) in dirs.iter().rev() {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700)).map_err(LoadError::Io)?;
        let t = filetime::FileTime::from_unix_time(*mtime as i64, 0);
        filetime::set_file_mtime(dir, t).map_err(LoadError::Io)?;
    }
    Ok(())
}

/// Make room for a new non-directory member at `dest`: its parents exist,
/// and an earlier member of the same name (a file, never a directory) is
/// removed, as tar overwrites.
fn prepare_slot(shown: &str, dest: &Path) -> Result<(), LoadError> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(LoadError::Io)?;
    }
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => Err(refuse(shown, "would replace a directory of the archive")),
        Ok(_) => fs::remove_file(dest).map_err(LoadError::Io),
        Err(_) => Ok(()),
    }
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

/// A module name or version usable as a path component in the trees
/// (`<dkms_tree>/<m>/<v>`, `<source_tree>/<m>-<v>`): not empty, no `/`,
/// no `..`, not `.`, no control characters.
pub fn safe_name(s: &str) -> bool {
    !s.is_empty() && s != "." && !s.contains('/') && !s.contains("..") && !s.chars().any(char::is_control)
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

    #[test]
    fn names() {
        assert!(safe_name("foo-1.0"));
        for bad in ["", ".", "..", "a/b", "../x", "a..b", "a\nb"] {
            assert!(!safe_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn lexical_targets() {
        assert!(lexical_target(Path::new("a/b/l"), Path::new("../c")).is_some());
        assert!(lexical_target(Path::new("a/l"), Path::new("../../c")).is_none());
        assert!(lexical_target(Path::new("l"), Path::new("/etc")).is_none());
    }

    #[test]
    fn round_trip_every_compression() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), "hello").unwrap();
        std::os::unix::fs::symlink("sub/f", src.join("l")).unwrap();
        for ext in ["tar", "tar.gz", "tar.bz2", "tar.xz", "tar.lzma", "tar.zst"] {
            let t = d.path().join(format!("t.{ext}"));
            create(&t, |w| {
                w.add_tree(&src, "dkms_source_tree")?;
                w.add_bytes("x/PACKAGE_NAME", b"m\n")
            })
            .unwrap();
            let out = tempfile::tempdir().unwrap();
            extract(&t, out.path(), &Limits::default()).unwrap();
            assert_eq!(fs::read_to_string(out.path().join("dkms_source_tree/sub/f")).unwrap(), "hello", "{ext}");
            assert_eq!(fs::read_link(out.path().join("dkms_source_tree/l")).unwrap(), Path::new("sub/f"));
            assert_eq!(fs::read_to_string(out.path().join("x/PACKAGE_NAME")).unwrap(), "m\n");
        }
    }

    #[test]
    fn links_through_links_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("t.tar");
        let f = fs::File::create(&t).unwrap();
        let mut b = tar::Builder::new(f);
        let mut link = |name: &str, target: &str| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, name, target).unwrap();
        };
        link("d/a", ".");
        link("d/b", "a/a/a/../../../..");
        b.into_inner().unwrap();
        let out = tempfile::tempdir().unwrap();
        let root = out.path().join("r");
        fs::create_dir(&root).unwrap();
        match extract(&t, &root, &Limits::default()) {
            Err(LoadError::Refused { entry, .. }) => assert_eq!(entry, "d/b"),
            other => panic!("{other:?}"),
        }
    }
}
