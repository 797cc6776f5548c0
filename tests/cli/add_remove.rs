//! `dkms add` and `dkms remove` (and the broken-module guard of unbuild and
//! uninstall) on temp trees: fixed expectations for the messages, exit codes
//! and resulting trees, and the same runs compared with upstream (output,
//! exit code and the trees left behind). Adding a source *directory* needs
//! root upstream; those cases are skipped when not root.

use crate::skip::skip_unless;
use crate::support::{arch, compare_fresh, is_root, Sandbox, KVER};
use std::fs;
use std::path::Path;

const M: &str = "zt-foo";
const V: &str = "1.0";

/// A module source directory at `<work>/pkg`.
fn pkg(sb: &Sandbox) {
    sb.write(&sb.work.join("pkg/dkms.conf"), &Sandbox::simple_conf(M, V));
    sb.write(&sb.work.join("pkg/Makefile"), "obj-m := zt-foo.o\n");
    sb.write(&sb.work.join("pkg/sub/zt-foo.c"), "/* nothing */\n");
}

fn added(sb: &Sandbox) {
    sb.add_module(M, V, &Sandbox::simple_conf(M, V));
}

fn built(sb: &Sandbox) {
    added(sb);
    sb.build_module(M, V, KVER, arch(), &[M]);
}

fn no_link(sb: &Sandbox) {
    added(sb);
    fs::remove_file(sb.dkms.join(M).join(V).join("source")).unwrap();
}

fn dangling(sb: &Sandbox) {
    added(sb);
    fs::remove_dir_all(sb.src.join(format!("{M}-{V}"))).unwrap();
}

fn creating_symlink() -> String {
    format!("Creating symlink <ROOT>/dkms/{M}/{V}/source -> <ROOT>/src/{M}-{V}\n")
}

#[test]
fn add_directory_copies_the_source_and_links_it() {
    skip_unless!(is_root(), "needs root (upstream's add of a source directory)");
    for arg in ["pkg", "./pkg/dkms.conf", "pkg/"] {
        let o = compare_fresh(&format!("add {arg}"), &pkg, &["add", arg]);
        assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, creating_symlink().as_str(), ""), "add {arg}");
    }
    // And the resulting tree, explicitly.
    let mut sb = Sandbox::new();
    pkg(&sb);
    let o = sb.dkms(&["add", "pkg"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let copy = sb.src.join(format!("{M}-{V}"));
    for f in ["dkms.conf", "Makefile", "sub/zt-foo.c"] {
        assert_eq!(fs::read(copy.join(f)).unwrap(), fs::read(sb.work.join("pkg").join(f)).unwrap(), "{f}");
    }
    let link = sb.dkms.join(M).join(V).join("source");
    assert_eq!(fs::read_link(&link).unwrap(), copy, "absolute source symlink");
    assert!(sb.dkms.join(M).join(V).join("build").is_dir());
    let st = sb.dkms(&["status"]);
    assert_eq!(st.stdout, format!("{M}/{V}: added\n"));
}

#[test]
fn add_by_name_needs_the_source_in_the_source_tree() {
    let o = compare_fresh("add -m -v, no source", &|_| {}, &["add", "-m", M, "-v", V]);
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr,
        format!("\nError! Could not find module source directory.\nDirectory: <ROOT>/src/{M}-{V} does not exist.\n")
    );
    assert_eq!(o.stdout, "");

    let with_source = |sb: &Sandbox| sb.write(&sb.src.join(format!("{M}-{V}/dkms.conf")), &Sandbox::simple_conf(M, V));
    for args in [&["add", "-m", M, "-v", V][..], &["add", "zt-foo/1.0"], &["add", "--module=zt-foo/1.0"]] {
        let o = compare_fresh(&format!("{args:?}"), &with_source, args);
        assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, creating_symlink().as_str(), ""), "{args:?}");
    }
    // Only a module name: exit 1 with the usage of add.
    let o = compare_fresh("add -m only", &with_source, &["add", "-m", M]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.starts_with("\nError! Arguments <module> and <module-version> are not specified.\n"),
        "{}",
        o.stderr
    );
}

