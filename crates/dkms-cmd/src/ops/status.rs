//! `dkms status` (`show_status`, `do_status`, `module_status_built_extra`
//! upstream): one line per module/version or per built kernel, with the
//! suffixes that need the module's dkms.conf. The confs of one query are
//! read by a single bash process, never one per line.

use crate::support::dkms::{Dkms, Target};
use crate::support::modfiles::compressed_or_uncompressed;
use dkms_cli::ui;
use dkms_proto::{Record, State as ProtoState, VerifyProblem};
use dkms_state::conf::{self, Conf};
use dkms_state::status::{self, Entry, State};
use dkms_state::{trees, untrusted};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// `do_status M V K A` as a list of lines (what `$(do_status ...)` captures);
/// the errors of broken modules go to stderr as they are found. `globals`:
/// see `Show::globals`.
pub(crate) fn status_lines(d: &Dkms, globals: (&str, &str), x: Target) -> Vec<String> {
    do_status(d, x, Show { print: false, records: false, verify: None, globals })
}

/// How `do_status` shows what it finds.
pub(crate) struct Show<'a> {
    /// Write each line as it is formed (else collect the lines).
    pub(crate) print: bool,
    /// Emit JSON records (in JSON mode).
    pub(crate) records: bool,
    /// `--verify`: check installed builds, print and record their problems,
    /// count the builds that fail in the verifier.
    pub(crate) verify: Option<&'a mut super::verify::Verifier>,
    /// Upstream's globals `$module`, `$module_version`: what the command
    /// line gave (often nothing), which `read_conf` names the /etc/dkms
    /// overrides by and sets for the conf.
    pub(crate) globals: (&'a str, &'a str),
}

/// Read, in one bash process, the conf of every built/installed entry.
/// Upstream re-reads the conf for each line (in a subshell), so whatever
/// the read prints — the conf's own stderr, `DIRECTIVE:` lines, validation
/// messages — appears in the middle of that line; the reads are batched
/// here with each conf's stderr captured, and replayed per line; results
/// are cached in the dkms tree (`dkms_state::shell::memo`).
/// `None` for entries without a kernel or without a readable conf.
fn read_confs(d: &Dkms, globals: (&str, &str), entries: &[Entry]) -> Vec<Option<conf::Read>> {
    let mut specs = Vec::new();
    let mut slots = Vec::new();
    // `read_conf` names the /etc/dkms overrides (and sets `$module`,
    // `$module_version` for the conf) from the globals, i.e. what the
    // command line gave (often nothing), not from the line being shown.
    let (gm, gv) = globals;
    for e in entries {
        let file = d.ctx.trees.source_link(&e.module, &e.version).join("dkms.conf");
        match (&e.kernel, &e.arch) {
            (Some(k), Some(a)) if nix::unistd::access(&file, nix::unistd::AccessFlags::R_OK).is_ok() => {
                let mut spec = d.conf_spec(Target::new(gm, gv, k, a), file, false);
                spec.capture_stderr = true;
                slots.push(Some(specs.len()));
                specs.push(spec);
            }
            _ => slots.push(None),
        }
    }
    // Evaluations are cached in the tree (dkms_state::shell::memo): a warm
    // status starts no bash at all.
    let cache = dkms_state::shell::memo::dir(&d.ctx.trees.dkms_tree);
    let mut reads: Vec<Option<conf::Read>> =
        conf::read_many_cached(&specs, &cache).unwrap_or_default().into_iter().map(Some).collect();
    slots.into_iter().map(|i| i.and_then(|i| reads.get_mut(i).and_then(Option::take))).collect()
}

