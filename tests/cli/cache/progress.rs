//! The binary cache as the last build that `--progress` counts against:
//! the builder's manifest records what its make did (`make`: kbuild steps
//! and seconds); a node that has no make.log of the module/version and
//! misses the cache (its source differs) shows the total from that
//! manifest, and without the cache shows none.

use super::{fleet, keypair, Tree, M, V};
use crate::skip::skip_unless;
use std::fs;

/// `--progress=lines` heartbeats (every 0.2 s) of a build of the node's
/// changed source on `node`.
fn heartbeats(node: &Tree) -> Vec<String> {
    let src = node.sb.src.join(format!("{M}-{V}/{M}.c"));
    let text = fs::read_to_string(&src).expect("source");
    fs::write(&src, format!("{text}/* the node's own change: another key */\n")).expect("write");
    let env = [("DKMS_PROGRESS_INTERVAL", "0.2")];
    let (code, out, err) = node.dkms(&["build", "-m", M, "-v", V, "-k", &node.k, "--progress=lines"], &env);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(node.makes(), 1, "built locally:\n{out}{err}");
    let prefix = format!("dkms: {M}/{V} for {}: building, ", node.k);
    let beats: Vec<String> = err.lines().filter(|l| l.starts_with(&prefix)).map(String::from).collect();
    assert!(!beats.is_empty(), "no heartbeat:\n{err}");
    beats
}

#[test]
fn a_cache_manifest_gives_the_total_when_no_make_log_does() {
    skip_unless!(fleet().is_some(), "needs root, openssl and installed kernel headers");
    let f = fleet().expect("fleet");
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(f.cache.join(format!("{}.json", f.key))).expect("manifest")).expect("json");
    let steps = manifest["make"]["steps"].as_u64().unwrap_or_else(|| panic!("no make.steps:\n{manifest:#}"));
    assert!(steps >= 3 && manifest["make"]["seconds"].is_u64(), "{manifest:#}");

    let signer = keypair(&f.keys, "fleet");
    let node = Tree::new(&f.k, &signer, false, &format!("binary_cache=\"{}\"\n", f.cache.display()));
    let beats = heartbeats(&node);
    let total = format!("/{steps} (");
    assert!(beats.iter().all(|b| b.contains(&total)), "not counted against the manifest's {steps} steps: {beats:?}");

    // The same build without the cache knows no total.
    let plain = Tree::new(&f.k, &signer, false, "");
    let beats = heartbeats(&plain);
    assert!(beats.iter().all(|b| b.ends_with(" steps")), "{beats:?}");
}
