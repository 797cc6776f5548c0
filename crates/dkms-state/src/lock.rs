//! The state lock, `<dkms_tree>/.lock`, and the only place that calls fs2:
//! read-only verbs take it shared, mutating verbs exclusive. A busy lock is
//! reported once (who holds it) and waited for, optionally with a timeout.
//! Children we spawn (dkms.conf scripts calling `dkms status`, say) inherit
//! `DKMS_LOCK_HELD` and run under our lock instead of deadlocking on it.

use crate::error::{Error, Kind, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Environment variable telling child dkms processes that an ancestor holds the lock.
pub const HELD_VAR: &str = "DKMS_LOCK_HELD";

/// Lock modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
    /// Shared, but only where the lock file exists: a `--dry-run` creates
    /// nothing (a tree without one has never been written by dkms under a
    /// lock, so there is no writer to wait for).
    Peek,
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Drop for Lock {
    #[allow(clippy::disallowed_methods)] // the lock funnel itself
    fn drop(&mut self) {
        let _ = fs2::FileExt::unlock(&self.file);
    }
}

/// One non-blocking attempt at the lock (`clippy.toml` allows flock calls
/// nowhere else).
#[allow(clippy::disallowed_methods)] // the lock funnel itself
fn try_lock(f: &File, mode: Mode) -> std::io::Result<()> {
    match mode {
        Mode::Shared | Mode::Peek => fs2::FileExt::try_lock_shared(f),
        Mode::Exclusive => fs2::FileExt::try_lock_exclusive(f),
    }
}

/// Who holds the lock now: every holder the kernel lists in `/proc/locks`
/// (a `status` holds it shared and writes nothing into the file, whose
/// content may name an exclusive holder long gone), each with its command
/// line; the file's content only when the kernel lists none.
fn holders(file: &File) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = file.metadata() else { return "another process".into() };
    let (major, minor) = (nix::sys::stat::major(meta.dev()), nix::sys::stat::minor(meta.dev()));
    let listed = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let mut who: Vec<String> = Vec::new();
    for line in listed.lines().filter(|l| !l.contains("->")) {
        // `1: FLOCK  ADVISORY  WRITE 1234 fe:00:5915049 0 EOF`
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(&"FLOCK"), Some(&mode), Some(pid), Some(id)) = (f.get(1), f.get(3), f.get(4), f.get(5)) else {
            continue;
        };
        if lock_id(id) != Some((major, minor, meta.ino())) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmdline).split('\0').filter(|a| !a.is_empty()).collect::<Vec<_>>().join(" ");
        let reader = if mode == "READ" { " (a reader)" } else { "" };
        who.push(if cmd.is_empty() { format!("PID {pid}{reader}") } else { format!("PID {pid}: {cmd}{reader}") });
    }
    if !who.is_empty() {
        return who.join("; ");
    }
    let mut text = String::new();
    let _ = { file }.read_to_string(&mut text);
    let text = text.trim().replace('\n', ": ");
    if text.is_empty() {
        "another process".into()
    } else {
        format!("PID {text}")
    }
}

/// `MAJOR:MINOR:INODE` of a `/proc/locks` line (hex, hex, decimal).
fn lock_id(id: &str) -> Option<(u64, u64, u64)> {
    let mut p = id.split(':');
    let major = u64::from_str_radix(p.next()?, 16).ok()?;
    let minor = u64::from_str_radix(p.next()?, 16).ok()?;
    Some((major, minor, p.next()?.parse().ok()?))
}

/// Acquire the lock on `dkms_tree`. Returns `Ok(None)` when locking is not
/// possible (no tree yet, read-only tree for a reader, a filesystem without
/// flock, or an ancestor dkms holds it); `notify` is told when it waits.
pub fn acquire(
    dkms_tree: &Path,
    mode: Mode,
    holder: &str,
    timeout: Option<Duration>,
    mut notify: impl FnMut(&str),
) -> Result<Option<Lock>> {
    if crate::env::var(HELD_VAR).is_some() || !dkms_tree.is_dir() {
        return Ok(None);
    }
    let path = dkms_tree.join(".lock");
    let open = match mode {
        Mode::Peek => File::open(&path),
        _ => OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path),
    };
    let file = match open {
        Ok(f) => f,
        Err(_) if mode == Mode::Shared => match File::open(&path) {
            Ok(f) => f,
            Err(_) => return Ok(None),
        },
        Err(_) => return Ok(None),
    };
    let start = Instant::now();
    let mut told = false;
    loop {
        match try_lock(&file, mode) {
            Ok(()) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if !told {
                    notify(&format!("Waiting for the DKMS lock {} held by {}", path.display(), holders(&file)));
                    told = true;
                }
                if let Some(t) = timeout {
                    if start.elapsed() >= t {
                        return Err(Error::die(
                            Kind::LockTimeout,
                            [format!("Timed out after {}s waiting for the DKMS lock {}.", t.as_secs(), path.display())],
                        )
                        .with_hint("Another dkms is still running; wait for it or raise --lock-timeout."));
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => {
                notify(&format!("Warning: cannot lock {} ({e}); continuing without a lock.", path.display()));
                return Ok(None);
            }
        }
    }
    if mode == Mode::Exclusive {
        let mut f = &file;
        let _ = f.set_len(0);
        let _ = f.rewind();
        let _ = write!(f, "{}\n{}\n", std::process::id(), holder);
    }
    Ok(Some(Lock { file }))
}
