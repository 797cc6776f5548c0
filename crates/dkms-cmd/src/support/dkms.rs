//! The run context: what one dkms run knows (the parsed command line and
//! framework.conf, `Ctx`, which only the driver and the verbs read; the
//! command line's run-wide settings, `RunOptions`) plus what upstream keeps
//! in shell globals while it works (`$module`/`$module_version`, the
//! one-slot conf cache `last_mvka`, the prepared kernel and its signer,
//! exports for children). Its methods live next to the concern they
//! serve (`conf`, `checks`, `depmod`, `modfiles`, `scripts`, `invoke`,
//! `subshell`); this file holds the type and the facts derived from `Ctx`.

use super::options::{BuildOptions, RunOptions};
use dkms_cli::ui::Ui;
use dkms_cli::Ctx;
use dkms_state::capture::Chunks;
use dkms_state::conf::Conf;
use dkms_state::error::{Error, Result};
use dkms_state::kernel;
use std::path::{Path, PathBuf};

/// One dkms run: the context plus what upstream keeps in globals while it
/// works (the last read conf, the kernel prepared for building, exports).
/// A parallel autoinstall gives each background build its own copy.
#[derive(Debug, Clone)]
pub(crate) struct Dkms {
    pub(crate) ctx: Ctx,
    /// Where this run's output goes (the driver's; a background build's
    /// copy shares its records).
    pub(crate) ui: Ui,
    /// The command line's settings for the whole run (never changed).
    pub(crate) opts: RunOptions,
    /// Upstream's globals `$module`, `$module_version`: what this run of
    /// the verb is for (`-m`/`-v`, or the stdin record's; `Args` keep what
    /// was parsed).
    pub(crate) module: String,
    pub(crate) module_version: String,
    /// Upstream's arrays `kernelver[]`/`arch[]`, paired by index: the
    /// kernels this run of the verb is for (the command line's, a stdin
    /// record's, `--all-kernels`'; `Ctx` keeps what was given). `status`
    /// without -k has no kernel and at most the -a arch.
    pub(crate) kernelver: Vec<String>,
    pub(crate) arch: Vec<String>,
    /// `last_mvka`/`last_mvka_conf` and the conf read for them.
    pub(crate) last_conf: Option<(String, Conf)>,
    /// `package_name` of the last conf read (drives the progress dots).
    pub(crate) package_name: String,
    /// Environment added for children (`CC`, `--directive` exports, ...).
    pub(crate) exports: Vec<(String, String)>,
    /// `delayed_depmod` (kernel_preinst/prerm).
    pub(crate) delayed_depmod: bool,
    /// `prepared_kernel`: the kernel/arch whose headers and signing were
    /// checked (the prologue prints once per kernel).
    pub(crate) prepared_kernel: Option<String>,
    /// How modules are signed for the prepared kernel, if at all.
    pub(crate) signer: Option<Signer>,
    /// The jobs budget `make` joins instead of its own `-j` (a parallel
    /// autoinstall, or dkms run under a make jobserver).
    pub(crate) jobs: Option<std::sync::Arc<dkms_state::jobs::Budget>>,
    /// Builds running in the background for a parallel autoinstall; an
    /// install takes its module's build from there.
    pub(crate) builds: Option<std::sync::Arc<dyn BuildsAhead>>,
    /// Kernels whose depmod an autoinstall runs once at the end, with the
    /// journal that makes a killed run do it on recovery; None: run depmod
    /// after every install, as upstream does.
    pub(crate) deferred_depmod: Option<DeferredDepmod>,
    /// `autoinstall`, which `load_tarball` runs after installing an `.rpm`
    /// (upstream: `autoinstall; exit $?`). That operation sits above the
    /// tarball loader (autoinstall → install → build → add → load_tarball),
    /// so the driver hands it down instead of the loader reaching up.
    pub(crate) autoinstall: fn(&mut Dkms, &BuildOptions) -> Result<()>,
    /// What error records name as the target (`Ui::report_for`): the
    /// command line's or the stdin record's module/version, then each
    /// kernel `for_each_kernel` works on (upstream's subshell loop leaves
    /// the last one). Part of the run, never process-wide.
    pub(crate) reporting: Option<dkms_proto::Target>,
}

