//! Safe extraction of DKMS tarballs (`ldtarball`): every member is checked
//! before anything of it is written, symlinks are created last and checked
//! again for real (see the rules in the parent module's documentation).

use super::{Compression, Limits, LoadError, MAX_BYTES_VAR};
use std::collections::BTreeSet;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Longest GNU long name / long link we accept (PATH_MAX is 4096).
const MAX_LONG_NAME: u64 = 64 * 1024;
/// Largest pax extended header we accept.
const MAX_PAX: u64 = 1 << 20;

fn refuse(entry: &str, reason: impl Into<String>) -> LoadError {
    LoadError::Refused { entry: entry.to_string(), reason: reason.into() }
}

/// An error reading the archive: bad data is a corrupt archive, but an
/// error of the system (EIO reading it, ENOSPC or EROFS writing what it
/// holds) is an I/O error, never "not a DKMS archive".
fn corrupt(e: io::Error) -> LoadError {
    if e.raw_os_error().is_some() {
        return LoadError::Io(e);
    }
    LoadError::Corrupt(format!("not a readable tar archive: {e}"))
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

/// A member's own header taken as tar reads it (`tar::Entry` over the
/// decompressing reader).
type Entry<'a> = tar::Entry<'a, Box<dyn Read>>;

/// Unpack `archive` into the empty directory `root`, refusing anything
/// unsafe (see the module documentation). On `Err`, `root` holds a partial
/// extraction that the caller must discard.
pub fn extract(archive: &Path, root: &Path, limits: &Limits) -> Result<(), LoadError> {
    let reader = open(archive)?;
    let mut ar = tar::Archive::new(reader);
    // Raw entries: long names and pax headers are handled here, with caps,
    // instead of being read whole into memory by the tar crate.
    let entries = ar.entries().map_err(corrupt)?.raw(true);
    let mut x = Extraction {
        root,
        limits,
        pending: Pending::default(),
        count: 0,
        total: 0,
        links: Vec::new(),
        link_paths: BTreeSet::new(),
        dirs: Vec::new(),
    };
    for entry in entries {
        let mut entry = entry.map_err(corrupt)?;
        x.entry(&mut entry)?;
    }
    x.finish()
}

/// `io::copy` of a member's data, telling reading the archive (corrupt,
/// unless the system failed) from writing the file (always an I/O error).
fn copy_member(from: &mut impl Read, to: &mut fs::File) -> Result<u64, LoadError> {
    use std::io::Write;
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(e)),
        };
        to.write_all(&buf[..n]).map_err(LoadError::Io)?;
        copied += n as u64;
    }
}

/// Where an extraction stands between two archive headers.
struct Extraction<'a> {
    root: &'a Path,
    limits: &'a Limits,
    /// What the extension headers read so far say about the next member.
    pending: Pending,
    count: u64,
    total: u64,
    /// Symlinks, created after everything else: (path, target, name shown).
    links: Vec<(PathBuf, PathBuf, String)>,
    link_paths: BTreeSet<PathBuf>,
    /// Directories get their mode and time last (a read-only directory must
    /// not stop its own members from being written).
    dirs: Vec<(PathBuf, u32, u64)>,
}

/// A member of the archive, its extension headers applied and its name
/// checked.
struct Member {
    /// The name as the archive has it, for messages.
    shown: String,
    rel: PathBuf,
    dest: PathBuf,
    size: u64,
    mode: u32,
    mtime: u64,
    /// The raw name ends in `/` (a directory, whatever its type says).
    trailing_slash: bool,
    /// The link name from a long-link or pax header.
    link: Option<Vec<u8>>,
}