/// The part of a built or installed entry's line after its state, from its
/// conf `c` (its stderr and diagnostics shown where upstream shows them),
/// with the entry's JSON record; `suffixes` keeps `set_module_suffix` per
/// kernel. With `--verify`, an installed build's problems too.
fn built_suffix(
    d: &Dkms,
    e: &Entry,
    (k, a, st): (&str, &str, State),
    c: Option<conf::Read>,
    show: &mut Show,
    suffixes: &mut HashMap<String, &'static str>,
) -> (String, Option<Vec<VerifyProblem>>) {
    let (print, records) = (show.print, show.records);
    let (m, v) = (e.module.as_str(), e.version.as_str());
    let installed = st == State::Installed;
    let record = |x: Option<&Extra>| Record::Status {
        target: ui::target(m, v, Some(k), Some(a)),
        state: if installed { ProtoState::Installed } else { ProtoState::Built },
        original_modules_exist: x.map(|x| x.original_modules_exist),
        built_modules_missing: x.map(|x| x.built_modules_missing),
        differs_from_installed: x.map(|x| x.differs_from_installed),
        source: d.ctx.trees.source_dir(m, v).display().to_string(),
        built_modules: d.built_modules(Target::new(m, v, k, a)),
        installed_modules: x.map(|x| x.installed.clone()).unwrap_or_default(),
    };
    let Some(r) = c else {
        if records {
            d.ui.emit(record(None));
        }
        let file = d.ctx.trees.source_link(m, v).join("dkms.conf");
        d.ui.error(&[
            "Could not locate dkms.conf file.".to_string(),
            format!("File: {} does not exist.", file.display()),
        ]);
        return (String::new(), None);
    };
    d.ui.err(&String::from_utf8_lossy(&r.stderr));
    for diag in &r.diags {
        if diag.stderr {
            d.ui.errln(&diag.text);
        } else if print {
            d.ui.outln(&diag.text);
        }
    }
    let suffix = *suffixes.entry(k.to_string()).or_insert_with(|| d.module_suffix(k));
    let x = built_extra(d, Target::new(m, v, k, a), &r.conf, suffix, installed);
    let problems = match (show.verify.as_deref_mut(), installed) {
        (Some(ver), true) => Some(ver.check(d, Target::new(m, v, k, a), &r.conf, suffix)),
        _ => None,
    };
    if records {
        d.ui.emit(record(Some(&x)));
    }
    (x.suffix(), problems)
}

/// The lines for one query; with `print`, each line is written as it is
/// formed (so stderr lands mid-line as upstream's does), else collected.
pub(crate) fn do_status(d: &Dkms, q: Target, show: Show) -> Vec<String> {
    let Target { m, v, k, a } = q;
    let mut show = show;
    // Records are only written in JSON mode; building them lists directories.
    show.records = show.records && d.ui.json();
    let (print, records) = (show.print, show.records);
    let entries = status::module_status(&d.ctx.trees, opt(m), opt(v), opt(k), opt(a));
    let confs = read_confs(d, show.globals, &entries);
    // `set_module_suffix` walks the kernel's whole module tree; the tree
    // does not change during a status run, so it is walked once per kernel.
    let mut suffixes: HashMap<String, &'static str> = HashMap::new();
    let mut lines = Vec::new();
    for (e, c) in entries.iter().zip(confs) {
        let (m, v) = (&e.module, &e.version);
        let line = match (e.state, &e.kernel, &e.arch) {
            (State::Broken, ..) => {
                if records {
                    emit_plain(d, e, ProtoState::Broken);
                }
                // Upstream's `do_status` echoes this line before the error.
                let line = format!("{m}/{v}: broken");
                if print {
                    d.ui.outln(&line);
                } else {
                    lines.push(line);
                }
                d.ui.error(&[
                    format!("{m}/{v}: Missing the module source directory or the symbolic link pointing to it."),
                    "Manual intervention is required!".into(),
                ]);
                continue;
            }
            (State::Added, ..) => {
                if records {
                    emit_plain(d, e, ProtoState::Added);
                }
                format!("{m}/{v}: added")
            }
            (st, Some(k), Some(a)) => {
                let head = format!("{m}/{v}, {k}, {a}: {}", st.as_str());
                if print {
                    d.ui.out(&head);
                }
                let (suffix, problems) = built_suffix(d, e, (k, a, st), c, &mut show, &mut suffixes);
                if print {
                    d.ui.outln(&suffix);
                } else {
                    lines.push(format!("{head}{suffix}"));
                }
                if let (Some(ver), Some(p)) = (show.verify.as_deref_mut(), problems) {
                    ver.report(&d.ui, Target::new(m, v, k, a), p, print, records);
                }
                continue;
            }
            _ => continue,
        };
        if print {
            d.ui.outln(&line);
        } else {
            lines.push(line);
        }
    }
    lines
}

