//! The one error type: every failure carries upstream's exit code, a stable
//! kebab-case `kind` for JSON consumers, the lines upstream prints and a hint.

use std::fmt;

/// How the reporter shows an error (mirrors upstream's `die`, `diewarn` and a
/// bare `exit N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `die`: an empty line, then `Error! ` + lines, on stderr.
    Error,
    /// `diewarn`: `Warning: ` + lines, on stderr.
    Warning,
    /// Upstream already printed what it had to say (or nothing): just exit.
    Silent,
}

/// A failure with upstream's exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Exit status of the process, as upstream's `die N`.
    pub code: u8,
    /// Stable machine-readable name, e.g. `kernel-headers-missing`.
    pub kind: &'static str,
    /// The message lines upstream prints (first line after `Error! `).
    pub lines: Vec<String>,
    /// What the user can do about it; shown in JSON output only, because the
    /// text output must stay byte-identical to upstream.
    pub hint: Option<String>,
    /// How to print it.
    pub style: Style,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Upstream's `die CODE line...`.
    pub fn die<S: Into<String>>(code: u8, kind: &'static str, lines: impl IntoIterator<Item = S>) -> Self {
        Error { code, kind, lines: lines.into_iter().map(Into::into).collect(), hint: None, style: Style::Error }
    }

    /// Upstream's `diewarn CODE line...`.
    pub fn warn<S: Into<String>>(code: u8, kind: &'static str, lines: impl IntoIterator<Item = S>) -> Self {
        Error { style: Style::Warning, ..Error::die(code, kind, lines) }
    }

    /// An exit status whose messages were already printed.
    pub fn exit(code: u8, kind: &'static str) -> Self {
        Error { style: Style::Silent, ..Error::die(code, kind, Vec::<String>::new()) }
    }

    /// Attach a hint (JSON output and `--verbose` only).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// An I/O failure that upstream would have reported through a failing
    /// coreutils command; `code` is the status upstream's caller exits with.
    pub fn io(code: u8, what: impl fmt::Display, err: std::io::Error) -> Self {
        Error::die(code, "io-error", [format!("{what}: {err}")])
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines.join("\n"))
    }
}

impl std::error::Error for Error {}
