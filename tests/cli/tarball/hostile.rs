//! Hostile tarballs (path escapes, links out, devices, FIFOs, size bombs,
//! unsafe names): each refused with exit 3 and nothing written outside the
//! sandbox; the configurable byte limit.

use super::raw::{file, link, special, valid_members, write_tar, Member};
use super::*;

/// The hostile members, each with what it tries, the entry the refusal
/// must name and its reason; `c` is the canary directory outside.
fn hostile_cases(c: &str) -> Vec<(&'static str, Vec<Member>, String, &'static str)> {
    vec![
        (
            "absolute path",
            vec![file(&format!("{c}/abs-evil"), b"x")],
            "'<ROOT>/canary/abs-evil'".into(),
            "absolute path",
        ),
        ("dotdot escape", vec![file("../../canary/dotdot-evil", b"x")], "../../canary/dotdot-evil".into(), "'..'"),
        (
            "dotdot inside a path",
            vec![file("./dkms_source_tree/../../../canary/evil", b"x")],
            "./dkms_source_tree/../../../canary/evil".into(),
            "'..'",
        ),
        (
            "symlink out, then a file through it",
            vec![link("./dkms_source_tree/x", tar::EntryType::Symlink, c), file("./dkms_source_tree/x/evil", b"x")],
            "./dkms_source_tree/x".into(),
            "outside the archive",
        ),
        (
            "relative symlink out",
            vec![
                link("./dkms_source_tree/y", tar::EntryType::Symlink, "../../../canary"),
                file("./dkms_source_tree/y/evil", b"x"),
            ],
            "./dkms_source_tree/y".into(),
            "outside the archive",
        ),
        (
            "file written through an inside symlink",
            vec![link("./dkms_source_tree/z", tar::EntryType::Symlink, "sub"), file("./dkms_source_tree/z/evil", b"x")],
            "./dkms_source_tree/z/evil".into(),
            "through the symlink",
        ),
        (
            "hard link to /etc/shadow",
            vec![link("./dkms_source_tree/shadow", tar::EntryType::Link, "/etc/shadow")],
            "./dkms_source_tree/shadow".into(),
            "hard link pointing outside",
        ),
        (
            "hard link up and out",
            vec![link("./dkms_source_tree/keep", tar::EntryType::Link, "../../canary/keep")],
            "./dkms_source_tree/keep".into(),
            "hard link pointing outside",
        ),
        (
            "character device",
            vec![special("./dkms_source_tree/null", tar::EntryType::Char)],
            "./dkms_source_tree/null".into(),
            "character device",
        ),
        (
            "block device",
            vec![special("./dkms_source_tree/sda", tar::EntryType::Block)],
            "./dkms_source_tree/sda".into(),
            "block device",
        ),
        (
            "FIFO",
            vec![special("./dkms_source_tree/fifo", tar::EntryType::Fifo)],
            "./dkms_source_tree/fifo".into(),
            "FIFO",
        ),
        (
            "10 GB declared size",
            vec![Member { size: 10 << 30, ..file("./dkms_source_tree/big", b"") }],
            "./dkms_source_tree/big".into(),
            "past the limit",
        ),
    ]
}

