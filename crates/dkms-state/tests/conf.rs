//! dkms.conf post-processing (`read_conf` / `read_conf_strict` after the
//! sourcing): module records from sparse arrays, defaults, the distribution's
//! DEST_MODULE_LOCATION, MAKE/PATCH selection by kernel, yes/no validation,
//! BUILD_EXCLUSIVE, strict-mode duplicates and deprecations, with upstream's
//! messages.

// Tests run programs and read the environment directly: the funnels of
// clippy.toml are rules for the product, not for the code that drives it.
#![allow(clippy::disallowed_methods)]

use dkms_state::conf::{self, Read, Spec};
use std::fs;
use std::path::PathBuf;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc-dkms")).unwrap();
        fs::create_dir_all(dir.path().join("ksrc")).unwrap();
        Fixture { dir }
    }

    fn spec(&self, text: &str, kernelver: &str) -> Spec {
        let file = self.dir.path().join("dkms.conf");
        fs::write(&file, text).unwrap();
        let ksrc = self.dir.path().join("ksrc");
        Spec {
            module: "zt".into(),
            module_version: "1.0".into(),
            kernelver: kernelver.into(),
            arch: "x86_64".into(),
            file,
            conf_dir: self.dir.path().join("etc-dkms"),
            kernel_config: ksrc.join(".config"),
            kernel_source_dir: ksrc,
            dkms_tree: PathBuf::from("/nonexistent/dkms"),
            running_distribution: "debian".into(),
            addon_modules_dir: None,
            context: Vec::new(),
            directives: Vec::new(),
            strict: false,
            capture_stderr: false,
        }
    }

    fn read(&self, text: &str) -> Read {
        conf::read(&self.spec(text, "6.1.0-99-amd64")).unwrap()
    }

    fn read_strict(&self, text: &str) -> Read {
        let mut s = self.spec(text, "6.1.0-99-amd64");
        s.strict = true;
        conf::read(&s).unwrap()
    }

    fn config(&self, text: &str) {
        fs::write(self.dir.path().join("ksrc/.config"), text).unwrap();
    }
}

const HEAD: &str = "PACKAGE_NAME=zt\nPACKAGE_VERSION=1.0\n";

fn diags(r: &Read) -> Vec<String> {
    r.diags.iter().map(|d| d.text.clone()).collect()
}

fn conf(body: &str) -> String {
    format!("{HEAD}{body}")
}

#[test]
fn num_modules_from_sparse_arrays() {
    let f = Fixture::new();
    // upstream's test/dkms_conf_test_sparse_arrays
    let r = f.read(&conf(
        "BUILT_MODULE_NAME[1]=one\nDEST_MODULE_LOCATION[1]=/kernel/extra\nBUILT_MODULE_NAME[3]=three\n\
         DEST_MODULE_LOCATION[3]=/kernel/extra\nDEST_MODULE_LOCATION[4]=/oops\n",
    ));
    assert_eq!(r.conf.num_modules(), 5);
    assert!(!r.ok);
    assert_eq!(
        diags(&r),
        [
            "dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #0.",
            "dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #0.",
            "dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #2.",
            "dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #2.",
            "dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #4.",
            "dkms.conf: Error! Directive 'DEST_MODULE_LOCATION' does not begin with",
            "'/kernel', '/updates', or '/extra' in record #4.",
        ]
    );
    assert!(r.diags.iter().all(|d| d.stderr));
    // The highest index of any of the four arrays counts; STRIP does not.
    let r = f.read(&conf("BUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\nSTRIP[6]=no\nDEST_MODULE_NAME[2]=c\n"));
    assert_eq!(r.conf.num_modules(), 3);
    assert_eq!(f.read(HEAD).conf.num_modules(), 0);
    // A lowercase array set beyond the records: the length check fails.
    let r = f.read(&conf("BUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\nbuilt_module_name[3]=x\n"));
    assert!(!r.ok);
    assert_eq!(diags(&r), ["dkms.conf: Error! Module name/location array length mismatch."]);
}