/// What one step works on: upstream's `$module $module_version $kernelver
/// $arch`, the four its one-slot conf cache (`last_mvka`) is keyed by. The
/// one target type of the operations (borrowed, so Copy); the JSON records'
/// owned form is `dkms_proto::Target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target<'a> {
    /// `$module`.
    pub(crate) m: &'a str,
    /// `$module_version`.
    pub(crate) v: &'a str,
    /// `$kernelver` (empty: not about one kernel).
    pub(crate) k: &'a str,
    /// `$arch`.
    pub(crate) a: &'a str,
}

impl<'a> Target<'a> {
    /// `Target { m, v, k, a }`.
    pub(crate) fn new(m: &'a str, v: &'a str, k: &'a str, a: &'a str) -> Target<'a> {
        Target { m, v, k, a }
    }
}

/// What a build signs with (`prepare_signing`'s result).
#[derive(Debug, Clone)]
pub(crate) struct Signer {
    pub(crate) sign_file: PathBuf,
    pub(crate) hash: String,
    pub(crate) key: String,
    pub(crate) cert: String,
}

/// A build: module, version, kernel, arch.
pub(crate) type BuildKey = (String, String, String, String);

/// Builds run ahead of the install that needs them (a parallel
/// autoinstall's background builds, `ops::parallel`).
pub(crate) trait BuildsAhead: std::fmt::Debug + Send + Sync {
    /// The outcome of the build of `key`, waiting for it to finish; None if
    /// it is not one of these builds (the caller builds it itself).
    fn take(&self, key: &BuildKey) -> Option<BuildOutcome>;
    /// Is `key` one of these builds, not yet taken? Its install has not
    /// happened yet: in upstream's serial run it would not even be built.
    fn pending(&self, key: &BuildKey) -> bool;
}

/// What a build run ahead left: its output, its result, and the dkms.conf
/// it read last (upstream's `last_mvka`, which decides whether the install
/// that follows reads the conf again).
#[derive(Debug)]
pub(crate) struct BuildOutcome {
    pub(crate) chunks: Chunks,
    pub(crate) result: Result<()>,
    pub(crate) last_conf: Option<(String, Conf)>,
    pub(crate) package_name: String,
}

impl BuildOutcome {
    /// Print the build's output and take over its state, as if it had
    /// just run here; its result.
    pub(crate) fn replay(self, d: &mut Dkms) -> Result<()> {
        d.ui.replay(self.chunks);
        d.last_conf = self.last_conf;
        d.package_name = self.package_name;
        self.result
    }
}

/// Kernels whose depmod waits for the end of an autoinstall, each with the
/// journal that has recovery run it if the process dies first.
pub(crate) type DeferredDepmod = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<dkms_state::journal::Journal>)>>>;

impl Dkms {
    /// Report `e` naming what this run is working on (`reporting`).
    pub(crate) fn report(&self, e: &Error) {
        self.ui.report_for(e, self.reporting.as_ref());
    }

    /// Run `f` with this run's human text silenced (records still go
    /// out): a step whose messages another prints, or recovery replaying a
    /// journal whose steps would repeat theirs.
    pub(crate) fn quietly<R>(&mut self, f: impl FnOnce(&mut Dkms) -> R) -> R {
        let quiet = self.ui.muted();
        let loud = std::mem::replace(&mut self.ui, quiet);
        let r = f(self);
        self.ui = loud;
        r
    }

