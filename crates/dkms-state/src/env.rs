//! The only place that reads the process environment, so every variable dkms
//! honours is listed here (upstream lets some framework.conf names leak in
//! from the environment, see `read_framework_conf`). `clippy.toml` forbids
//! `std::env::var*` everywhere else; the functions here are the funnel.

use std::ffi::OsString;

/// A variable's value, if set and valid UTF-8.
#[allow(clippy::disallowed_methods)] // the funnel itself
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable's value, if set and non-empty (bash's `[[ $x ]]`).
pub fn nonempty(name: &str) -> Option<String> {
    var(name).filter(|v| !v.is_empty())
}

/// A variable's raw value.
#[allow(clippy::disallowed_methods)] // the funnel itself
pub fn var_os(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// A snapshot of the whole environment, raw (what children inherit).
#[allow(clippy::disallowed_methods)] // the funnel itself
pub fn vars_os() -> std::env::VarsOs {
    std::env::vars_os()
}

/// A snapshot of the whole environment as UTF-8; like `std::env::vars`,
/// iterating panics on a name or value that is not UTF-8.
#[allow(clippy::disallowed_methods)] // the funnel itself
pub fn vars() -> std::env::Vars {
    std::env::vars()
}

/// The variables upstream unsets at start because they would disturb a
/// kernel build (`unset CC CXX CFLAGS CXXFLAGS LDFLAGS`).
pub(crate) const UNSET_FOR_BUILD: [&str; 5] = ["CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS"];