#[test]
fn defaults_of_a_record() {
    let f = Fixture::new();
    // One record: BUILT_MODULE_NAME defaults to PACKAGE_NAME (upstream's
    // test/dkms_conf_test_defaulted_BUILT_MODULE_NAME), DEST_MODULE_NAME to
    // the built name; a location gets its trailing slash.
    let r = f.read(&conf("DEST_MODULE_LOCATION[0]=/updates/x\nBUILT_MODULE_LOCATION=src\n"));
    assert!(r.ok, "{:?}", r.diags);
    let m = &r.conf.modules[0];
    assert_eq!((m.built_module_name.as_str(), m.dest_module_name.as_str()), ("zt", "zt"));
    assert_eq!(m.built_module_location, "src/");
    assert!(m.strip);
    // Two records: no default name.
    let r =
        f.read(&conf("DEST_MODULE_LOCATION[0]=/updates\nBUILT_MODULE_NAME[1]=b\nDEST_MODULE_LOCATION[1]=/updates\n"));
    assert!(!r.ok);
    assert_eq!(diags(&r), ["dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #0."]);
    // Names ending in .o/.ko (upstream's test/dkms_conf_test_invalid).
    let r = f.read(&conf(
        "DEST_MODULE_NAME[0]=\"bar.ko\"\nDEST_MODULE_LOCATION=\"/wrong/path\"\nBUILT_MODULE_NAME[1]=\"bar.o\"\n\
         DEST_MODULE_NAME[1]=\"foo\"\nAUTOINSTALL=\"maybe\"\n",
    ));
    assert_eq!(
        diags(&r),
        [
            "dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #0.",
            "dkms.conf: Error! 'DEST_MODULE_NAME' directive ends in '.o' or '.ko' in record #0.",
            "dkms.conf: Error! Directive 'DEST_MODULE_LOCATION' does not begin with",
            "'/kernel', '/updates', or '/extra' in record #0.",
            "dkms.conf: Error! 'BUILT_MODULE_NAME' directive ends in '.o' or '.ko' in record #1.",
            "dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #1.",
            "dkms.conf: Error! Unsupported AUTOINSTALL value 'maybe'",
        ]
    );
    // Missing PACKAGE_NAME / PACKAGE_VERSION come first.
    let r = f.read("BUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\n");
    assert_eq!(
        diags(&r)[..2],
        [
            "dkms.conf: Error! No 'PACKAGE_NAME' directive specified.",
            "dkms.conf: Error! No 'PACKAGE_VERSION' directive specified."
        ]
    );
}

#[test]
fn strip_values() {
    let f = Fixture::new();
    let mods = "BUILT_MODULE_NAME[0]=a\nBUILT_MODULE_NAME[1]=b\nBUILT_MODULE_NAME[2]=c\nBUILT_MODULE_NAME[3]=d\n\
                DEST_MODULE_LOCATION[0]=/updates\nDEST_MODULE_LOCATION[1]=/updates\nDEST_MODULE_LOCATION[2]=/updates\n\
                DEST_MODULE_LOCATION[3]=/updates\n";
    let strip = |r: &Read| r.conf.modules.iter().map(|m| m.strip).collect::<Vec<_>>();
    // Empty entries inherit STRIP[0].
    let r = f.read(&conf(&format!("{mods}STRIP[0]=No\nSTRIP[2]=yes\n")));
    assert_eq!(strip(&r), [false, false, true, false]);
    let r = f.read(&conf(&format!("{mods}STRIP[1]=n\n")));
    assert_eq!(strip(&r), [true, false, true, true]);
}

#[test]
fn dest_module_location_follows_the_distribution() {
    let f = Fixture::new();
    let text = conf("BUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/kernel/drivers/net\n");
    for (distro, want) in [
        ("debian", "/updates/dkms"),
        ("ubuntu debian", "/updates/dkms"),
        ("arch", "/updates/dkms"),
        ("rhel centos fedora", "/extra"),
        ("fedora", "/extra"),
        ("opensuse suse", "/updates"),
        ("sles", "/updates"),
        ("gentoo", "/kernel/drivers/net"),
        ("alpine", "/kernel/drivers/net"),
    ] {
        let mut s = f.spec(&text, "6.1.0-99-amd64");
        s.running_distribution = distro.into();
        let r = conf::read(&s).unwrap();
        assert!(r.ok);
        assert_eq!(r.conf.modules[0].dest_module_location, want, "{distro}");
        assert_eq!(r.conf.modules[0].orig_dest_module_location, "/kernel/drivers/net");
    }
    // ADDON_MODULES_DIR wins over everything.
    let mut s = f.spec(&text, "6.1.0-99-amd64");
    s.addon_modules_dir = Some("addon".into());
    assert_eq!(conf::read(&s).unwrap().conf.modules[0].dest_module_location, "/addon");
    assert_eq!(conf::override_dest_module_location("/extra/x", "debian", Some("")), "/updates/dkms");
    // The check is on the original value: /updates/dkms does not rescue it.
    let r = f.read(&conf("BUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/lib\n"));
    assert!(!r.ok);
}

