//! State and helpers shared by the verbs of one dkms run: the dkms.conf
//! reader with upstream's one-slot cache (`last_mvka`), the argument and
//! state checks that die with upstream's messages, the module scripts, and
//! depmod.

use crate::invoke::Cmd;
use dkms_cli::{ui, Ctx};
use dkms_state::conf::{self, Conf};
use dkms_state::error::{Error, Result};
use dkms_state::modinfo;
use dkms_state::{fsutil, kernel, status, trees};
use std::path::{Path, PathBuf};

/// One dkms run: the context plus what upstream keeps in globals while it
/// works (the last read conf, the kernel prepared for building, exports).
/// A parallel autoinstall gives each background build its own copy.
#[derive(Debug, Clone)]
pub struct Dkms {
    pub ctx: Ctx,
    /// `last_mvka`/`last_mvka_conf` and the conf read for them.
    pub conf_cache: Option<(String, Conf)>,
    /// `package_name` of the last conf read (drives the progress dots).
    pub package_name: String,
    /// Environment added for children (`CC`, `--directive` exports, ...).
    pub exports: Vec<(String, String)>,
    /// `delayed_depmod` (kernel_preinst/prerm).
    pub delayed_depmod: bool,
    /// `prepared_kernel`: the kernel/arch whose headers and signing were
    /// checked (the prologue prints once per kernel).
    pub prepared_kernel: Option<String>,
    /// How modules are signed for the prepared kernel, if at all.
    pub signer: Option<crate::signing::Signer>,
    /// `tmp_force` of the install in progress.
    pub saved_force: Option<bool>,
    /// The jobs budget `make` joins instead of its own `-j` (a parallel
    /// autoinstall, or dkms run under a make jobserver).
    pub jobs: Option<std::sync::Arc<dkms_state::jobs::Budget>>,
    /// Builds running in the background for a parallel autoinstall; an
    /// install takes its module's build from there.
    pub builds: Option<std::sync::Arc<crate::builds::Builds>>,
    /// Kernels whose depmod an autoinstall runs once at the end, with the
    /// journal that makes a killed run do it on recovery; None: run depmod
    /// after every install, as upstream does.
    pub deferred_depmod: Option<DeferredDepmod>,
}

/// What one step works on: upstream's `$module $module_version $kernelver
/// $arch`, the four its one-slot conf cache (`last_mvka`) is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mvka<'a> {
    pub m: &'a str,
    pub v: &'a str,
    pub k: &'a str,
    pub a: &'a str,
}

/// `Mvka { m, v, k, a }`.
pub fn mvka<'a>(m: &'a str, v: &'a str, k: &'a str, a: &'a str) -> Mvka<'a> {
    Mvka { m, v, k, a }
}

/// Kernels whose depmod waits for the end of an autoinstall, each with the
/// journal that has recovery run it if the process dies first.
pub type DeferredDepmod = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<dkms_state::journal::Journal>)>>>;

/// What a subshell in upstream would discard on exit.
pub struct SubshellState {
    conf_cache: Option<(String, Conf)>,
    prepared_kernel: Option<String>,
    signer: Option<crate::signing::Signer>,
    module: String,
    module_version: String,
    package_name: String,
}

impl Dkms {
    pub fn new(ctx: Ctx) -> Self {
        let exports = ctx
            .args
            .directives
            .iter()
            .filter_map(|d| d.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        Dkms {
            ctx,
            conf_cache: None,
            package_name: String::new(),
            exports,
            delayed_depmod: false,
            prepared_kernel: None,
            signer: None,
            saved_force: None,
            jobs: None,
            builds: None,
            deferred_depmod: None,
        }
    }

    /// Save what a subshell would not pass back.
    pub fn subshell_state(&self) -> SubshellState {
        SubshellState {
            conf_cache: self.conf_cache.clone(),
            prepared_kernel: self.prepared_kernel.clone(),
            signer: self.signer.clone(),
            module: self.ctx.args.module.clone(),
            module_version: self.ctx.args.module_version.clone(),
            package_name: self.package_name.clone(),
        }
    }

    /// Restore it when the "subshell" ends.
    pub fn restore_subshell_state(&mut self, s: SubshellState) {
        self.conf_cache = s.conf_cache;
        self.prepared_kernel = s.prepared_kernel;
        self.signer = s.signer;
        self.ctx.args.module = s.module;
        self.ctx.args.module_version = s.module_version;
        self.package_name = s.package_name;
    }

    pub fn trees(&self) -> &trees::Trees {
        &self.ctx.trees
    }

    /// Upstream variables visible to dkms.conf and to `eval`ed commands.
    pub fn shell_context(&self) -> Vec<(String, String)> {
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
            ("force".into(), if self.ctx.args.force { "true".into() } else { String::new() }),
        ]
    }

