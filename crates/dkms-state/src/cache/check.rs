//! The one check of a cache entry, applied alike by `build` (before it
//! uses an entry) and by `cache verify`: the manifest and its signature
//! read with size bounds (regular files only from a directory source),
//! the signature verified, the manifest's structure and identity checked,
//! the archive's member list compared with the manifest before anything is
//! unpacked, then the unpacked files' hashes, and every module read by the
//! one module reader (built for the manifest's kernel, signed when the key
//! says so). At least one module must be there.

use super::entry::{self, MakeStats, Manifest};
use super::fetch::{Miss, Source};
use crate::tarball;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest manifest and signature read from a source.
pub const MAX_MANIFEST: u64 = 4 << 20;
pub const MAX_SIGNATURE: u64 = 1 << 20;

/// Longest GNU long name accepted in an entry archive.
const MAX_LONG_NAME: u64 = 4096;

/// A checked entry, unpacked under `root` (in the caller's private
/// directory).
pub struct Checked {
    pub manifest: Manifest,
    pub root: PathBuf,
}

/// Fetch the entry `key` of `src` into the private directory `tmp`, check
/// all of it and unpack it there (`entry/`). `want`: the build (module,
/// version, kernel, arch) it must be for, checked before the archive is
/// fetched.
pub fn fetch_checked(
    src: &Source,
    key: &str,
    cert: &Path,
    tmp: &Path,
    want: Option<[&str; 4]>,
) -> Result<Checked, Miss> {
    let failed = |e: std::io::Error| Miss::Failed(e.to_string());
    let [json, sig, tar] = entry::names(key);
    // One image manifest of a registry for the three files.
    let mut files = src.entry(key)?;
    let manifest = files.get(&json, MAX_MANIFEST)?;
    let signature = files.get(&sig, MAX_SIGNATURE).map_err(|m| missing(m, "signature missing"))?;
    let (jp, sp, tp) = (tmp.join(&json), tmp.join(&sig), tmp.join(&tar));
    // `tmp` is private, yet its files are made new all the same (no write
    // through anything already there).
    let write_new = |p: &Path, bytes: &[u8]| {
        use std::io::Write;
        crate::fsutil::create_exclusive(p).and_then(|mut f| f.write_all(bytes))
    };
    write_new(&jp, &manifest).map_err(failed)?;
    write_new(&sp, &signature).map_err(failed)?;
    entry::verify_signature(&jp, &sp, cert).map_err(Miss::Failed)?;
    crate::crash::point("cache:verified");
    let m = Manifest::parse(&manifest).map_err(Miss::Failed)?;
    if m.key != key {
        return Err(Miss::Failed("manifest is for another key".into()));
    }
    if want.is_some_and(|w| w != [m.module.as_str(), &m.version, &m.kernel, &m.arch]) {
        return Err(Miss::Failed("manifest is for another build".into()));
    }
    let limits = tarball::Limits::from_env();
    files.download(&tar, limits.max_bytes, &tp).map_err(|m| missing(m, "archive missing"))?;
    crate::crash::point("cache:downloaded");
    members_match(&tp, &m, &limits).map_err(Miss::Failed)?;
    let root = tmp.join("entry");
    std::fs::create_dir(&root).map_err(failed)?;
    entry::unpack(&tp, &root, &m).map_err(Miss::Failed)?;
    let modules = entry::modules(&root);
    if modules.is_empty() {
        return Err(Miss::Failed("no module in the entry".into()));
    }
    for f in &modules {
        entry::check_module(f, &m.kernel, !m.inputs.signing.is_empty()).map_err(Miss::Failed)?;
    }
    Ok(Checked { manifest: m, root })
}

/// An absent file of an entry whose manifest is there is a failure.
fn missing(m: Miss, what: &str) -> Miss {
    match m {
        Miss::Absent => Miss::Failed(what.into()),
        other => other,
    }
}

