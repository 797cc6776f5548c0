//! The DKMS domain shared by every `dkms-*` binary: the trees and their paths,
//! dkms.conf and framework.conf evaluation, the state machine, the lock, atomic
//! file operations, kernel facts and external tools. It never parses argv and
//! never prints; callers decide how to show what it returns.
// `deny`, not `forbid`: one call may opt out — joining the GNU make
// jobserver dkms was started under (`jobs::outer`) takes ownership of the
// inherited pipe descriptors, which the jobserver crate can only do unsafely.
#![deny(unsafe_code)]

pub mod base64;
pub mod beneath;
pub mod cache;
pub mod capture;
pub mod conf;
pub mod crash;
pub mod distro;
pub mod dpkg;
pub mod env;
pub mod error;
pub mod failures;
pub mod framework;
pub mod fsutil;
pub mod glob;
pub mod jobs;
pub mod journal;
pub mod kernel;
pub mod kind;
pub mod license;
pub mod lock;
pub mod modinfo;
pub mod module_file;
pub mod module_image;
pub mod name;
pub mod progress;
pub mod shell;
pub mod status;
pub mod tarball;
pub mod tools;
pub mod trees;
pub mod untrusted;
pub mod version;

pub use error::{Error, Result};
