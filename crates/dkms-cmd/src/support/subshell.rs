//! Upstream's subshells: what one discards on exit (the conf cache, the
//! prepared kernel, the module being worked on), saved and restored, and the
//! per-kernel loop of build/install that runs each kernel in one.

use super::dkms::{Dkms, Signer};
use dkms_cli::ui;
use dkms_state::conf::Conf;
use dkms_state::error::{Error, Result};

/// What a subshell in upstream would discard on exit.
pub struct SubshellState {
    conf_cache: Option<(String, Conf)>,
    prepared_kernel: Option<String>,
    signer: Option<Signer>,
    module: String,
    module_version: String,
    package_name: String,
}

impl Dkms {
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
}

/// Upstream runs each kernel of a multi-kernel build/install in a subshell:
/// a failure is reported and the next kernel still runs, state set inside
/// (the conf cache, the prepared kernel, a module name found by `add`) does
/// not leak into the next one, and the exit status is the last kernel's.
pub fn for_each_kernel(d: &mut Dkms, mut f: impl FnMut(&mut Dkms, &str, &str) -> Result<()>) -> Result<()> {
    let targets = d.targets();
    let mut last = Ok(());
    for (k, a) in targets {
        let saved = d.subshell_state();
        let a2 = &d.ctx.args;
        ui::set_target(Some(ui::target(&a2.module, &a2.module_version, Some(&k), Some(&a))));
        let r = f(d, &k, &a);
        d.restore_subshell_state(saved);
        last = r.map_err(|e| {
            ui::report(&e);
            Error::exit(e.code, "reported")
        });
    }
    last
}
