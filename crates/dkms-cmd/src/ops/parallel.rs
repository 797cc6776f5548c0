//! The background builds of a parallel autoinstall: a queue of module builds
//! run by worker threads, each holding one slot of the jobs budget while it
//! builds, with its output captured. The main thread still walks the jobs in
//! upstream's order and installs them one by one; when it reaches a module
//! whose build ran here, it takes the captured output, prints it where the
//! build would have printed it, and goes on with the install — so the run
//! prints what the serial run prints, byte for byte, only sooner.
//!
//! A build is queued once every BUILD_DEPENDS it names is installed (or
//! skipped) on its kernel — exactly when upstream's loop would get to it.

use crate::support::dkms::{BuildKey, BuildOutcome as Outcome, BuildsAhead, Dkms, Target};
use crate::support::options::BuildOptions;
use dkms_state::capture::{self, Capture};
use dkms_state::error::{Error, Kind, Result};
use dkms_state::jobs::Budget;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

pub(crate) type Key = BuildKey;

#[derive(Debug)]
enum State {
    /// Waiting for these BUILD_DEPENDS to be installed or skipped.
    Waiting(Vec<String>),
    Queued,
    Running,
    Done(Box<Outcome>),
    /// Handed to the main thread, or dropped at the end of the run.
    Gone,
}

#[derive(Debug)]
struct Job {
    key: Key,
    state: State,
    /// The session a build starts from (the main thread's, as it will be
    /// when it gets to this module).
    start: Option<Box<Dkms>>,
}

#[derive(Debug, Default)]
struct Inner {
    jobs: Vec<Job>,
    queue: VecDeque<usize>,
    shutdown: bool,
}