#[test]
fn make_command_selection() {
    let f = Fixture::new();
    let mods = "BUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\n";
    let text = conf(&format!(
        "{mods}MAKE[0]=\"make zero\"\nMAKE[1]=\"make six\"\nMAKE_MATCH[1]='^6\\.'\nMAKE[2]=\"make six-one\"\nMAKE_MATCH[2]='^6\\.1\\.'\n"
    ));
    let make = |k: &str| conf::read(&f.spec(&text, k)).unwrap().conf.make_command;
    // The last matching MAKE_MATCH wins; MAKE[0] otherwise.
    assert_eq!(make("6.1.0-99-amd64"), "make six-one");
    assert_eq!(make("6.2.0-1-amd64"), "make six");
    assert_eq!(make("5.10.0-1-amd64"), "make zero");
    // MAKE_MATCH[0] set and not matching: the default command.
    let text = conf(&format!("{mods}MAKE[0]=\"make zero\"\nMAKE_MATCH[0]='^4'\n"));
    let ksrc = f.dir.path().join("ksrc");
    assert_eq!(
        conf::read(&f.spec(&text, "6.1.0-99-amd64")).unwrap().conf.make_command,
        format!("make -C {} M=/nonexistent/dkms/zt/1.0/build", ksrc.display())
    );
    // A clang-built kernel (no vmlinux, config says so) gets LLVM=1.
    f.config("CONFIG_CC_IS_CLANG=y\n");
    let text = conf(&format!("{mods}MAKE=\"make it\"\n"));
    assert_eq!(conf::read(&f.spec(&text, "6.1.0-99-amd64")).unwrap().conf.make_command, "make it LLVM=1");
}

#[test]
fn patch_selection() {
    let f = Fixture::new();
    let text = conf(
        "BUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\nPATCH=(all.patch six.patch five.patch)\n\
         PATCH_MATCH[1]='^6\\.'\nPATCH_MATCH[2]='^5\\.'\n",
    );
    let patches = |k: &str| conf::read(&f.spec(&text, k)).unwrap().conf.patch_array;
    assert_eq!(patches("6.1.0-99-amd64"), ["all.patch", "six.patch"]);
    assert_eq!(patches("5.10.0-1-amd64"), ["all.patch", "five.patch"]);
    assert_eq!(patches("4.19.0-1-amd64"), ["all.patch"]);
}

#[test]
fn yes_no_directives() {
    let f = Fixture::new();
    let mods = "BUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\n";
    for (v, ok, yes) in
        [("yes", true, true), ("YeS", true, true), ("no", true, false), ("NO", true, false), ("", true, false)]
    {
        let r = f.read(&conf(&format!(
            "{mods}AUTOINSTALL=\"{v}\"\nBUILD_DEPENDS_REBUILD=\"{v}\"\nNO_WEAK_MODULES=\"{v}\"\n"
        )));
        assert_eq!(r.ok, ok, "{v}");
        assert_eq!((r.conf.autoinstall, r.conf.build_depends_rebuild, r.conf.no_weak_modules), (yes, yes, yes), "{v}");
    }
    let r = f.read(&conf(&format!("{mods}AUTOINSTALL=y\nBUILD_DEPENDS_REBUILD=true\nNO_WEAK_MODULES=1\n")));
    assert!(!r.ok);
    assert_eq!(
        diags(&r),
        [
            "dkms.conf: Error! Unsupported AUTOINSTALL value 'y'",
            "dkms.conf: Error! Unsupported BUILD_DEPENDS_REBUILD value 'true'",
            "dkms.conf: Error! Unsupported NO_WEAK_MODULES value '1'",
        ]
    );
}

