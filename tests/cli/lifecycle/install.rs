//! Lifecycle scenarios of install and uninstall (root): original modules,
//! links and copies, depmod, compression, versions, PRE_/POST_INSTALL,
//! post_transaction, and the refusal of other users.

use super::*;

#[test]
fn install_status_uninstall_with_an_original_module() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install/uninstall)");
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(&sb.inst.join(KVER).join(format!("kernel/extra/{M}.ko")), "the distribution's module\n");
    };
    let install = kargs("install");
    let uninstall = kargs("uninstall");
    let steps: [&[&str]; 7] =
        [&install, &["status"], &install, &uninstall, &["status"], &install, &["remove", "-m", M, "-v", V, "--all"]];
    let run = scenario("install, uninstall, remove --all", &setup, &steps);
    let o = &run.outputs;
    let a = arch();
    let dest = format!("<ROOT>/inst/{KVER}{}/{M}.ko", dest_dir("/updates"));
    let orig = format!("<ROOT>/inst/{KVER}/kernel/extra/{M}.ko");
    let installed = format!(
        "Found pre-existing {orig}, archiving for uninstallation\nInstalling {dest}\nRunning depmod... done.\n"
    );
    assert_eq!(ose(&o[0]), (0, format!("{NO_SIGNING}Building module(s)... done.\n{installed}").as_str(), ""));
    assert_eq!(ose(&o[1]), (0, format!("{M}/{V}, {KVER}, {a}: installed (Original modules exist)\n").as_str(), ""));
    let skip = format!(
        "Module {M}/{V} already installed on kernel {KVER} ({a}), skip. You may override by specifying --force.\n"
    );
    assert_eq!(ose(&o[2]), (0, skip.as_str(), ""));
    let uninstalled = format!(
        "Module {M}/{V} for kernel {KVER} ({a}):\nBefore uninstall, this module version was ACTIVE on this kernel.\n\
         Deleting {dest}\nRestoring archived original module {orig}\nRunning depmod... done.\n"
    );
    assert_eq!(ose(&o[3]), (0, uninstalled.as_str(), ""));
    assert_eq!(o[4].stdout, built_line(M, V));
    assert_eq!(ose(&o[5]), (0, installed.as_str(), ""));
    let removed = format!("{uninstalled}\nDeleting module {M}/{V} completely from the DKMS tree.\n");
    assert_eq!(ose(&o[6]), (0, removed.as_str(), ""));
    // Everything of ours is gone, the original is back in place.
    assert!(!run.sb.dkms.join(M).exists(), "remove --all leaves nothing of {M}");
    assert_eq!(
        fs::read_to_string(run.sb.inst.join(KVER).join(format!("kernel/extra/{M}.ko"))).unwrap(),
        "the distribution's module\n"
    );
    assert!(!run.sb.inst.join(KVER).join("updates").exists(), "empty destination dirs are removed");
    // No modules.dep: depmod itself never ran.
    assert!(!run.tools().contains("depmod"), "{}", run.tools());
}

#[test]
fn install_links_and_copies() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let run = scenario("install", &plain, &[&kargs("build"), &kargs("install")]);
    let a = arch();
    let dest = format!("<ROOT>/inst/{KVER}{}/{M}.ko", dest_dir("/updates"));
    assert_eq!(ose(&run.outputs[1]), (0, format!("Installing {dest}\nRunning depmod... done.\n").as_str(), ""));
    let link = run.sb.dkms.join(M).join(format!("kernel-{KVER}-{a}"));
    assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from(format!("{V}/{KVER}/{a}")), "relative active link");
    let built = run.sb.dkms.join(M).join(V).join(KVER).join(a).join(format!("module/{M}.ko"));
    let inst = run.sb.root.join(dest.trim_start_matches("<ROOT>/"));
    assert_eq!(fs::read(built).unwrap(), fs::read(inst).unwrap(), "the installed copy is the built module");
    assert!(!run.sb.dkms.join(M).join("original_module").exists());
}

#[test]
fn install_runs_depmod_when_modules_dep_exists() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(&sb.inst.join(KVER).join("modules.dep"), "kernel/fake.ko:\n");
    };
    let run = scenario("install with modules.dep", &setup, &[&kargs("install"), &kargs("uninstall")]);
    assert_eq!(run.outputs[0].code, 0);
    let tools = run.tools();
    assert_eq!(tools.lines().filter(|l| l.starts_with("depmod ")).count(), 2, "{tools}");
    assert!(run.tools().contains(&format!("depmod -a {KVER}\n")), "{}", run.tools());
}

