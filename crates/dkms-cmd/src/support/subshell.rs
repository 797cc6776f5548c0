//! Upstream's subshells: what one discards on exit (the conf cache, the
//! prepared kernel and signer, `package_name`), saved and restored, and the
//! per-kernel loop of build/install that runs each kernel in one. The
//! module being worked on is never part of it: it is a parameter.

use super::dkms::{Dkms, Signer};
use dkms_cli::ui;
use dkms_state::conf::Conf;
use dkms_state::error::{Error, Result};

/// What a subshell in upstream would discard on exit. The module being
/// worked on is not here: it is a parameter of every operation.
struct SubshellState {
    last_conf: Option<(String, Conf)>,
    prepared_kernel: Option<String>,
    signer: Option<Signer>,
    package_name: String,
}

impl Dkms {
    /// Run `f` as upstream runs a step in `( ... )`: the one-slot conf
    /// cache, the prepared kernel, its signer and `package_name` set inside
    /// are put back as they were when it returns.
    pub(crate) fn subshell<T>(&mut self, f: impl FnOnce(&mut Dkms) -> T) -> T {
        let saved = SubshellState {
            last_conf: self.last_conf.clone(),
            prepared_kernel: self.prepared_kernel.clone(),
            signer: self.signer.clone(),
            package_name: self.package_name.clone(),
        };
        let r = f(self);
        self.last_conf = saved.last_conf;
        self.prepared_kernel = saved.prepared_kernel;
        self.signer = saved.signer;
        self.package_name = saved.package_name;
        r
    }
}

/// Upstream runs each kernel of a multi-kernel build/install in a subshell:
/// a failure is reported and the next kernel still runs, state set inside
/// (the conf cache, the prepared kernel, a module name found by `add`) does
/// not leak into the next one, and the exit status is the last kernel's.
pub(crate) fn for_each_kernel(
    d: &mut Dkms,
    m: &str,
    v: &str,
    mut f: impl FnMut(&mut Dkms, &str, &str) -> Result<()>,
) -> Result<()> {
    let targets = d.targets();
    let mut last = Ok(());
    for (k, a) in targets {
        d.reporting = Some(ui::target(m, v, Some(&k), Some(&a)));
        let r = d.subshell(|d| f(d, &k, &a));
        last = r.map_err(|e| {
            d.report(&e);
            Error::reported(e.code)
        });
    }
    last
}
