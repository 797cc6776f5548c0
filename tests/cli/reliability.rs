//! Safety under concurrency and crashes: many dkms processes at once on one
//! tree, and a kill -9 at every crash point of add, build, install,
//! uninstall and remove, each followed by checks that the tree reads
//! cleanly, the next command completes or undoes the work, no module file
//! is orphaned in the module tree and no archived original is ever lost.

use crate::fake::{Tree, KVER};
use crate::skip::skip_part;
use crate::support::{arch, is_root};
use std::path::Path;

/// Files anywhere below `dir` whose name matches `pred`.
fn files_matching(dir: &Path, pred: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if pred(&name) {
                out.push(e.path().display().to_string());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    out
}

/// The tree reads without error (after whatever recovery the read did),
/// nothing transient is left, and every installed module file belongs to an
/// active build.
fn check_consistent(t: &Tree, context: &str) {
    let (code, out, err) = t.run(&["status"], "");
    assert_eq!(code, 0, "{context}: status failed: {err}");
    let unexpected: Vec<&str> = err.lines().filter(|l| !l.starts_with("dkms: recovered from an interrupted")).collect();
    assert!(unexpected.is_empty(), "{context}: status printed errors: {err}\n{out}");
    assert!(!out.contains("broken"), "{context}: {out}");
    let transient = files_matching(&t.path("dkms"), &|n| {
        n.ends_with(".journal") || n.contains(".journal.new.") || n.starts_with(".tmp_")
    });
    assert!(transient.is_empty(), "{context}: left behind {transient:?}");
    let stray = files_matching(&t.path("modules"), &|n| n.contains(".dkms-new.") || n.ends_with(".dkms-displaced"));
    assert!(stray.is_empty(), "{context}: stray files {stray:?}");
    let installed_dir = t.path(&format!("modules/{KVER}/extra"));
    for f in files_matching(&installed_dir, &|n| n.ends_with(".ko")) {
        let name = Path::new(&f).file_stem().unwrap().to_string_lossy().into_owned();
        let link = t.path(&format!("dkms/{name}/kernel-{KVER}-{}", arch()));
        assert!(
            link.join("module").join(format!("{name}.ko")).is_file(),
            "{context}: {f} is installed but no active build of {name} owns it"
        );
    }
}

/// The original module planted before install is in place or archived
/// (with its .origin), never lost.
#[cfg(feature = "crash-points")]
fn check_original(t: &Tree, context: &str) {
    let orig = t.path(&format!("modules/{KVER}/kernel/drivers/mod_a.ko"));
    let archived = t.path(&format!("dkms/mod_a/original_module/{KVER}/{}/mod_a.ko", arch()));
    let in_place = std::fs::read_to_string(&orig).is_ok_and(|s| s == "original\n");
    let kept = std::fs::read_to_string(&archived).is_ok_and(|s| s == "original\n")
        && archived.with_extension("ko.origin").is_file();
    assert!(in_place ^ kept, "{context}: original in place: {in_place}, archived: {kept}");
}

#[cfg(feature = "crash-points")]
mod crash;

/// A `<kver>/<arch>` without `module/` (what an older dkms killed during
/// unbuild left) is no build: `remove --all`, `remove -k`, `unbuild` and
/// `build` clean it instead of refusing forever (upstream: "already been
/// built", exit 3, and `remove --all` removes nothing).
#[test]
fn leftover_kernel_dir_is_cleaned() {
    for op in [
        &["remove", "mod_a/1.0", "--all"][..],
        &["remove", "mod_a/1.0", "-k", KVER],
        &["unbuild", "mod_a/1.0", "-k", KVER],
        &[],
    ] {
        let t = Tree::new();
        t.add_source("mod_a", "1.0");
        let (code, _, err) = t.run(&["add", "mod_a/1.0"], "");
        assert_eq!(code, 0, "{err}");
        let leftover = t.path(&format!("dkms/mod_a/1.0/{KVER}/{}", arch()));
        std::fs::create_dir_all(leftover.join("log")).unwrap();
        if !op.is_empty() {
            let (code, _, err) = t.run(op, "");
            assert_eq!(code, 0, "{op:?}: {err}");
            assert!(!leftover.exists(), "{op:?} left {}", leftover.display());
            let (code, _, err) = t.run(&["add", "mod_a/1.0"], "");
            assert!(code == 0 || err.contains("already contains"), "{err}");
        }
        let (code, _, err) = t.run(&["build", "mod_a/1.0", "-k", KVER], "");
        assert_eq!(code, 0, "build after {op:?}: {err}");
        assert!(leftover.join("module/mod_a.ko").is_file());
    }
}

/// 200 kills (SIGKILL or SIGTERM, at a random moment) of each of `unbuild`
/// and `remove -k` on an installed module; after each, `status` reads
/// cleanly and the next `install` (with `add` when the removal went through)
/// succeeds. Heavy (about 1,200 dkms runs): `cargo test -- --ignored
/// random_kills`; DKMS_RANDOM_KILLS overrides the count.
#[test]
#[ignore = "heavy: run on demand"]
fn random_kills_of_unbuild_and_remove() {
    use std::time::{Duration, Instant};
    crate::skip::skip_unless!(is_root(), "needs root (install and uninstall)");
    let runs: u64 = std::env::var("DKMS_RANDOM_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for op in [&["unbuild", "mod_a/1.0", "-k", KVER][..], &["remove", "mod_a/1.0", "-k", KVER]] {
        // How long the operation takes uninterrupted bounds the kill delay.
        let t = installed_tree();
        let start = Instant::now();
        assert_eq!(t.run(op, "").0, 0);
        let span = start.elapsed().as_micros() as u64 + 1;
        let (mut interrupted, mut ok) = (0, 0);
        for i in 0..runs {
            let t = installed_tree();
            let mut child =
                t.cmd(op).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
            std::thread::sleep(Duration::from_micros(next() % span));
            let sig = if i % 2 == 0 { nix::sys::signal::SIGKILL } else { nix::sys::signal::SIGTERM };
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig);
            let st = child.wait().unwrap();
            // Died of the signal, or (SIGTERM, handled) exited 128 + it.
            if std::os::unix::process::ExitStatusExt::signal(&st).is_some() || st.code() == Some(128 + sig as i32) {
                interrupted += 1;
            }
            let ctx = format!("{op:?} run {i} ({sig:?})");
            // A child forked at the moment of the kill holds the lock's
            // descriptor until its exec closes it: let it pass first.
            let free = std::process::Command::new("flock").arg(t.path("dkms/.lock")).arg("true").status().unwrap();
            assert!(free.success());
            check_consistent(&t, &ctx);
            let (code, _, err) = t.run(&["add", "mod_a/1.0"], "");
            assert!(code == 0 || err.contains("already contains"), "{ctx}: add afterwards ({code}): {err}");
            let (code, _, err) = t.run(&["install", "mod_a/1.0", "-k", KVER], "");
            assert_eq!(code, 0, "{ctx}: install afterwards: {err}");
            check_consistent(&t, &format!("{ctx}, after the next install"));
            ok += 1;
        }
        eprintln!(
            "random kills of {op:?}: {runs} runs, {interrupted} interrupted by the signal, next install succeeded {ok}/{runs}"
        );
    }
}