/// The JSON record of an added or broken module/version.
fn emit_plain(d: &Dkms, e: &Entry, state: ProtoState) {
    d.ui.emit(Record::Status {
        target: ui::target(&e.module, &e.version, None, None),
        state,
        original_modules_exist: None,
        built_modules_missing: None,
        differs_from_installed: None,
        source: d.ctx.trees.source_dir(&e.module, &e.version).display().to_string(),
        built_modules: Vec::new(),
        installed_modules: Vec::new(),
    });
}

/// `module_status_built_extra`'s findings.
#[derive(Debug, Default)]
struct Extra {
    original_modules_exist: bool,
    built_modules_missing: bool,
    differs_from_installed: bool,
    installed: Vec<String>,
}

impl Extra {
    /// The parenthesised notes upstream prints.
    fn suffix(&self) -> String {
        let mut s = String::new();
        if self.original_modules_exist {
            s.push_str(" (Original modules exist)");
        }
        if self.built_modules_missing {
            s.push_str(" (Built modules are missing in the kernel modules folder)");
        } else if self.differs_from_installed {
            s.push_str(" (Differences between built and installed modules)");
        }
        s
    }
}

/// `module_status_built_extra`: checks per module in record order, the first
/// missing or differing module ending the loop, as upstream's does.
/// `active` is `_is_module_installed` for the build, already worked out by
/// `module_status_built` (the tree does not change under the shared lock).
fn built_extra(d: &Dkms, target: Target, c: &Conf, suffix: &str, active: bool) -> Extra {
    let Target { m, v, k, a } = target;
    let t = &d.ctx.trees;
    let mut x = Extra { original_modules_exist: t.original_module_dir(m, k, a).is_dir(), ..Default::default() };
    for i in 0..c.num_modules() {
        if !c.module_buildable(i, k, a) {
            continue;
        }
        let name = &c.modules[i].dest_module_name;
        let Some(tree_mod) = compressed_or_uncompressed(&t.arch_dir(m, v, k, a).join("module"), name, suffix) else {
            x.built_modules_missing = true;
            break;
        };
        if active {
            let loc = d.find_actual_dest_module_location(m, c, i, k, a, suffix).unwrap_or_default();
            let dir = trees::cat(&t.install_tree, &format!("{k}{loc}"));
            let installed = compressed_or_uncompressed(&dir, name, suffix);
            let same = installed.as_ref().is_some_and(|inst| same_contents(&tree_mod, inst));
            if let Some(p) = installed {
                x.installed.push(p.display().to_string());
            }
            if !same {
                x.differs_from_installed = true;
                break;
            }
        }
    }
    x
}

/// `diff -q A B` succeeds: two readable regular files (or links to them)
/// with the same bytes. Sizes are compared first, the bytes only when the
/// sizes match, in blocks. Neither is opened unless both are regular files
/// (a FIFO would make diff, and us, wait for a writer).
fn same_contents(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else { return false };
    if !ma.is_file() || !mb.is_file() || ma.len() != mb.len() {
        return false;
    }
    if ma.dev() == mb.dev() && ma.ino() == mb.ino() {
        // The same file: diff only needs to be able to open it.
        return untrusted::open_regular(a, untrusted::Links::Follow).is_ok();
    }
    untrusted::same_contents(a, b)
}

fn opt(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}
