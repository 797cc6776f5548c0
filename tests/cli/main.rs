//! Integration tests running the real built binaries (`dkms`, `dkms-<verb>`)
//! on hermetic temp trees, compared with upstream's bash dkms where the
//! shared reference copy is available. What cannot run here is reported
//! as skipped (see `skip`), never passed silently.

// Tests set up environments and run programs directly: the funnels of
// clippy.toml (one reader of the environment, one builder of processes)
// are rules for the product, not for the code that drives it from outside.
#![allow(clippy::disallowed_methods)]

mod add_remove;
mod cache;
mod completion;
mod debpkg;
mod enroll;
mod fake;
mod frontend;
mod hooks_real;
mod hostile_values;
mod install_data;
mod json;
mod lifecycle;
mod progress;
mod reliability;
mod sandbox;
mod seed_verbs;
mod skip;
mod status;
mod status_fast;
mod support;
mod tables;
mod tarball;
mod untrusted;
mod upgrades;
mod verify;
