//! ldtarball (and add of a tarball): tarballs made by one implementation
//! loaded by the other, every kernel of a tarball, upstream's errors.

use super::raw::{dir_entry, file, write_tar};
use super::*;

#[test]
fn ldtarball_interoperates_with_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let with_source = |sb: &Sandbox| source(sb, M, V);
    for maker in [Impl::Ours, Impl::Upstream] {
        // Binaries only, source present: no root needed.
        let t = dir.path().join(format!("{maker:?}-bin.tar.gz"));
        if make_tarball(maker, &t, &["--binaries-only"]).is_none() {
            continue;
        }
        let (o, listing) =
            load_both(&format!("ldtarball binaries-only made by {maker:?}"), &with_source, &t, &["ldtarball"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(listing.contains(&format!("/{KVER}/{}/module/{M}.ko f", arch())), "{listing}");
        // Binaries only, no source here: the stub source dir, exit 1.
        let (o, listing) =
            load_both(&format!("ldtarball binaries-only, no source, by {maker:?}"), &|_| {}, &t, &["ldtarball"]);
        assert_eq!(o.code, 1);
        assert!(
            o.stdout.contains(&format!(
                "Creating <ROOT>/dkms/{M}/{V}/source\nCopying dkms.conf to <ROOT>/dkms/{M}/{V}/source ...\n"
            )),
            "{}",
            o.stdout
        );
        assert!(listing.contains(&format!("<ROOT>/dkms/{M}/{V}/source/dkms.conf f")), "{listing}");
        // add of the same: ends with "Could not find module source directory" (exit 2).
        let (o, _) = load_both(&format!("add binaries-only, no source, by {maker:?}"), &|_| {}, &t, &["add"]);
        assert_eq!(o.code, 2);
        // Already added: exit 8.
        let added = |sb: &Sandbox| {
            source(sb, M, V);
            sb.add_module(M, V, &Sandbox::simple_conf(M, V));
        };
        let (o, _) = load_both(&format!("already added, by {maker:?}"), &added, &t, &["ldtarball"]);
        assert_eq!(o.code, 8);
        assert_eq!(o.stderr, format!("\nError! {M}/{V} is already added!\nAborting.\n"));
        if is_root() {
            // A source tarball into an empty system.
            let t = dir.path().join(format!("{maker:?}-src.tar.xz"));
            make_tarball(maker, &t, &[]).expect("made before");
            let (o, listing) = load_both(&format!("ldtarball source made by {maker:?}"), &|_| {}, &t, &["ldtarball"]);
            assert_eq!(o.code, 0, "{}", o.stderr);
            assert!(listing.contains(&format!("<ROOT>/src/{M}-{V}/link.c l -> {M}.c")), "{listing}");
            assert!(listing.contains(&format!("<ROOT>/src/{M}-{V}/include/{}.h f", "long".repeat(30))), "{listing}");
            let (o, _) = load_both(&format!("add source tarball made by {maker:?}"), &|_| {}, &t, &["add"]);
            assert_eq!(o.code, 0, "{}", o.stderr);
            // --force over an added module: loads, then add says exit 3.
            let (o, _) = load_both(&format!("ldtarball --force by {maker:?}"), &added, &t, &["ldtarball", "--force"]);
            assert_eq!(o.code, 3, "{}", o.stderr);
        } else {
            skip_part("the source-tarball interop cases", NEEDS_ROOT);
        }
    }
}

#[test]
fn ldtarball_loads_every_kernel_of_a_tarball() {
    // Upstream's loop declares its variables `local -r`, so it loads only
    // the first kernel of a multi-kernel tarball (a deliberate divergence).
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("multi.tar.gz");
    let mut sb = Sandbox::new();
    built(&sb);
    sb.build_module(M, V, "6.2.0-1-amd64", arch(), &[M]);
    let o = sb.dkms(&[
        "mktarball",
        "-m",
        M,
        "-v",
        V,
        "-k",
        KVER,
        "-k",
        "6.2.0-1-amd64",
        "--binaries-only",
        "--archive",
        t.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let mut dst = Sandbox::new();
    source(&dst, M, V);
    let o = dst.dkms(&["ldtarball", t.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let a = arch();
    assert_eq!(
        o.stdout,
        format!(
            "\nLoading tarball for {M}/{V}\nLoading <ROOT>/dkms/{M}/{V}/{KVER}/{a}...\nLoading <ROOT>/dkms/{M}/{V}/6.2.0-1-amd64/{a}...\nCreating symlink <ROOT>/dkms/{M}/{V}/source -> <ROOT>/src/{M}-{V}\n"
        )
    );
    assert_eq!(
        dst.dkms(&["status"]).stdout,
        format!("{M}/{V}, {KVER}, {a}: built\n{M}/{V}, 6.2.0-1-amd64, {a}: built\n")
    );
    // Again with --force (root only upstream): existing builds are replaced;
    // without it they are skipped with a warning.
    fs::remove_file(dst.dkms.join(M).join(V).join("source")).unwrap();
    let o = dst.dkms(&["ldtarball", t.to_str().unwrap()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!("Warning: <ROOT>/dkms/{M}/{V}/{KVER}/{a} already exists. Skipping...\n")),
        "{}",
        o.stderr
    );
}

#[test]
fn ldtarball_errors_match_upstream() {
    let dir = tempfile::tempdir().unwrap();
    // Missing archive: exit 2 (as --archive; a word naming no file is a module name).
    let o = compare_fresh("missing", &|_| {}, &["ldtarball", "--archive", "/nonexistent/x.tar.gz"]);
    assert_eq!(o.code, 2);
    assert_eq!(o.stderr, "\nError! /nonexistent/x.tar.gz does not exist.\n");
    // --force needs root (checked before anything else); as root, run as nobody.
    let other = |sb: &Sandbox| sb.as_other_user();
    let o = compare_fresh("--force as non-root", &other, &["ldtarball", "--force", "--archive", "/nonexistent/x.tar"]);
    assert_eq!(ose(&o), (1, "", "\nError! You must be root to use this command with the --force option.\n"));
    // A tarball with no dkms.conf: exit 3.
    let t = dir.path().join("noconf.tar");
    write_tar(&t, &[file("./foo/readme", b"hi")]);
    let (o, _) = load_both("no dkms.conf", &|_| {}, &t, &["ldtarball"]);
    assert_eq!(o.code, 3);
    assert_eq!(
        o.stderr,
        "\nError! Tarball does not appear to be a correctly formed DKMS archive. No dkms.conf found within it.\n"
    );
    // A dkms_main_tree but no dkms.conf in the right places: exit 7.
    let t = dir.path().join("noloc.tar");
    write_tar(
        &t,
        &[dir_entry("./dkms_main_tree/"), file("./elsewhere/dkms.conf", Sandbox::simple_conf(M, V).as_bytes())],
    );
    let (o, _) = load_both("no valid dkms.conf", &|_| {}, &t, &["ldtarball"]);
    assert_eq!(o.code, 7);
    // A dkms.conf without PACKAGE_NAME does not read: exit 8.
    let t = dir.path().join("malformed.tar");
    write_tar(&t, &[dir_entry("./dkms_main_tree/"), file("./dkms_binaries_only/dkms.conf", b"PACKAGE_VERSION=1\n")]);
    let (o, _) = load_both("malformed dkms.conf", &|_| {}, &t, &["ldtarball"]);
    assert_eq!(o.code, 8);
    assert_eq!(
        o.stderr,
        "dkms.conf: Error! No 'PACKAGE_NAME' directive specified.\n\nError! Bad conf file.\nFile: <ROOT>/tmp/dkms.XXXXXX/dkms_binaries_only/dkms.conf does not represent a valid dkms.conf file.\n"
    );
    // Not a tar archive at all: exit 3 (upstream: tar fails, no dkms.conf).
    let t = dir.path().join("junk.tar.gz");
    fs::write(&t, "this is not an archive\n").unwrap();
    let mut sb = Sandbox::new();
    let before = sb.listing();
    let o = sb.dkms(&["ldtarball", t.to_str().unwrap()]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(
        o.stderr.starts_with("\nError! Tarball does not appear to be a correctly formed DKMS archive.\n"),
        "{}",
        o.stderr
    );
    assert_eq!(sb.listing(), before);
    // A plain source tarball (no dkms_main_tree): added like a directory.
    if !is_root() {
        skip_part("the add of a plain source tarball", NEEDS_ROOT);
    } else {
        let t = dir.path().join("plain.tar.gz");
        let conf = Sandbox::simple_conf(M, V);
        write_tar(
            &t,
            &[dir_entry("pkg/"), file("pkg/a/dkms.conf", conf.as_bytes()), file("pkg/a/Makefile", b"obj-m := x.o\n")],
        );
        let (o, listing) = load_both("plain source tarball", &|_| {}, &t, &["add"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(listing.contains(&format!("<ROOT>/src/{M}-{V}/Makefile f")), "{listing}");
    }
}
