//! The one error type: every failure carries its `Kind` from the registry
//! (the stable kebab-case name JSON consumers see, and upstream's exit
//! code), the lines upstream prints and a hint.

pub use crate::kind::{Kind, Status};
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
    /// Already shown by our reporter (text and JSON): only the exit status
    /// is left to pass on.
    Reported,
}

/// A failure with upstream's exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Exit status of the process, as upstream's `die N`.
    pub code: u8,
    /// What failed, from the registry (`kind.name()` is the JSON `kind`).
    pub kind: Kind,
    /// The message lines upstream prints (first line after `Error! `).
    pub lines: Vec<String>,
    /// What the user can do about it: in JSON output, and on stderr only
    /// when that is a terminal (logs and scripts keep upstream's text).
    pub hint: Option<String>,
    /// How to print it.
    pub style: Style,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Upstream's `die CODE line...`, with the code of `kind` (a kind whose
    /// status varies gets it from `with_code`).
    pub fn die<S: Into<String>>(kind: Kind, lines: impl IntoIterator<Item = S>) -> Self {
        let lines = lines.into_iter().map(Into::into).collect();
        Error { code: kind.code_or(1), kind, lines, hint: None, style: Style::Error }
    }

    /// Upstream's `diewarn CODE line...`.
    pub fn warn<S: Into<String>>(kind: Kind, lines: impl IntoIterator<Item = S>) -> Self {
        Error { style: Style::Warning, ..Error::die(kind, lines) }
    }

    /// An exit status whose messages were already printed.
    pub fn exit(kind: Kind) -> Self {
        Error { style: Style::Silent, ..Error::die(kind, Vec::<String>::new()) }
    }

    /// A failure our reporter has shown already: pass its status on.
    pub fn reported(code: u8) -> Self {
        Error { style: Style::Reported, ..Error::exit(Kind::Reported).with_code(code) }
    }

    /// The exit status of a kind whose status varies (see the registry):
    /// a child's own status or one already reported, never a stage's (a
    /// stage names its `Kind`, whose status is fixed).
    pub fn with_code(mut self, code: u8) -> Self {
        debug_assert!(matches!(self.kind.status(), Status::Varies(_)), "{} has a fixed status", self.kind.name());
        self.code = code;
        self
    }

    /// Attach a hint (JSON output and `--verbose` only).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// An I/O failure that upstream would have reported through a failing
    /// coreutils command: `kind` names the stage that failed, and its
    /// (fixed) status is the one upstream's caller exits with.
    pub fn io(kind: Kind, what: impl fmt::Display, err: std::io::Error) -> Self {
        debug_assert!(matches!(kind.status(), Status::Fixed(_)), "{} has no fixed status", kind.name());
        Error::die(kind, [format!("{what}: {err}")])
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines.join("\n"))
    }
}

impl std::error::Error for Error {}
