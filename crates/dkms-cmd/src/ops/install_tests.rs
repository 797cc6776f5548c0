//! Unit tests of the install's decisions (upstream's `do_install`,
//! `check_version_sanity`, `override_dest_module_location`;
//! `reference/upstream-dkms.md` §6.5–6.7) on throw-away trees.

use super::*;
use crate::support::fixture::{conf, module_elf, Fixture, A, K};
use dkms_state::tools;

/// The fixture's module "hello" 1.0, added with `extra` in its dkms.conf,
/// and its first module record read for K/A.
fn hello(f: &mut Fixture, extra: &str) -> ModuleRecord {
    f.add("hello", "1.0", &conf("hello", "1.0", extra));
    f.read_conf(Target::new("hello", "1.0", K, A)).modules[0].clone()
}

fn dest(f: &Fixture, r: &ModuleRecord, suffix: &str, before: &Before) -> Destination {
    let x = Target::new("hello", "1.0", K, A);
    destination(&f.d, x, r, suffix, &Places::of(f.trees(), x), before)
}

#[test]
fn obsolete_by_counts_the_same_release_and_every_newer_kernel() {
    // Upstream compares VER of the whole strings, dashes made spaces; with
    // its quoting an equal release is obsolete too.
    assert!(obsoleted("5.10.0", "5.10.0"));
    assert!(obsoleted("5.10.0-8-amd64", "5.10.0"));
    assert!(obsoleted("6.1.0-13-amd64", "5.10"));
    // VER pads numbers: 5.10.100 is newer than 5.10.99, 5.9 older than 5.10.
    assert!(obsoleted("5.10.100", "5.10.99"));
    assert!(!obsoleted("5.9.0-1-amd64", "5.10"));
    assert!(!obsoleted("4.19.0-20-amd64", "5.10.0"));
}

#[test]
fn obsolete_by_is_skipped_with_force_or_when_unset() {
    let f = Fixture::new();
    assert!(!not_obsolete(&f.d.ui, f.build_opts().force, "6.1.0-13-amd64", "5.10"));
    assert!(not_obsolete(&f.d.ui, f.build_opts().force, "6.1.0-13-amd64", ""));
    assert!(not_obsolete(&f.d.ui, f.build_opts().force, "5.4.0", "5.10"));
    let forced = Fixture::with(|a| a.force = true);
    assert!(not_obsolete(&forced.d.ui, forced.build_opts().force, "6.1.0-13-amd64", "5.10"));
}

#[test]
fn find_module_finds_the_name_plain_or_with_the_kernels_suffix_at_any_depth() {
    let f = Fixture::new();
    let lib = f.kernel(K);
    for rel in
        ["kernel/drivers/net/hello.ko.zst", "extra/hello.ko", "kernel/hello.ko.xz", "kernel/hello2.ko", "x/hello.o"]
    {
        f.write(&format!("modules/{K}/{rel}"), "m");
    }
    let found = find_module(&lib, "hello", ".zst");
    let names: Vec<String> = found.iter().map(|p| p.strip_prefix(&lib).unwrap().display().to_string()).collect();
    assert_eq!(names, ["extra/hello.ko", "kernel/drivers/net/hello.ko.zst"]);
    assert!(find_module(&lib, "absent", "").is_empty());
}

#[test]
fn destination_follows_the_distributions_location() {
    // §6.5: debian*/ubuntu* put modules in /updates/dkms whatever
    // DEST_MODULE_LOCATION says; an unknown distribution keeps it verbatim.
    let mut f = Fixture::new();
    f.kernel(K);
    let r = hello(&mut f, "");
    assert_eq!(r.dest_module_location, "/updates/dkms");
    let d = dest(&f, &r, "", &Before::default());
    assert_eq!(d.dest, f.trees().lib_tree(K).join("updates/dkms/hello.ko"));
    assert_eq!(d.original, None);

    let mut other = Fixture::new();
    other.d.ctx.running_distribution = "alpine3".into();
    other.kernel(K);
    let r = hello(&mut other, "");
    assert_eq!(r.dest_module_location, "/kernel/extra");
    assert_eq!(dest(&other, &r, "", &Before::default()).dest, other.trees().lib_tree(K).join("kernel/extra/hello.ko"));
}

#[test]
fn destination_archives_the_first_original_in_upstreams_order() {
    // §6.7: extra/, updates/, the destination, then anywhere in the tree.
    let mut f = Fixture::new();
    let lib = f.kernel(K);
    let r = hello(&mut f, "");
    let deep = f.write(&format!("modules/{K}/kernel/drivers/hello.ko"), "in-tree");
    assert_eq!(dest(&f, &r, "", &Before::default()).original, Some(deep));
    let updates = f.write(&format!("modules/{K}/updates/hello.ko"), "older dkms");
    assert_eq!(dest(&f, &r, "", &Before::default()).original, Some(updates));
    let extra = f.write(&format!("modules/{K}/extra/hello.ko"), "extra");
    assert_eq!(dest(&f, &r, "", &Before::default()).original, Some(extra.clone()));
    // A dry run that deleted it (an uninstall planned first) looks further.
    let before = Before { deleted: vec![extra], ..Before::default() };
    assert_eq!(dest(&f, &r, "", &before).original, Some(lib.join("updates/hello.ko")));
}

