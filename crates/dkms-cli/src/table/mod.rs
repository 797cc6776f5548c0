//! The verb and flag tables: the one source of truth for parsing, `--help`,
//! the front-end's dispatch, man pages and completions. The verbs are in
//! `verbs` (signing's additions, enroll and sign, in `verbs_mok`; the
//! binary cache's in `verbs_cache`), the options in `flags` (each defined
//! once: names, docs, completion kind and its update of `Args`, the parsed
//! command line, in `args`); this file holds the types.

/// `FlagId` (every option, named for the verb tables and the parser) and
/// `FLAGS` (their definitions, in matching order) from the one list in
/// `flags`.
macro_rules! flags {
    ($($id:ident { $($field:ident: $value:expr),* $(,)? } => $update:expr;)*) => {
        /// Every option, named for the verb tables and the parser.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum FlagId {
            $($id,)*
        }

        /// Every option, in upstream's matching order.
        pub const FLAGS: &[Flag] = &[$(Flag { $($field: $value,)* ..Flag::new(FlagId::$id, $update) }),*];
    };
}

mod args;
mod flags;
mod prose;
mod verbs;
mod verbs_cache;
mod verbs_mok;
pub use args::{Args, Notice, Special};
pub use flags::{FlagId, FLAGS};
pub use prose::expand;
pub use verbs::*;
pub use verbs_cache::*;
pub use verbs_mok::*;
use FlagId::*;

use std::path::PathBuf;

/// Which lock a verb takes on the dkms tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Read-only verbs.
    Shared,
    /// Verbs that change the trees.
    Exclusive,
    /// Verbs that touch no state.
    None,
}

/// One action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verb {
    /// Upstream's action word (`kernel_postinst`).
    pub name: &'static str,
    /// The binary that implements it (`dkms-kernel-postinst`).
    pub binary: &'static str,
    /// One line for `--list-cmds` and docs.
    pub summary: &'static str,
    pub lock: LockKind,
    /// It may run `make`: a dkms started from a make recipe joins that
    /// make's jobserver.
    pub runs_make: bool,
    /// Options that matter to this verb, besides `COMMON_FLAGS`.
    pub flags: &'static [FlagId],
    /// The non-option words it takes.
    pub operands: &'static [Operand],
    /// The words it takes first to say what to do (`cache key`), each with
    /// what follows it (`Operand::SubWord` in `operands`); empty for most.
    pub sub_words: &'static [SubWord],
    /// Not in upstream dkms (its word is an action only where upstream would
    /// not read it as something else, see `args`).
    pub extension: bool,
    /// Man-page text: paragraphs separated by blank lines.
    pub description: &'static str,
}

/// The verb named by an upstream action word.
pub fn verb_by_name(name: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.name == name).copied()
}

/// The verb implemented by a binary name.
pub fn verb_by_binary(binary: &str) -> Option<&'static Verb> {
    VERBS.iter().find(|v| v.binary == binary).copied()
}

/// How an option changes the arguments, by what its value is: the parser
/// reads the value accordingly (`read -r`: its first line).
#[derive(Debug, Clone, Copy)]
pub enum Update {
    /// No value.
    Switch(fn(&mut Args)),
    /// A path: kept as the bytes given.
    Path(fn(&mut Args, PathBuf)),
    /// A module, version, kernel or arch: text, refused when a second line
    /// says more (`-m $'a\nb'` would act on `a`).
    Name(fn(&mut Args, String)),
    /// Other text.
    Text(fn(&mut Args, String)),
    /// Text the option checks: `Err` refuses it with this message (exit 2).
    Checked(fn(&mut Args, String) -> Result<(), String>),
}

/// One option, defined once in `flags`. Matching follows upstream's `case`
/// statement: `long` is a prefix when `prefix` is set (`--module*`),
/// otherwise exact; `short` is always exact (`-m`, never `-mfoo` or `-m=foo`).
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub id: FlagId,
    /// `--name`, or "" for options that only have a short name (`-v`).
    pub long: &'static str,
    pub prefix: bool,
    pub short: Option<char>,
    /// Name of the value, for options that take one.
    pub value: Option<&'static str>,
    /// What the value names, for completion (`None` without a value).
    pub kind: Option<ValueKind>,
    /// One line for `--help`-style listings and completion.
    pub help: &'static str,
    /// Paragraph for the man pages.
    pub long_help: &'static str,
    /// Not in upstream dkms.
    pub extension: bool,
    /// Accepted but not offered by completion (deprecated no-ops).
    pub deprecated: bool,
    /// Only the verbs whose table entry lists it accept it; to every other
    /// action it is the unknown option it is to upstream (a `--dry-run` that
    /// some verb ignored would change the tree).
    pub verb_only: bool,
    /// What it does to the parsed arguments.
    pub update: Update,
}

