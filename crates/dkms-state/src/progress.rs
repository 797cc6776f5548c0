//! Progress of a running module build (not in upstream dkms, whose
//! `invoke_command` only prints a dot every 3 s): the steps kbuild writes to
//! make.log (`CC [M]`, `LD [M]`, `MODPOST`, ...) as make writes them, how
//! many there were in the last successful build of the same module/version
//! (its kept `<kernel>/<arch>/log/make.log`, else what a binary cache
//! entry's manifest records: `cache::entry::MakeStats`) and how long that
//! build's make took, and from those the share done and the time left. No printing here:
//! the caller shows what `Snapshot` says.

use crate::trees::Trees;
use rustix::fs::{Mode, OFlags};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::Duration;

/// The description `invoke_command` logs before make's output (upstream's
/// "Building module(s)"), which opens the section the steps are counted in.
pub const MAKE_SECTION: &str = "Building module(s)";

/// A kept make.log is read up to this size (a build's log is a few MiB at
/// most; anything larger is not trusted to be one).
const PREVIOUS_LOG_LIMIT: u64 = 64 << 20;
/// At most this much of the growing make.log is read per poll.
const POLL_LIMIT: u64 = 1 << 20;
/// A line longer than this is no kbuild step; the rest of it is skipped.
const LINE_LIMIT: usize = 64 << 10;

/// The step a kbuild line announces (`  CC [M]  /b/foo.o` is `CC [M] foo.o`
/// with `prefix` = `/b/`), or None for any other line. kbuild's quiet
/// commands print two spaces, an upper-case tag padded to 7 columns (with
/// ` [M]` for module objects) and the target.
pub fn step(line: &str, prefix: &str) -> Option<String> {
    let rest = line.strip_prefix("  ")?;
    let tag_len = rest.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-'))?;
    let (tag, after) = rest.split_at(tag_len);
    if tag.is_empty() || tag.len() > 8 || !tag.starts_with(|c: char| c.is_ascii_uppercase()) {
        return None;
    }
    let (marker, after) = match after.strip_prefix(" [M]") {
        Some(a) => (" [M]", a),
        None => ("", after),
    };
    if !after.starts_with(' ') {
        return None;
    }
    let target = after.trim();
    if target.is_empty() || target.contains(char::is_whitespace) {
        return None;
    }
    let target = target.strip_prefix(prefix).filter(|t| !t.is_empty()).unwrap_or(target);
    Some(format!("{tag}{marker} {target}"))
}

/// What the last successful build of a module/version took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Previous {
    /// kbuild steps in its make section.
    pub steps: u64,
    /// How long its make ran.
    pub elapsed: Duration,
}

/// The make section of a make.log as `invoke_command` writes it: the
/// description line, `# command: ...`, make's output, `# exit code: N`,
/// `# elapsed time: HH:MM:SS`. The last successful section, if any.
pub fn parse_previous(log: impl BufRead) -> Option<Previous> {
    let mut found = None;
    let (mut steps, mut in_make, mut ok) = (0u64, false, false);
    let mut last = String::new();
    for line in bounded_lines(log) {
        if line.starts_with("# command: ") {
            in_make = last == MAKE_SECTION;
            (steps, ok) = (0, false);
        } else if let Some(code) = line.strip_prefix("# exit code: ") {
            ok = in_make && code.trim() == "0";
        } else if let Some(t) = line.strip_prefix("# elapsed time: ") {
            if ok {
                found = hms(t).map(|elapsed| Previous { steps, elapsed });
            }
            (in_make, ok) = (false, false);
        } else if in_make && step(&line, "").is_some() {
            steps += 1;
        }
        last = line;
    }
    found
}

/// Lines of `r`, each cut at `LINE_LIMIT` bytes (lossy UTF-8).
fn bounded_lines(mut r: impl BufRead) -> impl Iterator<Item = String> {
    std::iter::from_fn(move || {
        let mut buf = Vec::new();
        let n = (&mut r).take(LINE_LIMIT as u64).read_until(b'\n', &mut buf).ok()?;
        if n == 0 {
            return None;
        }
        if !buf.ends_with(b"\n") && buf.len() >= LINE_LIMIT {
            // Skip the rest of an over-long line.
            let mut sink = Vec::new();
            let _ = r.read_until(b'\n', &mut sink);
        }
        Some(String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string())
    })
}

/// `HH:MM:SS` as `invoke_command` logs it.
fn hms(t: &str) -> Option<Duration> {
    let mut secs = 0u64;
    let parts: Vec<&str> = t.trim().split(':').collect();
    if parts.len() != 3 {
        return None;
    }
    for p in parts {
        secs = secs * 60 + p.parse::<u64>().ok()?;
    }
    Some(Duration::from_secs(secs))
}