fn installed_tree() -> Tree {
    let t = Tree::new();
    t.add_source("mod_a", "1.0");
    let (code, _, err) = t.run(&["install", "mod_a/1.0", "-k", KVER], "");
    assert_eq!(code, 0, "{err}");
    t
}

#[test]
fn eight_processes_at_once() {
    let t = Tree::new();
    let modules = ["mod_a", "mod_b", "mod_c", "mod_d"];
    for m in modules {
        t.add_source(m, "1.0");
    }
    let root = is_root();
    if !root {
        skip_part("install and uninstall in the concurrent rounds", "needs root (install and uninstall refuse others)");
    }
    let rounds = 6;
    let ops = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for p in 0..8 {
            let (t, ops) = (&t, &ops);
            s.spawn(move || {
                // Processes 0-3 share mod_a; the others work on their own modules.
                let m = if p < 4 { "mod_a" } else { modules[p - 4] };
                let mv = format!("{m}/1.0");
                for _ in 0..rounds {
                    let mut seq: Vec<Vec<&str>> =
                        vec![vec!["add", &mv], vec!["build", &mv, "-k", KVER], vec!["status"]];
                    if root {
                        seq.push(vec!["install", &mv, "-k", KVER]);
                        seq.push(vec!["uninstall", &mv, "-k", KVER]);
                        seq.push(vec!["install", &mv, "-k", KVER]);
                    }
                    seq.push(vec!["remove", &mv, "--all"]);
                    for args in seq {
                        let (code, _, err) = t.run(&args, "");
                        ops.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        // Races between processes are legitimate refusals
                        // (already added, not added); never crashes or
                        // corrupt state.
                        assert!([0, 3].contains(&code), "process {p}: {args:?} exited {code}: {err}");
                        assert!(!err.contains("internal error") && !err.contains("broken"), "{args:?}: {err}");
                    }
                }
            });
        }
    });
    let n = ops.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("concurrency: 8 processes, {n} operations");
    check_consistent(&t, "after the concurrent runs");
    // Every module ends removed (each process's last step removes it) or,
    // for the shared one, in a valid state that status reads.
    let (_, out, _) = t.run(&["status"], "");
    for line in out.lines() {
        assert!(line.ends_with(": added") || line.contains(": built") || line.contains(": installed"), "{line}");
    }
}

