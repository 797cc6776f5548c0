//! Kernel upgrades under dpkg (root): `kernel_queue` queues only inside a
//! dpkg run of another package with our trigger declared, `kernel_trigger`
//! builds each queued kernel once (waiting for headers, skipping known
//! failures), and `kernel_preinst` under dpkg keeps a build made against
//! the installed headers.

use crate::fake::{Tree, KVER};
use crate::skip::skip_unless;
use crate::support::is_root;
use std::os::unix::fs::PermissionsExt;

const NOHEADERS: &str = "6.1.0-78-noheaders";

fn script(t: &Tree, rel: &str, text: &str) {
    let p = t.path(rel);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A dpkg database declaring our trigger, a `dpkg-trigger` that logs its
/// arguments, and a `make` that counts its runs and fails in a source tree
/// holding a file FAIL.
fn dpkg_world(t: &Tree) {
    std::fs::create_dir_all(t.path("dpkg/info")).unwrap();
    std::fs::write(t.path("dpkg/info/dkms-rs.triggers"), "interest-noawait dkms-rs-kernels\n").unwrap();
    script(t, "bin/dpkg-trigger", &format!("#!/bin/sh\necho \"$*\" >> {}\n", t.path("triggered").display()));
    let make = std::fs::read_to_string(t.path("bin/make")).unwrap();
    let counted = make.replacen(
        "[ -n \"$m\" ] || exit 2\n",
        &format!(
            "[ -n \"$m\" ] || exit 2\necho \"$m\" >> {}\n[ -e \"$m/FAIL\" ] && exit 2\n",
            t.path("makes").display()
        ),
        1,
    );
    script(t, "bin/make", &counted);
    std::fs::create_dir_all(t.path(&format!("modules/{NOHEADERS}/kernel"))).unwrap();
}

fn under_dpkg(t: &Tree, package: &str, args: &[&str]) -> (i32, String, String) {
    let o = t.cmd(args).env("DPKG_MAINTSCRIPT_PACKAGE", package).env("DPKG_ADMINDIR", t.path("dpkg")).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

fn makes(t: &Tree) -> usize {
    std::fs::read_to_string(t.path("makes")).map_or(0, |s| s.lines().count())
}

fn queued(t: &Tree) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(t.path("dkms/.pending-kernels"))
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn kernel_queue_queues_only_inside_dpkg_with_our_trigger() {
    skip_unless!(is_root(), "needs root (the kernel hooks' verbs check for it)");
    let t = Tree::new();
    dpkg_world(&t);
    // Outside dpkg: exit 27, silent, nothing queued or triggered.
    let o = t.cmd(&["kernel_queue", "-k", KVER]).env_remove("DPKG_MAINTSCRIPT_PACKAGE").output().unwrap();
    assert_eq!((o.status.code(), o.stdout.len(), o.stderr.len()), (Some(27), 0, 0));
    // Our own postinst (the trigger running) never queues.
    assert_eq!(under_dpkg(&t, "dkms-rs", &["kernel_queue", "-k", KVER]).0, 27);
    assert!(queued(&t).is_empty() && !t.path("triggered").exists());

    let (code, out, err) = under_dpkg(&t, "linux-image-6.1.0-77-jsontest", &["kernel_queue", "-k", KVER]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("dkms: kernel {KVER}: modules are built once")), "{out}");
    assert_eq!(queued(&t), [KVER]);
    assert_eq!(std::fs::read_to_string(t.path("triggered")).unwrap(), "--no-await dkms-rs-kernels\n");

    // No trigger declared (a `make install`, not our package): not queued.
    std::fs::remove_file(t.path("dpkg/info/dkms-rs.triggers")).unwrap();
    assert_eq!(under_dpkg(&t, "linux-image-x", &["kernel_queue", "-k", NOHEADERS]).0, 27);
    assert_eq!(queued(&t), [KVER]);
}

#[test]
fn kernel_trigger_builds_each_queued_kernel_once_and_waits_for_headers() {
    skip_unless!(is_root(), "needs root (autoinstall checks for it)");
    let t = Tree::new();
    dpkg_world(&t);
    assert_eq!(t.run(&["add", "-m", "dkms_hello", "-v", "1.0"], "").0, 0);
    for k in [KVER, KVER, NOHEADERS] {
        assert_eq!(under_dpkg(&t, "linux-headers-x", &["kernel_queue", "-k", k]).0, 0);
    }
    let (code, out, err) = under_dpkg(&t, "dkms-rs", &["kernel_trigger"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(makes(&t), 1, "one build: {out}");
    assert!(t.path(&format!("modules/{KVER}/updates/dkms/dkms_hello.ko")).exists(), "{out}");
    let waiting: Vec<&str> = out.lines().filter(|l| l.contains(NOHEADERS)).collect();
    assert_eq!(waiting.len(), 1, "{out}");
    assert!(waiting[0].contains(&format!("install linux-headers-{NOHEADERS}")), "{out}");
    assert!(!err.contains("Error"), "{err}");
    assert_eq!(queued(&t), [NOHEADERS], "the kernel without headers stays queued");
    // A second trigger: nothing to build.
    assert_eq!(under_dpkg(&t, "dkms-rs", &["kernel_trigger"]).0, 0);
    assert_eq!(makes(&t), 1);
    // A queue entry that is not a kernel name is dropped, never used.
    std::fs::write(t.path("dkms/.pending-kernels/-x"), "").unwrap();
    let (_, _, err) = under_dpkg(&t, "dkms-rs", &["kernel_trigger"]);
    assert!(err.contains("dropped '-x'"), "{err}");
    assert_eq!(queued(&t), [NOHEADERS]);
}

#[test]
fn a_known_failure_is_built_once_by_the_trigger_and_retried_by_hand() {
    skip_unless!(is_root(), "needs root (autoinstall checks for it)");
    let t = Tree::new();
    dpkg_world(&t);
    t.add_source("broken", "1.0");
    std::fs::write(t.path("src/broken-1.0/FAIL"), "").unwrap();
    assert_eq!(t.run(&["add", "-m", "broken", "-v", "1.0"], "").0, 0);
    let trigger = || {
        assert_eq!(under_dpkg(&t, "linux-image-x", &["kernel_queue", "-k", KVER]).0, 0);
        under_dpkg(&t, "dkms-rs", &["kernel_trigger"])
    };
    let (code, _, err) = trigger();
    assert_eq!((code, makes(&t)), (11, 1), "{err}");
    assert!(err.contains(&format!("======== dkms: FAILED to build/install for kernel {KVER}")), "{err}");
    let (code, out, _) = trigger();
    assert_eq!((code, makes(&t)), (0, 1), "not built again: {out}");
    assert!(out.contains(&format!("dkms log broken/1.0 -k {KVER}")), "{out}");
    assert!(out.contains(&format!("retry with: dkms autoinstall -k {KVER}")), "{out}");
    // By hand: always retried.
    assert_eq!(t.run(&["autoinstall", "-k", KVER], "").0, 11);
    assert_eq!(makes(&t), 2);
    // Changed sources: the trigger builds again.
    std::fs::write(t.path("src/broken-1.0/fix.c"), "").unwrap();
    trigger();
    assert_eq!(makes(&t), 3);
}

#[test]
fn kernel_preinst_under_dpkg_keeps_a_build_made_against_the_installed_headers() {
    skip_unless!(is_root(), "needs root (the kernel hooks' verbs check for it)");
    let t = Tree::new();
    dpkg_world(&t);
    let headers = t.path(&format!("modules/{KVER}/build"));
    std::fs::create_dir_all(headers.join("include/generated")).unwrap();
    std::fs::write(headers.join("include/generated/utsrelease.h"), format!("#define UTS_RELEASE \"{KVER}\"\n"))
        .unwrap();
    std::fs::write(headers.join(".config"), "CONFIG_MODULES=y\n").unwrap();
    std::fs::write(headers.join("Module.symvers"), "a\n").unwrap();
    assert_eq!(t.run(&["install", "-m", "dkms_hello", "-v", "1.0", "-k", KVER], "").0, 0);
    let built = t.path(&format!("dkms/dkms_hello/1.0/{KVER}"));
    let (code, _, err) = under_dpkg(&t, "linux-image-x", &["kernel_preinst", "-k", KVER]);
    assert_eq!(code, 0);
    assert!(err.contains("dkms: keeping module dkms_hello/1.0"), "{err}");
    assert!(built.exists());
    // Other headers (an upgrade of the same release): unbuilt, as today.
    std::fs::write(t.path(&format!("modules/{KVER}/build/Module.symvers")), "b\n").unwrap();
    let (_, _, err) = under_dpkg(&t, "linux-image-x", &["kernel_preinst", "-k", KVER]);
    assert!(err.contains("dkms: removing module dkms_hello/1.0"), "{err}");
    assert!(!built.exists());
    // Outside dpkg upstream's behaviour: always unbuilt.
    assert_eq!(t.run(&["install", "-m", "dkms_hello", "-v", "1.0", "-k", KVER], "").0, 0);
    let o = t.cmd(&["kernel_preinst", "-k", KVER]).env_remove("DPKG_MAINTSCRIPT_PACKAGE").output();
    assert_eq!(o.unwrap().status.code(), Some(0));
    assert!(!built.exists());
}

/// What dkms-rs keeps beside the tree goes with what it describes: a
/// build's header stamp with its unbuild, a version's failure memory and
/// stamps with its removal (a version added again starts afresh), and the
/// directories they leave empty (no root needed).
#[test]
fn stamps_and_failure_memory_go_with_their_build_and_version() {
    let t = Tree::new();
    let a = crate::support::arch();
    t.add_source("mod_a", "1.0");
    let (code, _, err) = t.run(&["build", "mod_a/1.0", "-k", KVER], "");
    assert_eq!(code, 0, "{err}");
    let stamp = t.path(&format!("dkms/.cache/headers/mod_a/1.0/{KVER}/{a}"));
    assert!(stamp.is_file(), "the build records its headers");
    let (code, _, err) = t.run(&["unbuild", "mod_a/1.0", "-k", KVER], "");
    assert_eq!(code, 0, "{err}");
    assert!(!t.path("dkms/.cache/headers").exists(), "the unbuild drops the stamp and the empty directories");

    t.add_failing_source("broke", "1.0");
    assert_eq!(t.run(&["add", "broke/1.0"], "").0, 0);
    assert_ne!(t.run(&["build", "broke/1.0", "-k", KVER], "").0, 0);
    assert!(t.path(&format!("dkms/.failures/broke/1.0/{KVER}/{a}/failure")).is_file());
    let (code, _, err) = t.run(&["remove", "broke/1.0", "--all"], "");
    assert_eq!(code, 0, "{err}");
    assert!(!t.path("dkms/.failures").exists(), "the removal forgets the version's failures");
    assert_eq!(t.run(&["add", "broke/1.0"], "").0, 0);
    let (_, status, _) = t.run(&["status", "--json"], "");
    assert!(!status.contains(r#""type":"failed""#), "{status}");
}
