//! The transaction journal: before a build, install or uninstall changes
//! the trees, a small file in `<dkms_tree>/.journal.d/` says what it is
//! doing and each completed step is appended (and synced) as it happens. A
//! process killed half-way leaves its journals behind; the next dkms run
//! reads them and rolls each change back or forward before doing anything
//! else.
//!
//! One file per transaction: a parallel autoinstall has several builds (and
//! an install) in flight at once, all under the one exclusive lock of its
//! process. A `<dkms_tree>/.journal` left by an older version is read too.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The directory of the journals of `dkms_tree`.
pub fn dir(dkms_tree: &Path) -> PathBuf {
    dkms_tree.join(".journal.d")
}

/// The single journal file of earlier versions.
fn legacy_path(dkms_tree: &Path) -> PathBuf {
    dkms_tree.join(".journal")
}

/// A name no other transaction of this or another process uses.
fn unique_path(dkms_tree: &Path, op: &str) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir(dkms_tree).join(format!("{op}-{}-{seq}.journal", std::process::id()))
}

/// One step, as written to the journal: a keyword and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub args: Vec<String>,
}

/// An open journal; removed by `finish`, left behind if the process dies.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

fn encode(key: &str, args: &[&str]) -> String {
    // Arguments are paths and names; tabs and newlines cannot appear in the
    // ones dkms writes, and are escaped anyway so a line is one step.
    let esc = |s: &str| s.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n");
    let mut line = esc(key);
    for a in args {
        line.push('\t');
        line.push_str(&esc(a));
    }
    line.push('\n');
    line
}

fn decode(line: &str) -> Entry {
    let unesc = |s: &str| {
        let mut out = String::new();
        let mut it = s.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.next() {
                    Some('t') => out.push('\t'),
                    Some('n') => out.push('\n'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    let mut parts = line.split('\t').map(unesc);
    Entry { key: parts.next().unwrap_or_default(), args: parts.collect() }
}

impl Journal {
    /// Start a transaction: `op` and its target, written and synced before
    /// anything else happens.
    pub fn begin(dkms_tree: &Path, op: &str, target: &[&str]) -> io::Result<Journal> {
        let path = unique_path(dkms_tree, op);
        // The directory goes away with the last journal (so a tree at rest
        // looks like upstream's): another transaction finishing may remove
        // it between our mkdir and create.
        let mut tries = 0;
        let (tmp, mut f) = loop {
            fs::create_dir_all(dir(dkms_tree))?;
            match crate::fsutil::create_temp_sibling(&path, "new") {
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 5 => tries += 1,
                r => break r?,
            }
        };
        f.write_all(encode("dkms-journal", &["1"]).as_bytes())?;
        f.write_all(encode(op, target).as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        let file = OpenOptions::new().append(true).open(&path)?;
        Ok(Journal { path, file })
    }

    /// Record a completed (or about to be attempted) step.
    pub fn record(&mut self, key: &str, args: &[&str]) -> io::Result<()> {
        self.file.write_all(encode(key, args).as_bytes())?;
        self.file.sync_data()
    }

    /// The steps recorded so far.
    pub fn steps(&self) -> Vec<Entry> {
        read(&self.path).map(|p| p.steps).unwrap_or_default()
    }

    /// The transaction is complete.
    pub fn finish(self) -> io::Result<()> {
        fs::remove_file(&self.path)?;
        remove_dir_if_empty(&self.path);
        Ok(())
    }
}

/// An unfinished transaction: its operation, target and recorded steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub path: PathBuf,
    pub op: String,
    pub target: Vec<String>,
    pub steps: Vec<Entry>,
}

fn read(path: &Path) -> Option<Pending> {
    let text = fs::read_to_string(path).ok()?;
    let mut lines = text.lines().map(decode);
    let header = lines.next();
    let opline = lines.next();
    // A file that is not a journal (or was cut before its target line)
    // still shows up, as an unknown operation, so recovery removes it.
    let (op, target) = match (header, opline) {
        (Some(h), Some(o)) if h.key == "dkms-journal" => (o.key, o.args),
        _ => (String::new(), Vec::new()),
    };
    Some(Pending { path: path.to_path_buf(), op, target, steps: lines.collect() })
}

/// The journal files in `.journal.d` (in-flight temporaries of `begin` are
/// not journals yet and are left alone).
fn journal_files(dkms_tree: &Path) -> impl Iterator<Item = fs::DirEntry> {
    fs::read_dir(dir(dkms_tree))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".journal"))
}

/// The unfinished journals of `dkms_tree`, oldest first.
pub fn pending(dkms_tree: &Path) -> Vec<Pending> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = journal_files(dkms_tree)
        .map(|e| (e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), e.path()))
        .collect();
    found.sort();
    let legacy = legacy_path(dkms_tree);
    let mut out: Vec<Pending> = legacy.is_file().then(|| read(&legacy)).flatten().into_iter().collect();
    out.extend(found.into_iter().filter_map(|(_, p)| read(&p)));
    out
}

/// Is any transaction unfinished (or a journal of a dead process left
/// half-written)?
pub fn any_pending(dkms_tree: &Path) -> bool {
    legacy_path(dkms_tree).is_file()
        || journal_files(dkms_tree).next().is_some()
        || !stale_temporaries(dkms_tree).is_empty()
}

/// Temporaries of `begin` (`.<op>-<pid>-<seq>.journal.new.<pid>`) whose
/// process is gone: killed before its journal got its name. A live
/// process's are in flight and left alone.
pub fn stale_temporaries(dkms_tree: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir(dkms_tree))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match name.rsplit_once(".journal.new.") {
                Some((_, pid)) => !pid.parse::<u32>().is_ok_and(crate::fsutil::process_alive),
                None => false,
            }
        })
        .map(|e| e.path())
        .collect()
}

/// Forget an unfinished journal after recovery.
pub fn clear(p: &Pending) -> io::Result<()> {
    match fs::remove_file(&p.path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }?;
    remove_dir_if_empty(&p.path);
    Ok(())
}

/// Remove `.journal.d` once its last journal is gone (rmdir fails while
/// anything is in it).
fn remove_dir_if_empty(journal: &Path) {
    if let Some(d) = journal.parent().filter(|d| d.ends_with(".journal.d")) {
        let _ = fs::remove_dir(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = tempfile::tempdir().unwrap();
        let mut j = Journal::begin(d.path(), "install", &["m", "1.0", "6.1", "x86_64"]).unwrap();
        j.record("placed", &["/lib/modules/6.1/updates/dkms/m.ko"]).unwrap();
        j.record("odd", &["a\tb\nc\\"]).unwrap();
        assert_eq!(j.steps().len(), 2);
        let mut other = Journal::begin(d.path(), "build", &["n", "2", "6.1", "x86_64"]).unwrap();
        other.record("step", &[]).unwrap();
        let all = pending(d.path());
        assert_eq!(all.len(), 2);
        let p = all.iter().find(|p| p.op == "install").unwrap();
        assert_eq!(p.op, "install");
        assert_eq!(p.target, vec!["m", "1.0", "6.1", "x86_64"]);
        assert_eq!(p.steps[0], Entry { key: "placed".into(), args: vec!["/lib/modules/6.1/updates/dkms/m.ko".into()] });
        assert_eq!(p.steps[1].args, vec!["a\tb\nc\\".to_string()]);
        j.finish().unwrap();
        assert_eq!(pending(d.path()).len(), 1);
        other.finish().unwrap();
        assert!(pending(d.path()).is_empty());
        assert!(!any_pending(d.path()));
    }
}
