//! Lifecycle scenarios of autoinstall and the kernel_* hooks (root):
//! BUILD_DEPENDS order, failures, kernel_postinst/preinst/prerm.

use super::*;

#[test]
fn autoinstall_follows_build_depends() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses autoinstall)");
    let run = scenario("autoinstall", &two_modules, &[&["autoinstall", "-k", KVER], &["status"]]);
    let stdout = format!(
        "{NO_SIGNING}{}{}Autoinstall on {KVER} succeeded for module(s) dkms_b_test dkms_a_test.\n",
        autoinstalled("dkms_b_test", "2.0"),
        autoinstalled("dkms_a_test", "1.0")
    );
    assert_eq!(ose(&run.outputs[0]), (0, stdout.as_str(), ""));
    let a = arch();
    assert_eq!(
        run.outputs[1].stdout,
        format!("dkms_a_test/1.0, {KVER}, {a}: installed\ndkms_b_test/2.0, {KVER}, {a}: installed\n")
    );
}

#[test]
fn autoinstall_with_a_failing_module_exits_11() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses autoinstall)");
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, "dkms_a_test", "1.0", "");
        added(sb, "dkms_b_test", "2.0", "");
        fail_make(sb, "dkms_a_test", "1.0");
    };
    let run = scenario("autoinstall, dkms_a_test fails", &setup, &[&["autoinstall", "-k", KVER]]);
    let a = arch();
    let stdout = format!(
        "{NO_SIGNING}Autoinstall of module dkms_a_test/1.0 for kernel {KVER} ({a})\nBuilding module(s)...(bad exit status: 2)\n\
         Failed command:\n{}\n\n{}Autoinstall on {KVER} succeeded for module(s) dkms_b_test.\n\
         Autoinstall on {KVER} failed for module(s) dkms_a_test(10).\n",
        make_cmd("dkms_a_test", "1.0"),
        autoinstalled("dkms_b_test", "2.0")
    );
    let stderr = format!(
        "\nError! Bad return status for module build on kernel: {KVER} ({a})\n\
         Consult <ROOT>/dkms/dkms_a_test/1.0/build/make.log for more information.\n\
         \nError! One or more modules failed to install during autoinstall.\nRefer to previous errors for more information.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (11, stdout.as_str(), stderr.as_str()));

    // The dependency fails: the dependent one is reported unresolved.
    let setup = |sb: &Sandbox| {
        two_modules(sb);
        fail_make(sb, "dkms_b_test", "2.0");
    };
    let run = scenario("autoinstall, dependency fails", &setup, &[&["autoinstall", "-k", KVER]]);
    let o = &run.outputs[0];
    assert_eq!(o.code, 11);
    assert!(
        o.stdout.ends_with(&format!(
            "Autoinstall on {KVER} failed for module(s) dkms_b_test(10).\ndkms_a_test/1.0 autoinstall failed due to missing dependencies: dkms_b_test.\n"
        )),
        "{}",
        o.stdout
    );
}

#[test]
fn kernel_postinst_and_preinst_follow_autoinstall() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses kernel_postinst/kernel_preinst)");
    // dkms_b_test is built by hand and has AUTOINSTALL="": autoinstall
    // leaves it alone, and so does kernel_preinst.
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, "dkms_a_test", "1.0", "");
        added(sb, "dkms_b_test", "2.0", "AUTOINSTALL=\"\"\n");
    };
    let steps: [&[&str]; 4] = [
        &["build", "-m", "dkms_b_test", "-v", "2.0", "-k", KVER],
        &["kernel_postinst", "-k", KVER],
        &["kernel_preinst", "-k", KVER],
        &["status"],
    ];
    let run = scenario("kernel_postinst, kernel_preinst", &setup, &steps);
    let o = &run.outputs;
    let a = arch();
    let stdout = format!(
        "{NO_SIGNING}{}Autoinstall on {KVER} succeeded for module(s) dkms_a_test.\n",
        autoinstalled("dkms_a_test", "1.0")
    );
    assert_eq!(ose(&o[1]), (0, stdout.as_str(), ""));
    let d = dest_dir("/updates");
    let stdout = format!(
        "Module dkms_a_test/1.0 for kernel {KVER} ({a}):\nBefore uninstall, this module version was ACTIVE on this kernel.\n\
         Deleting <ROOT>/inst/{KVER}{d}/dkms_a_test.ko\nRunning depmod... done.\n"
    );
    let stderr = format!("dkms: removing module dkms_a_test/1.0 for kernel {KVER} ({a})\n");
    assert_eq!(ose(&o[2]), (0, stdout.as_str(), stderr.as_str()));
    assert_eq!(o[3].stdout, format!("dkms_a_test/1.0: added\ndkms_b_test/2.0, {KVER}, {a}: built\n"));
}

