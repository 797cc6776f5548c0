//! Upstream's argument grammar, shared by every binary: words scanned left
//! to right, the action word anywhere, `--opt value` and `--opt=value` for
//! long options matched by prefix (`--module*`), exact short options taking
//! the next word, repeatable `-k kernel[/arch]`, and other words classified
//! by probing the filesystem (dkms.conf path, source dir, archive,
//! `module/version`).
//!
//! lexopt supplies the raw argument stream. Its getopt-style splitting
//! (`-kfoo`, `-qv`) is deliberately not used: upstream treats each word as
//! one token, and `-kfoo` is an unknown option there.

use crate::table::{self, FlagId, Update, Verb};
pub use crate::table::{Args, Notice, Special};
use dkms_state::error::{Error, Kind};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Result of parsing: the arguments up to where parsing stopped, and why it
/// stopped early if it was refused.
#[derive(Debug)]
pub struct Parsed {
    pub args: Args,
    pub refused: Option<Refusal>,
}

/// A command line not accepted: the error (upstream's `Error!` text, an
/// `error` record in JSON mode) and whether the usage follows it.
#[derive(Debug)]
pub struct Refusal {
    pub error: Error,
    pub usage: bool,
}

/// One word of the command line, classified.
#[derive(Debug, Clone)]
enum Token {
    /// An option and its value, kept as the bytes given: a path may be
    /// any bytes, a name must be UTF-8 (`text`).
    Flag(&'static table::Flag, OsString),
    Unknown(String),
    Action(&'static Verb),
    Word(OsString),
}

/// `read -r var <<< "$value"`: the first line, surrounding blanks removed.
fn read_r(v: &OsStr) -> OsString {
    let line = v.as_bytes().split(|&b| b == b'\n').next().unwrap_or_default();
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = line.iter().position(|b| !blank(b)).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !blank(b)).map_or(start, |e| e + 1);
    OsStr::from_bytes(&line[start..end.max(start)]).to_os_string()
}

/// A value that is a name or a word, not a path: it must be UTF-8. Not
/// upstream (bash takes any bytes); a module, version, kernel or arch that
/// is not text cannot be named in dkms.conf, JSON or a message.
fn text(what: &str, v: OsString) -> Result<String, Refusal> {
    v.into_string().map_err(|v| {
        let shown = v.as_bytes().escape_ascii().to_string();
        let e = Error::die(Kind::NameUnsafe, [format!("The {what} '{shown}' cannot be used: it is not valid UTF-8.")]);
        Refusal { error: e, usage: false }
    })
}

/// `action_re` in upstream.
pub fn action_word(w: &str) -> Option<&'static Verb> {
    table::verb_by_name(w)
}

