//! The verb and flag tables: the one source of truth for parsing, `--help`,
//! the front-end's dispatch, man pages and completions. The verbs are in
//! `verbs` (signing's additions, enroll and sign, in `verbs_mok`; the
//! binary cache's in `verbs_cache`); this
//! file holds the types and the options.

mod flag_docs;
mod verbs;
mod verbs_cache;
mod verbs_mok;
pub use verbs::*;
pub use verbs_cache::*;
pub use verbs_mok::*;

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
    /// It may run `make`: a dkms started from a make recipe joins that
    /// make's jobserver.
    pub runs_make: bool,
    /// Options that matter to this verb, besides `COMMON_FLAGS`.
    pub flags: &'static [FlagId],
    /// The non-option words it takes.
    pub operands: &'static [Operand],
    /// The words it takes first to say what to do (`cache key`), each with
    /// what follows it (`Operand::SubWord` in `operands`); empty for most.
    pub sub_words: &'static [SubWord],
    /// Not in upstream dkms (its word is an action only where upstream would
    /// not read it as something else, see `args`).
    pub extension: bool,
    /// Man-page text: paragraphs separated by blank lines.
    pub description: &'static str,
}

/// The verb named by an upstream action word.
pub fn verb_by_name(name: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.name == name).copied()
}

/// The verb implemented by a binary name.
pub fn verb_by_binary(binary: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.binary == binary).copied()
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
    AllKernels,
    From,
    Verify,
    PathOnly,
    BinaryCachePush,
    BinaryCacheCertificate,
    BinaryCache,
    To,
    KeepKernels,
    Cache,
    BuildSandbox,
    DryRun,
    PasswordFile,
    Progress,
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
pub const FLAGS: [Flag; 48] = [
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
    ext(AllKernels, "--all-kernels", false, None, "autoinstall: every kernel with headers"),
    ext(From, "--from", true, Some("dir"), "mktree: copy this source directory"),
    ext(Verify, "--verify", false, None, "status: check what is installed"),
    ext(PathOnly, "--path", false, None, "log: print only where the log is"),
    // Longer names first: `--binary-cache` is a prefix of the other two.
    ext(BinaryCachePush, "--binary-cache-push", true, Some("dir"), "Write every local build into this cache directory"),
    ext(
        BinaryCacheCertificate,
        "--binary-cache-certificate",
        true,
        Some("file"),
        "Certificate cache entries must be signed with",
    ),
    ext(BinaryCache, "--binary-cache", true, Some("sources"), "Binary cache sources to take builds from"),
    ext(
        To,
        "--to",
        true,
        Some("dir"),
        "cache push: the cache directory or registry; cache deb: where packages go; cache kmm: the image",
    ),
    ext(KeepKernels, "--keep-kernels", true, Some("kernels"), "cache gc: the kernels whose entries stay"),
    ext(Cache, "--cache", true, Some("sources"), "cache gate, cache status: the cache sources to look in"),
    ext(BuildSandbox, "--build-sandbox", true, Some("no|yes|auto"), "Confine builds (bubblewrap)"),
    ext(DryRun, "--dry-run", false, None, "Print the plan; change nothing"),
    ext(PasswordFile, "--password-file", true, Some("file"), "enroll: read the one-time password from this file"),
    ext(Progress, "--progress", true, Some("auto|lines|never"), "Show the progress of builds"),
];

/// The flag an option word selects, if any.
pub fn lookup(word: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| {
        let short = f.short.is_some_and(|c| word.len() == 2 && word.starts_with('-') && word.ends_with(c));
        let long = !f.long.is_empty() && if f.prefix { word.starts_with(f.long) } else { word == f.long };
        short || long
    })
}

// ---------------------------------------------------------------------------
// Documentation and completion data. Plain data read by the man-page and
// completion generator (`cargo run -p xtask -- gen`) and by the hidden
// `dkms __complete` helper the completion scripts call. Parsing ignores it:
// every binary accepts every option, as upstream does.

/// What the value of an option, or an operand, names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A module name (`dkms __complete modules`).
    Module,
    /// A version of the module named on the same line.
    Version,
    /// A kernel release (`/lib/modules/<kernel>`).
    Kernel,
    /// An architecture (`uname -m`).
    Arch,
    /// A file.
    File,
    /// A directory.
    Dir,
    /// A number.
    Number,
    /// Free text.
    Text,
    /// One of these words.
    Choice(&'static [&'static str]),
}

/// Documentation of one option beyond its one-line `help`.
#[derive(Debug, Clone, Copy)]
pub struct FlagDoc {
    /// What the value names (`None` for options without a value).
    pub kind: Option<ValueKind>,
    /// Paragraph for the man pages.
    pub long_help: &'static str,
    /// Accepted but not offered by completion (deprecated no-ops).
    pub deprecated: bool,
}

const fn doc(kind: Option<ValueKind>, long_help: &'static str) -> FlagDoc {
    FlagDoc { kind, long_help, deprecated: false }
}

