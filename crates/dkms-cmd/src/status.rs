//! `dkms status` (`show_status`, `do_status`, `module_status_built_extra`
//! upstream): one line per module/version or per built kernel, with the
//! suffixes that need the module's dkms.conf. The confs of one query are
//! read by a single bash process, never one per line.

use crate::common::{compressed_or_uncompressed, Dkms};
use dkms_cli::table::{Verb, VERBS};
use dkms_cli::ui;
use dkms_proto::{Record, State as ProtoState};
use dkms_state::conf::{self, Conf};
use dkms_state::error::Result;
use dkms_state::status::{self, Entry, State};
use dkms_state::trees;

/// The table entry.
pub const VERB: &Verb = &VERBS[10];

fn opt(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// `dkms status`: always exits 0, even for broken modules.
pub fn run(d: &mut Dkms) -> Result<()> {
    let (m, v) = (d.ctx.args.module.clone(), d.ctx.args.module_version.clone());
    let mut queries: Vec<(String, String)> = Vec::new();
    if d.ctx.kernelver.is_empty() {
        // `$kernelver` is empty, `$arch` is ${arch[0]} (possibly from -a).
        queries.push((String::new(), d.ctx.arch.first().cloned().unwrap_or_default()));
    } else {
        for (i, k) in d.ctx.kernelver.iter().enumerate() {
            queries.push((k.clone(), d.ctx.arch.get(i).cloned().unwrap_or_default()));
        }
    }
    for (k, a) in &queries {
        // In JSON mode the records are the output; no text on either stream.
        do_status(d, &m, &v, k, a, !ui::json(), true);
    }
    Ok(())
}

/// `do_status M V K A` as a list of lines (what `$(do_status ...)` captures);
/// the errors of broken modules go to stderr as they are found.
pub fn status_lines(d: &Dkms, m: &str, v: &str, k: &str, a: &str) -> Vec<String> {
    do_status(d, m, v, k, a, false, false)
}

/// Read, in one bash process, the conf of every built/installed entry.
/// Upstream re-reads the conf for each line (in a subshell), so whatever
/// the read prints — the conf's own stderr, `DIRECTIVE:` lines, validation
/// messages — appears in the middle of that line; the reads are batched
/// here with each conf's stderr captured, and replayed per line.
/// `None` for entries without a kernel or without a readable conf.
fn read_confs(d: &Dkms, entries: &[Entry]) -> Vec<Option<conf::Read>> {
    let mut specs = Vec::new();
    let mut slots = Vec::new();
    for e in entries {
        let file = d.ctx.trees.source_link(&e.module, &e.version).join("dkms.conf");
        match (&e.kernel, &e.arch) {
            (Some(k), Some(a)) if nix::unistd::access(&file, nix::unistd::AccessFlags::R_OK).is_ok() => {
                let mut spec = d.conf_spec(&e.module, &e.version, k, a, file, false);
                spec.capture_stderr = true;
                slots.push(Some(specs.len()));
                specs.push(spec);
            }
            _ => slots.push(None),
        }
    }
    let mut reads: Vec<Option<conf::Read>> =
        conf::read_many(&specs).unwrap_or_default().into_iter().map(Some).collect();
    slots.into_iter().map(|i| i.and_then(|i| reads.get_mut(i).and_then(Option::take))).collect()
}

/// The lines for one query; with `print`, each line is written as it is
/// formed (so stderr lands mid-line as upstream's does), else collected.
fn do_status(d: &Dkms, m: &str, v: &str, k: &str, a: &str, print: bool, records: bool) -> Vec<String> {
    let entries = status::module_status(&d.ctx.trees, opt(m), opt(v), opt(k), opt(a));
    let confs = read_confs(d, &entries);
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
                    ui::outln(&line);
                } else {
                    lines.push(line);
                }
                ui::error(&[
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
                    ui::out(&head);
                }
                let suffix = match c {
                    Some(r) => {
                        ui::err(&String::from_utf8_lossy(&r.stderr));
                        for diag in &r.diags {
                            if diag.stderr {
                                ui::errln(&diag.text);
                            } else if print {
                                ui::outln(&diag.text);
                            }
                        }
                        let x = built_extra(d, m, v, k, a, &r.conf);
                        if records {
                            ui::emit(Record::Status {
                                target: ui::target(m, v, Some(k), Some(a)),
                                state: if st == State::Installed { ProtoState::Installed } else { ProtoState::Built },
                                original_modules_exist: Some(x.original_modules_exist),
                                built_modules_missing: Some(x.built_modules_missing),
                                differs_from_installed: Some(x.differs_from_installed),
                                source: d.ctx.trees.source_dir(m, v).display().to_string(),
                                built_modules: d.built_modules(m, v, k, a),
                                installed_modules: x.installed.clone(),
                            });
                        }
                        x.suffix()
                    }
                    None => {
                        if records {
                            ui::emit(Record::Status {
                                target: ui::target(m, v, Some(k), Some(a)),
                                state: if st == State::Installed { ProtoState::Installed } else { ProtoState::Built },
                                original_modules_exist: None,
                                built_modules_missing: None,
                                differs_from_installed: None,
                                source: d.ctx.trees.source_dir(m, v).display().to_string(),
                                built_modules: d.built_modules(m, v, k, a),
                                installed_modules: Vec::new(),
                            });
                        }
                        let file = d.ctx.trees.source_link(m, v).join("dkms.conf");
                        ui::error(&[
                            "Could not locate dkms.conf file.".to_string(),
                            format!("File: {} does not exist.", file.display()),
                        ]);
                        String::new()
                    }
                };
                if print {
                    ui::outln(&suffix);
                    continue;
                }
                format!("{head}{suffix}")
            }
            _ => continue,
        };
        if print {
            ui::outln(&line);
        } else {
            lines.push(line);
        }
    }
    lines
}

/// The JSON record of an added or broken module/version.
fn emit_plain(d: &Dkms, e: &Entry, state: ProtoState) {
    ui::emit(Record::Status {
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
fn built_extra(d: &Dkms, m: &str, v: &str, k: &str, a: &str, c: &Conf) -> Extra {
    let t = &d.ctx.trees;
    let mut x = Extra { original_modules_exist: t.original_module_dir(m, k, a).is_dir(), ..Default::default() };
    let suffix = d.module_suffix(k);
    let active = status::is_active(t, m, v, k, a);
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
            let loc = d.find_actual_dest_module_location(m, c, i, k, a).unwrap_or_default();
            let dir = trees::cat(&t.install_tree, &format!("{k}{loc}"));
            let installed = compressed_or_uncompressed(&dir, name, suffix);
            let same = installed
                .as_ref()
                .and_then(|inst| Some(std::fs::read(&tree_mod).ok()? == std::fs::read(inst).ok()?))
                .unwrap_or(false);
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