    /// The (kernel, arch) pairs of the command line, in order.
    pub fn targets(&self) -> Vec<(String, String)> {
        self.ctx.kernelver.iter().cloned().zip(self.ctx.arch.iter().cloned()).collect()
    }

    /// The first kernel/arch of the command line (`$kernelver`, `$arch`).
    pub fn kernelver0(&self) -> (String, String) {
        (self.ctx.kernelver.first().cloned().unwrap_or_default(), self.ctx.arch.first().cloned().unwrap_or_default())
    }

    /// `kernel_source_dir` for a kernel (`--kernelsourcedir` wins).
    pub fn kernel_source_dir(&self, kernelver: &str) -> PathBuf {
        kernel::kernel_source_dir(&self.ctx.trees, kernelver, self.ctx.args.kernel_source_dir.as_deref())
    }

    /// `kernel_config` for a kernel (`--config` wins).
    pub fn kernel_config(&self, kernelver: &str) -> PathBuf {
        kernel::kernel_config(&self.kernel_source_dir(kernelver), self.ctx.args.kernel_config.as_deref())
    }

    /// The spec of a read of `file` for m/v on k/a.
    pub fn conf_spec(&self, m: &str, v: &str, k: &str, a: &str, file: PathBuf, strict: bool) -> conf::Spec {
        conf::Spec {
            module: m.into(),
            module_version: v.into(),
            kernelver: k.into(),
            arch: a.into(),
            file,
            conf_dir: self.ctx.conf_dir.clone(),
            kernel_source_dir: self.kernel_source_dir(k),
            kernel_config: self.kernel_config(k),
            dkms_tree: self.ctx.trees.dkms_tree.clone(),
            running_distribution: self.ctx.running_distribution.clone(),
            addon_modules_dir: self.ctx.addon_modules_dir.clone(),
            context: self.shell_context(),
            directives: self.ctx.args.directives.clone(),
            strict,
            capture_stderr: false,
        }
    }

    /// Which file `read_conf` reads: an explicit path, else `-c`, else the
    /// tree's `source/dkms.conf`.
    fn conf_file(&self, m: &str, v: &str, file: Option<&Path>) -> PathBuf {
        file.map(Path::to_path_buf)
            .or_else(|| self.ctx.args.conf.clone())
            .unwrap_or_else(|| self.ctx.trees.source_link(m, v).join("dkms.conf"))
    }

    /// `read_conf` / `read_conf_strict`: Ok(Some) on success, Ok(None) when
    /// the conf is invalid (its messages printed), Err(4) when missing.
    pub fn read_conf(&mut self, t: Mvka, file: Option<&Path>, strict: bool) -> Result<Option<Conf>> {
        self.read_conf_quiet(t, file, strict, false)
    }

    /// `read_conf` with its stderr discarded when `quiet_stderr` is set.
    pub fn read_conf_quiet(
        &mut self,
        t: Mvka,
        file: Option<&Path>,
        strict: bool,
        quiet_stderr: bool,
    ) -> Result<Option<Conf>> {
        let Mvka { m, v, k, a } = t;
        let path = self.conf_file(m, v, file);
        if nix::unistd::access(&path, nix::unistd::AccessFlags::R_OK).is_err() {
            return Err(Error::die(
                4,
                "conf-missing",
                ["Could not locate dkms.conf file.".to_string(), format!("File: {} does not exist.", path.display())],
            ));
        }
        let canon = path.canonicalize().unwrap_or_else(|_| path.clone());
        let key = format!("{m}/{v}/{k}/{a}\0{}", canon.display());
        if let Some((cached, c)) = &self.conf_cache {
            if *cached == key {
                let c = c.clone();
                if strict {
                    let (diags, ok) = conf::strict_diags(&c);
                    self.print_diags(&diags, quiet_stderr);
                    if !ok {
                        return Ok(None);
                    }
                }
                return Ok(Some(c));
            }
        }
        let spec = self.conf_spec(m, v, k, a, path.clone(), strict);
        let read = conf::read(&spec).map_err(|e| Error::io(8, "reading dkms.conf", e))?;
        self.print_diags(&read.diags, quiet_stderr);
        self.package_name = read.conf.package_name.clone();
        if !read.ok {
            return Ok(None);
        }
        self.conf_cache = Some((key, read.conf.clone()));
        Ok(Some(read.conf))
    }

