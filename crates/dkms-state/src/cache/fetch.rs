//! Where entries are read from: `http://`/`https://` URLs (a static web
//! server or object store: ureq over rustls with the platform's
//! certificates, proxies from the environment as curl reads them, a
//! bounded connect and response time), a directory (`file://` or a path:
//! regular files only, no link followed, the same size bounds) or an OCI
//! registry (`oci://`, `oci+http://`: `cache::oci`).

use crate::untrusted::{self, Links};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::http::{agent, describe_error};
pub use super::http::{timeout, Miss};

/// One source of `binary_cache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A base URL, ending in `/`.
    Http(String),
    Dir(PathBuf),
    /// A registry repository; an unusable reference keeps why.
    Oci(Result<super::oci::Reference, String>),
}

impl Source {
    /// A word of `binary_cache`.
    pub fn parse(word: &str) -> Source {
        if let Some(r) = super::oci::Reference::parse(word) {
            Source::Oci(r)
        } else if word.starts_with("http://") || word.starts_with("https://") {
            let mut base = word.to_string();
            if !base.ends_with('/') {
                base.push('/');
            }
            Source::Http(base)
        } else {
            Source::Dir(PathBuf::from(word.strip_prefix("file://").unwrap_or(word)))
        }
    }

    /// The file `name` of this source, whole, at most `limit` bytes.
    pub fn get(&self, name: &str, limit: u64) -> Result<Vec<u8>, Miss> {
        let mut out = Vec::new();
        self.copy_to(name, limit, &mut out)?;
        Ok(out)
    }

    /// The file `name` of this source written to `dest` (a new file).
    pub fn download(&self, name: &str, limit: u64, dest: &Path) -> Result<(), Miss> {
        let mut f =
            crate::fsutil::create_exclusive(dest).map_err(|e| Miss::Failed(format!("{}: {e}", dest.display())))?;
        self.copy_to(name, limit, &mut f)?;
        f.flush().map_err(|e| Miss::Failed(e.to_string()))
    }

    /// The files of the entry `key`, to be read in turn (`EntryFiles`).
    pub fn entry(&self, key: &str) -> Result<EntryFiles<'_>, Miss> {
        let pull = match self {
            Source::Oci(Ok(r)) => Some(super::oci::Pull::new(r, key)?),
            _ => None,
        };
        Ok(EntryFiles { src: self, pull })
    }

    fn copy_to(&self, name: &str, limit: u64, out: &mut dyn Write) -> Result<(), Miss> {
        copy_bounded(self.open(name, limit)?, name, limit, out)
    }

    fn open(&self, name: &str, limit: u64) -> Result<Box<dyn Read>, Miss> {
        Ok(match self {
            // The bounds of an HTTP source: only a regular file (a FIFO
            // would hang the build holding the lock, `/dev/zero` never
            // ends), no link followed, at most `limit` bytes (below).
            Source::Dir(d) => match untrusted::open_regular(&d.join(name), Links::Refuse) {
                Ok(f) => Box::new(f),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Miss::Absent),
                Err(e) => return Err(Miss::Failed(format!("{name}: {e}"))),
            },
            Source::Http(base) => http_get(&format!("{base}{name}"), limit)?,
            Source::Oci(Ok(r)) => super::oci::open(r, name, limit)?,
            Source::Oci(Err(why)) => return Err(Miss::Failed(why.clone())),
        })
    }
}

/// The files of one entry of a source, read in turn: a registry's image
/// manifest is fetched once for the three of them, not once per blob.
pub struct EntryFiles<'a> {
    src: &'a Source,
    pull: Option<super::oci::Pull>,
}

impl EntryFiles<'_> {
    /// As `Source::get`.
    pub fn get(&mut self, name: &str, limit: u64) -> Result<Vec<u8>, Miss> {
        let mut out = Vec::new();
        copy_bounded(self.open(name, limit)?, name, limit, &mut out)?;
        Ok(out)
    }

    /// As `Source::download`.
    pub fn download(&mut self, name: &str, limit: u64, dest: &Path) -> Result<(), Miss> {
        let reader = self.open(name, limit)?;
        let mut f =
            crate::fsutil::create_exclusive(dest).map_err(|e| Miss::Failed(format!("{}: {e}", dest.display())))?;
        copy_bounded(reader, name, limit, &mut f)?;
        f.flush().map_err(|e| Miss::Failed(e.to_string()))
    }

    fn open(&mut self, name: &str, limit: u64) -> Result<Box<dyn Read>, Miss> {
        match &mut self.pull {
            Some(p) => p.open(name, limit),
            None => self.src.open(name, limit),
        }
    }
}

/// `reader` into `out`, failing past `limit` bytes.
fn copy_bounded(mut reader: Box<dyn Read>, name: &str, limit: u64, out: &mut dyn Write) -> Result<(), Miss> {
    let n =
        std::io::copy(&mut reader.by_ref().take(limit + 1), out).map_err(|e| Miss::Failed(format!("{name}: {e}")))?;
    if n > limit {
        return Err(Miss::Failed(format!("{name} is larger than {limit} bytes")));
    }
    Ok(())
}

fn http_get(url: &str, limit: u64) -> Result<Box<dyn Read>, Miss> {
    let resp = agent().get(url).call().map_err(|e| Miss::Failed(describe_error(&e)))?;
    match resp.status().as_u16() {
        200 => Ok(Box::new(resp.into_body().into_with_config().limit(limit.saturating_add(1)).reader())),
        404 | 410 => Err(Miss::Absent),
        s => Err(Miss::Failed(format!("HTTP {s} for {url}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources() {
        assert_eq!(Source::parse("http://h:1/c"), Source::Http("http://h:1/c/".into()));
        assert_eq!(Source::parse("https://h/"), Source::Http("https://h/".into()));
        assert_eq!(Source::parse("file:///srv/c"), Source::Dir("/srv/c".into()));
        assert_eq!(Source::parse("/srv/c"), Source::Dir("/srv/c".into()));
        assert!(matches!(Source::parse("oci://h/r"), Source::Oci(Ok(_))));
        assert!(matches!(Source::parse("oci+http://h/"), Source::Oci(Err(_))));
    }

    #[test]
    fn reads_a_directory() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a"), "abc").unwrap();
        let s = Source::Dir(t.path().into());
        assert_eq!(s.get("a", 10), Ok(b"abc".to_vec()));
        assert_eq!(s.get("b", 10), Err(Miss::Absent));
        assert!(matches!(s.get("a", 2), Err(Miss::Failed(_))));
        // Neither a FIFO nor a link (to an endless device) is read.
        let fifo = t.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        std::os::unix::fs::symlink("/dev/zero", t.path().join("zero")).unwrap();
        for name in ["fifo", "zero"] {
            assert!(matches!(s.get(name, 10), Err(Miss::Failed(_))), "{name}");
        }
    }
}
