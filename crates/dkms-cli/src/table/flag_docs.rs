//! The documentation of the options that are ours, not upstream's (their
//! man-page paragraphs and value kinds), beside `flag_doc`'s of upstream's.

use super::{doc, FlagDoc, FlagId, FlagId::*, ValueKind};

/// `flag_doc` of the options that are ours, not upstream's.
pub(super) const fn our_flag_doc(id: FlagId) -> FlagDoc {
    use ValueKind as K;
    match id {
        Json => doc(None, "JSON Lines on stdout (see JSON OUTPUT). Not in upstream dkms."),
        Format => doc(
            Some(K::Choice(&["text", "json"])),
            "Output format: text (upstream's messages, the default) or json (the same as --json). Not in upstream dkms.",
        ),
        LockTimeout => doc(
            Some(K::Number),
            "Give up, with exit status 75, after waiting this many seconds for the DKMS lock (default: wait). \
             Also the framework.conf setting lock_timeout. Not in upstream dkms.",
        ),
        AllKernels => doc(
            None,
            "autoinstall: every kernel under the install tree whose headers are installed (instead of -k), \
             all in one run: their builds share one jobs budget. Not in upstream dkms.",
        ),
        From => doc(
            Some(K::Dir),
            "mktree: make the module tree a copy of this source directory (plus a generated dkms.conf if it has \
             none) instead of a new skeleton. Only mktree accepts it. Not in upstream dkms.",
        ),
        Verify => doc(None, "status: also verify every installed build (see dkms-status(8)); exit status 18 when one fails. Not in upstream dkms."),
        PathOnly => doc(None, "log: print the path of the make.log instead of its contents. Not in upstream dkms."),
        DryRun => doc(
            None,
            "build, install, uninstall, unbuild, remove, autoinstall, sign and the kernel_* hooks: print what would be \
             added, built, skipped (and why), installed, archived, uninstalled, unbuilt and removed, and which \
             depmods would run (JSON: planned records), and change nothing: no file is written, no script or make \
             is run, only a shared lock is taken and an interrupted transaction is not recovered. Errors the run \
             would meet before its first change are reported with their exit status. With a binary cache, the \
             entry a build would take is fetched and verified (in a temporary directory) and planned as \
             substitute. Only these verbs accept it. Not in upstream dkms.",
        ),
        BinaryCache => doc(
            Some(K::Text),
            "Space-separated binary cache sources (http://, https://, file://, a directory, oci://HOST[:PORT]/REPO or oci+http://HOST:PORT/REPO), tried in order \
             before every build (see BINARY CACHE). Overrides DKMS_BINARY_CACHE and the framework.conf setting \
             binary_cache; an empty value turns the cache off. Not in upstream dkms.",
        ),
        BinaryCachePush => doc(
            Some(K::Dir),
            "Write every successful local build into this directory (or OCI registry repository: oci://HOST[:PORT]/REPO, \
             oci+http://HOST:PORT/REPO) as a signed cache entry. Overrides \
             DKMS_BINARY_CACHE_PUSH and binary_cache_push. Not in upstream dkms.",
        ),
        BinaryCacheCertificate => doc(
            Some(K::File),
            "The X.509 certificate cache entries must be signed with (default: mok_certificate). Overrides \
             DKMS_BINARY_CACHE_CERTIFICATE and binary_cache_certificate. Not in upstream dkms.",
        ),
        To => doc(
            Some(K::Dir),
            "cache push: the directory to write the entry into (default: binary_cache_push); cache deb: the \
             directory to write the packages into; cache kmm: oci-layout:DIR[:TAG] or a registry (oci://HOST/REPO, \
             oci+http://HOST:PORT/REPO; also a registry for cache push). Not in upstream dkms.",
        ),
        Cache => doc(
            Some(K::Text),
            "cache gate: the binary cache sources to look in, as binary_cache (default: --binary-cache, \
             DKMS_BINARY_CACHE, binary_cache). Not in upstream dkms.",

        ),
        KeepKernels => doc(
            Some(K::Kernel),
            "cache gc: the kernels whose entries are kept (space- or comma-separated, repeatable); every other \
             entry is removed. Not in upstream dkms.",
        ),
        BuildSandbox => doc(
            Some(K::Choice(&["no", "yes", "auto"])),
            "Run the patch step, PRE_BUILD, make and POST_BUILD (and the bash evaluation of a tarball's \
             dkms.conf) in a bubblewrap sandbox: an unprivileged uid, no network, / read-only, only build/ and \
             a private /tmp writable, the signing key hidden. no (the default): as upstream; yes: fail with exit \
             status 78 when the sandbox cannot be set up; auto: confine when possible, else run as upstream with \
             a notice. Also the framework.conf setting build_sandbox. Not in upstream dkms.",
        ),
        PasswordFile => doc(
            Some(K::File),
            "enroll: the one-time enrolment password, the first line of this file (root-owned, not readable by \
             others), instead of asking for it on the terminal. Only enroll accepts it. Not in upstream dkms.",
        ),
        Progress => doc(
            Some(K::Choice(&["auto", "lines", "never"])),
            "Show how far each running module build has got, from the steps make writes to make.log (the total \
             and the time left from the last successful build of the same module/version, its make.log or a \
             binary cache entry in a cache directory, when there is one). auto (the default): a live status line \
             per running build on standard error when it is a terminal of known size, erased when the build ends; otherwise upstream's output, byte for byte. lines: one line per running \
             build every 30 s on standard error (for logs). never: upstream's output everywhere. With --json, \
             progress records (at most one a second per build) unless never. Also the framework.conf setting \
             progress and the environment variable DKMS_PROGRESS (which framework.conf overrides). Not in \
             upstream dkms.",
        ),
        _ => doc(None, ""),
    }
}
