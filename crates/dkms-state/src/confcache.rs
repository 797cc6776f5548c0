//! A cache of dkms.conf evaluations (what `read_conf` gets back from
//! `safe_source`) in the dkms tree, `<dkms_tree>/.cache/conf/<slot>`, so
//! that `dkms status` on a big tree need not start bash at all.
//!
//! An entry is used only when it is proven fresh: it records a SHA-256 over
//! everything the evaluation can see — the exact bash script run for the
//! request (context variables such as `kernelver`, `arch`,
//! `kernel_source_dir`, `kernel_config`, the whitelist, the file chain with
//! the `/etc/dkms/<module>*.conf` overrides that exist), the contents of every
//! file sourced, the whole environment bash gets, the working directory, the
//! user and group ids, the host name and the bash binary — and that digest
//! must match the one computed now. Files whose text could make the result
//! depend on anything else (command substitution, redirections, file tests,
//! globs, external commands, time or randomness) are never cached; a
//! conservative check of the text decides (`static_only`). Evaluations that
//! wrote anything on stderr are not cached either. Entries are written
//! atomically (temporary file and rename) and only where the tree is
//! writable: a read-only tree simply gets no cache.

use crate::shell::{self, Request, Sourced};
use sha2::{Digest, Sha256};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Bumped whenever the entry format or the meaning of an entry changes.
const FORMAT: &str = "dkms-conf-cache 1";

/// The directory of the cache in a dkms tree.
pub fn dir(dkms_tree: &Path) -> PathBuf {
    dkms_tree.join(".cache").join("conf")
}

/// Where the entry for one read lives: one slot per conf file and
/// module/version/kernel/arch, so changed inputs replace the old entry
/// instead of piling up beside it.
pub fn slot(dir: &Path, file: &Path, parts: &[&str]) -> PathBuf {
    let mut h = Sha256::new();
    h.update(b"slot\0");
    h.update(file.as_os_str().as_bytes());
    for p in parts {
        h.update(b"\0");
        h.update(p.as_bytes());
    }
    dir.join(hex(&h.finalize()[..16]))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn update_len(h: &mut Sha256, b: &[u8]) {
    h.update((b.len() as u64).to_le_bytes());
    h.update(b);
}

/// What every evaluation in this process sees besides its request: the
/// environment bash gets, cwd, ids, host name, the bash binary. None when
/// bash would read a start-up file (`BASH_ENV`/`ENV`) or bash is missing.
fn process_digest() -> Option<[u8; 32]> {
    static DIGEST: OnceLock<Option<[u8; 32]>> = OnceLock::new();
    *DIGEST.get_or_init(|| {
        // Not what bash gets: the variables tools::command removes, and `_`
        // (the invoking shell's last command; bash resets `$_` after every
        // command, so the conf never sees the inherited value).
        let mut vars: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os()
            .filter(|(k, _)| k != "_" && !crate::env::UNSET_FOR_BUILD.iter().any(|u| k.as_bytes() == u.as_bytes()))
            .collect();
        if vars.iter().any(|(k, v)| (k == "BASH_ENV" || k == "ENV") && !v.is_empty()) {
            return None;
        }
        vars.sort();
        let mut h = Sha256::new();
        h.update(FORMAT.as_bytes());
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        update_len(&mut h, shell::prelude().as_bytes());
        h.update((vars.len() as u64).to_le_bytes());
        for (k, v) in &vars {
            update_len(&mut h, k.as_bytes());
            update_len(&mut h, v.as_bytes());
        }
        let cwd = std::env::current_dir().ok()?;
        update_len(&mut h, cwd.as_os_str().as_bytes());
        let ids = [
            nix::unistd::getuid().as_raw(),
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getgid().as_raw(),
            nix::unistd::getegid().as_raw(),
        ];
        for id in ids {
            h.update(id.to_le_bytes());
        }
        let groups = nix::unistd::getgroups().unwrap_or_default();
        for g in groups {
            h.update(g.as_raw().to_le_bytes());
        }
        // bash's $HOSTNAME (gethostname is the uname node name).
        let host = nix::sys::utsname::uname().map(|u| u.nodename().to_os_string()).unwrap_or_default();
        update_len(&mut h, host.as_bytes());
        let bash = which::which("bash").ok()?;
        let m = std::fs::metadata(&bash).ok()?;
        update_len(&mut h, bash.as_os_str().as_bytes());
        for n in [m.dev(), m.ino(), m.size(), m.mtime() as u64, m.mtime_nsec() as u64, m.ctime() as u64] {
            h.update(n.to_le_bytes());
        }
        Some(h.finalize().into())
    })
}

/// The digest of everything one evaluation can see, or None when it must
/// not be cached (an input is unreadable, or a file's text may depend on
/// more than its inputs).
pub fn key(req: &Request) -> Option<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(process_digest()?);
    update_len(&mut h, shell::script_for_key(req).as_bytes());
    for f in &req.files {
        let text = std::fs::read(f).ok()?;
        if !static_only(std::str::from_utf8(&text).ok()?) {
            return None;
        }
        update_len(&mut h, f.as_os_str().as_bytes());
        update_len(&mut h, &text);
    }
    Some(h.finalize().into())
}

