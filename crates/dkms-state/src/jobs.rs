//! One jobs budget for a whole run, shared through a GNU make jobserver:
//! every concurrent module build holds one slot, and every `make` it starts
//! gets the jobserver in MAKEFLAGS, so all compilers of all builds together
//! never exceed `parallel_jobs` (upstream runs one build at a time, each
//! with its own `make -j$parallel_jobs`; upstream #316). When dkms itself
//! runs under a make jobserver it joins that one instead of adding its own
//! `-j` on top (sc0710 #54).

use std::io;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The jobserver of the `make` that started us, if MAKEFLAGS names one whose
/// descriptors we really inherited (make 4.3 names them even for recipes it
/// did not mark recursive, and closes them).
pub fn outer() -> Option<jobserver::Client> {
    static OUTER: OnceLock<Option<jobserver::Client>> = OnceLock::new();
    OUTER
        .get_or_init(|| {
            // SAFETY: `from_env_ext(true)` adopts the descriptors MAKEFLAGS
            // names only after checking that they are open pipes (or opens
            // the named fifo). It is called once, at the start of a building
            // verb, before dkms has any pipe of its own open, so a pipe it
            // finds there can only be the inherited jobserver.
            #[allow(unsafe_code)]
            let from_env = unsafe { jobserver::Client::from_env_ext(true) };
            from_env.client.ok()
        })
        .clone()
}

/// A run's budget: the jobserver and the one slot the process itself
/// stands for (make's "implicit token": whoever starts a job owns one).
#[derive(Debug)]
pub struct Budget {
    client: jobserver::Client,
    implicit_free: Mutex<bool>,
    jobs: usize,
}

/// One running build's share of the budget, given back when dropped.
#[derive(Debug)]
pub struct Slot<'a> {
    budget: &'a Budget,
    _token: Option<jobserver::Acquired>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if self._token.is_none() {
            *self.budget.implicit_free.lock().unwrap_or_else(|e| e.into_inner()) = true;
        }
    }
}

impl Budget {
    /// Join the outer jobserver, or start one allowing `jobs` jobs at once.
    pub fn new(jobs: usize) -> io::Result<Budget> {
        let jobs = jobs.max(1);
        let client = match outer() {
            Some(c) => c,
            None => jobserver::Client::new(jobs - 1)?,
        };
        Ok(Budget { client, implicit_free: Mutex::new(true), jobs })
    }

    /// How many builds may usefully run at once (an outer jobserver does not
    /// say how many tokens it has; its slots still bound what really runs).
    pub fn jobs(&self) -> usize {
        self.jobs
    }

    /// Wait for a slot.
    pub fn acquire(&self) -> io::Result<Slot<'_>> {
        {
            let mut free = self.implicit_free.lock().unwrap_or_else(|e| e.into_inner());
            if *free {
                *free = false;
                return Ok(Slot { budget: self, _token: None });
            }
        }
        let token = self.client.acquire()?;
        Ok(Slot { budget: self, _token: Some(token) })
    }

    /// Give a `make` (or a shell that runs one) the jobserver: MAKEFLAGS
    /// with `-j --jobserver-auth=...` and the descriptors inherited.
    pub fn configure(&self, cmd: &mut Command) {
        self.client.configure_make(cmd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_never_exceed_the_budget() {
        let b = Budget { client: jobserver::Client::new(2).unwrap(), implicit_free: Mutex::new(true), jobs: 3 };
        let s1 = b.acquire().unwrap();
        let s2 = b.acquire().unwrap();
        let s3 = b.acquire().unwrap();
        assert_eq!(b.client.available().unwrap(), 0, "three slots taken of three");
        drop(s1);
        let s4 = b.acquire().unwrap();
        drop((s2, s3, s4));
        assert_eq!(b.client.available().unwrap(), 2);
        assert!(*b.implicit_free.lock().unwrap());
    }
}
