//! Evaluating *plain* dkms.conf files without bash: exactly what upstream's
//! `safe_source` (called by `read_conf`) gives for them, or nothing.
//!
//! A plain file is made of comments, blank lines and assignments:
//! `NAME=word`, `NAME[index]=word` and `NAME=(word ...)`, several per line
//! if wanted, where a word is made of unquoted literal characters,
//! backslash escapes, `'single quotes'`, `"double quotes"` and the
//! expansions `$name`, `${name}`, `${name+word}`, `${name-word}`,
//! `${name:+word}` and `${name:-word}` of variables whose value is known:
//! the context of the request (`kernelver`, `arch`, `dkms_tree`, ...), the
//! whitelist (unset by `read_conf` before the first file) and what the
//! file itself assigned. Anything else — commands, `$(...)`, backquotes,
//! other parameter operators, `;`, keywords, unquoted `~`, `{`, `}`,
//! globs in array elements, a variable that could come from the
//! environment or is special to bash, a byte that is not plain ASCII — makes
//! `evaluate` answer None, and the caller asks bash as before.
//!
//! What is modelled is `safe_source` as `shell::bash` runs it: the file is
//! sourced in a subshell; every index of every whitelisted variable is
//! written back by an unquoted `echo NAME[i]=\"${NAME[i]%$CR}\"` (one
//! trailing CR removed, the value split on blanks and joined by single
//! spaces, each field subject to pathname expansion), and that text is
//! sourced again in the outer shell, so values are expanded a second time
//! there, where only the context and the whitelist exist. The second
//! sourcing is evaluated by the same parser; pathname expansion is proven
//! to match nothing by looking at the working directory (a field could
//! only match an entry starting with the field's text up to its first
//! pattern character). Nothing accepted makes bash print anything, so the
//! captured stderr is empty.

mod parse;

use super::request::{Array, Request, Sourced};
use parse::{parse, text_byte, Assignment, Part, Value};
use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Variables bash gives a meaning, sets itself or that change how it
/// parses, expands or matches: never assigned, and never read (their value
/// is not known here).
fn special(name: &str) -> bool {
    const NAMES: [&str; 67] = [
        "_",
        "IFS",
        "PATH",
        "HOME",
        "CDPATH",
        "ENV",
        "LANG",
        "GLOBIGNORE",
        "GLOBSORT",
        "POSIXLY_CORRECT",
        "SHELLOPTS",
        "EUID",
        "UID",
        "PPID",
        "OPTIND",
        "OPTARG",
        "OPTERR",
        "RANDOM",
        "SRANDOM",
        "SECONDS",
        "LINENO",
        "EPOCHSECONDS",
        "EPOCHREALTIME",
        "FUNCNAME",
        "FUNCNEST",
        "GROUPS",
        "DIRSTACK",
        "PIPESTATUS",
        "MAIL",
        "MAILCHECK",
        "MAILPATH",
        "TMOUT",
        "TMPDIR",
        "HOSTNAME",
        "HOSTTYPE",
        "MACHTYPE",
        "OSTYPE",
        "SHLVL",
        "SHELL",
        "PWD",
        "OLDPWD",
        "REPLY",
        "COLUMNS",
        "LINES",
        "IGNOREEOF",
        "INPUTRC",
        "TIMEFORMAT",
        "PROMPT_COMMAND",
        "PROMPT_DIRTRIM",
        "EXECIGNORE",
        "FIGNORE",
        "FCEDIT",
        "HOSTFILE",
        "CHILD_MAX",
        "COPROC",
        "EMACS",
        "INSIDE_EMACS",
        "histchars",
        "TERM",
        "TZ",
        "COMPREPLY",
        "MAPFILE",
        "PS0",
        "PS1",
        "PS2",
        "PS3",
        "PS4",
    ];
    const PREFIXES: [&str; 7] = ["BASH", "LC_", "HIST", "COMP_", "READLINE_", "DKMS_DIRECTIVE", "__dkms"];
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

fn identifier(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0] == b'_' || b[0].is_ascii_alphabetic())
        && b.iter().all(|&c| c == b'_' || c.is_ascii_alphanumeric())
}

/// A name this evaluator lets a file (or the request) assign.
fn assignable(name: &str) -> bool {
    identifier(name) && !special(name)
}

/// Does anything in our environment change what bash does with a plain
/// file? Start-up files (`BASH_ENV`, `ENV`), shell options
/// (`SHELLOPTS`, `BASHOPTS`, `POSIXLY_CORRECT`, `BASH_COMPAT`), pathname
/// expansion (`GLOBIGNORE`), exported functions (they could replace `echo`
/// or `printf` in the write-back), and `DKMS_DIRECTIVE*` variables (written
/// back by `safe_source` as assignments).
fn environment_is_plain() -> bool {
    static PLAIN: OnceLock<bool> = OnceLock::new();
    *PLAIN.get_or_init(|| {
        !crate::env::vars_os().any(|(k, _)| {
            let k = k.as_bytes();
            k.starts_with(b"BASH_FUNC_")
                || k.starts_with(b"DKMS_DIRECTIVE")
                || [
                    &b"BASH_ENV"[..],
                    b"ENV",
                    b"SHELLOPTS",
                    b"BASHOPTS",
                    b"POSIXLY_CORRECT",
                    b"BASH_COMPAT",
                    b"GLOBIGNORE",
                    b"IFS",
                ]
                .contains(&k)
        })
    })
}

