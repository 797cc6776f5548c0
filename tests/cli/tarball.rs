//! `mktarball`, `ldtarball` (and `add` of a tarball) and `generate_mok`:
//! upstream's messages, exit codes and layouts, compared with upstream's
//! bash dkms where it is present; a build → mktarball → ldtarball →
//! install round trip with a fake `make` that records its calls; tarballs
//! made by one implementation loaded by the other; and hostile tarballs
//! (path escapes, links out, devices, FIFOs, size bombs, unsafe names),
//! each refused with exit 3 and nothing written outside the sandbox.
//! Loading a *source* tarball needs root upstream (`add_source_tree`
//! calls check_root); when not root, those tests or parts are reported
//! skipped.

use crate::skip::{skip_part, skip_unless};
use crate::support::{arch, assert_same, compare_fresh, is_root, Impl, Output, Sandbox, KVER};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Upstream's `dkms*_test` names turn off the progress dots of builds.
const M: &str = "dkms_tarball_test";
const V: &str = "1.0";

/// Why loading a source tarball is skipped when not root.
const NEEDS_ROOT: &str = "needs root (upstream's add_source_tree refuses it)";

/// GNU tar and the compressors, for listing archives and for upstream.
fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

/// A source tree worth archiving: dkms.conf, Makefile, a subdirectory, a
/// relative symlink and a file name longer than tar's 100-byte field.
fn source(sb: &Sandbox, m: &str, v: &str) {
    let dir = sb.src.join(format!("{m}-{v}"));
    sb.write(&dir.join("dkms.conf"), &Sandbox::simple_conf(m, v));
    sb.write(&dir.join("Makefile"), &format!("obj-m := {m}.o\n"));
    sb.write(&dir.join(format!("{m}.c")), "/* not compiled */\n");
    sb.write(&dir.join(format!("include/{}.h", "long".repeat(30))), "/* long name */\n");
    std::os::unix::fs::symlink(format!("{m}.c"), dir.join("link.c")).unwrap();
}

/// Added and built for KVER (a fake build: module/<m>.ko and log/make.log).
fn built(sb: &Sandbox) {
    source(sb, M, V);
    let vdir = sb.dkms.join(M).join(V);
    fs::create_dir_all(vdir.join("build")).unwrap();
    std::os::unix::fs::symlink(sb.src.join(format!("{M}-{V}")), vdir.join("source")).unwrap();
    sb.build_module(M, V, KVER, arch(), &[M]);
}

fn location(file: &str) -> String {
    format!("\nTarball location: {file}\n")
}

fn default_tarball(sb: &Sandbox, kernels: &str) -> PathBuf {
    sb.dkms.join(M).join(V).join("tarball").join(format!("{M}-{V}-{kernels}.dkms.tar.gz"))
}

fn kernel_part() -> String {
    format!("kernel{KVER}-{}", arch())
}

/// Member names of an archive as GNU tar lists them, without the `./`
/// prefix, the trailing `/` of directories and the `./` member itself.
fn members(archive: &Path) -> Vec<String> {
    let out = Command::new("tar").arg("-tf").arg(archive).output().expect("tar -tf");
    assert!(out.status.success(), "tar -tf {}: {}", archive.display(), String::from_utf8_lossy(&out.stderr));
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty() && l != ".")
        .collect();
    v.sort();
    v
}

fn ose(o: &Output) -> (i32, &str, &str) {
    (o.code, o.stdout.as_str(), o.stderr.as_str())
}

// ------------------------------------------------------------- mktarball

