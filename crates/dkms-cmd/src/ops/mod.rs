//! Upstream's operations (`add_module`, `do_build`, `do_install`,
//! `do_uninstall`, `do_unbuild`, `autoinstall`, `load_tarball`, ...), each
//! taking what it works on as explicit values. They call each other only
//! downward: autoinstall → install → build → add → tarball_load; `plan`
//! (`--dry-run`) sits beside them and asks their checks.

pub(crate) mod add;
pub(crate) mod autoinstall;
pub(crate) mod binary_cache;
pub(crate) mod build;
pub(crate) mod build_steps;
pub(crate) mod debpkg;
pub(crate) mod debpkg_text;
pub(crate) mod dependants;
pub(crate) mod doctor;
pub(crate) mod install;
pub(crate) mod kernel_hooks;
pub(crate) mod kernel_trigger;
pub(crate) mod ltdk;
pub(crate) mod mktree;
pub(crate) mod parallel;
pub(crate) mod plan;
pub(crate) mod prepare_kernel;
pub(crate) mod recover;
pub(crate) mod remove;
pub(crate) mod sign;
pub(crate) mod source_tree;
pub(crate) mod status;
pub(crate) mod tarball_load;
pub(crate) mod tarball_make;
pub(crate) mod unbuild;
pub(crate) mod uninstall;
pub(crate) mod verify;
