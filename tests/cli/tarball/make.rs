//! mktarball: upstream's messages, exit codes and member lists for
//! source, binaries-only and source-only tarballs, --archive and its
//! compressions, the many-kernels name.

use super::*;

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
