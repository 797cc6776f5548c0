//! The dkms actions, in layers whose imports only run downward:
//! `driver` (run a verb: parse, lock, recovery, stdin targets) →
//! `verbs` (one file per action: argument checks and the loop over kernels) →
//! `ops` (upstream's `do_*`/`maybe_*` operations on an explicit target) →
//! `support` (what operations share: the run context, conf reading, checks,
//! invoke, scripts, depmod, signing, module files). See ARCHITECTURE.md.
#![forbid(unsafe_code)]

mod driver;
mod ops;
mod support;
mod verbs;

pub use driver::{run_dkms, run_verb};
