//! The module's own scripts (`run_build_script`: PRE_BUILD, POST_BUILD,
//! POST_ADD, POST_INSTALL, POST_REMOVE) and framework.conf's
//! `post_transaction`.

use super::dkms::Dkms;
use super::invoke::Cmd;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{fsutil, trees};
use std::path::Path;

impl Dkms {
    /// `run_build_script TYPE SCRIPT [LOGFILE]` for module m/v. Returns the
    /// script's status; with a log file a failing script ends dkms with its
    /// status (upstream `exit`s).
    pub(crate) fn run_build_script(
        &mut self,
        m: &str,
        v: &str,
        kind: &str,
        script: &str,
        log: Option<&Path>,
    ) -> Result<i32> {
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
            self.ui.outln("");
            self.ui.warn(&[format!("The {kind} script is not executable.")]);
            return Ok(0);
        }
        if let Some(log) = log {
            let mut cmd = Cmd::Shell { cmd: format!("cd {}/ && {run}", run_dir.display()), cwd: None };
            if script_type == "build" {
                // PRE_BUILD, POST_BUILD: third-party build code.
                let shell = format!("cd {}/ && {run}", run_dir.display());
                let build = self.ctx.trees.build_dir(m, v);
                cmd = Cmd::Shell { cmd: shell, cwd: Some(run_dir.clone()) }.confined(&build);
            }
            let res = self.invoke_command(cmd, &format!("Running the {kind} script"), Some(log), true);
            if res != 0 {
                self.ui.outln(&format!("Consult {} for more information.", log.display()));
                return Err(Error::exit(Kind::ScriptFailed).with_code(res.clamp(0, 255) as u8));
            }
            return Ok(0);
        }
        self.ui.outln(&format!("Running the {kind} script:"));
        let mut words = run.split_ascii_whitespace();
        let prog = words.next().unwrap_or_default();
        let mut c = dkms_state::tools::command(prog, &self.exports);
        c.args(words).current_dir(&run_dir);
        Ok(dkms_state::tools::status(&mut c).unwrap_or(126))
    }

    /// `execute_post_transaction` when `post_transaction` is set.
    pub(crate) fn maybe_post_transaction(&mut self) {
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
