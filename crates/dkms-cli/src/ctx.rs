//! The start-up prologue every binary runs (upstream's "Program Starts
//! Here": umask, os-release, temp check, framework.conf, argument parsing,
//! sanity checks, kernels and arches) and the resulting context.

use crate::args::{self, Args};
use crate::table::Verb;
use crate::ui::Ui;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::trees::Trees;
use dkms_state::{distro, env, framework, kernel, status};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Everything one invocation works with.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub args: Args,
    /// `$0` as invoked, for usage lines.
    pub argv0: String,
    pub trees: Trees,
    pub running_distribution: String,
    pub current_kernel: String,
    pub current_os: String,
    pub tmp_location: PathBuf,
    /// `/etc/dkms`
    pub conf_dir: PathBuf,
    /// Non-signing framework settings after framework.conf (and the
    /// environment names upstream lets leak in).
    pub framework: BTreeMap<String, String>,
    /// `-j` value ("" means a bare `-j`).
    pub parallel_jobs: String,
    pub verbose: bool,
    pub symlink_modules: bool,
    pub modprobe_on_install: bool,
    pub addon_modules_dir: Option<String>,
    /// Target kernels and arches, paired by index.
    pub kernelver: Vec<String>,
    pub arch: Vec<String>,
}

/// `--progress` (not upstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// A live status line when stderr is a terminal, else upstream's dots.
    Auto,
    /// A heartbeat line every 30 s per running build.
    Lines,
    /// Upstream's output.
    Never,
}

/// Framework settings upstream does not reset at start, so an environment
/// variable of the same name acts like a framework.conf setting.
/// `build_sandbox` (not upstream) is read the same way, so that a whole run
/// (a test suite, a kernel hook) can be confined without editing /etc.
pub const FROM_ENV: [&str; 6] = [
    "parallel_jobs",
    "modprobe_on_install",
    "post_transaction",
    "build_environment",
    "autoinstall_all_kernels",
    "build_sandbox",
];

fn addon_modules_dir() -> Option<String> {
    if let Some(d) = env::nonempty("ADDON_MODULES_DIR") {
        return Some(d);
    }
    // SUSE keeps it in a shell fragment; only the plain assignment is read.
    let text = std::fs::read_to_string("/etc/sysconfig/module-init-tools").ok()?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("ADDON_MODULES_DIR="))
        .next_back()
        .map(|v| v.trim_matches(['"', '\'']).to_string())
        .filter(|v| !v.is_empty())
}

fn nproc() -> String {
    std::thread::available_parallelism().map_or(1, |n| n.get()).to_string()
}

