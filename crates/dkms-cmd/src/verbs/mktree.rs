//! `dkms mktree` (not in upstream dkms): create a module source tree that
//! `add` and `build` accept as it stands (`ops::mktree`).

use crate::ops::mktree::{make_tree, tree_names};
use crate::support::dkms::Dkms;
use dkms_cli::ui;
use dkms_proto::Record;
use dkms_state::error::Result;

/// `dkms mktree`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    d.ctx.check_all_is_banned("mktree")?;
    let from = d.ctx.args.from.clone();
    let (m, v) = tree_names(d, &d.module.clone(), &d.module_version.clone(), from.as_deref())?;
    d.reporting = Some(ui::target(&m, &v, None, None));
    let made = make_tree(d, &m, &v, from.as_deref())?;
    match &from {
        Some(f) => d.ui.outln(&format!("Copied {} to {}", f.display(), made.dir.display())),
        None => d.ui.outln(&format!("Created module tree {}", made.dir.display())),
    }
    for g in &made.generated {
        d.ui.outln(&format!("  {g}"));
    }
    d.ui.outln(&format!("Next: dkms add {m}/{v}"));
    d.ui.emit(Record::TreeCreated {
        target: ui::target(&m, &v, None, None),
        path: made.dir.display().to_string(),
        generated: made.generated,
        copied_from: from.map(|f| f.display().to_string()),
    });
    Ok(())
}
