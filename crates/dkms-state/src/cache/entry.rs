//! One cache entry, three static files named by its key: `<key>.json` (the
//! manifest: what was built, the key's inputs, every file with its size
//! and SHA-256), `<key>.json.sig` (a detached CMS signature of the
//! manifest, DER, made with `openssl cms` like sign-file's) and
//! `<key>.tar.zst` (`module/` and `log/make.log` of the build). Written
//! archive first, manifest last, each under a temporary name renamed into
//! place: a reader that finds the manifest finds the rest.

use super::file_sha256;
use super::key::Inputs;
use crate::{fsutil, module_file, tarball, tools};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The manifest format this dkms writes and reads.
pub const FORMAT: u32 = 1;

/// `<key>.json`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub key: String,
    pub module: String,
    pub version: String,
    pub kernel: String,
    pub arch: String,
    pub inputs: Inputs,
    /// Every regular file of the archive, by path in it.
    pub files: Vec<FileRecord>,
    /// The dkms release that made the entry.
    pub dkms_version: String,
    /// Seconds since the epoch.
    pub created: u64,
    /// What the build's make did (absent from entries written before it
    /// was recorded, which still parse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub make: Option<MakeStats>,
}

/// What the make of an entry's build did, as `crate::progress` counts it:
/// its kbuild steps and how long it ran. An addition to format 1 (older
/// readers ignore it): a later local build of the same module/version
/// with no make.log of its own shows its total and time left from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MakeStats {
    pub steps: u64,
    pub seconds: u64,
}

/// One file of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// The three file names of the entry `key`: manifest, signature, archive.
pub fn names(key: &str) -> [String; 3] {
    [format!("{key}.json"), format!("{key}.json.sig"), format!("{key}.tar.zst")]
}

/// A key is 64 lower-case hex digits (anything else names no entry).
pub fn valid_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Manifest {
    /// Parse and check the structure of a manifest.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| format!("manifest unreadable ({e})"))?;
        if m.format != FORMAT {
            return Err(format!("manifest format {} unknown", m.format));
        }
        if !valid_key(&m.key) || m.inputs.key() != m.key {
            return Err("manifest inputs do not match its key".into());
        }
        // The names outside `inputs` are not covered by the key: they must
        // say what the inputs say.
        let i = &m.inputs;
        if [&m.module, &m.version, &m.kernel, &m.arch] != [&i.module, &i.version, &i.kernel, &i.arch] {
            return Err("manifest names another module than its inputs".into());
        }
        if m.files.iter().any(|f| !safe_path(&f.path)) {
            return Err("manifest names an unsafe path".into());
        }
        // Its names enter the trees as `-m/-v/-k/-a` do (crate::name).
        for (what, value) in [("module", &m.module), ("version", &m.version), ("kernel", &m.kernel), ("arch", &m.arch)]
        {
            if let Some(why) = crate::name::problem(value) {
                return Err(format!("manifest {what} '{}' cannot be used: {why}", crate::name::printable(value)));
            }
        }
        Ok(m)
    }
}

/// `module/...` or `log/make.log`, no `..`, nothing absolute.
fn safe_path(p: &str) -> bool {
    (p.starts_with("module/") || p == "log/make.log") && !p.split('/').any(|c| c.is_empty() || c == "." || c == "..")
}

