//! Module files and logs dkms did not write, made hostile in a fake tree:
//! a FIFO or a link to `/dev/zero` in place of a module (status, status
//! --verify, doctor and ltdk answer at once instead of waiting forever
//! under the lock), a decompression bomb (bounded memory), an ELF whose
//! section sizes are absurd (no abort), a non-module installed as its own
//! built copy (`corrupted`), and `dkms log` of a huge or linked make.log
//! (streamed; a link is not followed). Every run is under `timeout -s
//! KILL`, so a hang fails the test instead of stalling the suite.

use crate::json::Validator;
use crate::skip::skip_unless;
use crate::support::{arch, have, ours, Impl, Output, Sandbox, KVER};
use crate::support::{fifo, zero_link};
use std::fs;
use std::path::{Path, PathBuf};

/// Seconds a run may take before it counts as hung.
const HUNG: &str = "60";

/// Exit status of a run `timeout -s KILL` killed: timeout kills its own
/// process group too, so the run dies of the signal (no exit status, -1
/// here), or 137 when timeout reports it.
fn hung(o: &Output) -> bool {
    o.code == 137 || o.code == -1
}

/// Run our dkms with the tree options under `timeout` (and, `rss`, under
/// `/usr/bin/time`, its peak RSS in KiB as the last line of stderr).
fn run(sb: &mut Sandbox, args: &[&str], rss: bool) -> Output {
    let dkms = ours().display().to_string();
    let mut argv: Vec<&str> = Vec::new();
    if rss {
        argv.extend(["-f", "MAXRSS %M", "timeout"]);
    }
    argv.extend(["-s", "KILL", HUNG, &dkms]);
    argv.extend(args);
    let prog = if rss { "/usr/bin/time" } else { "timeout" };
    sb.run_with(Impl::Ours, Some(Path::new(prog)), &argv, true)
}

fn max_rss_kib(o: &Output) -> u64 {
    let line = o.stderr.lines().rev().find_map(|l| l.strip_prefix("MAXRSS ")).expect("time's line");
    line.trim().parse().expect("a number")
}

/// hello/1.0 added, built and installed (fake module files).
fn installed() -> Sandbox {
    let sb = Sandbox::new();
    sb.installed("hello", "1.0");
    sb
}

fn built(sb: &Sandbox, name: &str) -> PathBuf {
    sb.dkms.join(format!("hello/1.0/{KVER}/{}/module/{name}", arch()))
}

fn inst(sb: &Sandbox, name: &str) -> PathBuf {
    sb.inst.join(format!("{KVER}/updates/dkms/{name}"))
}

/// status, status --verify (text and JSON), doctor and ltdk all finish;
/// the JSON of each ends with its result record.
fn all_finish(sb: &mut Sandbox, what: &str) {
    let v = Validator::new();
    for args in [&["status"][..], &["status", "--verify"], &["doctor"], &["ltdk", "hello/1.0", "-k", KVER]] {
        let o = run(sb, args, false);
        assert!(!hung(&o), "{what}: {args:?} hung\n{}", o.combined);
        let mut json = args.to_vec();
        json.push("--json");
        let o = run(sb, &json, false);
        assert!(!hung(&o), "{what}: {json:?} hung\n{}", o.combined);
        v.check(&o.stdout, o.code);
    }
    let o = run(sb, &["status"], false);
    assert!(o.stdout.contains(&format!("hello/1.0, {KVER}, {}: installed", arch())), "{what}: {}", o.combined);
}

#[test]
fn a_fifo_or_dev_zero_in_place_of_a_module_hangs_nothing() {
    skip_unless!(have("timeout"), "needs timeout(1)");
    let mut sb = installed();
    // ltdk reads the kernel's export list first.
    sb.write(&sb.inst.join(format!("{KVER}/build/Module.symvers")), "");
    fifo(&inst(&sb, "hello.ko"));
    all_finish(&mut sb, "installed copy a FIFO");
    fifo(&built(&sb, "hello.ko"));
    all_finish(&mut sb, "both FIFOs");
    zero_link(&inst(&sb, "hello.ko"));
    zero_link(&built(&sb, "hello.ko"));
    all_finish(&mut sb, "both links to /dev/zero");
    let o = run(&mut sb, &["status", "--verify"], false);
    assert_eq!(o.code, 18, "{}", o.combined);
    assert!(o.stdout.contains("\tcorrupted: "), "{}", o.stdout);
}

