//! depmod (`do_depmod` upstream), run after every install or, in an
//! autoinstall, deferred to once per kernel (journaled).

use super::dkms::Dkms;
use super::invoke::Cmd;
use dkms_state::trees;
use std::path::{Path, PathBuf};

/// The kernel's module tree when `do_depmod` is wanted at all (not
/// `--no-depmod`, on Linux).
fn depmod_lib(no_depmod: bool, linux: bool, install_tree: &Path, k: &str) -> Option<PathBuf> {
    (!no_depmod && linux).then(|| trees::cat(install_tree, k))
}

/// `do_depmod`.
fn do_depmod(no_depmod: bool, linux: bool, install_tree: &Path, k: &str, out: &mut dyn std::io::Write) -> i32 {
    let Some(lib) = depmod_lib(no_depmod, linux, install_tree, k) else { return 0 };
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

impl Dkms {
    /// Whether `do_depmod` would run depmod for `kernelver` now (a dry
    /// run's plan): wanted, and the kernel has a modules.dep.
    pub(crate) fn depmod_would_run(&self, kernelver: &str) -> bool {
        let linux = self.ctx.current_os == "Linux";
        depmod_lib(self.opts.no_depmod, linux, &self.ctx.trees.install_tree, kernelver)
            .is_some_and(|lib| lib.join("modules.dep").is_file())
    }

    /// `do_depmod KERNEL` as an `invoke_command` payload; its messages go
    /// wherever invoke_command sends the output.
    pub(crate) fn depmod_cmd(&self, kernelver: &str) -> Cmd<'static> {
        let no_depmod = self.opts.no_depmod;
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
    pub(crate) fn run_or_defer_depmod(&self, kernelver: &str) -> i32 {
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
    pub(crate) fn run_deferred_depmod(&self, kernelver: &str) -> Option<i32> {
        let list = self.deferred_depmod.as_ref()?;
        let (_, journal) = {
            let mut l = list.lock().unwrap_or_else(|e| e.into_inner());
            let i = l.iter().position(|(k, _)| k == kernelver)?;
            l.remove(i)
        };
        let linux = self.ctx.current_os == "Linux";
        let status =
            do_depmod(self.opts.no_depmod, linux, &self.ctx.trees.install_tree, kernelver, &mut std::io::sink());
        if let Some(j) = journal {
            let _ = j.finish();
        }
        Some(status)
    }

    /// `invoke_command "do_depmod K" "Running depmod" '' background`
    pub(crate) fn run_depmod(&self, kernelver: &str) -> i32 {
        let cmd = self.depmod_cmd(kernelver);
        self.invoke_command(cmd, "Running depmod", None, true)
    }
}
