//! The values records carry besides targets and counts: why a module does
//! not verify and how bad that is, the steps of a `--dry-run` plan, where a
//! certificate's enrolment stands.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why an installed module does not verify (`status --verify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyReason {
    /// The installed file's bytes differ from the built copy's, or it cannot
    /// be read as a module.
    Corrupted,
    /// Its vermagic names another kernel release.
    WrongKernel,
    /// dkms signs for this kernel (CONFIG_MODULE_SIG) but it carries no signature.
    Unsigned,
    /// Its signature was not made with the configured certificate.
    ForeignSigner,
    /// The installed file, its built copy, or an archived original is gone.
    Missing,
    /// The kernel's modules.dep does not list it.
    NotInDepmod,
}

/// A step of a `--dry-run` plan: what the run would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PlannedAction {
    /// Register the module/version (`added`).
    Add,
    /// Build it for the kernel (`built`).
    Build,
    /// Take its build from the binary cache (`substituted`).
    Substitute,
    /// Install the build (`installed`).
    Install,
    /// Uninstall it (`uninstalled`).
    Uninstall,
    /// Delete the build (`unbuilt`).
    Unbuild,
    /// Delete the module/version from the DKMS tree (`removed`).
    Remove,
    /// Not do it, for `reason` (`skipped`).
    Skip,
    /// Run depmod for the kernel.
    Depmod,
    /// Re-sign the build's module files (`signed`; `dkms sign`).
    Sign,
}

/// One problem `status --verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VerifyProblem {
    /// Which check failed.
    pub reason: VerifyReason,
    /// The module (`DEST_MODULE_NAME`) concerned.
    pub module_name: String,
    /// The file concerned.
    pub file: String,
    /// What is wrong, as the text output says it.
    pub message: String,
    /// `error` fails verification; `warning` does not (an `unsigned`
    /// module that dkms had no key to sign and the kernel loads all the
    /// same). Absent in older output: `error`.
    #[serde(default = "Severity::error")]
    pub severity: Severity,
}

/// How bad a `doctor` finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Works, noted for information.
    Info,
    /// Something will not work as expected (modules unsigned, a hook missing).
    Warning,
    /// Builds or installs will fail, or what is installed cannot load (exit 19).
    Error,
}

/// Where the enrolment of the signing certificate stands (`enroll`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EnrolState {
    /// `mokutil --import` queued it: confirmed in MokManager at the next boot.
    Queued,
    /// It already waited to be enrolled (nothing done).
    Pending,
    /// It was already enrolled (nothing done).
    Enrolled,
}

impl Severity {
    /// The default of `VerifyProblem::severity`.
    pub fn error() -> Severity {
        Severity::Error
    }
}
