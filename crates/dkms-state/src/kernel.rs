//! Kernel facts: the running kernel and machine, the headers directory and
//! kernel config of a target kernel, its module compression suffix, and
//! chroot detection for signing.

use crate::trees::Trees;
use std::path::{Path, PathBuf};

/// `uname -r`
pub fn uname_r() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default()
}

/// `uname -m`
pub fn uname_m() -> String {
    nix::sys::utsname::uname().map(|u| u.machine().to_string_lossy().into_owned()).unwrap_or_default()
}

/// `uname -s`
pub fn uname_s() -> String {
    nix::sys::utsname::uname().map(|u| u.sysname().to_string_lossy().into_owned()).unwrap_or_default()
}

/// `_get_kernel_dir`: `--kernelsourcedir` if given, else
/// `$install_tree/$kver/build`.
pub fn kernel_source_dir(trees: &Trees, kernelver: &str, from_cli: Option<&Path>) -> PathBuf {
    match from_cli {
        Some(d) => d.to_path_buf(),
        None => trees.lib_tree(kernelver).join("build"),
    }
}

/// `set_kernel_source_dir_and_kconfig`: `--config` if given, else
/// `include/config/auto.conf`, else `.config` in the kernel source dir.
pub fn kernel_config(kernel_source_dir: &Path, from_cli: Option<&Path>) -> PathBuf {
    if let Some(c) = from_cli {
        return c.to_path_buf();
    }
    let auto = crate::trees::cat(kernel_source_dir, "include/config/auto.conf");
    if auto.exists() {
        auto
    } else {
        crate::trees::cat(kernel_source_dir, ".config")
    }
}

/// `_check_kernel_dir`: the headers are there when `<dir>/include` exists.
pub fn headers_present(kernel_source_dir: &Path) -> bool {
    kernel_source_dir.join("include").exists()
}

/// `set_module_suffix`: the compression used by the target kernel's modules,
/// found by looking for `*.ko.gz`, `*.ko.xz`, `*.ko.zst` files (zst wins over
/// xz over gz). Returns "", ".gz", ".xz" or ".zst".
pub fn compressed_suffix(install_tree: &Path, kernelver: &str) -> &'static str {
    let (mut gz, mut xz) = (false, false);
    let mut stack = vec![crate::trees::cat(install_tree, kernelver)];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
                continue;
            }
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".ko.zst") {
                return ".zst";
            }
            xz |= name.ends_with(".ko.xz");
            gz |= name.ends_with(".ko.gz");
        }
    }
    if xz {
        ".xz"
    } else if gz {
        ".gz"
    } else {
        ""
    }
}

/// The value of `KEY=` in a kernel config, quotes removed (`grep "^KEY=" |
/// cut -f2 -d= | sed 's/"//g'`).
pub fn config_value(config: &Path, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(config).ok()?;
    let prefix = format!("{key}=");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.split('=').next().unwrap_or_default().replace('"', ""))
}

/// Does the config hold the exact line fragment (`grep -q TEXT`)?
pub(crate) fn config_contains(config: &Path, text: &str) -> bool {
    std::fs::read_to_string(config).is_ok_and(|t| t.contains(text))
}

/// `grep -q "^${name}=[ym]"`: is the option built in or modular?
pub(crate) fn config_enabled(config: &str, name: &str) -> bool {
    config.lines().any(|l| {
        l.strip_prefix(name).and_then(|r| r.strip_prefix('=')).is_some_and(|v| v.starts_with('y') || v.starts_with('m'))
    })
}

/// `running_in_chroot` (a port of Debian's `ischroot`, as in dkms 3.4): a
/// fakechroot environment, a mount table that differs from init's, or a
/// root directory that differs from init's. A container or a private mount
/// namespace counts as a chroot.
pub fn running_in_chroot() -> bool {
    let fake = crate::env::var("FAKECHROOT").as_deref() == Some("true")
        && crate::env::var_os("FAKECHROOT_BASE").is_some()
        && crate::env::var("LD_PRELOAD").is_some_and(|p| p.contains("libfakechroot.so"));
    if fake {
        return true;
    }
    if let (Ok(init), Ok(ours)) = (std::fs::read("/proc/1/mountinfo"), std::fs::read("/proc/self/mountinfo")) {
        if init != ours {
            return true;
        }
    }
    if nix::unistd::geteuid().is_root() {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(a), Ok(b)) = (std::fs::metadata("/proc/1/root"), std::fs::metadata("/")) {
            if (a.dev(), a.ino()) != (b.dev(), b.ino()) {
                return true;
            }
        }
    }
    false
}