    fn print_diags(&self, diags: &[conf::Diag], quiet_stderr: bool) {
        for d in diags {
            if !d.stderr {
                ui::outln(&d.text);
            } else if !quiet_stderr {
                ui::errln(&d.text);
            }
        }
    }

    /// `read_conf_or_die` / `read_conf_strict_or_die`.
    pub fn read_conf_or_die(&mut self, t: Mvka, file: Option<&Path>, strict: bool) -> Result<Conf> {
        match self.read_conf(t, file, strict)? {
            Some(c) => Ok(c),
            None => {
                let shown = file.map(Path::to_path_buf).or_else(|| self.ctx.args.conf.clone()).unwrap_or_default();
                Err(Error::die(
                    8,
                    "conf-invalid",
                    [
                        "Bad conf file.".to_string(),
                        format!("File: {} does not represent a valid dkms.conf file.", shown.display()),
                    ],
                ))
            }
        }
    }

    /// `check_module_args ACTION`
    pub fn check_module_args(&self, action: &str) -> Result<()> {
        if !self.ctx.args.module.is_empty() && !self.ctx.args.module_version.is_empty() {
            return Ok(());
        }
        Err(Error::die(
            1,
            "module-args-missing",
            [
                "Arguments <module> and <module-version> are not specified.".to_string(),
                format!("Usage: {action} <module>/<module-version> or"),
                format!("       {action} -m <module>/<module-version> or"),
                format!("       {action} -m <module> -v <module-version>"),
            ],
        ))
    }

    /// `module_is_broken_and_die`
    pub fn module_is_broken_and_die(&self, m: &str, v: &str) -> Result<()> {
        if status::is_module_broken(&self.ctx.trees, m, v) {
            return Err(Error::die(
                4,
                "module-broken",
                [
                    format!("{m}/{v} is broken!"),
                    "Missing the source directory or the symbolic link pointing to it.".into(),
                    "Manual intervention is required!".into(),
                ],
            )
            .with_hint(format!(
                "Restore {} or remove {}",
                self.ctx.trees.source_dir(m, v).display(),
                self.ctx.trees.version_dir(m, v).display()
            )));
        }
        Ok(())
    }

    /// `module_is_added_or_die`
    pub fn module_is_added_or_die(&self, m: &str, v: &str) -> Result<()> {
        if !status::is_module_added(&self.ctx.trees, m, v) {
            return Err(Error::die(
                3,
                "module-not-added",
                [format!("The module/version combo: {m}/{v} is not located in the DKMS tree.")],
            ));
        }
        Ok(())
    }

    /// `check_root`
    pub fn check_root(&self) -> Result<()> {
        if nix::unistd::geteuid().is_root() {
            return Ok(());
        }
        Err(Error::die(1, "not-root", ["You must be root to use this command."]).with_hint("Run it again with sudo."))
    }

    /// `check_rw_dkms_tree`
    pub fn check_rw_dkms_tree(&self) -> Result<()> {
        if fsutil::writable(&self.ctx.trees.dkms_tree) {
            return Ok(());
        }
        Err(Error::die(
            1,
            "dkms-tree-read-only",
            [format!("No write access to DKMS tree at {}", self.ctx.trees.dkms_tree.display())],
        ))
    }