impl Flag {
    /// The fields an entry of `flags` does not set.
    const fn new(id: FlagId, update: Update) -> Flag {
        Flag {
            id,
            long: "",
            prefix: false,
            short: None,
            value: None,
            kind: None,
            help: "",
            long_help: "",
            extension: false,
            deprecated: false,
            verb_only: false,
            update,
        }
    }
}

/// The flag an option word selects, if any.
pub fn lookup(word: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| {
        let short = f.short.is_some_and(|c| word.len() == 2 && word.starts_with('-') && word.ends_with(c));
        let long = !f.long.is_empty() && if f.prefix { word.starts_with(f.long) } else { word == f.long };
        short || long
    })
}

// ---------------------------------------------------------------------------
// Documentation and completion data. Plain data read by the man-page and
// completion generator (`cargo run -p xtask -- gen`) and by the hidden
// `dkms __complete` helper the completion scripts call. Parsing ignores it:
// every binary accepts every option, as upstream does.

/// What the value of an option, or an operand, names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A module name (`dkms __complete modules`).
    Module,
    /// A version of the module named on the same line.
    Version,
    /// A kernel release (`/lib/modules/<kernel>`).
    Kernel,
    /// An architecture (`uname -m`).
    Arch,
    /// A file.
    File,
    /// A directory.
    Dir,
    /// A number.
    Number,
    /// Free text.
    Text,
    /// One of these words.
    Choice(&'static [&'static str]),
}

/// A word that is not an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// `module/version` of a module in the DKMS tree.
    ModuleVersion,
    /// `module/version` whose source is `<source_tree>/<module>-<version>/`.
    SourceModuleVersion,
    /// A directory holding a dkms.conf (or the dkms.conf file itself).
    SourceDir,
    /// A tarball made by mktarball.
    Tarball,
    /// A directory.
    Dir,
    /// One of the verb's `sub_words` and what follows it.
    SubWord,
    /// Nothing: a sub-word that stands alone (`cache gate`).
    Nothing,
}

/// A word a verb takes first to say what to do (`dkms cache key`), with
/// the operand that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubWord {
    pub word: &'static str,
    pub operand: Operand,
    /// One line for completion and docs.
    pub summary: &'static str,
}

impl Operand {
    /// Its name in a synopsis.
    pub const fn placeholder(self) -> &'static str {
        match self {
            Operand::ModuleVersion | Operand::SourceModuleVersion => "module/version",
            Operand::SourceDir => "source-dir",
            Operand::Tarball => "tarball",
            Operand::Dir => "dir",
            Operand::SubWord => "action",
            Operand::Nothing => "",
        }
    }
}

/// One alternative among a verb's operands in a synopsis: the sub-words
/// that lead it (`key|push`; empty for most verbs) and the placeholder of
/// the operand (`module/version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynopsisOperand {
    pub words: String,
    pub placeholder: &'static str,
}

impl std::fmt::Display for SynopsisOperand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.words.as_str(), self.placeholder) {
            ("", p) => f.write_str(p),
            (w, "") => f.write_str(w),
            (w, p) => write!(f, "{w} {p}"),
        }
    }
}

/// The operands of `verb` as a synopsis shows them, sub-words spelled out
/// with what follows them (`key|push module/version`, `verify|gc dir`).
pub fn operand_synopsis(verb: &Verb) -> Vec<SynopsisOperand> {
    let mut out: Vec<SynopsisOperand> = Vec::new();
    for o in verb.operands {
        if *o != Operand::SubWord {
            out.push(SynopsisOperand { words: String::new(), placeholder: o.placeholder() });
            continue;
        }
        for s in verb.sub_words {
            match out.last_mut() {
                Some(last) if !last.words.is_empty() && last.placeholder == s.operand.placeholder() => {
                    last.words = format!("{}|{}", last.words, s.word);
                }
                _ => out.push(SynopsisOperand { words: s.word.to_string(), placeholder: s.operand.placeholder() }),
            }
        }
    }
    out.dedup();
    out
}

/// Options every verb takes.
pub const COMMON_FLAGS: [FlagId; 11] =
    [Quiet, Verbose, Debug, DkmsTree, SourceTree, InstallTree, Json, Format, LockTimeout, Version, Help];

/// An option of the `dkms` front-end itself (not passed to the verb).
#[derive(Debug, Clone, Copy)]
pub struct FrontOption {
    pub long: &'static str,
    pub value: Option<&'static str>,
    pub kind: Option<ValueKind>,
    pub help: &'static str,
    pub long_help: &'static str,
}