#[test]
fn build_exclusive() {
    let f = Fixture::new();
    let two = "BUILT_MODULE_NAME[0]=a\nDEST_MODULE_LOCATION[0]=/updates\nBUILT_MODULE_NAME[1]=b\nDEST_MODULE_LOCATION[1]=/updates\n";
    let read = |text: &str, k: &str| conf::read(&f.spec(&conf(text), k)).unwrap();
    // Global: excludes the whole package.
    let r = read(&format!("{two}BUILD_EXCLUSIVE_KERNEL=\"^4\\.\"\n"), "6.1.0-99-amd64");
    assert!(r.ok && r.conf.build_exclude);
    assert!(!read(&format!("{two}BUILD_EXCLUSIVE_KERNEL=\"^4\\.\"\n"), "4.19.0-1-amd64").conf.build_exclude);
    // Per module: only that module is skipped.
    let r = read(&format!("{two}BUILD_EXCLUSIVE_KERNEL[1]=\"^4\\.\"\n"), "6.1.0-99-amd64");
    assert!(!r.conf.build_exclude);
    assert!(r.conf.module_buildable(0, "6.1.0-99-amd64", "x86_64"));
    assert!(!r.conf.module_buildable(1, "6.1.0-99-amd64", "x86_64"));
    assert!(r.conf.any_build_exclusive());
    // Version bounds are inclusive; OBSOLETE_BY acts as the maximum.
    let r = read(
        &format!("{two}BUILD_EXCLUSIVE_KERNEL_MIN=6.1\nBUILD_EXCLUSIVE_KERNEL_MAX=6.1.0-99-amd64\n"),
        "6.1.0-99-amd64",
    );
    assert!(!r.conf.build_exclude);
    assert!(read(&format!("{two}BUILD_EXCLUSIVE_KERNEL_MIN=6.2\n"), "6.1.0-99-amd64").conf.build_exclude);
    assert!(read(&format!("{two}OBSOLETE_BY=5.10\n"), "6.1.0-99-amd64").conf.build_exclude);
    assert!(!read(&format!("{two}OBSOLETE_BY=5.10\n"), "5.4.0-1-amd64").conf.build_exclude);
    assert!(read(&format!("{two}BUILD_EXCLUSIVE_ARCH=\"^arm\"\n"), "6.1.0-99-amd64").conf.build_exclude);
    // Config: checked only when the kernel config exists.
    let cfg = format!("{two}BUILD_EXCLUSIVE_CONFIG=\"CONFIG_A !CONFIG_B\"\n");
    assert!(!read(&cfg, "6.1.0-99-amd64").conf.build_exclude);
    f.config("CONFIG_A=m\nCONFIG_B=y\n");
    assert!(read(&cfg, "6.1.0-99-amd64").conf.build_exclude);
    f.config("CONFIG_A=y\n# CONFIG_B is not set\n");
    assert!(!read(&cfg, "6.1.0-99-amd64").conf.build_exclude);
    // No directives at all: never excluded, even with zero modules.
    assert!(!read("", "6.1.0-99-amd64").conf.build_exclude);
}

#[test]
fn strict_checks() {
    let f = Fixture::new();
    // upstream's test/dkms_duplicate_built_test-1.0: same location+name
    let dup_built = conf(
        "BUILT_MODULE_NAME[0]=\"dup\"\nDEST_MODULE_NAME[0]=\"dup1\"\nDEST_MODULE_LOCATION[0]=\"/kernel/extra\"\n\
         BUILT_MODULE_NAME[1]=\"dup\"\nDEST_MODULE_NAME[1]=\"dup2\"\nDEST_MODULE_LOCATION[1]=\"/kernel/extra\"\n",
    );
    let r = f.read_strict(&dup_built);
    assert!(!r.ok);
    assert_eq!(diags(&r), ["dkms.conf: Error! Duplicate module 'dup' in 'BUILT_MODULE_NAME[1]'."]);
    // Not a problem outside strict reads (uninstall/remove must still work).
    assert!(f.read(&dup_built).ok);
    // Different locations make different modules.
    let r = f.read_strict(&dup_built.replacen(
        "BUILT_MODULE_NAME[1]=\"dup\"",
        "BUILT_MODULE_NAME[1]=\"dup\"\nBUILT_MODULE_LOCATION[1]=sub",
        1,
    ));
    assert!(r.ok, "{:?}", r.diags);
    // Same destination name.
    let r = f.read_strict(&conf(
        "BUILT_MODULE_NAME[0]=a\nDEST_MODULE_NAME[0]=d\nDEST_MODULE_LOCATION[0]=/updates\n\
         BUILT_MODULE_NAME[1]=b\nDEST_MODULE_NAME[1]=d\nDEST_MODULE_LOCATION[1]=/extra\n",
    ));
    assert_eq!(diags(&r), ["dkms.conf: Error! Duplicate module 'd' in 'DEST_MODULE_NAME[1]'."]);
    // Zero modules: a warning only.
    let r = f.read_strict(HEAD);
    assert!(r.ok);
    assert_eq!(diags(&r), ["dkms.conf: Warning! Zero modules specified."]);
    assert!(f.read(HEAD).diags.is_empty());
}

