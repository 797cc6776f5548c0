//! The running distribution, read from os-release as upstream's
//! `distro_version` does: `ID` if it is `ubuntu`, else the whole `ID_LIKE`
//! string if set, else `ID`. Other code matches it with globs (`debian*`).

use crate::error::{Error, Kind, Result};
use std::path::Path;

/// Where upstream looks, in order.
pub(crate) const OS_RELEASE_FILES: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// Read the distribution key, or upstream's exit 4 when no file exists.
pub fn running_distribution() -> Result<String> {
    for f in OS_RELEASE_FILES {
        let p = Path::new(f);
        if p.exists() {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            return Ok(distribution_key(&text));
        }
    }
    Err(Error::die(Kind::OsReleaseMissing, ["System is missing os-release file."])
        .with_hint("Restore /etc/os-release (package base-files) so dkms can tell which distribution it runs on."))
}

/// The key for the given os-release text.
pub(crate) fn distribution_key(text: &str) -> String {
    let id = value(text, "ID").unwrap_or_default();
    if id == "ubuntu" {
        return id;
    }
    // `${#ID_LIKE[@]} != 0` holds whenever ID_LIKE is set, even to "".
    match value(text, "ID_LIKE") {
        Some(like) => like,
        None => id,
    }
}

/// The value of `key` in os-release syntax (shell-like assignments; the last
/// assignment wins, as when the file is sourced).
fn value(text: &str, key: &str) -> Option<String> {
    let mut found = None;
    for line in text.lines() {
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
            found = Some(unquote(rest.trim_end()));
        }
    }
    found
}

fn unquote(v: &str) -> String {
    match shell_words::split(v) {
        Ok(words) => words.join(" "),
        Err(_) => v.trim_matches(|c| c == '"' || c == '\'').to_string(),
    }
}

/// Upstream's distribution families, matched with the same globs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `debian* | ubuntu*`
    Debian,
    /// `arch*`
    Arch,
    /// `fedora* | centos* | rhel*`
    RedHat,
    /// `sles* | suse* | opensuse*`
    Suse,
    /// `gentoo*`
    Gentoo,
    /// anything else
    Other,
}

/// Classify a distribution key.
pub fn family(key: &str) -> Family {
    let starts = |p: &[&str]| p.iter().any(|s| key.starts_with(s));
    if starts(&["debian", "ubuntu"]) {
        Family::Debian
    } else if starts(&["arch"]) {
        Family::Arch
    } else if starts(&["fedora", "centos", "rhel"]) {
        Family::RedHat
    } else if starts(&["sles", "suse", "opensuse"]) {
        Family::Suse
    } else if starts(&["gentoo"]) {
        Family::Gentoo
    } else {
        Family::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(distribution_key("ID=debian\nVERSION_ID=\"12\"\n"), "debian");
        assert_eq!(distribution_key("ID=ubuntu\nID_LIKE=debian\n"), "ubuntu");
        assert_eq!(distribution_key("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n"), "ubuntu debian");
        assert_eq!(distribution_key("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n"), "rhel centos fedora");
        assert_eq!(family("rhel centos fedora"), Family::RedHat);
        assert_eq!(family("ubuntu debian"), Family::Debian);
        assert_eq!(family("alpine"), Family::Other);
    }
}
