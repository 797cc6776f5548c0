//! The live status lines on a real terminal: dkms runs in a detached tmux
//! pane of a fixed size; the pane is captured while the build runs (a line
//! with the module, an elapsed time and a kbuild step) and after it (no
//! status line left: the text equals the output of the same run without a
//! terminal, upstream's, apart from the number of progress dots).

use super::{added, ready, setup};
use crate::skip::skip;
use crate::support::{is_root, ours, Impl, Sandbox};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of its own (its socket in the sandbox), killed on drop.
struct Pane {
    sock: PathBuf,
}

impl Pane {
    /// Run `args` (with the tree options) in a new 150x40 pane, then print
    /// `[exit N]` and keep the pane open.
    fn start(sb: &Sandbox, args: &[&str]) -> Pane {
        Pane::open(sb, args, false, "")
    }

    /// `start`, with shell commands `prelude` run first in the pane.
    fn after(sb: &Sandbox, prelude: &str, args: &[&str]) -> Pane {
        Pane::open(sb, args, false, prelude)
    }

    /// The same, typed into an interactive shell (which outlives a Ctrl-C).
    fn shell(sb: &Sandbox, args: &[&str]) -> Pane {
        Pane::open(sb, args, true, "")
    }

    fn open(sb: &Sandbox, args: &[&str], interactive: bool, prelude: &str) -> Pane {
        let dkms = ours().display().to_string();
        let all: Vec<String> = args.iter().map(|a| a.to_string()).chain(sb.tree_args()).collect();
        let script = format!(
            "cd '{work}'\nfor v in $(env | sed -n 's/^\\(DKMS_[A-Za-z0-9_]*\\)=.*/\\1/p'); do unset \"$v\"; done\n\
             unset parallel_jobs build_sandbox modprobe_on_install post_transaction build_environment\n\
             export LC_ALL=C TMPDIR='{tmp}' DKMS_SYSCONFDIR='{sysconf}'\n{prelude}\n'{dkms}' {args}\necho \"[exit $?]\"\n",
            work = sb.work.display(),
            tmp = sb.tmp.display(),
            sysconf = sb.sysconf.display(),
            args = all.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" "),
        );
        let file = sb.root.join("pane.sh");
        sb.write(&file, &script);
        let pane = Pane { sock: sb.root.join("tmux.sock") };
        let first = match interactive {
            true => "bash --norc --noprofile".to_string(),
            false => format!("sh '{}'; exec sleep 600", file.display()),
        };
        let st = pane.tmux().args(["new-session", "-d", "-s", "t", "-x", "150", "-y", "40", &first]).status().unwrap();
        assert!(st.success(), "tmux new-session");
        if interactive {
            let line = format!("PS1='[prompt] '; clear; sh '{}'", file.display());
            let st = pane.tmux().args(["send-keys", "-t", "t", &line, "Enter"]).status().unwrap();
            assert!(st.success(), "tmux send-keys");
        }
        pane
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.sock).env("TERM", "xterm-256color");
        c
    }

    /// The pane's text, wrapped lines joined, trailing blanks dropped.
    fn text(&self) -> String {
        let out = self.tmux().args(["capture-pane", "-p", "-J", "-t", "t"]).output().unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = s.lines().map(str::trim_end).collect();
        lines.join("\n").trim_end().to_string() + "\n"
    }

    /// The first capture `ok` accepts within `secs`, else the last one.
    fn wait(&self, secs: u64, ok: impl Fn(&str) -> bool) -> Result<String, String> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let t = self.text();
            if ok(&t) {
                return Ok(t);
            }
            if Instant::now() > end {
                return Err(t);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

/// The status line of `m` in `pane`, when it shows an elapsed time and a
/// kbuild step: `m/1.0 for <k>  5s  LD [M] m.ko`.
fn status_line<'a>(pane: &'a str, m: &str, k: &str) -> Option<&'a str> {
    let prefix = format!("{m}/1.0 for {k}  ");
    pane.lines().find(|l| {
        let Some(rest) = l.strip_prefix(&prefix) else { return false };
        let mut f = rest.split("  ");
        let elapsed = f.next().unwrap_or("");
        let step = f.next().unwrap_or("");
        elapsed.ends_with('s') && elapsed.starts_with(|c: char| c.is_ascii_digit()) && step.contains(&format!(" {m}."))
    })
}

