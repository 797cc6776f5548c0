//! `dkms status` (`show_status`, `do_status`, `module_status_built_extra`
//! upstream): one line per module/version or per built kernel, with the
//! suffixes that need the module's dkms.conf, read for each line as it is
//! printed so that whatever reading it prints lands where upstream's does.

use crate::common::{compressed_or_uncompressed, Dkms};
use dkms_cli::table::{Verb, VERBS};
use dkms_cli::ui;
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
    let mut entries: Vec<Entry> = Vec::new();
    for (k, a) in &queries {
        entries.extend(status::module_status(&d.ctx.trees, opt(&m), opt(&v), opt(k), opt(a)));
    }
    for e in &entries {
        print_entry(d, e);
    }
    Ok(())
}

/// Read the conf of a built/installed entry the way upstream's
/// `module_status_built_extra` does: afresh for every line (it runs in a
/// subshell, so nothing is cached), after the line's head is printed, with
/// the conf's own stderr, the `DIRECTIVE:` lines and the validation messages
/// appearing right there. `None` when the conf is missing (reported) or
/// cannot be evaluated.
fn read_entry_conf(d: &Dkms, m: &str, v: &str, k: &str, a: &str) -> Option<Conf> {
    let file = d.ctx.trees.source_link(m, v).join("dkms.conf");
    if nix::unistd::access(&file, nix::unistd::AccessFlags::R_OK).is_err() {
        ui::error(&[
            "Could not locate dkms.conf file.".to_string(),
            format!("File: {} does not exist.", file.display()),
        ]);
        return None;
    }
    let r = conf::read(&d.conf_spec(m, v, k, a, file, false)).ok()?;
    for diag in &r.diags {
        if diag.stderr {
            ui::errln(&diag.text);
        } else {
            ui::outln(&diag.text);
        }
    }
    // A conf that fails validation still leaves upstream with whatever it
    // read, and the suffix loop runs over that.
    Some(r.conf)
}

fn print_entry(d: &Dkms, e: &Entry) {
    let (m, v) = (&e.module, &e.version);
    match (e.state, &e.kernel, &e.arch) {
        (State::Broken, ..) => {
            ui::outln(&format!("{m}/{v}: broken"));
            ui::error(&[
                format!("{m}/{v}: Missing the module source directory or the symbolic link pointing to it."),
                "Manual intervention is required!".into(),
            ]);
        }
        (State::Added, ..) => ui::outln(&format!("{m}/{v}: added")),
        (st, Some(k), Some(a)) => {
            // `echo -n` the head, then whatever reading the conf prints, then
            // the suffix and the newline.
            ui::out(&format!("{m}/{v}, {k}, {a}: {}", st.as_str()));
            let suffix = read_entry_conf(d, m, v, k, a).map(|c| built_extra(d, m, v, k, a, &c)).unwrap_or_default();
            ui::outln(&suffix);
        }
        _ => {}
    }
}

/// `module_status_built_extra`: the parenthesised notes.
fn built_extra(d: &Dkms, m: &str, v: &str, k: &str, a: &str, c: &Conf) -> String {
    let t = &d.ctx.trees;
    let mut s = String::new();
    if t.original_module_dir(m, k, a).is_dir() {
        s.push_str(" (Original modules exist)");
    }
    let suffix = d.module_suffix(k);
    for i in 0..c.num_modules() {
        if !c.module_buildable(i, k, a) {
            continue;
        }
        let name = &c.modules[i].dest_module_name;
        let Some(tree_mod) = compressed_or_uncompressed(&t.arch_dir(m, v, k, a).join("module"), name, suffix) else {
            s.push_str(" (Built modules are missing in the kernel modules folder)");
            break;
        };
        if status::is_active(t, m, v, k, a) {
            let loc = d.find_actual_dest_module_location(m, c, i, k, a).unwrap_or_default();
            let dir = trees::cat(&t.install_tree, &format!("{k}{loc}"));
            let same = compressed_or_uncompressed(&dir, name, suffix)
                .and_then(|inst| Some(std::fs::read(&tree_mod).ok()? == std::fs::read(inst).ok()?))
                .unwrap_or(false);
            if !same {
                s.push_str(" (Differences between built and installed modules)");
                break;
            }
        }
    }
    s
}