/// The framework settings before framework.conf: upstream's defaults, and
/// the names upstream lets leak in from the environment.
fn framework_defaults(tmp_location: &Path) -> BTreeMap<String, String> {
    let mut initial: BTreeMap<String, String> = [
        ("source_tree", dkms_state::trees::DEFAULT_SOURCE_TREE.to_string()),
        ("dkms_tree", dkms_state::trees::DEFAULT_DKMS_TREE.to_string()),
        ("install_tree", install_tree_default()),
        ("tmp_location", tmp_location.to_string_lossy().into_owned()),
        ("verbose", String::new()),
        ("symlink_modules", String::new()),
        ("compress_gzip_opts", String::new()),
        ("compress_xz_opts", "--check=crc32 --lzma2=dict=1MiB".into()),
        ("compress_zstd_opts", "-q --rm -T0".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for name in FROM_ENV {
        if let Some(v) = env::var(name) {
            initial.insert(name.into(), v);
        }
    }
    // Not upstream: `progress` from DKMS_PROGRESS, below framework.conf as
    // the names above are.
    if let Some(v) = env::nonempty("DKMS_PROGRESS") {
        initial.insert("progress".into(), v);
    }
    initial
}

/// Upstream makes a temporary file in `$TMPDIR` (or /tmp) before anything.
fn check_tmp_location(tmp_location: &Path) -> Result<()> {
    match tempfile::NamedTempFile::new_in(tmp_location) {
        Ok(_) => Ok(()),
        Err(_) => Err(Error::die(Kind::TmpdirUnusable, ["Unable to make temporary file."])),
    }
}

/// `cache deb --all -k K` (not in upstream dkms): there `--all` means every
/// module/version built for the kernels given, not every kernel.
pub fn all_means_modules(a: &Args) -> bool {
    a.all && a.action.is_some_and(|v| v.name == "cache") && a.words.first().is_some_and(|w| w == "deb")
}

/// The combinations of options upstream refuses, in upstream's order.
fn check_option_conflicts(a: &Args) -> Result<()> {
    if a.binaries_only && a.source_only {
        return Err(Error::die(
            Kind::ConflictingOptions,
            ["You have specified both --binaries-only and --source-only.", "You cannot do this."],
        ));
    }
    if a.arch.len() > 1 && a.kernelver.len() != a.arch.len() {
        return Err(Error::die(
            Kind::KernelArchMismatch,
            [
                "If more than one arch is specified on the command line, then there",
                "must be an equal number of kernel versions also specified (1:1 relationship).",
            ],
        ));
    }
    if !a.kernelver.is_empty() && a.all && !all_means_modules(a) {
        return Err(Error::die(
            Kind::AllWithKernel,
            ["You cannot specify a kernel version and also specify", "--all on the command line."],
        ));
    }
    if !a.arch.is_empty() && a.all && !all_means_modules(a) {
        return Err(Error::die(
            Kind::AllWithArch,
            ["You cannot specify an arch and also specify", "--all on the command line."],
        ));
    }
    Ok(())
}

/// `-j`: the framework or option value; empty means the number of CPUs,
/// `0` a bare `-j`.
fn parallel_jobs(mut parallel_jobs: String) -> String {
    if parallel_jobs.is_empty() {
        parallel_jobs = nproc();
    }
    if parallel_jobs == "0" {
        parallel_jobs.clear();
    }
    parallel_jobs
}

impl Ctx {
    /// Run the prologue. `Err` carries the exit status after printing.
    pub fn start(
        ui: &Ui,
        argv0: &str,
        argv: &[OsString],
        implicit: Option<&'static Verb>,
    ) -> std::result::Result<Ctx, u8> {
        Self::start_inner(ui, argv0, argv, implicit).map_err(|e| {
            ui.report(&e);
            ui.emit_result(e.code);
            e.code
        })
    }

    fn start_inner(ui: &Ui, argv0: &str, argv: &[OsString], implicit: Option<&'static Verb>) -> Result<Ctx> {
        // Files we create are readable by all: modules build as any user.
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
        let current_kernel = kernel::uname_r();
        let current_os = kernel::uname_s();
        let running_distribution = distro::running_distribution()?;
        let tmp_location = PathBuf::from(env::nonempty("TMPDIR").unwrap_or_else(|| "/tmp".into()));
        check_tmp_location(&tmp_location)?;
        let addon_modules_dir = addon_modules_dir();

        let initial = framework_defaults(&tmp_location);
        let context = vec![
            ("current_kernel".to_string(), current_kernel.clone()),
            ("current_os".to_string(), current_os.clone()),
            ("running_distribution".to_string(), running_distribution.clone()),
        ];
        let fw = framework::read(&framework::NONSIGNING, &initial, context);

        let a = crate::early::settle(ui, args::parse(argv, implicit), argv, argv0)?;
        dkms_state::tools::set_trace(a.debug);

        let get = |k: &str| fw.get(k).cloned().unwrap_or_default();
        let trees = Trees {
            dkms_tree: a.dkms_tree.clone().unwrap_or_else(|| get("dkms_tree").into()),
            source_tree: a.source_tree.clone().unwrap_or_else(|| get("source_tree").into()),
            install_tree: a.install_tree.clone().unwrap_or_else(|| get("install_tree").into()),
        };

        check_option_conflicts(&a)?;

        let parallel_jobs = parallel_jobs(a.parallel_jobs.clone().unwrap_or_else(|| get("parallel_jobs")));

        let mut ctx = Ctx {
            verbose: a.verbose || !get("verbose").is_empty(),
            symlink_modules: a.symlink_modules || !get("symlink_modules").is_empty(),
            modprobe_on_install: a.modprobe_on_install || !get("modprobe_on_install").is_empty(),
            kernelver: a.kernelver.clone(),
            arch: a.arch.clone(),
            args: a,
            argv0: argv0.to_string(),
            trees,
            running_distribution,
            current_kernel,
            current_os,
            tmp_location: PathBuf::from(get("tmp_location")),
            conf_dir: framework::conf_dir(),
            framework: fw,
            parallel_jobs,
            addon_modules_dir,
        };
        let action = ctx.args.action.map(|v| v.name).unwrap_or("");
        // Upstream's kernel_* hooks take one kernel; kernel_trigger (ours)
        // takes its kernels from the queue.
        if action.starts_with("kernel_") && action != "kernel_trigger" {
            ctx.have_one_kernel(action)?;
        }
        ctx.setup_kernels_arches(action)?;
        if action != "status" {
            ctx.check_names()?;
        }
        Ok(ctx)
    }

    /// Not upstream: every module, version, kernel and arch given on the
    /// command line is one plain directory name (`dkms_state::name`), checked
    /// here, where it enters, so that no operation can be made to reach
    /// outside the trees (`-k ../../x`). Empty values keep upstream's own
    /// errors, raised where upstream raises them. `status` only filters
    /// what it lists: there a name that cannot be a directory matches
    /// nothing (`Ctx::names_valid`), as upstream's status prints nothing.
    fn check_names(&self) -> Result<()> {
        use dkms_state::name::{check, What};
        let a = &self.args;
        // A version without a module is upstream's "not specified" (exit 1,
        // `dkms add /dir/without/dkms.conf` is module "" version "dir/..."),
        // raised before the version is used.
        let version = if a.module.is_empty() { "" } else { &a.module_version };
        let given = [(What::Module, a.module.as_str()), (What::Version, version), (What::Kernel, &a.template_kernel)];
        for (what, value) in given {
            if !value.is_empty() {
                check(what, value)?;
            }
        }
        let kernels = self.kernelver.iter().chain(&a.keep_kernels).map(|k| (What::Kernel, k));
        for (what, value) in kernels.chain(self.arch.iter().map(|x| (What::Arch, x))) {
            if !value.is_empty() {
                check(what, value)?;
            }
        }
        Ok(())
    }

    /// Whether every name the command line gives is one plain directory
    /// name (see `check_names`).
    pub fn names_valid(&self) -> bool {
        self.check_names().is_ok()
    }

    /// How build progress is shown: `--progress`, else the `progress`
    /// setting (framework.conf over DKMS_PROGRESS); auto when unset or not
    /// one of the three.
    pub fn progress(&self) -> ProgressMode {
        match self.args.progress.as_deref().unwrap_or_else(|| self.setting("progress")).trim() {
            "lines" => ProgressMode::Lines,
            "never" => ProgressMode::Never,
            _ => ProgressMode::Auto,
        }
    }

    /// A framework setting ("" when unset).
    pub fn setting(&self, name: &str) -> &str {
        self.framework.get(name).map(String::as_str).unwrap_or("")
    }

    /// `check_all_is_banned`
    pub fn check_all_is_banned(&self, action: &str) -> Result<()> {
        if self.args.all {
            return Err(Error::die(
                Kind::AllNotSupported,
                [format!("The action {action} does not support the --all parameter.")],
            ));
        }
        Ok(())
    }

    /// `have_one_kernel`
    pub fn have_one_kernel(&self, action: &str) -> Result<()> {
        self.check_all_is_banned(action)?;
        if self.kernelver.len() != 1 {
            let msg = if action.starts_with("kernel_") {
                format!("The action {action} requires exactly one kernel version parameter on the command line.")
            } else {
                format!("The action {action} does not support multiple kernel version parameters on the command line.")
            };
            return Err(Error::die(Kind::OneKernelRequired, [msg]));
        }
        Ok(())
    }

    /// `setup_kernels_arches`
    fn setup_kernels_arches(&mut self, action: &str) -> Result<()> {
        let is_status = action == "status";
        let all_kernels = self.args.all && !all_means_modules(&self.args);
        if all_kernels && !is_status {
            let mut built: Vec<(String, String, String)> =
                status::module_status_built(&self.trees, &self.args.module, &self.args.module_version, None, None)
                    .into_iter()
                    .map(|(k, a, st)| {
                        (format!("{} {}/{}/{k}/{a}", st.as_str(), self.args.module, self.args.module_version), k, a)
                    })
                    .collect();
            // Upstream sorts the status lines ("built m/v/k/a") with sort -V.
            built.sort_by(|x, y| crate::versort::compare(&x.0, &y.0));
            for (_, k, a) in built {
                self.kernelver.push(k);
                self.arch.push(a);
            }
        }
        if !is_status {
            if self.kernelver.is_empty() && !all_kernels {
                self.kernelver.push(self.current_kernel.clone());
            }
            if self.arch.is_empty() {
                let a = default_arch();
                if !a.is_empty() {
                    self.arch.push(a);
                }
            }
            if self.arch.is_empty() {
                return Err(Error::die(Kind::ArchUnknown, ["Could not determine architecture."]));
            }
        }
        if self.arch.len() == 1 && self.kernelver.len() > 1 {
            while self.arch.len() < self.kernelver.len() {
                self.arch.push(self.arch[0].clone());
            }
        }
        if !is_status {
            if let Some(i) = self.kernelver.iter().position(String::is_empty) {
                return Err(Error::die(Kind::EmptyKernelver, [format!("Empty kernelver[{i}]")]));
            }
            if let Some(i) = self.arch.iter().position(String::is_empty) {
                return Err(Error::die(Kind::EmptyArch, [format!("Empty arch[{i}]")]));
            }
        }
        Ok(())
    }
}

/// The module tree default, baked in at build time like upstream's `@MODDIR@`.
fn install_tree_default() -> String {
    option_env!("DKMS_MODDIR").unwrap_or(dkms_state::trees::DEFAULT_INSTALL_TREE).to_string()
}

/// Upstream uses `uname -m` on Debian, Ubuntu, Arch and Gentoo and asks rpm
/// for the kernel package's arch elsewhere, which for every kernel package
/// rpm distributions ship today is `uname -m` as well; so is ours.
fn default_arch() -> String {
    kernel::uname_m()
}
