//! What the operations share: the run context (`dkms`) and its methods,
//! grouped by concern. Nothing here calls an operation.

pub(crate) mod checks;
pub(crate) mod conf;
pub(crate) mod depmod;
pub(crate) mod dkms;
#[cfg(test)]
pub(crate) mod fixture;
pub(crate) mod invoke;
pub(crate) mod modfiles;
pub(crate) mod options;
pub(crate) mod process;
pub(crate) mod products;
pub(crate) mod progress;
pub(crate) mod sandbox;
pub(crate) mod scripts;
pub(crate) mod secureboot;
pub(crate) mod signing;
pub(crate) mod subshell;
