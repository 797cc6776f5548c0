//! The verb and flag tables: the one source of truth for parsing, `--help`,
//! the front-end's dispatch, and (later) man pages and completions.

/// Which lock a verb takes on the dkms tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Read-only verbs.
    Shared,
    /// Verbs that change the trees.
    Exclusive,
    /// Verbs that touch no state.
    None,
}

/// One action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verb {
    /// Upstream's action word (`kernel_postinst`).
    pub name: &'static str,
    /// The binary that implements it (`dkms-kernel-postinst`).
    pub binary: &'static str,
    /// One line for `--list-cmds` and docs.
    pub summary: &'static str,
    pub lock: LockKind,
}

const fn verb(name: &'static str, binary: &'static str, summary: &'static str, lock: LockKind) -> Verb {
    Verb { name, binary, summary, lock }
}

/// Every upstream action, in upstream's usage order.
pub const VERBS: [Verb; 15] = [
    verb("add", "dkms-add", "Register a module source tree with DKMS", LockKind::Exclusive),
    verb("remove", "dkms-remove", "Uninstall, unbuild and unregister a module/version", LockKind::Exclusive),
    verb("build", "dkms-build", "Build a module for a kernel", LockKind::Exclusive),
    verb("unbuild", "dkms-unbuild", "Delete the built module for a kernel", LockKind::Exclusive),
    verb("install", "dkms-install", "Install a built module into a kernel's module tree", LockKind::Exclusive),
    verb("uninstall", "dkms-uninstall", "Remove an installed module from a kernel", LockKind::Exclusive),
    verb("match", "dkms-match", "Install the modules of a template kernel on another kernel", LockKind::Exclusive),
    verb(
        "autoinstall",
        "dkms-autoinstall",
        "Build and install every AUTOINSTALL module for a kernel",
        LockKind::Exclusive,
    ),
    verb("mktarball", "dkms-mktarball", "Archive a module's source and built binaries", LockKind::Shared),
    verb("ldtarball", "dkms-ldtarball", "Load a DKMS tarball into the tree", LockKind::Exclusive),
    verb("status", "dkms-status", "Show what is added, built and installed", LockKind::Shared),
    verb("generate_mok", "dkms-generate-mok", "Create the module signing key and certificate", LockKind::None),
    verb("kernel_preinst", "dkms-kernel-preinst", "Hook: before a kernel is installed", LockKind::Exclusive),
    verb("kernel_postinst", "dkms-kernel-postinst", "Hook: after a kernel is installed", LockKind::Exclusive),
    verb("kernel_prerm", "dkms-kernel-prerm", "Hook: before a kernel is removed", LockKind::Exclusive),
];

/// The verb named by an upstream action word.
pub fn verb_by_name(name: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.name == name)
}

/// The verb implemented by a binary name.
pub fn verb_by_binary(binary: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.binary == binary)
}

/// Every option, identified for the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagId {
    Module,
    ModuleVersion,
    Kernelver,
    TemplateKernel,
    Conf,
    Quiet,
    Version,
    NoInitrd,
    NoCleanKernel,
    NoPrepareKernel,
    BinariesOnly,
    SourceOnly,
    Force,
    ForceVersionOverride,
    All,
    Verbose,
    RpmSafeUpgrade,
    DkmsTree,
    SourceTree,
    InstallTree,
    SymlinkModules,
    Config,
    Archive,
    Arch,
    KernelSourceDir,
    Directive,
    NoDepmod,
    ModprobeOnInstall,
    Debug,
    Jobs,
    Help,
    Json,
    Format,
    LockTimeout,
}

/// One option. Matching follows upstream's `case` statement: `long` is a
/// prefix when `prefix` is set (`--module*`), otherwise exact; `short` is
/// always exact (`-m`, never `-mfoo` or `-m=foo`).
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub id: FlagId,
    pub long: &'static str,
    pub prefix: bool,
    pub short: Option<char>,
    /// Name of the value, for options that take one.
    pub value: Option<&'static str>,
    pub help: &'static str,
    /// Not in upstream dkms.
    pub extension: bool,
}

const fn flag(
    id: FlagId,
    long: &'static str,
    prefix: bool,
    short: Option<char>,
    value: Option<&'static str>,
    help: &'static str,
) -> Flag {
    Flag { id, long, prefix, short, value, help, extension: false }
}

const fn ext(id: FlagId, long: &'static str, prefix: bool, value: Option<&'static str>, help: &'static str) -> Flag {
    Flag { id, long, prefix, short: None, value, help, extension: true }
}

use FlagId::*;

