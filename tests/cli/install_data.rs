//! The files `make install-debian`/`install-redhat` install from data/: the
//! kernel hooks and the kernel-install plugin run with a fake dkms (they
//! call it right and never fail the kernel package), common.postinst adds,
//! builds and installs a module, and the default framework.conf documents
//! every setting.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A temp dir with a fake `dkms` (and `dkms_autoinstaller`) that log their
/// arguments, and the data/ templates filled in to call them.
struct Hooks {
    dir: tempfile::TempDir,
}

const FAKE: &str = r#"#!/bin/sh
# Log the call; exit with the status in $FAKE_EXIT (default 0), only for
# the verb in $FAKE_VERB when that is set. `status` prints the state kept
# in ./state; `build` and `install` set it.
echo "$(basename "$0") $*" >> "$(dirname "$0")/calls"
state="$(dirname "$0")/state"
case $1 in
status) [ -f "$state" ] && cat "$state" ;;
build) echo "m/1.0, k, x86_64: built" > "$state" ;;
install) echo "m/1.0, k, x86_64: installed" > "$state" ;;
esac
[ -z "$FAKE_VERB" ] || [ "$1" = "$FAKE_VERB" ] || exit 0
exit "${FAKE_EXIT:-0}"
"#;

impl Hooks {
    fn new() -> Hooks {
        let h = Hooks { dir: tempfile::tempdir().expect("temp dir") };
        for name in ["dkms", "dkms_autoinstaller"] {
            h.write(&format!("bin/{name}"), FAKE, 0o755);
        }
        // Our dkms's verbs, which the hooks take as the sign that the dkms
        // they find is ours.
        for verb in ["kernel-preinst", "kernel-postinst", "kernel-prerm"] {
            h.write(&format!("libexec/dkms/dkms-{verb}"), "#!/bin/sh\n", 0o755);
        }
        fs::create_dir_all(h.path("etc/dkms")).expect("mkdir");
        h
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str, mode: u32) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, text).expect("write");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// data/<name>.in with the paths of this sandbox, as make does it.
    fn script(&self, name: &str) -> PathBuf {
        let text = fs::read_to_string(repo().join("data").join(format!("{name}.in"))).expect("read template");
        let bin = self.path("bin").display().to_string();
        let text = text
            .replace("@SBINDIR@", &bin)
            .replace("@LIBDIR@", &bin)
            .replace("@MODDIR@", &self.path("modules").display().to_string())
            .replace("@SYSCONFDIR@", &self.path("etc").display().to_string())
            .replace("@LIBEXECDIR@", &self.path("libexec").display().to_string());
        self.write(name, &text, 0o755);
        self.path(name)
    }

    /// Run a hook with `sh`; (exit status, calls made, stdout+stderr).
    fn run(&self, name: &str, args: &[&str], fake_exit: i32) -> (i32, Vec<String>, String) {
        self.run_failing(name, args, "", fake_exit)
    }

    /// Like `run`, but only `dkms <verb>` exits with `fake_exit`.
    fn run_failing(&self, name: &str, args: &[&str], verb: &str, fake_exit: i32) -> (i32, Vec<String>, String) {
        let _ = fs::remove_file(self.path("bin/calls"));
        let out = Command::new("sh")
            .arg(self.script(name))
            .args(args)
            .env("FAKE_EXIT", fake_exit.to_string())
            .env("FAKE_VERB", verb)
            .output()
            .expect("run sh");
        let calls = fs::read_to_string(self.path("bin/calls")).unwrap_or_default();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), calls.lines().map(String::from).collect(), text)
    }
}

#[test]
fn debian_kernel_hooks_call_dkms_and_never_fail() {
    let h = Hooks::new();
    for fail in [0, 1, 11] {
        assert_eq!(h.run("kernel-postinst", &["6.1.0-9-amd64"], fail).0, 0);
        assert_eq!(h.run("kernel-preinst", &["6.1.0-9-amd64"], fail).0, 0);
        assert_eq!(h.run("kernel-prerm", &["6.1.0-9-amd64"], fail).0, 0);
    }
    assert_eq!(h.run("kernel-postinst", &["6.1"], 0).1, ["dkms_autoinstaller start 6.1"]);
    assert_eq!(h.run("kernel-preinst", &["6.1"], 0).1, ["dkms kernel_preinst -k 6.1"]);
    assert_eq!(h.run("kernel-prerm", &["6.1"], 0).1, ["dkms kernel_prerm -k 6.1"]);
    let (_, _, text) = h.run("kernel-postinst", &["6.1"], 1);
    assert!(text.contains("dkms autoinstall -k 6.1"), "{text}");
    // No kernel: nothing to do.
    assert_eq!(h.run("kernel-prerm", &[], 0), (0, vec![], String::new()));
}

