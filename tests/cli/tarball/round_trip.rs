//! A build -> mktarball -> ldtarball -> install round trip with a fake
//! `make` that records its calls: the loaded module is not rebuilt.

use super::*;

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
