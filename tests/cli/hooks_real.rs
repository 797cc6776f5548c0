//! The kernel hooks with real builds against the installed headers (root):
//! the postinst.d hook run the way the kernel packages run it
//! (`run-parts --report`, its output into one pipe as under apt) keeps each
//! module's text under its own heading; the dpkg trigger's autoinstall
//! holds a shutdown inhibitor while it builds where logind runs, and none
//! where it does not; on the 0x0 pseudo-terminal apt gives maintainer
//! scripts when its output is a pipe, no live status lines. Skipped,
//! saying so, without gcc, headers or root.

use crate::progress::{ready, setup};
use crate::skip::{skip, skip_unless};
use crate::support::{have, is_root, ours, Sandbox};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn write_exec(p: &Path, text: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The sandbox's trees in its framework.conf (the hooks' scripts read
/// dkms_tree there; dkms run by them gets no tree options).
fn trees_in_framework_conf(sb: &Sandbox) {
    let conf = sb.sysconf.join("dkms/framework.conf");
    let mut text = fs::read_to_string(&conf).unwrap_or_default();
    text.push_str(&format!(
        "dkms_tree=\"{}\"\nsource_tree=\"{}\"\ninstall_tree=\"{}\"\n",
        sb.dkms.display(),
        sb.src.display(),
        sb.inst.display()
    ));
    sb.write(&conf, &text);
}

/// data/<name>.in filled in as `make install-debian` does, with this
/// sandbox's paths: dkms is ours (linked into `<root>/sbin`), the
/// autoinstaller and dkms-failures sit in `<root>/lib`. Written to `dest`.
fn install_template(sb: &Sandbox, name: &str, dest: &Path) {
    let text = fs::read_to_string(repo().join("data").join(format!("{name}.in"))).unwrap();
    let text = text
        .replace("@SBINDIR@", &sb.root.join("sbin").display().to_string())
        .replace("@LIBDIR@", &sb.root.join("lib").display().to_string())
        .replace("@LIBEXECDIR@", &sb.root.join("libexec").display().to_string())
        .replace("@MODDIR@", &sb.inst.display().to_string())
        .replace("@SYSCONFDIR@", &sb.sysconf.display().to_string());
    write_exec(dest, &text);
}

/// The installed hooks: `<root>/postinst.d/dkms`, the autoinstaller and
/// dkms-failures it calls, ours as `dkms` on PATH (`sb.bin`).
fn install_hooks(sb: &Sandbox) -> PathBuf {
    fs::create_dir_all(sb.root.join("sbin")).unwrap();
    std::os::unix::fs::symlink(ours(), sb.root.join("sbin/dkms")).unwrap();
    std::os::unix::fs::symlink(ours(), sb.bin.join("dkms")).unwrap();
    install_template(sb, "dkms_autoinstaller", &sb.root.join("lib/dkms_autoinstaller"));
    install_template(sb, "dkms-failures", &sb.root.join("lib/dkms-failures"));
    install_template(sb, "kernel-postinst", &sb.root.join("postinst.d/dkms"));
    sb.root.join("postinst.d")
}

/// A command with the sandbox's environment (as `Sandbox` runs dkms), not
/// under dpkg.
fn command(sb: &Sandbox, program: &str) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("DKMS_") || k.starts_with("DPKG_") {
            c.env_remove(&k);
        }
    }
    let mut path = sb.bin.clone().into_os_string();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    c.env("PATH", path).env("LC_ALL", "C").env("TMPDIR", &sb.tmp).env("DKMS_SYSCONFDIR", &sb.sysconf);
    c.current_dir(&sb.work).stdin(std::process::Stdio::null());
    c
}

/// Real modules `names`, added; those in `failing` fail to compile.
fn modules(sb: &mut Sandbox, names: &[&str], failing: &[&str], before: &str) {
    for m in names {
        crate::support::kbuild_module(sb, m, "AUTOINSTALL=yes\n", before, "");
        if failing.contains(m) {
            let c = sb.src.join(format!("{m}-1.0/{m}.c"));
            let text = fs::read_to_string(&c).unwrap() + "this is not C;\n";
            sb.write(&c, &text);
        }
        let out = sb.dkms(&["add", &format!("{m}/1.0")]);
        assert_eq!(out.code, 0, "{}", out.combined);
    }
}

