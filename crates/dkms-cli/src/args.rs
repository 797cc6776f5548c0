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

use crate::table::{self, FlagId, Verb};
use crate::ui;
use dkms_state::error::{Error, Kind};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Everything the command line can set (upstream's globals of the same names).
#[derive(Debug, Clone, Default)]
pub struct Args {
    pub action: Option<&'static Verb>,
    pub module: String,
    pub module_version: String,
    pub kernelver: Vec<String>,
    pub arch: Vec<String>,
    pub template_kernel: String,
    pub conf: Option<PathBuf>,
    pub kernel_config: Option<PathBuf>,
    pub archive_location: Option<PathBuf>,
    pub kernel_source_dir: Option<PathBuf>,
    pub try_source_tree: Option<PathBuf>,
    pub force: bool,
    pub force_version_override: bool,
    pub binaries_only: bool,
    pub source_only: bool,
    pub all: bool,
    pub verbose: bool,
    pub rpm_safe_upgrade: bool,
    pub symlink_modules: bool,
    pub no_depmod: bool,
    pub modprobe_on_install: bool,
    pub debug: bool,
    pub quiet: bool,
    pub dkms_tree: Option<PathBuf>,
    pub source_tree: Option<PathBuf>,
    pub install_tree: Option<PathBuf>,
    pub directives: Vec<String>,
    pub parallel_jobs: Option<String>,
    pub json: bool,
    pub lock_timeout: Option<u64>,
    /// `-`: read targets as JSON Lines from stdin (not upstream).
    pub stdin_targets: bool,
    /// `--all-kernels` (autoinstall; not upstream).
    pub all_kernels: bool,
    /// `--from DIR` (mktree; not upstream).
    pub from: Option<PathBuf>,
    /// `--verify` (status; not upstream).
    pub verify: bool,
    /// `--path` (log; not upstream).
    pub path_only: bool,
    /// `--dry-run` (build, install, ...; not upstream): plan, change nothing.
    pub dry_run: bool,
    /// `--password-file FILE` (enroll; not upstream).
    pub password_file: Option<PathBuf>,
    /// `--binary-cache`, `--binary-cache-push`, `--binary-cache-certificate`
    /// (not upstream; see `ops::binary_cache`).
    pub binary_cache: Option<String>,
    pub binary_cache_push: Option<String>,
    pub binary_cache_certificate: Option<String>,
    /// `cache push --to DIR`, `cache gc --keep-kernels K...` (not upstream).
    pub cache_to: Option<PathBuf>,
    pub keep_kernels: Vec<String>,
    /// The plain words of a `cache` command line (its sub-word and
    /// operands), which are not classified as other verbs' are.
    pub words: Vec<String>,
    /// `--build-sandbox=no|yes|auto` (not upstream; framework.conf's
    /// `build_sandbox`).
    pub build_sandbox: Option<String>,
    /// `--progress=auto|lines|never` (not upstream; framework.conf's
    /// `progress`).
    pub progress: Option<String>,
}

/// Result of parsing.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Args>),
    /// Parsing already printed what was needed (`--version`, `--help`, an
    /// error, with its JSON record); exit with this status (after the
    /// `result` record in JSON mode, unless `--version` was the record).
    Exit(u8),
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
fn text(what: &str, v: OsString) -> Result<String, Parsed> {
    v.into_string().map_err(|v| {
        let shown = v.as_bytes().escape_ascii().to_string();
        let e = Error::die(Kind::NameUnsafe, [format!("The {what} '{shown}' cannot be used: it is not valid UTF-8.")]);
        ui::report(&e);
        Parsed::Exit(e.code)
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
    tokenize(argv)
        .into_iter()
        .filter_map(|(i, t)| match t {
            Token::Action(v) => Some((i, v)),
            _ => None,
        })
        .collect()
}

/// The first plain word (neither option, option value nor action): where a
/// plugin name (`dkms foo` -> `dkms-foo`) would be.
pub fn first_word(argv: &[OsString]) -> Option<(usize, String)> {
    tokenize(argv).into_iter().find_map(|(i, t)| match t {
        Token::Word(w) => Some((i, w.to_string_lossy().into_owned())),
        _ => None,
    })
}

/// `parse_moduleversion`: split at the first `/`.
fn parse_moduleversion(a: &mut Args, s: &str) {
    match s.split_once('/') {
        Some((m, v)) => {
            a.module = m.into();
            a.module_version = v.into();
        }
        None => a.module = s.into(),
    }
}

/// `parse_kernelarch`: `kver/arch` appends to both lists.
fn parse_kernelarch(a: &mut Args, s: &str) {
    match s.split_once('/') {
        Some((k, arch)) => {
            a.kernelver.push(k.into());
            a.arch.push(arch.into());
        }
        None => a.kernelver.push(s.into()),
    }
}

/// Redirect our stdout and stderr to /dev/null, as upstream's
/// `exec >/dev/null 2>&1` does for `-q` (children inherit it too). With
/// `--json` stdout carries only the records a script asked for (the human
/// text and children's output go to stderr): only stderr is silenced.
fn go_quiet() {
    ui::flush();
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        if !ui::json() {
            let _ = nix::unistd::dup2_stdout(&null);
        }
        let _ = nix::unistd::dup2_stderr(&null);
    }
}

/// Options whose value is a path: kept as the bytes given.
const PATH_FLAGS: [FlagId; 9] = [
    FlagId::Conf,
    FlagId::DkmsTree,
    FlagId::SourceTree,
    FlagId::InstallTree,
    FlagId::Config,
    FlagId::Archive,
    FlagId::KernelSourceDir,
    FlagId::From,
    FlagId::To,
];

/// Options whose value is a module, version, kernel or arch.
const NAME_FLAGS: [FlagId; 5] =
    [FlagId::Module, FlagId::ModuleVersion, FlagId::Kernelver, FlagId::Arch, FlagId::TemplateKernel];

/// Has `v` a line after its first that is not empty?
fn multi_line(v: &OsStr) -> bool {
    v.as_bytes().split(|&b| b == b'\n').skip(1).any(|l| !l.is_empty())
}

/// Options only the verbs whose table entry lists them accept.
const VERB_ONLY: [FlagId; 3] = [FlagId::From, FlagId::DryRun, FlagId::PasswordFile];

/// Parse `argv` (without argv[0]). `implicit` is the action of the binary
/// running (a `dkms-<verb>` binary); `argv0` is used in the usage text.
pub fn parse(argv: &[OsString], implicit: Option<&'static Verb>, argv0: &str) -> Parsed {
    let mut a = Args { action: implicit, ..Default::default() };
    // Known before the first error, which may come earlier in argv.
    ui::set_json(json_requested(argv));
    let mut tokens = tokenize(argv);
    demote_extension_words(&mut tokens, implicit.is_some_and(|v| !v.extension));
    // `--from` is mktree's, `--dry-run` only for the verbs that can plan:
    // to every other action they are the unknown options they are to
    // upstream (a `--dry-run` that some verb ignored would change the tree).
    let action =
        implicit.or_else(|| tokens.iter().find_map(|(_, t)| if let Token::Action(v) = t { Some(*v) } else { None }));
    for (at, t) in tokens.iter_mut() {
        let Token::Flag(f, _) = t else { continue };
        if VERB_ONLY.contains(&f.id) && action.is_none_or(|v| !v.flags.contains(&f.id)) {
            *t = Token::Unknown(argv[*at].to_string_lossy().into_owned());
        }
    }
    for (_, t) in tokens {
        match t {
            Token::Flag(f, v) => {
                if let Some(exit) = apply_flag(&mut a, f, v, argv0) {
                    return exit;
                }
            }
            Token::Unknown(w) => return refuse(Kind::Usage, format!("Unknown option: {w}"), Some(argv0)),
            Token::Action(v) => {
                if a.action.is_some() {
                    return refuse(Kind::SeveralActions, "Cannot specify more than one action.".into(), None);
                }
                a.action = Some(v);
            }
            Token::Word(w) if a.action.is_some_and(|v| v.name == "cache") => match text("word", w) {
                Ok(w) => a.words.push(w),
                Err(exit) => return exit,
            },
            Token::Word(w) => {
                if let Err(exit) = classify_word(&mut a, w) {
                    return exit;
                }
            }
        }
    }
    ui::set_json(a.json);
    Parsed::Run(Box::new(a))
}

/// An option's value as upstream reads it (`read -r`: the first line), as
/// text and as a path: paths keep their bytes, every other value must be
/// text. A name whose second line says more is refused rather than cut
/// (`-m $'a\nb'` would act on `a`).
fn flag_value(f: &table::Flag, v: OsString) -> Result<(String, PathBuf), Parsed> {
    if NAME_FLAGS.contains(&f.id) && multi_line(&v) {
        let shown = v.as_bytes().escape_ascii().to_string();
        let e = Error::die(Kind::NameUnsafe, [format!("The value of {} '{shown}' is more than one line.", f.long)]);
        ui::report(&e);
        return Err(Parsed::Exit(e.code));
    }
    let v = read_r(&v);
    let path = PathBuf::from(&v);
    if f.value.is_none() || PATH_FLAGS.contains(&f.id) {
        return Ok((String::new(), path));
    }
    Ok((text(&format!("value of {}", f.long), v)?, path))
}

/// What an option does to the arguments; `Some` ends parsing there (an
/// exit status: `--help`, `--version`, a refused value).
fn apply_flag(a: &mut Args, f: &table::Flag, v: OsString, argv0: &str) -> Option<Parsed> {
    let (v, path) = match flag_value(f, v) {
        Ok(vp) => vp,
        Err(exit) => return Some(exit),
    };
    match f.id {
        FlagId::Module => parse_moduleversion(a, &v),
        FlagId::ModuleVersion => a.module_version = v,
        FlagId::Kernelver => parse_kernelarch(a, &v),
        FlagId::TemplateKernel => a.template_kernel = v,
        FlagId::Conf => a.conf = Some(path),
        FlagId::Quiet => {
            a.quiet = true;
            go_quiet();
        }
        FlagId::Version => {
            if ui::json() {
                ui::emit(dkms_proto::Record::Version { version: crate::RELEASE_STRING.into() });
            } else {
                ui::outln(crate::RELEASE_STRING);
            }
            return Some(Parsed::Exit(0));
        }
        FlagId::NoInitrd => ui::deprecated("--no-initrd"),
        FlagId::NoCleanKernel => ui::deprecated("--no-clean-kernel"),
        FlagId::NoPrepareKernel => ui::deprecated("--no-prepare-kernel"),
        FlagId::BinariesOnly => a.binaries_only = true,
        FlagId::SourceOnly => a.source_only = true,
        FlagId::Force => a.force = true,
        FlagId::ForceVersionOverride => a.force_version_override = true,
        FlagId::All => a.all = true,
        FlagId::Verbose => a.verbose = true,
        FlagId::RpmSafeUpgrade => a.rpm_safe_upgrade = true,
        FlagId::DkmsTree => a.dkms_tree = Some(path),
        FlagId::SourceTree => a.source_tree = Some(path),
        FlagId::InstallTree => a.install_tree = Some(path),
        FlagId::SymlinkModules => a.symlink_modules = true,
        FlagId::Config => a.kernel_config = Some(path),
        FlagId::Archive => a.archive_location = Some(path),
        FlagId::Arch => a.arch.push(v),
        FlagId::KernelSourceDir => a.kernel_source_dir = Some(path),
        FlagId::Directive => a.directives.push(v),
        FlagId::NoDepmod => a.no_depmod = true,
        FlagId::ModprobeOnInstall => a.modprobe_on_install = true,
        FlagId::Debug => a.debug = true,
        FlagId::Jobs => a.parallel_jobs = Some(v),
        FlagId::Help => {
            ui::usage(argv0);
            return Some(Parsed::Exit(0));
        }
        FlagId::Json => a.json = true,
        FlagId::AllKernels => a.all_kernels = true,
        FlagId::From => a.from = Some(path),
        FlagId::Verify => a.verify = true,
        FlagId::PathOnly => a.path_only = true,
        FlagId::DryRun => a.dry_run = true,
        FlagId::PasswordFile => a.password_file = Some(v.into()),
        FlagId::BinaryCache | FlagId::Cache => a.binary_cache = Some(v),
        FlagId::BinaryCachePush => a.binary_cache_push = Some(v),
        FlagId::BinaryCacheCertificate => a.binary_cache_certificate = Some(v),
        FlagId::To => a.cache_to = Some(path),
        FlagId::KeepKernels => a.keep_kernels.extend(v.split([' ', ',']).filter(|k| !k.is_empty()).map(String::from)),
        FlagId::Format => match v.as_str() {
            "json" => a.json = true,
            "text" => a.json = false,
            other => {
                let msg = format!("Unknown output format: {other} (expected text or json)");
                return Some(refuse(Kind::Usage, msg, None));
            }
        },
        FlagId::BuildSandbox => match v.as_str() {
            "no" | "yes" | "auto" => a.build_sandbox = Some(v),
            other => {
                return Some(refuse(
                    Kind::Usage,
                    format!("Unknown --build-sandbox setting: {other} (expected no, yes or auto)"),
                    None,
                ));
            }
        },
        FlagId::Progress => match v.as_str() {
            "auto" | "lines" | "never" => a.progress = Some(v),
            other => {
                let msg = format!("Unknown --progress setting: {other} (expected auto, lines or never)");
                return Some(refuse(Kind::Usage, msg, None));
            }
        },
        FlagId::LockTimeout => match v.parse() {
            Ok(n) => a.lock_timeout = Some(n),
            Err(_) => {
                return Some(refuse(Kind::Usage, format!("--lock-timeout needs a number of seconds, not '{v}'"), None))
            }
        },
    }
    None
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

/// Refuse the command line: upstream's `Error!` text (then the usage when
/// `usage` names the program), an `error` record in JSON mode.
fn refuse(kind: Kind, message: String, usage: Option<&str>) -> Parsed {
    let e = Error::die(kind, [message]);
    ui::report(&e);
    if let Some(argv0) = usage {
        ui::usage(argv0);
    }
    Parsed::Exit(e.code)
}

/// Upstream's handling of a non-option, non-action word: a path (any
/// bytes), else a module/version (text).
fn classify_word(a: &mut Args, w: OsString) -> Result<(), Parsed> {
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
        parse_moduleversion(a, &text("module", w)?);
    } else {
        ui::warn(&[format!("I do not know how to handle {}.", w.to_string_lossy())]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(words: &[&str]) -> Args {
        let argv: Vec<OsString> = words.iter().map(OsString::from).collect();
        match parse(&argv, None, "dkms") {
            Parsed::Run(a) => *a,
            Parsed::Exit(c) => panic!("exit {c}"),
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
        let Parsed::Run(a) = parse(&argv, Some(&table::REMOVE), "dkms") else { panic!("exit") };
        assert_eq!((a.action.unwrap().name, a.module.as_str()), ("remove", "ltdk"));
    }

    #[test]
    fn from_is_unknown_to_other_actions() {
        for words in [&["add", "--from", "x"][..], &["--from=x", "mktarball"], &["--from", "x"]] {
            let argv: Vec<OsString> = words.iter().map(OsString::from).collect();
            assert!(matches!(parse(&argv, None, "dkms"), Parsed::Exit(2)), "{words:?}");
        }
        let a = p(&["--from=/x", "mktree"]);
        assert_eq!(a.from.as_deref(), Some(Path::new("/x")));
    }
}