fn tokenize(argv: &[OsString]) -> Vec<(usize, Token)> {
    let mut p = lexopt::Parser::from_args(argv.iter().cloned());
    let mut raw = match p.raw_args() {
        Ok(r) => r,
        Err(_) => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut index = 0;
    while let Some(word) = raw.next() {
        let at = index;
        index += 1;
        let raw_word = word;
        let word = raw_word.to_string_lossy().into_owned();
        if let Some(f) = table::lookup(&word) {
            let bytes = raw_word.as_bytes();
            let value = if f.value.is_none() {
                OsString::new()
            } else if let Some(eq) = bytes.iter().position(|&b| b == b'=') {
                OsStr::from_bytes(&bytes[eq + 1..]).to_os_string()
            } else {
                index += 1;
                raw.next().unwrap_or_default()
            };
            out.push((at, Token::Flag(f, value)));
        } else if word == "-" {
            out.push((at, Token::Word(raw_word)));
        } else if word.starts_with('-') {
            out.push((at, Token::Unknown(word)));
        } else if let Some(v) = action_word(&word) {
            out.push((at, Token::Action(v)));
        } else {
            out.push((at, Token::Word(raw_word)));
        }
    }
    demote_extension_words(&mut out, false);
    out
}

/// Our verbs' words (`mktree`, ...) are plain words to upstream: beside one
/// of upstream's actions (given in argv, or `implicit`, the binary's own)
/// they stay the module name, path or stray word upstream takes them for.
fn demote_extension_words(tokens: &mut [(usize, Token)], implicit_upstream: bool) {
    let upstream = implicit_upstream || tokens.iter().any(|(_, t)| matches!(t, Token::Action(v) if !v.extension));
    if !upstream {
        return;
    }
    for (_, t) in tokens.iter_mut() {
        if let Token::Action(v) = t {
            if v.extension {
                *t = Token::Word(v.name.into());
            }
        }
    }
}

/// Action words, for the front-end: `(index into argv, verb)`.
pub fn find_actions(argv: &[OsString]) -> Vec<(usize, &'static Verb)> {
    Words::of(argv).actions()
}

/// What the front-end reads of a command line before choosing a binary:
/// its words, tokenized once (`Words::of`).
pub struct Words(Vec<(usize, Token)>);

impl Words {
    /// `argv` (without argv[0]) as upstream's grammar splits it.
    pub fn of(argv: &[OsString]) -> Words {
        Words(tokenize(argv))
    }

    /// Action words: `(index into argv, verb)`.
    pub fn actions(&self) -> Vec<(usize, &'static Verb)> {
        self.0.iter().filter_map(|(i, t)| if let Token::Action(v) = t { Some((*i, *v)) } else { None }).collect()
    }

    /// `dkms cache status ...`: `cache` first, `status` the only action and
    /// no other plain word. Upstream reads it as `status` of a module named
    /// cache; the front-end runs it as our `cache status` (dkms-cache), which
    /// gives it back to upstream's `status` when the tree has a module named
    /// cache (dkms-cmd's driver: `cache_status`).
    pub fn is_cache_status(&self) -> bool {
        let first_is_cache = matches!(self.0.first(), Some((0, Token::Word(w))) if w == "cache");
        let words = self.0.iter().filter(|(_, t)| matches!(t, Token::Word(_))).count();
        let actions: Vec<&str> = self.actions().iter().map(|(_, v)| v.name).collect();
        first_is_cache && words == 1 && actions == ["status"]
    }

    /// The first plain word (neither option, option value nor action): where
    /// a plugin name (`dkms foo` -> `dkms-foo`) would be.
    pub fn first_word(&self) -> Option<(usize, String)> {
        self.0.iter().find_map(|(i, t)| match t {
            Token::Word(w) => Some((*i, w.to_string_lossy().into_owned())),
            _ => None,
        })
    }
}

/// Has `v` a line after its first that is not empty?
fn multi_line(v: &OsStr) -> bool {
    v.as_bytes().split(|&b| b == b'\n').skip(1).any(|l| !l.is_empty())
}

/// Parse `argv` (without argv[0]). `implicit` is the action of the binary
/// running (a `dkms-<verb>` binary). Only stores: what the result asks for
/// (`-q`, `--version`, notices, a refusal) the driver does (`early::settle`).
pub fn parse(argv: &[OsString], implicit: Option<&'static Verb>) -> Parsed {
    let mut a = Args { action: implicit, ..Default::default() };
    match parse_into(&mut a, argv, implicit) {
        Ok(()) => Parsed { args: a, refused: None },
        Err(r) => Parsed { args: a, refused: Some(r) },
    }
}

/// `parse` into `a`, up to the end of argv, `--version`/`--help`, or the
/// first word refused.
fn parse_into(a: &mut Args, argv: &[OsString], implicit: Option<&'static Verb>) -> Result<(), Refusal> {
    let mut tokens = tokenize(argv);
    demote_extension_words(&mut tokens, implicit.is_some_and(|v| !v.extension));
    // `--from` is mktree's, `--dry-run` only for the verbs that can plan:
    // to every other action they are the unknown options they are to
    // upstream (a `--dry-run` that some verb ignored would change the tree).
    let action =
        implicit.or_else(|| tokens.iter().find_map(|(_, t)| if let Token::Action(v) = t { Some(*v) } else { None }));
    for (at, t) in tokens.iter_mut() {
        let Token::Flag(f, _) = t else { continue };
        if f.verb_only && action.is_none_or(|v| !v.flags.contains(&f.id)) {
            *t = Token::Unknown(argv[*at].to_string_lossy().into_owned());
        }
    }
    for (_, t) in tokens {
        match t {
            Token::Flag(f, v) => {
                apply_flag(a, f, v)?;
                if a.special.is_some() {
                    // Upstream prints and exits here: what follows is not read.
                    return Ok(());
                }
            }
            Token::Unknown(w) => return Err(refuse(Kind::Usage, format!("Unknown option: {w}"), true)),
            // `dkms-cache status`: a sub-word of ours, not upstream's action.
            Token::Action(v) if a.action.is_some_and(|c| c.name == "cache") => a.words.push(v.name.into()),
            Token::Action(v) => {
                if a.action.is_some() {
                    return Err(refuse(Kind::SeveralActions, "Cannot specify more than one action.".into(), false));
                }
                a.action = Some(v);
            }
            Token::Word(w) if a.action.is_some_and(|v| v.name == "cache") => a.words.push(text("word", w)?),
            Token::Word(w) => classify_word(a, w)?,
        }
    }
    Ok(())
}

/// Apply an option to the arguments (its `update`), with its value read
/// as upstream's `read -r` does (the first line): paths keep their bytes,
/// every other value must be text, and a name whose second line says more
/// is refused rather than cut (`-m $'a\nb'` would act on `a`).
fn apply_flag(a: &mut Args, f: &table::Flag, v: OsString) -> Result<(), Refusal> {
    let text_value = |v: OsString| text(&format!("value of {}", f.long), read_r(&v));
    match f.update {
        Update::Switch(update) => update(a),
        Update::Path(update) => update(a, PathBuf::from(read_r(&v))),
        Update::Name(_) if multi_line(&v) => {
            let shown = v.as_bytes().escape_ascii().to_string();
            let e = Error::die(Kind::NameUnsafe, [format!("The value of {} '{shown}' is more than one line.", f.long)]);
            return Err(Refusal { error: e, usage: false });
        }
        Update::Name(update) | Update::Text(update) => update(a, text_value(v)?),
        Update::Checked(update) => update(a, text_value(v)?).map_err(|m| refuse(Kind::Usage, m, false))?,
    }
    Ok(())
}

/// Is JSON output asked for anywhere on the command line (`--json`, or
/// `--format=json` unless a later `--format=text` says otherwise)?
pub fn json_requested(argv: &[OsString]) -> bool {
    let mut json = false;
    for (_, t) in tokenize(argv) {
        match t {
            Token::Flag(f, _) if f.id == FlagId::Json => json = true,
            Token::Flag(f, v) if f.id == FlagId::Format => {
                if let Some(v @ ("json" | "text")) = read_r(&v).to_str() {
                    json = v == "json";
                }
            }
            _ => {}
        }
    }
    json
}

/// Refuse the command line with upstream's `Error!` text and status (then
/// the usage, when `usage`).
fn refuse(kind: Kind, message: String, usage: bool) -> Refusal {
    Refusal { error: Error::die(kind, [message]), usage }
}

/// Upstream's handling of a non-option, non-action word: a path (any
/// bytes), else a module/version (text).
fn classify_word(a: &mut Args, w: OsString) -> Result<(), Refusal> {
    let p = Path::new(&w);
    let bytes = w.as_bytes();
    if bytes == b"-" {
        a.stdin_targets = true;
    } else if bytes.ends_with(b"dkms.conf") && p.is_file() {
        // "${1%dkms.conf}./": the directory holding it.
        let mut dir = OsStr::from_bytes(&bytes[..bytes.len() - b"dkms.conf".len()]).to_os_string();
        dir.push("./");
        a.try_source_tree = Some(PathBuf::from(dir));
    } else if p.is_dir() && p.join("dkms.conf").is_file() {
        a.try_source_tree = Some(p.to_path_buf());
    } else if p.is_file() {
        a.archive_location = Some(p.to_path_buf());
    } else if a.module.is_empty() {
        a.parse_moduleversion(&text("module", w)?);
    } else {
        a.notice(Notice::Unhandled(w.to_string_lossy().into_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str]) -> Args {
        let argv: Vec<OsString> = words.iter().map(OsString::from).collect();
        match parse(&argv, None) {
            Parsed { args, refused: None } => args,
            Parsed { refused: Some(r), .. } => panic!("exit {}", r.error.code),
        }
    }

    #[test]
    fn grammar() {
        let a = p(&["-m", "foo/1.0", "add", "--kernelver=6.1/x86_64", "-k", " 6.2 ", "--arch", "aarch64"]);
        assert_eq!(a.action.unwrap().name, "add");
        assert_eq!((a.module.as_str(), a.module_version.as_str()), ("foo", "1.0"));
        assert_eq!(a.kernelver, vec!["6.1", "6.2"]);
        assert_eq!(a.arch, vec!["x86_64", "aarch64"]);
        let a = p(&["status", "bar/2/x"]);
        assert_eq!((a.module.as_str(), a.module_version.as_str()), ("bar", "2/x"));
        let a = p(&["--modulefoo", "m", "-v", "1", "-j"]);
        assert_eq!(a.module, "m");
        assert_eq!(a.parallel_jobs.as_deref(), Some(""));
        assert_eq!(find_actions(&["-m".into(), "add".into(), "build".into()]).len(), 1);
    }

    #[test]
    fn our_verbs_only_where_upstream_sees_no_action() {
        let a = p(&["mktree", "-m", "foo", "-v", "1", "--from", "/nonexistent"]);
        assert_eq!(a.action.unwrap().name, "mktree");
        assert_eq!(a.from.as_deref(), Some(Path::new("/nonexistent")));
        // Beside an upstream action the word is the module name it is to
        // upstream, not a second action (exit 4).
        let a = p(&["status", "mktree"]);
        assert_eq!((a.action.unwrap().name, a.module.as_str()), ("status", "mktree"));
        let a = p(&["ltdk", "add", "-v", "1"]);
        assert_eq!((a.action.unwrap().name, a.module.as_str()), ("add", "ltdk"));
        assert_eq!(find_actions(&["unmktree".into(), "remove".into()]).len(), 1);
        assert_eq!(find_actions(&["unmktree".into()])[0].1.name, "unmktree");
        // The same in a dkms-<verb> binary of upstream's.
        let argv: Vec<OsString> = ["ltdk"].iter().map(OsString::from).collect();
        let Parsed { args: a, refused: None } = parse(&argv, Some(&table::REMOVE)) else { panic!("exit") };
        assert_eq!((a.action.unwrap().name, a.module.as_str()), ("remove", "ltdk"));
    }

    #[test]
    fn from_is_unknown_to_other_actions() {
        for words in [&["add", "--from", "x"][..], &["--from=x", "mktarball"], &["--from", "x"]] {
            let argv: Vec<OsString> = words.iter().map(OsString::from).collect();
            assert_eq!(parse(&argv, None).refused.map(|r| r.error.code), Some(2), "{words:?}");
        }
        let a = p(&["--from=/x", "mktree"]);
        assert_eq!(a.from.as_deref(), Some(Path::new("/x")));
    }

    /// Parsing only stores: `-q`, `--version`, `--help` and warnings are
    /// values the driver acts on (`early::settle`), in upstream's order.
    #[test]
    fn parsing_only_stores() {
        let parse = |words: &[&str]| parse(&words.iter().map(OsString::from).collect::<Vec<_>>(), None);
        let r = parse(&["-q", "--version", "--bogus"]);
        assert!(r.refused.is_none(), "parsing stops at --version, as upstream's exit 0 does");
        assert_eq!((r.args.quiet, r.args.special), (true, Some(Special::Version)));
        let r = parse(&["--bogus", "--help"]);
        assert_eq!((r.refused.map(|r| (r.error.code, r.usage)), r.args.special), (Some((2, true)), None));
        // A warning after -q would go to /dev/null: it is not kept.
        let r = parse(&["status", "a", "b", "--no-initrd", "-q", "c", "--no-clean-kernel"]);
        assert_eq!(r.args.notices, [Notice::Unhandled("b".into()), Notice::Deprecated("--no-initrd")]);
        assert!(r.args.quiet && r.refused.is_none());
        let r = parse(&["add", "build"]);
        assert_eq!(r.refused.map(|r| (r.error.code, r.usage)), Some((4, false)));
    }
}