/// A minimal relocatable ELF64 with one `.modinfo` section holding
/// `strings`; `size`: every section header's `sh_size`, else the real ones.
fn elf(strings: &[&str], size: Option<u64>) -> Vec<u8> {
    let modinfo: Vec<u8> = strings.iter().flat_map(|s| s.bytes().chain([0])).collect();
    let names = b"\0.modinfo\0.shstrtab\0";
    let (mi_at, names_at) = (64u64, 64 + modinfo.len() as u64);
    let shoff = (names_at + names.len() as u64).next_multiple_of(8);
    let mut b = vec![0u8; 64];
    b[..7].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1]);
    b[16..18].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
    b[18..20].copy_from_slice(&62u16.to_le_bytes()); // x86-64
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[40..48].copy_from_slice(&shoff.to_le_bytes());
    b[52..54].copy_from_slice(&64u16.to_le_bytes());
    b[58..60].copy_from_slice(&64u16.to_le_bytes());
    b[60..62].copy_from_slice(&3u16.to_le_bytes());
    b[62..64].copy_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&modinfo);
    b.extend_from_slice(names);
    b.resize(shoff as usize, 0);
    b.extend_from_slice(&[0u8; 64]);
    for (name, kind, off, len) in [(1u32, 1u32, mi_at, modinfo.len()), (10, 3, names_at, names.len())] {
        let mut sh = [0u8; 64];
        sh[..4].copy_from_slice(&name.to_le_bytes());
        sh[4..8].copy_from_slice(&kind.to_le_bytes());
        sh[24..32].copy_from_slice(&off.to_le_bytes());
        sh[32..40].copy_from_slice(&size.unwrap_or(len as u64).to_le_bytes());
        sh[48..56].copy_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&sh);
    }
    if size.is_some() {
        // The null section's size too, as the crafted file has it.
        let at = shoff as usize + 32;
        b[at..at + 8].copy_from_slice(&size.unwrap_or(0).to_le_bytes());
    }
    b
}

fn put(sb: &Sandbox, name: &str, bytes: &[u8]) {
    fs::write(built(sb, name), bytes).expect("write");
    fs::write(inst(sb, name), bytes).expect("write");
}

#[test]
fn absurd_section_sizes_abort_nothing() {
    skip_unless!(have("timeout"), "needs timeout(1)");
    let mut sb = installed();
    let vermagic = format!("vermagic={KVER} SMP mod_unload ");
    let strings = ["version=1.0", "srcversion=0123456789ABCDEF", &vermagic];
    // The control: the same file with its true sizes verifies.
    put(&sb, "hello.ko", &elf(&strings, None));
    let o = run(&mut sb, &["status", "--verify"], false);
    assert_eq!(o.code, 0, "{}", o.combined);
    put(&sb, "hello.ko", &elf(&strings, Some(0x7fff_ffff_ffff)));
    let v = Validator::new();
    for args in [&["status"][..], &["status", "--verify"], &["doctor"]] {
        let o = run(&mut sb, args, false);
        assert!(!hung(&o) && o.code != 134, "{args:?}: {}", o.combined);
        assert!(!o.stderr.contains("memory allocation"), "{args:?}: {}", o.stderr);
        let mut json = args.to_vec();
        json.push("--json");
        let o = run(&mut sb, &json, false);
        v.check(&o.stdout, o.code);
    }
    let o = run(&mut sb, &["status", "--verify"], false);
    assert_eq!(o.code, 18, "{}", o.combined);
    assert!(o.stdout.contains("\tcorrupted: ") && o.stdout.contains("no readable module"), "{}", o.stdout);
}

#[test]
fn the_same_non_module_built_and_installed_is_corrupted() {
    let mut sb = installed();
    // As installed() made it: text in both places, byte-identical.
    let o = run(&mut sb, &["status", "--verify"], false);
    assert_eq!(o.code, 18, "{}", o.combined);
    let line = "hello.ko cannot be read as a kernel module (no readable module)";
    assert!(o.stdout.contains("\tcorrupted: <ROOT>/inst/") && o.stdout.contains(line), "{}", o.stdout);
    // A truncated ELF, the same in both places.
    let vermagic = format!("vermagic={KVER} ");
    put(&sb, "hello.ko", &elf(&["version=1.0", &vermagic], None)[..40]);
    let o = run(&mut sb, &["status", "--verify"], false);
    assert_eq!(o.code, 18, "{}", o.combined);
    assert!(o.stdout.contains("no readable module"), "{}", o.stdout);
}

