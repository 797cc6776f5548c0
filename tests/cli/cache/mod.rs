//! The binary cache with a real module built against the installed kernel
//! headers: a builder tree with binary_cache_push builds and pushes; a node
//! tree whose `make` fails if a build runs installs the same files from
//! `python3 -m http.server` and from `file://`; every fault (tampered
//! archive or manifest, another signer, server down or hanging, truncated
//! archive, other headers, an archive with a `../` entry) falls back to a
//! local build with its warning; `cache verify` catches each tampering.
//! The builder's entry is made once and copied for each scenario.

mod faults;
mod hostile_dir;
mod oci;
mod oci_redirect;
mod post_build;
mod progress;
mod tls;

use crate::skip::skip_unless;
use crate::support::{is_root, newest_kernel, ours, Sandbox};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub(crate) const M: &str = "dkms_cache_test";
pub(crate) const V: &str = "1.0";

pub(crate) const HELLO_C: &str = r#"#include <linux/module.h>
#include <linux/init.h>
static int __init hello_init(void) { return 0; }
static void __exit hello_exit(void) { }
module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
MODULE_VERSION("1.0");
"#;

/// A `make` that records every build (a call with KERNELRELEASE=) and
/// either fails it (`forbid`) or runs the real make; other calls (dkms asks
/// make for the kernel's CC) go to the real make.
fn fake_make(log: &Path, forbid: bool) -> String {
    let on_build = if forbid { "echo 'make must not run' >&2; exit 99" } else { "exec /usr/bin/make \"$@\"" };
    format!(
        "#!/bin/sh\ncase \"$*\" in *KERNELRELEASE=*) echo \"make $*\" >> '{}'; {on_build};; esac\nexec /usr/bin/make \"$@\"\n",
        log.display()
    )
}

/// A kernel whose headers are installed (build dir with Module.symvers).
pub(crate) fn real_kernel() -> Option<String> {
    newest_kernel(|b| b.join("Module.symvers").is_file())
}

