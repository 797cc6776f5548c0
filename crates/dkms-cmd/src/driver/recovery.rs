//! Recovery from an interrupted transaction before a verb runs: under the
//! verb's exclusive lock, or for readers under one taken just for this.

use crate::ops::recover;
use crate::support::dkms::Dkms;
use dkms_state::lock;

/// Recover an unfinished journal before anything else: under our exclusive
/// lock, or, for readers, under an exclusive lock taken just for this.
pub(super) fn recover_if_needed(d: &mut Dkms, have_exclusive: bool) {
    recover::sweep(d);
    let tree = d.ctx.trees.dkms_tree.clone();
    if !dkms_state::journal::any_pending(&tree) {
        return;
    }
    if have_exclusive {
        recover::recover(d);
        return;
    }
    if !dkms_state::fsutil::writable(&tree) {
        d.ui.errln("dkms: an interrupted transaction needs recovery; run dkms as root to complete it.");
        return;
    }
    let holder = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
    if let Ok(Some(_l)) = lock::acquire(&tree, lock::Mode::Exclusive, &holder, None, |s| d.ui.errln(s)) {
        recover::recover(d);
    }
}

/// `--dry-run` recovers nothing: say that the real run would first
/// complete or roll back an interrupted transaction, which the plan does
/// not show.
pub(super) fn mention_pending(d: &Dkms) {
    if dkms_state::journal::any_pending(&d.ctx.trees.dkms_tree) {
        d.ui.outln("An interrupted transaction would be recovered first; the plan does not show it.");
    }
}