#[test]
fn adding_twice_exits_3() {
    let msg = format!(
        "\nError! DKMS tree already contains: {M}/{V}\nYou cannot add the same module/version combo more than once.\n"
    );
    let o = compare_fresh("add twice, by name", &added, &["add", "-m", M, "-v", V]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (3, "", msg.as_str()));
    skip_unless!(is_root(), "needs root (upstream's add of a source directory)");
    let setup = |sb: &Sandbox| {
        added(sb);
        pkg(sb);
    };
    let o = compare_fresh("add twice, by directory", &setup, &["add", "pkg"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (3, "", msg.as_str()));
}

#[test]
fn a_missing_link_can_be_added_again() {
    let o = compare_fresh("add over a missing link", &no_link, &["add", "-m", M, "-v", V]);
    assert_eq!((o.code, o.stdout.as_str()), (0, creating_symlink().as_str()));
}

#[test]
fn bad_conf_creates_nothing() {
    let bad = "PACKAGE_NAME=\"zt-foo\"\nBUILT_MODULE_NAME[0]=\"zt-foo\"\nDEST_MODULE_LOCATION[0]=\"/updates\"\n";
    // By name, from the source tree.
    let setup = |sb: &Sandbox| sb.write(&sb.src.join(format!("{M}-{V}/dkms.conf")), bad);
    let o = compare_fresh("add bad conf by name", &setup, &["add", "-m", M, "-v", V]);
    assert_eq!(o.code, 8);
    assert_eq!(
        o.stderr,
        format!(
            "dkms.conf: Error! No 'PACKAGE_VERSION' directive specified.\n\nError! Bad conf file.\n\
             File: <ROOT>/src/{M}-{V}/dkms.conf does not represent a valid dkms.conf file.\n"
        )
    );
    let mut sb = Sandbox::new();
    setup(&sb);
    sb.dkms(&["add", "-m", M, "-v", V]);
    assert!(!sb.dkms.join(M).exists(), "a failed add left {M} in the dkms tree");

    skip_unless!(is_root(), "needs root (upstream's add of a source directory)");
    let setup = |sb: &Sandbox| {
        pkg(sb);
        sb.write(&sb.work.join("pkg/dkms.conf"), bad);
    };
    let o = compare_fresh("add bad conf by directory", &setup, &["add", "pkg"]);
    assert_eq!(o.code, 8);
    assert_eq!(
        o.stderr,
        "dkms.conf: Error! No 'PACKAGE_VERSION' directive specified.\n\nError! Bad conf file.\n\
         File: <ROOT>/work/pkg/dkms.conf does not represent a valid dkms.conf file.\n"
    );
    assert_eq!(o.stdout, "");
    let mut sb = Sandbox::new();
    setup(&sb);
    sb.dkms(&["add", "pkg"]);
    assert_eq!(fs::read_dir(&sb.src).unwrap().count(), 0, "a failed add copied into the source tree");
    assert_eq!(sb.listing(), "", "a failed add changed the trees");
}

/// Every module directory of upstream's own test suite, added by directory:
/// valid, invalid (all messages in order), sparse arrays, zero modules,
/// duplicates, CRLF, deprecated directives, POST_ADD scripts.
#[test]
fn upstream_test_modules_add_the_same() {
    let tests = crate::support::upstream_path().parent().unwrap().parent().unwrap().join("test");
    skip_unless!(tests.is_dir(), &format!("{} is absent", tests.display()));
    skip_unless!(is_root(), "needs root (upstream's add of a source directory)");
    let mut dirs: Vec<_> = fs::read_dir(&tests).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    assert!(dirs.len() > 20, "expected upstream's test modules in {}", tests.display());
    let mut compared = 0;
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let setup = |sb: &Sandbox| copy_tree(&dir, &sb.work.join("pkg"));
        let o = compare_fresh(&format!("add {name}"), &setup, &["add", "pkg"]);
        compared += 1;
        if name == "dkms_test-1.0" {
            assert_eq!(o.stdout, "Creating symlink <ROOT>/dkms/dkms_test/1.0/source -> <ROOT>/src/dkms_test-1.0\n");
        }
        if name == "dkms_conf_test_sparse_arrays" {
            assert_eq!(o.code, 8);
            assert!(o.stderr.contains("No 'BUILT_MODULE_NAME' directive specified for record #2."), "{}", o.stderr);
        }
    }
    assert!(compared > 20);
}

/// Copy a directory, making the copy writable (the shared reference files
/// are read-only).
fn copy_tree(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let md = fs::symlink_metadata(&src).unwrap();
        if md.is_dir() {
            copy_tree(&src, &dst);
        } else if md.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else {
            fs::copy(&src, &dst).unwrap();
            let mode = if md.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 };
            fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).unwrap();
        }
    }
}

#[test]
fn remove_all_deletes_the_module() {
    let msg = format!("Deleting module {M}/{V} completely from the DKMS tree.\n");
    for args in [&["remove", "-m", M, "-v", V, "--all"][..], &["remove", "zt-foo/1.0", "--all"]] {
        let o = compare_fresh(&format!("{args:?}"), &added, args);
        assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, msg.as_str(), ""), "{args:?}");
    }
    // A built module: not installed, so nothing to uninstall first.
    let o = compare_fresh("remove --all of a built module", &built, &["remove", "zt-foo/1.0", "--all"]);
    assert_eq!(o.code, 0);
    assert_eq!(
        o.stdout,
        format!("Module {M}/{V} is not installed for kernel {KVER} ({}). Skipping...\n\n{msg}", arch())
    );
    // The tree: the version is gone, the source stays.
    let mut sb = Sandbox::new();
    built(&sb);
    let o = sb.dkms(&["remove", "zt-foo/1.0", "--all"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!sb.dkms.join(M).join(V).exists());
    assert!(sb.src.join(format!("{M}-{V}/dkms.conf")).is_file());
    assert_eq!(sb.dkms(&["status"]).stdout, "");
    // Removing what is not there.
    let o = compare_fresh("remove of an unknown module", &|_| {}, &["remove", "zt-foo/1.0", "--all"]);
    assert_eq!(o.code, 3);
    assert_eq!(o.stderr, format!("\nError! The module/version combo: {M}/{V} is not located in the DKMS tree.\n"));
}

#[test]
fn broken_modules_are_refused_with_4() {
    let msg = format!(
        "\nError! {M}/{V} is broken!\nMissing the source directory or the symbolic link pointing to it.\nManual intervention is required!\n"
    );
    for (what, setup) in [("no source link", no_link as fn(&Sandbox)), ("dangling source link", dangling)] {
        for args in [
            &["remove", "zt-foo/1.0", "--all"][..],
            &["remove", "-m", M, "-v", V, "-k", KVER],
            &["unbuild", "zt-foo/1.0", "-k", KVER],
            &["uninstall", "zt-foo/1.0", "-k", KVER],
        ] {
            let o = compare_fresh(&format!("{what}: {args:?}"), &setup, args);
            assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (4, "", msg.as_str()), "{what}: {args:?}");
        }
        // Nothing was touched.
        let mut sb = Sandbox::new();
        setup(&sb);
        let before = sb.listing();
        sb.dkms(&["remove", "zt-foo/1.0", "--all"]);
        assert_eq!(sb.listing(), before, "{what}");
    }
}
