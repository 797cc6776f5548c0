//! Writing DKMS tarballs (`mktarball`): members added one by one or as
//! whole trees, the archive compressed as its name says and renamed into
//! place only once complete.

use super::Compression;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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