/// In upstream's matching order (it matters: `--archive*` is tried before
/// `--arch*`).
pub const FLAGS: [Flag; 34] = [
    flag(Module, "--module", true, Some('m'), Some("module[/version]"), "The module to act on"),
    flag(ModuleVersion, "", false, Some('v'), Some("module-version"), "The version of the module"),
    flag(Kernelver, "--kernelver", true, Some('k'), Some("kernel[/arch]"), "Target kernel (repeatable)"),
    flag(TemplateKernel, "--templatekernel", true, None, Some("kernel"), "Template kernel for match"),
    flag(Conf, "", false, Some('c'), Some("dkms.conf"), "Use this dkms.conf"),
    flag(Quiet, "--quiet", false, Some('q'), None, "Discard all output"),
    flag(Version, "--version", false, Some('V'), None, "Print the version and exit"),
    flag(NoInitrd, "--no-initrd", false, None, None, "Deprecated, ignored"),
    flag(NoCleanKernel, "--no-clean-kernel", false, None, None, "Deprecated, ignored"),
    flag(NoPrepareKernel, "--no-prepare-kernel", false, None, None, "Deprecated, ignored"),
    flag(BinariesOnly, "--binaries-only", false, None, None, "mktarball: binaries only"),
    flag(SourceOnly, "--source-only", false, None, None, "mktarball: source only"),
    flag(Force, "--force", false, None, None, "Rebuild, reinstall, override checks"),
    flag(ForceVersionOverride, "--force-version-override", false, None, None, "Skip the version sanity check"),
    flag(All, "--all", false, None, None, "All kernels the module is built for"),
    flag(Verbose, "--verbose", false, None, None, "Show commands instead of descriptions"),
    flag(RpmSafeUpgrade, "--rpm_safe_upgrade", false, None, None, "RPM upgrade handling"),
    flag(DkmsTree, "--dkmstree", true, None, Some("path"), "DKMS tree (default /var/lib/dkms)"),
    flag(SourceTree, "--sourcetree", true, None, Some("path"), "Source tree (default /usr/src)"),
    flag(InstallTree, "--installtree", true, None, Some("path"), "Module tree (default /lib/modules)"),
    flag(SymlinkModules, "--symlink-modules", false, None, None, "Install symlinks into the DKMS tree"),
    flag(Config, "--config", true, None, Some("file"), "Kernel config to check against"),
    flag(Archive, "--archive", true, None, Some("tarball"), "Tarball to load or create"),
    flag(Arch, "--arch", true, Some('a'), Some("arch"), "Target architecture (repeatable)"),
    flag(KernelSourceDir, "--kernelsourcedir", true, None, Some("dir"), "Kernel build directory"),
    flag(Directive, "--directive", true, None, Some("NAME=value"), "Override a dkms.conf directive"),
    flag(NoDepmod, "--no-depmod", false, None, None, "Do not run depmod"),
    flag(ModprobeOnInstall, "--modprobe-on-install", false, None, None, "Load modules after install"),
    flag(Debug, "--debug", false, None, None, "Trace execution"),
    flag(Jobs, "", false, Some('j'), Some("number"), "Parallel make jobs"),
    flag(Help, "--help", false, Some('h'), None, "Print usage and exit"),
    ext(Json, "--json", false, None, "JSON Lines on stdout"),
    ext(Format, "--format", true, Some("text|json"), "Output format"),
    ext(LockTimeout, "--lock-timeout", true, Some("seconds"), "Give up waiting for the DKMS lock"),
];

/// The flag an option word selects, if any.
pub fn lookup(word: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| {
        let short = f.short.is_some_and(|c| word.len() == 2 && word.starts_with('-') && word.ends_with(c));
        let long = !f.long.is_empty() && if f.prefix { word.starts_with(f.long) } else { word == f.long };
        short || long
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_matching_order() {
        assert_eq!(lookup("--archive=x").unwrap().id, Archive);
        assert_eq!(lookup("--arch=x86_64").unwrap().id, Arch);
        assert_eq!(lookup("--modulefoo").unwrap().id, Module);
        assert_eq!(lookup("-m").unwrap().id, Module);
        assert!(lookup("-m=foo").is_none());
        assert!(lookup("--forcex").is_none());
        assert_eq!(lookup("--force-version-override").unwrap().id, ForceVersionOverride);
        assert_eq!(lookup("-V").unwrap().id, Version);
    }

    #[test]
    fn verbs_unique() {
        for v in VERBS {
            assert_eq!(VERBS.iter().filter(|w| w.name == v.name || w.binary == v.binary).count(), 1);
            assert_eq!(v.binary, format!("dkms-{}", v.name.replace('_', "-")));
        }
    }
}