/// A zstd stream of `gib` GiB of zeros (about 100 KiB per GiB).
fn zstd_bomb(path: &Path, gib: usize) {
    use std::io::Write;
    let mut enc = zstd::Encoder::new(fs::File::create(path).expect("create"), 1).expect("zstd");
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(gib << 10) {
        enc.write_all(&zeros).expect("write");
    }
    enc.finish().expect("finish");
}

#[test]
fn a_decompression_bomb_stays_in_bounded_memory() {
    skip_unless!(Path::new("/usr/bin/time").is_file(), "needs GNU time (/usr/bin/time) to measure memory");
    let mut sb = installed();
    // The kernel's modules are zstd-compressed, so are dkms's.
    sb.write(&sb.inst.join(format!("{KVER}/kernel/drivers/dummy.ko.zst")), "");
    sb.write(&sb.inst.join(format!("{KVER}/build/Module.symvers")), "");
    for p in [built(&sb, "hello.ko"), inst(&sb, "hello.ko")] {
        fs::remove_file(p).expect("rm");
    }
    let bomb = built(&sb, "hello.ko.zst");
    zstd_bomb(&bomb, 1);
    fs::copy(&bomb, inst(&sb, "hello.ko.zst")).expect("copy");
    for args in [&["status"][..], &["status", "--verify"], &["doctor"], &["ltdk", "hello/1.0", "-k", KVER]] {
        let o = run(&mut sb, args, true);
        assert!(!hung(&o), "{args:?} hung");
        let kib = max_rss_kib(&o);
        // 1 GiB of zeros read whole needs > 1 GiB; the reader keeps a few MiB.
        assert!(kib < 100 << 10, "{args:?}: peak RSS {kib} KiB\n{}", o.combined);
        eprintln!("{args:?}: peak RSS {kib} KiB, exit {}", o.code);
    }
    let o = run(&mut sb, &["status", "--verify"], false);
    assert_eq!(o.code, 18, "{}", o.combined);
    assert!(o.stdout.contains("\tcorrupted: "), "{}", o.stdout);
}

#[test]
fn dkms_log_streams_and_follows_no_link() {
    skip_unless!(Path::new("/usr/bin/time").is_file(), "needs GNU time (/usr/bin/time) to measure memory");
    let mut sb = installed();
    let log = sb.dkms.join(format!("hello/1.0/{KVER}/{}/log/make.log", arch()));
    // 1 GiB, sparse: cheap to make, 1 GiB to read.
    fs::File::create(&log).expect("create").set_len(1 << 30).expect("grow");
    let dkms = ours().display().to_string();
    let args = ["-f", "MAXRSS %M", "sh", "-c", "exec \"$0\" \"$@\" >/dev/null", &dkms, "log", "hello/1.0", "-k", KVER];
    let o = sb.run_with(Impl::Ours, Some(Path::new("/usr/bin/time")), &args, true);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let kib = max_rss_kib(&o);
    assert!(kib < 100 << 10, "peak RSS {kib} KiB");

    // A build replaced its log by a link to a secret: not printed.
    let secret = sb.root.join("secret");
    fs::write(&secret, "TOP SECRET\n").expect("write");
    fs::remove_file(&log).expect("rm");
    std::os::unix::fs::symlink(&secret, &log).expect("symlink");
    let o = run(&mut sb, &["log", "hello/1.0", "-k", KVER], false);
    assert_ne!(o.code, 0, "{}", o.combined);
    assert!(!o.combined.contains("TOP SECRET"), "{}", o.combined);
    assert!(o.stderr.contains("symbolic link"), "{}", o.stderr);
    // A FIFO is no log at all, and is not waited on.
    fs::remove_file(&log).expect("rm");
    fifo(&log);
    let o = run(&mut sb, &["log", "hello/1.0", "-k", KVER], false);
    assert!(o.code != 0 && !hung(&o), "{}", o.combined);
}
