//! Failure memory (akmods keeps failure logs; upstream dkms forgets): a
//! failed build of module/version/kernel/arch is recorded under
//! `<dkms_tree>/.failures/<module>/<version>/<kernel>/<arch>/` as a
//! `failure` file of `key=value` lines (kind, exit code, time, a hash of the
//! inputs) beside a copy of its make.log; a successful build of the same
//! target forgets it. `status --json` lists the records, `doctor` reports
//! them, `log` shows their make.log. Not in upstream dkms.

use crate::fsutil;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One remembered failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub module: String,
    pub version: String,
    pub kernel: String,
    pub arch: String,
    /// The error kind (`build-failed`, `wrong-kernel`, ...).
    pub kind: String,
    pub exit_code: u8,
    /// Seconds since the epoch.
    pub time: u64,
    /// `inputs_hash` of what was built.
    pub inputs_hash: String,
    /// The kept make.log, if there was one.
    pub log: Option<PathBuf>,
}

impl Failure {
    /// A failure of m/v on k/a happening now, with the error's kind and
    /// status (its make.log is kept by `record`).
    pub fn happened(x: (&str, &str, &str, &str), kind: &str, exit_code: u8, inputs_hash: String) -> Failure {
        let (m, v, k, a) = x;
        Failure {
            module: m.into(),
            version: v.into(),
            kernel: k.into(),
            arch: a.into(),
            kind: kind.into(),
            exit_code,
            time: now(),
            inputs_hash,
            log: None,
        }
    }
}

/// `<dkms_tree>/.failures`
pub fn root(dkms_tree: &Path) -> PathBuf {
    dkms_tree.join(".failures")
}

/// The directory of one target's record.
pub fn dir(dkms_tree: &Path, m: &str, v: &str, k: &str, a: &str) -> PathBuf {
    root(dkms_tree).join(m).join(v).join(k).join(a)
}

/// Remember a failure, with a copy of `log` (the build's make.log, opened
/// by the caller, which decides what it may read) when there is one.
pub fn record(dkms_tree: &Path, f: &Failure, log: Option<std::fs::File>) -> std::io::Result<()> {
    let d = dir(dkms_tree, &f.module, &f.version, &f.kernel, &f.arch);
    std::fs::create_dir_all(&d)?;
    let kept = d.join("make.log");
    match log {
        Some(mut l) => {
            fsutil::write_atomic_from(&kept, &mut l, Some(0o644))?;
        }
        None => {
            let _ = std::fs::remove_file(&kept);
        }
    }
    let text = format!("kind={}\nexit_code={}\ntime={}\ninputs_hash={}\n", f.kind, f.exit_code, f.time, f.inputs_hash);
    fsutil::write_atomic(&d.join("failure"), text.as_bytes())
}

/// Forget the failure of a target (after it built), and the directories
/// left empty above it.
pub fn clear(dkms_tree: &Path, m: &str, v: &str, k: &str, a: &str) {
    forget(dkms_tree, &dir(dkms_tree, m, v, k, a));
}

/// Forget every failure of m/v (the version is deleted from the tree: a
/// version added again later starts with no memory).
pub fn clear_version(dkms_tree: &Path, m: &str, v: &str) {
    forget(dkms_tree, &root(dkms_tree).join(m).join(v));
}

/// `remove_pruning` below `.failures` (nothing there: nothing done).
fn forget(dkms_tree: &Path, d: &Path) {
    let _ = crate::beneath::remove_pruning(dkms_tree, d, &root(dkms_tree));
}

/// Every remembered failure, sorted by target.
pub fn list(dkms_tree: &Path) -> Vec<Failure> {
    let mut out = Vec::new();
    let names = |p: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(p)
            .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    let top = root(dkms_tree);
    for m in names(&top) {
        for v in names(&top.join(&m)) {
            for k in names(&top.join(&m).join(&v)) {
                for a in names(&top.join(&m).join(&v).join(&k)) {
                    if let Some(f) = read(dkms_tree, &m, &v, &k, &a) {
                        out.push(f);
                    }
                }
            }
        }
    }
    out
}

/// The remembered failure of one target.
pub fn read(dkms_tree: &Path, m: &str, v: &str, k: &str, a: &str) -> Option<Failure> {
    let d = dir(dkms_tree, m, v, k, a);
    let text = std::fs::read_to_string(d.join("failure")).ok()?;
    let get = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('=')).unwrap_or_default();
    let log = d.join("make.log");
    Some(Failure {
        module: m.into(),
        version: v.into(),
        kernel: k.into(),
        arch: a.into(),
        kind: get("kind").into(),
        exit_code: get("exit_code").parse().unwrap_or(0),
        time: get("time").parse().unwrap_or(0),
        inputs_hash: get("inputs_hash").into(),
        log: log.is_file().then_some(log),
    })
}

/// A hash of what a build is made from: the kernel release, its config,
/// and every file of the source tree (path, size, modification time — not
/// the contents, which for large drivers would cost a build's worth of
/// reading). Equal hashes: the same build would fail the same way.
pub fn inputs_hash(source: &Path, kernel_config: &Path, kernel: &str) -> String {
    let mut h = Sha256::new();
    h.update(kernel.as_bytes());
    h.update([0]);
    h.update(std::fs::read(kernel_config).unwrap_or_default());
    let mut files = Vec::new();
    walk(source, Path::new(""), &mut files);
    files.sort();
    for f in files {
        h.update(f.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn walk(base: &Path, rel: &Path, out: &mut Vec<String>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(base.join(rel)) else { return };
    for e in rd.flatten() {
        let r = rel.join(e.file_name());
        let Ok(m) = std::fs::metadata(e.path()) else { continue };
        if m.is_dir() {
            walk(base, &r, out);
        } else {
            out.push(format!("{} {} {}.{}", r.display(), m.len(), m.mtime(), m.mtime_nsec()));
        }
    }
}

/// Now, in seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_lists_and_forgets() {
        let t = tempfile::tempdir().unwrap();
        let log = t.path().join("make.log");
        std::fs::write(&log, "cc: error\n").unwrap();
        let f = Failure {
            module: "m".into(),
            version: "1".into(),
            kernel: "6.1".into(),
            arch: "x86_64".into(),
            kind: "build-failed".into(),
            exit_code: 10,
            time: 5,
            inputs_hash: "abc".into(),
            log: None,
        };
        record(t.path(), &f, Some(std::fs::File::open(&log).unwrap())).unwrap();
        let got = list(t.path());
        assert_eq!(got.len(), 1);
        let kept = got[0].log.clone().unwrap();
        assert_eq!(std::fs::read_to_string(kept).unwrap(), "cc: error\n");
        assert_eq!(Failure { log: None, ..got[0].clone() }, f);
        clear(t.path(), "m", "1", "6.1", "x86_64");
        assert!(list(t.path()).is_empty());
        assert!(!root(t.path()).join("m").exists());
    }

    #[test]
    fn inputs_hash_follows_the_sources() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a.c"), "x").unwrap();
        let cfg = t.path().join("config");
        let h1 = inputs_hash(t.path(), &cfg, "6.1");
        assert_eq!(h1, inputs_hash(t.path(), &cfg, "6.1"));
        assert_ne!(h1, inputs_hash(t.path(), &cfg, "6.2"));
        std::fs::write(t.path().join("b.c"), "y").unwrap();
        assert_ne!(h1, inputs_hash(t.path(), &cfg, "6.1"));
    }
}