    pub(crate) fn new(
        ctx: Ctx,
        ui: Ui,
        opts: RunOptions,
        (module, module_version): (String, String),
        autoinstall: fn(&mut Dkms, &BuildOptions) -> Result<()>,
    ) -> Self {
        let exports = opts
            .directives
            .iter()
            .filter_map(|d| d.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        Dkms {
            kernelver: ctx.kernelver.clone(),
            arch: ctx.arch.clone(),
            ctx,
            ui,
            opts,
            module,
            module_version,
            last_conf: None,
            package_name: String::new(),
            exports,
            delayed_depmod: false,
            prepared_kernel: None,
            signer: None,
            jobs: None,
            builds: None,
            deferred_depmod: None,
            autoinstall,
            reporting: None,
        }
    }

    /// Upstream variables visible to dkms.conf and to `eval`ed commands.
    pub(crate) fn shell_context(&self) -> Vec<(String, String)> {
        self.shell_context_forced(self.opts.force)
    }

    /// `shell_context` with `$force` as an operation has set it (an
    /// install forced by `modules_to_force_install` reads its dkms.conf so).
    pub(crate) fn shell_context_forced(&self, force: bool) -> Vec<(String, String)> {
        let t = &self.ctx.trees;
        let s = |p: &Path| p.to_string_lossy().into_owned();
        vec![
            ("dkms_tree".into(), s(&t.dkms_tree)),
            ("source_tree".into(), s(&t.source_tree)),
            ("install_tree".into(), s(&t.install_tree)),
            ("tmp_location".into(), s(&self.ctx.tmp_location)),
            ("parallel_jobs".into(), self.ctx.parallel_jobs.clone()),
            ("running_distribution".into(), self.ctx.running_distribution.clone()),
            ("current_kernel".into(), self.ctx.current_kernel.clone()),
            ("current_os".into(), self.ctx.current_os.clone()),
            ("verbose".into(), if self.ctx.verbose { "true".into() } else { String::new() }),
            ("force".into(), if force { "true".into() } else { String::new() }),
        ]
    }

    /// The (kernel, arch) pairs this run of the verb is for, in order.
    pub(crate) fn targets(&self) -> Vec<(String, String)> {
        self.kernelver.iter().cloned().zip(self.arch.iter().cloned()).collect()
    }

    /// The first kernel/arch this run is for (`$kernelver`, `$arch`).
    pub(crate) fn kernelver0(&self) -> (String, String) {
        (self.kernelver.first().cloned().unwrap_or_default(), self.arch.first().cloned().unwrap_or_default())
    }

    /// The source a build of m/v reads: its `source` link once it is added;
    /// before that (a dry run plans the `add` first) the directory `add`
    /// would link to.
    pub(crate) fn build_source(&self, m: &str, v: &str) -> PathBuf {
        let t = &self.ctx.trees;
        if dkms_state::status::is_module_added(t, m, v) {
            t.source_link(m, v)
        } else {
            t.source_dir(m, v)
        }
    }

    /// The dkms.conf a build of m/v reads when it is not the default (the
    /// `source` link's): before the add, `-c` or the one `add` would read.
    pub(crate) fn build_conf(&self, m: &str, v: &str) -> Option<PathBuf> {
        let added = dkms_state::status::is_module_added(&self.ctx.trees, m, v);
        (!added).then(|| self.opts.conf.clone().unwrap_or_else(|| self.build_source(m, v).join("dkms.conf")))
    }

    /// `kernel_source_dir` for a kernel (`--kernelsourcedir` wins).
    pub(crate) fn kernel_source_dir(&self, kernelver: &str) -> PathBuf {
        kernel::kernel_source_dir(&self.ctx.trees, kernelver, self.opts.kernel_source_dir.as_deref())
    }

    /// `kernel_config` for a kernel (`--config` wins).
    pub(crate) fn kernel_config(&self, kernelver: &str) -> PathBuf {
        kernel::kernel_config(&self.kernel_source_dir(kernelver), self.opts.kernel_config.as_deref())
    }
}
