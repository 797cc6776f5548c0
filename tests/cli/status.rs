//! `dkms status` on hand-built trees covering every state and suffix, checked
//! against fixed expectations and, byte for byte, against upstream's bash
//! dkms run on the same trees (stdout, stderr, their interleaving, exit code).

use crate::support::{arch, assert_same, Impl, Sandbox, KVER};
use std::fs;
use std::os::unix::fs::symlink;

/// Another kernel, sorting before KVER in glob order.
const KVER_OLD: &str = "5.10.0-99-amd64";
/// And one sorting before both ("1" < "5" < "6"), though newer.
const KVER_TEN: &str = "10.0.0-99-amd64";

/// The states and suffixes of §4/§5.1, one module each.
fn populate(sb: &Sandbox) {
    let a = arch();
    // added
    sb.add_module("zt-added", "1.0", &Sandbox::simple_conf("zt-added", "1.0"));
    // built, for three kernels and (for one of them) a second arch
    sb.add_module("zt-built", "2.0", &Sandbox::simple_conf("zt-built", "2.0"));
    for k in [KVER, KVER_OLD, KVER_TEN] {
        sb.build_module("zt-built", "2.0", k, a, &["zt-built"]);
    }
    sb.build_module("zt-built", "2.0", KVER_OLD, "i686", &["zt-built"]);
    // installed
    sb.installed("zt-installed", "3.0");
    // installed, with archived original modules
    sb.installed("zt-original", "1.0");
    fs::create_dir_all(sb.dkms.join("zt-original/original_module").join(KVER).join(a)).unwrap();
    // built, but the built module file is gone
    sb.add_module("zt-missing", "1.0", &Sandbox::simple_conf("zt-missing", "1.0"));
    sb.build_module("zt-missing", "1.0", KVER, a, &[]);
    // installed, but the installed copy differs from the built one
    sb.installed("zt-differs", "1.0");
    let inst = sb.inst.join(KVER).join("updates/dkms/zt-differs.ko");
    fs::write(&inst, "something else\n").unwrap();
    // broken: dangling source link
    sb.add_module("zt-dangling", "1.0", &Sandbox::simple_conf("zt-dangling", "1.0"));
    fs::remove_dir_all(sb.src.join("zt-dangling-1.0")).unwrap();
    // broken: no source link, but the source directory exists
    sb.add_module("zt-nolink", "1.0", &Sandbox::simple_conf("zt-nolink", "1.0"));
    fs::remove_file(sb.dkms.join("zt-nolink/1.0/source")).unwrap();
}

fn expected_stdout() -> String {
    let a = arch();
    [
        "zt-added/1.0: added".to_string(),
        format!("zt-built/2.0, {KVER_TEN}, {a}: built"),
        format!("zt-built/2.0, {KVER_OLD}, i686: built"),
        format!("zt-built/2.0, {KVER_OLD}, {a}: built"),
        format!("zt-built/2.0, {KVER}, {a}: built"),
        "zt-dangling/1.0: broken".to_string(),
        format!("zt-differs/1.0, {KVER}, {a}: installed (Differences between built and installed modules)"),
        format!("zt-installed/3.0, {KVER}, {a}: installed"),
        format!("zt-missing/1.0, {KVER}, {a}: built (Built modules are missing in the kernel modules folder)"),
        "zt-nolink/1.0: broken".to_string(),
        format!("zt-original/1.0, {KVER}, {a}: installed (Original modules exist)"),
    ]
    .iter()
    .map(|l| format!("{l}\n"))
    .collect()
}

fn broken_error(mv: &str) -> String {
    format!(
        "\nError! {mv}: Missing the module source directory or the symbolic link pointing to it.\nManual intervention is required!\n"
    )
}