/// Text as the comparison sees it: the sandbox root as `<ROOT>`, our path
/// as `dkms`, each run of progress dots as upstream's first three.
fn normal(sb: &Sandbox, s: &str) -> String {
    let mut s = s.replace(&ours().display().to_string(), "dkms").replace(&sb.root.display().to_string(), "<ROOT>");
    while s.contains("....") {
        s = s.replace("....", "...");
    }
    s
}

/// The pane's text before the `[exit N]` line, and N.
fn finished(sb: &Sandbox, pane: &Pane, secs: u64) -> (String, String) {
    let text = pane.wait(secs, |t| t.contains("[exit ")).unwrap_or_else(|t| panic!("did not finish:\n{t}"));
    let (before, after) = text.split_once("[exit ").unwrap();
    (normal(sb, before), after.split(']').next().unwrap_or("").to_string())
}

fn tmux_ready() -> bool {
    let ok = crate::support::have("tmux");
    if !ok {
        skip("needs tmux (scripts/deps.sh installs it)");
    }
    ok
}

/// `dkms build` of a real module taking over 5 s on a terminal.
#[test]
fn live_status_line_during_a_build_then_upstreams_text() {
    let Some(k) = ready() else { return };
    if !tmux_ready() {
        return;
    }
    let (mut tty, mut plain) = (setup(&k), setup(&k));
    added(&mut tty, "progress_tty", 1, 4);
    added(&mut plain, "progress_tty", 1, 4);
    let args = ["build", "progress_tty/1.0", "-k", &k];
    let pane = Pane::start(&tty, &args);
    let during = pane
        .wait(60, |t| status_line(t, "progress_tty", &k).is_some())
        .unwrap_or_else(|t| panic!("no status line with an elapsed time and a step:\n{t}"));
    let (after, code) = finished(&tty, &pane, 120);
    let (plain_code, expected) = plain.run_combined(Impl::Ours, None, &args, true);
    assert_eq!((code.as_str(), plain_code), ("0", 0), "{after}");
    assert!(during.contains("Building module(s)..."), "{during}");
    assert_eq!(after, normal(&plain, &expected), "during the build the pane was:\n{during}");
    // And that text is upstream's: its real dkms, on a tree of its own.
    if crate::support::upstream_source().is_some() {
        let mut up = setup(&k);
        added(&mut up, "progress_tty", 1, 4);
        let (up_code, up_out) = up.run_combined(Impl::Upstream, None, &args, true);
        assert_eq!((up_code, normal(&up, &up_out)), (0, after.clone()), "upstream's dkms");
    }
    println!("during:\n{during}\nafter:\n{after}");
}

/// A parallel autoinstall of three modules: a line per running build (all
/// three at once), the finished ones' text above, upstream's text alone at
/// the end.
#[test]
fn live_status_lines_of_a_parallel_autoinstall() {
    let Some(k) = ready() else { return };
    if !tmux_ready() {
        return;
    }
    if !is_root() {
        skip("needs root (autoinstall installs)");
        return;
    }
    let (mut tty, mut plain) = (setup(&k), setup(&k));
    for sb in [&mut tty, &mut plain] {
        for m in ["progress_a", "progress_b", "progress_c"] {
            added(sb, m, 1, 4);
        }
    }
    let args = ["autoinstall", "-k", &k, "-j", "3"];
    let pane = Pane::start(&tty, &args);
    let lines =
        |t: &str| ["progress_a", "progress_b", "progress_c"].iter().filter(|m| status_line(t, m, &k).is_some()).count();
    // All three at once, each with its elapsed time and a step (for 4 s
    // every build sleeps after kbuild, its last step shown).
    let during = pane.wait(90, |t| lines(t) == 3).unwrap_or_else(|t| panic!("not three status lines at once:\n{t}"));
    let (after, code) = finished(&tty, &pane, 180);
    let (plain_code, expected) = plain.run_combined(Impl::Ours, None, &args, true);
    assert_eq!((code.as_str(), plain_code), ("0", 0), "{after}");
    assert_eq!(after, normal(&plain, &expected), "during the build the pane was:\n{during}");
    println!("during:\n{during}\nafter:\n{after}");
}