/// A loopback port nothing listens on now, for a server a test starts
/// (or, left unused, for one that is down).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Wait until something listens on 127.0.0.1:`port` (`tries` × 50 ms at
/// most): the servers the tests start take a moment.
pub(crate) fn wait_for_port(port: u16, tries: u32) {
    for _ in 0..tries {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A containers-auth.json in `dir` with the basic credentials dkms:s3cret
/// for the registry on 127.0.0.1:`port`.
pub(crate) fn basic_auth_file(dir: &Path, port: u16) -> PathBuf {
    let auth = dir.join("auth.json");
    let json = format!("{{\"auths\":{{\"127.0.0.1:{port}\":{{\"auth\":\"ZGttczpzM2NyZXQ=\"}}}}}}");
    fs::write(&auth, json).expect("write");
    auth
}

/// The MOK pair `name` (key, DER certificate) under `dir`.
pub(crate) fn keypair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (key, cert) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.der")));
    if !key.is_file() {
        fs::create_dir_all(dir).expect("mkdir");
        let st = Command::new("openssl")
            .args(["req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "36500", "-outform", "DER"])
            .args(["-subj", &format!("/CN={name}"), "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl req");
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    }
    (key, cert)
}

/// One dkms tree of the fleet: the module's source, headers linked from
/// the system (or `headers`), signing with `signer`, and framework.conf
/// lines `extra`.
pub(crate) struct Tree {
    pub sb: Sandbox,
    pub k: String,
    pub make_log: PathBuf,
}

impl Tree {
    pub(crate) fn new(k: &str, signer: &(PathBuf, PathBuf), forbid_make: bool, extra: &str) -> Tree {
        let sb = Sandbox::new();
        fs::create_dir_all(sb.inst.join(k)).expect("mkdir");
        std::os::unix::fs::symlink(format!("/lib/modules/{k}/build"), sb.inst.join(k).join("build")).expect("link");
        let dir = sb.src.join(format!("{M}-{V}"));
        sb.write(&dir.join(format!("{M}.c")), HELLO_C);
        sb.write(&dir.join("Makefile"), &format!("obj-m := {M}.o\n"));
        sb.write(&dir.join("dkms.conf"), &Sandbox::simple_conf(M, V));
        let conf = format!(
            "mok_signing_key=\"{}\"\nmok_certificate=\"{}\"\nparallel_jobs=2\n{extra}",
            signer.0.display(),
            signer.1.display()
        );
        sb.write(&sb.sysconf.join("dkms/framework.conf"), &conf);
        let make_log = sb.root.join("make-calls.log");
        sb.write(&sb.bin.join("make"), &fake_make(&make_log, forbid_make));
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(sb.bin.join("make"), fs::Permissions::from_mode(0o755)).expect("chmod");
        Tree { sb, k: k.to_string(), make_log }
    }

    /// Run our dkms on this tree with `env` added; (status, stdout, stderr).
    /// Killed after 5 minutes (exit 137): a hang fails, never stalls.
    pub(crate) fn dkms(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let mut c = Command::new("timeout");
        c.args(["-s", "KILL", "300"]).arg(ours());
        c.args(args).args(self.sb.tree_args()).current_dir(&self.sb.work);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("DKMS_") || k.to_string_lossy().to_lowercase().ends_with("_proxy") {
                c.env_remove(&k);
            }
        }
        let path = format!("{}:{}", self.sb.bin.display(), std::env::var("PATH").unwrap_or_default());
        c.env("LC_ALL", "C").env("TMPDIR", &self.sb.tmp).env("DKMS_SYSCONFDIR", &self.sb.sysconf).env("PATH", path);
        c.envs(env.iter().copied());
        let out = c.output().expect("run dkms");
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), s(&out.stdout), s(&out.stderr))
    }

    pub(crate) fn install(&self, env: &[(&str, &str)]) -> (i32, String, String) {
        self.dkms(&["install", "-m", M, "-v", V, "-k", &self.k], env)
    }

    /// The builds make ran.
    pub(crate) fn makes(&self) -> usize {
        fs::read_to_string(&self.make_log).unwrap_or_default().lines().count()
    }

    /// The installed module file.
    pub(crate) fn installed(&self) -> PathBuf {
        self.sb.inst.join(&self.k).join(format!("updates/dkms/{M}.ko"))
    }
}

/// What every scenario starts from: the builder's tree (built, installed,
/// pushed) and its cache directory holding one entry.
pub(crate) struct Fleet {
    pub k: String,
    pub keys: PathBuf,
    pub builder: Tree,
    pub cache: PathBuf,
    pub key: String,
}

// SAFETY: the only interior mutability of a Sandbox is `run_as`, which is
// never set on the builder's; after set-up the fleet is only read.
unsafe impl Sync for Fleet {}

static FLEET: OnceLock<Option<Fleet>> = OnceLock::new();

/// The builder's work, done once per test run.
pub(crate) fn fleet() -> Option<&'static Fleet> {
    FLEET
        .get_or_init(|| {
            let k = real_kernel()?;
            if !is_root() || Command::new("openssl").arg("version").output().is_err() {
                return None;
            }
            let keys = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache-test-keys");
            let signer = keypair(&keys, "fleet");
            let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cache-test-{}", std::process::id()));
            // Earlier runs' caches (the fleet lives as long as the process).
            for e in fs::read_dir(env!("CARGO_TARGET_TMPDIR")).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().starts_with("cache-test-") && e.path() != keys {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
            let builder = Tree::new(&k, &signer, false, &format!("binary_cache_push=\"{}\"\n", cache.display()));
            let (code, out, err) = builder.install(&[]);
            assert_eq!(code, 0, "builder install:\n{out}\n{err}");
            assert!(out.contains("Binary cache entry "), "{out}");
            assert_eq!(builder.makes(), 1, "the builder builds");
            let key = fs::read_dir(&cache)
                .expect("cache dir")
                .flatten()
                .find_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".json")).map(String::from))
                .expect("an entry");
            Some(Fleet { k, keys, builder, cache, key })
        })
        .as_ref()
}

