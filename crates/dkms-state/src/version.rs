//! Upstream's `VER()` version comparison: every run of digits is padded to at
//! least three digits and the results are compared as strings.

use std::cmp::Ordering;

/// `VER "$1"`: pad digit runs shorter than three digits with zeros.
pub fn ver(s: &str) -> String {
    // sed splits the string at every digit/non-digit boundary, pads runs of
    // one or two digits, then joins everything again.
    let mut out = String::with_capacity(s.len() + 8);
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let digit = b[i].is_ascii_digit();
        while i < b.len() && b[i].is_ascii_digit() == digit {
            i += 1;
        }
        let run = &s[start..i];
        if digit && run.len() < 3 {
            out.push_str(&"00"[..3 - run.len()]);
        }
        out.push_str(run);
    }
    out
}

/// Compare two versions the way upstream's `[[ "$(VER a)" < "$(VER b)" ]]`
/// does (byte order in the C locale).
pub fn compare(a: &str, b: &str) -> Ordering {
    ver(a).as_bytes().cmp(ver(b).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_like_upstream() {
        assert_eq!(ver("2.6.9-1cvs200409091247"), "002.006.009-001cvs200409091247");
        assert_eq!(ver("6.1.0-48-amd64"), "006.001.000-048-amd064");
        assert_eq!(ver(""), "");
        assert_eq!(ver("1234"), "1234");
    }

    #[test]
    fn orders() {
        assert_eq!(compare("2.0", "10.0"), Ordering::Less);
        assert_eq!(compare("1.0", "1.0"), Ordering::Equal);
        assert_eq!(compare("6.1.0-48", "6.1.0-5"), Ordering::Greater);
    }
}
