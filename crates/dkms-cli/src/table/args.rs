//! The parsed command line: everything it can set, under upstream's names
//! for the globals of the same meaning. Filled by the options' updates
//! (`flags`) and the parser (`args::parse`); acted on by the driver (`early::settle`).

use super::Verb;
use std::path::PathBuf;

/// Everything the command line can set (upstream's globals of the same names).
#[derive(Debug, Clone, Default)]
pub struct Args {
    pub action: Option<&'static Verb>,
    pub module: String,
    pub module_version: String,
    pub kernelver: Vec<String>,
    pub arch: Vec<String>,
    pub template_kernel: String,
    pub conf: Option<PathBuf>,
    pub kernel_config: Option<PathBuf>,
    pub archive_location: Option<PathBuf>,
    pub kernel_source_dir: Option<PathBuf>,
    pub try_source_tree: Option<PathBuf>,
    pub force: bool,
    pub force_version_override: bool,
    pub binaries_only: bool,
    pub source_only: bool,
    pub all: bool,
    pub verbose: bool,
    pub rpm_safe_upgrade: bool,
    pub symlink_modules: bool,
    pub no_depmod: bool,
    pub modprobe_on_install: bool,
    pub debug: bool,
    pub quiet: bool,
    pub dkms_tree: Option<PathBuf>,
    pub source_tree: Option<PathBuf>,
    pub install_tree: Option<PathBuf>,
    pub directives: Vec<String>,
    pub parallel_jobs: Option<String>,
    pub json: bool,
    pub lock_timeout: Option<u64>,
    /// `-`: read targets as JSON Lines from stdin (not upstream).
    pub stdin_targets: bool,
    /// `--all-kernels` (autoinstall; not upstream).
    pub all_kernels: bool,
    /// `--from DIR` (mktree; not upstream).
    pub from: Option<PathBuf>,
    /// `--verify` (status; not upstream).
    pub verify: bool,
    /// `--path` (log; not upstream).
    pub path_only: bool,
    /// `--dry-run` (build, install, ...; not upstream): plan, change nothing.
    pub dry_run: bool,
    /// `--password-file FILE` (enroll; not upstream).
    pub password_file: Option<PathBuf>,
    /// `--binary-cache`, `--binary-cache-push`, `--binary-cache-certificate`
    /// (not upstream; see `ops::binary_cache`).
    pub binary_cache: Option<String>,
    pub binary_cache_push: Option<String>,
    pub binary_cache_certificate: Option<String>,
    /// `cache push --to DIR`, `cache gc --keep-kernels K...` (not upstream).
    pub cache_to: Option<PathBuf>,
    pub keep_kernels: Vec<String>,
    /// The plain words of a `cache` command line (its sub-word and
    /// operands), which are not classified as other verbs' are.
    pub words: Vec<String>,
    /// `--build-sandbox=no|yes|auto` (not upstream; framework.conf's
    /// `build_sandbox`).
    pub build_sandbox: Option<String>,
    /// `--progress=auto|lines|never` (not upstream; framework.conf's
    /// `progress`).
    pub progress: Option<String>,
    /// `--version` or `--help`: upstream prints and exits where it meets
    /// them, so parsing stops there; the driver prints (`early::settle`).
    pub special: Option<Special>,
    /// What upstream warns about while parsing, before any `-q` (after it,
    /// upstream's `exec >/dev/null 2>&1` sends them nowhere); the driver
    /// prints them, then silences the run for `-q`.
    pub notices: Vec<Notice>,
}

/// An option that ends the command line's parsing: the run only prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `--version`, `-V`: the release string (a `version` record in JSON).
    Version,
    /// `--help`, `-h`: upstream's `show_usage`.
    Help,
}

/// A warning met while parsing (upstream prints it on the spot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// `deprecated`: an option that does nothing any more.
    Deprecated(&'static str),
    /// `I do not know how to handle WORD.`: a second module word.
    Unhandled(String),
}

impl Args {
    /// `parse_moduleversion`: split at the first `/`.
    pub fn parse_moduleversion(&mut self, s: &str) {
        match s.split_once('/') {
            Some((m, v)) => {
                self.module = m.into();
                self.module_version = v.into();
            }
            None => self.module = s.into(),
        }
    }

    /// `parse_kernelarch`: `kver/arch` appends to both lists.
    pub fn parse_kernelarch(&mut self, s: &str) {
        match s.split_once('/') {
            Some((k, arch)) => {
                self.kernelver.push(k.into());
                self.arch.push(arch.into());
            }
            None => self.kernelver.push(s.into()),
        }
    }

    /// Record a notice, unless `-q` came before it.
    pub fn notice(&mut self, n: Notice) {
        if !self.quiet {
            self.notices.push(n);
        }
    }
}
