//! Our additions `mktree`, `unmktree` and `ltdk` (not in upstream dkms), on
//! private trees with real kernel builds against the installed headers
//! (`<installtree>/<k>/build` links to `/lib/modules/<k>/build`): the
//! skeleton goes through add, build and install; `--from` copies an example;
//! unmktree refuses what is registered or leads out of the source tree;
//! ltdk reads real modules, plain and compressed, and their JSON records
//! validate against the schema.

use crate::json::Validator;
use crate::skip::{skip_part, skip_unless};
use crate::support::{arch, have, is_root, newest_kernel, Output, Sandbox};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const NO_HEADERS: &str = "no kernel headers with a Module.symvers under /lib/modules, or no make/gcc";

/// A kernel whose headers can build modules (the newest such one).
fn real_kernel() -> Option<String> {
    if !have("make") || !have("gcc") {
        return None;
    }
    newest_kernel(|b| b.join("Module.symvers").is_file() && b.join("Makefile").is_file())
}

/// A sandbox whose install tree has kernel `k`'s real headers; no signing.
fn world(k: &str) -> Sandbox {
    let sb = Sandbox::new();
    sb.write(&sb.sysconf.join("dkms/framework.conf"), "try_sign_modules=\"false\"\n");
    fs::create_dir_all(sb.inst.join(k)).unwrap();
    std::os::unix::fs::symlink(Path::new("/lib/modules").join(k).join("build"), sb.inst.join(k).join("build")).unwrap();
    sb
}

fn ok(o: &Output, what: &str) {
    assert_eq!(o.code, 0, "{what}:\n{}{}", o.stdout, o.stderr);
}

fn built_dir(sb: &Sandbox, m: &str, v: &str, k: &str) -> PathBuf {
    sb.dkms.join(m).join(v).join(k).join(arch()).join("module")
}

#[test]
fn mktree_skeleton_adds_builds_installs_and_passes_ltdk() {
    let k = real_kernel();
    skip_unless!(k.is_some(), NO_HEADERS);
    let k = k.unwrap();
    let mut sb = world(&k);
    let o = sb.dkms(&["mktree", "-m", "seed_skel", "-v", "0.1"]);
    ok(&o, "mktree");
    assert_eq!(
        o.stdout,
        "Created module tree <ROOT>/src/seed_skel-0.1\n  dkms.conf\n  Makefile\n  seed_skel.c\nNext: dkms add seed_skel/0.1\n"
    );
    let dir = sb.src.join("seed_skel-0.1");
    let conf = fs::read_to_string(dir.join("dkms.conf")).unwrap();
    assert_eq!(
        conf,
        "PACKAGE_NAME=\"seed_skel\"\nPACKAGE_VERSION=\"0.1\"\nBUILT_MODULE_NAME[0]=\"seed_skel\"\n\
         DEST_MODULE_LOCATION[0]=\"/updates/dkms\"\nAUTOINSTALL=\"yes\"\n"
    );
    let makefile = fs::read_to_string(dir.join("Makefile")).unwrap();
    assert!(makefile.contains("obj-m := seed_skel.o") && !makefile.contains("$(shell uname"), "{makefile}");
    // By hand without a kernel named, the Makefile refuses instead of
    // guessing the running one.
    let by_hand = Command::new("make").arg("-C").arg(&dir).output().unwrap();
    assert!(!by_hand.status.success());
    assert!(String::from_utf8_lossy(&by_hand.stderr).contains("make KERNELRELEASE=<kernel release>"));
    assert_eq!(fs::read_dir(&sb.src).unwrap().count(), 1, "no temporary left in the source tree");

    // An existing tree is refused (and left alone).
    let o = sb.dkms(&["mktree", "seed_skel/0.1"]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("Error! <ROOT>/src/seed_skel-0.1 already exists."), "{}", o.stderr);
    let o = sb.dkms(&["mktree", "seed_skel/0.1", "--json"]);
    let recs = Validator::new().check(&o.stdout, 3);
    assert_eq!(recs[0]["kind"], "tree-exists");
    assert!(recs[0]["hint"].as_str().unwrap().contains("dkms unmktree seed_skel/0.1"));

    ok(&sb.dkms(&["add", "seed_skel/0.1"]), "add");
    let o = sb.dkms(&["build", "seed_skel/0.1", "-k", &k]);
    ok(&o, "build");
    assert!(built_dir(&sb, "seed_skel", "0.1", &k).join("seed_skel.ko").is_file());

    let o = sb.dkms(&["ltdk", "seed_skel/0.1", "-k", &k]);
    ok(&o, "ltdk");
    assert_eq!(
        o.stdout,
        format!(
            "seed_skel.ko (seed_skel/0.1, {k}, {a}):\n  license: \"GPL\": GPL-compatible\n  \
             GPL-only symbols used: none\n  verdict: ok\n",
            a = arch()
        )
    );
    let o = sb.dkms(&["ltdk", "seed_skel/0.1", "-k", &k, "--json"]);
    let recs = Validator::new().check(&o.stdout, 0);
    assert_eq!(recs[0]["type"], "license");
    assert_eq!((recs[0]["license"].as_str(), recs[0]["gpl_compatible"].as_bool()), (Some("GPL"), Some(true)));
    assert_eq!(recs[0]["ok"], true);

    if !is_root() {
        skip_part("install", "needs root (install refuses others)");
        return;
    }
    let o = sb.dkms(&["install", "seed_skel/0.1", "-k", &k]);
    ok(&o, "install");
    let installed = sb.inst.join(&k).join("updates/dkms");
    let names: Vec<String> =
        fs::read_dir(&installed).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().any(|n| n.starts_with("seed_skel.ko")), "{names:?}");
    let o = sb.dkms(&["status", "seed_skel/0.1"]);
    assert_eq!(o.stdout, format!("seed_skel/0.1, {k}, {}: installed\n", arch()));
}