#[test]
fn mktarball_default_source_tarball() {
    let o = compare_fresh_output("mktarball", &built, &["mktarball", "-m", M, "-v", V, "-k", KVER]);
    let want = format!(
        "Marking modules for {KVER} ({}) for archiving...\n\nMarking <ROOT>/dkms/{M}/{V}/source for archiving...\n{}",
        arch(),
        location(&format!("<ROOT>/dkms/{M}/{V}/tarball//{M}-{V}-{}.dkms.tar.gz", kernel_part()))
    );
    assert_eq!(ose(&o), (0, want.as_str(), ""));

    let mut sb = Sandbox::new();
    built(&sb);
    assert_eq!(sb.dkms(&["mktarball", "-m", M, "-v", V, "-k", KVER]).code, 0);
    let t = default_tarball(&sb, &kernel_part());
    assert!(t.is_file());
    assert_eq!(fs::read(&t).unwrap()[..2], [0x1f, 0x8b], "gzip");
    // Nothing but the tarball was added to the tree, no temp file is left.
    let names: Vec<_> = fs::read_dir(t.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    if have("tar") {
        let k = format!("dkms_main_tree/{KVER}/{}", arch());
        let long = format!("dkms_source_tree/include/{}.h", "long".repeat(30));
        let mut want = vec![
            "dkms_main_tree".to_string(),
            format!("dkms_main_tree/{KVER}"),
            k.clone(),
            format!("{k}/log"),
            format!("{k}/log/make.log"),
            format!("{k}/module"),
            format!("{k}/module/{M}.ko"),
            "dkms_source_tree".into(),
            "dkms_source_tree/Makefile".into(),
            format!("dkms_source_tree/{M}.c"),
            "dkms_source_tree/dkms.conf".into(),
            "dkms_source_tree/include".into(),
            long,
            "dkms_source_tree/link.c".into(),
        ];
        want.sort();
        assert_eq!(members(&t), want);
        if let Some(up) = sb.upstream() {
            // The same members as upstream's tarball of the same tree.
            let ut = sb.root.join("up.tar.gz");
            let o = sb.run_with(
                Impl::Upstream,
                Some(&up),
                &["mktarball", "-m", M, "-v", V, "-k", KVER, "--archive", ut.to_str().unwrap()],
                true,
            );
            assert_eq!(o.code, 0, "{}", o.stderr);
            assert_eq!(members(&t), members(&ut), "members of ours vs upstream's tarball");
        }
    } else {
        skip_part("the tarball's member list", "tar is not installed");
    }
}

/// Like `compare_fresh`, but the trees are compared without the tarballs'
/// sizes (compressed bytes differ between implementations).
fn compare_fresh_output(what: &str, setup: &dyn Fn(&Sandbox), args: &[&str]) -> Output {
    let run = |which: Impl| -> Option<(Output, String)> {
        let mut sb = Sandbox::new();
        if which == Impl::Upstream {
            sb.upstream()?;
        }
        setup(&sb);
        let o = sb.run_with(which, None, args, true);
        let listing: String = sb
            .listing()
            .lines()
            .map(|l| if l.contains(".dkms.tar") { l.rsplit_once(' ').map_or(l, |(a, _)| a) } else { l })
            .map(|l| format!("{l}\n"))
            .collect();
        Some((o, listing))
    };
    let (o, listing) = run(Impl::Ours).expect("ours runs");
    if let Some((u, ulisting)) = run(Impl::Upstream) {
        assert_same(what, &o, &u);
        assert_eq!(listing, ulisting, "{what}: trees differ (left: ours, right: upstream)");
    }
    o
}

#[test]
fn mktarball_binaries_only_and_source_only() {
    let o =
        compare_fresh_output("binaries-only", &built, &["mktarball", "-m", M, "-v", V, "-k", KVER, "--binaries-only"]);
    let want = format!(
        "Marking modules for {KVER} ({}) for archiving...\n\nCreating tarball structure to specifically accommodate binaries.\n{}",
        arch(),
        location(&format!("<ROOT>/dkms/{M}/{V}/tarball//{M}-{V}-{}.dkms.tar.gz", kernel_part()))
    );
    assert_eq!(ose(&o), (0, want.as_str(), ""));

    let o = compare_fresh_output("source-only", &built, &["mktarball", "-m", M, "-v", V, "--source-only"]);
    let want = format!(
        "\nMarking <ROOT>/dkms/{M}/{V}/source for archiving...\n{}",
        location(&format!("<ROOT>/dkms/{M}/{V}/tarball//{M}-{V}-source-only.dkms.tar.gz"))
    );
    assert_eq!(ose(&o), (0, want.as_str(), ""));

    if !have("tar") {
        skip_part("the tarballs' member lists", "tar is not installed");
        return;
    }
    let mut sb = Sandbox::new();
    built(&sb);
    assert_eq!(sb.dkms(&["mktarball", "-m", M, "-v", V, "-k", KVER, "--binaries-only"]).code, 0);
    let t = default_tarball(&sb, &kernel_part());
    let got: Vec<String> = members(&t).into_iter().filter(|m| m.starts_with("dkms_binaries_only")).collect();
    assert_eq!(
        got,
        [
            "dkms_binaries_only",
            "dkms_binaries_only/PACKAGE_NAME",
            "dkms_binaries_only/PACKAGE_VERSION",
            "dkms_binaries_only/dkms.conf"
        ]
    );
    assert!(!members(&t).iter().any(|m| m.starts_with("dkms_source_tree")));
    assert_eq!(sb.dkms(&["mktarball", "-m", M, "-v", V, "--source-only"]).code, 0);
    let t = default_tarball(&sb, "source-only");
    assert!(!members(&t).iter().any(|m| m.starts_with("dkms_main_tree/")), "{:?}", members(&t));
}

#[test]
fn mktarball_archive_option_and_compression() {
    for (name, magic) in [
        ("x.tar", &b""[..]),
        ("x.tgz", &[0x1f, 0x8b][..]),
        ("x.tar.xz", &[0xfd, b'7', b'z', b'X', b'Z'][..]),
        ("x.tar.zst", &[0x28, 0xb5, 0x2f, 0xfd][..]),
        ("x.tar.bz2", &b"BZh"[..]),
    ] {
        let mut sb = Sandbox::new();
        built(&sb);
        // A relative --archive: the directory part is taken as is.
        let rel = format!("out/{name}");
        fs::create_dir_all(sb.work.join("out")).unwrap();
        let o = sb.dkms(&["mktarball", "-m", M, "-v", V, "-k", KVER, "--archive", &rel]);
        assert_eq!(o.code, 0, "{name}: {}", o.stderr);
        assert!(o.stdout.ends_with(&location(&rel)), "{name}: {}", o.stdout);
        let bytes = fs::read(sb.work.join(&rel)).unwrap();
        assert!(bytes.starts_with(magic), "{name}: compression");
        // A name without a directory lands in the current directory.
        let o = sb.dkms(&["mktarball", "-m", M, "-v", V, "-k", KVER, &format!("--archive={name}")]);
        assert_eq!(o.code, 0, "{name}: {}", o.stderr);
        assert!(
            o.stdout.ends_with(&format!("\nTarball location: <ROOT>/dkms/{M}/{V}/tarball//{name}\n")),
            "{}",
            o.stdout
        );
        assert!(sb.dkms.join(M).join(V).join("tarball").join(name).is_file());
        // Every format loads back (binaries-only needs no root).
        let o = sb.dkms(&[
            "mktarball",
            "-m",
            M,
            "-v",
            V,
            "-k",
            KVER,
            "--binaries-only",
            "--archive",
            &sb.root.join(format!("b-{name}")).display().to_string(),
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        let mut dst = Sandbox::new();
        source(&dst, M, V);
        let o = dst.dkms(&["ldtarball", &sb.root.join(format!("b-{name}")).display().to_string()]);
        assert_eq!(o.code, 0, "{name}: {}", o.stderr);
        assert_eq!(dst.dkms(&["status"]).stdout, format!("{M}/{V}, {KVER}, {}: built\n", arch()), "{name}");
    }
}

#[test]
fn mktarball_errors_match_upstream() {
    // Not built for the kernel: exit 6.
    let o = compare_fresh("not built", &built, &["mktarball", "-m", M, "-v", V, "-k", "6.9.9-nothere"]);
    assert_eq!(o.code, 6);
    assert_eq!(
        o.stderr,
        format!(
            "\nError! No modules built for 6.9.9-nothere ({}).\nModules must already be in the built state before using mktarball.\n",
            arch()
        )
    );
    // The second kernel is not built: the first one's line comes first.
    let o =
        compare_fresh("second not built", &built, &["mktarball", "-m", M, "-v", V, "-k", KVER, "-k", "6.9.9-nothere"]);
    assert_eq!(o.code, 6);
    assert!(o.stdout.starts_with("Marking modules for"));
    // Not added: exit 3. Both --binaries-only and --source-only: exit 8.
    assert_eq!(compare_fresh("not added", &|_| {}, &["mktarball", "-m", M, "-v", V]).code, 3);
    assert_eq!(
        compare_fresh("both", &built, &["mktarball", "-m", M, "-v", V, "--binaries-only", "--source-only"]).code,
        8
    );
    assert_eq!(compare_fresh("no module", &built, &["mktarball"]).code, 1);
    // An unwritable destination (its parent is a file): exit 9.
    let o = compare_fresh(
        "unwritable",
        &|sb| {
            built(sb);
            sb.write(&sb.work.join("afile"), "");
        },
        &["mktarball", "-m", M, "-v", V, "-k", KVER, "--archive", "afile/x.tar.gz"],
    );
    assert_eq!(o.code, 9);
    assert!(o.stderr.ends_with("\nError! Missing write permissions for afile.\n"), "{}", o.stderr);
}

#[test]
fn mktarball_many_kernels_name() {
    // upstream: `echo "$list" | wc -m` > 200, i.e. 200 characters or more.
    let fixed = "kernel".len() + 1 + arch().len();
    for (len, many) in [(199, false), (200, true)] {
        let k = format!("6.{}", "x".repeat(len - fixed - 2));
        let setup = |sb: &Sandbox| {
            built(sb);
            sb.build_module(M, V, &k, arch(), &[M]);
        };
        let o = compare_fresh_output(
            "kernel list length",
            &setup,
            &["mktarball", "-m", M, "-v", V, "-k", &k, "--binaries-only"],
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        let part = if many { "manykernels".to_string() } else { format!("kernel{k}-{}", arch()) };
        assert!(o.stdout.ends_with(&format!("/{M}-{V}-{part}.dkms.tar.gz\n")), "{len}: {}", o.stdout);
    }
}

// ------------------------------------------------------------- ldtarball

/// Make a tarball of the built module in a fresh sandbox with `which`.
fn make_tarball(which: Impl, dest: &Path, extra: &[&str]) -> Option<()> {
    let mut sb = Sandbox::new();
    built(&sb);
    sb.build_module(M, V, "6.2.0-1-amd64", arch(), &[M]);
    if which == Impl::Upstream {
        sb.upstream()?;
    }
    let mut args = vec!["mktarball", "-m", M, "-v", V, "-k", KVER];
    args.extend_from_slice(extra);
    let d = dest.display().to_string();
    args.extend_from_slice(&["--archive", &d]);
    let o = sb.run_with(which, None, &args, true);
    assert_eq!(o.code, 0, "{which:?} mktarball: {}", o.stderr);
    Some(())
}

/// Load `archive` with both implementations on fresh sandboxes prepared by
/// `setup`; compare output, exit code and trees. Returns ours.
fn load_both(what: &str, setup: &dyn Fn(&Sandbox), archive: &Path, args: &[&str]) -> (Output, String) {
    let a = archive.display().to_string();
    let mut full: Vec<&str> = args.to_vec();
    full.push(&a);
    let run = |which: Impl| -> Option<(Output, String)> {
        let mut sb = Sandbox::new();
        if which == Impl::Upstream {
            sb.upstream()?;
        }
        setup(&sb);
        let mut o = sb.run_with(which, None, &full, true);
        for s in [&mut o.stdout, &mut o.stderr, &mut o.combined] {
            *s = mask_tmp(s);
        }
        assert!(fs::read_dir(&sb.tmp).unwrap().next().is_none(), "{what}: {which:?} left files in TMPDIR");
        Some((o, sb.listing()))
    };
    let (o, listing) = run(Impl::Ours).expect("ours runs");
    if let Some((u, ulisting)) = run(Impl::Upstream) {
        assert_same(what, &o, &u);
        assert_eq!(listing, ulisting, "{what}: trees differ (left: ours, right: upstream)");
    }
    (o, listing)
}

/// The random part of `$tmp_location/dkms.XXXXXX` masked.
fn mask_tmp(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("/tmp/dkms.") {
        let end = (i + "/tmp/dkms.".len() + 6).min(rest.len());
        out.push_str(&rest[..i]);
        out.push_str("/tmp/dkms.XXXXXX");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

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

// ------------------------------------------------------------- round trip

/// Fake kbuild: records its call, then writes `<M>/<name>.ko` for the
/// `obj-m` of `<M>/Makefile`.
const FAKE_MAKE: &str = r#"#!/bin/sh
echo "make $*" >> "@LOG@"
M=
for a in "$@"; do case $a in M=*) M=${a#M=};; esac; done
for o in $(sed -n 's/^obj-m[ :+]*=//p' "$M/Makefile"); do
    echo "fake module ${o%.o}" > "$M/${o%.o}.ko"
done
: > "$M/Module.symvers"
"#;

/// depmod, strip and modinfo only record that they ran.
const FAKE_RECORDER: &str = "#!/bin/sh\necho \"${0##*/} $*\" >> \"@LOG@\"\n";

fn write_exec(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    let mut perm = fs::metadata(path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    fs::set_permissions(path, perm).unwrap();
}

/// Fake tools in `<root>/fakebin`, no signing, stub headers for KVER.
fn fake_world(sb: &Sandbox) -> PathBuf {
    let log = sb.root.join("tools.log");
    let l = log.display().to_string();
    let bin = sb.root.join("fakebin");
    write_exec(&bin.join("make"), &FAKE_MAKE.replace("@LOG@", &l));
    for t in ["depmod", "strip", "modinfo"] {
        write_exec(&bin.join(t), &FAKE_RECORDER.replace("@LOG@", &l));
    }
    sb.write(&sb.sysconf.join("dkms/framework.conf"), "try_sign_modules=\"false\"\n");
    sb.write(&sb.inst.join(KVER).join("build/include/generated/utsrelease.h"), "/* stub */\n");
    sb.write(&sb.inst.join(KVER).join("build/.config"), "CONFIG_MODULES=y\n");
    log
}

/// Run our dkms on the sandbox's trees with `<root>/fakebin` first in PATH
/// (and the same clean environment as the support harness).
fn ours_with_fakes(sb: &Sandbox, args: &[&str]) -> (i32, String) {
    let mut c = Command::new(crate::support::ours());
    c.args(args).args(sb.tree_args()).current_dir(&sb.work);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("DKMS_")
            || ["parallel_jobs", "post_transaction", "sign_file", "try_sign_modules"].contains(&k.as_str())
        {
            c.env_remove(&k);
        }
    }
    let mut path = sb.root.join("fakebin").into_os_string();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    c.env("PATH", path).env("LC_ALL", "C").env("TMPDIR", &sb.tmp).env("DKMS_SYSCONFDIR", &sb.sysconf);
    let o = c.output().expect("run dkms");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap_or(-1), text)
}

fn make_calls(log: &Path) -> usize {
    fs::read_to_string(log).unwrap_or_default().lines().filter(|l| l.starts_with("make ")).count()
}

#[test]
fn round_trip_build_mktarball_ldtarball_install() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Sandbox::new();
    let alog = fake_world(&a);
    source(&a, M, V);
    let (code, text) = ours_with_fakes(&a, &["build", "-m", M, "-v", V, "-k", KVER]);
    assert_eq!(code, 0, "build: {text}");
    assert_eq!(make_calls(&alog), 1, "the fake make ran once");
    let built_ko =
        fs::read(a.dkms.join(M).join(V).join(KVER).join(arch()).join("module").join(format!("{M}.ko"))).unwrap();
    let full = dir.path().join("full.dkms.tar.gz");
    let bin = dir.path().join("bin.dkms.tar.zst");
    for (t, extra) in [(&full, None), (&bin, Some("--binaries-only"))] {
        let mut args = vec!["mktarball", "-m", M, "-v", V, "-k", KVER, "--archive", t.to_str().unwrap()];
        args.extend(extra);
        let o = a.dkms(&args);
        assert_eq!(o.code, 0, "mktarball: {}", o.stderr);
    }

    // Into a fresh system. Without root: the binaries with the source
    // already in the source tree. With root: the whole tarball.
    let mut b = Sandbox::new();
    let blog = fake_world(&b);
    let o = if is_root() {
        b.dkms(&["ldtarball", full.to_str().unwrap()])
    } else {
        skip_part("loading the source tarball (the binaries-only one is loaded instead)", NEEDS_ROOT);
        source(&b, M, V);
        b.dkms(&["ldtarball", bin.to_str().unwrap()])
    };
    assert_eq!(o.code, 0, "ldtarball: {}{}", o.stdout, o.stderr);
    assert_eq!(b.dkms(&["status"]).stdout, format!("{M}/{V}, {KVER}, {}: built\n", arch()));
    let loaded = b.dkms.join(M).join(V).join(KVER).join(arch());
    assert_eq!(fs::read(loaded.join("module").join(format!("{M}.ko"))).unwrap(), built_ko);
    assert!(loaded.join("log/make.log").is_file());
    assert_eq!(fs::read_to_string(b.src.join(format!("{M}-{V}/Makefile"))).unwrap(), format!("obj-m := {M}.o\n"));
    if !is_root() {
        skip_part("the install of the loaded module", "needs root (upstream's check_root refuses install)");
        return;
    }
    let (code, text) = ours_with_fakes(&b, &["install", "-m", M, "-v", V, "-k", KVER]);
    assert_eq!(code, 0, "install: {text}");
    assert_eq!(make_calls(&blog), 0, "install must not rebuild what the tarball brought");
    assert_eq!(b.dkms(&["status"]).stdout, format!("{M}/{V}, {KVER}, {}: installed\n", arch()));
    assert_eq!(fs::read(b.inst.join(KVER).join("updates/dkms").join(format!("{M}.ko"))).unwrap(), built_ko);
}

// ------------------------------------------------------------- hostile tarballs

/// One raw tar member: a header written verbatim (no path normalisation,
/// so absolute names and `..` survive) and its data.
struct Member {
    name: Vec<u8>,
    kind: tar::EntryType,
    link: Vec<u8>,
    size: u64,
    data: Vec<u8>,
}

fn file(name: &str, data: &[u8]) -> Member {
    Member {
        name: name.into(),
        kind: tar::EntryType::Regular,
        link: vec![],
        size: data.len() as u64,
        data: data.to_vec(),
    }
}

fn dir_entry(name: &str) -> Member {
    Member { name: name.into(), kind: tar::EntryType::Directory, link: vec![], size: 0, data: vec![] }
}

fn link(name: &str, kind: tar::EntryType, target: &str) -> Member {
    Member { name: name.into(), kind, link: target.into(), size: 0, data: vec![] }
}

fn special(name: &str, kind: tar::EntryType) -> Member {
    Member { name: name.into(), kind, link: vec![], size: 0, data: vec![] }
}

fn header(m: &Member) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let old = h.as_old_mut();
    old.name[..m.name.len()].copy_from_slice(&m.name);
    old.linkname[..m.link.len()].copy_from_slice(&m.link);
    h.set_entry_type(m.kind);
    h.set_mode(if m.kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
    h.set_size(m.size);
    h.set_mtime(1_700_000_000);
    if matches!(m.kind, tar::EntryType::Char | tar::EntryType::Block) {
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
    }
    h.set_cksum();
    h
}

/// Write the members as a tar (gzipped when the name ends in .gz). A
/// member whose declared size exceeds its data is written last and
/// truncated, like a size bomb would be.
fn write_tar(path: &Path, members: &[Member]) {
    let mut raw = Vec::new();
    {
        let mut b = tar::Builder::new(&mut raw);
        for m in members {
            let h = header(m);
            if m.size as usize == m.data.len() {
                b.append(&h, &m.data[..]).unwrap();
            } else {
                b.get_mut().write_all(h.as_bytes()).unwrap();
            }
        }
        if members.iter().all(|m| m.size as usize == m.data.len()) {
            b.finish().unwrap();
        }
    }
    if path.to_string_lossy().ends_with(".gz") {
        let mut out = Command::new("gzip")
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip");
        out.stdin.take().unwrap().write_all(&raw).unwrap();
        let o = out.wait_with_output().unwrap();
        fs::write(path, o.stdout).unwrap();
    } else {
        fs::write(path, raw).unwrap();
    }
}

/// The members of a valid binaries-only tarball for M/V.
fn valid_members(conf: &str) -> Vec<Member> {
    let k = format!("./dkms_main_tree/{KVER}/{}", arch());
    vec![
        dir_entry("./dkms_main_tree/"),
        dir_entry(&format!("./dkms_main_tree/{KVER}/")),
        dir_entry(&format!("{k}/")),
        dir_entry(&format!("{k}/module/")),
        file(&format!("{k}/module/{M}.ko"), b"fake module\n"),
        dir_entry("./dkms_binaries_only/"),
        file("./dkms_binaries_only/dkms.conf", conf.as_bytes()),
        dir_entry("./dkms_source_tree/"),
        dir_entry("./dkms_source_tree/sub/"),
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

    let cases: Vec<(&str, Vec<Member>, String, &str)> = vec![
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
            vec![link("./dkms_source_tree/x", tar::EntryType::Symlink, &c), file("./dkms_source_tree/x/evil", b"x")],
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
    ];
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
        check(&mut sb, what, valid_members(&bad_name(m, v)), needle, "not a safe directory name");
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

// ------------------------------------------------------------- generate_mok

#[test]
fn generate_mok_creates_the_pair_once() {
    skip_unless!(have("openssl"), "openssl is not installed");
    let setup = |sb: &Sandbox| {
        let conf = format!("mok_signing_key={0}/keys/mok.key\nmok_certificate={0}/keys/mok.pub\n", sb.root.display());
        sb.write(&sb.sysconf.join("dkms/framework.conf"), &conf);
        fs::create_dir_all(sb.root.join("keys")).unwrap();
    };
    let o = compare_fresh("generate_mok", &setup, &["generate_mok"]);
    assert_eq!(
        ose(&o),
        (
            0,
            "Signing key: <ROOT>/keys/mok.key\nPublic certificate (MOK): <ROOT>/keys/mok.pub\nCertificate or key are missing, generating self signed certificate for MOK...\n",
            ""
        )
    );
    let mut sb = Sandbox::new();
    setup(&sb);
    assert_eq!(sb.run_with(Impl::Ours, None, &["generate_mok"], false).code, 0);
    let key = fs::read(sb.root.join("keys/mok.key")).unwrap();
    let cert = fs::read(sb.root.join("keys/mok.pub")).unwrap();
    assert!(!key.is_empty() && !cert.is_empty());
    // Both exist: nothing is generated or changed.
    let o = sb.run_with(Impl::Ours, None, &["generate_mok"], false);
    assert_eq!(ose(&o), (0, "Signing key: <ROOT>/keys/mok.key\nPublic certificate (MOK): <ROOT>/keys/mok.pub\n", ""));
    assert_eq!(fs::read(sb.root.join("keys/mok.key")).unwrap(), key);
    assert_eq!(fs::read(sb.root.join("keys/mok.pub")).unwrap(), cert);
    // The certificate lost: a new one for the same key (the key is kept).
    fs::remove_file(sb.root.join("keys/mok.pub")).unwrap();
    let o = sb.run_with(Impl::Ours, None, &["generate_mok"], false);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(fs::read(sb.root.join("keys/mok.key")).unwrap(), key);
    assert!(sb.root.join("keys/mok.pub").is_file());
    // Its own binary works the same.
    let o = sb.run_with(Impl::Ours, Some(&crate::support::ours().with_file_name("dkms-generate-mok")), &[], false);
    assert_eq!(o.code, 0);
    assert!(o.stdout.starts_with("Signing key: <ROOT>/keys/mok.key\n"), "{}", o.stdout);
}