/// Each module's block of an autoinstall's output (from its "Autoinstall
/// of module" heading to the next): (module, text).
fn blocks(out: &str) -> Vec<(String, String)> {
    out.split("\nAutoinstall of module ")
        .skip(1)
        .map(|b| (b.split('/').next().unwrap_or_default().to_string(), b.to_string()))
        .collect()
}

/// Six real modules, the second and the fifth failing to compile, built by
/// the postinst.d hook run as the kernel packages run it: `run-parts
/// --report`, which relays a hook's stdout and stderr through two pipes of
/// its own, into one pipe (as apt gives it). Each failure's `Error!` and
/// `Consult` lines are under its own heading, nothing else has any.
#[test]
fn hook_output_through_run_parts_keeps_each_module_under_its_heading() {
    skip_unless!(is_root(), "needs root (autoinstall checks for it)");
    skip_unless!(have("run-parts"), "needs run-parts (debianutils), which runs the kernel packages' hooks");
    let Some(k) = ready() else { return };
    let mut sb = setup(&k);
    trees_in_framework_conf(&sb);
    let names = ["hookout_a", "hookout_b", "hookout_c", "hookout_d", "hookout_e", "hookout_f"];
    let failing = ["hookout_b", "hookout_e"];
    modules(&mut sb, &names, &failing, "");
    let dir = install_hooks(&sb);
    let mut c = command(&sb, "bash");
    c.args(["-c", "set -o pipefail; run-parts --report --arg=\"$1\" \"$2\" 2>&1 | cat", "bash", &k]).arg(&dir);
    let o = c.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "the hook never fails the kernel package (report):\n{out}");
    let blocks = blocks(&out);
    assert_eq!(blocks.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(), names, "{out}");
    for (m, text) in &blocks {
        let errors = text.matches("Error! Bad return status").count();
        let consult = text.matches(&format!("Consult {}/{m}/1.0/build/make.log", sb.dkms.display())).count();
        let want = usize::from(failing.contains(&m.as_str()));
        assert_eq!((errors, consult), (want, want), "{m}'s block:\n{text}\n--- the whole output:\n{out}");
    }
    // The closing block comes after every module's text.
    let close = out.find("======== dkms: FAILED to build/install").unwrap_or_else(|| panic!("{out}"));
    assert!(close > out.rfind("Autoinstall of module").unwrap(), "{out}");
}

