//! Lifecycle scenarios of what dkms.conf and the options add to a build:
//! PATCH, PRE_BUILD/POST_BUILD, the signing prologue, MAKE/MAKE_MATCH,
//! --verbose, --kernelsourcedir and -k kernel/arch.

use super::*;

#[test]
fn missing_patch_exits_5() {
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, M, V, "PATCH[0]=\"fix.patch\"\n");
    };
    let run = scenario("missing patch", &setup, &[&kargs("build")]);
    let stderr = format!(
        "\nError! Patch fix.patch as specified in dkms.conf cannot be\nfound in <ROOT>/dkms/{M}/{V}/build/patches/.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (5, NO_SIGNING, stderr.as_str()));
    assert!(!run.sb.dkms.join(M).join(V).join(KVER).exists());
}

#[test]
fn failing_pre_build_script_propagates_its_status() {
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, M, V, "PRE_BUILD=\"pre.sh arg\"\n");
        write_exec(&sb.src.join(format!("{M}-{V}/pre.sh")), "#!/bin/sh\necho \"pre $*\"\necho oops >&2\nexit 3\n");
    };
    let run = scenario("failing PRE_BUILD", &setup, &[&kargs("build")]);
    let b = format!("<ROOT>/dkms/{M}/{V}/build");
    let stdout = format!(
        "{NO_SIGNING}Running the pre_build script...(bad exit status: 3)\nFailed command:\ncd {b}/ && {b}/pre.sh arg\n\
         Consult {b}/make.log for more information.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (3, stdout.as_str(), ""));
    let log = fs::read_to_string(run.sb.dkms.join(M).join(V).join("build/make.log")).expect("make.log kept");
    assert!(log.contains("\npre arg\noops\n\n# exit code: 3\n"), "{log}");
    assert!(!run.tools().contains("make "), "make does not run after a failed PRE_BUILD");
}

#[test]
fn pre_and_post_build_scripts_run_and_log() {
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, M, V, "PRE_BUILD=\"pre.sh\"\nPOST_BUILD=\"post.sh\"\n");
        write_exec(&sb.src.join(format!("{M}-{V}/pre.sh")), "#!/bin/sh\necho pre ran in \"$PWD\"\n");
        write_exec(&sb.src.join(format!("{M}-{V}/post.sh")), "#!/bin/sh\necho post ran\n");
    };
    let run = scenario("PRE_BUILD and POST_BUILD", &setup, &[&kargs("build")]);
    let stdout = format!(
        "{NO_SIGNING}Running the pre_build script... done.\nBuilding module(s)... done.\nRunning the post_build script... done.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (0, stdout.as_str(), ""));
    let log = fs::read_to_string(run.sb.dkms.join(M).join(V).join(KVER).join(arch()).join("log/make.log")).unwrap();
    let log = run.norm(&log);
    assert!(log.contains(&format!("\npre ran in <ROOT>/dkms/{M}/{V}/build\n")), "{log}");
    assert!(log.contains("\npost ran\n"), "{log}");
}

#[test]
fn signing_prologue_without_a_signing_kernel() {
    // try_sign_modules="true" skips the chroot test, so the kernel config
    // decides: missing, or without CONFIG_MODULE_SIG_HASH.
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(&sb.sysconf.join("dkms/framework.conf"), "try_sign_modules=\"true\"\nparallel_jobs=3\n");
    };
    let run = scenario("config without signing", &setup, &[&kargs("build")]);
    let stdout = "The kernel is built without module signing facility, modules won't be signed\n\n\
                  Building module(s)... done.\n";
    assert_eq!(ose(&run.outputs[0]), (0, stdout, ""));
    let no_config = |sb: &Sandbox| {
        setup(sb);
        fs::remove_file(sb.inst.join(KVER).join("build/.config")).unwrap();
    };
    let run = scenario("no kernel config", &no_config, &[&kargs("build")]);
    let stdout = format!(
        "Kernel config <ROOT>/inst/{KVER}/build/.config not found, modules won't be signed\n\nBuilding module(s)... done.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (0, stdout.as_str(), ""));
}

