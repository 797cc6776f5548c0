//! Bash pathname-pattern matching for the filters upstream passes into globs
//! (`$dkms_tree/${1:-*}/${2:-*}` in `list_module_version_combos`), and the
//! extglob `+([0-9]).*` that decides which directories are kernel versions.

/// Does `name` match the bash pattern `pat` (`*`, `?`, `[...]`, `\x`)?
/// Like pathname expansion, a leading `.` must be matched explicitly.
pub fn matches(pat: &str, name: &str) -> bool {
    if name.starts_with('.') && !pat.starts_with('.') {
        return false;
    }
    match_from(pat.as_bytes(), name.as_bytes())
}

fn match_from(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, next)) = class(&p[pi..], s[si]) {
                        if ok {
                            pi += next;
                            si += 1;
                            continue;
                        }
                    } else if s[si] == b'[' {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
                b'\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == s[si] {
                        pi += 2;
                        si += 1;
                        continue;
                    }
                }
                c => {
                    if c == s[si] {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Match a bracket expression at the start of `p`; returns (matched, length)
/// or None if it is not a well-formed bracket expression.
fn class(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        if p[i] == b'[' && p.get(i + 1) == Some(&b':') {
            if let Some(end) = p[i + 2..].windows(2).position(|w| w == b":]") {
                let name = &p[i + 2..i + 2 + end];
                found |= match name {
                    b"digit" => c.is_ascii_digit(),
                    b"alpha" => c.is_ascii_alphabetic(),
                    b"alnum" => c.is_ascii_alphanumeric(),
                    b"upper" => c.is_ascii_uppercase(),
                    b"lower" => c.is_ascii_lowercase(),
                    b"space" => c.is_ascii_whitespace(),
                    b"xdigit" => c.is_ascii_hexdigit(),
                    b"punct" => c.is_ascii_punctuation(),
                    _ => false,
                };
                i += end + 4;
                continue;
            }
        }
        if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' {
            found |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            found |= p[i] == c;
            i += 1;
        }
    }
    None
}

/// The extglob `+([0-9]).*`: one or more digits, a dot, anything.
pub(crate) fn is_kernel_dir_name(name: &str) -> bool {
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && name.as_bytes().get(digits) == Some(&b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("*", "dkms_test"));
        assert!(!matches("*", ".lock"));
        assert!(matches("dkms_*", "dkms_test"));
        assert!(matches("1.?", "1.0"));
        assert!(!matches("1.?", "1.10"));
        assert!(matches("[0-9]*", "6.1"));
        assert!(matches("[!a]b", "cb"));
        assert!(!matches("[!a]b", "ab"));
        assert!(matches("x[[:digit:]]", "x7"));
        assert!(matches("a\\*", "a*"));
        assert!(!matches("a\\*", "ab"));
        assert!(matches("6.1.0-48-amd64", "6.1.0-48-amd64"));
    }

    #[test]
    fn kernel_dirs() {
        assert!(is_kernel_dir_name("6.1.0-48-amd64"));
        assert!(is_kernel_dir_name("10.x"));
        assert!(!is_kernel_dir_name("build"));
        assert!(!is_kernel_dir_name("6"));
        assert!(!is_kernel_dir_name(".6.1"));
    }
}