/// The names in the working directory, sorted: what pathname expansion in
/// the write-back's `echo` could match. None when it cannot be read.
fn cwd_entries() -> Option<&'static [Vec<u8>]> {
    static ENTRIES: OnceLock<Option<Vec<Vec<u8>>>> = OnceLock::new();
    ENTRIES
        .get_or_init(|| {
            let mut names = std::fs::read_dir(".")
                .ok()?
                .map(|e| e.ok().map(|e| e.file_name().as_bytes().to_vec()))
                .collect::<Option<Vec<_>>>()?;
            names.sort();
            Some(names)
        })
        .as_deref()
}

/// Where bash's pattern matching may start to differ from plain text: the
/// glob characters, a backslash (an escape in patterns; whether it alone
/// makes a pattern changed between bash versions) and, with `extglob`
/// (set by the evaluation script), `+(`, `@(`, `!(`.
fn pattern_at(b: &[u8], j: usize) -> bool {
    matches!(b[j], b'*' | b'?' | b'[' | b']' | b'\\')
        || (matches!(b[j], b'+' | b'@' | b'!') && b.get(j + 1) == Some(&b'('))
}

/// Could pathname expansion of the unquoted field `f` (no `nullglob`, no
/// `failglob`, no `dotglob`) give anything but `f` itself? A pattern can
/// only match a name that starts with its literal text before the first
/// pattern character (a backslash-escaped character being literal); a
/// pattern that matches nothing leaves the field as it is. A pattern
/// reaching into another directory is not judged.
pub(crate) fn glob_may_match(f: &[u8], entries: &[Vec<u8>]) -> bool {
    let Some(first) = (0..f.len()).find(|&j| pattern_at(f, j)) else { return false };
    let component_end = f.iter().position(|&c| c == b'/').unwrap_or(f.len());
    if first > component_end {
        return true;
    }
    let mut prefix = Vec::new();
    let mut j = 0;
    while j < component_end {
        match f[j] {
            b'\\' if j + 1 < component_end => {
                prefix.push(f[j + 1]);
                j += 2;
            }
            _ if pattern_at(f, j) => break,
            c => {
                prefix.push(c);
                j += 1;
            }
        }
    }
    let prefix = prefix.as_slice();
    if prefix.starts_with(b".") {
        return true;
    }
    if prefix.is_empty() {
        // Only names not starting with a dot can match.
        return entries.iter().any(|e| !e.starts_with(b"."));
    }
    let k = entries.partition_point(|e| e.as_slice() < prefix);
    entries.get(k).is_some_and(|e| e.starts_with(prefix))
}

/// The variables of one shell: set ones, and names known to be unset
/// (anything else might come from the environment).
#[derive(Debug, Clone, Default)]
struct Shell {
    vars: HashMap<String, Array>,
    unset: HashSet<String>,
}

impl Shell {
    fn set(&mut self, name: &str, index: usize, value: String) {
        self.unset.remove(name);
        self.vars.entry(name.to_string()).or_default().insert(index, value);
    }

    /// `$name`; None when the value is not known.
    fn value(&self, name: &str) -> Option<String> {
        match self.vars.get(name) {
            Some(a) => Some(a.get(&0).cloned().unwrap_or_default()),
            None => self.unset.contains(name).then(String::new),
        }
    }

    /// Is `name` set (and, with `colon`, not null)?
    fn is_set(&self, name: &str, colon: bool) -> Option<bool> {
        match self.vars.get(name) {
            Some(a) => Some(a.get(&0).is_some_and(|v| !colon || !v.is_empty())),
            None => self.unset.contains(name).then_some(false),
        }
    }

    fn expand(&self, parts: &[Part]) -> Option<String> {
        let mut s = String::new();
        for p in parts {
            match p {
                Part::Lit(t) => s.push_str(t),
                Part::Var(n) if !special(n) => s.push_str(&self.value(n)?),
                Part::Alt { name, colon, plus, word } if !special(name) => {
                    let set = self.is_set(name, *colon)?;
                    match (set, plus) {
                        (true, true) | (false, false) => s.push_str(&self.expand(word)?),
                        (true, false) => s.push_str(&self.value(name)?),
                        (false, true) => {}
                    }
                }
                _ => return None,
            }
        }
        Some(s)
    }

