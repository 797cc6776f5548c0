//! Each fault of a cache source makes the node build locally, after one
//! warning line saying why; `cache verify` reports each tampered entry.

use super::{cache_copy, fleet, keypair, Fleet, Server, Tree, M, V};
use crate::skip::skip_unless;
use std::fs;
use std::io::Write as _;
use std::path::Path;

/// The node, with `source` as its binary cache, installs by building
/// locally after a warning naming `reason`.
pub(super) fn falls_back(f: &Fleet, tree: &Tree, source: &str, reason: &str, env: &[(&str, &str)]) {
    let (code, out, err) = tree.install(env);
    assert_eq!(code, 0, "install falls back to a local build:\n{out}\n{err}");
    assert_eq!(tree.makes(), 1, "a local build:\n{out}\n{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("Warning: ")).collect();
    assert_eq!(warnings.len(), 1, "one warning line:\n{err}");
    assert!(warnings[0].starts_with(&format!("Warning: Binary cache {source} not used for ")), "{err}");
    assert!(warnings[0].contains(reason), "warning should say {reason:?}:\n{err}");
    assert!(!out.contains("Using prebuilt"), "{out}");
    assert!(tree.installed().is_file());
    let _ = f;
}

pub(super) fn node(f: &Fleet, source: &str) -> Tree {
    Tree::new(&f.k, &keypair(&f.keys, "fleet"), false, &format!("binary_cache=\"{source}\"\n"))
}

/// `cache verify` of `dir` fails and names the key.
pub(super) fn verify_fails(f: &Fleet, tree: &Tree, dir: &Path) {
    let (code, out, err) = tree.dkms(&["cache", "verify", &dir.display().to_string()], &[]);
    assert_eq!(code, 1, "verify must fail:\n{out}\n{err}");
    assert!(out.contains(&format!("{}: ", f.key)) || out.contains(&f.key[..12]), "{out}");
}

fn tamper(path: &Path, at: usize) {
    let mut b = fs::read(path).expect("read");
    let i = at.min(b.len() - 1);
    b[i] ^= 0x20;
    fs::write(path, b).expect("write");
}

pub(super) fn entry_file(dir: &Path, f: &Fleet, ext: &str) -> std::path::PathBuf {
    dir.join(format!("{}.{ext}", f.key))
}

#[test]
fn a_tampered_archive_falls_back() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let tree = node(f, "");
    let dir = cache_copy(f, &tree.sb.root);
    let tar = entry_file(&dir, f, "tar.zst");
    let len = fs::metadata(&tar).expect("stat").len() as usize;
    tamper(&tar, len / 2);
    let src = dir.display().to_string();
    tree.sb.write(&tree.sb.sysconf.join("dkms/framework.conf.d/cache.conf"), &format!("binary_cache=\"{src}\"\n"));
    falls_back(f, &tree, &src, "does not match its hash", &[]);
    verify_fails(f, &tree, &dir);
}

#[test]
fn a_tampered_manifest_falls_back() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let tree = node(f, "");
    let dir = cache_copy(f, &tree.sb.root);
    let json = entry_file(&dir, f, "json");
    let text = fs::read_to_string(&json).expect("read");
    let at = text.find("\"created\": ").expect("created") + "\"created\": ".len();
    tamper(&json, at);
    let src = format!("file://{}", dir.display());
    tree.sb.write(&tree.sb.sysconf.join("dkms/framework.conf.d/cache.conf"), &format!("binary_cache=\"{src}\"\n"));
    falls_back(f, &tree, &src, "bad signature", &[]);
    verify_fails(f, &tree, &dir);
}

#[test]
fn a_signature_by_another_key_falls_back() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let tree = node(f, "");
    let dir = cache_copy(f, &tree.sb.root);
    let (key, cert) = keypair(&f.keys, "intruder");
    let json = entry_file(&dir, f, "json");
    let sig = entry_file(&dir, f, "json.sig");
    let st = std::process::Command::new("openssl")
        .args(["cms", "-sign", "-binary", "-noattr", "-nocerts", "-md", "sha256", "-outform", "DER", "-in"])
        .arg(&json)
        .arg("-signer")
        .arg(&cert)
        .arg("-inkey")
        .arg(&key)
        .arg("-out")
        .arg(&sig)
        .output()
        .expect("openssl");
    assert!(st.status.success());
    let src = dir.display().to_string();
    tree.sb.write(&tree.sb.sysconf.join("dkms/framework.conf.d/cache.conf"), &format!("binary_cache=\"{src}\"\n"));
    falls_back(f, &tree, &src, "bad signature", &[]);
    verify_fails(f, &tree, &dir);
}

