//! What each framework.conf setting means, its default, and the environment
//! variable that can give it: the text of framework.conf(5) and of dkms.8's
//! FRAMEWORK.CONF section, kept beside the lists the reader uses
//! (`NONSIGNING`, `SIGNING`: upstream's `dkms_framework_*_variables`) so that
//! a setting cannot be read undocumented (the tests below walk both).
//!
//! Text is plain prose, as in `conf::directives`; "(not upstream)" marks ours.

/// Who reads a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBy {
    /// dkms at start-up (`NONSIGNING`).
    Start,
    /// dkms when it prepares signing for a kernel, with `$kernelver` set
    /// (`SIGNING`, upstream's `prepare_signing`).
    Signing,
    /// The kernel package hooks and the dpkg trigger, not dkms itself.
    Hooks,
    /// Debian's `common.postinst` (sourced with /bin/sh).
    CommonPostinst,
}

/// How the environment can give a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Env {
    /// Not at all.
    No,
    /// A variable of this name, read before framework.conf: framework.conf
    /// wins (upstream does not reset these names at start).
    Under(&'static str),
    /// A variable of this name that wins over framework.conf (an option
    /// still wins over it).
    Over(&'static str),
}

/// One setting of framework.conf.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    pub name: &'static str,
    /// The default as a reader should see it ("" when unset and empty).
    pub default: &'static str,
    pub env: Env,
    /// The command-line option that wins over it, if any.
    pub option: Option<&'static str>,
    pub read_by: ReadBy,
    /// In upstream dkms 3.4.3.
    pub upstream: bool,
    pub doc: &'static str,
}

const fn s(
    name: &'static str,
    default: &'static str,
    env: Env,
    option: Option<&'static str>,
    doc: &'static str,
) -> Setting {
    Setting { name, default, env, option, read_by: ReadBy::Start, upstream: true, doc }
}

const fn ours(mut s: Setting) -> Setting {
    s.upstream = false;
    s
}

const fn by(mut s: Setting, read_by: ReadBy) -> Setting {
    s.read_by = read_by;
    s
}

use Env::{No, Over, Under};