#[test]
fn patches_from_the_source_and_the_sysconf_overlay() {
    skip_unless!(on_path("patch"), "patch(1) is not on PATH");
    // a.patch ships with the source, b.patch comes from /etc/dkms/<m>/patches.
    let patch = |line: &str, add: &str| format!("--- a/Makefile\n+++ b/Makefile\n@@ -1 +1,2 @@\n {line}\n+{add}\n");
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, M, V, "PATCH[0]=\"a.patch\"\nPATCH[1]=\"b.patch\"\n");
        sb.write(&sb.src.join(format!("{M}-{V}/patches/a.patch")), &patch(&format!("obj-m := {M}.o"), "# a"));
        sb.write(&sb.sysconf.join(format!("dkms/{M}/patches/b.patch")), &patch("# a", "# b"));
    };
    let run = scenario("two patches", &setup, &[&kargs("build")]);
    let stdout = format!(
        "{NO_SIGNING}Applying patch a.patch... done.\nApplying patch b.patch... done.\nBuilding module(s)... done.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (0, stdout.as_str(), ""));
    let log = fs::read_to_string(run.sb.dkms.join(M).join(V).join(KVER).join(arch()).join("log/make.log")).unwrap();
    assert!(
        log.contains("\nApplying patch b.patch\n# command: patch -p1 < ./patches/b.patch\npatching file Makefile\n"),
        "{log}"
    );
    // The source itself is never patched.
    assert_eq!(fs::read_to_string(run.sb.src.join(format!("{M}-{V}/Makefile"))).unwrap(), format!("obj-m := {M}.o\n"));

    // A patch that does not apply: exit 6, the build dir kept.
    let bad = |sb: &Sandbox| {
        setup(sb);
        let hunk = "--- a/Makefile\n+++ b/Makefile\n@@ -1,2 +1,2 @@\n-not there\n-nor this\n+# b\n+# c\n";
        sb.write(&sb.sysconf.join(format!("dkms/{M}/patches/b.patch")), hunk);
    };
    let run = scenario("patch fails", &bad, &[&kargs("build")]);
    let stdout = format!(
        "{NO_SIGNING}Applying patch a.patch... done.\nApplying patch b.patch...(bad exit status: 1)\n\
         Failed command:\npatch -p1 < ./patches/b.patch\n"
    );
    let stderr = format!(
        "\nError! Application of patch b.patch failed.\nConsult <ROOT>/dkms/{M}/{V}/build/make.log for more information.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (6, stdout.as_str(), stderr.as_str()));
    assert!(run.sb.dkms.join(M).join(V).join("build/make.log").is_file());
}

#[test]
fn verbose_kernelsourcedir_and_kernel_arch_argument() {
    const OTHER: &str = "6.1.0-98-amd64";
    let a = arch();
    let ka = format!("{KVER}/{a}");
    // --kernelsourcedir names a path inside each sandbox, so the steps
    // are made per sandbox rather than passed to `scenario`.
    let mut results = Vec::new();
    for which in [Impl::Ours, Impl::Upstream] {
        let mut sb = Sandbox::new();
        if which == Impl::Upstream && sb.upstream().is_none() {
            continue;
        }
        plain(&sb);
        let ksrc = sb.inst.join(KVER).join("build").display().to_string();
        let steps: [&[&str]; 3] = [
            &["build", "-m", M, "-v", V, "-k", &ka, "--verbose"],
            &["build", "-m", M, "-v", V, "-k", OTHER, "--kernelsourcedir", &ksrc],
            &["status"],
        ];
        results.push(steps.iter().map(|s| sb.run_with(which, None, s, true)).collect::<Vec<Output>>());
    }
    for (o, u) in results[0].iter().zip(results.get(1).into_iter().flatten()) {
        assert_same("--verbose, --kernelsourcedir, -k K/A", o, u);
    }
    let o = &results[0];
    let stdout = format!("{NO_SIGNING}{}\n done.\n", make_cmd(M, V));
    assert_eq!(ose(&o[0]), (0, stdout.as_str(), ""), "--verbose echoes the command instead of the description");
    let stdout = format!("{NO_SIGNING}Building module(s)... done.\n");
    assert_eq!(ose(&o[1]), (0, stdout.as_str(), ""));
    assert_eq!(o[2].stdout, format!("{M}/{V}, {OTHER}, {a}: built\n{M}/{V}, {KVER}, {a}: built\n"));
}

#[test]
fn make_and_make_match_from_dkms_conf() {
    let setup = |sb: &Sandbox| {
        world(sb);
        // MAKE[0] for other kernels; MAKE[1] for 6.1 kernels (not starting
        // with "make", so no -j and KERNELRELEASE are inserted).
        added(
            sb,
            M,
            V,
            "MAKE[0]=\"make -C never KERNELRELEASE=$kernelver\"\nMAKE_MATCH[1]=\"^6\\.1\"\n\
             MAKE[1]=\"env FOO=1 make KVER=$kernelver M=$dkms_tree/$module/$module_version/build\"\n",
        );
    };
    let run = scenario("MAKE_MATCH", &setup, &[&kargs("build")]);
    assert_eq!(run.outputs[0].code, 0, "{}", run.outputs[0].stderr);
    let tools = run.tools();
    assert_eq!(
        tools,
        format!("make KVER={KVER} M=<ROOT>/dkms/{M}/{V}/build\nstrip -g <ROOT>/dkms/{M}/{V}/build/{M}.ko\n")
    );
}
