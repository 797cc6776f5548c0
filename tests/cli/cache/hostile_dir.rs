//! A directory (`file://`) cache source holding what no push wrote: a FIFO
//! or a link to `/dev/zero` in place of an entry's files makes the build
//! fall back at once (not wait, holding the lock), and `cache verify` and
//! `cache gc` finish; entries a build refuses (a manifest naming another
//! module, an oversized manifest, no module at all) fail `cache verify`
//! too, because both run the one check.

use super::faults::{entry_file, falls_back, node, verify_fails};
use super::{cache_copy, fleet, keypair, Fleet, Tree};
use crate::skip::skip_unless;
use crate::support::{fifo, zero_link};
use std::fs;
use std::path::Path;
use std::process::Command;

/// The node uses `dir` as its binary cache.
fn use_dir(tree: &Tree, dir: &Path) -> String {
    let src = format!("file://{}", dir.display());
    tree.sb.write(&tree.sb.sysconf.join("dkms/framework.conf.d/cache.conf"), &format!("binary_cache=\"{src}\"\n"));
    src
}

#[test]
fn fifos_and_endless_files_in_a_directory_source_hang_nothing() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    for (ext, plant, reason) in [
        ("json", fifo as fn(&Path), "not a regular file"),
        ("tar.zst", fifo, "not a regular file"),
        ("json", zero_link, "symbolic link"),
        ("json.sig", zero_link, "symbolic link"),
    ] {
        let tree = node(f, "");
        let dir = cache_copy(f, &tree.sb.root);
        plant(&entry_file(&dir, f, ext));
        let src = use_dir(&tree, &dir);
        falls_back(f, &tree, &src, reason, &[]);
        verify_fails(f, &tree, &dir);
        let (code, out, err) = tree.dkms(&["cache", "gc", &dir.display().to_string(), "--keep-kernels", "none"], &[]);
        assert_eq!(code, 0, "gc with a {ext} {reason}:\n{out}\n{err}");
        assert!(!entry_file(&dir, f, "json").exists(), "{out}");
    }
}

/// Re-sign the manifest of `dir`'s entry with the fleet's key.
fn resign(f: &Fleet, dir: &Path) {
    let (key, cert) = keypair(&f.keys, "fleet");
    let st = Command::new("openssl")
        .args(["cms", "-sign", "-binary", "-noattr", "-nocerts", "-md", "sha256", "-outform", "DER", "-in"])
        .arg(entry_file(dir, f, "json"))
        .args(["-signer".as_ref(), cert.as_os_str(), "-inkey".as_ref(), key.as_os_str(), "-out".as_ref()])
        .arg(entry_file(dir, f, "json.sig"))
        .output()
        .expect("openssl");
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
}

/// Edit the entry's manifest (as JSON) and sign it again.
fn edit_manifest(f: &Fleet, dir: &Path, edit: &dyn Fn(&mut serde_json::Value)) {
    let json = entry_file(dir, f, "json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&json).expect("read")).expect("manifest");
    edit(&mut v);
    fs::write(&json, serde_json::to_vec_pretty(&v).expect("json")).expect("write");
    resign(f, dir);
}

fn sha256(data: &[u8]) -> String {
    let tmp = tempfile::NamedTempFile::new().expect("tmp");
    fs::write(tmp.path(), data).expect("write");
    let o = Command::new("sha256sum").arg(tmp.path()).output().expect("sha256sum");
    String::from_utf8_lossy(&o.stdout).split_whitespace().next().expect("hash").to_string()
}

#[test]
fn cache_verify_refuses_what_build_refuses() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    type Fault = (&'static str, &'static str, &'static str, fn(&Fleet, &Path));
    let faults: [Fault; 3] = [
        ("a manifest naming another module", "another", "another", |f, dir| {
            edit_manifest(f, dir, &|v| v["module"] = "other_module".into())
        }),
        ("an oversized manifest", "larger than", "larger than", |f, dir| {
            let json = entry_file(dir, f, "json");
            let mut text = fs::read(&json).expect("read");
            text.extend(std::iter::repeat_n(b' ', 5 << 20));
            fs::write(&json, text).expect("write");
            resign(f, dir);
        }),
        ("an entry without a module", "module", "no module in the entry", |f, dir| {
            let log = b"make.log of nothing\n".to_vec();
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_size(log.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, "log/make.log", &log[..]).expect("append");
            let tar = zstd::encode_all(&b.into_inner().expect("tar")[..], 3).expect("zstd");
            fs::write(entry_file(dir, f, "tar.zst"), tar).expect("write");
            let record = serde_json::json!({"path": "log/make.log", "size": log.len(), "sha256": sha256(&log)});
            edit_manifest(f, dir, &|v| v["files"] = serde_json::json!([record.clone()]));
        }),
    ];
    for (what, build_says, verify_says, apply) in faults {
        let tree = node(f, "");
        let dir = cache_copy(f, &tree.sb.root);
        apply(f, &dir);
        let src = use_dir(&tree, &dir);
        falls_back(f, &tree, &src, build_says, &[]);
        verify_fails(f, &tree, &dir);
        let (_, out, _) = tree.dkms(&["cache", "verify", &dir.display().to_string()], &[]);
        assert!(out.contains(verify_says), "{what}: cache verify should say {verify_says:?}:\n{out}");
    }
}
