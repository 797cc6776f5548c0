//! The JSON Lines protocol of `dkms --json`: one record per line, each an
//! object whose first keys are `"format_version": 1` and `"type"`.
//!
//! Stability promise for format version 1: record types and keys are only
//! ever added, never renamed, removed or retyped; a key never changes type;
//! enum values are kebab-case, keys snake_case. Optional data is omitted
//! (never `null`): `kernel`/`arch` on targets that have none (an added or
//! broken module), `hint` when there is none, the identity keys of an error
//! that concerns no module. Lists are always present, possibly empty.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod values;
pub use values::{EnrolState, PlannedAction, Severity, VerifyProblem, VerifyReason};

/// The format version every record carries.
pub const FORMAT_VERSION: u32 = 1;

/// One line of output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    /// Always 1 for this protocol.
    pub format_version: u32,
    /// The record, with its `type`.
    #[serde(flatten)]
    pub record: Record,
}

impl Envelope {
    /// Wrap a record.
    pub fn new(record: Record) -> Self {
        Envelope { format_version: FORMAT_VERSION, record }
    }
}

/// Which module, version, kernel and arch a record is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Target {
    /// Module name (upstream `-m`).
    pub module: String,
    /// Module version (upstream `-v`).
    pub version: String,
    /// Kernel release (upstream `-k`), when the record concerns one kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Architecture (upstream `-a`), with `kernel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
}

/// The state of a module/version or build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Source link dangling or missing while the source exists.
    Broken,
    /// Registered, not built for the kernel(s) asked about.
    Added,
    /// Built for the kernel.
    Built,
    /// Built and installed into the kernel's module tree.
    Installed,
}

/// Why something was not done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// `build`: already built for the kernel (use --force).
    AlreadyBuilt,
    /// `install`: already installed on the kernel (use --force).
    AlreadyInstalled,
    /// BUILD_EXCLUSIVE_* excludes this kernel/arch/config (exit 77).
    BuildExclusive,
    /// `autoinstall`: AUTOINSTALL is not yes.
    NotAutoinstall,
    /// `uninstall`: not installed on the kernel.
    NotInstalled,
    /// `unbuild`/`remove`: not built for the kernel.
    NotBuilt,
    /// `autoinstall`: a BUILD_DEPENDS is not registered with DKMS yet.
    DependencyNotRegistered,
    /// `autoinstall`: a BUILD_DEPENDS failed or is in a cycle.
    DependencyFailed,
}

/// Counts of the records a run emitted, by type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    /// `added` records.
    pub added: u64,
    /// `built` records.
    pub built: u64,
    /// `installed` records.
    pub installed: u64,
    /// `uninstalled` records.
    pub uninstalled: u64,
    /// `unbuilt` records.
    pub unbuilt: u64,
    /// `removed` records.
    pub removed: u64,
    /// `skipped` records.
    pub skipped: u64,
    /// `error` records.
    pub errors: u64,
    /// `status` records.
    pub status: u64,
    /// `planned` records (`--dry-run`).
    #[serde(default)]
    pub planned: u64,
}

