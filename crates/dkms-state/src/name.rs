//! The one validator for every value that becomes a path component in the
//! trees — module, module version, kernel release, architecture — applied
//! where the value enters (the command line, stdin records, dkms.conf,
//! tarballs, cache manifests), so that operations may take them as plain
//! names. Not in upstream dkms, which joins whatever it is given into
//! `$dkms_tree/$module/$module_version/$kernelver/$arch` and `rm -rf`s it.
//!
//! The rules are what a single directory name needs and what the values
//! really look like, no more: module names and versions are whatever
//! dkms.conf's PACKAGE_NAME/PACKAGE_VERSION hold (`nvidia`, `2.1.11-1`,
//! `1.0+git20240101`), kernel releases whatever `uname -r` prints
//! (`6.1.0-57-amd64`, `5.15.0-1051-azure+`, `6.8.0-rc1_custom~1`), arches
//! `uname -m`'s. So: not empty, not `.` or `..`, no `/`, no NUL or other
//! control character (a newline would split upstream's line-based records
//! and `read -r`), not starting with `-` (the value is passed to depmod,
//! modinfo and make as a word, where it would be read as an option), and
//! at most 255 bytes (NAME_MAX).

use crate::error::{Error, Kind, Result};

/// The longest name a directory entry can have (NAME_MAX).
pub const MAX_LEN: usize = 255;

/// What a value names, for the error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Module,
    Version,
    Kernel,
    Arch,
}

impl What {
    fn describe(self) -> &'static str {
        match self {
            What::Module => "module name",
            What::Version => "module version",
            What::Kernel => "kernel version",
            What::Arch => "architecture",
        }
    }
}

/// Why `value` cannot be a name (None: it can).
pub fn problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("it is empty")
    } else if value == "." || value == ".." {
        Some("it names a directory itself")
    } else if value.contains('/') {
        Some("it contains '/'")
    } else if value.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if value.starts_with('-') {
        Some("it starts with '-'")
    } else if value.len() > MAX_LEN {
        Some("it is longer than 255 bytes")
    } else {
        None
    }
}

/// Is `value` usable as one path component?
pub fn is_valid(value: &str) -> bool {
    problem(value).is_none()
}

/// `value` as a `what`, or the `name-unsafe` error saying why not.
pub fn check(what: What, value: &str) -> Result<()> {
    match problem(value) {
        None => Ok(()),
        Some(why) => Err(unsafe_name(what.describe(), value, why)),
    }
}

/// The `name-unsafe` error for a value found in `source` (a dkms.conf
/// variable, a tarball, a cache manifest), described as `what`.
pub fn unsafe_name(what: &str, value: &str, why: &str) -> Error {
    Error::die(Kind::NameUnsafe, [format!("The {what} '{}' cannot be used: {why}.", printable(value))])
        .with_hint("Module names, versions, kernel versions and architectures are single directory names.")
}

/// `value` with control characters escaped and cut to a readable length,
/// for messages (a 4,000-byte or multi-line value must not flood them).
pub fn printable(value: &str) -> String {
    let mut s: String = value.chars().take(80).flat_map(char::escape_default).collect();
    if value.chars().count() > 80 {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_values_pass() {
        for ok in [
            "nvidia",
            "v4l2loopback",
            "2.1.11-1",
            "1.0+git20240101",
            "a..b",
            "6.1.0-57-amd64",
            "5.15.0-1051-azure+",
            "6.8.0-rc1_custom~1",
            "x86_64",
            "aarch64",
            "my module",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
    }

    #[test]
    fn hostile_values_fail() {
        let long = "a".repeat(256);
        for bad in ["", ".", "..", "../..", "a/../../b", "/", "/etc", "a\nb", "a\0b", "-rf", "\u{7f}x", long.as_str()] {
            assert!(!is_valid(bad), "{bad:?}");
            let e = check(What::Kernel, bad).unwrap_err();
            assert_eq!(e.kind, Kind::NameUnsafe);
        }
        assert!(is_valid(&"a".repeat(255)));
    }

    #[test]
    fn messages_stay_readable() {
        assert_eq!(printable("a\nb"), "a\\nb");
        assert_eq!(printable(&"x".repeat(100)).len(), 83);
    }
}