    fn assign(&mut self, a: &Assignment) -> Option<()> {
        if !assignable(&a.name) {
            return None;
        }
        match &a.value {
            Value::Scalar(parts) => {
                let v = self.expand(parts)?;
                self.set(&a.name, a.index.unwrap_or(0), v);
            }
            Value::Array(elems) => {
                let values = elems.iter().map(|e| self.expand(e)).collect::<Option<Vec<_>>>()?;
                self.unset.remove(&a.name);
                self.vars.insert(a.name.clone(), values.into_iter().enumerate().collect());
            }
        }
        Some(())
    }
}

/// `safe_source`'s write-back: every index of every whitelisted variable
/// of the subshell `sub` echoed as `NAME[i]="value"` and sourced in
/// `outer`.
fn write_back(sub: &Shell, outer: &mut Shell, whitelist: &[&str]) -> Option<()> {
    for &name in whitelist {
        let Some(arr) = sub.vars.get(name) else { continue };
        for (&i, v) in arr {
            // `${NAME[i]%$CR}`
            let v = v.strip_suffix('\r').unwrap_or(v);
            if !v.bytes().all(|c| text_byte(c) || c == b'\n') {
                return None;
            }
            // The unquoted expansion is split on blanks (IFS is the
            // default: nothing accepted assigns it) and each field is a
            // pathname pattern; echo joins the fields with one space.
            let word = format!("{name}[{i}]=\"{v}\"");
            let fields: Vec<&str> = word.split([' ', '\t', '\n']).filter(|f| !f.is_empty()).collect();
            let entries = cwd_entries()?;
            if fields.iter().any(|f| glob_may_match(f.as_bytes(), entries)) {
                return None;
            }
            let line = fields.join(" ");
            // Sourced again: it must still be exactly this one assignment.
            let mut again = parse(&line)?;
            match again.pop() {
                Some(a) if again.is_empty() && a.name == name && a.index == Some(i) => {
                    if !matches!(a.value, Value::Scalar(_)) {
                        return None;
                    }
                    outer.assign(&a)?;
                }
                _ => return None,
            }
        }
    }
    Some(())
}

/// What `shell::source` would give for `req`, when every file in it is
/// plain; None otherwise (then bash must evaluate it).
pub fn evaluate(req: &Request) -> Option<Sourced> {
    // `read_framework_conf` keeps what the environment set: not modelled.
    if !req.unset_first || !environment_is_plain() {
        return None;
    }
    let mut outer = Shell::default();
    for (k, v) in &req.context {
        if !assignable(k) {
            return None;
        }
        outer.set(k, 0, v.clone());
    }
    for &w in &req.whitelist {
        if !assignable(w) {
            return None;
        }
        outer.vars.remove(w);
        outer.unset.insert(w.to_string());
    }
    for (k, v) in &req.preset {
        if !assignable(k) {
            return None;
        }
        outer.vars.remove(k.as_str());
        outer.set(k, 0, v.clone());
    }
    if req.report.iter().any(|r| outer.is_set(r, false).is_none()) {
        return None;
    }
    let mut out = Sourced::default();
    for f in &req.files {
        // `[[ -e $1 ]] || return 0`
        if !f.exists() {
            continue;
        }
        let path = f.to_str()?;
        let text = std::fs::read_to_string(f).ok()?;
        let assignments = parse(&text)?;
        let mut sub = outer.clone();
        for a in &assignments {
            sub.assign(a)?;
        }
        write_back(&sub, &mut outer, &req.whitelist)?;
        let set = req
            .report
            .iter()
            .filter(|r| outer.vars.get(**r).is_some_and(|a| !a.is_empty()))
            .map(|r| r.to_string())
            .collect();
        out.after_file.push((PathBuf::from(path), set));
    }
    for &w in &req.whitelist {
        if let Some(a) = outer.vars.get(w).filter(|a| !a.is_empty()) {
            out.vars.insert(w.to_string(), a.clone());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_fields() {
        let entries: Vec<Vec<u8>> = vec![b".hidden".to_vec(), b"MAKE0=\"x\"".to_vec(), b"src".to_vec()];
        assert!(!glob_may_match(b"plain", &entries));
        assert!(glob_may_match(b"MAKE[0]=\"x\"", &entries));
        assert!(!glob_may_match(b"CLEAN[0]=\"x\"", &entries));
        assert!(glob_may_match(b"*.ko", &entries));
        assert!(!glob_may_match(b"*.ko", &entries[..1]));
        assert!(glob_may_match(b".*", &entries));
        assert!(glob_may_match(b"/lib/*", &entries));
        assert!(glob_may_match(b"src/*", &entries));
        assert!(!glob_may_match(b"CLEAN[0]=\"/x/*\"", &entries));
        assert!(glob_may_match(b"a+(b)", &[b"ab".to_vec()]));
        // An escaped character is literal: `\;"` can only match `;"`.
        assert!(!glob_may_match(b"\\;\"", &entries));
        assert!(glob_may_match(b"\\;\"", &[b";\"".to_vec()]));
        assert!(glob_may_match(b"a\\", &[b"a".to_vec()]));
        assert!(glob_may_match(b"x/\\;", &entries));
    }
}