/// framework.conf's kernel_hook_on_failure: "report" (default) exits 0,
/// "fail" exits with the autoinstaller's status as upstream's hook does.
#[test]
fn kernel_postinst_hook_failure_policy() {
    let h = Hooks::new();
    assert_eq!(h.run("kernel-postinst", &["6.1"], 1).0, 0);
    h.write("etc/dkms/framework.conf", "kernel_hook_on_failure=report\n", 0o644);
    assert_eq!(h.run("kernel-postinst", &["6.1"], 1).0, 0);
    h.write("etc/dkms/framework.conf.d/x.conf", "kernel_hook_on_failure=fail\n", 0o644);
    let (code, _, text) = h.run("kernel-postinst", &["6.1"], 1);
    assert_eq!(code, 1, "{text}");
    assert_eq!(h.run("kernel-postinst", &["6.1"], 0).0, 0);
    // A framework.conf sh cannot parse (dkms sources it with bash) leaves
    // the default, and the hook still runs.
    fs::remove_dir_all(h.path("etc/dkms/framework.conf.d")).expect("rm");
    h.write("etc/dkms/framework.conf", "modules=(a b)\n", 0o644);
    let (code, calls, text) = h.run("kernel-postinst", &["6.1"], 1);
    assert_eq!((code, calls), (0, vec!["dkms_autoinstaller start 6.1".to_string()]), "{text}");
}

/// The closing block lists the failure records of the kernel that still
/// count (module registered, not built since), with status and log.
#[test]
fn dkms_failures_lists_the_kernels_failure_records() {
    let h = Hooks::new();
    h.write("etc/dkms/framework.conf", &format!("dkms_tree={}\n", h.path("tree").display()), 0o644);
    assert_eq!(h.run("dkms-failures", &["6.1"], 0), (0, vec![], String::new()));
    // The failure memory's records (dkms_state::failures): a `failure` file
    // and a copy of make.log per module/version/kernel/arch.
    let record = |m: &str, k: &str, log: bool| {
        let dir = format!("tree/.failures/{m}/1.0/{k}/x86_64");
        h.write(&format!("{dir}/failure"), "kind=build-failed\nexit_code=10\ntime=1\ninputs_hash=\n", 0o644);
        if log {
            h.write(&format!("{dir}/make.log"), "log", 0o644);
        }
    };
    for m in ["bad", "gone"] {
        record(m, "6.1", true);
        if m != "gone" {
            fs::create_dir_all(h.path(&format!("tree/{m}/1.0"))).expect("mkdir");
            std::os::unix::fs::symlink("/", h.path(&format!("tree/{m}/1.0/source"))).expect("symlink");
        }
    }
    record("bad", "6.2", false);
    let (code, _, text) = h.run("dkms-failures", &["6.1"], 0);
    assert_eq!(code, 1, "{text}");
    let block: Vec<&str> = text.lines().collect();
    assert_eq!(block.first(), Some(&"======== dkms: FAILED to build/install for kernel 6.1 ========"), "{text}");
    assert_eq!(block.last(), Some(&"======== dkms: end of failures for kernel 6.1 ========"), "{text}");
    let log = h.path("tree/.failures/bad/1.0/6.1/x86_64/make.log");
    assert_eq!(block[1], format!("  bad/1.0 (x86_64): build-failed, exit status 10, log: {}", log.display()), "{text}");
    assert!(!text.contains("gone/") && !text.contains("6.2"), "{text}");
}

/// The hooks stay silent and call nothing when the dkms they find is not
/// ours (Debian's, installed in place of ours, keeps our conffiles around).
#[test]
fn hooks_are_silent_with_another_dkms() {
    let h = Hooks::new();
    fs::remove_dir_all(h.path("libexec")).expect("rm libexec");
    for (hook, args) in [
        ("kernel-preinst", &["6.1"][..]),
        ("kernel-prerm", &["6.1"][..]),
        ("kernel-install", &["add", "6.1", "/boot/vmlinuz-6.1"][..]),
        ("kernel-install", &["remove", "6.1"][..]),
    ] {
        assert_eq!(h.run(hook, args, 1), (0, vec![], String::new()), "{hook}");
    }
}

#[test]
fn kernel_install_plugin_maps_add_and_remove_and_never_exits_77() {
    let h = Hooks::new();
    let (code, calls, _) = h.run("kernel-install", &["add", "6.1", "/boot/vmlinuz-6.1"], 0);
    assert_eq!((code, calls), (0, vec!["dkms kernel_postinst --kernelver 6.1".to_string()]));
    let (code, calls, _) = h.run("kernel-install", &["remove", "6.1"], 0);
    assert_eq!((code, calls), (0, vec!["dkms kernel_prerm --kernelver 6.1".to_string()]));
    for fail in [1, 11, 77] {
        assert_eq!(h.run("kernel-install", &["add", "6.1"], fail).0, 0);
        assert_eq!(h.run("kernel-install", &["remove", "6.1"], fail).0, 0);
    }
    assert_eq!(h.run("kernel-install", &["inspect", "6.1"], 0), (0, vec![], String::new()));
}