/// `--exec-path=DIR`
pub const EXEC_PATH: FrontOption = FrontOption {
    long: "--exec-path",
    value: Some("dir"),
    kind: Some(ValueKind::Dir),
    help: "Look for dkms-<verb> binaries here first",
    long_help: "Look for the dkms-<verb> binaries in this directory first (also DKMS_EXEC_PATH); only the form \
                --exec-path=DIR is recognised. Not in upstream dkms.",
};

/// `--list-cmds`
pub const LIST_CMDS: FrontOption = FrontOption {
    long: "--list-cmds",
    value: None,
    kind: None,
    help: "List the available verbs and plugins",
    long_help: "Print the verbs whose binaries are found, then the dkms-<name> plugins on PATH, one a line, and exit. \
                Only as the sole argument. Not in upstream dkms.",
};

/// The front-end's own options.
pub const FRONT_END_OPTIONS: [FrontOption; 2] = [EXEC_PATH, LIST_CMDS];

/// The flag with this id.
pub fn flag_by_id(id: FlagId) -> &'static Flag {
    FLAGS.iter().find(|f| f.id == id).expect("every FlagId has a FLAGS entry")
}

/// Options offered for `verb`: its own, then the common ones, without
/// deprecated ones.
pub fn verb_flags(verb: &Verb) -> Vec<&'static Flag> {
    verb.flags.iter().chain(COMMON_FLAGS.iter()).map(|id| flag_by_id(*id)).collect()
}

/// Whether `-m`/`-v` of this verb name modules in the source tree (add).
pub fn modules_from_source_tree(verb: &Verb) -> bool {
    verb.operands.contains(&Operand::SourceModuleVersion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_matching_order() {
        assert_eq!(lookup("--archive=x").unwrap().id, Archive);
        assert_eq!(lookup("--arch=x86_64").unwrap().id, Arch);
        assert_eq!(lookup("--modulefoo").unwrap().id, Module);
        assert_eq!(lookup("-m").unwrap().id, Module);
        assert!(lookup("-m=foo").is_none());
        assert!(lookup("--forcex").is_none());
        assert_eq!(lookup("--force-version-override").unwrap().id, ForceVersionOverride);
        assert_eq!(lookup("-V").unwrap().id, Version);
    }

    /// No option is defined twice: every long and short name selects its
    /// own flag, and none is taken by an earlier one (a long name matched
    /// as a prefix comes after the longer names it is a prefix of).
    #[test]
    fn every_flag_is_defined_once() {
        for (i, f) in FLAGS.iter().enumerate() {
            assert_eq!(FLAGS.iter().position(|g| g.id == f.id), Some(i), "{:?} twice", f.id);
            if !f.long.is_empty() {
                assert_eq!(lookup(f.long).map(|g| g.id), Some(f.id), "{} is defined twice", f.long);
                assert_eq!(FLAGS.iter().filter(|g| g.long == f.long).count(), 1, "{} twice", f.long);
            }
            if let Some(c) = f.short {
                assert_eq!(lookup(&format!("-{c}")).map(|g| g.id), Some(f.id), "-{c} is defined twice");
                assert_eq!(FLAGS.iter().filter(|g| g.short == Some(c)).count(), 1, "-{c} twice");
            }
        }
    }

    #[test]
    fn verbs_unique() {
        for v in VERBS {
            assert_eq!(VERBS.iter().filter(|w| w.name == v.name || w.binary == v.binary).count(), 1);
            assert_eq!(v.binary, format!("dkms-{}", v.name.replace('_', "-")));
        }
    }

    #[test]
    fn docs_cover_the_tables() {
        for v in VERBS {
            assert!(!v.description.is_empty());
            for id in v.flags {
                assert!(!COMMON_FLAGS.contains(id), "{}: {id:?} is common", v.name);
                assert!(!flag_by_id(*id).deprecated, "{}: {id:?} is deprecated", v.name);
            }
        }
        for f in FLAGS {
            // What the man pages and completions need: a help line, a
            // paragraph, and the kind of a value (and a value iff the
            // update takes one).
            assert!(!f.help.is_empty() && !f.long_help.is_empty(), "{:?} is undocumented", f.id);
            assert_eq!(f.kind.is_some(), f.value.is_some(), "{:?}", f.id);
            assert_eq!(matches!(f.update, Update::Switch(_)), f.value.is_none(), "{:?}", f.id);
            assert!(!f.long.is_empty() || f.short.is_some(), "{:?} has no name", f.id);
            assert_eq!(f.extension, f.long_help.contains("Not in upstream dkms"), "{:?}", f.id);
        }
        for o in FRONT_END_OPTIONS {
            assert!(lookup(o.long).is_none(), "{} shadows a verb option", o.long);
            assert_eq!(o.kind.is_some(), o.value.is_some());
        }
    }
}
