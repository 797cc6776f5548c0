//! The only place that reads the process environment, so every variable dkms
//! honours is listed here (upstream lets some framework.conf names leak in
//! from the environment, see `read_framework_conf`).

use std::ffi::OsString;

/// A variable's value, if set and valid UTF-8.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable's value, if set and non-empty (bash's `[[ $x ]]`).
pub fn nonempty(name: &str) -> Option<String> {
    var(name).filter(|v| !v.is_empty())
}

/// A variable's raw value.
pub fn var_os(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// A snapshot of the whole environment, raw (what children inherit).
pub fn vars_os() -> std::env::VarsOs {
    std::env::vars_os()
}

/// Every `NAME=value` pair whose name starts with `prefix`, sorted by name
/// (bash's `set` lists variables sorted).
pub fn with_prefix(prefix: &str) -> Vec<(String, String)> {
    let mut v: Vec<_> = std::env::vars().filter(|(k, _)| k.starts_with(prefix)).collect();
    v.sort();
    v
}

/// The variables upstream unsets at start because they would disturb a
/// kernel build (`unset CC CXX CFLAGS CXXFLAGS LDFLAGS`).
pub const UNSET_FOR_BUILD: [&str; 5] = ["CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS"];