/// Ctrl-C during a build: dkms stops it and erases its status line; the
/// shell's prompt follows upstream's text (`Building module(s)...`).
#[test]
fn ctrl_c_erases_the_status_line() {
    let Some(k) = ready() else { return };
    if !tmux_ready() {
        return;
    }
    let mut sb = setup(&k);
    added(&mut sb, "progress_int", 1, 30);
    let pane = Pane::shell(&sb, &["build", "progress_int/1.0", "-k", &k]);
    let during = pane
        .wait(60, |t| status_line(t, "progress_int", &k).is_some())
        .unwrap_or_else(|t| panic!("no status line:\n{t}"));
    let st = pane.tmux().args(["send-keys", "-t", "t", "C-c"]).status().unwrap();
    assert!(st.success(), "tmux send-keys C-c");
    // The signal reaches the script's shell too: the prompt comes back.
    let after =
        pane.wait(30, |t| t.trim_end().ends_with("[prompt]")).unwrap_or_else(|t| panic!("dkms did not stop:\n{t}"));
    assert!(!after.contains("progress_int/1.0 for"), "status line left after Ctrl-C:\n{after}\nduring:\n{during}");
    assert!(after.contains("Building module(s)..."), "{after}");
}

/// Inside apt's progress bar: apt keeps the last row for its bar with a
/// scroll region (rows 1-39 of 40 here) and text scrolls above it. The
/// status line lives within the region: the bar is never overwritten nor
/// scrolled away, and the text above it ends as upstream's.
#[test]
fn works_inside_a_scroll_region_like_apts_progress_bar() {
    let Some(k) = ready() else { return };
    if !tmux_ready() {
        return;
    }
    let (mut tty, mut plain) = (setup(&k), setup(&k));
    added(&mut tty, "progress_apt", 1, 4);
    added(&mut plain, "progress_apt", 1, 4);
    // Fill the region first, so that every new line scrolls it (as in a
    // long apt run); then the bar, drawn as apt draws it.
    let bar = "Progress: [ 42%] [#######.........]";
    let prelude = format!("clear; printf '\\033[1;39r'; seq 1 50; printf '\\0337\\033[40;1H%s\\0338' '{bar}'");
    let args = ["build", "progress_apt/1.0", "-k", &k];
    let pane = Pane::after(&tty, &prelude, &args);
    let during = pane
        .wait(60, |t| status_line(t, "progress_apt", &k).is_some())
        .unwrap_or_else(|t| panic!("no status line:\n{t}"));
    assert!(during.trim_end().ends_with(bar), "the bar is gone during the build:\n{during}");
    let (after, code) = finished(&tty, &pane, 120);
    assert_eq!(code, "0", "{after}");
    let full = pane.text();
    assert!(full.trim_end().ends_with(bar) && full.matches(bar).count() == 1, "{full}");
    let (plain_code, expected) = plain.run_combined(Impl::Ours, None, &args, true);
    assert_eq!(plain_code, 0);
    let text = after.split_once("\n50\n").map_or(after.as_str(), |(_, t)| t);
    assert_eq!(text, normal(&plain, &expected), "during the build the pane was:\n{during}");
    println!("during:\n{during}\nafter:\n{full}");
}

/// A terminal that has not told its size (what apt gives maintainer
/// scripts when its own output is a pipe or a log: a pty of 0x0, here set
/// with `stty`): no status line is drawn, the dots are upstream's, and the
/// text is upstream's.
#[test]
fn no_status_line_on_a_terminal_of_unknown_size() {
    let Some(k) = ready() else { return };
    if !tmux_ready() {
        return;
    }
    let (mut tty, mut plain) = (setup(&k), setup(&k));
    added(&mut tty, "progress_nosize", 1, 4);
    added(&mut plain, "progress_nosize", 1, 4);
    let args = ["build", "progress_nosize/1.0", "-k", &k];
    let pane = Pane::after(&tty, "clear; stty rows 0 cols 0; stty size", &args);
    // Every capture until the end: never a status line; the dots go on.
    let during = pane
        .wait(120, |t| {
            assert!(!t.contains("progress_nosize/1.0 for"), "a status line on a terminal of unknown size:\n{t}");
            t.contains("[exit ") || t.contains("Building module(s)....")
        })
        .unwrap_or_else(|t| panic!("no dots:\n{t}"));
    let (after, code) = finished(&tty, &pane, 120);
    assert!(!pane.text().contains("progress_nosize/1.0 for"), "{}", pane.text());
    let (plain_code, expected) = plain.run_combined(Impl::Ours, None, &args, true);
    assert_eq!((code.as_str(), plain_code), ("0", 0), "{after}");
    let after = after.strip_prefix("0 0\n").unwrap_or_else(|| panic!("the pane's size was not 0x0:\n{after}"));
    assert_eq!(after, normal(&plain, &expected), "during the build the pane was:\n{during}");
}