/// A copy of the builder's cache for one scenario to change.
pub(crate) fn cache_copy(f: &Fleet, into: &Path) -> PathBuf {
    let dir = into.join("cache");
    fs::create_dir_all(&dir).expect("mkdir");
    for e in fs::read_dir(&f.cache).expect("cache").flatten() {
        fs::copy(e.path(), dir.join(e.file_name())).expect("copy");
    }
    dir
}

/// `python3 -m http.server` on 127.0.0.1, a free port, serving `dir`;
/// stopped when dropped.
pub(crate) struct Server {
    child: std::process::Child,
    pub url: String,
}

impl Server {
    pub(crate) fn start(dir: &Path) -> Server {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m http.server");
        wait_for_port(port, 100);
        Server { child, url: format!("http://127.0.0.1:{port}/") }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A node with binary_cache = `source` installs without running make;
/// its files are the builder's.
pub(crate) fn node_installs_from(f: &Fleet, source: &str) {
    let signer = keypair(&f.keys, "fleet");
    let node = Tree::new(&f.k, &signer, true, &format!("binary_cache=\"{source}\"\n"));
    // The dry run fetches and verifies the entry too, and says it would use
    // it; the tree stays as it was.
    let before = node.sb.listing();
    let (code, out, err) = node.dkms(&["install", "-m", M, "-v", V, "-k", &f.k, "--dry-run", "--json"], &[]);
    assert_eq!(code, 0, "node install --dry-run:\n{out}\n{err}");
    let planned: Vec<serde_json::Value> = out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let sub =
        planned.iter().find(|r| r["action"] == "substitute").unwrap_or_else(|| panic!("no substitute: {out}{err}"));
    assert_eq!((sub["source"].as_str(), sub["key"].as_str()), (Some(source), Some(f.key.as_str())), "{sub}");
    assert!(!planned.iter().any(|r| r["action"] == "build"), "{out}");
    assert_eq!(node.sb.listing(), before, "the dry run changed the tree");
    let (code, out, err) = node.install(&[]);
    assert_eq!(code, 0, "node install:\n{out}\n{err}");
    assert_eq!(node.makes(), 0, "no build on the node:\n{out}\n{err}");
    assert!(out.contains(&format!("Using prebuilt modules from {source} ({})", &f.key[..12])), "{out}");
    assert!(!err.contains("Warning"), "{err}");
    let same = |rel: &str| {
        let a = fs::read(f.builder.sb.dkms.join(M).join(V).join(&f.k).join(crate::support::arch()).join(rel));
        let b = fs::read(node.sb.dkms.join(M).join(V).join(&f.k).join(crate::support::arch()).join(rel));
        assert_eq!(a.expect("builder file"), b.expect("node file"), "{rel}");
    };
    same(&format!("module/{M}.ko"));
    let log = |t: &Tree| {
        fs::read_to_string(t.sb.dkms.join(M).join(V).join(&f.k).join(crate::support::arch()).join("log/make.log"))
    };
    let (builder_log, node_log) = (log(&f.builder).expect("builder's log"), log(&node).expect("node's log"));
    let added =
        node_log.strip_prefix(&builder_log).unwrap_or_else(|| panic!("the builder's make.log is kept:\n{node_log}"));
    assert!(added.starts_with(&format!("\nUsing prebuilt modules from {source} ({})\n", &f.key[..12])), "{added}");
    assert_eq!(fs::read(f.builder.installed()).expect("builder's"), fs::read(node.installed()).expect("node's"));
    let (_, status, _) = node.dkms(&["status", "-m", M], &[]);
    assert!(status.contains(": installed"), "{status}");
}

#[test]
fn node_installs_from_http() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let server = Server::start(&f.cache);
    node_installs_from(f, &server.url);
}

#[test]
fn node_installs_from_a_file_url_and_a_directory() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    node_installs_from(f, &format!("file://{}", f.cache.display()));
    node_installs_from(f, &f.cache.display().to_string());
}

