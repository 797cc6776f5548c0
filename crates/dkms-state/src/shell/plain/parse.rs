//! The parser of plain dkms.conf text for `plain`: comments, blank lines and
//! assignment words (`NAME=word`, `NAME[index]=word`, `NAME=(word ...)`),
//! split into literal text and the few expansions `plain` evaluates. Anything
//! else is refused (None), so the caller falls back to bash.

/// One piece of a word, before expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    /// Literal text (quoted or not: assignments are neither split nor
    /// globbed).
    Lit(String),
    /// `$name`, `${name}`: index 0 of the variable, empty when unset.
    Var(String),
    /// `${name+word}` (`plus`) or `${name-word}`; with `colon`, a null
    /// value counts as unset.
    Alt { name: String, colon: bool, plus: bool, word: Vec<Part> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    /// `NAME=word`, `NAME[i]=word`
    Scalar(Vec<Part>),
    /// `NAME=(word ...)`
    Array(Vec<Vec<Part>>),
}

/// One assignment word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Assignment {
    pub(super) name: String,
    pub(super) index: Option<usize>,
    pub(super) value: Value,
}

/// A byte bash reads as itself in any locale: printable ASCII, tab, CR.
pub(super) fn text_byte(c: u8) -> bool {
    c == b'\t' || c == b'\r' || (0x20..0x7f).contains(&c)
}

/// Unquoted characters taken literally in an assignment's value (no
/// splitting, no pathname expansion there); `~`, `{`, `}` are left out
/// (tilde and brace expansion), as are the metacharacters.
fn scalar_literal(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"_./:=+,@%^-!*?[]#\r".contains(&c)
}