/// The documentation of an option (upstream's here, ours in
/// `our_flag_doc`); a test checks that every flag has a description.
pub const fn flag_doc(id: FlagId) -> FlagDoc {
    use ValueKind as K;
    match id {
        Module => doc(
            Some(K::Module),
            "The module to act on. A value of the form module/version also sets the version (split at the first slash).",
        ),
        ModuleVersion => doc(Some(K::Version), "The version of the module named with -m."),
        Kernelver => doc(
            Some(K::Kernel),
            "A kernel release to act on; kernel/arch also names its architecture. Repeatable; without it, actions \
             that need a kernel use the running one (uname -r).",
        ),
        TemplateKernel => doc(Some(K::Kernel), "match: the kernel whose installed modules are to be installed on the -k kernel."),
        Conf => doc(
            Some(K::File),
            "Read this file instead of the module's dkms.conf, for this and every later read of the configuration.",
        ),
        Quiet => doc(None, "Send all output, also that of the programs dkms runs, to /dev/null."),
        Version => doc(None, "Print the release string (dkms-3.4.3) and exit."),
        NoInitrd => FlagDoc { kind: None, long_help: "Accepted for compatibility; does nothing.", deprecated: true },
        NoCleanKernel => FlagDoc { kind: None, long_help: "Accepted for compatibility; does nothing.", deprecated: true },
        NoPrepareKernel => FlagDoc { kind: None, long_help: "Accepted for compatibility; does nothing.", deprecated: true },
        BinariesOnly => doc(None, "mktarball: leave the source out; the tarball holds dkms.conf and the built modules."),
        SourceOnly => doc(None, "mktarball: leave the built modules out."),
        Force => doc(
            None,
            "Do it anyway: build rebuilds a built module, install reinstalls an installed one and skips the version \
             and obsolescence checks, build proceeds without BUILD_DEPENDS, a failing PRE_INSTALL is ignored, add \
             recopies an existing source directory, ldtarball overwrites what is loaded.",
        ),
        ForceVersionOverride => doc(
            None,
            "install: skip only the check that the module is newer than the one the kernel already has.",
        ),
        All => doc(
            None,
            "Every kernel and architecture the module/version is built for (remove, unbuild, uninstall, mktarball). \
             Cannot be combined with -k or -a.",
        ),
        Verbose => doc(None, "Print the commands dkms runs instead of their short descriptions."),
        RpmSafeUpgrade => doc(
            None,
            "For RPM scriptlets: an add records the upgrade so that the remove of the old package that follows does \
             not remove the same module/version.",
        ),
        DkmsTree => doc(Some(K::Dir), "The DKMS tree, where modules are registered and built (default /var/lib/dkms)."),
        SourceTree => doc(Some(K::Dir), "Where module sources live as <module>-<version>/ (default /usr/src)."),
        InstallTree => doc(Some(K::Dir), "The kernel module tree modules are installed into (default /lib/modules)."),
        SymlinkModules => doc(None, "install: put symbolic links to the DKMS tree into the kernel module tree instead of copies."),
        Config => doc(
            Some(K::File),
            "The kernel configuration to check BUILD_EXCLUSIVE_CONFIG against (default include/config/auto.conf, \
             else .config, of the kernel build directory).",
        ),
        Archive => doc(Some(K::File), "ldtarball: the tarball to load; mktarball: where to write the tarball."),
        Arch => doc(
            Some(K::Arch),
            "The architecture of the kernel(s) (default uname -m). Repeatable; with several, there must be as many -k.",
        ),
        KernelSourceDir => doc(
            Some(K::Dir),
            "The kernel build directory to build against (default /lib/modules/<kernel>/build).",
        ),
        Directive => doc(
            Some(K::Text),
            "Set a dkms.conf variable after every configuration file has been read. Repeatable.",
        ),
        NoDepmod => doc(None, "Do not run depmod after installing or uninstalling."),
        ModprobeOnInstall => doc(
            None,
            "After installing for the running kernel, load the modules for the devices present.",
        ),
        Debug => doc(None, "Show every program dkms runs, on stderr, as bash's set -x would (upstream traces its whole script)."),
        Jobs => doc(Some(K::Number), "Number of parallel make jobs (default: the number of CPUs; 0 leaves it to make)."),
        Help => doc(None, "Print the usage and exit."),
        _ => flag_docs::our_flag_doc(id),
    }
}

/// A word that is not an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// `module/version` of a module in the DKMS tree.
    ModuleVersion,
    /// `module/version` whose source is `<source_tree>/<module>-<version>/`.
    SourceModuleVersion,
    /// A directory holding a dkms.conf (or the dkms.conf file itself).
    SourceDir,
    /// A tarball made by mktarball.
    Tarball,
    /// A directory.
    Dir,
    /// One of the verb's `sub_words` and what follows it.
    SubWord,
    /// Nothing: a sub-word that stands alone (`cache gate`).
    Nothing,
}

/// A word a verb takes first to say what to do (`dkms cache key`), with
/// the operand that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubWord {
    pub word: &'static str,
    pub operand: Operand,
    /// One line for completion and docs.
    pub summary: &'static str,
}