/// The queue and its workers.
#[derive(Debug)]
pub(crate) struct Builds {
    inner: Mutex<Inner>,
    changed: Condvar,
    budget: Arc<Budget>,
    /// What every build here is run with.
    opts: BuildOptions,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Builds {
    /// Start `budget.jobs()` workers (no more than there are builds), which
    /// build as `opts` say.
    pub(crate) fn start(budget: Arc<Budget>, builds: usize, opts: BuildOptions) -> Arc<Builds> {
        let b = Arc::new(Builds {
            inner: Mutex::new(Inner::default()),
            changed: Condvar::new(),
            budget,
            opts,
            workers: Mutex::new(Vec::new()),
        });
        let n = b.budget.jobs().min(builds).max(1);
        let handles = (0..n)
            .map(|_| {
                let me = Arc::clone(&b);
                std::thread::spawn(move || me.work())
            })
            .collect();
        *b.workers.lock().unwrap_or_else(|e| e.into_inner()) = handles;
        b
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add the build of `key`, to run from the session `start` once the
    /// modules in `depends` are resolved on its kernel.
    pub(crate) fn add(&self, key: Key, depends: Vec<String>, start: Dkms) {
        let mut g = self.lock();
        let i = g.jobs.len();
        let ready = depends.is_empty();
        g.jobs.push(Job { key, state: State::Waiting(depends), start: Some(Box::new(start)) });
        if ready {
            g.jobs[i].state = State::Queued;
            g.queue.push_back(i);
            self.changed.notify_all();
        }
    }

    /// Is the build of `key` ours (queued, running, done or waiting)?
    pub(crate) fn owns(&self, key: &Key) -> bool {
        self.lock().jobs.iter().any(|j| &j.key == key && !matches!(j.state, State::Gone))
    }

    /// `module` is installed or skipped on `kernel`/`arch`: builds waiting
    /// for it may be able to start.
    pub(crate) fn resolved(&self, module: &str, kernel: &str, arch: &str) {
        let mut g = self.lock();
        let mut ready = Vec::new();
        for (i, j) in g.jobs.iter_mut().enumerate() {
            if j.key.2 != kernel || j.key.3 != arch {
                continue;
            }
            if let State::Waiting(deps) = &mut j.state {
                deps.retain(|d| d != module);
                if deps.is_empty() {
                    j.state = State::Queued;
                    ready.push(i);
                }
            }
        }
        g.queue.extend(ready);
        self.changed.notify_all();
    }

    /// The outcome of the build of `key`, waiting for it to finish; None if
    /// it is not ours (or can no longer start: then the caller builds).
    pub(crate) fn take_build(&self, key: &Key) -> Option<Outcome> {
        let mut g = self.lock();
        let i = g.jobs.iter().position(|j| &j.key == key && !matches!(j.state, State::Gone))?;
        if let State::Waiting(_) = g.jobs[i].state {
            g.jobs[i].state = State::Gone;
            return None;
        }
        loop {
            if let State::Done(_) = g.jobs[i].state {
                let State::Done(o) = std::mem::replace(&mut g.jobs[i].state, State::Gone) else { unreachable!() };
                return Some(*o);
            }
            g = self.changed.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// No new builds: drop what has not started, wait for what runs.
    pub(crate) fn finish(&self) {
        {
            let mut g = self.lock();
            g.shutdown = true;
            g.queue.clear();
            self.changed.notify_all();
        }
        for h in std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner())) {
            let _ = h.join();
        }
    }

    /// A worker: take the next queued build, run it in a slot of the budget
    /// with its output captured, file the outcome.
    fn work(&self) {
        loop {
            let (i, key, mut d) = {
                let mut g = self.lock();
                loop {
                    // Builds of one module version share its build/
                    // directory: never two of them at once (the next one
                    // for another kernel waits its turn).
                    let busy = |g: &Inner, i: usize| {
                        let (m, v) = (&g.jobs[i].key.0, &g.jobs[i].key.1);
                        g.jobs.iter().any(|j| matches!(j.state, State::Running) && &j.key.0 == m && &j.key.1 == v)
                    };
                    if let Some(pos) = g.queue.iter().position(|&i| !busy(&g, i)) {
                        let i = g.queue.remove(pos).unwrap_or_default();
                        g.jobs[i].state = State::Running;
                        let start = g.jobs[i].start.take();
                        break (i, g.jobs[i].key.clone(), start);
                    }
                    if g.shutdown {
                        return;
                    }
                    g = self.changed.wait(g).unwrap_or_else(|e| e.into_inner());
                }
            };
            let out = Capture::new();
            let result = match (self.budget.acquire(), d.as_deref_mut()) {
                (Ok(_slot), Some(d)) => capture::scoped(Some(out.clone()), || build(d, &self.opts, &key)),
                (Err(e), _) => Err(Error::io(Kind::JobserverFailed, "waiting for a jobserver token", e)),
                (_, None) => Err(Error::die(Kind::Internal, ["build started twice"])),
            };
            let outcome = Outcome {
                chunks: out.take(),
                result,
                last_conf: d.as_ref().and_then(|d| d.last_conf.clone()),
                package_name: d.map(|d| d.package_name).unwrap_or_default(),
            };
            let mut g = self.lock();
            g.jobs[i].state = State::Done(Box::new(outcome));
            self.changed.notify_all();
        }
    }
}

/// `do_build` of `key` in a session of its own, as `install_module` would
/// run it; a panic is the build's failure, not the run's.
fn build(d: &mut Dkms, opts: &BuildOptions, key: &Key) -> Result<()> {
    let (m, v, k, a) = key;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        super::build::do_build(d, opts, Target::new(m, v, k, a)).map(drop)
    }))
    .unwrap_or_else(|_| Err(Error::die(Kind::Panic, [format!("The build of {m}/{v} for {k} ({a}) panicked.")])))
}

impl BuildsAhead for Builds {
    fn take(&self, key: &BuildKey) -> Option<Outcome> {
        self.take_build(key)
    }

    fn pending(&self, key: &BuildKey) -> bool {
        self.owns(key)
    }
}