    /// `set_module_suffix`: (".ko", compressed suffix) for a kernel.
    pub fn module_suffix(&self, kernelver: &str) -> &'static str {
        kernel::compressed_suffix(&self.ctx.trees.install_tree, kernelver)
    }

    /// Upstream's skip line for an already built or installed module
    /// (`maybe_build_module`, `maybe_install_module`) and its JSON record.
    pub fn skip_already(&self, m: &str, v: &str, k: &str, a: &str, state: &str, reason: dkms_proto::SkipReason) {
        ui::outln(&format!(
            "Module {m}/{v} already {state} kernel {k} ({a}), skip. You may override by specifying --force."
        ));
        ui::emit(dkms_proto::Record::Skipped { target: ui::target(m, v, Some(k), Some(a)), reason });
    }

    /// `run_build_script TYPE SCRIPT [LOGFILE]` for module m/v. Returns the
    /// script's status; with a log file a failing script ends dkms with its
    /// status (upstream `exit`s).
    pub fn run_build_script(&mut self, m: &str, v: &str, kind: &str, script: &str, log: Option<&Path>) -> Result<i32> {
        if script.is_empty() {
            return Ok(0);
        }
        let script_type = if kind == "pre_build" || kind == "post_build" { "build" } else { "source" };
        let mut run_dir = trees::cat(&self.ctx.trees.version_dir(m, v), script_type);
        let mut run = format!("{}/{script}", run_dir.display());
        let first = script.split(' ').next().unwrap_or_default();
        let override_dir = self.ctx.conf_dir.join(m);
        if fsutil::executable(&override_dir.join(first)) && override_dir.join(first).is_file() {
            run_dir = override_dir;
            run = format!("{}/{script}", run_dir.display());
        }
        let exe = run.split(' ').next().unwrap_or_default().to_string();
        if !(fsutil::executable(Path::new(&exe)) && Path::new(&exe).is_file()) {
            ui::outln("");
            ui::warn(&[format!("The {kind} script is not executable.")]);
            return Ok(0);
        }
        if let Some(log) = log {
            let cmd = Cmd::Shell { cmd: format!("cd {}/ && {run}", run_dir.display()), cwd: None };
            let res = self.invoke_command(cmd, &format!("Running the {kind} script"), Some(log), true);
            if res != 0 {
                ui::outln(&format!("Consult {} for more information.", log.display()));
                return Err(Error::exit(res.clamp(0, 255) as u8, "script-failed"));
            }
            return Ok(0);
        }
        ui::outln(&format!("Running the {kind} script:"));
        let mut words = run.split_ascii_whitespace();
        let prog = words.next().unwrap_or_default();
        let mut c = dkms_state::tools::command(prog, &self.exports);
        c.args(words).current_dir(&run_dir);
        Ok(dkms_state::tools::status(&mut c).unwrap_or(126))
    }

    /// `do_depmod KERNEL` as an `invoke_command` payload; its messages go
    /// wherever invoke_command sends the output.
    pub fn depmod_cmd(&self, kernelver: &str) -> Cmd<'static> {
        let no_depmod = self.ctx.args.no_depmod;
        let linux = self.ctx.current_os == "Linux";
        let install_tree = self.ctx.trees.install_tree.clone();
        let k = kernelver.to_string();
        Cmd::Native {
            shown: format!("do_depmod {kernelver}"),
            run: Box::new(move |out| do_depmod(no_depmod, linux, &install_tree, &k, out)),
        }
    }

    /// What an install runs after placing its modules: `run_depmod`, or,
    /// in an autoinstall that runs depmod once per kernel at the end, the
    /// same "Running depmod... done." with depmod noted (and journaled, so
    /// a killed run has it done by recovery) for `run_deferred_depmod`.
    pub fn run_or_defer_depmod(&self, kernelver: &str) -> i32 {
        let Some(list) = &self.deferred_depmod else { return self.run_depmod(kernelver) };
        {
            let mut l = list.lock().unwrap_or_else(|e| e.into_inner());
            if !l.iter().any(|(k, _)| k == kernelver) {
                let j = dkms_state::journal::Journal::begin(&self.ctx.trees.dkms_tree, "depmod", &[kernelver]).ok();
                l.push((kernelver.to_string(), j));
            }
        }
        let noted = Cmd::Native { shown: format!("do_depmod {kernelver}"), run: Box::new(|_| 0) };
        self.invoke_command(noted, "Running depmod", None, true)
    }

    /// Run the depmod deferred for `kernelver`, if any, quietly (as the
    /// per-module ones are): its exit status.
    pub fn run_deferred_depmod(&self, kernelver: &str) -> Option<i32> {
        let list = self.deferred_depmod.as_ref()?;
        let (_, journal) = {
            let mut l = list.lock().unwrap_or_else(|e| e.into_inner());
            let i = l.iter().position(|(k, _)| k == kernelver)?;
            l.remove(i)
        };
        let linux = self.ctx.current_os == "Linux";
        let status =
            do_depmod(self.ctx.args.no_depmod, linux, &self.ctx.trees.install_tree, kernelver, &mut std::io::sink());
        if let Some(j) = journal {
            let _ = j.finish();
        }
        Some(status)
    }

    /// `invoke_command "do_depmod K" "Running depmod" '' background`
    pub fn run_depmod(&self, kernelver: &str) -> i32 {
        let cmd = self.depmod_cmd(kernelver);
        self.invoke_command(cmd, "Running depmod", None, true)
    }

    /// `find_actual_dest_module_location`: where the installed copy of
    /// record `i` really is (the distribution's location or the conf's
    /// own), recognised by having the version of the DKMS-owned copy.
    /// `suffix` is `set_module_suffix`'s result for `k`, which callers work
    /// out once per kernel (it walks the kernel's module tree).
    pub fn find_actual_dest_module_location(
        &self,
        m: &str,
        c: &Conf,
        i: usize,
        k: &str,
        a: &str,
        suffix: &str,
    ) -> Option<String> {
        let r = &c.modules[i];
        let mut locations = vec![r.dest_module_location.clone()];
        if r.orig_dest_module_location != r.dest_module_location {
            locations.push(r.orig_dest_module_location.clone());
        }
        let owned = compressed_or_uncompressed(
            &self.ctx.trees.active_link(m, k, a).join("module"),
            &r.dest_module_name,
            suffix,
        );
        let owned_info = owned.as_deref().map(modinfo::verinfo).unwrap_or_default();
        for l in locations {
            let dir = trees::cat(&self.ctx.trees.install_tree, &format!("{k}{l}"));
            if let Some(installed) = compressed_or_uncompressed(&dir, &r.dest_module_name, suffix) {
                if modinfo::verinfo(&installed).version == owned_info.version {
                    return Some(l);
                }
            }
        }
        None
    }

    /// The module files of a build (`<kver>/<arch>/module/*.ko*`), sorted.
    pub fn built_modules(&self, m: &str, v: &str, k: &str, a: &str) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(self.ctx.trees.arch_dir(m, v, k, a).join("module"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".ko"))
            .map(|e| e.path().display().to_string())
            .collect();
        files.sort();
        files
    }

    /// `execute_post_transaction` when `post_transaction` is set.
    pub fn maybe_post_transaction(&mut self) {
        if self.ctx.setting("post_transaction").is_empty() {
            return;
        }
        let log = self.ctx.trees.dkms_tree.join("post_transaction.log");
        let _ = std::fs::write(&log, "");
        let (k, a) = self.kernelver0();
        let mut ctx = self.shell_context();
        ctx.push(("kernelver".into(), k));
        ctx.push(("arch".into(), a));
        let fw = dkms_state::framework::read(&dkms_state::framework::POST_TRANSACTION, &self.ctx.framework, ctx);
        let cmd = fw.get("post_transaction").cloned().unwrap_or_default();
        self.invoke_command(Cmd::Shell { cmd, cwd: None }, "Executing post-transaction command", Some(&log), true);
    }
}