#[test]
fn a_truncated_archive_falls_back() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let tree = node(f, "");
    let dir = cache_copy(f, &tree.sb.root);
    let tar = entry_file(&dir, f, "tar.zst");
    let b = fs::read(&tar).expect("read");
    fs::write(&tar, &b[..b.len() / 2]).expect("truncate");
    let server = Server::start(&dir);
    tree.sb.write(
        &tree.sb.sysconf.join("dkms/framework.conf.d/cache.conf"),
        &format!("binary_cache=\"{}\"\n", server.url),
    );
    falls_back(f, &tree, &server.url, "archive", &[]);
    verify_fails(f, &tree, &dir);
}

#[test]
fn an_archive_with_a_dotdot_entry_falls_back() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let tree = node(f, "");
    let dir = cache_copy(f, &tree.sb.root);
    // The signed manifest stays; the archive gains `../escaped`.
    let tar = entry_file(&dir, f, "tar.zst");
    let plain = zstd::decode_all(fs::File::open(&tar).expect("open")).expect("zstd");
    let mut evil = plain[..plain.len() - 1024].to_vec();
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..10].copy_from_slice(b"../escaped");
    h.set_size(4);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    evil.extend_from_slice(h.as_bytes());
    let mut data = b"evil".to_vec();
    data.resize(512, 0);
    evil.extend_from_slice(&data);
    evil.extend_from_slice(&[0u8; 1024]);
    let mut out = fs::File::create(&tar).expect("create");
    out.write_all(&zstd::encode_all(&evil[..], 3).expect("zstd")).expect("write");
    let src = dir.display().to_string();
    tree.sb.write(&tree.sb.sysconf.join("dkms/framework.conf.d/cache.conf"), &format!("binary_cache=\"{src}\"\n"));
    falls_back(f, &tree, &src, "../escaped", &[]);
    assert!(!tree.sb.dkms.join(M).join(V).join(&f.k).join("escaped").exists());
    verify_fails(f, &tree, &dir);
}

#[test]
fn a_server_down_falls_back() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let port = super::free_port();
    let url = format!("http://127.0.0.1:{port}/");
    let tree = node(f, &url);
    falls_back(f, &tree, &url, "connection refused", &[]);
}

#[test]
fn a_hanging_server_times_out_and_falls_back() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://127.0.0.1:{}/", listener.local_addr().expect("addr").port());
    let hold = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(std::time::Duration::from_secs(5));
        drop(conns);
    });
    let tree = node(f, &url);
    let started = std::time::Instant::now();
    falls_back(f, &tree, &url, "timed out", &[("DKMS_BINARY_CACHE_TIMEOUT", "1")]);
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
    let _ = hold.join();
}

#[test]
fn other_headers_change_the_key_and_fall_back() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let tree = node(f, &f.cache.display().to_string());
    // The same headers but for one changed Module.symvers: a shadow build
    // directory of links.
    let real = fs::canonicalize(format!("/lib/modules/{}/build", f.k)).expect("headers");
    let shadow = tree.sb.root.join("headers");
    fs::create_dir_all(&shadow).expect("mkdir");
    for e in fs::read_dir(&real).expect("headers").flatten() {
        if e.file_name() != "Module.symvers" {
            std::os::unix::fs::symlink(e.path(), shadow.join(e.file_name())).expect("link");
        }
    }
    let mut symvers = fs::read(real.join("Module.symvers")).expect("symvers");
    symvers.extend_from_slice(b"0x12345678\tdkms_cache_test_symbol\tvmlinux\tEXPORT_SYMBOL\t\n");
    fs::write(shadow.join("Module.symvers"), symvers).expect("write");
    let link = tree.sb.inst.join(&f.k).join("build");
    fs::remove_file(&link).expect("unlink");
    std::os::unix::fs::symlink(&shadow, &link).expect("link");
    let (code, _, err) = tree.dkms(&["add", "-m", M, "-v", V], &[]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = tree.dkms(&["cache", "key", &format!("{M}/{V}"), "-k", &f.k], &[]);
    assert_eq!(code, 0, "{err}");
    assert_ne!(out.lines().next(), Some(f.key.as_str()), "a changed Module.symvers changes the key");
    falls_back(f, &tree, &f.cache.display().to_string(), "no entry", &[]);
}