/// Compare ours with upstream for each argument list (when upstream is here);
/// with `combined`, also the interleaving of stdout and stderr (a second run
/// each: upstream reads dkms.conf with dozens of forks per status line).
fn compare_all(sb: &mut Sandbox, cases: &[Vec<String>], combined: bool) {
    if sb.upstream().is_none() {
        return;
    }
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (o, u) = if combined {
            (sb.run(Impl::Ours, &args), sb.run(Impl::Upstream, &args))
        } else {
            (sb.run_with(Impl::Ours, None, &args, true), sb.run_with(Impl::Upstream, None, &args, true))
        };
        assert_same(&format!("dkms {}", args.join(" ")), &o, &u);
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_state_and_suffix() {
    let mut sb = Sandbox::new();
    populate(&sb);
    let o = sb.run(Impl::Ours, &["status"]);
    assert_eq!(o.code, 0, "status always exits 0; stderr: {}", o.stderr);
    assert_eq!(o.stdout, expected_stdout());
    assert_eq!(o.stderr, format!("{}{}", broken_error("zt-dangling/1.0"), broken_error("zt-nolink/1.0")));
    // The error for a broken module follows its line.
    assert!(
        o.combined.contains(&format!("zt-dangling/1.0: broken\n{}", broken_error("zt-dangling/1.0"))),
        "{}",
        o.combined
    );
    compare_all(&mut sb, &[strings(&["status"])], true);
}

#[test]
fn filters_by_module() {
    let mut sb = Sandbox::new();
    populate(&sb);
    let a = arch();
    let o = sb.dkms(&["status", "-m", "zt-built", "-v", "2.0"]);
    assert_eq!(o.stdout.lines().count(), 4, "{}", o.stdout);
    assert!(o.stdout.lines().all(|l| l.starts_with("zt-built/2.0, ") && l.ends_with(": built")), "{}", o.stdout);
    let o = sb.dkms(&["status", "zt-added/1.0"]);
    assert_eq!(o.stdout, "zt-added/1.0: added\n");
    let o = sb.dkms(&["status", "-m", "zt-installed/3.0"]);
    assert_eq!(o.stdout, format!("zt-installed/3.0, {KVER}, {a}: installed\n"));
    let o = sb.dkms(&["status", "-m", "no-such-module"]);
    assert_eq!((o.code, o.stdout.as_str(), o.stderr.as_str()), (0, "", ""));
    compare_all(
        &mut sb,
        &[
            strings(&["status", "-m", "zt-built"]),
            strings(&["status", "-m", "zt-built", "-v", "2.0"]),
            strings(&["status", "-m", "zt-built/2.0"]),
            strings(&["status", "zt-added/1.0"]),
            strings(&["status", "-v", "1.0"]),
            strings(&["status", "-m", "zt-*"]),
            strings(&["status", "-m", "zt-dangling"]),
            strings(&["status", "-m", "no-such-module"]),
            strings(&["status", "-m", "zt-installed", "--directive=FOO=bar"]),
        ],
        false,
    );
}

#[test]
fn filters_by_kernel_and_arch() {
    let mut sb = Sandbox::new();
    populate(&sb);
    let a = arch();
    let o = sb.dkms(&["status", "-m", "zt-built", "-v", "2.0", "-k", KVER]);
    assert_eq!(o.stdout, format!("zt-built/2.0, {KVER}, {a}: built\n"));
    // A module not built for the kernel asked about shows as added.
    let o = sb.dkms(&["status", "-m", "zt-installed", "-k", KVER_OLD]);
    assert_eq!(o.stdout, "zt-installed/3.0: added\n");
    let o = sb.dkms(&["status", "-a", "i686"]);
    assert!(o.stdout.contains(&format!("zt-built/2.0, {KVER_OLD}, i686: built\n")), "{}", o.stdout);
    assert!(!o.stdout.contains(&format!(", {a}: ")), "{}", o.stdout);
    // Each -k is a pass of its own, duplicates included.
    let o = sb.dkms(&["status", "-m", "zt-built", "-k", KVER, "-k", KVER]);
    assert_eq!(o.stdout, format!("zt-built/2.0, {KVER}, {a}: built\n").repeat(2));
    compare_all(
        &mut sb,
        &[
            strings(&["status", "-k", KVER]),
            strings(&["status", "-k", "6.1*"]),
            strings(&["status", "-k", &format!("{KVER_OLD}/i686")]),
            strings(&["status", "-k", KVER, "-k", KVER_OLD]),
            strings(&["status", "-a", a]),
            strings(&["status", "-a", "i686"]),
            strings(&["status", "-m", "zt-installed", "-k", KVER_OLD]),
        ],
        false,
    );
}

/// What reading a conf prints lands in the middle of a status line, as with
/// upstream (which `echo -n`s the line's head before reading the conf).
#[test]
fn conf_messages_interleave() {
    let mut sb = Sandbox::new();
    let a = arch();
    // dkms.conf missing from the source directory
    sb.add_module("zt-noconf", "1.0", "");
    fs::remove_file(sb.src.join("zt-noconf-1.0/dkms.conf")).unwrap();
    sb.build_module("zt-noconf", "1.0", KVER, a, &["zt-noconf"]);
    // invalid conf: the validation messages, and the suffix loop still runs
    sb.add_module("zt-badconf", "1.0", "PACKAGE_NAME=zt-badconf\nBUILT_MODULE_NAME=zt-badconf\n");
    sb.build_module("zt-badconf", "1.0", KVER, a, &["zt-badconf"]);
    // a conf that talks (stdout is discarded, stderr is not) and uses a
    // deprecated directive (no warning: status reads non-strictly)
    sb.add_module(
        "zt-noisy",
        "1.0",
        &format!("{}echo to-stdout\necho to-stderr >&2\nREMAKE_INITRD=yes\n", Sandbox::simple_conf("zt-noisy", "1.0")),
    );
    sb.build_module("zt-noisy", "1.0", KVER, a, &["zt-noisy"]);
    sb.build_module("zt-noisy", "1.0", KVER_OLD, a, &["zt-noisy"]);

    let o = sb.run(Impl::Ours, &["status"]);
    assert_eq!(o.code, 0);
    let noconf = "<ROOT>/dkms/zt-noconf/1.0/source/dkms.conf";
    assert_eq!(
        o.combined,
        format!(
            "zt-badconf/1.0, {KVER}, {a}: builtdkms.conf: Error! No 'PACKAGE_VERSION' directive specified.\n\
             dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #0.\n\n\
             zt-noconf/1.0, {KVER}, {a}: built\nError! Could not locate dkms.conf file.\nFile: {noconf} does not exist.\n\n\
             zt-noisy/1.0, {KVER_OLD}, {a}: builtto-stderr\n\n\
             zt-noisy/1.0, {KVER}, {a}: builtto-stderr\n\n"
        )
    );
    compare_all(
        &mut sb,
        &[strings(&["status"]), strings(&["status", "-k", KVER, "-k", KVER]), strings(&["status", "--directive=X=y"])],
        true,
    );
}

/// Multi-module confs, BUILD_EXCLUSIVE per module, compressed modules, an
/// active link pointing at another version, uppercase names (C collation),
/// and directories status must ignore.
#[test]
fn harder_layouts() {
    let mut sb = Sandbox::new();
    let a = arch();
    // Two modules, the second one at the original location; only the first
    // one was built and installed.
    sb.add_module(
        "zt-multi",
        "1.0",
        "PACKAGE_NAME=zt-multi\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=one\nDEST_MODULE_LOCATION[0]=/updates\n\
         BUILT_MODULE_NAME[1]=two\nDEST_MODULE_LOCATION[1]=/kernel/drivers/misc\n",
    );
    sb.build_module("zt-multi", "1.0", KVER, a, &["one"]);
    sb.install_module("zt-multi", "1.0", KVER, a, &["one"], "/updates/dkms");
    // The second module is excluded for this kernel, so its absence is fine.
    sb.add_module(
        "zt-excl",
        "1.0",
        "PACKAGE_NAME=zt-excl\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=one\nDEST_MODULE_LOCATION[0]=/updates\n\
         BUILT_MODULE_NAME[1]=two\nDEST_MODULE_LOCATION[1]=/updates\nBUILD_EXCLUSIVE_KERNEL[1]=\"^4\\.\"\n",
    );
    sb.build_module("zt-excl", "1.0", KVER, a, &["one"]);
    // Two versions; the active link points at 1.0, so 2.0 is only built.
    for v in ["1.0", "2.0"] {
        sb.add_module("zt-two", v, &Sandbox::simple_conf("zt-two", v));
        sb.build_module("zt-two", v, KVER, a, &["zt-two"]);
    }
    sb.install_module("zt-two", "1.0", KVER, a, &["zt-two"], "/updates/dkms");
    // Uppercase sorts first in the C locale.
    sb.add_module("Zt-upper", "1.0", &Sandbox::simple_conf("Zt-upper", "1.0"));
    // Kernel directories must look like `+([0-9]).*`: `build/`, `tarball/`
    // and `9/` are not kernels, `1.x/` is; a kernel without `module/` is
    // not built.
    sb.add_module("zt-odd", "1.0", &Sandbox::simple_conf("zt-odd", "1.0"));
    for d in ["build", "tarball", "9", "1.x"] {
        fs::create_dir_all(sb.dkms.join("zt-odd/1.0").join(d).join(a).join("module")).unwrap();
    }
    fs::create_dir_all(sb.dkms.join("zt-odd/1.0").join(KVER).join(a).join("log")).unwrap();
    // A module directory with nothing in it, and a version whose `source`
    // is a real directory (what a binaries-only ldtarball leaves): invisible.
    fs::create_dir_all(sb.dkms.join("zt-empty")).unwrap();
    fs::create_dir_all(sb.dkms.join("zt-realsrc/1.0/source")).unwrap();
    // A CRLF conf.
    sb.add_module("zt-crlf", "1.0", &Sandbox::simple_conf("zt-crlf", "1.0").replace('\n', "\r\n"));
    sb.build_module("zt-crlf", "1.0", KVER, a, &["zt-crlf"]);
    sb.install_module("zt-crlf", "1.0", KVER, a, &["zt-crlf"], "/updates/dkms");

    let o = sb.dkms(&["status"]);
    assert_eq!(
        o.stdout,
        format!(
            "Zt-upper/1.0: added\n\
             zt-crlf/1.0, {KVER}, {a}: installed\n\
             zt-excl/1.0, {KVER}, {a}: built\n\
             zt-multi/1.0, {KVER}, {a}: installed (Built modules are missing in the kernel modules folder)\n\
             zt-odd/1.0, 1.x, {a}: built (Built modules are missing in the kernel modules folder)\n\
             zt-two/1.0, {KVER}, {a}: installed\n\
             zt-two/2.0, {KVER}, {a}: built\n"
        )
    );
    assert_eq!(o.stderr, "");
    compare_all(
        &mut sb,
        &[strings(&["status"]), strings(&["status", "-m", "zt-two"]), strings(&["status", "-k", "1.x"])],
        true,
    );

    // Compressed modules: once the kernel's module tree holds a .ko.xz, a
    // missing .ko is looked for as .ko.xz.
    let kz = "6.1.0-98-amd64";
    sb.add_module("zt-xz", "1.0", &Sandbox::simple_conf("zt-xz", "1.0"));
    sb.build_module("zt-xz", "1.0", kz, a, &[]);
    let m = sb.dkms.join("zt-xz/1.0").join(kz).join(a).join("module/zt-xz.ko.xz");
    fs::write(&m, "compressed, supposedly\n").unwrap();
    symlink(format!("1.0/{kz}/{a}"), sb.dkms.join(format!("zt-xz/kernel-{kz}-{a}"))).unwrap();
    let to = sb.inst.join(kz).join("updates/dkms");
    fs::create_dir_all(&to).unwrap();
    fs::copy(&m, to.join("zt-xz.ko.xz")).unwrap();
    let o = sb.dkms(&["status", "-m", "zt-xz"]);
    assert_eq!(o.stdout, format!("zt-xz/1.0, {kz}, {a}: installed\n"));
    compare_all(&mut sb, &[strings(&["status", "-m", "zt-xz"]), strings(&["status", "-k", kz])], true);
}

/// Upstream compares `readlink -f` of the active link with the literal
/// `$dkms_tree/m/v/k/a` string: a tree spelt with a trailing slash or
/// through a symlink never shows "installed".
#[test]
fn tree_spelling() {
    let mut sb = Sandbox::new();
    sb.installed("zt-installed", "3.0");
    let a = arch();
    let via_link = sb.root.join("dkms-link");
    symlink(&sb.dkms, &via_link).unwrap();
    let spellings = [format!("{}/", sb.dkms.display()), via_link.display().to_string()];
    let (src, inst) = (sb.src.display().to_string(), sb.inst.display().to_string());
    for dt in &spellings {
        let args = ["status", "--dkmstree", dt.as_str(), "--sourcetree", &src, "--installtree", &inst];
        let o = sb.run_with(Impl::Ours, None, &args, false);
        assert_eq!(o.stdout, format!("zt-installed/3.0, {KVER}, {a}: built\n"), "--dkmstree {dt}");
        if sb.upstream().is_some() {
            let u = sb.run_with(Impl::Upstream, None, &args, false);
            assert_same(&format!("status --dkmstree {dt}"), &o, &u);
        }
    }
    let o = sb.dkms(&["status"]);
    assert_eq!(o.stdout, format!("zt-installed/3.0, {KVER}, {a}: installed\n"));
}

/// `dkms-status` run directly behaves as `dkms status`.
#[test]
fn dkms_status_binary_is_the_same_verb() {
    let mut sb = Sandbox::new();
    populate(&sb);
    let direct = std::path::PathBuf::from(env!("CARGO_BIN_EXE_dkms-status"));
    for args in [vec![], vec!["-m", "zt-built"], vec!["-k", KVER]] {
        let mut via_front: Vec<&str> = vec!["status"];
        via_front.extend(&args);
        let f = sb.run_with(Impl::Ours, None, &via_front, true);
        let d = sb.run_with(Impl::Ours, Some(&direct), &args, true);
        assert_eq!(f, d, "dkms-status {args:?}");
    }
    let d = sb.run_with(Impl::Ours, Some(&direct), &[], true);
    assert_eq!(d.stdout, expected_stdout());
}