/// Every setting, in the order of data/framework.conf's sections.
pub const SETTINGS: [Setting; 28] = [
    s("source_tree", "/usr/src", No, Some("--sourcetree"), "Where module sources are kept, as <module>-<version>/ directories."),
    s("dkms_tree", "/var/lib/dkms", No, Some("--dkmstree"), "The DKMS tree: registered modules, builds, logs, the signing key."),
    s("install_tree", "/lib/modules", No, Some("--installtree"), "The kernel module tree modules are installed into (the default is fixed when dkms is built)."),
    s("tmp_location", "$TMPDIR, else /tmp", No, None, "Directory for temporary files (tarball work directories)."),
    s("verbose", "", No, Some("--verbose"), "Non-empty: print the commands dkms runs."),
    s("symlink_modules", "", No, Some("--symlink-modules"), "Non-empty: install symbolic links into the DKMS tree instead of copies of the modules."),
    s("modprobe_on_install", "", Under("modprobe_on_install"), Some("--modprobe-on-install"), "Non-empty: after installing for the running kernel, load the new modules."),
    s("parallel_jobs", "the number of CPUs", Under("parallel_jobs"), Some("-j"), "Number of parallel make jobs; 0 passes a bare -j."),
    s("autoinstall_all_kernels", "", Under("autoinstall_all_kernels"), None, "Non-empty: the Debian helper common.postinst builds a newly installed module for every kernel that has headers, not only the running and the newest kernel."),
    by(s("continue_on_error", "true", No, None, "true: common.postinst goes on with the next kernel after a failed build; anything else stops at the first failure."), ReadBy::CommonPostinst),
    s("compress_gzip_opts", "", No, None, "Extra options of gzip, for kernels whose modules are compressed with it."),
    s("compress_xz_opts", "--check=crc32 --lzma2=dict=1MiB", No, None, "Extra options of xz, for kernels whose modules are compressed with it."),
    s("compress_zstd_opts", "-q --rm -T0", No, None, "Extra options of zstd, for kernels whose modules are compressed with it."),
    s("build_environment", "", Under("build_environment"), None, "A file sourced before each build ($kernelver is the kernel being built for); the variables it exports are set for make."),
    s("post_transaction", "", Under("post_transaction"), None, "A shell command run after install, uninstall, unbuild and remove, with $kernelver set; its output goes to <dkms_tree>/post_transaction.log. Read just before it runs."),
    ours(s("lock_timeout", "wait as long as it takes", No, Some("--lock-timeout"), "Seconds to wait for the lock on the DKMS tree before giving up with exit status 75. A value that is not a number is an error (exit status 2).")),
    ours(s("build_timeout", "no limit", No, None, "Seconds make may run for one module before it is stopped (its whole process group) and the build fails with exit status 124, saying where its make.log is.")),
    ours(by(s("kernel_hook_on_failure", "report", No, None, "What the kernel package hooks (/etc/kernel/postinst.d/dkms, header_postinst.d/dkms) and the dpkg trigger do when a module fails to build: report lists the failures with their logs at the end of the hook's output in one marked block and lets the kernel package be configured; fail exits with dkms's status (1), as upstream's hooks do, so that dpkg leaves the package half-configured. Either way the failure is remembered under the DKMS tree for dkms status."), ReadBy::Hooks)),
    ours(s("status_show_failures", "", No, None, "yes: dkms status also prints, after its usual lines, one line per remembered failure (as status --verify does). Off by default, so that the text stays upstream's; the JSON output always has them (records of type failed).")),
    ours(s("binary_cache", "", Over("DKMS_BINARY_CACHE"), Some("--binary-cache"), "Space-separated sources of prebuilt modules, tried in order before every build: http:// or https:// URLs (any static web server or object store), oci:// references, file:// URLs or directories. A miss or a bad entry is one warning line and a local build. See BINARY CACHE in dkms(8).")),
    ours(s("binary_cache_push", "", Over("DKMS_BINARY_CACHE_PUSH"), Some("--binary-cache-push"), "A directory into which every successful local build is written as a signed cache entry (publish it with rsync, a web server's root, ...).")),
    ours(s("binary_cache_certificate", "mok_certificate", Over("DKMS_BINARY_CACHE_CERTIFICATE"), Some("--binary-cache-certificate"), "The X.509 certificate (DER or PEM) cache entries must be signed with. Pushed entries are signed with mok_signing_key and mok_certificate.")),
    ours(s("build_sandbox", "no", Under("build_sandbox"), Some("--build-sandbox"), "no, yes or auto: whether third-party build code (the patch step, PRE_BUILD, MAKE, POST_BUILD, and the bash evaluation of a tarball's dkms.conf) runs in a bubblewrap sandbox: an unprivileged uid without capabilities, private mount, PID, IPC, UTS and network namespaces, / read-only, only the module's build/ directory and a private /tmp writable, the kernel headers readable and the directories of mok_signing_key and mok_certificate hidden. Stripping, signing, compression, install and depmod stay outside, in dkms. With yes a sandbox that cannot be set up is an error (exit status 78); with auto dkms says so once and builds unconfined. Needs bwrap (Debian: bubblewrap) and setpriv (util-linux).")),
    ours(s("progress", "auto", Under("DKMS_PROGRESS"), Some("--progress"), "auto, lines or never: how the progress of running module builds is shown. auto: a live status line per running build on stderr when it is a terminal (module, elapsed time, the kbuild step make last logged, the count of steps, and the total and time left from the last successful build of the same module/version), erased when the build ends; elsewhere upstream's output, byte for byte. lines: one line per running build every 30 seconds on stderr. never: upstream's output everywhere.")),
    by(s("try_sign_modules", "not_in_chroot", Under("try_sign_modules"), None, "true, false or not_in_chroot: whether to sign modules (not_in_chroot: not when dkms runs in a chroot)."), ReadBy::Signing),
    by(s("sign_file", "the kernel's scripts/sign-file", Under("sign_file"), None, "The program that signs modules; $kernelver is the kernel being built for."), ReadBy::Signing),
    by(s("mok_signing_key", "/var/lib/dkms/mok.key", Under("mok_signing_key"), None, "Private key (a file, or a pkcs11: URI when sign_file supports it) for signing modules. When neither it nor mok_certificate is set and /var/lib/shim-signed/mok/MOK.priv and MOK.der both exist (Ubuntu's pair), that pair is used, on any distribution (not upstream, which looks there only on Ubuntu). A missing key and certificate are made with openssl; an existing key is never overwritten."), ReadBy::Signing),
    by(s("mok_certificate", "/var/lib/dkms/mok.pub", Under("mok_certificate"), None, "The DER certificate of mok_signing_key. Enrol it with dkms enroll or mokutil. A build that signs, or an install, with Secure Boot on and the certificate not enrolled prints one warning naming dkms enroll, and never fails for it (not upstream)."), ReadBy::Signing),
];