/// A FIFO in a source directory is copied as a FIFO by `add` (upstream's
/// `cp -fprT` does so too), not opened: opening it would block forever
/// under the exclusive lock, and every other dkms with it.
#[test]
fn add_copies_a_fifo_without_hanging() {
    crate::skip::skip_unless!(is_root(), "needs root (adding a source directory, as upstream)");
    use std::os::unix::fs::FileTypeExt;
    let t = Tree::new();
    let pkg = t.path("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        pkg.join("dkms.conf"),
        "PACKAGE_NAME=fifo\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=fifo\nDEST_MODULE_LOCATION[0]=/extra\n",
    )
    .unwrap();
    std::fs::write(pkg.join("Makefile"), "obj-m := fifo.o\n").unwrap();
    nix::unistd::mkfifo(&pkg.join("pipe"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let mut child = t.cmd(&["add", &pkg.display().to_string()]).stdin(std::process::Stdio::null()).spawn().unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("dkms add hangs on a FIFO in the source directory");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success());
    let copied = std::fs::symlink_metadata(t.path("src/fifo-1.0/pipe")).unwrap();
    assert!(copied.file_type().is_fifo());
    assert_eq!(t.run(&["status"], "").1, "fifo/1.0: added\n");
}

/// Running out of space while unpacking a tarball is an I/O error (exit 1,
/// with its cause), not "does not appear to be a correctly formed DKMS
/// archive" (exit 3, which says the input is bad).
#[test]
fn disk_full_while_unpacking_is_an_io_error() {
    crate::skip::skip_unless!(is_root(), "needs root (mounts a small tmpfs)");
    let t = Tree::new();
    let pkg = t.path("pkg/full-1.0");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(
        pkg.join("dkms.conf"),
        "PACKAGE_NAME=full\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=full\nDEST_MODULE_LOCATION[0]=/extra\n",
    )
    .unwrap();
    std::fs::write(pkg.join("big.bin"), vec![0u8; 4 << 20]).unwrap();
    let tarball = t.path("full.tar.gz");
    let ok = std::process::Command::new("tar")
        .arg("czf")
        .arg(&tarball)
        .arg("-C")
        .arg(t.path("pkg"))
        .arg("full-1.0")
        .status()
        .unwrap();
    assert!(ok.success());
    let small = t.path("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(mounted.success());
    let out = t.cmd(&["ldtarball", &tarball.display().to_string()]).env("TMPDIR", &small).output().unwrap();
    let _ = std::process::Command::new("umount").arg(&small).status();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("correctly formed"), "{err}");
}

/// The "waiting for the lock" message names who holds it now (a reader
/// writes nothing into `.lock`, whose content may name a process long
/// gone), and a `lock_timeout` in framework.conf that is no number is
/// refused like the flag, not taken as "wait forever".
#[test]
fn lock_holders_named_and_lock_timeout_checked() {
    let t = Tree::new();
    let lock = t.path("dkms/.lock");
    std::fs::write(&lock, "999999\n/usr/sbin/dkms long gone\n").unwrap();
    let mut reader = std::process::Command::new("flock").arg("-s").arg(&lock).args(["sleep", "30"]).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (code, _, err) = t.run(&["add", "--lock-timeout=1", "mod_a/1.0"], "");
    let _ = reader.kill();
    let _ = reader.wait();
    assert_eq!(code, 75, "{err}");
    assert!(err.contains(&format!("held by PID {}: flock -s", reader.id())), "{err}");
    assert!(err.contains("(a reader)"), "{err}");
    assert!(!err.contains("999999"), "{err}");

    let conf = t.path("etc/dkms/framework.conf");
    let mut fw = std::fs::read_to_string(&conf).unwrap();
    fw.push_str("lock_timeout=abc\n");
    std::fs::write(&conf, fw).unwrap();
    let (code, _, err) = t.run(&["status"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("lock_timeout in framework.conf needs a number of seconds, not 'abc'"), "{err}");
}

/// What a killed dkms leaves outside its journals is swept by the next run
/// (even a `status`): partial source copies of `add`, half-written
/// journals, the conf evaluator's directories in `$TMPDIR`; those of live
/// processes are left alone. The evaluator names its directory after its
/// process, so that this can tell.
#[test]
fn leftovers_of_killed_processes_are_swept() {
    let t = Tree::new();
    t.add_source("mod_a", "1.0");
    let tmp = t.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let (dead, live) = (gone.id(), std::process::id());
    let mk = |p: std::path::PathBuf| {
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("partial"), "x").unwrap();
        p
    };
    let dead_copy = mk(t.path(&format!("src/.mod_a-1.0.copy.{dead}")));
    let live_copy = mk(t.path(&format!("src/.mod_b-1.0.copy.{live}")));
    let dead_eval = mk(tmp.join(format!("dkms-source.{dead}.AbC123")));
    let live_eval = mk(tmp.join(format!("dkms-source.{live}.AbC123")));
    let journals = t.path("dkms/.journal.d");
    std::fs::create_dir_all(&journals).unwrap();
    let dead_journal = journals.join(format!(".add-{dead}-0.journal.new.{dead}"));
    std::fs::write(&dead_journal, "dkms-journal\t1\n").unwrap();
    let out = t.cmd(&["status"]).env("TMPDIR", &tmp).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for p in [&dead_copy, &dead_eval, &dead_journal] {
        assert!(!p.exists(), "{} left behind", p.display());
    }
    for p in [&live_copy, &live_eval] {
        assert!(p.exists(), "{} of a live process removed", p.display());
    }
    // The evaluator's directory carries its PID (a conf bash evaluates,
    // listing $TMPDIR while it runs).
    let listing = t.path("listing");
    let conf = t.path("src/mod_a-1.0/dkms.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(&format!("X=$(ls \"$TMPDIR\" > {})\n", listing.display()));
    std::fs::write(&conf, text).unwrap();
    let out = t.cmd(&["add", "mod_a/1.0"]).env("TMPDIR", &tmp).output().unwrap();
    let listed = std::fs::read_to_string(&listing).unwrap_or_default();
    let own: Vec<&str> =
        listed.lines().filter(|l| l.starts_with("dkms-source.") && !l.contains(&live.to_string())).collect();
    assert_eq!(own.len(), 1, "{listed}\n{}", String::from_utf8_lossy(&out.stderr));
    let pid = own[0].strip_prefix("dkms-source.").unwrap().split('.').next().unwrap();
    assert!(pid.parse::<u32>().is_ok(), "{listed}");
}

/// A PACKAGE_NAME or PACKAGE_VERSION with `/` or `..` (or such a `-m`/`-v`)
/// is refused before anything is written: upstream copies the source to
/// `<source_tree>/../outside/pn-1.0` and adds it there.
#[test]
fn unsafe_module_names_are_refused() {
    crate::skip::skip_unless!(is_root(), "needs root (adding a source directory, as upstream)");
    for (name, version) in [("../outside/pn", "1.0"), ("pn", "../../outside/1.0"), ("a/b", "1.0")] {
        let t = Tree::new();
        let pkg = t.path("pkg");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(
            pkg.join("dkms.conf"),
            format!("PACKAGE_NAME='{name}'\nPACKAGE_VERSION='{version}'\nBUILT_MODULE_NAME[0]=pn\nDEST_MODULE_LOCATION[0]=/extra\n"),
        )
        .unwrap();
        let (code, _, err) = t.run(&["add", &pkg.display().to_string()], "");
        assert_eq!(code, 8, "{name} {version}: {err}");
        assert!(err.contains("cannot be used: it contains '/'"), "{err}");
        assert!(!t.path("outside").exists() && !t.path("src/outside").exists(), "{name} {version}: written outside");
        assert_eq!(std::fs::read_dir(t.path("src")).unwrap().count(), 1, "only dkms_hello-1.0 in the source tree");
        assert_eq!(
            std::fs::read_dir(t.path("dkms"))
                .unwrap()
                .filter(|e| !e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
                .count(),
            0
        );
        if name == "a/b" {
            // `-m a/b` is module a, version b (upstream's grammar).
            continue;
        }
        let (code, _, err) = t.run(&["add", "-m", name, "-v", version], "");
        assert_eq!(code, 8, "-m {name} -v {version}: {err}");
        let (code, _, err) = t.run(&["remove", "-m", name, "-v", version, "--all"], "");
        assert_eq!(code, 8, "remove -m {name} -v {version}: {err}");
    }
}

/// framework.conf's `build_timeout` (not upstream; unset means no limit):
/// a hung make is stopped with its whole process group, the build fails
/// with exit 124 naming the log; a value that is no number is refused.
#[test]
fn build_timeout_stops_a_hung_make() {
    use std::os::unix::fs::PermissionsExt;
    let t = Tree::new();
    t.add_source("mod_a", "1.0");
    let pidfile = t.path("sleeper.pid");
    let make = t.path("bin/make");
    std::fs::write(&make, format!("#!/bin/sh\nsleep 600 &\necho $! > {}\nwait\n", pidfile.display())).unwrap();
    std::fs::set_permissions(&make, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = t.path("etc/dkms/framework.conf");
    let base = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{base}build_timeout=2\n")).unwrap();
    assert_eq!(t.run(&["add", "mod_a/1.0"], "").0, 0);
    let start = std::time::Instant::now();
    let (code, out, err) = t.run(&["build", "mod_a/1.0", "-k", KVER], "");
    assert!(start.elapsed() < std::time::Duration::from_secs(30), "took {:?}", start.elapsed());
    assert_eq!(code, 124, "{out}{err}");
    let log = t.path("dkms/mod_a/1.0/build/make.log");
    assert!(err.contains(&format!("Consult {} for more information.", log.display())), "{err}");
    assert!(std::fs::read_to_string(&log).unwrap().contains("# exit code: timed out"));
    let sleeper = std::fs::read_to_string(&pidfile).unwrap();
    let stat = stopped_soon(sleeper.trim());
    assert!(stat.is_empty(), "make's child {sleeper} still runs: {stat}");
    std::fs::write(&conf, format!("{base}build_timeout=soon\n")).unwrap();
    let (code, _, err) = t.run(&["build", "mod_a/1.0", "-k", KVER], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("build_timeout in framework.conf needs a positive number of seconds"), "{err}");
}

/// Wait (at most 3 s: a signalled process on a loaded machine may not have
/// run yet) for process `pid` to be gone or a zombie (waiting for an init
/// that may not reap here); "" then, else its /proc stat line.
fn stopped_soon(pid: &str) -> String {
    let start = std::time::Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next().unwrap_or('?'));
        if stat.is_empty() || state == Some('Z') {
            return String::new();
        }
        if start.elapsed() > std::time::Duration::from_secs(3) {
            return stat;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// SIGTERM, SIGINT or SIGHUP to a dkms running make: make and whatever it
/// started are stopped before dkms exits with 128 + the signal, so the
/// next dkms never races a build of a dead one; that next build succeeds.
#[test]
fn signals_stop_the_build_children() {
    use std::os::unix::fs::PermissionsExt;
    for sig in [nix::sys::signal::SIGTERM, nix::sys::signal::SIGINT, nix::sys::signal::SIGHUP] {
        let t = Tree::new();
        t.add_source("mod_a", "1.0");
        let pidfile = t.path("sleeper.pid");
        let make = t.path("bin/make");
        let working = std::fs::read_to_string(&make).unwrap();
        std::fs::write(&make, format!("#!/bin/sh\nsleep 600 &\necho $! > {}\nwait\n", pidfile.display())).unwrap();
        std::fs::set_permissions(&make, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(t.run(&["add", "mod_a/1.0"], "").0, 0);
        let mut child = t
            .cmd(&["build", "mod_a/1.0", "-k", KVER])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while std::fs::read_to_string(&pidfile).map_or(true, |s| !s.ends_with('\n')) {
            assert!(start.elapsed() < std::time::Duration::from_secs(30), "make never started");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let signalled = std::time::Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
        let st = child.wait().unwrap();
        // make took the SIGTERM itself (children start with no signal
        // blocked), rather than waiting out the grace period for SIGKILL.
        assert!(signalled.elapsed() < std::time::Duration::from_secs(4), "{sig:?}: {:?}", signalled.elapsed());
        assert_eq!(st.code(), Some(128 + sig as i32), "{sig:?}: {st:?}");
        let sleeper = std::fs::read_to_string(&pidfile).unwrap();
        let stat = stopped_soon(sleeper.trim());
        assert!(stat.is_empty(), "{sig:?}: make's child still runs: {stat}");
        std::fs::write(&make, working).unwrap();
        let (code, _, err) = t.run(&["build", "mod_a/1.0", "-k", KVER], "");
        assert_eq!(code, 0, "{sig:?}: the next build: {err}");
        check_consistent(&t, &format!("after {sig:?}"));
    }
}
