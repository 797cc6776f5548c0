//! The exit-code registry: every way a dkms run can fail, each with its
//! stable kebab-case name (the JSON `kind`), its exit status and what it
//! means. Every `Error` is built from a `Kind`; dkms.8's EXIT STATUS is
//! generated from this list (`Kind::ALL`), and a test keeps both in step.

/// The exit status of a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Always this status.
    Fixed(u8),
    /// A status chosen where the error is made (upstream's caller decides,
    /// or a child's status is passed on); the text says which.
    Varies(&'static str),
}

macro_rules! kinds {
    ($($variant:ident = $name:literal, $status:expr, $meaning:literal;)*) => {
        /// Every kind of failure (see the module documentation).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind {
            $(#[doc = $meaning] $variant,)*
        }

        impl Kind {
            /// The whole registry, in order of exit status.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            /// The stable name (JSON `kind`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }

            /// Its exit status.
            pub const fn status(self) -> Status {
                match self {
                    $(Kind::$variant => $status,)*
                }
            }

            /// What it means, as dkms.8 says it.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(Kind::$variant => $meaning,)*
                }
            }
        }
    };
}

use Status::{Fixed, Varies};

kinds! {
    ActionMissing = "action-missing", Fixed(0), "no action, or an unknown one: the usage is printed";
    RpmSafeUpgrade = "rpm-safe-upgrade", Fixed(0), "remove cancelled because the rpm transaction that added the module is upgrading it (--rpm_safe_upgrade)";
    ModuleArgsMissing = "module-args-missing", Fixed(1), "module or version missing";
    NotRoot = "not-root", Fixed(1), "not root";
    DkmsTreeReadOnly = "dkms-tree-read-only", Fixed(1), "no write access to the DKMS tree";
    KernelArchMismatch = "kernel-arch-mismatch", Fixed(1), "mismatched numbers of kernels and architectures";
    TmpdirUnusable = "tmpdir-unusable", Fixed(1), "tmp_location is not a usable directory";
    MktempFailed = "mktemp-failed", Fixed(1), "a temporary file cannot be made";
    TemplateKernelMissing = "template-kernel-missing", Fixed(1), "match without --templatekernel";
    BinariesOnlyWithoutSource = "binaries-only-without-source", Fixed(1), "a binaries-only tarball whose source is not on this system (ldtarball)";
    MokUnavailable = "mok-unavailable", Fixed(1), "the signing key and certificate cannot be had (generate_mok)";
    Internal = "internal", Fixed(1), "an internal inconsistency (not in upstream dkms)";
    DebFailed = "deb-failed", Fixed(1), "cache deb cannot write the package: a name or version Debian does not allow, an unknown architecture, or dpkg-deb failed (not in upstream dkms)";
    CacheEntryBad = "cache-entry-bad", Fixed(1), "cache verify found a bad entry, or cache push or cache kmm could not write one (not in upstream dkms)";
    JournalWriteFailed = "journal-write-failed", Fixed(1), "the DKMS journal of a build, remove or uninstall cannot be written; nothing was changed (not in upstream dkms)";
    TreeWriteFailed = "tree-write-failed", Fixed(1), "a directory or link of the module in the DKMS tree cannot be made, moved or removed (add, remove)";
    BuildPrepareFailed = "build-prepare-failed", Fixed(1), "the build directory cannot be prepared: the source not copied into it, or its make.log not written (prepare_build)";
    SourceTreeWriteFailed = "source-tree-write-failed", Fixed(1), "the source tree cannot be written: a source directory not copied in or removed (add, ldtarball, mktree, unmktree)";
    TarballLoadFailed = "tarball-load-failed", Fixed(1), "a tarball cannot be unpacked, or its builds or dkms.conf cannot be placed in the trees (ldtarball)";
    KernelQueueFailed = "kernel-queue-failed", Fixed(1), "kernel_queue or kernel_trigger cannot write or read the queue of deferred kernels, or dpkg-trigger cannot be run (not in upstream dkms)";
    SignWriteFailed = "sign-write-failed", Fixed(1), "sign: the re-signed files cannot be staged, journaled or renamed into place (not in upstream dkms)";
    ModuleUnreadable = "module-unreadable", Fixed(1), "ltdk: a built module file cannot be read (not in upstream dkms)";
    JobserverFailed = "jobserver-failed", Fixed(1), "no jobserver token could be had for one of several parallel builds (not in upstream dkms)";
    CacheKeyFailed = "cache-key-failed", Fixed(1), "cache key: the inputs of the build cannot be read to compute its key (not in upstream dkms)";
    CacheDirUnreadable = "cache-dir-unreadable", Fixed(1), "cache verify or cache gc cannot read the cache directory (not in upstream dkms)";
    LogUnreadable = "log-unreadable", Fixed(1), "log: the make.log is not a regular file or cannot be read (not in upstream dkms)";
    AllWithKernel = "all-with-kernel", Fixed(2), "-k with --all";
    ArchiveMissing = "archive-missing", Fixed(2), "the tarball does not exist";
    SourceMissing = "source-missing", Fixed(2), "the source directory does not exist";
    TemplateKernelSame = "template-kernel-same", Fixed(2), "template kernel equals kernel";
    TreeOutsideSourceTree = "tree-outside-source-tree", Fixed(2), "unmktree: <module>-<version> is a symbolic link or leads outside the source tree; nothing was deleted (not in upstream dkms)";
    SettingInvalid = "setting-invalid", Fixed(2), "a framework.conf setting has a value it cannot have, such as a lock_timeout that is no number (not in upstream dkms)";
    CacheUsage = "cache-usage", Fixed(2), "cache without a known sub-word or its operand (not in upstream dkms)";
    Usage = "usage", Fixed(2), "the command line was not accepted: an unknown option, or an option with a value it cannot take";
    DryRunNeedsModule = "dry-run-needs-module", Fixed(2), "--dry-run given a tarball or source directory instead of a module/version: the plan needs to know what it is about (not in upstream dkms)";
    FromHoldsSourceTree = "from-holds-source-tree", Fixed(2), "mktree: the --from directory holds the source tree, so the copy would copy itself; nothing was changed (not in upstream dkms)";
    AllWithArch = "all-with-arch", Fixed(3), "-a with --all";
    AlreadyAdded = "already-added", Fixed(3), "already added";
    AlreadyBuilt = "already-built", Fixed(3), "already built";
    ModuleNotAdded = "module-not-added", Fixed(3), "not added";
    ModuleNotInTree = "module-not-in-tree", Fixed(3), "the module given to match is not in the DKMS tree";
    TarballWithoutConf = "tarball-without-conf", Fixed(3), "a tarball without dkms.conf";
    TarballRefused = "tarball-refused", Fixed(3), "an unsafe tarball was refused, nothing loaded (not in upstream dkms)";
    TarballUnreadable = "tarball-unreadable", Fixed(3), "a tarball that cannot be read";
    TreeExists = "tree-exists", Fixed(3), "mktree: <source_tree>/<module>-<version> already exists (not in upstream dkms)";
    TreeRegistered = "tree-registered", Fixed(3), "unmktree: the module/version is still registered in the DKMS tree (not in upstream dkms)";
    AllKernelsWithK = "all-kernels-with-k", Fixed(4), "--all-kernels with -k (not in upstream dkms)";
    SeveralActions = "several-actions", Fixed(4), "more than one action on the command line";
    OneKernelRequired = "one-kernel-required", Fixed(4), "wrong number of kernels";
    OsReleaseMissing = "os-release-missing", Fixed(4), "no os-release";
    ConfMissing = "conf-missing", Fixed(4), "dkms.conf not found";
    ModuleBroken = "module-broken", Fixed(4), "module broken (its source or source link is missing)";
    AllNotSupported = "all-not-supported", Fixed(5), "--all not supported by the action";
    AlreadyInstalled = "already-installed", Fixed(5), "already installed";
    PatchBadPath = "patch-bad-path", Fixed(5), "a patch has a .. component";
    PatchMissing = "patch-missing", Fixed(5), "a patch is missing";
    PatchFailed = "patch-failed", Fixed(6), "a patch failed";
    KernelMissing = "kernel-missing", Fixed(6), "no module tree for the kernel";
    InstallAborted = "install-aborted", Fixed(6), "installation aborted";
    BuiltModuleMissing = "built-module-missing", Fixed(6), "a built module is missing at install";
    CopyFailed = "copy-failed", Fixed(6), "a module cannot be copied into place (the install is rolled back)";
    DepmodFailed = "depmod-failed", Fixed(6), "depmod failed (the install is rolled back)";
    NotBuilt = "not-built", Fixed(6), "mktarball found nothing built";
    TarballFailed = "tarball-failed", Fixed(6), "mktarball cannot write the tarball";
    NoModuleFiles = "no-module-files", Fixed(6), "ltdk: no module file is built for the kernel (not in upstream dkms)";
    InstallWriteFailed = "install-write-failed", Fixed(6), "installing cannot write: the journal, the destination directory, a module moved aside or archived as an original, or the active link (the install is rolled back)";
    ModuleMissing = "module-missing", Fixed(7), "the build produced no module";
    ModuleNotBuilt = "module-not-built", Fixed(7), "make did not build a module the conf names";
    ProductRefused = "product-refused", Fixed(7), "a build step left a module, Module.symvers or make.log that is not a regular file of its own in build/ (a symbolic link, a hard link, a device or FIFO); nothing it points to is read (not in upstream dkms)";
    RenameFailed = "rename-failed", Fixed(7), "the build cannot be moved into place";
    TarballWithoutValidConf = "tarball-without-valid-conf", Fixed(7), "a tarball holds no valid dkms.conf";
    BuildStagingFailed = "build-staging-failed", Fixed(7), "the built modules or make.log cannot be staged in the DKMS tree (do_build's mktemp -d and copies)";
    ConfInvalid = "conf-invalid", Fixed(8), "bad dkms.conf";
    ConflictingOptions = "conflicting-options", Fixed(8), "both --binaries-only and --source-only";
    NameUnsafe = "name-unsafe", Fixed(8), "a module name, version, kernel version or architecture (-m, -v, -k, -a, stdin records, PACKAGE_NAME, PACKAGE_VERSION, tarballs, cache manifests) that is not a single directory name: empty, '.', '..', with '/' or a control character, starting with '-', or longer than 255 bytes; nothing was changed (not in upstream dkms)";
    SourceEmpty = "source-empty", Fixed(8), "empty source";
    TarballAlreadyLoaded = "tarball-already-loaded", Fixed(8), "tarball already loaded";
    ConfUnreadable = "conf-unreadable", Fixed(8), "dkms.conf cannot be read or evaluated (read_conf)";
    NoDkmsConf = "no-dkms-conf", Fixed(9), "a source directory without dkms.conf";
    RpmInstallFailed = "rpm-install-failed", Fixed(9), "an .rpm cannot be installed";
    TarballDestNotWritable = "tarball-dest-not-writable", Fixed(9), "mktarball cannot write where the tarball goes";
    ConfMalformed = "conf-malformed", Fixed(10), "a source tree's dkms.conf lacks PACKAGE_NAME or PACKAGE_VERSION";
    BuildFailed = "build-failed", Fixed(10), "make failed";
    AutoinstallFailed = "autoinstall-failed", Fixed(11), "a module failed in autoinstall";
    ArchUnknown = "arch-unknown", Fixed(12), "the architecture could not be determined";
    BuildDependsMissing = "build-depends-missing", Fixed(13), "missing BUILD_DEPENDS";
    KernelHookFailed = "kernel-hook-failed", Fixed(14), "a module failed in kernel_preinst or kernel_prerm";
    EmptyKernelver = "empty-kernelver", Fixed(16), "an empty kernel";
    EmptyArch = "empty-arch", Fixed(16), "an empty architecture";
    WrongKernel = "wrong-kernel", Fixed(17), "a built module's vermagic names another kernel release than the one built for; nothing was installed (not in upstream dkms)";
    VerifyFailed = "verify-failed", Fixed(18), "status --verify found an installed module that does not verify (not in upstream dkms)";
    DoctorErrors = "doctor-errors", Fixed(19), "doctor found an error-level problem (not in upstream dkms)";
    LogMissing = "log-missing", Fixed(20), "log: no make.log for the module/version and kernel (not in upstream dkms)";
    KernelHeadersMissing = "kernel-headers-missing", Fixed(21), "no kernel headers";
    GplOnlySymbols = "gpl-only-symbols", Fixed(22), "ltdk: a module that is not GPL-compatible uses EXPORT_SYMBOL_GPL symbols, so the kernel will not load it (not in upstream dkms)";
    PasswordUnavailable = "password-unavailable", Fixed(23), "enroll: no --password-file and no terminal to ask for the one-time password on; nothing was queued (not in upstream dkms)";
    MokutilMissing = "mokutil-missing", Fixed(24), "enroll: mokutil is not installed (not in upstream dkms)";
    EnrollFailed = "enroll-failed", Fixed(25), "enroll: mokutil --import failed, or the password file cannot be used; nothing was queued (not in upstream dkms)";
    SignFailed = "sign-failed", Fixed(26), "sign: a module file cannot be re-signed, or modules are not signed for the kernel; that build's files were left as they were (not in upstream dkms)";
    NotDeferred = "not-deferred", Fixed(27), "kernel_queue: not inside a dpkg run of another package with dkms-rs's trigger declared, so nothing was queued and the hook builds at once (not in upstream dkms)";
    CacheIncomplete = "cache-incomplete", Fixed(28), "cache gate, cache status: the binary cache lacks a verified entry for an AUTOINSTALL module of the kernel (not in upstream dkms)";
    LockTimeout = "lock-timeout", Fixed(75), "the lock was not obtained within --lock-timeout seconds (not in upstream dkms)";
    BuildExclusive = "build-exclusive", Fixed(77), "skipped: the kernel does not satisfy BUILD_EXCLUSIVE_*";
    SandboxUnavailable = "sandbox-unavailable", Fixed(78), "the build sandbox cannot be set up although build_sandbox=yes (not in upstream dkms)";
    PreInstallFailed = "pre-install-failed", Fixed(101), "PRE_INSTALL failed";
    BuildTimeout = "build-timeout", Fixed(124), "make ran longer than framework.conf's build_timeout and was stopped (not in upstream dkms)";
    ExecFailed = "exec-failed", Fixed(126), "a plugin (dkms-<word>) or the program of an action cannot be run (not in upstream dkms)";
    VerbMissing = "verb-missing", Fixed(127), "the program of a built-in action is missing (not in upstream dkms)";
    Panic = "panic", Fixed(255), "internal error (not in upstream dkms)";
    Interrupted = "interrupted", Varies("128 plus the signal's number: 129 for SIGHUP, 130 for SIGINT, 143 for SIGTERM"), "stopped by SIGTERM, SIGINT or SIGHUP after its children were; the step under way is left to its journal (not in upstream dkms)";
    ScriptFailed = "script-failed", Varies("the script's own status"), "a PRE_BUILD or POST_BUILD script failed";
    Reported = "reported", Varies("that of the failure, already reported"), "a failure already reported (a kernel of several, an autoinstall of several kernels)";
}

impl Kind {
    /// Its exit status where it is fixed; `fallback` where it varies.
    pub const fn code_or(self, fallback: u8) -> u8 {
        match self.status() {
            Fixed(c) => c,
            Varies(_) => fallback,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case_and_sorted_by_status() {
        let mut seen = std::collections::HashSet::new();
        let mut last = 0;
        for k in Kind::ALL {
            assert!(seen.insert(k.name()), "{} twice", k.name());
            assert!(k.name().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            assert!(!k.meaning().is_empty());
            if let Fixed(c) = k.status() {
                assert!(c >= last, "{} out of order", k.name());
                last = c;
            }
        }
    }
}