/// Unquoted characters taken literally in an element of `NAME=(...)`,
/// where words are split and globbed: no pattern characters, no `=`.
fn element_literal(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"_./:+,@%^-".contains(&c)
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn peek2(&self) -> Option<u8> {
        self.s.get(self.i + 1).copied()
    }

    /// Blanks and line continuations between words.
    fn skip_blanks(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.i += 1,
                Some(b'\\') if self.peek2() == Some(b'\n') => self.i += 2,
                _ => return,
            }
        }
    }

    /// A comment runs to the end of the line (a backslash there continues
    /// nothing).
    fn skip_comment(&mut self) {
        while self.peek().is_some_and(|c| c != b'\n') {
            self.i += 1;
        }
    }

    fn at_word_end(&self) -> bool {
        matches!(self.peek(), None | Some(b' ' | b'\t' | b'\n'))
    }

    fn name(&mut self) -> Option<String> {
        let start = self.i;
        if !self.peek().is_some_and(|c| c == b'_' || c.is_ascii_alphabetic()) {
            return None;
        }
        while self.peek().is_some_and(|c| c == b'_' || c.is_ascii_alphanumeric()) {
            self.i += 1;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// `NAME=`, `NAME[i]=` or `NAME=(` and what follows, up to the end of
    /// the word.
    fn assignment(&mut self) -> Option<Assignment> {
        let name = self.name()?;
        let mut index = None;
        if self.peek() == Some(b'[') {
            self.i += 1;
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            let digits = &self.s[start..self.i];
            // Subscripts are arithmetic: a leading 0 means octal.
            if digits.is_empty() || digits.len() > 9 || (digits.len() > 1 && digits[0] == b'0') {
                return None;
            }
            index = Some(std::str::from_utf8(digits).ok()?.parse().ok()?);
            if self.peek() != Some(b']') {
                return None;
            }
            self.i += 1;
        }
        if self.peek() != Some(b'=') {
            return None;
        }
        self.i += 1;
        let value = if index.is_none() && self.peek() == Some(b'(') {
            self.i += 1;
            Value::Array(self.elements()?)
        } else {
            Value::Scalar(self.scalar()?)
        };
        Some(Assignment { name, index, value })
    }

    fn scalar(&mut self) -> Option<Vec<Part>> {
        let mut parts = Vec::new();
        loop {
            match self.peek() {
                None | Some(b' ' | b'\t' | b'\n') => return Some(parts),
                Some(b'\'') => parts.push(self.single()?),
                Some(b'"') => self.double(&mut parts)?,
                Some(b'$') => parts.push(self.dollar()?),
                Some(b'\\') => self.escape(&mut parts)?,
                Some(c) if scalar_literal(c) => {
                    parts.push(Part::Lit((c as char).into()));
                    self.i += 1;
                }
                Some(_) => return None,
            }
        }
    }

    /// The words of `NAME=(...)`, after the `(`. Separators may be
    /// newlines and comments.
    fn elements(&mut self) -> Option<Vec<Vec<Part>>> {
        let mut elems = Vec::new();
        loop {
            match self.peek()? {
                b' ' | b'\t' | b'\n' => self.i += 1,
                b'\\' if self.peek2() == Some(b'\n') => self.i += 2,
                b'#' => self.skip_comment(),
                b')' => {
                    self.i += 1;
                    return self.at_word_end().then_some(elems);
                }
                _ => elems.push(self.element()?),
            }
        }
    }

    fn element(&mut self) -> Option<Vec<Part>> {
        let mut parts = Vec::new();
        loop {
            match self.peek() {
                None => return None,
                Some(b' ' | b'\t' | b'\n' | b')') => return Some(parts),
                Some(b'\'') => parts.push(self.single()?),
                // Expansions inside double quotes are not split.
                Some(b'"') => self.double(&mut parts)?,
                Some(b'\\') => self.escape(&mut parts)?,
                Some(c) if element_literal(c) => {
                    parts.push(Part::Lit((c as char).into()));
                    self.i += 1;
                }
                Some(_) => return None,
            }
        }
    }

    /// An unquoted backslash: the next character taken literally, or a
    /// line continuation.
    fn escape(&mut self, parts: &mut Vec<Part>) -> Option<()> {
        match self.peek2()? {
            b'\n' => {}
            c if text_byte(c) => parts.push(Part::Lit((c as char).into())),
            _ => return None,
        }
        self.i += 2;
        Some(())
    }

    fn single(&mut self) -> Option<Part> {
        self.i += 1;
        let start = self.i;
        loop {
            match self.peek()? {
                b'\'' => break,
                c if text_byte(c) || c == b'\n' => self.i += 1,
                _ => return None,
            }
        }
        let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Some(Part::Lit(text))
    }

    fn double(&mut self, parts: &mut Vec<Part>) -> Option<()> {
        self.i += 1;
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => match self.peek2()? {
                    b'\n' => self.i += 2,
                    c @ (b'$' | b'`' | b'"' | b'\\') => {
                        parts.push(Part::Lit((c as char).into()));
                        self.i += 2;
                    }
                    // Kept with the backslash; the next character is read
                    // on its own.
                    _ => {
                        parts.push(Part::Lit("\\".into()));
                        self.i += 1;
                    }
                },
                // `$` closing the quotes is just a `$` (as in the regular
                // expressions of BUILD_EXCLUSIVE_*: `"^(x86_64|aarch64)$"`).
                b'$' if self.peek2() == Some(b'"') => {
                    parts.push(Part::Lit("$".into()));
                    self.i += 1;
                }
                b'$' => parts.push(self.dollar()?),
                b'`' => return None,
                c if text_byte(c) || c == b'\n' => {
                    parts.push(Part::Lit((c as char).into()));
                    self.i += 1;
                }
                _ => return None,
            }
        }
    }

    /// `$name`, `${name}`, `${name[:][+-]word}`.
    fn dollar(&mut self) -> Option<Part> {
        self.i += 1;
        if self.peek() != Some(b'{') {
            return Some(Part::Var(self.name().filter(|n| n != "_")?));
        }
        self.i += 1;
        let name = self.name()?;
        let colon = self.peek() == Some(b':');
        if colon {
            self.i += 1;
        }
        let op = self.peek()?;
        self.i += 1;
        match op {
            b'}' if !colon => Some(Part::Var(name)),
            b'+' | b'-' => {
                let mut word = Vec::new();
                loop {
                    match self.peek()? {
                        b'}' => {
                            self.i += 1;
                            return Some(Part::Alt { name, colon, plus: op == b'+', word });
                        }
                        b'$' => word.push(self.dollar()?),
                        c if c == b' ' || (scalar_literal(c) && c != b'\r') => {
                            word.push(Part::Lit((c as char).into()));
                            self.i += 1;
                        }
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }
}

/// The assignments of a plain file, in order; None if it is not one.
pub(super) fn parse(text: &str) -> Option<Vec<Assignment>> {
    let mut lx = Lexer { s: text.as_bytes(), i: 0 };
    if lx.s.contains(&0) {
        return None;
    }
    let mut out = Vec::new();
    loop {
        lx.skip_blanks();
        match lx.peek() {
            None => return Some(out),
            Some(b'\n') => lx.i += 1,
            Some(b'#') => lx.skip_comment(),
            // A command made of assignment words only, up to the end of
            // the line.
            Some(_) => loop {
                let a = lx.assignment()?;
                if !lx.at_word_end() {
                    return None;
                }
                out.push(a);
                lx.skip_blanks();
                match lx.peek() {
                    None | Some(b'\n') => break,
                    Some(b'#') => {
                        lx.skip_comment();
                        break;
                    }
                    Some(_) => {}
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Vec<Part> {
        s.chars().map(|c| Part::Lit(c.into())).collect()
    }

    #[test]
    fn parses_plain_assignments() {
        let a = parse("# c\nA=x B[3]='y z' # t\nC=(a \"b c\")\n\n").unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[0], Assignment { name: "A".into(), index: None, value: Value::Scalar(lit("x")) });
        assert_eq!(a[1].index, Some(3));
        assert!(matches!(&a[2].value, Value::Array(e) if e.len() == 2));
    }

    #[test]
    fn refuses_everything_else() {
        for t in [
            "A=$(x)\n",
            "A=`x`\n",
            "A=1; B=2\n",
            "A=1 && B=2\n",
            "if true; then A=1; fi\n",
            "f() { A=1; }\n",
            "A=~\n",
            "A=(*.c)\n",
            "A=({a,b})\n",
            "A=${x%y}\n",
            "A=${#x}\n",
            "A=${x:1}\n",
            "A=${x:=y}\n",
            "A=${!x}\n",
            "A=$1\n",
            "A=$_\n",
            "A=$'x'\n",
            "A=\"unterminated\n",
            "A[01]=x\n",
            "A[i]=x\n",
            "A+=x\n",
            "export A=1\n",
            ". ./x\n",
            "A=x\r\n\r\n",
            "A=(x)y\n",
            "A=\u{e9}\n",
            "echo hi\n",
        ] {
            assert!(parse(t).is_none(), "{t:?}");
        }
    }
}