impl Extraction<'_> {
    /// One header of the archive: an extension header, or a member.
    fn entry(&mut self, entry: &mut Entry<'_>) -> Result<(), LoadError> {
        self.count += 1;
        let header_name = String::from_utf8_lossy(&entry.header().path_bytes()).into_owned();
        if self.count > self.limits.max_entries {
            return Err(refuse(
                &header_name,
                format!("is past the limit of {} archive members", self.limits.max_entries),
            ));
        }
        let kind = entry.header().entry_type();
        if self.extension(entry, kind, &header_name)? {
            return Ok(());
        }
        let m = self.member(entry)?;
        let is_dir = kind == tar::EntryType::Directory || (kind.is_file() && m.trailing_slash);
        match kind {
            _ if is_dir => self.directory(m),
            tar::EntryType::Regular | tar::EntryType::Continuous => self.regular(entry, m),
            tar::EntryType::Symlink => self.symlink(entry, m),
            tar::EntryType::Link => self.hard_link(entry, m),
            tar::EntryType::Char => Err(refuse(&m.shown, "is a character device")),
            tar::EntryType::Block => Err(refuse(&m.shown, "is a block device")),
            tar::EntryType::Fifo => Err(refuse(&m.shown, "is a FIFO")),
            tar::EntryType::GNUSparse => Err(refuse(&m.shown, "is a sparse file (not supported)")),
            other => Err(refuse(&m.shown, format!("has an unsupported type '{}'", other.as_byte() as char))),
        }
    }

    /// GNU long names and pax headers: remembered for the next member, with
    /// caps on their size. True when `entry` was one.
    fn extension(&mut self, entry: &mut Entry<'_>, kind: tar::EntryType, header_name: &str) -> Result<bool, LoadError> {
        match kind {
            tar::EntryType::GNULongName => {
                self.pending.path = Some(trim_nul(read_capped(entry, MAX_LONG_NAME, header_name)?));
            }
            tar::EntryType::GNULongLink => {
                self.pending.link = Some(trim_nul(read_capped(entry, MAX_LONG_NAME, header_name)?));
            }
            tar::EntryType::XGlobalHeader => {
                read_capped(entry, MAX_PAX, header_name)?;
            }
            tar::EntryType::XHeader => {
                let data = read_capped(entry, MAX_PAX, header_name)?;
                for ext in tar::PaxExtensions::new(&data) {
                    let ext = ext.map_err(corrupt)?;
                    match ext.key_bytes() {
                        b"path" => self.pending.path = Some(ext.value_bytes().to_vec()),
                        b"linkpath" => self.pending.link = Some(ext.value_bytes().to_vec()),
                        b"size" => {
                            let n = ext.value().ok().and_then(|v| v.parse().ok());
                            self.pending.size = Some(n.ok_or_else(|| refuse(header_name, "has an invalid pax size"))?);
                        }
                        k if k.starts_with(b"GNU.sparse.") => {
                            return Err(refuse(header_name, "describes a sparse file (not supported)"));
                        }
                        _ => {}
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The member `entry` stands for, with what the extension headers said;
    /// refused when its name is unsafe.
    fn member(&mut self, entry: &Entry<'_>) -> Result<Member, LoadError> {
        let p = std::mem::take(&mut self.pending);
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
        if let Some(l) = self.link_paths.iter().find(|l| rel.starts_with(l) && rel != **l) {
            return Err(refuse(
                &shown,
                format!("would be written through the symlink '{}' of the archive", l.display()),
            ));
        }
        let dest = self.root.join(&rel);
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        let mtime = entry.header().mtime().unwrap_or(0);
        let trailing_slash = raw_path.ends_with(b"/");
        Ok(Member { shown, rel, dest, size, mode, mtime, trailing_slash, link: p.link })
    }

    fn directory(&mut self, m: Member) -> Result<(), LoadError> {
        if m.rel.as_os_str().is_empty() {
            // "./": the extraction directory itself; keep it 0700.
            return Ok(());
        }
        if let Ok(meta) = fs::symlink_metadata(&m.dest) {
            if !meta.is_dir() {
                fs::remove_file(&m.dest).map_err(LoadError::Io)?;
            }
        }
        fs::create_dir_all(&m.dest).map_err(LoadError::Io)?;
        self.dirs.push((m.dest, m.mode, m.mtime));
        Ok(())
    }

    fn regular(&mut self, entry: &mut Entry<'_>, m: Member) -> Result<(), LoadError> {
        let Member { shown, rel, dest, size, mode, mtime, .. } = m;
        if rel.as_os_str().is_empty() {
            return Err(refuse(&shown, "names the extraction directory itself"));
        }
        self.total = self.total.saturating_add(size);
        if self.total > self.limits.max_bytes {
            return Err(refuse(
                &shown,
                format!(
                    "declares {size} bytes, which takes the tarball past the limit of {} bytes ({MAX_BYTES_VAR})",
                    self.limits.max_bytes
                ),
            ));
        }
        self.link_paths.remove(&rel);
        prepare_slot(&shown, &dest)?;
        let mut f =
            fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&dest).map_err(LoadError::Io)?;
        let copied = copy_member(entry, &mut f)?;
        if copied != size {
            return Err(LoadError::Corrupt(format!("{shown}: archive truncated")));
        }
        drop(f);
        fs::set_permissions(&dest, fs::Permissions::from_mode(mode)).map_err(LoadError::Io)?;
        let t = filetime::FileTime::from_unix_time(mtime as i64, 0);
        filetime::set_file_mtime(&dest, t).map_err(LoadError::Io)
    }

    /// A symlink is only checked lexically here and created in `finish`,
    /// after every other member.
    fn symlink(&mut self, entry: &Entry<'_>, m: Member) -> Result<(), LoadError> {
        let Member { shown, rel, link, .. } = m;
        let target = link.or_else(|| entry.header().link_name_bytes().map(|b| b.into_owned()));
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
        if self.link_paths.iter().any(|l| l.starts_with(&rel) && *l != rel) {
            return Err(refuse(&shown, "is a symlink replacing a directory of the archive"));
        }
        self.link_paths.insert(rel.clone());
        self.links.retain(|(r, _, _)| *r != rel);
        self.links.push((rel, target, shown));
        Ok(())
    }

    fn hard_link(&mut self, entry: &Entry<'_>, m: Member) -> Result<(), LoadError> {
        let Member { shown, rel, dest, link, .. } = m;
        let target = link.or_else(|| entry.header().link_name_bytes().map(|b| b.into_owned()));
        let target = os(&target.unwrap_or_default());
        let shown_target = target.display().to_string();
        let outside = || refuse(&shown, format!("is a hard link pointing outside the archive (to '{shown_target}')"));
        let trel = safe_rel(&shown, &target).map_err(|_| outside())?;
        if trel.as_os_str().is_empty() {
            return Err(outside());
        }
        let src = self.root.join(&trel);
        let is_earlier_file = !self.link_paths.iter().any(|l| trel.starts_with(l))
            && fs::symlink_metadata(&src).is_ok_and(|m| m.file_type().is_file());
        if !is_earlier_file {
            return Err(refuse(
                &shown,
                format!("is a hard link to '{shown_target}', which is not an earlier file of the archive"),
            ));
        }
        self.link_paths.remove(&rel);
        if src != dest {
            prepare_slot(&shown, &dest)?;
            fs::hard_link(&src, &dest).map_err(LoadError::Io)?;
        }
        Ok(())
    }

    /// After the last member: the symlinks, each checked for real once all
    /// exist, then the directories' modes and times.
    fn finish(self) -> Result<(), LoadError> {
        let root = self.root;
        for (rel, target, shown) in &self.links {
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
        for (rel, target, shown) in &self.links {
            if !stays_inside(root, rel) {
                return Err(refuse(
                    shown,
                    format!("is a symlink resolving outside the archive (to '{}')", target.display()),
                ));
            }
        }
        for (dir, mode, mtime) in self.dirs.iter().rev() {
            fs::set_permissions(dir, fs::Permissions::from_mode(mode | 0o700)).map_err(LoadError::Io)?;
            let t = filetime::FileTime::from_unix_time(*mtime as i64, 0);
            filetime::set_file_mtime(dir, t).map_err(LoadError::Io)?;
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::super::create;
    use super::*;

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