/// Every record type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Record {
    /// One line of `dkms status`.
    Status {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The state.
        state: State,
        /// `(Original modules exist)`; built/installed only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        original_modules_exist: Option<bool>,
        /// `(Built modules are missing in the kernel modules folder)`; built/installed only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        built_modules_missing: Option<bool>,
        /// `(Differences between built and installed modules)`; built/installed only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        differs_from_installed: Option<bool>,
        /// The source directory (`/usr/src/<module>-<version>`).
        source: String,
        /// Built module files in the DKMS tree.
        built_modules: Vec<String>,
        /// Installed module files in the kernel's module tree.
        installed_modules: Vec<String>,
    },
    /// `add` registered a module/version.
    Added {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The source directory.
        source: String,
    },
    /// `build` built a module/version for a kernel.
    Built {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The build's make.log.
        log: String,
        /// Wall time of the build.
        elapsed_ms: u64,
        /// The built module files.
        modules: Vec<String>,
    },
    /// `install` installed a build.
    Installed {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The files placed in the kernel's module tree.
        files: Vec<String>,
        /// Pre-existing modules archived (and restored on uninstall).
        replaced_originals: Vec<String>,
    },
    /// `uninstall` removed an installed build.
    Uninstalled {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The files deleted from the kernel's module tree.
        files: Vec<String>,
        /// Archived originals put back.
        restored_originals: Vec<String>,
    },
    /// `unbuild` deleted a build.
    Unbuilt {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
    },
    /// `remove` deleted a module/version from the DKMS tree.
    Removed {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
    },
    /// Something was deliberately not done.
    Skipped {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// Why.
        reason: SkipReason,
    },
    /// A failure (the human message also went to stderr).
    Error {
        /// Stable kebab-case name of the cause.
        kind: String,
        /// The exit status upstream dkms uses for it.
        exit_code: u8,
        /// Upstream's message lines, joined by newlines.
        message: String,
        /// What to do about it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hint: Option<String>,
        /// What it is about, when it concerns one module.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        module: Option<String>,
        /// The version, with `module`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// The kernel, when it concerns one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kernel: Option<String>,
        /// The arch, with `kernel`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arch: Option<String>,
    },
    /// `mktarball` wrote a tarball.
    TarballCreated {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The tarball written.
        path: String,
        /// The builds it holds, as `<kernel>/<arch>`.
        builds: Vec<String>,
        /// It holds the module source (`dkms_source_tree/`).
        source: bool,
        /// It holds only binaries and the dkms.conf (`--binaries-only`).
        binaries_only: bool,
    },
    /// `ldtarball` (or `add` of a tarball) loaded a tarball.
    TarballLoaded {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The tarball read.
        path: String,
        /// The builds loaded into the tree, as `<kernel>/<arch>`.
        builds: Vec<String>,
    },
    /// A build was taken from the binary cache instead of running make
    /// (not in upstream dkms).
    Substituted {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The cache source it came from.
        source: String,
        /// The cache key.
        key: String,
        /// The module files placed in the DKMS tree.
        modules: Vec<String>,
    },
    /// How far a running module build has got (at most once a second per
    /// build, while make runs; not in upstream dkms).
    Progress {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// Seconds since make started.
        elapsed_s: u64,
        /// The last kbuild step make logged (`CC [M] foo.o`), "" before the
        /// first.
        step: String,
        /// kbuild steps logged so far.
        done: u64,
        /// Steps of the last successful build of this module/version
        /// (absent when unknown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<u64>,
        /// Seconds left by the last build's time and this one's pace
        /// (absent when unknown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eta_s: Option<u64>,
    },
    /// A binary cache source did not supply a build; dkms builds locally
    /// (not in upstream dkms).
    CacheRejected {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The cache source.
        source: String,
        /// The cache key.
        key: String,
        /// Why (no entry, timeout, bad signature, hash mismatch, ...).
        reason: String,
    },
    /// `cache push` (or a build with binary_cache_push) wrote an entry (not
    /// in upstream dkms).
    CachePushed {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The cache directory.
        dir: String,
        /// The cache key.
        key: String,
    },
    /// `cache gate`: whether the binary cache holds a verified entry for
    /// an AUTOINSTALL module of the kernel (not in upstream dkms).
    CacheStatus {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// A verified entry was found.
        cached: bool,
        /// The cache key (empty when it could not be computed).
        key: String,
        /// The source that holds it (empty when none does).
        source: String,
        /// Why it is missing: `source: reason` for each source (empty when cached).
        reasons: Vec<String>,
    },
    /// `generate_mok` has (found or made) the key pair.
    Mok {
        /// The private key.
        key: String,
        /// The public certificate (DER).
        certificate: String,
    },
    /// `mktree` created `<source_tree>/<module>-<version>/` (not in upstream dkms).
    TreeCreated {
        /// What it is about (no kernel).
        #[serde(flatten)]
        target: Target,
        /// The directory created.
        path: String,
        /// The files dkms wrote into it (relative to `path`; a `--from`
        /// copy's own files are not listed).
        generated: Vec<String>,
        /// The directory copied (`--from`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        copied_from: Option<String>,
    },
    /// `unmktree` deleted `<source_tree>/<module>-<version>/` (not in upstream dkms).
    TreeRemoved {
        /// What it is about (no kernel).
        #[serde(flatten)]
        target: Target,
        /// The directory deleted.
        path: String,
    },
    /// `ltdk`: the licence of one built module file and what the kernel makes
    /// of it (not in upstream dkms).
    License {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The module file.
        file: String,
        /// Its `.modinfo` license; absent when it has none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        license: Option<String>,
        /// The kernel's `license_is_gpl_compatible` says yes.
        gpl_compatible: bool,
        /// Loading it taints the kernel (proprietary module, taint flag P).
        taints: bool,
        /// Its undefined symbols that the kernel exports with
        /// `EXPORT_SYMBOL_GPL` (or `_GPL_FUTURE`), sorted.
        gpl_only_symbols: Vec<String>,
        /// The Module.symvers the export types were read from.
        symvers: String,
        /// The kernel accepts its licence with those symbols: GPL-compatible,
        /// or no GPL-only symbol used.
        ok: bool,
    },
    /// `--version`: the only record of such a run (no `result` follows).
    Version {
        /// The release string (`dkms-3.4.3`).
        version: String,
    },
    /// `status --verify`: the verdict on one installed build.
    Verify {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// Every check passed.
        ok: bool,
        /// What failed (empty when `ok`).
        problems: Vec<VerifyProblem>,
    },
    /// `doctor`: one finding.
    Finding {
        /// How bad it is.
        severity: Severity,
        /// Stable kebab-case name of the check (`headers-missing`, ...).
        kind: String,
        /// What was found.
        message: String,
        /// What to do about it (a command where there is one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remedy: Option<String>,
        /// The kernel it concerns, if one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kernel: Option<String>,
    },
    /// A build or install went on, but something will not work as the user
    /// expects (not in upstream dkms): Secure Boot is on and the signing
    /// certificate is not enrolled (`mok-not-enrolled`, `mok-blocked`,
    /// `mok-enrollment-unknown`). The same text went to stderr.
    Warning {
        /// Stable kebab-case name of what was found.
        kind: String,
        /// What was found.
        message: String,
        /// What to do about it (a command where there is one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remedy: Option<String>,
        /// The kernel it concerns, if one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kernel: Option<String>,
    },
    /// `sign`: a build's module files re-signed (not in upstream dkms).
    Signed {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The certificate the files are now signed with.
        certificate: String,
        /// The files replaced: built copies, then installed ones.
        files: Vec<String>,
    },
    /// `enroll`: the certificate and where its enrolment stands (not in
    /// upstream dkms).
    Enrolment {
        /// The certificate (DER).
        certificate: String,
        /// Queued now, or already pending or enrolled.
        state: EnrolState,
    },
    /// `status` (JSON): a build that failed and has not succeeded since
    /// (dkms's failure memory).
    Failed {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The kind of the failure (`build-failed`, `wrong-kernel`, ...).
        kind: String,
        /// Its exit status.
        exit_code: u8,
        /// When it failed (seconds since the epoch).
        time: u64,
        /// SHA-256 of the inputs (dkms.conf, sources, kernel config) it was built from.
        inputs_hash: String,
        /// The make.log kept from it, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log: Option<String>,
    },
    /// `--dry-run`: one step the run would take (in order), and the record
    /// the real run would emit for it (named in `PlannedAction`).
    Planned {
        /// What it is about (module and version empty for a depmod).
        #[serde(flatten)]
        target: Target,
        /// The step.
        action: PlannedAction,
        /// Why it is skipped (`skip`): the reason the `skipped` record gives.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<SkipReason>,
        /// `build`: the module files it makes; `install`: the files placed in
        /// the kernel's module tree; `uninstall`: the files deleted.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<String>,
        /// `install`: pre-existing modules archived; `uninstall`: archived
        /// originals put back.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        originals: Vec<String>,
        /// autoinstall: the BUILD_DEPENDS this waits for (installed in
        /// earlier rounds, or, on a `skip`, never).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        after: Vec<String>,
        /// autoinstall: the round of BUILD_DEPENDS order (1 first) it runs in;
        /// builds of one round run side by side when `side_by_side` is set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        round: Option<u32>,
        /// autoinstall `build`: it would build in the background, beside the
        /// other builds of its round (parallel_jobs allows two or more).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        side_by_side: bool,
        /// `substitute`: the binary cache source that has a verified entry.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        /// `substitute`: the cache key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// `log`: where the make.log of a build is.
    Log {
        /// What it is about.
        #[serde(flatten)]
        target: Target,
        /// The make.log.
        path: String,
        /// It is the log of a failed build (left in `build/`).
        failed: bool,
    },
    /// The last record of every run.
    Result {
        /// The process exit status.
        exit_code: u8,
        /// What was emitted.
        counts: Counts,
    },
}

