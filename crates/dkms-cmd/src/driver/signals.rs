//! SIGTERM, SIGINT and SIGHUP: upstream dies at once and leaves make
//! running, writing into `build/` while the next dkms cleans it. Here the
//! signals are taken by one thread (blocked in all others, which inherit
//! the mask; children get an empty mask from std), which stops every
//! descendant, then exits with the conventional status (128 + signal). The
//! step under way is left to its journal: the next run rolls it back or
//! completes it, as after a kill -9.

use dkms_state::error::{Error, Kind};
use dkms_state::tools;
use nix::sys::signal::{SigSet, Signal};

/// Take over SIGTERM, SIGINT and SIGHUP for this process. Call before any
/// other thread is started.
pub(super) fn install() {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    if set.thread_block().is_err() {
        return;
    }
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
        let Ok(sig) = set.wait() else { return };
        tools::set_terminating();
        // Not upstream: live status lines are erased (`--progress`).
        dkms_cli::live::restore();
        tools::stop_descendants(std::time::Duration::from_secs(5));
        let status = Error::exit(Kind::Interrupted).with_code(128 + sig as u8).code;
        std::process::exit(status.into());
    });
    if spawned.is_err() {
        let _ = set.thread_unblock();
    }
}