/// `compressed_or_uncompressed DIR NAME`: `DIR/NAME.ko` or `DIR/NAME.ko<suffix>`.
pub fn compressed_or_uncompressed(dir: &Path, name: &str, suffix: &str) -> Option<PathBuf> {
    let plain = trees::cat(dir, &format!("{name}.ko"));
    if plain.exists() {
        return Some(plain);
    }
    let compressed = trees::cat(dir, &format!("{name}.ko{suffix}"));
    compressed.exists().then_some(compressed)
}

/// `do_depmod`.
fn do_depmod(no_depmod: bool, linux: bool, install_tree: &Path, k: &str, out: &mut dyn std::io::Write) -> i32 {
    if no_depmod || !linux {
        return 0;
    }
    let lib = trees::cat(install_tree, k);
    let dep = lib.join("modules.dep");
    if !dep.is_file() {
        let _ = writeln!(out, "Skipping depmod because '{}/modules.dep' is missing.", lib.display());
        return 0;
    }
    let mut c = dkms_state::tools::command("depmod", &[]);
    c.arg("-a").arg(k);
    let map = PathBuf::from(format!("/boot/System.map-{k}"));
    if map.is_file() {
        c.arg("-F").arg(&map);
    }
    let st = match dkms_state::tools::output(&mut c) {
        Ok(o) => {
            let _ = out.write_all(&o.stdout);
            let _ = out.write_all(&o.stderr);
            dkms_state::tools::exit_code(o.status)
        }
        Err(e) => {
            let _ = writeln!(out, "depmod: {e}");
            127
        }
    };
    if dep.is_file() && std::fs::metadata(&dep).is_ok_and(|m| m.len() == 0) {
        // The last module of a kernel that is no longer installed went away:
        // do not leave stale depmod files behind.
        for e in std::fs::read_dir(&lib).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let stale = [
                "modules.alias",
                "modules.dep",
                "modules.devname",
                "modules.softdep",
                "modules.symbols",
                "modules.weakdep",
            ]
            .contains(&n.as_str())
                || (n.starts_with("modules.") && n.ends_with(".bin"));
            if stale && std::fs::remove_file(e.path()).is_ok() {
                let _ = writeln!(out, "removed '{}'", e.path().display());
            }
        }
        if std::fs::remove_dir(&lib).is_ok() {
            let _ = writeln!(out, "removed directory {}", lib.display());
        }
    }
    st
}