/// The entry of `name`.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{NONSIGNING, SIGNING};
    use std::collections::BTreeSet;

    fn names(read_by: ReadBy) -> BTreeSet<&'static str> {
        SETTINGS.iter().filter(|s| s.read_by == read_by).map(|s| s.name).collect()
    }

    /// Every setting dkms reads is documented, and every documented setting
    /// read by dkms is read: the start-up list and the signing list.
    #[test]
    fn every_setting_the_reader_reads_is_documented() {
        assert_eq!(names(ReadBy::Start), NONSIGNING.into_iter().collect());
        assert_eq!(names(ReadBy::Signing), SIGNING.into_iter().collect());
        let all: BTreeSet<&str> = SETTINGS.iter().map(|s| s.name).collect();
        assert_eq!(all.len(), SETTINGS.len(), "a setting is listed twice");
        for s in SETTINGS {
            assert!(!s.doc.trim().is_empty(), "{} has no text", s.name);
        }
    }

    /// The defaults shown are the ones the code starts from where it names
    /// them as constants (the trees; the signing pair of `support::signing`).
    #[test]
    fn defaults_are_the_code_s() {
        use crate::trees::{DEFAULT_DKMS_TREE, DEFAULT_INSTALL_TREE, DEFAULT_SOURCE_TREE};
        let default = |n: &str| setting(n).expect(n).default;
        assert_eq!(default("dkms_tree"), DEFAULT_DKMS_TREE);
        assert_eq!(default("source_tree"), DEFAULT_SOURCE_TREE);
        assert_eq!(default("install_tree"), DEFAULT_INSTALL_TREE);
        assert_eq!(default("mok_signing_key"), format!("{DEFAULT_DKMS_TREE}/mok.key"));
        assert_eq!(default("mok_certificate"), format!("{DEFAULT_DKMS_TREE}/mok.pub"));
    }

    /// The signing settings come from the environment under their own names
    /// (support::signing), the binary cache's from `DKMS_<NAME>`
    /// (ops::binary_cache) above framework.conf.
    #[test]
    fn environment_overrides_follow_the_readers() {
        for s in SETTINGS.iter().filter(|s| s.read_by == ReadBy::Signing) {
            assert_eq!(s.env, Env::Under(s.name), "{}", s.name);
        }
        for s in SETTINGS.iter().filter(|s| s.name.starts_with("binary_cache")) {
            let var: &'static str = String::leak(format!("DKMS_{}", s.name.to_ascii_uppercase()));
            assert_eq!(s.env, Env::Over(var), "{}", s.name);
        }
    }

    /// The commented framework.conf that `make install` ships shows every
    /// setting, and the hooks' and common.postinst's settings are read there.
    #[test]
    fn shipped_files_name_every_setting() {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/");
        let read = |f: &str| std::fs::read_to_string(format!("{data}{f}")).unwrap_or_else(|e| panic!("{f}: {e}"));
        let shipped = read("framework.conf");
        for s in SETTINGS {
            assert!(shipped.contains(&format!("#{}=", s.name)), "data/framework.conf does not show {}", s.name);
        }
        for s in SETTINGS.iter().filter(|s| s.read_by == ReadBy::Hooks) {
            assert!(read("kernel-postinst.in").contains(s.name), "{}", s.name);
        }
        for s in SETTINGS.iter().filter(|s| s.read_by == ReadBy::CommonPostinst) {
            assert!(read("common.postinst.in").contains(s.name), "{}", s.name);
        }
    }
}
