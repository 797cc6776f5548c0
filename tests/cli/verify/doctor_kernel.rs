//! `dkms doctor`'s checks of one kernel, each fault injected on a fake
//! kernel of the private install tree whose `build` is an overlay of the
//! real headers with an edited `.config` (or a file left out), and with
//! `PATH` lacking a tool: the compiler `CONFIG_CC_VERSION_TEXT` names
//! (missing, another version, a clang kernel), sign-file (missing where
//! signatures are checked, and where they are enforced), and the
//! compression tool of `CONFIG_MODULE_COMPRESS_*`. Nothing of the machine
//! is touched.

use super::doctor::Doc;
use super::{overlay_kernel, path_without, unavailable, Real};
use crate::skip::skip_unless;
use std::fs;
use std::path::Path;

/// `.config` with `key` set to `value` (None: unset), the rest kept.
fn set(config: &str, key: &str, value: Option<&str>) -> String {
    let mut out: String = config
        .lines()
        .filter(|l| !l.starts_with(&format!("{key}=")) && *l != format!("# {key} is not set"))
        .map(|l| format!("{l}\n"))
        .collect();
    match value {
        Some(v) => out.push_str(&format!("{key}={v}\n")),
        None => out.push_str(&format!("# {key} is not set\n")),
    }
    out
}

/// The real kernel's compiler, as `CONFIG_CC_VERSION_TEXT` names it.
fn real_compiler(r: &Real) -> String {
    let config = fs::read_to_string(Path::new("/lib/modules").join(&r.k).join("build/.config")).unwrap();
    let text = config.lines().find_map(|l| l.strip_prefix("CONFIG_CC_VERSION_TEXT=\"")).expect("CC_VERSION_TEXT");
    text.split_whitespace().next().unwrap().to_string()
}

/// The doctor of one kernel (`-k`) of a sandbox whose framework.conf
/// names no sign_file (so where sign-file is comes from the kernel) and a
/// key pair that exists.
fn doc_for(k: &str) -> Doc {
    let r = Real::new(true);
    let (key, cert) = super::new_pair(&r, "pair");
    fs::copy(key, r.key()).unwrap();
    fs::copy(cert, r.cert()).unwrap();
    fs::set_permissions(r.key(), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let framework = format!("mok_signing_key=\"{}\"\nmok_certificate=\"{}\"\n", r.key().display(), r.cert().display());
    r.sb.write(&r.sb.sysconf.join("dkms/framework.conf"), &framework);
    let mut doc = Doc::new(r);
    doc.args = vec!["-k".into(), k.into()];
    doc
}

#[test]
fn doctor_finds_the_compiler_missing_or_another() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    // The real kernel: its compiler is here and the same (the healthy
    // baseline the faults differ from).
    let k = super::real_kernel().unwrap();
    let mut doc = doc_for(&k);
    doc.expect_no("real kernel", "compiler-missing");
    doc.expect_no("real kernel", "compiler-mismatch");
    let cc = real_compiler(&doc.r);

    let fake = "6.99.0-1-cc-missing";
    overlay_kernel(
        &doc.r,
        fake,
        &|c| set(c, "CONFIG_CC_VERSION_TEXT", Some("\"gcc-99 (Debian 99.1.0-1) 99.1.0\"")),
        &[],
    );
    doc.args = vec!["-k".into(), fake.into()];
    let f = doc.expect("compiler not installed", "compiler-missing", "error", 19, "gcc-99 is not installed");
    assert_eq!(f["kernel"], fake);
    assert!(f["remedy"].as_str().unwrap().ends_with("install gcc-99"), "{f}");

    let fake = "6.99.0-1-cc-other";
    let text = format!("{cc} (Fault 0.0.1-1) 0.0.1");
    overlay_kernel(&doc.r, fake, &|c| set(c, "CONFIG_CC_VERSION_TEXT", Some(&format!("\"{text}\""))), &[]);
    doc.args = vec!["-k".into(), fake.into()];
    let f =
        doc.expect("another compiler version", "compiler-mismatch", "warning", 0, &format!("built with \"{text}\""));
    assert!(f["remedy"].as_str().unwrap().contains(&text), "{f}");

    // A clang kernel: its text starts with the vendor ("Debian clang
    // version ..."), the compiler is clang (as build picks it).
    let fake = "6.99.0-1-clang";
    overlay_kernel(
        &doc.r,
        fake,
        &|c| {
            let c = set(c, "CONFIG_CC_IS_GCC", None);
            let c = set(&c, "CONFIG_CC_IS_CLANG", Some("y"));
            set(&c, "CONFIG_CC_VERSION_TEXT", Some("\"Debian clang version 16.0.6 (15)\""))
        },
        &[],
    );
    doc.args = vec!["-k".into(), fake.into()];
    doc.vars = vec![("PATH".into(), path_without(&doc.r, &["clang"]))];
    let f = doc.expect("clang kernel without clang", "compiler-missing", "error", 19, "clang is not installed");
    assert!(f["remedy"].as_str().unwrap().ends_with("install clang"), "{f}");
}

#[test]
fn doctor_finds_sign_file_missing() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let k = super::real_kernel().unwrap();
    let mut doc = doc_for(&k);
    doc.expect_no("real kernel", "sign-file-missing");

    // No /usr/lib/linux-kbuild-6.99: sign-file is looked for in the
    // kernel's build/scripts, which lacks it.
    let fake = "6.99.0-1-nosign";
    overlay_kernel(&doc.r, fake, &|c| c.to_string(), &["scripts/sign-file"]);
    doc.args = vec!["-k".into(), fake.into()];
    let f = doc.expect("sign-file missing", "sign-file-missing", "warning", 0, "scripts/sign-file is not there");
    assert_eq!(f["kernel"], fake);
    assert!(f["remedy"].as_str().is_some_and(|r| r.contains("6.99")), "{f}");

    let fake = "6.99.0-1-nosign-forced";
    overlay_kernel(&doc.r, fake, &|c| set(c, "CONFIG_MODULE_SIG_FORCE", Some("y")), &["scripts/sign-file"]);
    doc.args = vec!["-k".into(), fake.into()];
    doc.expect("sign-file missing, signatures enforced", "sign-file-missing", "error", 19, "is not there");
}

#[test]
fn doctor_finds_the_compression_tool_missing() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let k = super::real_kernel().unwrap();
    let mut doc = doc_for(&k);
    for (opt, tool) in [("GZIP", "gzip"), ("XZ", "xz"), ("ZSTD", "zstd")] {
        let fake = format!("6.99.0-1-{tool}");
        overlay_kernel(
            &doc.r,
            &fake,
            &|c| set(&set(c, "CONFIG_MODULE_COMPRESS_NONE", None), &format!("CONFIG_MODULE_COMPRESS_{opt}"), Some("y")),
            &[],
        );
        doc.args = vec!["-k".into(), fake.clone()];
        doc.vars = Vec::new();
        if crate::support::have(tool) {
            doc.expect_no(&format!("{tool} present"), "compression-tool-missing");
        }
        doc.vars = vec![("PATH".into(), path_without(&doc.r, &[tool]))];
        let f = doc.expect(
            &format!("CONFIG_MODULE_COMPRESS_{opt} without {tool}"),
            "compression-tool-missing",
            "error",
            19,
            &format!("compresses its modules with {tool}, which is not installed"),
        );
        assert!(f["remedy"].as_str().is_some_and(|r| r.starts_with("apt-get install") || r.contains(tool)), "{f}");
    }
}
