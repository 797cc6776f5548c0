//! A conservative reader of bash text: can the result of sourcing it depend
//! on anything but the text and the variables it sees? Used to decide what
//! the conf cache may keep (`cache::key`) and when the evaluation script may
//! take its fork-free write-back (`bash::fast_path_ok`). It is a line-level
//! tokenizer and a judge of commands, not a parser: anything it does not
//! understand is answered "no".

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
/// `expect_pattern` carries `case ... in` / `;;` across commands and lines.
fn pure_command(words: &[Word], expect_pattern: &mut bool) -> bool {
    let i = match skip_keywords(words, expect_pattern) {
        Ok(i) => i,
        Err(answer) => return answer,
    };
    let Some(i) = skip_assignments(words, i) else { return false };
    pure_simple_command(words, i)
}

/// Past the keywords and `case` patterns that start the command: where the
/// rest begins, or (Err) the answer for the whole command.
fn skip_keywords(words: &[Word], expect_pattern: &mut bool) -> Result<usize, bool> {
    let mut i = 0;
    loop {
        if i >= words.len() {
            return Err(true);
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
                return Err(false);
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
            let (Some(subject), Some(kw)) = (words.get(i + 1), words.get(i + 2)) else { return Err(false) };
            if expands_paths(subject) || !is(kw, "in") {
                return Err(false);
            }
            *expect_pattern = true;
            i += 3;
            continue;
        }
        return Ok(i);
    }
}

/// Past the assignments (scalar or array) from `i`: where the command word
/// is, or None when an assignment is not pure.
fn skip_assignments(words: &[Word], mut i: usize) -> Option<usize> {
    while i < words.len() {
        let w = &words[i];
        let Some(at) = assignment(w) else { break };
        let value = &w[at..];
        if value.first() == Some(&('(', false)) {
            // NAME=(a b [3]=c): elements up to the closing ')'.
            let mut elems: Vec<&[(char, bool)]> = vec![&value[1..]];
            while elems.last().is_some_and(|e| e.last() != Some(&(')', false))) {
                i += 1;
                elems.push(words.get(i)?);
            }
            for e in elems {
                let e = e.strip_suffix(&[(')', false)]).unwrap_or(e);
                let e = match e.first() {
                    Some(('[', false)) => match e.iter().position(|&x| x == (']', false)) {
                        Some(p) if e.get(p + 1) == Some(&('=', false)) => &e[p + 2..],
                        _ => return None,
                    },
                    _ => e,
                };
                if expands_paths(e) || e.contains(&('(', false)) {
                    return None;
                }
            }
        } else if value.iter().any(|&(c, q)| !q && matches!(c, '~' | '(' | ')')) {
            return None;
        }
        i += 1;
    }
    Some(i)
}

/// The command word at `i` and its arguments: a test, arithmetic or a
/// builtin that only touches the shell's variables.
fn pure_simple_command(words: &[Word], i: usize) -> bool {
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
pub(crate) fn static_only(text: &str) -> bool {
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
}