#[test]
fn deprecations_in_strict_reads() {
    let f = Fixture::new();
    let mods = "BUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\n";
    let path = f.dir.path().join("dkms.conf");
    let r = f.read_strict(&conf(&format!("{mods}REMAKE_INITRD=yes\nCLEAN=true\nOBSOLETE_BY=9.0\nMODULES_CONF[0]=x\n")));
    assert!(r.ok);
    assert_eq!(
        diags(&r),
        [
            format!("Deprecated feature: REMAKE_INITRD ({})", path.display()),
            format!("Deprecated feature: MODULES_CONF ({})", path.display()),
            format!("Deprecated feature: OBSOLETE_BY ({}): use BUILD_EXCLUSIVE_KERNEL_MAX instead", path.display()),
        ]
    );
    let r = f.read_strict(&conf(&format!("{mods}CLEAN=\"make clean\"\n")));
    assert_eq!(diags(&r), [format!("Deprecated feature: CLEAN ({})", path.display())]);
    assert!(f.read(&conf(&format!("{mods}REMAKE_INITRD=yes\n"))).diags.is_empty());
}

#[test]
fn directives_override_after_the_files() {
    let f = Fixture::new();
    let mut s =
        f.spec(&conf("BUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\nMAKE=\"make conf\"\n"), "6.1.0-99-amd64");
    s.directives = vec!["MAKE=make directive".into()];
    let r = conf::read(&s).unwrap();
    assert_eq!(r.conf.make_command, "make directive");
    assert_eq!(r.diags.len(), 1);
    assert!(!r.diags[0].stderr, "DIRECTIVE: goes to stdout");
    assert_eq!(r.diags[0].text, "DIRECTIVE: MAKE=\"make directive\"");
}

#[test]
fn etc_dkms_overrides_apply_in_order() {
    let f = Fixture::new();
    let etc = f.dir.path().join("etc-dkms");
    fs::write(etc.join("zt.conf"), "MAKE=\"make module\"\nAUTOINSTALL=yes\n").unwrap();
    fs::write(etc.join("zt-1.0-6.1.0-99-amd64.conf"), "MAKE=\"make kernel\"\n").unwrap();
    fs::write(etc.join("zt--6.1.0-99-amd64-x86_64.conf"), "BUILD_EXCLUSIVE_ARCH=x86_64\n").unwrap();
    let text = conf("BUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\nMAKE=\"make conf\"\n");
    let r = conf::read(&f.spec(&text, "6.1.0-99-amd64")).unwrap();
    assert_eq!(r.conf.make_command, "make kernel");
    assert!(r.conf.autoinstall);
    assert!(r.conf.any_build_exclusive());
    let r = conf::read(&f.spec(&text, "5.10.0-1-amd64")).unwrap();
    assert_eq!(r.conf.make_command, "make module");
    assert!(!r.conf.any_build_exclusive());
}

/// One huge index must not cost memory or time in proportion to it
/// (upstream walks every index up to it: gigabytes for 99999999): it is
/// refused with one clear message, through the in-process evaluator and
/// through bash alike.
#[test]
fn a_huge_array_index_is_refused_not_allocated() {
    let f = Fixture::new();
    let base = "PACKAGE_NAME=zt\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=zt\nDEST_MODULE_LOCATION[0]=/extra\n";
    // The second needs bash (a command substitution).
    for extra in ["BUILT_MODULE_NAME[99999999]=x\n", "DEST_MODULE_NAME[$(echo 4000000000)]=x\n"] {
        let start = std::time::Instant::now();
        let r = f.read(&format!("{base}{extra}"));
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "{extra}: took {:?}", start.elapsed());
        assert!(!r.ok, "{extra}");
        assert!(r.conf.modules.is_empty());
        let texts: Vec<&str> = r.diags.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(texts.len(), 1, "{texts:?}");
        assert!(texts[0].contains("is too large (at most 1024 modules)"), "{texts:?}");
    }
    // The bound itself is an ordinary (sparse) conf: records for the gaps.
    let r = f.read(&format!("{base}BUILT_MODULE_NAME[3]=y\nDEST_MODULE_LOCATION[3]=/extra\n"));
    assert_eq!(r.conf.modules.len(), 4);
}
