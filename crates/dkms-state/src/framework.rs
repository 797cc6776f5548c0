//! `/etc/dkms/framework.conf` and `/etc/dkms/framework.conf.d/*.conf`,
//! bash-sourced with only whitelisted names coming back (upstream
//! `read_framework_conf`). Non-signing settings are read at start-up, signing
//! ones lazily when a kernel is prepared, `post_transaction` before it runs.

pub mod settings;

use crate::env;
use crate::shell::{self, Request};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `dkms_framework_nonsigning_variables`, plus our own `lock_timeout`,
/// `build_timeout`, `status_show_failures`, the binary cache's settings and
/// `build_sandbox`.
pub const NONSIGNING: [&str; 22] = [
    "source_tree",
    "dkms_tree",
    "install_tree",
    "tmp_location",
    "verbose",
    "symlink_modules",
    "autoinstall_all_kernels",
    "modprobe_on_install",
    "parallel_jobs",
    "compress_gzip_opts",
    "compress_xz_opts",
    "compress_zstd_opts",
    "build_environment",
    "post_transaction",
    // Not upstream: seconds to wait for the DKMS lock (like --lock-timeout).
    "lock_timeout",
    // Not upstream: seconds a module's make may run before it is stopped
    // (unset: no limit, as upstream).
    "build_timeout",
    // Not upstream: "yes" shows remembered autoinstall failures in the text
    // of `dkms status` (`dkms_state::failures`).
    "status_show_failures",
    // Not upstream: the binary cache (see dkms-cmd's `ops::binary_cache`).
    "binary_cache",
    "binary_cache_push",
    "binary_cache_certificate",
    // Not upstream: no|yes|auto, whether builds run confined (like --build-sandbox).
    "build_sandbox",
    // Not upstream: auto, lines or never (`--progress`).
    "progress",
];

/// `dkms_framework_signing_variables`
pub const SIGNING: [&str; 4] = ["sign_file", "mok_signing_key", "mok_certificate", "try_sign_modules"];

/// `dkms_framework_post_transaction`
pub const POST_TRANSACTION: [&str; 1] = ["post_transaction"];

/// The configuration directory (`/etc/dkms`), relocatable for tests and
/// packaging through `DKMS_SYSCONFDIR` (default baked in at build time).
pub fn conf_dir() -> PathBuf {
    let sysconf = env::nonempty("DKMS_SYSCONFDIR")
        .or_else(|| option_env!("DKMS_SYSCONFDIR").map(String::from))
        .unwrap_or_else(|| "/etc".into());
    Path::new(&sysconf).join("dkms")
}

/// The files in sourcing order: framework.conf, then framework.conf.d/*.conf
/// in glob order.
pub fn files() -> Vec<PathBuf> {
    let dir = conf_dir();
    let mut v = vec![dir.join("framework.conf")];
    let mut extra: Vec<PathBuf> = std::fs::read_dir(dir.join("framework.conf.d"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".conf") && !n.starts_with('.')))
        .collect();
    extra.sort_by(|a, b| a.as_os_str().as_encoded_bytes().cmp(b.as_os_str().as_encoded_bytes()));
    v.extend(extra);
    v.retain(|p| p.exists());
    v
}

/// A file that only holds comments and blank lines changes nothing, so
/// reading it needs no shell.
fn is_inert(p: &Path) -> bool {
    match std::fs::read_to_string(p) {
        Ok(t) => t.lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#')
        }),
        Err(_) => false,
    }
}

/// Source the framework files for `names`, starting from `initial` values and
/// with `context` visible; returns the final values of `names`.
pub fn read(
    names: &[&'static str],
    initial: &BTreeMap<String, String>,
    context: Vec<(String, String)>,
) -> BTreeMap<String, String> {
    let files = files();
    let mut out = initial.clone();
    if files.iter().all(|f| is_inert(f)) {
        return out;
    }
    let req = Request {
        context,
        unset_first: false,
        preset: initial.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        files,
        whitelist: names.to_vec(),
        report: Vec::new(),
        capture_stderr: false,
    };
    if let Ok(mut res) = shell::source(&[req]) {
        if let Some(s) = res.pop() {
            for n in names {
                if s.vars.contains_key(*n) {
                    out.insert(n.to_string(), s.scalar(n).to_string());
                }
            }
        }
    }
    out
}
