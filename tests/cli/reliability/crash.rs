//! kill -9 at every crash point of every transaction, and what the next run makes of it.

use super::*;
use crate::skip::skip_unless;

#[derive(Clone, Copy, Debug)]
enum Start {
    Sources,
    Added,
    Built,
    Installed,
    /// mod_a, mod_b and mod_c added: a parallel autoinstall has
    /// several builds, and their journals, in flight at once.
    ThreeAdded,
}

fn prepare(start: Start) -> Tree {
    let t = Tree::new();
    t.add_source("mod_a", "1.0");
    let orig = t.path(&format!("modules/{KVER}/kernel/drivers"));
    std::fs::create_dir_all(&orig).unwrap();
    std::fs::write(orig.join("mod_a.ko"), "original\n").unwrap();
    let steps: &[&[&str]] = match start {
        Start::Sources => &[],
        Start::Added => &[&["add", "mod_a/1.0"]],
        Start::Built => &[&["add", "mod_a/1.0"], &["build", "mod_a/1.0", "-k", KVER]],
        Start::Installed => &[&["install", "mod_a/1.0", "-k", KVER]],
        Start::ThreeAdded => &[&["add", "mod_a/1.0"], &["add", "mod_b/1.0"], &["add", "mod_c/1.0"]],
    };
    if let Start::ThreeAdded = start {
        t.add_source("mod_b", "1.0");
        t.add_source("mod_c", "1.0");
    }
    for s in steps {
        let (code, _, err) = t.run(s, "");
        assert_eq!(code, 0, "{s:?}: {err}");
    }
    t
}

/// Kill `op` at each of its crash points in turn; returns how many.
fn kill_everywhere(start: Start, op: &[&str]) -> usize {
    let mut n = 1;
    loop {
        let t = prepare(start);
        let trace = t.path("trace");
        let out = t.cmd(op).env("DKMS_CRASH_AT", n.to_string()).env("DKMS_CRASH_TRACE", &trace).output().unwrap();
        let killed = std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(9);
        let point = std::fs::read_to_string(&trace).unwrap_or_default().lines().last().unwrap_or("").to_string();
        if !killed {
            assert!(out.status.success(), "{op:?} without a crash: {}", String::from_utf8_lossy(&out.stderr));
            return n - 1;
        }
        let ctx = format!("{op:?} killed at {point}");
        check_consistent(&t, &ctx);
        if !matches!(start, Start::Sources) {
            check_original(&t, &ctx);
        }
        // The next command finishes the job.
        let (code, _, err) = t.run(op, "");
        // An add killed after its last step is complete: the rerun is
        // refused as a second add of the same module/version.
        let done_add = op[0] == "add" && code == 3 && err.contains("already contains");
        // A removal killed once it deleted the last kernel is completed
        // by recovery: the rerun finds nothing to remove.
        let done_remove = op[0] == "remove" && code == 3 && err.contains("is not located in the DKMS tree");
        assert!(code == 0 || done_add || done_remove, "{ctx}: rerun failed ({code}): {err}");
        check_consistent(&t, &format!("{ctx}, after the rerun"));
        if !matches!(start, Start::Sources) {
            check_original(&t, &format!("{ctx}, after the rerun"));
        }
        if ["unbuild", "remove"].contains(&op[0]) {
            build_again(&t, &ctx);
        }
        n += 1;
    }
}

/// After an unbuild or removal (killed, then rerun) the module builds
/// and installs again.
fn build_again(t: &Tree, ctx: &str) {
    let (code, _, err) = t.run(&["add", "mod_a/1.0"], "");
    assert!(code == 0 || err.contains("already contains"), "{ctx}: add afterwards ({code}): {err}");
    let (code, _, err) = t.run(&["install", "mod_a/1.0", "-k", KVER], "");
    assert_eq!(code, 0, "{ctx}: install afterwards: {err}");
    check_consistent(t, &format!("{ctx}, after the next install"));
}

#[test]
fn kill_9_at_every_step() {
    skip_unless!(is_root(), "needs root (the crash tests install and uninstall)");
    let cases: [(Start, &[&str]); 10] = [
        (Start::Sources, &["add", "mod_a/1.0"]),
        (Start::Added, &["build", "mod_a/1.0", "-k", KVER]),
        (Start::Built, &["install", "mod_a/1.0", "-k", KVER]),
        (Start::Added, &["install", "mod_a/1.0", "-k", KVER]),
        (Start::Installed, &["uninstall", "mod_a/1.0", "-k", KVER]),
        (Start::Installed, &["remove", "mod_a/1.0", "--all"]),
        (Start::Built, &["unbuild", "mod_a/1.0", "-k", KVER]),
        (Start::Installed, &["unbuild", "mod_a/1.0", "-k", KVER]),
        (Start::Installed, &["remove", "mod_a/1.0", "-k", KVER]),
        (Start::ThreeAdded, &["autoinstall", "-k", KVER, "-j", "3"]),
    ];
    let mut total = 0;
    for (start, op) in cases {
        let n = kill_everywhere(start, op);
        assert!(n >= 2, "{op:?}: only {n} crash points");
        eprintln!("kill -9 points for {op:?} from {start:?}: {n}");
        total += n;
    }
    eprintln!("kill -9 points in all: {total}");
    assert!(total >= 30, "only {total} kill points");
}
