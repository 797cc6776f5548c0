//! `maybe_unbuild_module` and `do_unbuild` upstream: delete a module's
//! build for one kernel.

use crate::support::dkms::Dkms;
use dkms_cli::ui;
use dkms_proto::{Record, SkipReason};
use dkms_state::{fsutil, status};

/// `maybe_unbuild_module`
pub fn maybe_unbuild_module(d: &Dkms, m: &str, v: &str, k: &str, a: &str) {
    if !status::is_module_built(&d.ctx.trees, m, v, k, a) {
        ui::outln(&format!("Module {m}/{v} is not built for kernel {k} ({a}). Skipping..."));
        ui::emit(Record::Skipped { target: ui::target(m, v, Some(k), Some(a)), reason: SkipReason::NotBuilt });
        return;
    }
    do_unbuild(d, m, v, k, a);
    ui::emit(Record::Unbuilt { target: ui::target(m, v, Some(k), Some(a)) });
}

/// `do_unbuild`: delete `<kver>/<arch>`, and `<kver>` when no arch is left.
pub fn do_unbuild(d: &Dkms, m: &str, v: &str, k: &str, a: &str) {
    let t = &d.ctx.trees;
    let _ = fsutil::remove_all(&t.arch_dir(m, v, k, a));
    dkms_state::crash::point("unbuild:removed");
    let kdir = t.kernel_dir(m, v, k);
    if fsutil::subdirs(&kdir).is_empty() {
        let _ = fsutil::remove_all(&kdir);
    }
}
