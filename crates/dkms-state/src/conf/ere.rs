//! bash's `[[ $text =~ $re ]]`, used by upstream for BUILD_EXCLUSIVE_KERNEL,
//! BUILD_EXCLUSIVE_ARCH, MAKE_MATCH and PATCH_MATCH: a POSIX extended
//! regular expression compiled by the C library's `regcomp(REG_EXTENDED)`
//! and run by `regexec`, exactly what bash calls (`sh_regmatch`). Rust's
//! `regex` is another dialect (`(?i)`, `\d`, no back-references, `{,n}`
//! refused), so the C library's own functions are called.

use std::ffi::CString;

/// Is `text` matched by the ERE `re`? An invalid expression matches
/// nothing: bash's `[[ $t =~ $re ]]` returns 2, which `if` takes as false
/// and `[[ ! $t =~ $re ]]` (BUILD_EXCLUSIVE_*) as true, i.e. excluded.
pub(crate) fn ere_match(text: &str, re: &str) -> bool {
    ere(text, re) == Some(true)
}

/// Does `re` match `text`; None when `re` is not a valid ERE.
///
/// The process's locale is "C" (Rust never calls `setlocale`), as bash's
/// is under `LC_ALL=C`; the patterns dkms.conf files use (kernel releases,
/// architectures) are ASCII, for which the locales agree.
// The one unsafe function of this crate: the C library's regex API. No
// maintained crate wraps POSIX regcomp/regexec (the `regex` family are
// other dialects), and this is three calls on owned, NUL-terminated data.
#[allow(unsafe_code)]
fn ere(text: &str, re: &str) -> Option<bool> {
    // A NUL cannot come from bash; such a value is not a valid pattern.
    let (Ok(re), Ok(text)) = (CString::new(re), CString::new(text)) else {
        return None;
    };
    // SAFETY: `regex_t` is plain data that `regcomp` fills in (zeroed is a
    // valid start); `regexec` and `regfree` are only called on it after
    // `regcomp` succeeded, and `regfree` exactly once; both strings are
    // NUL-terminated and outlive the calls; REG_NOSUB with nmatch 0 and a
    // null pmatch is the documented way to ask only "does it match".
    unsafe {
        let mut compiled: libc::regex_t = std::mem::zeroed();
        if libc::regcomp(&mut compiled, re.as_ptr(), libc::REG_EXTENDED | libc::REG_NOSUB) != 0 {
            return None;
        }
        let matched = libc::regexec(&compiled, text.as_ptr(), 0, std::ptr::null_mut(), 0) == 0;
        libc::regfree(&mut compiled);
        Some(matched)
    }
}

#[cfg(test)]
mod tests {
    use super::ere_match;

    /// The four patterns of issue 15 on which Rust's `regex` and bash
    /// disagreed, with bash's answers.
    #[test]
    fn bash_answers_where_rust_regex_differed() {
        let k = "6.1.0-5-amd64";
        assert!(!ere_match(k, "(?i)^6"));
        assert!(!ere_match(k, r"^6\.\d"));
        assert!(ere_match("6.1.0-56", r"(6)\.1\.0-5\1"));
        assert!(ere_match("6.1.0", "^6.{,3}0"));
        assert!(!ere_match(k, "(")); // invalid: no match, no panic
        assert!(ere_match(k, "amd64$"));
    }

    /// Patterns made from pieces BUILD_EXCLUSIVE_* and *_MATCH values use
    /// (and some they should not), each matched against kernel releases
    /// and architectures by us and by bash's `[[ =~ ]]`: every answer the
    /// same.
    /// Pieces the differential test joins into patterns.
    const PIECES: &[&str] = &[
        "^",
        "$",
        "6",
        "5",
        "1",
        r"\.",
        ".",
        "[0-9]",
        "[[:digit:]]",
        "[^a-z]",
        "+",
        "*",
        "?",
        "{1,2}",
        "{,3}",
        "{2}",
        "(5|6)",
        r"\d",
        r"\w",
        r"\s",
        r"\b",
        r"\<",
        r"\>",
        "[[:alpha:]]+",
        "(a)",
        r"\1",
        "-",
        "x86_64",
        "amd64",
        "(?i)",
        r"\\",
        "[.]",
        "]",
        "[]]",
        "{",
        "(",
        ")",
        "|",
        "generic",
        "[a-z]+",
        "^[56]",
        "(.*)",
        "[-.]",
        "[[:upper:]]",
        "[A-Z]",
        "\\-",
        "[.[:digit:]]+",
        "aarch64|arm.*",
        "^(4|5)\\.",
    ];

    /// Kernel releases and arches the patterns are matched against.
    const TEXTS: &[&str] = &[
        "6.1.0-5-amd64",
        "5.15.0-91-generic",
        "6.8.12",
        "x86_64",
        "aarch64",
        "i686",
        "6.10.3-arch1-1",
        "4.19.0",
        "",
        "6.1.0-56",
        "armv7l",
        "AMD64",
    ];

    #[test]
    #[allow(clippy::disallowed_methods)] // the test runs bash itself
    fn differential_against_bash() {
        let Ok(bash) = which::which("bash") else {
            panic!("bash is needed for the differential test (it is dkms's own dependency)");
        };
        let (pieces, texts) = (PIECES, TEXTS);
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut patterns: Vec<String> =
            ["(?i)^6", r"^6\.\d", r"(6)\.1\.0-5\1", "^6.{,3}0"].iter().map(|s| s.to_string()).collect();
        patterns.extend(pieces.iter().map(|s| s.to_string()));
        while patterns.len() < 400 {
            let n = 2 + (next() % 4) as usize;
            patterns.push((0..n).map(|_| pieces[(next() % pieces.len() as u64) as usize]).collect());
        }
        let mut input = String::new();
        for p in &patterns {
            for t in texts {
                input.push_str(&format!("{p}\n{t}\n"));
            }
        }
        // bash's status: 0 match, 1 no match, 2 invalid pattern.
        let script = r#"while IFS= read -r p && IFS= read -r t; do [[ $t =~ $p ]]; echo $?; done"#;
        let mut child = std::process::Command::new(bash)
            .args(["-c", script])
            .env("LC_ALL", "C")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        let answers: Vec<Option<bool>> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| match l {
                "0" => Some(true),
                "1" => Some(false),
                _ => None,
            })
            .collect();
        assert_eq!(answers.len(), patterns.len() * texts.len());
        let mut i = 0;
        let mut differ = Vec::new();
        for p in &patterns {
            for t in texts {
                if super::ere(t, p) != answers[i] {
                    differ.push(format!("{t:?} =~ {p:?}: bash {:?}", answers[i]));
                }
                i += 1;
            }
        }
        assert!(differ.is_empty(), "{} of {} differ from bash:\n{}", differ.len(), answers.len(), differ.join("\n"));
        let matched = answers.iter().filter(|&&a| a == Some(true)).count();
        let invalid = answers.iter().filter(|&&a| a.is_none()).count();
        assert!(matched > 100 && matched < answers.len() - 100, "a test that can fail: {matched} matches");
        assert!(invalid > 10, "invalid patterns too: {invalid}");
    }
}
