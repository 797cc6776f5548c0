//! `dkms cache deb` with real modules built against the installed kernel
//! headers: the example module and two corpus-style ones (DEST_MODULE_LOCATION,
//! BUILT_MODULE_LOCATION, several modules, a name with upper case and `_`, a
//! licence file or none) are built, packaged and checked with `dpkg-deb -c`,
//! `dpkg-deb -f` and lintian (no errors); the package's files are where
//! `dkms install` put them; BUILD_EXCLUSIVE and OBSOLETE_BY are refused
//! with install's errors. The builds are made once for every test.

use crate::cache::{keypair, real_kernel};
use crate::skip::{skip, skip_unless};
use crate::support::{arch, have, is_root, ours, Sandbox};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const NET_C: &str = "#include <linux/module.h>\nMODULE_LICENSE(\"GPL\");\nMODULE_VERSION(\"2.1\");\n";
/// The head of the GNU GPL, version 2, as a source's COPYING has it.
const GPL2: &str = "\t\t    GNU GENERAL PUBLIC LICENSE\n\t\t       Version 2, June 1991\n\n \
    Copyright (C) 1989, 1991 Free Software Foundation, Inc.,\n\n\
    \t\t    GNU GENERAL PUBLIC LICENSE\n   TERMS AND CONDITIONS FOR COPYING, DISTRIBUTION AND MODIFICATION\n";
const PROP_C: &str = "#include <linux/module.h>\nMODULE_LICENSE(\"Dual MIT/GPL\");\n";