/// The archive's members, read from their headers before anything is
/// unpacked: every regular file is one of the manifest's, with its size;
/// directories only lead to them; nothing else.
pub fn members_match(archive: &Path, m: &Manifest, limits: &tarball::Limits) -> Result<(), String> {
    let bad = |e: std::io::Error| format!("archive unreadable ({e})");
    let f = std::fs::File::open(archive).map_err(bad)?;
    let mut ar = tar::Archive::new(zstd::stream::read::Decoder::new(f).map_err(bad)?);
    let mut long: Option<Vec<u8>> = None;
    let mut seen = 0usize;
    for (n, e) in ar.entries().map_err(bad)?.raw(true).enumerate() {
        if n as u64 >= limits.max_entries {
            return Err("archive has too many members".into());
        }
        let mut e = e.map_err(bad)?;
        let kind = e.header().entry_type();
        if kind.is_gnu_longname() {
            if e.size() > MAX_LONG_NAME {
                return Err("archive member name too long".into());
            }
            let mut name = Vec::new();
            e.read_to_end(&mut name).map_err(bad)?;
            long = Some(name.split(|&b| b == 0).next().unwrap_or_default().to_vec());
            continue;
        }
        let raw = long.take().unwrap_or_else(|| e.path_bytes().into_owned());
        // As extraction reads names: `.` and empty components dropped.
        let path = String::from_utf8_lossy(&raw);
        let path = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect::<Vec<_>>().join("/");
        let listed = |p: &str| m.files.iter().find(|f| f.path == p);
        let ok = if kind.is_file() {
            seen += 1;
            listed(&path).is_some_and(|f| f.size == e.size())
        } else if kind.is_dir() {
            path.is_empty() || path == "module" || m.files.iter().any(|f| f.path.starts_with(&format!("{path}/")))
        } else {
            false
        };
        if !ok {
            return Err(format!("{path} is not in the manifest"));
        }
    }
    if seen != m.files.len() {
        return Err("archive members do not match the manifest".into());
    }
    Ok(())
}

/// At most this many manifests of a directory are read by `last_make`.
const SCAN_LIMIT: usize = 4096;

