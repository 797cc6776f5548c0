//! Tests that cannot run here say so instead of passing silently: `skip`,
//! `skip_part` and `skip_unless!` write `SKIPPED <test>: <reason>` straight
//! to stderr (past libtest's capture) and append it to the skip ledger,
//! which `make test` empties first and sums up last. Under `CI=true` (CI
//! runs as root with every tool and ../shared present) a skip panics
//! instead: nothing may be skipped there. Shared by the `cli` tests and,
//! through `#[path]`, by dkms-state's integration tests.

// Each test crate uses its own subset of these helpers.
#![allow(dead_code, unused_macros, unused_imports)]

use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;

/// The skip ledger: `$DKMS_TEST_SKIPS` (the Makefile sets it), else
/// `<target>/tmp/test-skips.txt`, one place for every test crate.
pub fn ledger() -> PathBuf {
    match std::env::var_os("DKMS_TEST_SKIPS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-skips.txt"),
    }
}

/// `CI=true`: everything a test needs is there, so a skip is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The running test's name (libtest names each test's thread after it).
fn test_name() -> String {
    std::thread::current().name().unwrap_or("<unnamed test>").to_string()
}

/// The whole of the running test did not run because of `reason`; the
/// caller returns right after.
pub fn skip(reason: &str) {
    note(&format!("SKIPPED {}: {reason}", test_name()), reason);
}

/// Part of the running test (`what`) did not run because of `reason`; the
/// rest of it did. Reported once per test however often it is called.
pub fn skip_part(what: &str, reason: &str) {
    let line = format!("SKIPPED PART {}: {reason} [{what}]", test_name());
    if NOTED.with(|n| n.borrow_mut().insert(line.clone())) {
        note(&line, reason);
    }
}

thread_local! {
    /// The parts this thread (the running test) has reported.
    static NOTED: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

fn note(line: &str, reason: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
    let path = ledger();
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    // One write of one line with O_APPEND: lines of parallel tests and
    // test binaries never mix.
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = written {
        let _ = writeln!(std::io::stderr(), "WARNING: cannot append to the skip ledger {}: {e}", path.display());
    }
    if in_ci() {
        panic!("would be skipped in CI: {reason}");
    }
}

/// `skip_unless!(condition, "reason")`: unless the condition holds, report
/// the running test as skipped (a failure under `CI=true`) and return.
macro_rules! skip_unless {
    ($cond:expr, $reason:expr) => {
        if !$cond {
            crate::skip::skip($reason);
            return;
        }
    };
}
pub(crate) use skip_unless;