/// Open a file dkms did not write alone (make appends to it, a build may
/// have replaced it): without following a link, and only a regular file.
pub fn open_untrusted(path: &Path) -> Option<File> {
    let fd =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK, Mode::empty())
            .ok()?;
    let f = File::from(fd);
    f.metadata().ok().filter(|m| m.is_file())?;
    Some(f)
}

/// The last successful build of `m`/`v` for any kernel: the newest kept
/// `<kernel>/<arch>/log/make.log` whose make section succeeded.
pub fn previous(trees: &Trees, m: &str, v: &str) -> Option<Previous> {
    let mut logs: Vec<(std::time::SystemTime, std::path::PathBuf)> = Vec::new();
    for k in std::fs::read_dir(trees.version_dir(m, v)).ok()?.flatten() {
        let Ok(arches) = std::fs::read_dir(k.path()) else { continue };
        for a in arches.flatten() {
            let log = a.path().join("log/make.log");
            if let Ok(md) = std::fs::symlink_metadata(&log) {
                logs.push((md.modified().unwrap_or(std::time::UNIX_EPOCH), log));
            }
        }
    }
    logs.sort();
    logs.iter().rev().find_map(|(_, log)| previous_in(log))
}

/// The last successful make section of the make.log `log`.
pub fn previous_in(log: &Path) -> Option<Previous> {
    let f = open_untrusted(log)?;
    parse_previous(BufReader::new(f.take(PREVIOUS_LOG_LIMIT)))
}

/// Follows a make.log as make appends to it: the steps seen so far.
#[derive(Debug)]
pub struct Follower {
    file: File,
    partial: Vec<u8>,
    skipping: bool,
    prefix: String,
    /// Steps seen.
    pub done: u64,
    /// The last step seen ("" before the first).
    pub step: String,
}

impl Follower {
    /// Follow `log` from its current end; `build_dir` is stripped from the
    /// targets shown.
    pub fn open(log: &Path, build_dir: &Path) -> Option<Follower> {
        let mut file = open_untrusted(log)?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).ok()?;
        let prefix = format!("{}/", build_dir.display());
        Some(Follower { file, partial: Vec::new(), skipping: false, prefix, done: 0, step: String::new() })
    }

    /// Read what was appended since the last poll (at most `POLL_LIMIT`).
    pub fn poll(&mut self) {
        let mut buf = Vec::new();
        if (&mut self.file).take(POLL_LIMIT).read_to_end(&mut buf).is_err() {
            return;
        }
        self.feed(&buf);
    }

    fn feed(&mut self, bytes: &[u8]) {
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            let complete = piece.ends_with(b"\n");
            if !self.skipping {
                self.partial.extend_from_slice(piece);
            }
            if self.partial.len() > LINE_LIMIT {
                self.partial.clear();
                self.skipping = true;
            }
            if complete {
                let line = String::from_utf8_lossy(&self.partial).trim_end_matches(['\n', '\r']).to_string();
                if let Some(s) = step(&line, &self.prefix) {
                    self.done += 1;
                    self.step = s;
                }
                self.partial.clear();
                self.skipping = false;
            }
        }
    }
}

/// The time left: what the last build took beyond the time spent so far,
/// leaning more on this build's own pace as more of its steps are done.
pub fn eta(elapsed: Duration, done: u64, prev: &Previous) -> Duration {
    let (e, p) = (elapsed.as_secs_f64(), prev.elapsed.as_secs_f64());
    if prev.steps == 0 || done >= prev.steps {
        return Duration::ZERO;
    }
    let share = done as f64 / prev.steps as f64;
    let by_last = (p - e).max(0.0);
    let by_pace = if done == 0 { by_last } else { e * (prev.steps - done) as f64 / done as f64 };
    Duration::from_secs_f64((1.0 - share) * by_last + share * by_pace)
}

/// A duration as the status shows it: `12s`, `1m12s`, `1h02m03s`.
pub fn short(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m{sec:02}s"),
        (h, min, sec) => format!("{h}h{min:02}m{sec:02}s"),
    }
}

/// One look at a running build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub elapsed: Duration,
    pub step: String,
    pub done: u64,
    /// Steps of the last successful build, if known.
    pub total: Option<u64>,
    /// Time left, if the total is known.
    pub eta: Option<Duration>,
}

impl Snapshot {
    /// The follower's state after `elapsed`, against the last build.
    pub fn of(f: &Follower, elapsed: Duration, prev: Option<&Previous>) -> Snapshot {
        let prev = prev.filter(|p| p.steps > 0);
        Snapshot {
            elapsed,
            step: f.step.clone(),
            done: f.done,
            total: prev.map(|p| p.steps),
            eta: prev.map(|p| eta(elapsed, f.done, p)),
        }
    }

    /// `312/540 (58%)`, or `312 steps` when the total is unknown.
    pub fn count(&self) -> String {
        match self.total {
            Some(t) => format!("{}/{t} ({}%)", self.done, (self.done * 100 / t.max(1)).min(100)),
            None => format!("{} steps", self.done),
        }
    }
}

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;