impl Operand {
    /// Its name in a synopsis.
    pub const fn placeholder(self) -> &'static str {
        match self {
            Operand::ModuleVersion | Operand::SourceModuleVersion => "module/version",
            Operand::SourceDir => "source-dir",
            Operand::Tarball => "tarball",
            Operand::Dir => "dir",
            Operand::SubWord => "action",
            Operand::Nothing => "",
        }
    }
}

/// One alternative among a verb's operands in a synopsis: the sub-words
/// that lead it (`key|push`; empty for most verbs) and the placeholder of
/// the operand (`module/version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynopsisOperand {
    pub words: String,
    pub placeholder: &'static str,
}

impl std::fmt::Display for SynopsisOperand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.words.as_str(), self.placeholder) {
            ("", p) => f.write_str(p),
            (w, "") => f.write_str(w),
            (w, p) => write!(f, "{w} {p}"),
        }
    }
}

/// The operands of `verb` as a synopsis shows them, sub-words spelled out
/// with what follows them (`key|push module/version`, `verify|gc dir`).
pub fn operand_synopsis(verb: &Verb) -> Vec<SynopsisOperand> {
    let mut out: Vec<SynopsisOperand> = Vec::new();
    for o in verb.operands {
        if *o != Operand::SubWord {
            out.push(SynopsisOperand { words: String::new(), placeholder: o.placeholder() });
            continue;
        }
        for s in verb.sub_words {
            match out.last_mut() {
                Some(last) if !last.words.is_empty() && last.placeholder == s.operand.placeholder() => {
                    last.words = format!("{}|{}", last.words, s.word);
                }
                _ => out.push(SynopsisOperand { words: s.word.to_string(), placeholder: s.operand.placeholder() }),
            }
        }
    }
    out.dedup();
    out
}

/// Options every verb takes.
pub const COMMON_FLAGS: [FlagId; 11] =
    [Quiet, Verbose, Debug, DkmsTree, SourceTree, InstallTree, Json, Format, LockTimeout, Version, Help];

/// An option of the `dkms` front-end itself (not passed to the verb).
#[derive(Debug, Clone, Copy)]
pub struct FrontOption {
    pub long: &'static str,
    pub value: Option<&'static str>,
    pub kind: Option<ValueKind>,
    pub help: &'static str,
    pub long_help: &'static str,
}

/// `--exec-path=DIR`
pub const EXEC_PATH: FrontOption = FrontOption {
    long: "--exec-path",
    value: Some("dir"),
    kind: Some(ValueKind::Dir),
    help: "Look for dkms-<verb> binaries here first",
    long_help: "Look for the dkms-<verb> binaries in this directory first (also DKMS_EXEC_PATH); only the form \
                --exec-path=DIR is recognised. Not in upstream dkms.",
};

/// `--list-cmds`
pub const LIST_CMDS: FrontOption = FrontOption {
    long: "--list-cmds",
    value: None,
    kind: None,
    help: "List the available verbs and plugins",
    long_help: "Print the verbs whose binaries are found, then the dkms-<name> plugins on PATH, one a line, and exit. \
                Only as the sole argument. Not in upstream dkms.",
};

/// The front-end's own options.
pub const FRONT_END_OPTIONS: [FrontOption; 2] = [EXEC_PATH, LIST_CMDS];

/// The flag with this id.
pub fn flag_by_id(id: FlagId) -> &'static Flag {
    FLAGS.iter().find(|f| f.id == id).expect("every FlagId has a FLAGS entry")
}

/// Options offered for `verb`: its own, then the common ones, without
/// deprecated ones.
pub fn verb_flags(verb: &Verb) -> Vec<&'static Flag> {
    verb.flags.iter().chain(COMMON_FLAGS.iter()).map(|id| flag_by_id(*id)).collect()
}

/// Whether `-m`/`-v` of this verb name modules in the source tree (add).
pub fn modules_from_source_tree(verb: &Verb) -> bool {
    verb.operands.contains(&Operand::SourceModuleVersion)
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

    #[test]
    fn docs_cover_the_tables() {
        for v in VERBS {
            assert!(!v.description.is_empty());
            for id in v.flags {
                assert!(!COMMON_FLAGS.contains(id), "{}: {id:?} is common", v.name);
                assert!(!flag_doc(*id).deprecated, "{}: {id:?} is deprecated", v.name);
            }
        }
        for f in FLAGS {
            assert_eq!(flag_by_id(f.id).long, f.long);
            assert_eq!(flag_doc(f.id).kind.is_some(), f.value.is_some(), "{:?}", f.id);
            assert!(!flag_doc(f.id).long_help.is_empty(), "{:?} is undocumented", f.id);
        }
        for o in FRONT_END_OPTIONS {
            assert!(lookup(o.long).is_none(), "{} shadows a verb option", o.long);
            assert_eq!(o.kind.is_some(), o.value.is_some());
        }
    }
}