#[test]
fn mktree_from_a_copy_of_the_example() {
    let k = real_kernel();
    skip_unless!(k.is_some(), NO_HEADERS);
    let k = k.unwrap();
    let mut sb = world(&k);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dkms_hello-1.0");
    // Without its dkms.conf: one is generated from the Makefile's obj-m.
    let bare = sb.work.join("hello-bare");
    fs::create_dir_all(&bare).unwrap();
    for f in ["Makefile", "dkms_hello.c"] {
        fs::copy(example.join(f), bare.join(f)).unwrap();
    }
    std::os::unix::fs::symlink("dkms_hello.c", bare.join("link.c")).unwrap();
    let o = sb.dkms(&["mktree", "-m", "hello_copy", "-v", "2.0", "--from", bare.to_str().unwrap()]);
    ok(&o, "mktree --from");
    assert_eq!(
        o.stdout,
        "Copied <ROOT>/work/hello-bare to <ROOT>/src/hello_copy-2.0\n  dkms.conf\nNext: dkms add hello_copy/2.0\n"
    );
    let dir = sb.src.join("hello_copy-2.0");
    assert_eq!(
        fs::read_to_string(dir.join("dkms.conf")).unwrap(),
        "PACKAGE_NAME=\"hello_copy\"\nPACKAGE_VERSION=\"2.0\"\nBUILT_MODULE_NAME[0]=\"dkms_hello\"\n\
         DEST_MODULE_LOCATION[0]=\"/updates/dkms\"\nAUTOINSTALL=\"yes\"\n"
    );
    assert_eq!(fs::read(dir.join("dkms_hello.c")).unwrap(), fs::read(example.join("dkms_hello.c")).unwrap());
    assert_eq!(fs::read_link(dir.join("link.c")).unwrap(), Path::new("dkms_hello.c"), "links copied as links");
    ok(&sb.dkms(&["add", "hello_copy/2.0"]), "add");
    ok(&sb.dkms(&["build", "hello_copy/2.0", "-k", &k]), "build");
    assert!(built_dir(&sb, "hello_copy", "2.0", &k).join("dkms_hello.ko").is_file());

    // With its dkms.conf: the names come from it, the conf is kept as is.
    let full = sb.work.join("hello-full");
    fs::create_dir_all(&full).unwrap();
    for f in ["Makefile", "dkms_hello.c", "dkms.conf"] {
        fs::copy(example.join(f), full.join(f)).unwrap();
    }
    let o = sb.dkms(&["mktree", "--from", full.to_str().unwrap(), "--json"]);
    let recs = Validator::new().check(&o.stdout, 0);
    assert_eq!((recs[0]["type"].as_str(), recs[0]["module"].as_str()), (Some("tree-created"), Some("dkms_hello")));
    assert_eq!(recs[0]["generated"], serde_json::json!([]));
    assert_eq!(recs[0]["copied_from"], "<ROOT>/work/hello-full");
    let copied = sb.src.join("dkms_hello-1.0/dkms.conf");
    assert_eq!(fs::read(copied).unwrap(), fs::read(example.join("dkms.conf")).unwrap());
    // Names that disagree with the conf, and a missing directory.
    let o = sb.dkms(&["mktree", "-m", "other", "-v", "1.0", "--from", full.to_str().unwrap()]);
    assert_eq!(o.code, 8, "{}", o.stderr);
    assert!(!sb.src.join("other-1.0").exists());
    let o = sb.dkms(&["mktree", "-m", "gone", "-v", "1", "--from", "/nonexistent/dir"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(!sb.src.join("gone-1").exists());
    // --from is mktree's only: to add it is upstream's unknown option.
    let o = sb.dkms(&["add", "--from", full.to_str().unwrap()]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.starts_with("\nError! Unknown option: --from\n"), "{}", o.stderr);
}

#[test]
fn unmktree_refuses_registered_and_links_and_removes_the_rest() {
    let mut sb = Sandbox::new();
    ok(&sb.dkms(&["mktree", "-m", "seed_rm", "-v", "1"]), "mktree");
    let dir = sb.src.join("seed_rm-1");
    // A link inside the tree to a directory outside it: deleted as a link,
    // never followed.
    let outside = sb.work.join("precious");
    sb.write(&outside.join("keep.txt"), "keep\n");
    std::os::unix::fs::symlink(&outside, dir.join("escape")).unwrap();
    ok(&sb.dkms(&["add", "seed_rm/1"]), "add");

    let o = sb.dkms(&["unmktree", "seed_rm/1"]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("seed_rm/1 is registered in the DKMS tree"), "{}", o.stderr);
    assert!(dir.join("dkms.conf").is_file(), "left alone");
    let o = sb.dkms(&["unmktree", "seed_rm/1", "--json"]);
    let recs = Validator::new().check(&o.stdout, 3);
    assert_eq!(recs[0]["kind"], "tree-registered");
    assert!(recs[0]["hint"].as_str().unwrap().contains("dkms remove seed_rm/1 --all"));

    ok(&sb.dkms(&["remove", "seed_rm/1", "--all"]), "remove");
    let o = sb.dkms(&["unmktree", "-m", "seed_rm", "-v", "1", "--json"]);
    let recs = Validator::new().check(&o.stdout, 0);
    assert_eq!(recs[0]["type"], "tree-removed");
    assert!(!dir.exists());
    assert_eq!(fs::read_to_string(outside.join("keep.txt")).unwrap(), "keep\n");
    assert_eq!(fs::read_dir(&sb.src).unwrap().count(), 0, "nothing left aside");
    let o = sb.dkms(&["unmktree", "seed_rm/1"]);
    assert_eq!(o.code, 2, "already gone: {}", o.stderr);

    // --force deletes a registered module's tree.
    ok(&sb.dkms(&["mktree", "seed_force/1"]), "mktree");
    ok(&sb.dkms(&["add", "seed_force/1"]), "add");
    ok(&sb.dkms(&["unmktree", "seed_force/1", "--force"]), "unmktree --force");
    assert!(!sb.src.join("seed_force-1").exists());

    // <module>-<version> itself a link out of the source tree: refused,
    // nothing deleted on either side.
    sb.write(&outside.join("seed_evil-1/dkms.conf"), "PACKAGE_NAME=seed_evil\n");
    std::os::unix::fs::symlink(outside.join("seed_evil-1"), sb.src.join("seed_evil-1")).unwrap();
    let o = sb.dkms(&["unmktree", "seed_evil/1", "--force"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("it is a symbolic link to <ROOT>/work/precious/seed_evil-1"), "{}", o.stderr);
    assert!(sb.src.join("seed_evil-1").symlink_metadata().is_ok());
    assert!(outside.join("seed_evil-1/dkms.conf").is_file());
    // Names that are not one path component.
    // (refused by the name check every verb makes: exit 8, kind name-unsafe)
    let o = sb.dkms(&["unmktree", "-m", "..", "-v", "x"]);
    assert_eq!(o.code, 8, "{}", o.stderr);
}

/// A module whose `MODULE_LICENSE("Proprietary")` calls GPL-only exports.
/// The kernel's modpost refuses to finish such a module (that check is the
/// kernel's own), so its MAKE stops at the object kbuild compiled, which is
/// what ltdk reads: `.modinfo` and the undefined symbols.
const PROPRIETARY_C: &str = r#"#include <linux/module.h>
#include <linux/init.h>
#include <linux/ktime.h>
#include <linux/rcupdate.h>

static int __init seed_prop_init(void)
{
	synchronize_rcu();
	pr_info("seed_prop: %lld\n", (long long)ktime_get());
	return 0;
}

static void __exit seed_prop_exit(void)
{
}

module_init(seed_prop_init);
module_exit(seed_prop_exit);
MODULE_LICENSE("Proprietary");
"#;

/// Proprietary too, but using only plain exports: the kernel loads it
/// (tainted), so ltdk passes it.
const TAINTING_C: &str = r#"#include <linux/module.h>
#include <linux/init.h>

static int __init seed_taint_init(void)
{
	pr_info("seed_taint: loaded\n");
	return 0;
}

static void __exit seed_taint_exit(void)
{
}

module_init(seed_taint_init);
module_exit(seed_taint_exit);
MODULE_LICENSE("Proprietary");
"#;

#[test]
fn ltdk_refuses_a_proprietary_module_using_gpl_only_exports() {
    let k = real_kernel();
    skip_unless!(k.is_some(), NO_HEADERS);
    let k = k.unwrap();
    let mut sb = world(&k);
    let v = Validator::new();
    let prop = sb.work.join("prop");
    sb.write(&prop.join("seed_prop.c"), PROPRIETARY_C);
    sb.write(&prop.join("Makefile"), "obj-m := seed_prop.o\n");
    ok(&sb.dkms(&["mktree", "seed_prop/1.0", "--from", prop.to_str().unwrap()]), "mktree");
    let conf = sb.src.join("seed_prop-1.0/dkms.conf");
    let text = fs::read_to_string(&conf).unwrap();
    fs::write(
        &conf,
        format!(
            "{text}MAKE[0]=\"make -C ${{kernel_source_dir}} M=${{dkms_tree}}/seed_prop/1.0/build seed_prop.o \
             && cp seed_prop.o seed_prop.ko\"\n"
        ),
    )
    .unwrap();
    ok(&sb.dkms(&["add", "seed_prop/1.0"]), "add");
    ok(&sb.dkms(&["build", "seed_prop/1.0", "-k", &k]), "build");
    let o = sb.dkms(&["ltdk", "seed_prop/1.0", "-k", &k]);
    assert_eq!(o.code, 22, "{}{}", o.stdout, o.stderr);
    assert_eq!(
        o.stdout,
        format!(
            "seed_prop.ko (seed_prop/1.0, {k}, {a}):\n  license: \"Proprietary\": not GPL-compatible, loading it \
             taints the kernel (P)\n  GPL-only symbols used (2): ktime_get, synchronize_rcu\n  verdict: refused: a \
             module that is not GPL-compatible cannot use GPL-only symbols\n",
            a = arch()
        )
    );
    assert_eq!(
        o.stderr,
        "\nError! seed_prop/1.0: a module file that is not GPL-compatible uses EXPORT_SYMBOL_GPL symbols; the \
         kernel will not load it.\n"
    );
    let o = sb.dkms(&["ltdk", "seed_prop/1.0", "-k", &k, "--json"]);
    let recs = v.check(&o.stdout, 22);
    assert_eq!(recs[0]["type"], "license");
    assert_eq!(recs[0]["license"], "Proprietary");
    assert_eq!((recs[0]["gpl_compatible"].as_bool(), recs[0]["taints"].as_bool()), (Some(false), Some(true)));
    assert_eq!(recs[0]["gpl_only_symbols"], serde_json::json!(["ktime_get", "synchronize_rcu"]));
    assert_eq!(recs[0]["ok"], false);
    assert_eq!((recs[1]["type"].as_str(), recs[1]["kind"].as_str()), (Some("error"), Some("gpl-only-symbols")));

    // Compressed module files read the same (decompressed in-process).
    let mdir = built_dir(&sb, "seed_prop", "1.0", &k);
    for (tool, args, suffix) in [("xz", "-f", ".xz"), ("zstd", "-q -f --rm", ".zst"), ("gzip", "-f", ".gz")] {
        if !have(tool) {
            skip_part(&format!("{suffix} module"), &format!("{tool} is not installed"));
            continue;
        }
        let plain = mdir.join("seed_prop.ko");
        let st = Command::new("sh").arg("-c").arg(format!("{tool} {args} {}", plain.display())).status().unwrap();
        assert!(st.success() && mdir.join(format!("seed_prop.ko{suffix}")).is_file(), "{tool}");
        let o = sb.dkms(&["ltdk", "seed_prop/1.0", "-k", &k, "--json"]);
        let recs = v.check(&o.stdout, 22);
        assert!(recs[0]["file"].as_str().unwrap().ends_with(&format!("seed_prop.ko{suffix}")));
        assert_eq!(recs[0]["gpl_only_symbols"], serde_json::json!(["ktime_get", "synchronize_rcu"]), "{suffix}");
        assert_eq!(recs[0]["license"], "Proprietary", "{suffix}");
        // Back to the plain file for the next tool.
        let unpack = match tool {
            "xz" => "xz -d -f",
            "zstd" => "zstd -q -d -f --rm",
            _ => "gzip -d -f",
        };
        let packed = mdir.join(format!("seed_prop.ko{suffix}"));
        let st = Command::new("sh").arg("-c").arg(format!("{unpack} {}", packed.display())).status().unwrap();
        assert!(st.success() && plain.is_file());
    }

    // Proprietary without GPL-only exports: loads (tainted), exit 0.
    let taint = sb.work.join("taint");
    sb.write(&taint.join("seed_taint.c"), TAINTING_C);
    sb.write(&taint.join("Makefile"), "obj-m := seed_taint.o\n");
    ok(&sb.dkms(&["mktree", "seed_taint/1.0", "--from", taint.to_str().unwrap()]), "mktree");
    ok(&sb.dkms(&["add", "seed_taint/1.0"]), "add");
    ok(&sb.dkms(&["build", "seed_taint/1.0", "-k", &k]), "build");
    let o = sb.dkms(&["ltdk", "seed_taint/1.0", "-k", &k]);
    ok(&o, "ltdk of a tainting module");
    assert!(o.stdout.contains("  GPL-only symbols used: none\n  verdict: ok, but loading it taints the kernel\n"));

    // Nothing built for a kernel; a module that is not added.
    let o = sb.dkms(&["ltdk", "seed_taint/1.0", "-k", "6.1.0-1-nothing"]);
    assert_eq!(o.code, 6, "{}", o.stderr);
    let o = sb.dkms(&["ltdk", "seed_none/1.0", "-k", &k]);
    assert_eq!(o.code, 3, "{}", o.stderr);
}

/// A `--from` directory whose dkms.conf is a dangling link: mktree, as
/// root, does not write the conf it generates through that link (to
/// wherever it points; issue 24: what dkms writes is a new file).
#[test]
fn mktree_does_not_write_through_a_copied_link() {
    let mut sb = Sandbox::new();
    let target = sb.root.join("outside/planted.conf");
    fs::create_dir_all(target.parent().unwrap()).unwrap();
    let from = sb.work.join("linked");
    sb.write(&from.join("Makefile"), "obj-m := linked.o\n");
    std::os::unix::fs::symlink(&target, from.join("dkms.conf")).unwrap();
    let _ = sb.dkms(&["mktree", "-m", "linked", "-v", "1", "--from", from.to_str().unwrap()]);
    assert!(!target.exists(), "mktree wrote through the dkms.conf link");
    assert!(fs::read_dir(target.parent().unwrap()).unwrap().next().is_none(), "something was made outside");
}
