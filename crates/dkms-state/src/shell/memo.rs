//! A cache of dkms.conf evaluations (what `read_conf` gets back from
//! `safe_source`) in the dkms tree, `<dkms_tree>/.cache/conf/<slot>`, so
//! that `dkms status` on a big tree need not start bash at all.
//!
//! An entry is used only when it is proven fresh: it records a SHA-256 over
//! everything the evaluation can see — the exact bash script run for the
//! request (context variables such as `kernelver`, `arch`,
//! `kernel_source_dir`, `kernel_config`, the whitelist, the file chain with
//! the `/etc/dkms/<module>*.conf` overrides that exist), the contents of every
//! file sourced, the whole environment bash gets, the working directory, the
//! user and group ids, the host name and the bash binary — and that digest
//! must match the one computed now. Files whose text could make the result
//! depend on anything else (command substitution, redirections, file tests,
//! globs, external commands, time or randomness) are never cached; a
//! conservative check of the text decides (`lex::static_only`). Evaluations that
//! wrote anything on stderr are not cached either. Entries are written
//! atomically (temporary file and rename) and only where the tree is
//! writable: a read-only tree simply gets no cache.

use super::request::{Request, Sourced};
use super::{bash, lex, wire};
use sha2::{Digest, Sha256};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Bumped whenever the entry format or the meaning of an entry changes.
const FORMAT: &str = "dkms-conf-cache 1";

/// The directory of the cache in a dkms tree.
pub fn dir(dkms_tree: &Path) -> PathBuf {
    dkms_tree.join(".cache").join("conf")
}

/// Where the entry for one read lives: one slot per conf file and
/// module/version/kernel/arch, so changed inputs replace the old entry
/// instead of piling up beside it.
pub(crate) fn slot(dir: &Path, file: &Path, parts: &[&str]) -> PathBuf {
    let mut h = Sha256::new();
    h.update(b"slot\0");
    h.update(file.as_os_str().as_bytes());
    for p in parts {
        h.update(b"\0");
        h.update(p.as_bytes());
    }
    dir.join(hex(&h.finalize()[..16]))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn update_len(h: &mut Sha256, b: &[u8]) {
    h.update((b.len() as u64).to_le_bytes());
    h.update(b);
}

/// What every evaluation in this process sees besides its request: the
/// environment bash gets, cwd, ids, host name, the bash binary. None when
/// bash would read a start-up file (`BASH_ENV`/`ENV`) or bash is missing.
fn process_digest() -> Option<[u8; 32]> {
    static DIGEST: OnceLock<Option<[u8; 32]>> = OnceLock::new();
    *DIGEST.get_or_init(|| {
        // Not what bash gets: the variables tools::command removes, and `_`
        // (the invoking shell's last command; bash resets `$_` after every
        // command, so the conf never sees the inherited value).
        let mut vars: Vec<(std::ffi::OsString, std::ffi::OsString)> = crate::env::vars_os()
            .filter(|(k, _)| k != "_" && !crate::env::UNSET_FOR_BUILD.iter().any(|u| k.as_bytes() == u.as_bytes()))
            .collect();
        if vars.iter().any(|(k, v)| (k == "BASH_ENV" || k == "ENV") && !v.is_empty()) {
            return None;
        }
        vars.sort();
        let mut h = Sha256::new();
        h.update(FORMAT.as_bytes());
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        update_len(&mut h, bash::prelude().as_bytes());
        h.update((vars.len() as u64).to_le_bytes());
        for (k, v) in &vars {
            update_len(&mut h, k.as_bytes());
            update_len(&mut h, v.as_bytes());
        }
        let cwd = std::env::current_dir().ok()?;
        update_len(&mut h, cwd.as_os_str().as_bytes());
        let ids = [
            nix::unistd::getuid().as_raw(),
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getgid().as_raw(),
            nix::unistd::getegid().as_raw(),
        ];
        for id in ids {
            h.update(id.to_le_bytes());
        }
        let groups = nix::unistd::getgroups().unwrap_or_default();
        for g in groups {
            h.update(g.as_raw().to_le_bytes());
        }
        // bash's $HOSTNAME (gethostname is the uname node name).
        let host = nix::sys::utsname::uname().map(|u| u.nodename().to_os_string()).unwrap_or_default();
        update_len(&mut h, host.as_bytes());
        let bash = which::which("bash").ok()?;
        let m = std::fs::metadata(&bash).ok()?;
        update_len(&mut h, bash.as_os_str().as_bytes());
        for n in [m.dev(), m.ino(), m.size(), m.mtime() as u64, m.mtime_nsec() as u64, m.ctime() as u64] {
            h.update(n.to_le_bytes());
        }
        Some(h.finalize().into())
    })
}

/// The digest of everything one evaluation can see, or None when it must
/// not be cached (an input is unreadable, or a file's text may depend on
/// more than its inputs).
pub(crate) fn key(req: &Request) -> Option<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(process_digest()?);
    update_len(&mut h, bash::script_for_key(req).as_bytes());
    for f in &req.files {
        let text = std::fs::read(f).ok()?;
        if !lex::static_only(std::str::from_utf8(&text).ok()?) {
            return None;
        }
        update_len(&mut h, f.as_os_str().as_bytes());
        update_len(&mut h, &text);
    }
    Some(h.finalize().into())
}

/// The cached result in `slot` if it was made under `key`.
pub(crate) fn lookup(slot: &Path, key: &[u8; 32]) -> Option<Sourced> {
    let data = std::fs::read(slot).ok()?;
    let header = format!("{FORMAT}\0{}\0", hex(key));
    let body = data.strip_prefix(header.as_bytes())?.strip_suffix(b"E\0")?;
    let mut all = wire::decode(body);
    (all.len() == 1).then(|| all.remove(0))
}

/// Remember `s` in `slot` under `key`; failures (read-only tree, ...) are
/// ignored.
pub(crate) fn store(slot: &Path, key: &[u8; 32], s: &Sourced) {
    if !s.stderr.is_empty() {
        return;
    }
    let Some(dir) = slot.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let mut data = format!("{FORMAT}\0{}\0", hex(key)).into_bytes();
    data.extend(wire::encode(s));
    data.extend(b"E\0");
    let _ = crate::fsutil::write_atomic(slot, &data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_only_under_their_key() {
        let tmp = tempfile::tempdir().unwrap();
        let slot = slot(&dir(tmp.path()), Path::new("/x/dkms.conf"), &["m", "v", "k", "a"]);
        let mut s = Sourced::default();
        s.vars.entry("PACKAGE_NAME".into()).or_default().insert(0, "p q".into());
        s.vars.entry("MAKE".into()).or_default().insert(3, "".into());
        s.after_file.push((PathBuf::from("/x/dkms.conf"), vec!["CLEAN".into()]));
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        assert!(lookup(&slot, &k1).is_none());
        store(&slot, &k1, &s);
        assert_eq!(lookup(&slot, &k1), Some(s.clone()));
        assert!(lookup(&slot, &k2).is_none());
        // A truncated entry is never used.
        let data = std::fs::read(&slot).unwrap();
        std::fs::write(&slot, &data[..data.len() - 1]).unwrap();
        assert!(lookup(&slot, &k1).is_none());
        // Nothing is stored for an evaluation that wrote on stderr.
        s.stderr = b"oops".to_vec();
        store(&slot, &k2, &s);
        assert!(lookup(&slot, &k2).is_none());
    }
}