/// The shutdown inhibitor, through a stand-in `systemd-inhibit` on PATH that
/// records its arguments and holds a marker file while its command runs.
const INHIBIT: &str = r#"#!/bin/sh
# Stand-in for systemd-inhibit (logind cannot run here): record the
# arguments, mark the lock held while the command after the options runs.
echo "$*" >> @ROOT@/inhibit.args
touch @ROOT@/inhibit.held
while [ $# -gt 0 ]; do case $1 in --*) shift ;; *) break ;; esac; done
"$@"
rm -f @ROOT@/inhibit.held
"#;

/// A module whose build notes whether the inhibitor was held when make
/// ran (waiting a moment for the stand-in, started just before, to mark it).
fn noting_build(sb: &mut Sandbox) {
    let held = sb.root.join("inhibit.held").display().to_string();
    let log = sb.root.join("build.log").display().to_string();
    let before = format!(
        "\tfor i in $$(seq 50); do test -e {held} && break; sleep 0.1; done; \
         if test -e {held}; then echo held >> {log}; else echo not-held >> {log}; fi\n"
    );
    modules(sb, &["inhibited"], &[], &before);
    write_exec(&sb.bin.join("systemd-inhibit"), &INHIBIT.replace("@ROOT@", &sb.root.display().to_string()));
}

/// `dkms kernel_trigger` for the queued kernel, in a private mount
/// namespace whose `/run/systemd` is an empty tmpfs holding `dirs` (the
/// stand-in for logind's runtime state; the host's is not touched).
fn trigger_with_run_systemd(sb: &Sandbox, k: &str, dirs: &str) -> std::process::Output {
    queue(sb, k);
    let mut c = command(sb, "unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "set -e; d=/run/systemd; [ -d $d ] || d=/run; mount -t tmpfs dkms-test $d; \
             for x in $1; do mkdir -p /run/systemd/$x; done; shift; exec \"$@\"",
        )
        .args(["sh", dirs])
        .arg(ours())
        .args(["kernel_trigger"])
        .args(sb.tree_args())
        .env("DPKG_MAINTSCRIPT_PACKAGE", "dkms-rs");
    c.output().unwrap()
}

/// Queue `k` for the trigger, as `kernel_queue` does under dpkg.
fn queue(sb: &Sandbox, k: &str) {
    sb.write(&sb.dkms.join(".pending-kernels").join(k), &format!("{k}\n"));
}

/// Where logind runs (systemd booted, `/run/systemd/seats` there: what
/// systemd's own `sd_booted()` and `logind_running()` test), the trigger
/// holds `systemd-inhibit --what=shutdown:sleep --who=dkms` while the
/// module builds; without logind (no seats, or not booted with systemd,
/// as in a container that only has the directories) it runs none and
/// still builds. logind cannot run here: its runtime directories are a
/// stand-in in a private mount namespace, and `systemd-inhibit` a stand-in
/// that records its arguments.
#[test]
fn trigger_holds_a_shutdown_inhibitor_only_where_logind_runs() {
    skip_unless!(is_root(), "needs root (autoinstall and the mount namespace)");
    if !have("unshare") {
        skip("needs unshare (util-linux) for the stand-in /run/systemd");
        return;
    }
    let Some(k) = ready() else { return };
    let mut sb = setup(&k);
    noting_build(&mut sb);
    let args = sb.root.join("inhibit.args");
    let built = sb.inst.join(&k).join("updates/dkms/inhibited.ko");

    let o = trigger_with_run_systemd(&sb, &k, "system seats");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(built.exists(), "{text}");
    assert_eq!(
        fs::read_to_string(&args).unwrap_or_default(),
        format!("--what=shutdown:sleep --who=dkms --mode=block --why=building kernel modules for {k} cat\n"),
        "{text}"
    );
    assert_eq!(fs::read_to_string(sb.root.join("build.log")).unwrap_or_default(), "held\n", "{text}");
    assert!(!sb.root.join("inhibit.held").exists(), "released when the trigger is done");

    // No logind: no seats, or seats left in a system not booted with systemd.
    for dirs in ["", "seats"] {
        let _ = fs::remove_file(&args);
        fs::remove_file(sb.root.join("build.log")).unwrap();
        assert_eq!(sb.dkms(&["unbuild", "inhibited/1.0", "-k", &k]).code, 0);
        let o = trigger_with_run_systemd(&sb, &k, dirs);
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert_eq!(o.status.code(), Some(0), "{dirs:?}: {text}");
        assert!(built.exists(), "{dirs:?}: {text}");
        assert!(!args.exists(), "{dirs:?}: an inhibitor without logind: {text}");
        assert_eq!(fs::read_to_string(sb.root.join("build.log")).unwrap_or_default(), "not-held\n", "{dirs:?}");
    }
}

/// Under apt whose output goes to a pipe or a file, dpkg's maintainer
/// scripts get a pseudo-terminal of size 0x0 (`script` with no terminal
/// gives the same): no live status lines are drawn there, the text is
/// upstream's with its dots, with no escape sequences in the log.
#[test]
fn no_live_lines_on_a_terminal_of_no_size() {
    skip_unless!(have("script"), "needs script (bsdutils) for a pseudo-terminal");
    let Some(k) = ready() else { return };
    let mut sb = setup(&k);
    modules(&mut sb, &["nosize"], &[], "\tsleep 2\n");
    let mut line = format!("stty size; exec {}", ours().display());
    for a in ["build", "nosize/1.0", "-k", &k].iter().map(|s| s.to_string()).chain(sb.tree_args()) {
        line.push_str(&format!(" '{a}'"));
    }
    let o = command(&sb, "script").args(["-qec", &line, "/dev/null"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.starts_with("0 0\n"), "not a terminal of no size: {out}");
    assert!(!out.contains('\x1b'), "live lines drawn: {out:?}");
    assert!(out.contains("Building module(s)...") && out.contains(" done.\n"), "{out}");
}