#[test]
fn install_onto_a_missing_kernel_exits_6() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.build_module(M, V, "6.1.0-98-amd64", arch(), &[M]);
    };
    let k = "6.1.0-98-amd64";
    let run = scenario("install, no kernel dir", &setup, &[&["install", "-m", M, "-v", V, "-k", k]]);
    let stderr = format!(
        "\nError! The directory <ROOT>/inst/{k} doesn't exist.\nYou cannot install a module onto a non-existent kernel.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (6, "", stderr.as_str()));
}

#[test]
fn installing_an_older_version_is_refused() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(
            &sb.inst.join(KVER).join(format!("kernel/drivers/{M}.ko")),
            "in tree\nversion=2.0\nsrcversion=KERNEL\n",
        );
    };
    let run = scenario("older than the kernel's", &setup, &[&kargs("install"), &["status"]]);
    let stderr = format!(
        "\nError! Module version {V} for {M}.ko\nis not newer than what is already found in kernel {KVER} (2.0).\n\
         You may override by specifying --force.\n\nError! Installation aborted.\n"
    );
    let stdout = format!("{NO_SIGNING}Building module(s)... done.\n");
    assert_eq!(ose(&run.outputs[0]), (6, stdout.as_str(), stderr.as_str()));
    assert_eq!(run.outputs[1].stdout, built_line(M, V));
}

#[test]
fn install_compressed_or_as_symlinks() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    // A .ko.xz anywhere in the kernel's tree makes dkms compress with xz.
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(&sb.inst.join(KVER).join("kernel/fs/other.ko.xz"), "x\n");
    };
    if on_path("xz") {
        let run = scenario("compressed", &setup, &[&kargs("install"), &["status"]]);
        let dest = format!("<ROOT>/inst/{KVER}{}/{M}.ko.xz", dest_dir("/updates"));
        let stdout = format!("{NO_SIGNING}Building module(s)... done.\nInstalling {dest}\nRunning depmod... done.\n");
        assert_eq!(ose(&run.outputs[0]), (0, stdout.as_str(), ""));
        assert_eq!(run.outputs[1].stdout, format!("{M}/{V}, {KVER}, {}: installed\n", arch()));
        let built = run.sb.dkms.join(M).join(V).join(KVER).join(arch()).join(format!("module/{M}.ko.xz"));
        assert!(fs::read(built).unwrap().starts_with(b"\xfd7zXZ"), "an xz file");
    } else {
        skip_part("the compressed install", "xz is not on PATH");
    }

    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(&sb.sysconf.join("dkms/framework.conf"), &format!("{FRAMEWORK}symlink_modules=\"yes\"\n"));
    };
    let run = scenario("symlink_modules", &setup, &[&kargs("install"), &kargs("uninstall")]);
    assert_eq!(run.outputs[0].code, 0);
    // The listing compared with upstream's shows the link; check it here too.
    let link = run.sb.inst.join(KVER).join(format!("{}/{M}.ko", dest_dir("/updates").trim_start_matches('/')));
    assert!(!link.exists() && fs::symlink_metadata(&link).is_err(), "uninstall removed the link");
    let mut sb = Sandbox::new();
    setup(&sb);
    assert_eq!(sb.dkms(&kargs("install")).code, 0);
    let target = run.sb.dkms.join(M).join(V).join(KVER).join(arch()).join(format!("module/{M}.ko"));
    let link = sb.inst.join(KVER).join(format!("{}/{M}.ko", dest_dir("/updates").trim_start_matches('/')));
    let got = fs::read_link(&link).expect("installed as a symlink");
    assert_eq!(got, sb.root.join(target.strip_prefix(&run.sb.root).unwrap()));
}