/// A module source: name, version, its files (path, text).
type Source = (&'static str, &'static str, Vec<(&'static str, String)>);

/// The modules.
fn sources() -> Vec<Source> {
    let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dkms_hello-1.0");
    let read = |n: &str| fs::read_to_string(hello.join(n)).expect("example");
    vec![
        ("dkms_hello", "1.0", ["dkms.conf", "Makefile", "dkms_hello.c"].iter().map(|n| (*n, read(n))).collect()),
        (
            "Corp_Net",
            "2.1",
            vec![
                (
                    "dkms.conf",
                    "PACKAGE_NAME=\"Corp_Net\"\nPACKAGE_VERSION=\"2.1\"\n\
                     MAKE[0]=\"make -C src KVER=$kernelver\"\n\
                     BUILT_MODULE_NAME[0]=\"corp_net\"\nBUILT_MODULE_LOCATION[0]=\"src/\"\n\
                     DEST_MODULE_LOCATION[0]=\"/kernel/drivers/net\"\n\
                     BUILT_MODULE_NAME[1]=\"corp_phy\"\nBUILT_MODULE_LOCATION[1]=\"src/\"\n\
                     DEST_MODULE_LOCATION[1]=\"/kernel/drivers/net/phy\"\nAUTOINSTALL=\"yes\"\n"
                        .into(),
                ),
                // Kbuild reads src/Kbuild; make in src/ (dkms's MAKE) runs the Makefile.
                ("src/Kbuild", "obj-m := corp_net.o corp_phy.o\n".into()),
                ("src/Makefile", "all:\n\t$(MAKE) -C /lib/modules/$(KVER)/build M=$(CURDIR) modules\n".into()),
                ("src/corp_net.c", format!("/*\n * Copyright (C) 2026 Corp Networks\n */\n{NET_C}")),
                ("src/corp_phy.c", NET_C.into()),
                ("COPYING", GPL2.into()),
            ],
        ),
        (
            "vendorx",
            "0.9.1",
            vec![
                (
                    "dkms.conf",
                    "PACKAGE_NAME=\"vendorx\"\nPACKAGE_VERSION=\"0.9.1\"\n\
                     BUILT_MODULE_NAME[0]=\"vx_core\"\nBUILT_MODULE_LOCATION[0]=\"driver/\"\n\
                     DEST_MODULE_NAME[0]=\"vendorx\"\nDEST_MODULE_LOCATION[0]=\"/extra\"\n\
                     MAKE[0]=\"make -C $kernel_source_dir M=$dkms_tree/vendorx/0.9.1/build/driver modules\"\n"
                        .into(),
                ),
                ("driver/Makefile", "obj-m := vx_core.o\n".into()),
                ("driver/vx_core.c", PROP_C.into()),
                ("LICENSE", "MIT License\n\nCopyright (c) 2025 Vendor X\n\nPermission is hereby granted\n".into()),
            ],
        ),
    ]
}

/// The built, installed and packaged modules, made once.
struct Built {
    sb: Sandbox,
    k: String,
    out: PathBuf,
}

// SAFETY: as `cache::Fleet`: `run_as` is never set; after set-up only read.
unsafe impl Sync for Built {}

static BUILT: OnceLock<Option<Built>> = OnceLock::new();

fn dkms(sb: &Sandbox, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new(ours());
    c.args(args).args(sb.tree_args()).current_dir(&sb.work);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("DKMS_") || k.to_string_lossy().starts_with("DEB") {
            c.env_remove(&k);
        }
    }
    c.env("LC_ALL", "C").env("TMPDIR", &sb.tmp).env("DKMS_SYSCONFDIR", &sb.sysconf);
    let o = c.output().expect("run dkms");
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (o.status.code().unwrap_or(-1), s(&o.stdout), s(&o.stderr))
}

fn built() -> Option<&'static Built> {
    BUILT
        .get_or_init(|| {
            let k = real_kernel()?;
            if !is_root() || !have("dpkg-deb") {
                return None;
            }
            let sb = Sandbox::new();
            fs::create_dir_all(sb.inst.join(&k)).expect("mkdir");
            std::os::unix::fs::symlink(format!("/lib/modules/{k}/build"), sb.inst.join(&k).join("build")).expect("ln");
            let keys = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache-test-keys");
            let (key, cert) = keypair(&keys, "debpkg");
            let conf = format!("mok_signing_key=\"{}\"\nmok_certificate=\"{}\"\n", key.display(), cert.display());
            sb.write(&sb.sysconf.join("dkms/framework.conf"), &conf);
            for (m, v, files) in sources() {
                for (n, t) in files {
                    sb.write(&sb.src.join(format!("{m}-{v}")).join(n), &t);
                }
                let (code, o, e) = dkms(&sb, &["install", "-m", m, "-v", v, "-k", &k]);
                assert_eq!(code, 0, "install {m}/{v}:\n{o}\n{e}");
            }
            let out = sb.root.join("debs");
            let (code, o, e) = dkms(&sb, &["cache", "deb", "--all", "-k", &k, "--to", &out.display().to_string()]);
            assert_eq!(code, 0, "cache deb --all:\n{o}\n{e}");
            Some(Built { sb, k, out })
        })
        .as_ref()
}

fn deb_of(b: &Built, package: &str) -> PathBuf {
    let found = fs::read_dir(&b.out)
        .expect("out dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{package}_"))));
    found.unwrap_or_else(|| panic!("no package {package} in {}", b.out.display()))
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let o = Command::new("dpkg-deb").args(args).arg(deb).output().expect("dpkg-deb");
    assert!(o.status.success(), "dpkg-deb {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The files of the package (`dpkg-deb -c`), as absolute paths.
fn contents(deb: &Path) -> Vec<String> {
    dpkg_deb(&["-c"], deb)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|p| !p.ends_with('/'))
        .map(|p| p.trim_start_matches('.').to_string())
        .collect()
}

