//! The build sandbox (`build_sandbox`, not in upstream dkms), with real
//! kernel builds against the installed headers: a hostile Makefile's
//! attempts (writing /etc, /root and the signing key's directory, reading
//! the MOK key, opening a socket) all fail inside the build and change
//! nothing outside build/, while the module still builds; a normal module
//! builds and installs to the same bytes as unconfined; a tarball's
//! dkms.conf that runs `$(touch ...)` creates nothing; `yes` without a
//! usable sandbox is exit 78, `auto` builds unconfined with a notice.
//! Needs root (dkms drops to its sandbox uid with setpriv), bwrap and
//! kernel headers; skipped otherwise (never under CI, which has them).

use crate::progress::kernel;
use crate::skip::skip_unless;
use crate::support::{arch, have, is_root, Sandbox};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Root, bwrap, setpriv, gcc and headers: what a confined real build needs.
fn ready() -> Option<String> {
    if !(is_root() && have("bwrap") && have("setpriv") && have("gcc")) {
        return None;
    }
    let ok = Command::new("bwrap").args(["--ro-bind", "/", "/", "--unshare-net", "true"]).status();
    if !ok.is_ok_and(|s| s.success()) {
        return None;
    }
    kernel()
}

const WHY: &str = "needs root, bwrap (bubblewrap), setpriv, gcc and kernel headers";

/// A sandbox whose install tree points at the host's headers for `k`, with
/// `settings` in framework.conf and a MOK key pair in `<root>/keys`.
fn setup(k: &str, settings: &str) -> Sandbox {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.inst.join(k)).unwrap();
    std::os::unix::fs::symlink(
        fs::canonicalize(format!("/lib/modules/{k}/build")).unwrap(),
        sb.inst.join(k).join("build"),
    )
    .unwrap();
    let keys = sb.root.join("keys");
    fs::create_dir_all(&keys).unwrap();
    let st = Command::new("openssl")
        .args(["req", "-new", "-x509", "-nodes", "-days", "36500", "-subj", "/CN=dkms sandbox test/"])
        .args(["-newkey", "rsa:2048", "-outform", "DER"])
        .arg("-keyout")
        .arg(keys.join("mok.key"))
        .arg("-out")
        .arg(keys.join("mok.pub"))
        .output()
        .unwrap();
    assert!(st.status.success(), "openssl: {}", String::from_utf8_lossy(&st.stderr));
    let conf = format!("mok_signing_key={k}/mok.key\nmok_certificate={k}/mok.pub\n{settings}", k = keys.display());
    sb.write(&sb.sysconf.join("dkms/framework.conf"), &conf);
    sb
}

/// A real one-file module `m` in the source tree built by dkms's default
/// MAKE (`make -C <kernel_source_dir> M=...`, through the install tree's
/// `build` link, which is under the sandbox's private /tmp here).
fn plain_module(sb: &Sandbox, m: &str) {
    module(sb, m, "");
    let dir = sb.src.join(format!("{m}-1.0"));
    let conf = fs::read_to_string(dir.join("dkms.conf")).unwrap();
    let conf: String = conf.lines().filter(|l| !l.starts_with("MAKE[0]")).map(|l| format!("{l}\n")).collect();
    sb.write(&dir.join("dkms.conf"), &conf);
    sb.write(&dir.join("Makefile"), &format!("obj-m := {m}.o\n"));
}

/// A real one-file module `m` in the source tree, with `all:` running
/// `pre` before kbuild.
fn module(sb: &Sandbox, m: &str, pre: &str) {
    crate::support::kbuild_module(sb, m, "", pre, "");
}

/// (size, mtime, mode, uid) of every entry under the roots, not following
/// symlinks; `skip` prefixes are left out.
fn snapshot(roots: &[&Path], skip: &[PathBuf]) -> BTreeMap<PathBuf, (u64, i64, u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut todo: Vec<PathBuf> = roots.iter().map(|p| p.to_path_buf()).collect();
    while let Some(p) = todo.pop() {
        if skip.iter().any(|s| p.starts_with(s)) {
            continue;
        }
        let Ok(m) = fs::symlink_metadata(&p) else { continue };
        if m.is_dir() {
            todo.extend(fs::read_dir(&p).into_iter().flatten().flatten().map(|e| e.path()));
        }
        out.insert(p, (m.size(), m.mtime(), m.mode(), m.uid()));
    }
    out
}