impl Record {
    /// The target a record names, if any (what `-` acts on). A `failed`
    /// record names none: `dkms status --json | dkms <verb> -` acts on what
    /// status lists, as before failures were remembered.
    pub fn target(&self) -> Option<Target> {
        match self {
            Record::Status { target, .. }
            | Record::Added { target, .. }
            | Record::Built { target, .. }
            | Record::Installed { target, .. }
            | Record::Uninstalled { target, .. }
            | Record::Unbuilt { target }
            | Record::Removed { target }
            | Record::Skipped { target, .. }
            | Record::TarballCreated { target, .. }
            | Record::TarballLoaded { target, .. }
            | Record::TreeCreated { target, .. }
            | Record::Verify { target, .. }
            | Record::Log { target, .. }
            | Record::Substituted { target, .. }
            | Record::Progress { target, .. }
            | Record::CacheRejected { target, .. }
            | Record::CachePushed { target, .. }
            | Record::Signed { target, .. } => Some(target.clone()),
            Record::CacheStatus { target, .. } => Some(target.clone()),
            // A depmod step names a kernel only.
            Record::Planned { target, .. } if !target.module.is_empty() => Some(target.clone()),
            Record::Error { module: Some(m), version: Some(v), kernel, arch, .. } => {
                Some(Target { module: m.clone(), version: v.clone(), kernel: kernel.clone(), arch: arch.clone() })
            }
            _ => None,
        }
    }
}

/// The JSON Schema of a record line, as committed in `schema/dkms.schema.json`.
pub fn schema() -> String {
    let s = schemars::schema_for!(Envelope);
    serde_json::to_string_pretty(&s).expect("schema serializes") + "\n"
}

#[cfg(test)]
mod tests;