/// The cached result in `slot` if it was made under `key`.
pub fn lookup(slot: &Path, key: &[u8; 32]) -> Option<Sourced> {
    let data = std::fs::read(slot).ok()?;
    let header = format!("{FORMAT}\0{}\0", hex(key));
    let body = data.strip_prefix(header.as_bytes())?.strip_suffix(b"E\0")?;
    let mut all = shell::decode(body);
    (all.len() == 1).then(|| all.remove(0))
}

/// Remember `s` in `slot` under `key`; failures (read-only tree, ...) are
/// ignored.
pub fn store(slot: &Path, key: &[u8; 32], s: &Sourced) {
    if !s.stderr.is_empty() {
        return;
    }
    let Some(dir) = slot.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let mut data = format!("{FORMAT}\0{}\0", hex(key)).into_bytes();
    data.extend(shell::encode(s));
    data.extend(b"E\0");
    let tmp = crate::fsutil::temp_sibling(slot, "new");
    let ok = std::fs::write(&tmp, &data).is_ok() && std::fs::rename(&tmp, slot).is_ok();
    if !ok {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// A word of a line: its characters, each with whether it was quoted.
type Word = Vec<(char, bool)>;

fn text(w: &Word) -> String {
    w.iter().map(|(c, _)| c).collect()
}

/// The word is exactly `s`, unquoted.
fn is(w: &Word, s: &str) -> bool {
    w.len() == s.chars().count() && w.iter().zip(s.chars()).all(|(&(c, q), d)| !q && c == d)
}

enum Tok {
    Word(Word),
    /// `;`, `;;`, `&`, `&&`, `||`
    Op(String),
}

/// Split one line into words and operators as bash would (quotes, `${...}`,
/// backslashes, comments). None when a quote or brace is still open at the
/// end of the line (the text goes on; too complicated to judge).
fn tokenize(line: &str) -> Option<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut w: Word = Vec::new();
    let mut cs = line.chars().peekable();
    let flush = |w: &mut Word, toks: &mut Vec<Tok>| {
        if !w.is_empty() {
            toks.push(Tok::Word(std::mem::take(w)));
        }
    };
    while let Some(c) = cs.next() {
        match c {
            ' ' | '\t' => flush(&mut w, &mut toks),
            '#' if w.is_empty() => break,
            '\\' => w.push((cs.next()?, true)),
            '\'' => loop {
                match cs.next()? {
                    '\'' => break,
                    x => w.push((x, true)),
                }
            },
            '"' => loop {
                match cs.next()? {
                    '"' => break,
                    '\\' => w.push((cs.next()?, true)),
                    x => w.push((x, true)),
                }
            },
            '$' if cs.peek() == Some(&'{') => {
                // ${...}: kept whole (it may contain blanks), as quoted text.
                w.push(('$', true));
                let mut depth = 0;
                loop {
                    let x = cs.next()?;
                    w.push((x, true));
                    match x {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            ';' | '&' => {
                flush(&mut w, &mut toks);
                let mut op = c.to_string();
                if cs.peek() == Some(&c) {
                    op.push(cs.next()?);
                }
                toks.push(Tok::Op(op));
            }
            '|' if cs.peek() == Some(&'|') => {
                cs.next();
                flush(&mut w, &mut toks);
                toks.push(Tok::Op("||".into()));
            }
            x => w.push((x, false)),
        }
    }
    flush(&mut w, &mut toks);
    Some(toks)
}

/// Keywords that may start or prefix a command without doing anything
/// themselves.
const KEYWORDS: [&str; 13] =
    ["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "esac"];

/// Builtins with no effect outside the shell's own variables (their output
/// is discarded by `safe_source`).
const PURE_BUILTINS: [&str; 16] = [
    "true", "false", ":", "unset", "local", "declare", "typeset", "export", "readonly", "let", "shift", "break",
    "continue", "return", "echo", "printf",
];

/// Test operators that look at the file system or the terminal.
const FILE_TESTS: [&str; 22] = [
    "-a", "-b", "-c", "-d", "-e", "-f", "-g", "-h", "-k", "-p", "-r", "-s", "-t", "-u", "-w", "-x", "-G", "-L", "-N",
    "-O", "-S", "-nt",
];

fn file_test(w: &Word) -> bool {
    FILE_TESTS.iter().chain(["-ot", "-ef"].iter()).any(|t| is(w, t))
}

/// Unquoted glob characters (pathname expansion reads directories), tilde
/// expansion (may read the password database) or a pipe.
fn expands_paths(w: &[(char, bool)]) -> bool {
    w.iter().any(|&(c, q)| !q && matches!(c, '*' | '?' | '[' | '~' | '|'))
}

/// `NAME=`, `NAME+=`, `NAME[sub]=`, `NAME[sub]+=`: the length of the part
/// before the value.
fn assignment(w: &Word) -> Option<usize> {
    let mut i = 0;
    let ident = |c: char, first: bool| c == '_' || c.is_ascii_alphabetic() || (!first && c.is_ascii_digit());
    while i < w.len() && !w[i].1 && ident(w[i].0, i == 0) {
        i += 1;
    }
    if i == 0 {
        return None;
    }
    if i < w.len() && w[i] == ('[', false) {
        while i < w.len() && w[i] != (']', false) {
            i += 1;
        }
        i += 1;
    }
    if i < w.len() && w[i] == ('+', false) {
        i += 1;
    }
    (i < w.len() && w[i] == ('=', false)).then_some(i + 1)
}

/// Is this line-level command free of anything but shell-internal work?
/// `case_state` carries `case ... in` / `;;` across commands and lines.
fn pure_command(words: &[Word], expect_pattern: &mut bool) -> bool {
    let mut i = 0;
    loop {
        if i >= words.len() {
            return true;
        }
        let w = &words[i];
        if *expect_pattern {
            if is(w, "esac") {
                *expect_pattern = false;
                i += 1;
                continue;
            }
            // A pattern: words up to one ending in an unquoted ')'; '|'
            // separates alternatives, globs are patterns here.
            while i < words.len() && words[i].last() != Some(&(')', false)) {
                i += 1;
            }
            if i >= words.len() {
                return false;
            }
            *expect_pattern = false;
            i += 1;
            continue;
        }
        if KEYWORDS.iter().any(|k| is(w, k)) {
            i += 1;
            continue;
        }
        if is(w, "case") {
            let (Some(subject), Some(kw)) = (words.get(i + 1), words.get(i + 2)) else { return false };
            if expands_paths(subject) || !is(kw, "in") {
                return false;
            }
            *expect_pattern = true;
            i += 3;
            continue;
        }
        break;
    }
    // Assignments, scalar or array.
    while i < words.len() {
        let w = &words[i];
        let Some(at) = assignment(w) else { break };
        let value = &w[at..];
        if value.first() == Some(&('(', false)) {
            // NAME=(a b [3]=c): elements up to the closing ')'.
            let mut elems: Vec<&[(char, bool)]> = vec![&value[1..]];
            while elems.last().is_some_and(|e| e.last() != Some(&(')', false))) {
                i += 1;
                match words.get(i) {
                    Some(n) => elems.push(n),
                    None => return false,
                }
            }
            for e in elems {
                let e = e.strip_suffix(&[(')', false)]).unwrap_or(e);
                let e = match e.first() {
                    Some(('[', false)) => match e.iter().position(|&x| x == (']', false)) {
                        Some(p) if e.get(p + 1) == Some(&('=', false)) => &e[p + 2..],
                        _ => return false,
                    },
                    _ => e,
                };
                if expands_paths(e) || e.contains(&('(', false)) {
                    return false;
                }
            }
        } else if value.iter().any(|&(c, q)| !q && matches!(c, '~' | '(' | ')')) {
            return false;
        }
        i += 1;
    }
    let Some(cmd) = words.get(i) else { return true };
    let args = &words[i + 1..];
    let t = text(cmd);
    if is(cmd, "[[") {
        // Patterns in [[ ]] are not globbed; file tests are not allowed.
        return args.last().is_some_and(|l| is(l, "]]")) && !args.iter().any(file_test);
    }
    if is(cmd, "[") || is(cmd, "test") {
        let args = if is(cmd, "[") {
            match args.split_last() {
                Some((l, rest)) if is(l, "]") => rest,
                _ => return false,
            }
        } else {
            args
        };
        return !args.iter().any(|a| file_test(a) || expands_paths(a));
    }
    if t.starts_with("((") && cmd.iter().take(2).all(|&(_, q)| !q) {
        return words.last().is_some_and(|l| text(l).ends_with("))"));
    }
    if PURE_BUILTINS.iter().any(|b| is(cmd, b)) {
        return args.iter().all(|a| {
            let a: &[(char, bool)] = match assignment(a) {
                Some(at) => &a[at..],
                None => a,
            };
            !expands_paths(a) && !a.iter().any(|&(c, q)| !q && matches!(c, '(' | ')'))
        });
    }
    false
}

/// Can the result of sourcing `text` depend only on the text itself and
/// the variables it sees? Conservative: anything not understood is "no".
pub fn static_only(text: &str) -> bool {
    // Commands such as `source`, `eval` or `read` are refused by
    // `pure_command` wherever they stand; these are refused anywhere.
    // `$'...'` is refused because the tokenizer does not know its escapes.
    const NEVER: [&str; 15] = [
        "$(", "`", "<", ">", "cat ", "find ", "RANDOM", "SECONDS", "EPOCH", "BASHPID", "$$", "PPID", "@P", "$'", "\\\n",
    ];
    if NEVER.iter().any(|n| text.contains(n)) {
        return false;
    }
    let mut expect_pattern = false;
    for line in text.lines() {
        let Some(toks) = tokenize(line) else { return false };
        let mut cmd: Vec<Word> = Vec::new();
        // Inside [[ ]], && and || are part of the expression.
        let mut in_test = false;
        for t in toks.into_iter().map(Some).chain(std::iter::once(None)) {
            match t {
                Some(Tok::Word(w)) => {
                    if is(&w, "[[") {
                        in_test = true;
                    } else if is(&w, "]]") {
                        in_test = false;
                    }
                    cmd.push(w);
                }
                Some(Tok::Op(op)) if in_test && (op == "&&" || op == "||") => {
                    cmd.push(op.chars().map(|c| (c, false)).collect());
                }
                Some(Tok::Op(op)) => {
                    if !pure_command(&cmd, &mut expect_pattern) {
                        return false;
                    }
                    cmd.clear();
                    if op == ";;" {
                        expect_pattern = true;
                    } else if op == "&" {
                        return false;
                    }
                }
                None => {
                    if !pure_command(&cmd, &mut expect_pattern) {
                        return false;
                    }
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_confs_are_static() {
        for t in [
            "PACKAGE_NAME=\"foo\"\nPACKAGE_VERSION=1.0\n# comment\n",
            "BUILT_MODULE_NAME[0]=\"a\"\nDEST_MODULE_LOCATION[0]='/updates/dkms'\nAUTOINSTALL=yes\n",
            "MAKE[0]=\"make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build\"\n",
            "if [[ $kernelver == 5.* && $arch = x86_64 ]]; then\n  MAKE=\"make X=1\"\nelif [ \"$arch\" = aarch64 ]; then\n  MAKE=y\nfi\n",
            "case ${kernelver} in\n  5.1*|5.2*) PATCH[0]=a.patch;;\n  *) ;;\nesac\n",
            "BUILD_DEPENDS=(a b [3]=c)\nSTRIP[0]=no; STRIP[1]=yes\nexport X=1\nunset Y\n((n=1+2))\n",
            "PACKAGE_NAME=a # trailing comment\n",
        ] {
            assert!(static_only(t), "{t:?}");
        }
    }

    #[test]
    fn anything_else_is_not() {
        for t in [
            "PACKAGE_VERSION=$(cat version)\n",
            "PACKAGE_VERSION=`date`\n",
            "if [ -f /boot/config ]; then MAKE=x; fi\n",
            "[[ -e $kernel_source_dir/vmlinux ]] && MAKE=x\n",
            "if grep -q FOO \"$kernel_config\"; then MAKE=x; fi\n",
            "BUILD_DEPENDS=(*.c)\n",
            "for f in *; do X=$f; done\n",
            "x=~root\n",
            ". ./other.conf\n",
            "MAKE=\"a\nb\"\n",
            "X=$RANDOM\n",
            "f() { :; }\n",
            "uname -r\n",
            "X=1 make\n",
            "sleep 1 &\n",
            "echo * \n",
            "[ $x = 5.* ]\n",
            "read X\n",
            "eval X=1\n",
            "source ./x\n",
            "trap 'X=1' EXIT\n",
            "mapfile X\n",
            "if true; then declare -p X >/dev/null; fi\n",
        ] {
            assert!(!static_only(t), "{t:?}");
        }
    }

    #[test]
    fn entries_round_trip_only_under_their_key() {
        let tmp = tempfile::tempdir().unwrap();
        let slot = slot(&dir(tmp.path()), Path::new("/x/dkms.conf"), &["m", "v", "k", "a"]);
        let mut s = Sourced::default();
        s.vars.entry("PACKAGE_NAME".into()).or_default().insert(0, "p q".into());
        s.vars.entry("MAKE".into()).or_default().insert(3, "".into());
        s.after_file.push((PathBuf::from("/x/dkms.conf"), vec!["CLEAN".into()]));
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        assert!(lookup(&slot, &k1).is_none());
        store(&slot, &k1, &s);
        assert_eq!(lookup(&slot, &k1), Some(s.clone()));
        assert!(lookup(&slot, &k2).is_none());
        // A truncated entry is never used.
        let data = std::fs::read(&slot).unwrap();
        std::fs::write(&slot, &data[..data.len() - 1]).unwrap();
        assert!(lookup(&slot, &k1).is_none());
        // Nothing is stored for an evaluation that wrote on stderr.
        s.stderr = b"oops".to_vec();
        store(&slot, &k2, &s);
        assert!(lookup(&slot, &k2).is_none());
    }
}