/// The module files `dkms install` put in the sandbox's tree for the kernel,
/// as the paths they have on a system (`/lib/modules/...`).
fn installed(b: &Built, names: &[&str]) -> Vec<String> {
    let base = b.sb.inst.join(&b.k);
    let (mut found, mut stack) = (Vec::new(), vec![base.clone()]);
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let ft = e.file_type().expect("file type");
            let n = e.file_name().to_string_lossy().into_owned();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() && names.iter().any(|m| n.starts_with(m)) {
                let rel = e.path().strip_prefix(&base).expect("below").display().to_string();
                found.push(format!("/lib/modules/{}/{rel}", b.k));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn packages_hold_the_modules_where_install_puts_them() {
    skip_unless!(built().is_some(), "needs root, dpkg-deb and installed kernel headers");
    let b = built().unwrap();
    let k = &b.k;
    for (package, names, source) in [
        (format!("dkms-hello-modules-{k}"), vec!["dkms_hello.ko"], "dkms-hello-dkms"),
        (format!("corp-net-modules-{k}"), vec!["corp_net.ko", "corp_phy.ko"], "corp-net-dkms"),
        (format!("vendorx-modules-{k}"), vec!["vendorx.ko"], "vendorx-dkms"),
    ] {
        let deb = deb_of(b, &package);
        let files = contents(&deb);
        let mods: Vec<String> = files.iter().filter(|f| f.contains(".ko")).cloned().collect();
        assert_eq!(mods, installed(b, &names), "{package}: {files:?}");
        assert!(mods.iter().all(|f| f.starts_with(&format!("/lib/modules/{k}/updates/dkms/"))), "{mods:?}");
        for doc in ["copyright", "changelog.Debian.gz"] {
            assert!(files.contains(&format!("/usr/share/doc/{package}/{doc}")), "{package}: {doc} in {files:?}");
        }
        let control = dpkg_deb(&["-f"], &deb);
        let field = |f: &str| control.lines().find_map(|l| l.strip_prefix(&format!("{f}: ")).map(String::from));
        assert_eq!(field("Package").as_deref(), Some(package.as_str()));
        assert_eq!(field("Source").as_deref(), Some(source));
        if arch() == "x86_64" {
            assert_eq!(field("Architecture").as_deref(), Some("amd64"));
        }
        assert_eq!(field("Depends"), Some(format!("linux-image-{k} | linux-image-unsigned-{k}")));
        assert!(field("Version").is_some_and(|v| v.contains("-dkms2")), "{:?}", field("Version"));
        let scripts = dpkg_deb(&["-I"], &deb);
        assert!(
            scripts.contains(" postinst") && scripts.contains(" postrm") && scripts.contains(" triggers"),
            "{scripts}"
        );
    }
}

#[test]
fn copyright_comes_from_the_source_or_says_what_is_known() {
    skip_unless!(built().is_some(), "needs root, dpkg-deb and installed kernel headers");
    let b = built().unwrap();
    let extract = b.sb.root.join("x-copyright");
    let read = |package: &str| {
        let dir = extract.join(package);
        fs::create_dir_all(&dir).expect("mkdir");
        let o = Command::new("dpkg-deb").arg("-x").arg(deb_of(b, package)).arg(&dir).output().expect("dpkg-deb -x");
        assert!(o.status.success());
        fs::read_to_string(dir.join(format!("usr/share/doc/{package}/copyright"))).expect("copyright")
    };
    let net = read(&format!("corp-net-modules-{}", b.k));
    // The GPL itself is referred to, its own (FSF) notice is not the module's.
    assert!(net.contains("copyright notices:\n\n  Copyright (C) 2026 Corp Networks\n\n"), "{net}");
    assert!(net.contains("The module source's COPYING is the GNU General Public License, version 2."), "{net}");
    assert!(net.contains("/usr/share/common-licenses/GPL-2") && !net.contains("Free Software Foundation"), "{net}");
    let vx = read(&format!("vendorx-modules-{}", b.k));
    assert!(vx.contains("LICENSE says:\n\nMIT License") && vx.contains("  Copyright (c) 2025 Vendor X\n"), "{vx}");
    // Its module declares "Dual MIT/GPL": the GPL is referred to as well.
    assert!(vx.contains("/usr/share/common-licenses/GPL-2"), "{vx}");
    let hello = read(&format!("dkms-hello-modules-{}", b.k));
    assert!(hello.contains("states no copyright notice") && hello.contains("  dkms_hello.ko: GPL\n"), "{hello}");
}

#[test]
fn lintian_finds_no_errors() {
    skip_unless!(built().is_some(), "needs root, dpkg-deb and installed kernel headers");
    if !have("lintian") {
        skip("lintian is not installed (scripts/deps.sh installs it)");
        return;
    }
    let b = built().unwrap();
    for e in fs::read_dir(&b.out).expect("out").flatten() {
        let o = Command::new("lintian").args(["--no-tag-display-limit"]).arg(e.path()).output().expect("lintian");
        let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert!(!text.lines().any(|l| l.starts_with("E: ")), "{}:\n{text}", e.path().display());
        // lintian exits 1 only for errors (and its own failures).
        assert!(o.status.success(), "{}:\n{text}", e.path().display());
    }
}

#[test]
fn the_same_build_gives_the_same_package() {
    skip_unless!(built().is_some(), "needs root, dpkg-deb and installed kernel headers");
    let b = built().unwrap();
    let again = b.sb.root.join("debs-again");
    let (code, o, e) =
        dkms(&b.sb, &["cache", "deb", "dkms_hello/1.0", "-k", &b.k, "--to", &again.display().to_string()]);
    assert_eq!(code, 0, "{o}\n{e}");
    let package = format!("dkms-hello-modules-{}", b.k);
    let (first, second) =
        (deb_of(b, &package), fs::read_dir(&again).expect("dir").flatten().next().expect("deb").path());
    assert_eq!(first.file_name(), second.file_name());
    assert_eq!(fs::read(&first).expect("read"), fs::read(&second).expect("read"), "reproducible");
}

#[test]
fn refused_as_install_refuses() {
    skip_unless!(built().is_some(), "needs root, dpkg-deb and installed kernel headers");
    let b = built().unwrap();
    let k = b.k.clone();
    let to = b.sb.root.join("debs-refused").display().to_string();
    // Not built: nothing to package.
    let (code, _, e) = dkms(&b.sb, &["cache", "deb", "nosuch/1.0", "-k", &k, "--to", &to]);
    assert_ne!(code, 0, "{e}");
    // OBSOLETE_BY a kernel older than this one: install's message and
    // "Installation aborted." (exit 6), in a tree of its own.
    let sb = Sandbox::new();
    fs::create_dir_all(sb.inst.join(&k)).expect("mkdir");
    for (when, line) in [("obsolete", "OBSOLETE_BY=\"1.0\"\n"), ("exclusive", "BUILD_EXCLUSIVE_KERNEL=\"^0\\.0\\.\"\n")]
    {
        let (m, v) = (format!("refused_{when}"), "1.0");
        sb.add_module(&m, v, &(Sandbox::simple_conf(&m, v) + line));
        sb.build_module(&m, v, &k, arch(), &[&m]);
        let deb = dkms(&sb, &["cache", "deb", &format!("{m}/{v}"), "-k", &k, "--to", &to]);
        let inst = dkms(&sb, &["install", &format!("{m}/{v}"), "-k", &k]);
        assert_eq!(deb.0, inst.0, "{when}: cache deb {deb:?}\ninstall {inst:?}");
        assert_ne!(deb.0, 0, "{when}: {deb:?}");
        let last = |s: &str| s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().to_string();
        assert_eq!(last(&deb.2), last(&inst.2), "{when}");
    }
    if fs::read_dir(&to).map(|mut d| d.next().is_some()).unwrap_or(false) {
        panic!("a refused package was written to {to}");
    }
}

#[test]
fn names_that_debian_refuses_are_refused() {
    skip_unless!(have("dpkg-deb"), "needs dpkg-deb");
    let sb = Sandbox::new();
    let k = "6.1.0-1-amd64";
    fs::create_dir_all(sb.inst.join(k)).expect("mkdir");
    sb.add_module("odd", "v2", &Sandbox::simple_conf("odd", "v2"));
    sb.build_module("odd", "v2", k, arch(), &["odd"]);
    let to = sb.root.join("debs").display().to_string();
    let (code, o, e) = dkms(&sb, &["cache", "deb", "odd/v2", "-k", k, "--to", &to]);
    assert_eq!(code, 1, "{o}\n{e}");
    assert!(e.contains("not a Debian upstream version"), "{e}");
    let (code, _, e) = dkms(&sb, &["cache", "deb", "-k", k, "--to", &to]);
    assert_eq!(code, 2, "{e}");
    assert!(e.contains("cache deb needs a module/version or --all"), "{e}");
}

#[test]
fn all_with_a_kernel_is_only_for_cache_deb() {
    let sb = Sandbox::new();
    let k = "6.1.0-1-amd64";
    fs::create_dir_all(sb.inst.join(k)).expect("mkdir");
    let to = sb.root.join("debs").display().to_string();
    // Nothing is built: --all packages nothing, and says nothing is wrong.
    let (code, o, e) = dkms(&sb, &["cache", "deb", "--all", "-k", k, "--to", &to]);
    assert_eq!((code, o.as_str(), e.as_str()), (0, "", ""));
    // Everywhere else -k with --all stays upstream's error.
    for args in [vec!["remove", "m/1.0", "--all", "-k", k], vec!["cache", "push", "m/1.0", "--all", "-k", k]] {
        let (code, _, e) = dkms(&sb, &args);
        assert_eq!(code, 2, "{args:?}: {e}");
        assert!(e.contains("You cannot specify a kernel version and also specify"), "{args:?}: {e}");
    }
}

#[test]
fn a_node_packages_a_verified_cache_entry_without_building() {
    use crate::cache::{fleet, keypair, Tree, M, V};
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    skip_unless!(have("dpkg-deb"), "needs dpkg-deb");
    let f = fleet().unwrap();
    let signer = keypair(&f.keys, "fleet");
    let node = Tree::new(&f.k, &signer, true, &format!("binary_cache=\"{}\"\n", f.cache.display()));
    let (code, o, e) = node.dkms(&["add", "-m", M, "-v", V], &[]);
    assert_eq!(code, 0, "{o}\n{e}");
    let (on_node, on_builder) = (node.sb.root.join("debs"), node.sb.root.join("debs-builder"));
    let (code, o, e) =
        node.dkms(&["cache", "deb", &format!("{M}/{V}"), "-k", &f.k, "--to", &on_node.display().to_string()], &[]);
    assert_eq!(code, 0, "{o}\n{e}");
    assert_eq!(node.makes(), 0, "make ran on the node");
    assert!(!node.sb.dkms.join(M).join(V).join(&f.k).exists(), "the node built it");
    let (code, o, e) = f
        .builder
        .dkms(&["cache", "deb", &format!("{M}/{V}"), "-k", &f.k, "--to", &on_builder.display().to_string()], &[]);
    assert_eq!(code, 0, "{o}\n{e}");
    let one = |dir: &Path| fs::read_dir(dir).expect("dir").flatten().map(|e| e.path()).next().expect("a package");
    let (a, b) = (one(&on_node), one(&on_builder));
    // Same name (so the same version), same files; and the same bytes.
    assert_eq!(a.file_name(), b.file_name());
    assert_eq!(dpkg_deb(&["-c"], &a), dpkg_deb(&["-c"], &b));
    assert_eq!(fs::read(&a).expect("read"), fs::read(&b).expect("read"), "the node's package is the builder's");
    // With no cache and no build: nothing to package.
    let bare = Tree::new(&f.k, &signer, true, "");
    bare.dkms(&["add", "-m", M, "-v", V], &[]);
    let (code, _, e) =
        bare.dkms(&["cache", "deb", &format!("{M}/{V}"), "-k", &f.k, "--to", &on_node.display().to_string()], &[]);
    assert_eq!(code, 6, "{e}");
    assert!(e.contains("is not built for"), "{e}");
}