/// The `make` of the newest entry of `module`/`version` in the cache
/// directory `dir` that records one, with its `created` time. Each
/// manifest is read as any entry's is (bounded, no link followed, checked
/// by `Manifest::parse`); its signature is not checked, as nothing but the
/// total and the time left shown during a build comes of it.
pub fn last_make(dir: &Path, module: &str, version: &str) -> Option<(u64, MakeStats)> {
    let mut best: Option<(u64, MakeStats)> = None;
    let mut read = 0;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let name = e.file_name();
        let Some(key) = name.to_str().and_then(|n| n.strip_suffix(".json")).filter(|k| entry::valid_key(k)) else {
            continue;
        };
        read += 1;
        if read > SCAN_LIMIT {
            break;
        }
        let Ok(bytes) = crate::untrusted::read_bounded(&e.path(), MAX_MANIFEST) else { continue };
        let Ok(m) = Manifest::parse(&bytes) else { continue };
        if m.key != key || m.module != module || m.version != version {
            continue;
        }
        if let Some(s) = m.make.filter(|_| best.is_none_or(|(created, _)| m.created > created)) {
            best = Some((m.created, s));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entry::FileRecord;

    fn manifest(files: &[(&str, u64)]) -> Manifest {
        let inputs: super::super::key::Inputs = serde_json::from_value(serde_json::json!({
            "module": "m", "version": "1", "kernel": "k", "arch": "a", "source": "", "conf": {},
            "make_command": "", "patches": {}, "headers": {}, "cc_version_text": "", "compiler": "",
            "make_env": {}, "signing": "", "compression": "", "dkms_version": ""
        }))
        .unwrap();
        let files = files.iter().map(|(p, n)| FileRecord { path: p.to_string(), size: *n, sha256: String::new() });
        Manifest {
            format: entry::FORMAT,
            key: inputs.key(),
            module: "m".into(),
            version: "1".into(),
            kernel: "k".into(),
            arch: "a".into(),
            inputs,
            files: files.collect(),
            dkms_version: String::new(),
            created: 0,
            make: None,
        }
    }

    /// `last_make`: the newest entry of the module/version that records
    /// its make; others, and manifests that do not parse, are passed over.
    #[test]
    fn last_make_is_the_newest_entry_of_the_module_version() {
        let dir = tempfile::tempdir().unwrap();
        let put =
            |m: &Manifest| std::fs::write(dir.path().join(format!("{}.json", m.key)), serde_json::to_vec(m).unwrap());
        let mut old = manifest(&[]);
        (old.created, old.make) = (10, Some(MakeStats { steps: 4, seconds: 3 }));
        put(&old).unwrap();
        assert_eq!(last_make(dir.path(), "m", "1"), Some((10, MakeStats { steps: 4, seconds: 3 })));
        let mut newer = manifest(&[]);
        newer.inputs.compiler = "another".into();
        newer.key = newer.inputs.key();
        (newer.created, newer.make) = (20, Some(MakeStats { steps: 6, seconds: 5 }));
        put(&newer).unwrap();
        let without = Manifest { make: None, created: 30, ..manifest(&[]) };
        std::fs::write(dir.path().join(format!("{}.json", "0".repeat(64))), serde_json::to_vec(&without).unwrap())
            .unwrap();
        std::fs::write(dir.path().join(format!("{}.json", "1".repeat(64))), b"{not json").unwrap();
        assert_eq!(last_make(dir.path(), "m", "1"), Some((20, MakeStats { steps: 6, seconds: 5 })));
        assert_eq!(last_make(dir.path(), "m", "2"), None);
    }

    /// An archive member: path, size (None: a directory), link target.
    type Member<'a> = (&'a str, Option<usize>, Option<&'a str>);

    /// A `.tar.zst` of `members`.
    fn archive(dir: &Path, members: &[Member]) -> PathBuf {
        let mut b = tar::Builder::new(Vec::new());
        for (path, size, link) in members {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            match (size, link) {
                (_, Some(to)) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    b.append_link(&mut h, path, to).unwrap();
                }
                (Some(n), None) => {
                    h.set_size(*n as u64);
                    h.set_cksum();
                    b.append_data(&mut h, path, &vec![b'x'; *n][..]).unwrap();
                }
                (None, None) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_cksum();
                    b.append_data(&mut h, path, &[][..]).unwrap();
                }
            }
        }
        let p = dir.join("a.tar.zst");
        std::fs::write(&p, zstd::encode_all(&b.into_inner().unwrap()[..], 1).unwrap()).unwrap();
        p
    }

    #[test]
    fn members_are_checked_against_the_manifest_before_unpacking() {
        let t = tempfile::tempdir().unwrap();
        let m = manifest(&[("module/m.ko", 5), ("log/make.log", 3)]);
        let limits = tarball::Limits::default();
        let good = [
            ("module", None, None),
            ("module/m.ko", Some(5), None),
            ("log", None, None),
            ("log/make.log", Some(3), None),
        ];
        assert_eq!(members_match(&archive(t.path(), &good), &m, &limits), Ok(()));
        let cases: [&[Member]; 4] = [
            &[("module/m.ko", Some(5), None), ("log/make.log", Some(3), None), ("module/extra.ko", Some(1), None)],
            &[("module/m.ko", Some(6), None), ("log/make.log", Some(3), None)],
            &[("module/m.ko", Some(5), None), ("log/make.log", None, Some("/etc/shadow"))],
            &[("module/m.ko", Some(5), None)],
        ];
        for members in cases {
            assert!(members_match(&archive(t.path(), members), &m, &limits).is_err(), "{members:?}");
        }
    }
}