#[test]
fn common_postinst_adds_builds_and_installs() {
    let h = Hooks::new();
    let kernel = String::from_utf8(Command::new("uname").arg("-r").output().expect("uname").stdout).expect("utf-8");
    let kernel = kernel.trim();
    fs::create_dir_all(h.path(&format!("modules/{kernel}/build/include"))).expect("mkdir");
    h.write("src/m-1.0/dkms.conf", "PACKAGE_NAME=m\nPACKAGE_VERSION=1.0\nAUTOINSTALL=yes\n", 0o644);
    // What `dkms add` would have made.
    fs::create_dir_all(h.path("tree/m/1.0")).expect("mkdir");
    std::os::unix::fs::symlink(h.path("src/m-1.0"), h.path("tree/m/1.0/source")).expect("symlink");
    h.write(
        "etc/dkms/framework.conf",
        &format!("dkms_tree={}\nsource_tree={}\n", h.path("tree").display(), h.path("src").display()),
        0o644,
    );
    // Registered already: removed first, then added again.
    let (code, calls, text) = h.run("common.postinst", &["m", "1.0", "/nonexistent"], 0);
    assert_eq!(code, 0, "{text}");
    let want = [
        "dkms remove -m m -v 1.0 --all".to_string(),
        "dkms add -m m -v 1.0".to_string(),
        format!("dkms status -m m -v 1.0 -k {kernel}"),
        format!("dkms build -m m -v 1.0 -k {kernel}"),
        format!("dkms status -m m -v 1.0 -k {kernel}"),
        format!("dkms install -m m -v 1.0 -k {kernel}"),
    ];
    assert_eq!(calls, want, "{text}");
    assert!(text.contains(&format!("Building for {kernel}")), "{text}");

    // A build failure is the exit status; 77 (BUILD_EXCLUSIVE) is not.
    let _ = fs::remove_file(h.path("bin/state"));
    assert_eq!(h.run_failing("common.postinst", &["m", "1.0"], "build", 10).0, 10);
    let _ = fs::remove_file(h.path("bin/state"));
    let (code, calls, _) = h.run_failing("common.postinst", &["m", "1.0"], "build", 77);
    assert_eq!(code, 0);
    assert!(!calls.iter().any(|c| c.starts_with("dkms install")), "{calls:?}");
    // A failing add stops it.
    assert_eq!(h.run_failing("common.postinst", &["m", "1.0"], "add", 3).0, 3);
    // Disabled, and usage.
    h.write("etc/dkms/no-autoinstall", "", 0o644);
    assert_eq!(h.run("common.postinst", &["m", "1.0"], 0).1, Vec::<String>::new());
    assert_eq!(h.run("common.postinst", &[], 0).0, 1);
}

#[test]
fn default_framework_conf_documents_every_setting_and_sets_none() {
    let text = fs::read_to_string(repo().join("data/framework.conf")).expect("read data/framework.conf");
    let settings = dkms_state::framework::NONSIGNING.iter().chain(dkms_state::framework::SIGNING.iter());
    for name in settings.chain(["continue_on_error"].iter()) {
        assert!(text.lines().any(|l| l.starts_with(&format!("#{name}="))), "framework.conf lacks #{name}=");
    }
    assert!(text.lines().all(|l| l.is_empty() || l.starts_with('#')), "the default must set nothing");
}

/// `make release` builds where cargo builds (`CARGO_TARGET_DIR`, as
/// `cargo metadata` reports it) with the fat-LTO `dist` profile, and leaves
/// the binaries in `<target dir>/release`; `cargo build --release` stays
/// quick (no fat LTO in the release profile).
#[test]
fn make_release_honours_cargo_target_dir_and_uses_the_dist_profile() {
    let t = tempfile::tempdir().expect("temp dir");
    let t = t.path().display().to_string();
    let out = Command::new("make")
        .args(["-n", "release"])
        .current_dir(repo())
        .env("CARGO_TARGET_DIR", &t)
        .output()
        .expect("run make -n release");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("build --profile dist --bin dkms"), "{text}");
    assert!(text.contains(&format!("ln -f '{t}/dist/dkms' '{t}/release/dkms'")), "{text}");
    assert!(text.contains(&format!("ln -f '{t}/release/dkms' '{t}/release/dkms-status'")), "{text}");
    assert!(!text.contains("target/release"), "{text}");

    let toml = fs::read_to_string(repo().join("Cargo.toml")).expect("read Cargo.toml");
    let section = |name: &str| -> String {
        let start = toml.find(&format!("[profile.{name}]\n")).unwrap_or_else(|| panic!("no [profile.{name}]"));
        let rest = &toml[start + 1..];
        rest[..rest.find("\n[").unwrap_or(rest.len())].to_string()
    };
    assert!(!section("release").contains("lto"), "{}", section("release"));
    let dist = section("dist");
    assert!(dist.contains("inherits = \"release\"") && dist.contains("lto = \"fat\""), "{dist}");
    assert!(dist.contains("codegen-units = 1"), "{dist}");
}
