//! Every option, each defined once: its names, value, one-line help, man-page
//! paragraph, completion kind and what it does to the parsed `Args`. The
//! parser (`args::parse`), the man pages and the completions (crates/xtask)
//! all read this list; `FlagId` and `FLAGS` are generated from it (the
//! `flags!` macro in `table`). The order is upstream's matching order: it
//! matters where a long name is a prefix of another (`--archive*` is tried
//! before `--arch*`, `--binary-cache-push` before `--binary-cache*`).
//!
//! An entry: `Id { fields } => update;`. Unset fields are those of
//! `Flag::new` (no short name, no value, upstream's, exact long name).

use super::Update::{Checked, Name, Path, Switch, Text};
use super::{Flag, Notice, Special, ValueKind as K};

/// Upstream's paragraph of the three deprecated no-ops.
const IGNORED: &str = "Accepted for compatibility; does nothing.";

/// A choice among `words`, or the message that refuses `v`.
fn choice(v: &str, words: &[&str], what: &str) -> Result<(), String> {
    match words.contains(&v) {
        true => Ok(()),
        false => Err(format!("Unknown {what}: {v} (expected {})", expected(words))),
    }
}

/// `a, b or c`
fn expected(words: &[&str]) -> String {
    match words.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

flags! {
    Module {
        long: "--module", prefix: true, short: Some('m'), value: Some("module[/version]"), kind: Some(K::Module),
        help: "The module to act on",
        long_help: "The module to act on. A value of the form module/version also sets the version (split at the \
                    first slash).",
    } => Name(|a, v| a.parse_moduleversion(&v));
    ModuleVersion {
        short: Some('v'), value: Some("module-version"), kind: Some(K::Version),
        help: "The version of the module",
        long_help: "The version of the module named with -m.",
    } => Name(|a, v| a.module_version = v);
    Kernelver {
        long: "--kernelver", prefix: true, short: Some('k'), value: Some("kernel[/arch]"), kind: Some(K::Kernel),
        help: "Target kernel (repeatable)",
        long_help: "A kernel release to act on; kernel/arch also names its architecture. Repeatable; without it, \
                    actions that need a kernel use the running one (uname -r).",
    } => Name(|a, v| a.parse_kernelarch(&v));
    TemplateKernel {
        long: "--templatekernel", prefix: true, value: Some("kernel"), kind: Some(K::Kernel),
        help: "Template kernel for match",
        long_help: "match: the kernel whose installed modules are to be installed on the -k kernel.",
    } => Name(|a, v| a.template_kernel = v);
    Conf {
        short: Some('c'), value: Some("dkms.conf"), kind: Some(K::File),
        help: "Use this dkms.conf",
        long_help: "Read this file instead of the module's dkms.conf, for this and every later read of the \
                    configuration.",
    } => Path(|a, p| a.conf = Some(p));
    Quiet {
        long: "--quiet", short: Some('q'),
        help: "Discard all output",
        long_help: "Send all output, also that of the programs dkms runs, to /dev/null.",
    } => Switch(|a| a.quiet = true);
    Version {
        long: "--version", short: Some('V'),
        help: "Print the version and exit",
        long_help: "Print the release string (dkms-3.4.3) and exit.",
    } => Switch(|a| a.special = Some(Special::Version));
    NoInitrd {
        long: "--no-initrd", help: "Deprecated, ignored", long_help: IGNORED, deprecated: true,
    } => Switch(|a| a.notice(Notice::Deprecated("--no-initrd")));
    NoCleanKernel {
        long: "--no-clean-kernel", help: "Deprecated, ignored", long_help: IGNORED, deprecated: true,
    } => Switch(|a| a.notice(Notice::Deprecated("--no-clean-kernel")));
    NoPrepareKernel {
        long: "--no-prepare-kernel", help: "Deprecated, ignored", long_help: IGNORED, deprecated: true,
    } => Switch(|a| a.notice(Notice::Deprecated("--no-prepare-kernel")));
    BinariesOnly {
        long: "--binaries-only",
        help: "mktarball: binaries only",
        long_help: "mktarball: leave the source out; the tarball holds dkms.conf and the built modules.",
    } => Switch(|a| a.binaries_only = true);
    SourceOnly {
        long: "--source-only",
        help: "mktarball: source only",
        long_help: "mktarball: leave the built modules out.",
    } => Switch(|a| a.source_only = true);
    Force {
        long: "--force",
        help: "Rebuild, reinstall, override checks",
        long_help: "Do it anyway: build rebuilds a built module, install reinstalls an installed one and skips \
                    the version and obsolescence checks, build proceeds without BUILD_DEPENDS, a failing \
                    PRE_INSTALL is ignored, add recopies an existing source directory, ldtarball overwrites what \
                    is loaded.",
    } => Switch(|a| a.force = true);
    ForceVersionOverride {
        long: "--force-version-override",
        help: "Skip the version sanity check",
        long_help: "install: skip only the check that the module is newer than the one the kernel already has.",
    } => Switch(|a| a.force_version_override = true);
    All {
        long: "--all",
        help: "All kernels the module is built for",
        long_help: "Every kernel and architecture the module/version is built for (remove, unbuild, uninstall, \
                    mktarball). Cannot be combined with -k or -a.",
    } => Switch(|a| a.all = true);
    Verbose {
        long: "--verbose",
        help: "Show commands instead of descriptions",
        long_help: "Print the commands dkms runs instead of their short descriptions.",
    } => Switch(|a| a.verbose = true);
    RpmSafeUpgrade {
        long: "--rpm_safe_upgrade",
        help: "RPM upgrade handling",
        long_help: "For RPM scriptlets: an add records the upgrade so that the remove of the old package that \
                    follows does not remove the same module/version.",
    } => Switch(|a| a.rpm_safe_upgrade = true);
    DkmsTree {
        long: "--dkmstree", prefix: true, value: Some("path"), kind: Some(K::Dir),
        help: "DKMS tree (default /var/lib/dkms)",
        long_help: "The DKMS tree, where modules are registered and built (default /var/lib/dkms).",
    } => Path(|a, p| a.dkms_tree = Some(p));
    SourceTree {
        long: "--sourcetree", prefix: true, value: Some("path"), kind: Some(K::Dir),
        help: "Source tree (default /usr/src)",
        long_help: "Where module sources live as <module>-<version>/ (default /usr/src).",
    } => Path(|a, p| a.source_tree = Some(p));
    InstallTree {
        long: "--installtree", prefix: true, value: Some("path"), kind: Some(K::Dir),
        help: "Module tree (default /lib/modules)",
        long_help: "The kernel module tree modules are installed into (default /lib/modules).",
    } => Path(|a, p| a.install_tree = Some(p));
    SymlinkModules {
        long: "--symlink-modules",
        help: "Install symlinks into the DKMS tree",
        long_help: "install: put symbolic links to the DKMS tree into the kernel module tree instead of copies.",
    } => Switch(|a| a.symlink_modules = true);
    Config {
        long: "--config", prefix: true, value: Some("file"), kind: Some(K::File),
        help: "Kernel config to check against",
        long_help: "The kernel configuration to check BUILD_EXCLUSIVE_CONFIG against (default \
                    include/config/auto.conf, else .config, of the kernel build directory).",
    } => Path(|a, p| a.kernel_config = Some(p));
    Archive {
        long: "--archive", prefix: true, value: Some("tarball"), kind: Some(K::File),
        help: "Tarball to load or create",
        long_help: "ldtarball: the tarball to load; mktarball: where to write the tarball.",
    } => Path(|a, p| a.archive_location = Some(p));
    Arch {
        long: "--arch", prefix: true, short: Some('a'), value: Some("arch"), kind: Some(K::Arch),
        help: "Target architecture (repeatable)",
        long_help: "The architecture of the kernel(s) (default uname -m). Repeatable; with several, there must \
                    be as many -k.",
    } => Name(|a, v| a.arch.push(v));
    KernelSourceDir {
        long: "--kernelsourcedir", prefix: true, value: Some("dir"), kind: Some(K::Dir),
        help: "Kernel build directory",
        long_help: "The kernel build directory to build against (default /lib/modules/<kernel>/build).",
    } => Path(|a, p| a.kernel_source_dir = Some(p));
    Directive {
        long: "--directive", prefix: true, value: Some("NAME=value"), kind: Some(K::Text),
        help: "Override a dkms.conf directive",
        long_help: "Set a dkms.conf variable after every configuration file has been read. Repeatable.",
    } => Text(|a, v| a.directives.push(v));
    NoDepmod {
        long: "--no-depmod",
        help: "Do not run depmod",
        long_help: "Do not run depmod after installing or uninstalling.",
    } => Switch(|a| a.no_depmod = true);
    ModprobeOnInstall {
        long: "--modprobe-on-install",
        help: "Load modules after install",
        long_help: "After installing for the running kernel, load the modules for the devices present.",
    } => Switch(|a| a.modprobe_on_install = true);
    Debug {
        long: "--debug",
        help: "Trace execution",
        long_help: "Show every program dkms runs, on stderr, as bash's set -x would (upstream traces its whole \
                    script).",
    } => Switch(|a| a.debug = true);
    Jobs {
        short: Some('j'), value: Some("number"), kind: Some(K::Number),
        help: "Parallel make jobs",
        long_help: "Number of parallel make jobs (default: the number of CPUs; 0 leaves it to make).",
    } => Text(|a, v| a.parallel_jobs = Some(v));
    Help {
        long: "--help", short: Some('h'),
        help: "Print usage and exit",
        long_help: "Print the usage and exit.",
    } => Switch(|a| a.special = Some(Special::Help));
    // Ours from here on: none of them is in upstream dkms.
    Json {
        long: "--json", extension: true,
        help: "JSON Lines on stdout",
        long_help: "JSON Lines on stdout (see JSON OUTPUT). Not in upstream dkms.",
    } => Switch(|a| a.json = true);
    Format {
        long: "--format", prefix: true, value: Some("text|json"), kind: Some(K::Choice(&["text", "json"])),
        extension: true,
        help: "Output format",
        long_help: "Output format: text (upstream's messages, the default) or json (the same as --json). Not in \
                    upstream dkms.",
    } => Checked(|a, v| {
        choice(&v, &["text", "json"], "output format")?;
        a.json = v == "json";
        Ok(())
    });
    LockTimeout {
        long: "--lock-timeout", prefix: true, value: Some("seconds"), kind: Some(K::Number), extension: true,
        help: "Give up waiting for the DKMS lock",
        long_help: "Give up, with exit status {status:lock-timeout}, after waiting this many seconds for the DKMS lock (default: \
                    wait). Also the framework.conf setting lock_timeout. Not in upstream dkms.",
    } => Checked(|a, v| {
        let n = v.parse().map_err(|_| format!("--lock-timeout needs a number of seconds, not '{v}'"))?;
        a.lock_timeout = Some(n);
        Ok(())
    });
    AllKernels {
        long: "--all-kernels", extension: true,
        help: "autoinstall: every kernel with headers",
        long_help: "autoinstall: every kernel under the install tree whose headers are installed (instead of -k), \
                    all in one run: their builds share one jobs budget. Not in upstream dkms.",
    } => Switch(|a| a.all_kernels = true);
    From {
        long: "--from", prefix: true, value: Some("dir"), kind: Some(K::Dir), extension: true, verb_only: true,
        help: "mktree: copy this source directory",
        long_help: "mktree: make the module tree a copy of this source directory (plus a generated dkms.conf if \
                    it has none) instead of a new skeleton. Only mktree accepts it. Not in upstream dkms.",
    } => Path(|a, p| a.from = Some(p));
    Verify {
        long: "--verify", extension: true,
        help: "status: check what is installed",
        long_help: "status: also verify every installed build (see dkms-status(8)); exit status {status:verify-failed} when one \
                    fails. Not in upstream dkms.",
    } => Switch(|a| a.verify = true);
    PathOnly {
        long: "--path", extension: true,
        help: "log: print only where the log is",
        long_help: "log: print the path of the make.log instead of its contents. Not in upstream dkms.",
    } => Switch(|a| a.path_only = true);
    BinaryCachePush {
        long: "--binary-cache-push", prefix: true, value: Some("dir"), kind: Some(K::Dir), extension: true,
        help: "Write every local build into this cache directory",
        long_help: "Write every successful local build into this directory (or OCI registry repository: \
                    oci://HOST[:PORT]/REPO, oci+http://HOST:PORT/REPO) as a signed cache entry. Overrides \
                    DKMS_BINARY_CACHE_PUSH and binary_cache_push. Not in upstream dkms.",
    } => Text(|a, v| a.binary_cache_push = Some(v));
    BinaryCacheCertificate {
        long: "--binary-cache-certificate", prefix: true, value: Some("file"), kind: Some(K::File), extension: true,
        help: "Certificate cache entries must be signed with",
        long_help: "The X.509 certificate cache entries must be signed with (default: mok_certificate). \
                    Overrides DKMS_BINARY_CACHE_CERTIFICATE and binary_cache_certificate. Not in upstream dkms.",
    } => Text(|a, v| a.binary_cache_certificate = Some(v));
    BinaryCache {
        long: "--binary-cache", prefix: true, value: Some("sources"), kind: Some(K::Text), extension: true,
        help: "Binary cache sources to take builds from",
        long_help: "Space-separated binary cache sources (http://, https://, file://, a directory, \
                    oci://HOST[:PORT]/REPO or oci+http://HOST:PORT/REPO), tried in order before every build \
                    (see BINARY CACHE). Overrides DKMS_BINARY_CACHE and the framework.conf setting binary_cache; \
                    an empty value turns the cache off. Not in upstream dkms.",
    } => Text(|a, v| a.binary_cache = Some(v));
    To {
        long: "--to", prefix: true, value: Some("dir"), kind: Some(K::Dir), extension: true,
        help: "cache push: the cache directory or registry; cache deb: where packages go; cache kmm: the image",
        long_help: "cache push: the directory to write the entry into (default: binary_cache_push); cache deb: \
                    the directory to write the packages into; cache kmm: oci-layout:DIR[:TAG] or a registry \
                    (oci://HOST/REPO, oci+http://HOST:PORT/REPO; also a registry for cache push). Not in \
                    upstream dkms.",
    } => Path(|a, p| a.cache_to = Some(p));
    KeepKernels {
        long: "--keep-kernels", prefix: true, value: Some("kernels"), kind: Some(K::Kernel), extension: true,
        help: "cache gc: the kernels whose entries stay",
        long_help: "cache gc: the kernels whose entries are kept (space- or comma-separated, repeatable); every \
                    other entry is removed. Not in upstream dkms.",
    } => Text(|a, v| a.keep_kernels.extend(v.split([' ', ',']).filter(|k| !k.is_empty()).map(String::from)));
    Cache {
        long: "--cache", prefix: true, value: Some("sources"), kind: Some(K::Text), extension: true,
        help: "cache gate, cache status: the cache sources to look in",
        long_help: "cache gate, cache status: the binary cache sources to look in, as binary_cache (default: --binary-cache, \
                    DKMS_BINARY_CACHE, binary_cache). Not in upstream dkms.",
    } => Text(|a, v| a.binary_cache = Some(v));
    BuildSandbox {
        long: "--build-sandbox", prefix: true, value: Some("no|yes|auto"), extension: true,
        kind: Some(K::Choice(&["no", "yes", "auto"])),
        help: "Confine builds (bubblewrap)",
        long_help: "Run the patch step, PRE_BUILD, make and POST_BUILD (and the bash evaluation of a tarball's \
                    dkms.conf) in a bubblewrap sandbox: an unprivileged uid, no network, / read-only, only \
                    build/ and a private /tmp writable, the signing key hidden. no (the default): as upstream; \
                    yes: fail with exit status {status:sandbox-unavailable} when the sandbox cannot be set up; auto: confine when \
                    possible, else run as upstream with a notice. Also the framework.conf setting \
                    build_sandbox. Not in upstream dkms.",
    } => Checked(|a, v| {
        choice(&v, &["no", "yes", "auto"], "--build-sandbox setting")?;
        a.build_sandbox = Some(v);
        Ok(())
    });
    DryRun {
        long: "--dry-run", extension: true, verb_only: true,
        help: "Print the plan; change nothing",
        long_help: "build, install, uninstall, unbuild, remove, autoinstall, sign and the kernel_* hooks: print \
                    what would be added, built, skipped (and why), installed, archived, uninstalled, unbuilt and \
                    removed, and which depmods would run (JSON: planned records), and change nothing: no file is \
                    written, no script or make is run, only a shared lock is taken and an interrupted \
                    transaction is not recovered. Errors the run would meet before its first change are \
                    reported with their exit status. With a binary cache, the entry a build would take is \
                    fetched and verified (in a temporary directory) and planned as substitute. Only these verbs \
                    accept it. Not in upstream dkms.",
    } => Switch(|a| a.dry_run = true);
    PasswordFile {
        long: "--password-file", prefix: true, value: Some("file"), kind: Some(K::File), extension: true,
        verb_only: true,
        help: "enroll: read the one-time password from this file",
        long_help: "enroll: the one-time enrolment password, the first line of this file (root-owned, not \
                    readable by others), instead of asking for it on the terminal. Only enroll accepts it. Not \
                    in upstream dkms.",
    } => Text(|a, v| a.password_file = Some(v.into()));
    Progress {
        long: "--progress", prefix: true, value: Some("auto|lines|never"), extension: true,
        kind: Some(K::Choice(&["auto", "lines", "never"])),
        help: "Show the progress of builds",
        long_help: "Show how far each running module build has got, from the steps make writes to make.log (the \
                    total and the time left from the last successful build of the same module/version, its make.log \
                    or a binary cache entry in a cache directory, when there is one). auto (the default): a live \
                    status line per running build on standard error when it is a terminal of known size, erased \
                    when the build ends; otherwise upstream's output, byte for \
                    byte. lines: one line per running build every 30 s on standard error (for logs). never: \
                    upstream's output everywhere. With --json, progress records (at most one a second per \
                    build) unless never. Also the framework.conf setting progress and the environment variable \
                    DKMS_PROGRESS (which framework.conf overrides). Not in upstream dkms.",
    } => Checked(|a, v| {
        choice(&v, &["auto", "lines", "never"], "--progress setting")?;
        a.progress = Some(v);
        Ok(())
    });
}
