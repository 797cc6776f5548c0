//! `dkms unmktree` (not in upstream dkms): delete a module source tree that
//! is not registered (`ops::mktree::remove_tree`).

use crate::ops::mktree::remove_tree;
use crate::support::dkms::Dkms;
use dkms_cli::ui;
use dkms_proto::Record;
use dkms_state::error::Result;

/// `dkms unmktree`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    d.ctx.check_all_is_banned("unmktree")?;
    let (m, v) = (d.module.clone(), d.module_version.clone());
    d.check_module_args("unmktree", &m, &v)?;
    let dir = remove_tree(d, &m, &v, d.ctx.args.force)?;
    d.ui.outln(&format!("Deleted module tree {}", dir.display()));
    d.ui.emit(Record::TreeRemoved { target: ui::target(&m, &v, None, None), path: dir.display().to_string() });
    Ok(())
}