/// The names in a directory.
fn names(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The attempts of the hostile Makefile: each prints `BLOCKED <what>` when
/// it fails and `ESCAPED <what>` when it works.
fn attempts(sb: &Sandbox, port: u16) -> String {
    let keys = sb.root.join("keys");
    let tries = [
        ("etc", "touch /etc/dkms-pwned".to_string()),
        ("root", "touch /root/x".to_string()),
        ("keydir", format!("touch {}/planted", keys.display())),
        ("key", format!("cat {}/mok.key", keys.display())),
        ("net", "python3 -c 'import socket; socket.create_connection((\"1.1.1.1\",53),2)'".to_string()),
        ("loopback", format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'")),
        ("tree", format!("touch {}/planted", sb.dkms.display())),
    ];
    tries
        .iter()
        .map(|(what, cmd)| {
            format!("\t@if {cmd} >/dev/null 2>&1; then echo 'ESCAPED {what}'; else echo 'BLOCKED {what}'; fi\n")
        })
        .collect()
}

fn make_log(sb: &Sandbox, m: &str, k: &str) -> String {
    fs::read_to_string(sb.dkms.join(m).join("1.0").join(k).join(arch()).join("log/make.log")).unwrap_or_default()
}

#[test]
fn hostile_makefile_is_contained_and_still_builds() {
    let k = ready();
    skip_unless!(k.is_some(), WHY);
    let k = k.unwrap();
    // A listener on the host's loopback: reachable unconfined, not from the
    // sandbox's own network namespace.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut sb = setup(&k, "build_sandbox=yes\n");
    module(&sb, "dkms_hostile_test", &attempts(&sb, port));
    let mdir = sb.dkms.join("dkms_hostile_test");
    // dkms itself writes its tree and TMPDIR; /etc and /root are checked
    // by name (other processes on the machine may change them).
    let skip = [sb.dkms.clone(), sb.tmp.clone()];
    let before = (snapshot(&[sb.root.as_path()], &skip), names("/etc"), names("/root"));
    let out = sb.dkms(&["build", "dkms_hostile_test/1.0", "-k", &k]);
    assert_eq!(out.code, 0, "{out:?}");
    let log = make_log(&sb, "dkms_hostile_test", &k);
    for what in ["etc", "root", "keydir", "key", "net", "loopback", "tree"] {
        assert!(log.contains(&format!("BLOCKED {what}\n")), "{what} not blocked:\n{log}");
    }
    assert!(!log.contains("ESCAPED"), "{log}");
    assert!(mdir.join("1.0").join(&k).join(arch()).join("module/dkms_hostile_test.ko").is_file());
    let after = (snapshot(&[sb.root.as_path()], &skip), names("/etc"), names("/root"));
    assert_eq!(before, after, "something outside build/ changed");
    assert!(!Path::new("/etc/dkms-pwned").exists() && !Path::new("/root/x").exists());
    assert!(!sb.dkms.join("planted").exists() && !sb.root.join("keys/planted").exists());

    // The same Makefile unconfined: the checks above can fail (only the
    // attempts on the test's own files and loopback are made).
    let mut control = setup(&k, "build_sandbox=no\n");
    let keys = control.root.join("keys");
    let tries = format!(
        "\t@if cat {k}/mok.key >/dev/null; then echo 'ESCAPED key'; fi\n\t@if touch {k}/planted; then echo 'ESCAPED keydir'; fi\n\
         \t@if bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'; then echo 'ESCAPED loopback'; fi\n",
        k = keys.display()
    );
    module(&control, "dkms_hostile_test", &tries);
    let out = control.dkms(&["build", "dkms_hostile_test/1.0", "-k", &k]);
    assert_eq!(out.code, 0, "{out:?}");
    let log = make_log(&control, "dkms_hostile_test", &k);
    for what in ["key", "keydir", "loopback"] {
        assert!(log.contains(&format!("ESCAPED {what}\n")), "unconfined {what} did not escape:\n{log}");
    }
    drop(listener);
}

/// What a build left: the .ko bytes and the make.log lines kbuild printed.
fn built_bytes(sb: &Sandbox, m: &str, k: &str) -> Vec<u8> {
    fs::read(sb.dkms.join(m).join("1.0").join(k).join(arch()).join(format!("module/{m}.ko"))).unwrap()
}

#[test]
fn confined_build_and_install_match_unconfined() {
    let k = ready();
    skip_unless!(k.is_some(), WHY);
    let k = k.unwrap();
    let mut sb = setup(&k, "");
    let m = "dkms_same_test";
    plain_module(&sb, m);
    let installed = sb.inst.join(&k).join("updates/dkms").join(format!("{m}.ko"));
    let mut runs = Vec::new();
    for setting in ["no", "yes"] {
        let flag = format!("--build-sandbox={setting}");
        let out = sb.dkms(&["add", &format!("{m}/1.0")]);
        assert_eq!(out.code, 0, "{out:?}");
        let out = sb.dkms(&["install", &format!("{m}/1.0"), "-k", &k, &flag]);
        assert_eq!(out.code, 0, "{setting}: {out:?}");
        let log = make_log(&sb, m, &k);
        let kbuild: Vec<String> =
            log.lines().filter(|l| l.starts_with("  ") || l.starts_with("make")).map(String::from).collect();
        runs.push((built_bytes(&sb, m, &k), fs::read(&installed).unwrap(), kbuild, out.stdout));
        let out = sb.dkms(&["remove", &format!("{m}/1.0"), "--all"]);
        assert_eq!(out.code, 0, "{out:?}");
    }
    let (no, yes) = (&runs[0], &runs[1]);
    assert!(no.0 == yes.0, "built .ko differs between build_sandbox=no and yes");
    assert!(no.1 == yes.1, "installed .ko differs between build_sandbox=no and yes");
    assert_eq!(no.2, yes.2, "make.log's kbuild lines differ");
    assert_eq!(no.3, yes.3, "stdout differs");
    // Everything in the tree is root's again.
    let stray: Vec<_> = snapshot(&[sb.root.as_path()], &[]).into_iter().filter(|(_, v)| v.3 != 0).collect();
    assert!(stray.is_empty(), "not owned by root: {stray:?}");
}

/// A tarball (not made by mktarball) whose dkms.conf runs commands.
fn evil_tarball(sb: &Sandbox, marker: &Path, etc: bool) -> PathBuf {
    let etc = if etc { "Y=$(touch /etc/dkms-conf-pwned)\n" } else { "" };
    let dir = sb.work.join("evil-1.0");
    sb.write(
        &dir.join("dkms.conf"),
        &format!(
            "PACKAGE_NAME=dkms_evil_test\nPACKAGE_VERSION=1.0\nX=$(touch {})\n{etc}\
             BUILT_MODULE_NAME[0]=dkms_evil_test\nDEST_MODULE_LOCATION[0]=/updates\n",
            marker.display()
        ),
    );
    sb.write(&dir.join("Makefile"), "obj-m := dkms_evil_test.o\n");
    let tgz = sb.work.join("evil.tar.gz");
    let st = Command::new("tar").arg("-C").arg(&sb.work).arg("-czf").arg(&tgz).arg("evil-1.0").status().unwrap();
    assert!(st.success());
    tgz
}

#[test]
fn tarball_conf_runs_confined_or_warns() {
    let k = ready();
    skip_unless!(k.is_some(), WHY);
    let mut sb = setup(&k.unwrap(), "build_sandbox=yes\n");
    let marker = sb.root.join("pwned-by-conf");
    let tgz = evil_tarball(&sb, &marker, true);
    let skip = [sb.dkms.clone(), sb.src.clone(), sb.tmp.clone()];
    let before = (snapshot(&[sb.root.as_path()], &skip), names("/etc"));
    let out = sb.dkms(&["ldtarball", &tgz.display().to_string()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(sb.dkms.join("dkms_evil_test/1.0/source").exists(), "not loaded: {out:?}");
    assert!(!marker.exists() && !Path::new("/etc/dkms-conf-pwned").exists());
    assert_eq!(before, (snapshot(&[sb.root.as_path()], &skip), names("/etc")));
    assert!(!out.stderr.contains("shell code"), "{out:?}");

    // Unconfined: the conf runs as root, after a warning.
    let mut sb = setup(&kernel().unwrap(), "");
    let marker = sb.root.join("pwned-by-conf");
    let tgz = evil_tarball(&sb, &marker, false);
    let out = sb.dkms(&["ldtarball", &tgz.display().to_string()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(marker.exists(), "the control conf did not run");
    let warned = out.stderr.lines().filter(|l| l.contains("is shell code; bash runs it as root")).count();
    assert_eq!(warned, 1, "{out:?}");
}

#[test]
fn yes_without_sandbox_fails_auto_builds_with_notice() {
    let k = ready();
    skip_unless!(k.is_some(), WHY);
    let k = k.unwrap();
    let mut sb = setup(&k, "build_sandbox=yes\n");
    // A bwrap that cannot make a sandbox, first in PATH.
    sb.write(&sb.bin.join("bwrap"), "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(sb.bin.join("bwrap"), fs::Permissions::from_mode(0o755)).unwrap();
    module(&sb, "dkms_nosbx_test", "");
    let out = sb.dkms(&["build", "dkms_nosbx_test/1.0", "-k", &k]);
    assert_eq!(out.code, 78, "{out:?}");
    assert!(out.stderr.contains("build sandbox is unavailable: bwrap cannot make a sandbox here"), "{out:?}");
    assert!(!sb.dkms.join("dkms_nosbx_test/1.0").join(&k).exists(), "built anyway");
    let json = sb.dkms(&["build", "dkms_nosbx_test/1.0", "-k", &k, "--json"]);
    assert!(
        json.stdout.contains("\"kind\":\"sandbox-unavailable\"") && json.stdout.contains("apt-get install bubblewrap")
    );
    let out = sb.dkms(&["build", "dkms_nosbx_test/1.0", "-k", &k, "--build-sandbox=auto"]);
    assert_eq!(out.code, 0, "{out:?}");
    let notices = out.stderr.lines().filter(|l| l.contains("build_sandbox=auto")).count();
    assert_eq!(notices, 1, "{out:?}");
}

#[test]
fn patches_and_build_scripts_run_confined() {
    let k = ready();
    skip_unless!(k.is_some(), WHY);
    let k = k.unwrap();
    let mut sb = setup(&k, "build_sandbox=yes\n");
    let m = "dkms_steps_test";
    module(&sb, m, "");
    let dir = sb.src.join(format!("{m}-1.0"));
    let conf = fs::read_to_string(dir.join("dkms.conf")).unwrap();
    let steps = "PATCH[0]=fix.patch\nPRE_BUILD=pre.sh\nPOST_BUILD=post.sh\n";
    sb.write(&dir.join("dkms.conf"), &format!("{conf}{steps}"));
    sb.write(
        &dir.join("patches/fix.patch"),
        &format!("--- a/{m}.c\n+++ b/{m}.c\n@@ -1 +1,2 @@\n #include <linux/module.h>\n+/* patched */\n"),
    );
    let script = |name: &str| {
        format!(
            "#!/bin/sh\necho \"{name} uid=$(id -u) net=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' ')\"\n\
             touch /etc/dkms-{name}-pwned 2>/dev/null && echo ESCAPED || echo BLOCKED\n"
        )
    };
    use std::os::unix::fs::PermissionsExt;
    for name in ["pre", "post"] {
        sb.write(&dir.join(format!("{name}.sh")), &script(name));
        fs::set_permissions(dir.join(format!("{name}.sh")), fs::Permissions::from_mode(0o755)).unwrap();
    }
    // A read-only source (as upstream's test suite has it): root could
    // write into its copy, so the sandbox uid must be able to as well.
    let st = Command::new("chmod").arg("-R").arg("a-w").arg(&dir).status().unwrap();
    assert!(st.success());
    let out = sb.dkms(&["build", &format!("{m}/1.0"), "-k", &k]);
    assert_eq!(out.code, 0, "{out:?}");
    let log = make_log(&sb, m, &k);
    assert!(log.contains("patching file"), "{log}");
    for name in ["pre", "post"] {
        let line = log.lines().find(|l| l.starts_with(&format!("{name} uid="))).unwrap_or_else(|| panic!("{log}"));
        assert!(!line.starts_with(&format!("{name} uid=0 ")), "{name} ran as root: {line}");
        assert!(line.ends_with("net=lo "), "{name} sees more network than lo: {line}");
    }
    assert!(!log.contains("ESCAPED") && log.matches("BLOCKED").count() == 2, "{log}");
    // The patch went into the module that was built.
    let built = sb.dkms.join(m).join("1.0").join(&k).join(arch()).join(format!("module/{m}.ko"));
    assert!(built.is_file());
}

/// Root, bwrap and setpriv: what a confined fake build needs (no headers).
fn ready_fake() -> bool {
    is_root()
        && have("bwrap")
        && have("setpriv")
        && Command::new("bwrap")
            .args(["--ro-bind", "/", "/", "--unshare-net", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

/// Every file under `roots` (not following links) whose bytes hold `needle`.
fn files_holding(roots: &[&Path], needle: &[u8]) -> Vec<PathBuf> {
    snapshot(roots, &[])
        .into_keys()
        .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .filter(|p| fs::read(p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)))
        .collect()
}

/// Issue 24, defect 2: a MAKE or POST_BUILD that leaves a link (or a hard
/// link) where dkms takes its products — the module, Module.symvers,
/// make.log — does not get the file it names read by dkms: confined or
/// not, the build fails with `product-refused` (exit 7) and the secret is
/// in no file of the DKMS and install trees (the failure memory included),
/// nor in `dkms log`'s output; a make.log link shipped in the source is not
/// written through.
#[test]
fn linked_build_products_are_refused_and_never_read() {
    skip_unless!(ready_fake(), "needs root, bwrap (bubblewrap) and setpriv");
    const K: &str = "6.1.0-77-productstest";
    const SECRET: &str = "SECRET-MOK-KEY-BYTES";
    let fake_ko = "printf 'fake module\\n' > dkms_link_test.ko";
    let refused = "Build refused for";
    let cases: [(&str, String, &str, i32, &str); 7] = [
        ("module link", "ln -s @SECRET@ dkms_link_test.ko".into(), "", 7, refused),
        ("module hard link", "ln dkms.conf dkms_link_test.ko".into(), "", 7, refused),
        ("dir link", "ln -s @DIR@ sub".into(), "BUILT_MODULE_LOCATION[0]=sub/\n", 7, refused),
        ("symvers link", format!("{fake_ko}; ln -s @SECRET@ Module.symvers"), "", 7, refused),
        ("make.log link", fake_ko.into(), "POST_BUILD=post.sh\n", 7, refused),
        ("failed make's log link", "ln -sf @SECRET@ make.log; exit 1".into(), "", 10, "Bad return status"),
        ("source's make.log link", fake_ko.into(), "", 0, ""),
    ];
    for sandbox in ["yes", "no"] {
        for (what, make, extra, code, says) in &cases {
            let mut sb = Sandbox::new();
            let keys = sb.root.join("keys");
            sb.write(&keys.join("secret.key"), &format!("{SECRET}\n"));
            sb.write(&keys.join("dkms_link_test.ko"), &format!("{SECRET}\n"));
            let b = sb.inst.join(K).join("build");
            sb.write(&b.join("include/generated/utsrelease.h"), &format!("#define UTS_RELEASE \"{K}\"\n"));
            sb.write(&sb.sysconf.join("dkms/framework.conf"), "try_sign_modules=\"false\"\n");
            let dir = sb.src.join("dkms_link_test-1.0");
            let conf = Sandbox::simple_conf("dkms_link_test", "1.0");
            sb.write(&dir.join("dkms.conf"), &format!("{conf}MAKE[0]=\"sh ./mk.sh\"\nSTRIP[0]=no\n{extra}"));
            let secret = keys.join("secret.key");
            let make = make.replace("@SECRET@", &secret.display().to_string());
            sb.write(&dir.join("mk.sh"), &format!("{}\n", make.replace("@DIR@", &keys.display().to_string())));
            sb.write(&dir.join("post.sh"), &format!("#!/bin/sh\nln -sf {} make.log\n", secret.display()));
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir.join("post.sh"), fs::Permissions::from_mode(0o755)).unwrap();
            if what.starts_with("source's") {
                std::os::unix::fs::symlink(&secret, dir.join("make.log")).unwrap();
            }
            let flag = format!("--build-sandbox={sandbox}");
            let out = sb.dkms(&["build", "dkms_link_test/1.0", "-k", K, &flag]);
            let case = format!("{what}, build_sandbox={sandbox}");
            assert_eq!(fs::read_to_string(&secret).unwrap(), format!("{SECRET}\n"), "{case}: written through");
            let log = sb.dkms(&["log", "dkms_link_test/1.0", "-k", K]);
            assert!(!log.combined.contains(SECRET), "{case}: dkms log printed the secret");
            let leaked = files_holding(&[sb.dkms.as_path(), sb.inst.as_path()], SECRET.as_bytes());
            assert!(leaked.is_empty(), "{case}: the secret was copied into {leaked:?}");
            assert_eq!(out.code, *code, "{case}: {out:?}");
            assert!(out.stderr.contains(says), "{case}: {out:?}");
            if *code == 0 {
                continue;
            }
            assert!(!sb.dkms.join("dkms_link_test/1.0").join(K).join(arch()).exists(), "{case}: counted as built");
            if *code == 7 {
                let json = sb.dkms(&["build", "dkms_link_test/1.0", "-k", K, &flag, "--json"]);
                assert!(json.stdout.contains("\"kind\":\"product-refused\""), "{case}: {json:?}");
            }
        }
    }
}