#[test]
fn cache_key_and_verify_agree_with_the_build() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let (code, out, err) = f.builder.dkms(&["cache", "key", &format!("{M}/{V}"), "-k", &f.k], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().next(), Some(f.key.as_str()), "cache key prints the pushed key");
    assert!(out.contains("\"Module.symvers\""), "{out}");
    let (code, out, err) = f.builder.dkms(&["cache", "verify", &f.cache.display().to_string()], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 entries checked"), "{out}");
    // push again into another directory: the same entry.
    let other = f.builder.sb.root.join("again");
    let (code, out, err) =
        f.builder.dkms(&["cache", "push", &format!("{M}/{V}"), "-k", &f.k, "--to", &other.display().to_string()], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(other.join(format!("{}.tar.zst", f.key)).is_file());
    // gc keeps the kernel's entries, drops the others'.
    let dir = other.display().to_string();
    let (code, out, _) = f.builder.dkms(&["cache", "gc", &dir, "--keep-kernels", &f.k], &[]);
    assert_eq!((code, other.join(format!("{}.json", f.key)).is_file()), (0, true), "{out}");
    let (code, out, _) = f.builder.dkms(&["cache", "gc", &dir, "--keep-kernels", "0.0-other"], &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(fs::read_dir(&other).expect("dir").count(), 0, "{out}");
}

#[test]
fn no_cache_configured_changes_nothing() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let signer = keypair(&f.keys, "fleet");
    let plain = Tree::new(&f.k, &signer, false, "");
    let (code, out, err) = plain.dkms(&["build", "-m", M, "-v", V, "-k", &f.k], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("Binary cache") && !err.contains("Binary cache"), "{out}{err}");
    assert!(!out.contains("prebuilt"), "{out}");
    assert_eq!(plain.makes(), 1);
}

/// kill -9 at each crash point of an install from the cache (after the
/// signature check, after the download, then those of every build: with
/// the build staged, after the rename, after make.log is moved): the next
/// run repairs the tree and installs from the cache.
#[cfg(feature = "crash-points")]
#[test]
fn killed_during_a_substitution_recovers() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let signer = keypair(&f.keys, "fleet");
    let source = f.cache.display().to_string();
    let mut reached = Vec::new();
    for n in 1.. {
        let node = Tree::new(&f.k, &signer, true, &format!("binary_cache=\"{source}\"\n"));
        let (code, _, err) = node.dkms(&["add", "-m", M, "-v", V], &[]);
        assert_eq!(code, 0, "{err}");
        let trace = node.sb.root.join("crash.trace");
        let at = n.to_string();
        let t = trace.display().to_string();
        let (code, out, err) = node.install(&[("DKMS_CRASH_AT", &at), ("DKMS_CRASH_TRACE", &t)]);
        if code != -1 {
            assert_eq!(code, 0, "{out}{err}");
            break;
        }
        let last = fs::read_to_string(&trace).unwrap_or_default().lines().last().unwrap_or_default().to_string();
        reached.push(last.clone());
        let (code, _, err) = node.dkms(&["status"], &[]);
        assert_eq!(code, 0, "status after a kill at {last}: {err}");
        let kdir = node.sb.dkms.join(M).join(V).join(&f.k);
        let leftovers: Vec<_> = fs::read_dir(&kdir).into_iter().flatten().flatten().map(|e| e.file_name()).collect();
        assert!(leftovers.iter().all(|n| !n.to_string_lossy().starts_with(".tmp_")), "{last}: {leftovers:?}");
        let (code, out, err) = node.install(&[]);
        assert_eq!(code, 0, "rerun after a kill at {last}:\n{out}\n{err}");
        assert_eq!(node.makes(), 0, "{last}: the rerun builds nothing");
        assert_eq!(fs::read(f.builder.installed()).expect("builder's"), fs::read(node.installed()).expect("node's"));
    }
    for p in ["cache:verified", "cache:downloaded", "build:staged", "build:renamed", "build:log-moved"] {
        assert!(reached.iter().any(|r| r.ends_with(p)), "crash point {p} reached: {reached:?}");
    }
}