#[test]
fn destination_of_an_active_module_archives_nothing_again() {
    let mut f = Fixture::new();
    f.kernel(K);
    let r = hello(&mut f, "");
    f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
    f.install(Target::new("hello", "1.0", K, A));
    f.write(&format!("modules/{K}/kernel/hello.ko"), "in-tree");
    let d = dest(&f, &r, "", &Before::default());
    assert_eq!((d.original, d.already_archived), (None, false));
    f.write(&format!("dkms/hello/original_module/{K}/{A}/hello.ko"), "archived");
    assert!(dest(&f, &r, "", &Before::default()).already_archived);
    // Once a planned uninstall took the link away, the original counts again.
    let before = Before { uninstalled: true, ..Before::default() };
    assert!(dest(&f, &r, "", &before).original.is_some());
}

#[test]
fn destination_keeps_the_compression_of_the_build() {
    let mut f = Fixture::new();
    f.kernel(K);
    let r = hello(&mut f, "");
    let module_dir = f.build(Target::new("hello", "1.0", K, A), &["hello.ko.xz"]);
    let d = dest(&f, &r, ".xz", &Before::default());
    assert_eq!(d.source, module_dir.join("hello.ko.xz"));
    assert_eq!(d.dest, f.trees().lib_tree(K).join("updates/dkms/hello.ko.xz"));
}

/// Kernel K holding `theirs` as kernel/net/hello.ko and the build of
/// hello/1.0 holding `ours`.
fn versions(f: &Fixture, theirs: &[u8], ours: &[u8]) {
    assert!(
        tools::available("modinfo"),
        "kmod's modinfo must be on PATH (it reads module versions; as a user: PATH=$PATH:/usr/sbin)"
    );
    f.kernel(K);
    let lib = f.trees().lib_tree(K).join("kernel/net");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("hello.ko"), theirs).unwrap();
    let dir = f.build(Target::new("hello", "1.0", K, A), &[]);
    std::fs::write(dir.join("hello.ko"), ours).unwrap();
}

fn sane(f: &Fixture) -> bool {
    check_version_sanity(&f.d, &f.build_opts(), Target::new("hello", "1.0", K, A), "", "hello", "")
}

#[test]
fn version_sanity_refuses_a_module_older_than_the_kernels_unless_forced() {
    // §6.6: the kernel's copy is newer → not installed; --force and
    // --force-version-override bypass the comparison.
    let (theirs, ours) = (module_elf("2.0", "AAAA"), module_elf("1.0", "BBBB"));
    let f = Fixture::new();
    versions(&f, &theirs, &ours);
    assert!(!sane(&f));
    for forced in [Fixture::with(|a| a.force = true), Fixture::with(|a| a.force_version_override = true)] {
        versions(&forced, &theirs, &ours);
        assert!(sane(&forced));
    }
}

#[test]
fn version_sanity_takes_a_newer_version_or_another_srcversion() {
    let f = Fixture::new();
    versions(&f, &module_elf("1.0", "AAAA"), &module_elf("1.1", "BBBB"));
    assert!(sane(&f));
    let f = Fixture::new();
    versions(&f, &module_elf("1.0", "AAAA"), &module_elf("1.0", "BBBB"));
    assert!(sane(&f), "same version, other srcversion: proceed");
    let f = Fixture::new();
    versions(&f, &module_elf("1.0", "AAAA"), &module_elf("1.0", "AAAA"));
    assert!(!sane(&f), "same version and srcversion: already installed");
}

#[test]
fn version_sanity_of_unversioned_modules_compares_their_bytes() {
    let f = Fixture::new();
    versions(&f, b"same bytes", b"same bytes");
    assert!(!sane(&f), "identical unversioned module: already installed");
    let f = Fixture::new();
    versions(&f, b"their bytes", b"our bytes");
    assert!(sane(&f), "different unversioned module: installed");
    let f = Fixture::new();
    f.kernel(K);
    f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
    assert!(sane(&f), "nothing of that name in the kernel");
}

#[test]
fn install_checks_refuse_in_upstreams_order() {
    let mut f = Fixture::new();
    f.add("hello", "1.0", &conf("hello", "1.0", ""));
    let x = Target::new("hello", "1.0", K, A);
    let kind =
        |f: &mut Fixture, built, installed| install_checks(&mut f.d, x, built, installed, false).err().map(|e| e.kind);
    assert_eq!(kind(&mut f, true, false), Some(Kind::KernelMissing));
    f.kernel(K);
    assert_eq!(kind(&mut f, true, false), Some(Kind::BuiltModuleMissing));
    // A dry run planning the build first does not look for its files.
    assert_eq!(kind(&mut f, false, false), None);
    f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
    assert_eq!(kind(&mut f, true, true), Some(Kind::AlreadyInstalled));
    let (conf, buildable, suffix) = install_checks(&mut f.d, x, true, false, false).unwrap();
    assert_eq!((conf.modules.len(), buildable, suffix), (1, vec![0], ""));
}
