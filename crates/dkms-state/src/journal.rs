//! The transaction journal: before a build, install or uninstall changes
//! the trees, a small file `<dkms_tree>/.journal` says what it is doing and
//! each completed step is appended (and synced) as it happens. A process
//! killed half-way leaves the journal behind; the next dkms run reads it and
//! rolls the change back or forward before doing anything else.
//!
//! Mutations run under the exclusive lock, so one journal file suffices.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The journal of `dkms_tree`.
pub fn path(dkms_tree: &Path) -> PathBuf {
    dkms_tree.join(".journal")
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
        let path = path(dkms_tree);
        let tmp = crate::fsutil::temp_sibling(&path, "new");
        let mut f = File::create(&tmp)?;
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

    /// The transaction is complete.
    pub fn finish(self) -> io::Result<()> {
        fs::remove_file(&self.path)
    }
}

/// An unfinished transaction: its operation, target and recorded steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub op: String,
    pub target: Vec<String>,
    pub steps: Vec<Entry>,
}

/// Read an unfinished journal, if any.
pub fn pending(dkms_tree: &Path) -> Option<Pending> {
    let text = fs::read_to_string(path(dkms_tree)).ok()?;
    let mut lines = text.lines().map(decode);
    let header = lines.next()?;
    if header.key != "dkms-journal" {
        return None;
    }
    let opline = lines.next()?;
    Some(Pending { op: opline.key, target: opline.args, steps: lines.collect() })
}

/// Forget an unfinished journal after recovery.
pub fn clear(dkms_tree: &Path) -> io::Result<()> {
    match fs::remove_file(path(dkms_tree)) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
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
        let p = pending(d.path()).unwrap();
        assert_eq!(p.op, "install");
        assert_eq!(p.target, vec!["m", "1.0", "6.1", "x86_64"]);
        assert_eq!(p.steps[0], Entry { key: "placed".into(), args: vec!["/lib/modules/6.1/updates/dkms/m.ko".into()] });
        assert_eq!(p.steps[1].args, vec!["a\tb\nc\\".to_string()]);
        j.finish().unwrap();
        assert!(pending(d.path()).is_none());
    }
}