#[test]
fn hostile_tarballs_are_refused_and_change_nothing() {
    let mut sb = Sandbox::new();
    // The source is already here, so a valid binaries-only load needs no root.
    source(&sb, M, V);
    let canary = sb.root.join("canary");
    sb.write(&canary.join("keep"), "canary\n");
    let c = canary.display().to_string();
    let conf = Sandbox::simple_conf(M, V);
    let bad_name = |m: &str, v: &str| {
        format!("PACKAGE_NAME=\"{m}\"\nPACKAGE_VERSION=\"{v}\"\nBUILT_MODULE_NAME[0]=\"x\"\nDEST_MODULE_LOCATION[0]=\"/updates\"\n")
    };

    let cases = hostile_cases(&c);
    let before = sb.listing();
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    let mut check = |sb: &mut Sandbox, what: &str, members: Vec<Member>, needle: &str, reason: &str| {
        n += 1;
        let t = dir.path().join(format!("hostile-{n}.tar{}", if n % 2 == 0 { ".gz" } else { "" }));
        write_tar(&t, &members);
        for verb in ["ldtarball", "add"] {
            let o = sb.dkms(&[verb, t.to_str().unwrap()]);
            assert_eq!(o.code, 3, "{what} ({verb}): {}{}", o.stdout, o.stderr);
            let first = format!("\nError! Refusing to load {}: ", t.display());
            assert!(o.stderr.starts_with(&first), "{what}: {}", o.stderr);
            assert!(o.stderr.contains(needle), "{what}: entry not named: {}", o.stderr);
            assert!(o.stderr.contains(reason), "{what}: reason not given: {}", o.stderr);
            assert!(
                o.stderr.ends_with("\nNothing was loaded; the DKMS and source trees are unchanged.\n"),
                "{}",
                o.stderr
            );
            assert_eq!(sb.listing(), before, "{what}: the trees changed");
            assert!(fs::read_dir(&sb.tmp).unwrap().next().is_none(), "{what}: temp files left");
            let mut in_canary: Vec<_> = fs::read_dir(&canary).unwrap().map(|e| e.unwrap().file_name()).collect();
            in_canary.sort();
            assert_eq!(in_canary, ["keep"], "{what}: something was written outside");
            assert_eq!(fs::read_to_string(canary.join("keep")).unwrap(), "canary\n");
        }
    };
    for (what, hostile, needle, reason) in cases {
        let mut members = valid_members(&conf);
        members.extend(hostile);
        check(&mut sb, what, members, &needle, reason);
    }
    for (what, m, v, needle) in [
        ("PACKAGE_NAME with ..", "../evil", V, "PACKAGE_NAME to '../evil'"),
        ("PACKAGE_NAME with /", "a/b", V, "PACKAGE_NAME to 'a/b'"),
        ("PACKAGE_VERSION ..", M, "..", "PACKAGE_VERSION to '..'"),
    ] {
        check(&mut sb, what, valid_members(&bad_name(m, v)), needle, "which cannot be used: it");
    }
    // A later valid load still works.
    let t = dir.path().join("valid.tar.gz");
    write_tar(&t, &valid_members(&conf));
    let o = sb.dkms(&["ldtarball", t.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert_eq!(sb.dkms(&["status"]).stdout, format!("{M}/{V}, {KVER}, {}: built\n", arch()));
}

#[test]
fn hostile_plain_source_tarball_name_is_refused() {
    skip_unless!(is_root(), NEEDS_ROOT);
    let mut sb = Sandbox::new();
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("plain.tar");
    write_tar(&t, &[file("pkg/dkms.conf", b"PACKAGE_NAME=\"../../canary\"\nPACKAGE_VERSION=\"1\"\n")]);
    let before = sb.listing();
    let o = sb.dkms(&["add", t.to_str().unwrap()]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("PACKAGE_NAME to '../../canary'"), "{}", o.stderr);
    assert_eq!(sb.listing(), before);
}

#[test]
fn byte_limit_is_configurable() {
    // DKMS_TARBALL_MAX_BYTES: the harness strips DKMS_* from the caller's
    // environment, so run the binary directly.
    let sb = Sandbox::new();
    source(&sb, M, V);
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("small.tar");
    write_tar(&t, &valid_members(&Sandbox::simple_conf(M, V)));
    let run = |limit: &str| {
        Command::new(crate::support::ours())
            .arg("ldtarball")
            .arg(&t)
            .args(sb.tree_args())
            .env("TMPDIR", &sb.tmp)
            .env("DKMS_SYSCONFDIR", &sb.sysconf)
            .env("DKMS_TARBALL_MAX_BYTES", limit)
            .output()
            .unwrap()
    };
    let o = run("10");
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("past the limit of 10 bytes"));
    let o = run("1M");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}
