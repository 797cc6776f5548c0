//! dkms.conf files that came in a tarball (`ldtarball`, `add` of a
//! tarball) are untrusted shell code. While a loader holds an `Untrusted`
//! guard, a conf that only bash can evaluate is not run by a plain bash
//! as root: the caller's policy either runs that bash confined (the build
//! sandbox) or warns first. Plain confs never reach bash (`plain`).

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::rc::Rc;

/// Runs the bash evaluation command confined: given the command, the conf
/// files it reads and the directory it writes its answers into.
pub type Confine = dyn Fn(Command, &[PathBuf], &Path) -> io::Result<Output>;

/// What to do when bash must evaluate an untrusted conf.
#[derive(Clone)]
pub enum Policy {
    /// Run bash through this.
    Confine(Rc<Confine>),
    /// Run bash as usual after calling this (a warning).
    Warn(Rc<dyn Fn()>),
}

thread_local! {
    static POLICY: RefCell<Option<Policy>> = const { RefCell::new(None) };
}

/// The policy in force on this thread until dropped.
pub struct Untrusted(Option<Policy>);

impl Untrusted {
    /// Treat the confs evaluated on this thread as untrusted until the
    /// guard is dropped.
    pub fn begin(policy: Policy) -> Untrusted {
        Untrusted(POLICY.with(|p| p.borrow_mut().replace(policy)))
    }
}

impl Drop for Untrusted {
    fn drop(&mut self) {
        let prev = self.0.take();
        POLICY.with(|p| *p.borrow_mut() = prev);
    }
}

/// The policy in force, if any.
pub(crate) fn policy() -> Option<Policy> {
    POLICY.with(|p| p.borrow().clone())
}
