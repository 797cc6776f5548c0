//! Module version facts read with `modinfo`, as upstream's
//! `get_module_verinfo` and `compare_module_version` use them.

use crate::tools;
use crate::version;
use std::path::Path;

/// `version` and `srcversion` (or the obsolete checksum) of a module file;
/// empty strings when modinfo fails or the fields are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerInfo {
    pub version: String,
    pub srcversion: String,
}

/// `get_module_verinfo FILE`.
pub fn verinfo(file: &Path) -> VerInfo {
    let mut c = tools::command("modinfo", &[]);
    c.arg(file);
    let out = match tools::output(&mut c) {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(_) => String::new(),
    };
    parse(&out)
}

fn parse(out: &str) -> VerInfo {
    let (mut ver, mut checksum, mut srcver) = (String::new(), String::new(), String::new());
    for line in out.lines() {
        let mut words = line.split_ascii_whitespace();
        match words.next() {
            Some("version:") => {
                ver = words.next().unwrap_or_default().to_string();
                checksum = words.next().unwrap_or_default().to_string();
            }
            Some("srcversion:") => srcver = words.next().unwrap_or_default().to_string(),
            _ => {}
        }
    }
    VerInfo { version: ver, srcversion: if srcver.is_empty() { checksum } else { srcver } }
}

/// Result of `compare_module_version A B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `==`: same version and same srcversion
    Same,
    /// `=`: same version, different srcversion
    SameVersion,
    /// `>`: A is newer
    Newer,
    /// `<`: A is older
    Older,
}

/// `compare_module_version A B` on already read facts.
pub fn compare(a: &VerInfo, b: &VerInfo) -> Cmp {
    if a.version == b.version {
        if a.srcversion == b.srcversion {
            Cmp::Same
        } else {
            Cmp::SameVersion
        }
    } else if version::compare(&a.version, &b.version).is_gt() {
        Cmp::Newer
    } else {
        Cmp::Older
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modinfo() {
        let v = parse("filename: /x.ko\nversion:        1.0 ABC\nsrcversion:     DEADBEEF\n");
        assert_eq!(v, VerInfo { version: "1.0".into(), srcversion: "DEADBEEF".into() });
        let v = parse("version: 2.0 CHK\n");
        assert_eq!(v.srcversion, "CHK");
        assert_eq!(compare(&v, &VerInfo { version: "10.0".into(), ..Default::default() }), Cmp::Older);
    }
}
