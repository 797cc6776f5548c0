//! A build taken from the binary cache is finished as a local build is: a
//! module with a POST_BUILD script and a BUILD_DEPENDS with
//! BUILD_DEPENDS_REBUILD, built and pushed by a builder, is installed on a
//! node whose make fails if called; POST_BUILD ran there (after the modules
//! were in place), the build's bookkeeping (`.dep_*`, `module/`, `log/`) is
//! the builder's, make.log is the builder's with the node's lines after it,
//! `build/` is gone and the node's earlier failure of that build is
//! forgotten.

use super::{keypair, real_kernel, Tree, HELLO_C};
use crate::skip::skip_unless;
use crate::support::{arch, is_root};
use std::fs;
use std::path::{Path, PathBuf};

const DEP: &str = "dkms_cache_dep";
const POST: &str = "dkms_cache_post";
const V: &str = "1.0";

/// POST_BUILD runs in `build/`: it records the built module files it finds
/// in `<kver>/<arch>/module/` (they must be in place already) beside
/// `build/`, where the test reads them.
const POST_BUILD_SH: &str = "#!/bin/sh\nls ../*/*/module > ../post_build.ran\necho post_build ran\n";

/// A module `m` under the tree's source tree, with `extra` dkms.conf lines.
fn write_module(tree: &Tree, m: &str, extra: &str) {
    let dir = tree.sb.src.join(format!("{m}-{V}"));
    tree.sb.write(&dir.join(format!("{m}.c")), HELLO_C);
    tree.sb.write(&dir.join("Makefile"), &format!("obj-m := {m}.o\n"));
    let conf = format!(
        "PACKAGE_NAME=\"{m}\"\nPACKAGE_VERSION=\"{V}\"\nBUILT_MODULE_NAME[0]=\"{m}\"\n\
         DEST_MODULE_LOCATION[0]=\"/updates\"\nAUTOINSTALL=\"yes\"\n{extra}"
    );
    tree.sb.write(&dir.join("dkms.conf"), &conf);
}

/// A tree of the fleet holding the dependency and the module with
/// POST_BUILD.
fn tree(k: &str, keys: &Path, forbid_make: bool, framework: &str) -> Tree {
    let t = Tree::new(k, &keypair(keys, "fleet"), forbid_make, framework);
    write_module(&t, DEP, "");
    let extra = format!("BUILD_DEPENDS[0]=\"{DEP}\"\nBUILD_DEPENDS_REBUILD=\"yes\"\nPOST_BUILD=\"post_build.sh\"\n");
    write_module(&t, POST, &extra);
    let script = t.sb.src.join(format!("{POST}-{V}/post_build.sh"));
    t.sb.write(&script, POST_BUILD_SH);
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
    t
}

fn install(t: &Tree, m: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    t.dkms(&["install", "-m", m, "-v", V, "-k", &t.k], env)
}

/// `<dkms_tree>/<POST>/<V>/<kver>/<arch>`
fn base(t: &Tree) -> PathBuf {
    t.sb.dkms.join(POST).join(V).join(&t.k).join(arch())
}

/// Every file under `dir` (dot files included), by relative path.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            if e.file_type().expect("type").is_dir() {
                dirs.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).expect("under").display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_substituted_build_runs_post_build_and_writes_dep_files() {
    let k = real_kernel();
    let openssl = std::process::Command::new("openssl").arg("version").output().is_ok();
    skip_unless!(k.is_some() && is_root() && openssl, "needs root, openssl and installed kernel headers");
    let k = k.expect("kernel");
    let keys = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache-test-keys");
    let scratch = tempfile::tempdir().expect("tempdir");
    let cache = scratch.path().join("cache");

    // The builder builds both (the dependency first) and pushes them.
    let builder = tree(&k, &keys, false, &format!("binary_cache_push=\"{}\"\n", cache.display()));
    for m in [DEP, POST] {
        let (code, out, err) = install(&builder, m, &[]);
        assert_eq!(code, 0, "builder installs {m}:\n{out}\n{err}");
    }
    assert_eq!(builder.makes(), 2, "the builder builds both");

    // The node: without the cache its build fails (make must not run) and
    // is remembered; with it, nothing is built and the failure is forgotten.
    let node = tree(&k, &keys, true, &format!("binary_cache=\"{}\"\n", cache.display()));
    let (code, out, err) = install(&node, DEP, &[]);
    assert_eq!(code, 0, "node installs {DEP}:\n{out}\n{err}");
    let (code, out, err) = install(&node, POST, &[("DKMS_BINARY_CACHE", "")]);
    assert_ne!(code, 0, "without the cache the node cannot build:\n{out}\n{err}");
    let failure = node.sb.dkms.join(".failures").join(POST).join(V).join(&k).join(arch());
    assert!(failure.join("failure").is_file(), "the failed build is remembered");
    let made = node.makes();
    let (code, out, err) = install(&node, POST, &[]);
    assert_eq!(code, 0, "node installs {POST} from the cache:\n{out}\n{err}");
    assert_eq!(node.makes(), made, "no make on the node:\n{out}\n{err}");
    assert!(out.contains("Using prebuilt modules from "), "{out}");
    assert!(out.contains("Running the post_build script"), "{out}");
    assert!(!failure.exists(), "a successful build forgets the failure");

    // POST_BUILD ran, with the modules in place, as on the builder.
    let marker = |t: &Tree| fs::read_to_string(t.sb.dkms.join(POST).join(V).join("post_build.ran"));
    let on_node = marker(&node).expect("POST_BUILD ran on the node");
    assert!(on_node.contains(&format!("{POST}.ko")), "{on_node}");
    assert_eq!(on_node, marker(&builder).expect("POST_BUILD ran on the builder"));

    // The build's bookkeeping is the builder's.
    let (b, n) = (base(&builder), base(&node));
    assert_eq!(files(&n), files(&b), "the same files in the build");
    assert!(files(&n).contains(&format!(".dep_{DEP}")), "{:?}", files(&n));
    assert_eq!(fs::read_to_string(n.join(format!(".dep_{DEP}"))).expect(".dep"), format!("{V}\n"));
    for f in files(&b).iter().filter(|f| *f != "log/make.log") {
        assert_eq!(fs::read(b.join(f)).expect("builder"), fs::read(n.join(f)).expect("node"), "{f}");
    }
    // make.log: the builder's, then where it came from, then POST_BUILD's run.
    let (blog, nlog) = (fs::read_to_string(b.join("log/make.log")), fs::read_to_string(n.join("log/make.log")));
    let (blog, nlog) = (blog.expect("builder's log"), nlog.expect("node's log"));
    let rest = nlog.strip_prefix(&blog).unwrap_or_else(|| panic!("the node's log starts with the builder's:\n{nlog}"));
    let using = rest.find("Using prebuilt modules from ").unwrap_or_else(|| panic!("{rest}"));
    let post = rest.find("Running the post_build script").unwrap_or_else(|| panic!("{rest}"));
    assert!(using < post && rest[post..].contains("post_build ran"), "{rest}");
    assert!(!node.sb.dkms.join(POST).join(V).join("build").exists(), "build/ is removed");
    let (_, status, _) = node.dkms(&["status", "-m", POST], &[]);
    assert!(status.contains(": installed"), "{status}");
}