#[test]
fn kernel_prerm_unbuilds_everything_for_the_kernel() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses kernel_prerm)");
    let steps: [&[&str]; 3] = [&["autoinstall", "-k", KVER], &["kernel_prerm", "-k", KVER], &["status"]];
    let run = scenario("autoinstall, kernel_prerm", &two_modules, &steps);
    let a = arch();
    let o = &run.outputs[1];
    let d = dest_dir("/updates");
    let unbuilt = |m: &str, v: &str| {
        format!(
            "Module {m}/{v} for kernel {KVER} ({a}):\nBefore uninstall, this module version was ACTIVE on this kernel.\n\
             Deleting <ROOT>/inst/{KVER}{d}/{m}.ko\n\n"
        )
    };
    let stdout = format!("{}{}Running depmod... done.\n", unbuilt("dkms_a_test", "1.0"), unbuilt("dkms_b_test", "2.0"));
    let stderr = format!(
        "dkms: removing module dkms_a_test/1.0 for kernel {KVER} ({a})\ndkms: removing module dkms_b_test/2.0 for kernel {KVER} ({a})\n"
    );
    assert_eq!(ose(o), (0, stdout.as_str(), stderr.as_str()));
    assert!(o.combined.starts_with(&format!(
        "dkms: removing module dkms_a_test/1.0 for kernel {KVER} ({a})\nModule dkms_a_test/1.0"
    )));
    assert_eq!(run.outputs[2].stdout, "dkms_a_test/1.0: added\ndkms_b_test/2.0: added\n");
    assert!(!run.sb.dkms.join("dkms_a_test/1.0").join(KVER).exists());
    assert!(!run.sb.dkms.join("dkms_a_test").join(format!("kernel-{KVER}-{a}")).exists());
    assert!(run.sb.inst.join(KVER).join("build/include").is_dir(), "the headers stay");
}

/// Not upstream: a failed autoinstall is remembered under the DKMS tree;
/// `status --json` shows it as a `failed` record, the text of `status` is
/// upstream's unless framework.conf sets status_show_failures=yes, and a
/// later autoinstall that installs the module forgets it.
#[test]
fn a_failed_autoinstall_is_remembered_until_it_succeeds() {
    skip_unless!(is_root(), "needs root (autoinstall)");
    let mut sb = Sandbox::new();
    world(&sb);
    added(&sb, "dkms_a_test", "1.0", "");
    added(&sb, "dkms_b_test", "2.0", "");
    fail_make(&sb, "dkms_a_test", "1.0");
    assert_eq!(sb.dkms(&["autoinstall", "-k", KVER]).code, 11);
    let a = arch();
    let record = sb.dkms.join(format!(".failures/dkms_a_test/1.0/{KVER}/{a}"));
    assert!(record.join("failure").is_file(), "no record at {}", record.display());
    let json = sb.dkms(&["status", "--json"]).stdout;
    let failure = json.lines().find(|l| l.contains(r#""type":"failed""#)).expect("a failed record");
    assert!(
        failure.contains(&format!(
            r#""module":"dkms_a_test","version":"1.0","kernel":"{KVER}","arch":"{a}","kind":"build-failed","exit_code":10,"#
        )),
        "{failure}"
    );
    assert!(failure.contains(&format!(".failures/dkms_a_test/1.0/{KVER}/{a}/make.log")), "{failure}");
    let text = sb.dkms(&["status"]).stdout;
    assert_eq!(text, format!("dkms_a_test/1.0: added\ndkms_b_test/2.0, {KVER}, {a}: installed\n"));
    sb.write(&sb.sysconf.join("dkms/framework.conf"), &format!("{FRAMEWORK}status_show_failures=yes\n"));
    let text = sb.dkms(&["status", "-k", KVER]).stdout;
    let line = format!(
        "dkms_a_test/1.0, {KVER}, {a}: build failed (build-failed, exit status 10); see: dkms log dkms_a_test/1.0 -k {KVER}\n"
    );
    assert_eq!(text, format!("dkms_a_test/1.0: added\ndkms_b_test/2.0, {KVER}, {a}: installed\n{line}"));
    // Fixed: the next autoinstall installs it and forgets the failure.
    let mf = sb.src.join("dkms_a_test-1.0/Makefile");
    let fixed = fs::read_to_string(&mf).expect("read").replace("#fake-make: fail\n", "");
    fs::write(&mf, fixed).expect("write");
    assert_eq!(sb.dkms(&["autoinstall", "-k", KVER]).code, 0);
    assert!(!record.exists() && !sb.dkms.join(".failures").exists());
    assert!(!sb.dkms(&["status", "--json"]).stdout.contains(r#""type":"failed""#));
}