/// The regular files under `base` (`module/`, `log/make.log`) with sizes and
/// hashes, in path order.
pub fn file_records(base: &Path) -> std::io::Result<Vec<FileRecord>> {
    let mut out = Vec::new();
    collect(base, "module", &mut out)?;
    let log = base.join("log/make.log");
    if log.symlink_metadata().is_ok_and(|m| m.is_file()) {
        let (size, sha256) = file_sha256(&log)?;
        out.push(FileRecord { path: "log/make.log".into(), size, sha256 });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn collect(base: &Path, rel: &str, out: &mut Vec<FileRecord>) -> std::io::Result<()> {
    let dir = base.join(rel);
    if !dir.is_dir() {
        return Ok(());
    }
    for e in std::fs::read_dir(&dir)? {
        let e = e?;
        let name = format!("{rel}/{}", e.file_name().to_string_lossy());
        let ft = e.file_type()?;
        if ft.is_dir() {
            collect(base, &name, out)?;
        } else if ft.is_file() {
            let (size, sha256) = file_sha256(&e.path())?;
            out.push(FileRecord { path: name, size, sha256 });
        } else {
            return Err(std::io::Error::other(format!("{name} is not a regular file")));
        }
    }
    Ok(())
}

/// Write the entry of the build in `base` (`<kver>/<arch>` of the DKMS
/// tree) into `dir`, signing the manifest with `key`/`cert`.
pub fn write(dir: &Path, m: &Manifest, base: &Path, key: &Path, cert: &Path) -> Result<(), String> {
    let [json, sig, tar] = names(&m.key);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let has_log = base.join("log/make.log").symlink_metadata().is_ok_and(|m| m.is_file());
    tarball::create(&dir.join(&tar), |w| {
        w.add_tree(&base.join("module"), "module")?;
        if has_log {
            w.add_dir("log")?;
            w.add_path(&base.join("log/make.log"), "log/make.log")?;
        }
        Ok(())
    })
    .map_err(|e| format!("{tar}: {e}"))?;
    let text = serde_json::to_vec_pretty(m).map_err(|e| e.to_string())?;
    // Signed from memory, the signature read from openssl's stdout: no
    // file of ours is named on its command line for it to write, and each
    // file of the push directory (which others may share) is created new
    // (O_EXCL|O_NOFOLLOW) by `write_atomic`, signature first, manifest last.
    let signature = sign_bytes(&text, key, cert)?;
    fsutil::write_atomic(&dir.join(&sig), &signature).map_err(|e| format!("{sig}: {e}"))?;
    fsutil::write_atomic(&dir.join(&json), &text).map_err(|e| format!("{json}: {e}"))
}

/// `openssl cms -sign` of `data` (on stdin): a detached DER signature
/// (on stdout), without certificates or signed attributes (the reader
/// brings the certificate).
fn sign_bytes(data: &[u8], key: &Path, cert: &Path) -> Result<Vec<u8>, String> {
    let mut c = tools::command("openssl", &[]);
    c.args(["cms", "-sign", "-binary", "-noattr", "-nocerts", "-md", "sha256", "-outform", "DER"])
        .arg("-signer")
        .arg(cert)
        .arg("-inkey")
        .arg(key)
        .stderr(std::process::Stdio::piped());
    match tools::output_with_input(&mut c, data) {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => Ok(o.stdout),
        Ok(o) => Err(openssl_failure("signing failed", &o.stderr)),
        Err(e) => Err(format!("signing failed (openssl: {e})")),
    }
}

/// `openssl cms -verify`: `sig` is a valid signature of `file` by the
/// holder of `cert` (and only of that certificate: `-nointern`).
pub fn verify_signature(file: &Path, sig: &Path, cert: &Path) -> Result<(), String> {
    let mut c = tools::command("openssl", &[]);
    c.args(["cms", "-verify", "-binary", "-inform", "DER", "-nointern", "-noverify", "-out", "/dev/null", "-in"])
        .arg(sig)
        .arg("-content")
        .arg(file)
        .arg("-certfile")
        .arg(cert);
    run_openssl(&mut c, "bad signature")
}

fn run_openssl(c: &mut std::process::Command, what: &str) -> Result<(), String> {
    match tools::output(c) {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(openssl_failure(what, &o.stderr)),
        Err(e) => Err(format!("{what} (openssl: {e})")),
    }
}

/// `what (first line openssl said)`.
fn openssl_failure(what: &str, stderr: &[u8]) -> String {
    let err = String::from_utf8_lossy(stderr);
    let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    if first.is_empty() {
        what.to_string()
    } else {
        format!("{what} ({first})")
    }
}

/// The unpacked archive in `root` holds exactly the manifest's files, each
/// with its size and SHA-256.
pub fn check_files(root: &Path, m: &Manifest) -> Result<(), String> {
    for e in std::fs::read_dir(root).map_err(|e| format!("archive unreadable ({e})"))?.flatten() {
        let n = e.file_name();
        if n != "module" && n != "log" {
            return Err(format!("{} is not in the manifest", n.to_string_lossy()));
        }
    }
    let found = file_records(root).map_err(|e| format!("archive unreadable ({e})"))?;
    for f in &m.files {
        match found.iter().find(|g| g.path == f.path) {
            None => return Err(format!("{} missing from the archive", f.path)),
            Some(g) if g.size != f.size || g.sha256 != f.sha256 => {
                return Err(format!("{} does not match its hash", f.path))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.iter().find(|g| !m.files.iter().any(|f| f.path == g.path)) {
        return Err(format!("{} is not in the manifest", extra.path));
    }
    Ok(())
}

/// A module file (`.ko`, `.ko.gz`, `.ko.xz`, `.ko.zst`) is for `kernel`
/// (its vermagic names it) and, when `signed`, carries a signature. Read
/// by the one module reader (`module_file`), as build and verify read
/// modules.
pub fn check_module(file: &Path, kernel: &str, signed: bool) -> Result<(), String> {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let m = module_file::Module::open(file).map_err(|e| format!("{name} unreadable ({e})"))?;
    let facts = module_file::facts(&m).ok_or_else(|| format!("{name} is no readable module"))?;
    if facts.release() != Some(kernel) {
        return Err(format!("{name} is not built for {kernel} (vermagic)"));
    }
    if signed && !facts.signed {
        return Err(format!("{name} is not signed"));
    }
    Ok(())
}

/// The module files of an unpacked entry.
pub fn modules(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root.join("module"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains(".ko")))
        .collect();
    out.sort();
    out
}

/// Unpack `archive` into the empty directory `root` under ldtarball's
/// rules (`tarball::extract`), then check it against the manifest.
pub fn unpack(archive: &Path, root: &Path, m: &Manifest) -> Result<(), String> {
    tarball::extract(archive, root, &tarball::Limits::from_env()).map_err(|e| format!("archive refused: {e}"))?;
    check_files(root, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A push directory others can write: symlinks planted at the names of
    /// the manifest's and the signature's temporaries (`.<key>.json.new.<pid>`,
    /// `.<key>.json.sig.new.<pid>`) are not written through (issue 24,
    /// defect 4); the entry is written and verifies.
    #[test]
    fn push_does_not_write_through_planted_temporaries() {
        if !crate::tools::available("openssl") {
            eprintln!("skipped: needs openssl");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let (key, cert) = (t.path().join("k.key"), t.path().join("k.der"));
        let mut c = tools::command("openssl", &[]);
        c.args(["req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-outform", "DER"])
            .args(["-subj", "/CN=t", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert);
        assert!(tools::output(&mut c).unwrap().status.success());
        let base = t.path().join("base");
        std::fs::create_dir_all(base.join("module")).unwrap();
        std::fs::write(base.join("module/m.ko"), "module").unwrap();
        let inputs = Inputs {
            module: "m".into(),
            version: "1".into(),
            kernel: "k".into(),
            arch: "a".into(),
            ..Inputs::default()
        };
        let m = Manifest {
            format: FORMAT,
            key: inputs.key(),
            module: "m".into(),
            version: "1".into(),
            kernel: "k".into(),
            arch: "a".into(),
            inputs,
            files: file_records(&base).unwrap(),
            dkms_version: "t".into(),
            created: 0,
            make: Some(MakeStats { steps: 4, seconds: 3 }),
        };
        let dir = t.path().join("push");
        std::fs::create_dir(&dir).unwrap();
        let victim = t.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let [json, sig, _] = names(&m.key);
        for name in [&json, &sig] {
            std::os::unix::fs::symlink(&victim, fsutil::temp_sibling(&dir.join(name), "new")).unwrap();
        }
        write(&dir, &m, &base, &key, &cert).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(dir.join(&json).symlink_metadata().unwrap().is_file());
        verify_signature(&dir.join(&json), &dir.join(&sig), &cert).unwrap();
        assert_eq!(Manifest::parse(&std::fs::read(dir.join(&json)).unwrap()).unwrap(), m);

        // An entry written before `make` was recorded parses; it is
        // written without the key (not as null).
        let old = Manifest { make: None, ..m };
        let text = serde_json::to_string(&old).unwrap();
        assert!(!text.contains("\"make\""), "{text}");
        assert_eq!(Manifest::parse(text.as_bytes()).unwrap(), old);
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(&json)).unwrap()).unwrap();
        assert_eq!(v["make"], serde_json::json!({"steps": 4, "seconds": 3}));
        v.as_object_mut().unwrap().remove("make");
        assert_eq!(Manifest::parse(v.to_string().as_bytes()).unwrap().make, None);
    }
}
