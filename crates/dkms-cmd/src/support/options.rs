//! What the command line asks of the operations, as cargo's
//! `CompileOptions`: the verb (or the driver) makes these from the parsed,
//! never changed `Args`; below `verbs/` nothing reads the command line.
//! `RunOptions` hold what is the same for the whole run; the per-operation
//! options (`BuildOptions`, `RemoveOptions`, ...) are passed to the
//! operation, which hands a changed copy down instead of setting a global
//! and putting it back (upstream's `tmp_force`).

use dkms_cli::args::Args;
use std::path::PathBuf;

/// The command line's settings for the whole run (paths, tools, sources);
/// made once by the driver, in `Dkms::opts`.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunOptions {
    /// `--force` as upstream's shell global `$force`, which dkms.conf and
    /// evaluated commands see (operations decide by their own options).
    pub(crate) force: bool,
    /// `-c`: the dkms.conf to read instead of the tree's.
    pub(crate) conf: Option<PathBuf>,
    /// `--archive` (or a tarball word): the archive to load or write.
    pub(crate) archive_location: Option<PathBuf>,
    /// A source directory given as a word (`add_source_tree`).
    pub(crate) try_source_tree: Option<PathBuf>,
    /// `--kernelsourcedir`
    pub(crate) kernel_source_dir: Option<PathBuf>,
    /// `--config`
    pub(crate) kernel_config: Option<PathBuf>,
    /// `--directive NAME=VALUE`, in order.
    pub(crate) directives: Vec<String>,
    /// `--no-depmod`
    pub(crate) no_depmod: bool,
    /// `--build-sandbox` (not upstream).
    pub(crate) build_sandbox: Option<String>,
    /// `--binary-cache`, `--binary-cache-push`, `--binary-cache-certificate`
    /// (not upstream).
    pub(crate) binary_cache: Option<String>,
    pub(crate) binary_cache_push: Option<String>,
    pub(crate) binary_cache_certificate: Option<String>,
}

impl RunOptions {
    pub(crate) fn from_args(a: &Args) -> Self {
        RunOptions {
            force: a.force,
            conf: a.conf.clone(),
            archive_location: a.archive_location.clone(),
            try_source_tree: a.try_source_tree.clone(),
            kernel_source_dir: a.kernel_source_dir.clone(),
            kernel_config: a.kernel_config.clone(),
            directives: a.directives.clone(),
            no_depmod: a.no_depmod,
            build_sandbox: a.build_sandbox.clone(),
            binary_cache: a.binary_cache.clone(),
            binary_cache_push: a.binary_cache_push.clone(),
            binary_cache_certificate: a.binary_cache_certificate.clone(),
        }
    }
}

/// The add → build → install chain and autoinstall (`add_module`,
/// `do_build`, `do_install`; cargo's `CompileOptions`, which its build,
/// check and install share).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BuildOptions {
    /// `--force`: rebuild a built module and reinstall an installed one,
    /// build despite missing BUILD_DEPENDS, replace a loaded source tree,
    /// skip the version and OBSOLETE_BY checks.
    pub(crate) force: bool,
    /// `--force-version-override`: skip the version check only.
    pub(crate) force_version_override: bool,
    /// `--rpm_safe_upgrade`: `add` leaves the lock file a remove in the
    /// same rpm transaction looks for; `install` is forced.
    pub(crate) rpm_safe_upgrade: bool,
}

impl BuildOptions {
    pub(crate) fn from_args(a: &Args) -> Self {
        BuildOptions {
            force: a.force,
            force_version_override: a.force_version_override,
            rpm_safe_upgrade: a.rpm_safe_upgrade,
        }
    }

    /// These options with `--force` set (upstream sets its global and puts
    /// it back: `tmp_force`).
    pub(crate) fn forced(self) -> Self {
        BuildOptions { force: true, ..self }
    }
}

/// `remove_module`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RemoveOptions {
    /// `--rpm_safe_upgrade`: a remove in the rpm transaction that added the
    /// module again is cancelled.
    pub(crate) rpm_safe_upgrade: bool,
}

impl RemoveOptions {
    pub(crate) fn from_args(a: &Args) -> Self {
        RemoveOptions { rpm_safe_upgrade: a.rpm_safe_upgrade }
    }
}

/// `make_tarball`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TarballOptions {
    /// `--binaries-only`
    pub(crate) binaries_only: bool,
    /// `--source-only`
    pub(crate) source_only: bool,
}

impl TarballOptions {
    pub(crate) fn from_args(a: &Args) -> Self {
        TarballOptions { binaries_only: a.binaries_only, source_only: a.source_only }
    }
}
