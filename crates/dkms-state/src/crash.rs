//! Crash points for the kill -9 tests: with the `crash-points` feature,
//! `DKMS_CRASH_AT=N` makes the process kill itself with SIGKILL at the N-th
//! crash point it reaches (and `DKMS_CRASH_TRACE=FILE` appends the name of
//! each point reached). Without the feature, `point` does nothing.

#[cfg(feature = "crash-points")]
static REACHED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A place where a crash must leave a recoverable tree.
#[inline]
pub fn point(_name: &str) {
    #[cfg(feature = "crash-points")]
    {
        use std::io::Write;
        let n = REACHED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if let Some(f) = crate::env::var("DKMS_CRASH_TRACE") {
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(f) {
                let _ = writeln!(f, "{n} {_name}");
            }
        }
        if crate::env::var("DKMS_CRASH_AT").and_then(|v| v.parse::<usize>().ok()) == Some(n) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        }
    }
}
