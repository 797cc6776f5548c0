//! Tests of the progress source: kbuild lines, the kept make.log of the last
//! build, following a growing make.log, the time left.

use super::*;
use std::io::Write;

#[test]
fn kbuild_lines_are_steps() {
    let p = "/var/lib/dkms/zfs/2.1.11/build/";
    assert_eq!(
        step("  CC [M]  /var/lib/dkms/zfs/2.1.11/build/module/zfs/dsl_scan.o", p).unwrap(),
        "CC [M] module/zfs/dsl_scan.o"
    );
    assert_eq!(step("  LD [M]  hello.ko", p).unwrap(), "LD [M] hello.ko");
    assert_eq!(step("  MODPOST /var/lib/dkms/zfs/2.1.11/build/Module.symvers", p).unwrap(), "MODPOST Module.symvers");
    assert_eq!(step("  CC      hello.mod.o", "").unwrap(), "CC hello.mod.o");
    assert_eq!(step("  BTF [M] hello.ko", "").unwrap(), "BTF [M] hello.ko");
    for not in [
        "make[1]: Entering directory '/usr/src/linux-headers-6.1.0-57-amd64'",
        "   CC [M]  three-spaces.o",
        "  Warning: something",
        "  | ^~~~",
        "  CC [M]  ",
        "  CC [M]  two words",
        "CC [M]  no-indent.o",
        "  VERYLONGTAG x.o",
        "",
    ] {
        assert_eq!(step(not, ""), None, "{not:?}");
    }
}

const KEPT: &str = "DKMS (dkms-3.4.3) make.log for hello/1.0 for kernel 6.1.0 (x86_64)
Sun Dec  6 22:00:00 UTC 2026

Running the pre_build script
# command: ./pre.sh
  CC [M]  not-counted.o

# exit code: 0
# elapsed time: 00:00:01
----------------------------------------------------------------

Building module(s)
# command: make -j2 KERNELRELEASE=6.1.0
make[1]: Entering directory '/usr/src/linux-headers-6.1.0'
  CC [M]  /var/lib/dkms/hello/1.0/build/a.o
  CC [M]  /var/lib/dkms/hello/1.0/build/b.o
  MODPOST /var/lib/dkms/hello/1.0/build/Module.symvers
  LD [M]  /var/lib/dkms/hello/1.0/build/hello.ko
make[1]: Leaving directory '/usr/src/linux-headers-6.1.0'

# exit code: 0
# elapsed time: 00:01:05
----------------------------------------------------------------
";

#[test]
fn kept_log_gives_steps_and_time_of_make() {
    let p = parse_previous(KEPT.as_bytes()).unwrap();
    assert_eq!(p, Previous { steps: 4, elapsed: Duration::from_secs(65) });
    // A failed make is no measure.
    let failed = KEPT.replace("# exit code: 0\n# elapsed time: 00:01:05", "# exit code: 2\n# elapsed time: 00:01:05");
    assert_eq!(parse_previous(failed.as_bytes()), None);
    assert_eq!(parse_previous("garbage\n".as_bytes()), None);
}

#[test]
fn previous_takes_a_kept_log_of_another_kernel_and_no_link() {
    let dir = tempfile::tempdir().unwrap();
    let trees = Trees { dkms_tree: dir.path().into(), ..Trees::default() };
    assert_eq!(previous(&trees, "hello", "1.0"), None);
    let log_dir = trees.arch_dir("hello", "1.0", "6.1.0", "x86_64").join("log");
    std::fs::create_dir_all(&log_dir).unwrap();
    std::fs::write(log_dir.join("make.log"), KEPT).unwrap();
    assert_eq!(previous(&trees, "hello", "1.0").unwrap().steps, 4);
    // A link in place of the log is not followed.
    let other = dir.path().join("elsewhere.log");
    std::fs::write(&other, KEPT).unwrap();
    std::fs::remove_file(log_dir.join("make.log")).unwrap();
    std::os::unix::fs::symlink(&other, log_dir.join("make.log")).unwrap();
    assert_eq!(previous(&trees, "hello", "1.0"), None);
}

#[test]
fn follower_counts_steps_as_they_are_appended() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("make.log");
    std::fs::write(&log, "header\n  CC [M]  before-start.o\n").unwrap();
    let mut f = Follower::open(&log, Path::new("/b")).unwrap();
    let mut w = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.poll();
    assert_eq!((f.done, f.step.as_str()), (0, ""));
    w.write_all(b"  CC [M]  /b/a.o\n  CC [M]  /b/b").unwrap();
    f.poll();
    assert_eq!((f.done, f.step.as_str()), (1, "CC [M] a.o"));
    w.write_all(b".o\nnoise\n  LD [M]  /b/hello.ko\n").unwrap();
    f.poll();
    assert_eq!((f.done, f.step.as_str()), (3, "LD [M] hello.ko"));
    // An endless line is skipped, not held.
    w.write_all(&vec![b'x'; LINE_LIMIT * 2]).unwrap();
    f.poll();
    assert!(f.partial.len() <= LINE_LIMIT);
    w.write_all(b"\n  MODPOST Module.symvers\n").unwrap();
    f.poll();
    assert_eq!(f.done, 4);
    // Not a link, not a fifo.
    std::os::unix::fs::symlink(&log, dir.path().join("link.log")).unwrap();
    assert!(Follower::open(&dir.path().join("link.log"), dir.path()).is_none());
}

#[test]
fn time_left_moves_from_the_last_build_to_this_builds_pace() {
    let prev = Previous { steps: 100, elapsed: Duration::from_secs(100) };
    assert_eq!(eta(Duration::ZERO, 0, &prev), Duration::from_secs(100));
    assert_eq!(eta(Duration::from_secs(30), 0, &prev), Duration::from_secs(70));
    // Half done in 50 s: both measures say 50 s.
    assert_eq!(eta(Duration::from_secs(50), 50, &prev).as_secs(), 50);
    // Twice as slow as last time: at 90% done its own pace dominates.
    let e = eta(Duration::from_secs(180), 90, &prev).as_secs();
    assert!((18..=20).contains(&e), "{e}");
    // Longer than last time, or past its count: nothing left to promise.
    assert_eq!(eta(Duration::from_secs(200), 100, &prev), Duration::ZERO);
    assert_eq!(eta(Duration::from_secs(200), 0, &prev), Duration::ZERO);
}

#[test]
fn snapshot_counts_and_durations() {
    assert_eq!(short(Duration::from_secs(12)), "12s");
    assert_eq!(short(Duration::from_secs(72)), "1m12s");
    assert_eq!(short(Duration::from_secs(3723)), "1h02m03s");
    let f = Follower {
        file: tempfile::tempfile().unwrap(),
        partial: Vec::new(),
        skipping: false,
        prefix: String::new(),
        done: 312,
        step: "CC [M] x.o".into(),
    };
    let prev = Previous { steps: 540, elapsed: Duration::from_secs(120) };
    let s = Snapshot::of(&f, Duration::from_secs(72), Some(&prev));
    assert_eq!(s.count(), "312/540 (57%)");
    assert!(s.eta.is_some());
    let s = Snapshot::of(&f, Duration::from_secs(72), None);
    assert_eq!((s.count(), s.total, s.eta), ("312 steps".to_string(), None, None));
}