#[test]
fn a_second_version_takes_over_and_an_older_one_is_refused() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let setup = |sb: &Sandbox| {
        plain(sb);
        added(sb, M, "2.0", "");
    };
    let inst = |v: &'static str| -> Vec<&'static str> { vec!["install", "-m", M, "-v", v, "-k", KVER] };
    let i1 = inst(V);
    let i2 = inst("2.0");
    let f1: Vec<&str> = i1.iter().copied().chain(["--force"]).collect();
    let steps: [&[&str]; 5] = [&i1, &i2, &["status"], &i1, &f1];
    let run = scenario("two versions", &setup, &steps);
    let o = &run.outputs;
    let a = arch();
    let dest = format!("<ROOT>/inst/{KVER}{}/{M}.ko", dest_dir("/updates"));
    let fresh = format!("{NO_SIGNING}Building module(s)... done.\nInstalling {dest}\nRunning depmod... done.\n");
    assert_eq!(ose(&o[0]), (0, fresh.as_str(), ""));
    assert_eq!(ose(&o[1]), (0, fresh.as_str(), ""), "2.0 replaces 1.0 without archiving it");
    assert_eq!(o[2].stdout, format!("{M}/{V}, {KVER}, {a}: built\n{M}/2.0, {KVER}, {a}: installed\n"));
    let stderr = format!(
        "\nError! Module version {V} for {M}.ko\nis not newer than what is already found in kernel {KVER} (2.0).\n\
         You may override by specifying --force.\n\nError! Installation aborted.\n"
    );
    assert_eq!(ose(&o[3]), (6, "", stderr.as_str()));
    assert_eq!(ose(&o[4]), (0, format!("Installing {dest}\nRunning depmod... done.\n").as_str(), ""));
    let link = run.sb.dkms.join(M).join(format!("kernel-{KVER}-{a}"));
    assert_eq!(fs::read_link(link).unwrap(), PathBuf::from(format!("{V}/{KVER}/{a}")));
}

#[test]
fn pre_install_failure_exits_101_and_post_install_runs() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, M, V, "PRE_INSTALL=\"pre.sh\"\nPOST_INSTALL=\"post.sh a b\"\n");
        write_exec(&sb.src.join(format!("{M}-{V}/pre.sh")), "#!/bin/sh\necho pre here\nexit 4\n");
        write_exec(&sb.src.join(format!("{M}-{V}/post.sh")), "#!/bin/sh\necho \"post $*\"\n");
    };
    let install = kargs("install");
    let force: Vec<&str> = install.iter().copied().chain(["--force"]).collect();
    let run = scenario("PRE_INSTALL, POST_INSTALL", &setup, &[&install, &force]);
    let stdout = format!("{NO_SIGNING}Building module(s)... done.\nRunning the pre_install script:\npre here\n");
    let stderr = "\nError! pre_install failed, aborting install.\nYou may override by specifying --force.\n";
    assert_eq!(ose(&run.outputs[0]), (101, stdout.as_str(), stderr));
    let dest = format!("<ROOT>/inst/{KVER}{}/{M}.ko", dest_dir("/updates"));
    let stdout = format!(
        "Running the pre_install script:\npre here\nInstalling {dest}\nRunning the post_install script:\npost a b\n\
         Running depmod... done.\n"
    );
    assert_eq!(ose(&run.outputs[1]), (0, stdout.as_str(), ""));
}

#[test]
fn post_transaction_runs_after_install_and_remove() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(
            &sb.sysconf.join("dkms/framework.conf"),
            &format!("{FRAMEWORK}post_transaction=\"echo transaction done\"\n"),
        );
    };
    let steps: [&[&str]; 3] = [&kargs("build"), &kargs("install"), &["remove", "-m", M, "-v", V, "--all"]];
    let run = scenario("post_transaction", &setup, &steps);
    let o = &run.outputs;
    let post = "Executing post-transaction command... done.\n";
    assert_eq!(ose(&o[0]), (0, format!("{NO_SIGNING}Building module(s)... done.\n").as_str(), ""), "not after build");
    assert!(o[1].stdout.ends_with(&format!("Running depmod... done.\n{post}")), "{}", o[1].stdout);
    assert!(o[2].stdout.ends_with(&format!("completely from the DKMS tree.\n{post}")), "{}", o[2].stdout);
    let log = fs::read_to_string(run.sb.dkms.join("post_transaction.log")).expect("post_transaction.log");
    assert!(
        log.starts_with(
            "\nExecuting post-transaction command\n# command: echo transaction done\ntransaction done\n\n# exit code: 0\n"
        ),
        "{log}"
    );
}

#[test]
fn root_only_actions_refuse_other_users() {
    // As root, the runs are made as nobody.
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.build_module(M, V, KVER, arch(), &[M]);
        sb.as_other_user();
    };
    for args in [
        kargs("install"),
        kargs("uninstall"),
        vec!["autoinstall", "-k", KVER],
        vec!["kernel_prerm", "-k", KVER],
        vec!["kernel_postinst", "-k", KVER],
    ] {
        let run = scenario(&format!("{args:?} as non-root"), &setup, &[&args]);
        assert_eq!(ose(&run.outputs[0]), (1, "", "\nError! You must be root to use this command.\n"), "{args:?}");
    }
}
