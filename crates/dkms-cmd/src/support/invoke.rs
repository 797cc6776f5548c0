//! Upstream's `invoke_command`: show a description (or, with `--verbose`,
//! the command), run the command with its output logged to make.log (or
//! discarded, or shown), print a `.` every 3 s while it runs, then ` done.`
//! or `(bad exit status: N)` with the failed command.

use super::dkms::Dkms;
use dkms_cli::ui::Ui;
use dkms_state::{shell, tools};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The status `invoke_command` reports for a command stopped at its time
/// limit (timeout(1)'s), where the caller gave none.
const TIMED_OUT: i32 = 124;

/// In-process work run by `invoke_command`; it writes its output to the sink.
pub(crate) type NativeFn<'a> = Box<dyn FnOnce(&mut dyn Write) -> i32 + 'a>;

/// What to run.
pub(crate) enum Cmd<'a> {
    /// A shell command string, `eval`ed as upstream does, in `cwd`.
    Shell { cmd: String, cwd: Option<PathBuf> },
    /// The same, running make under a jobs budget (its jobserver in
    /// MAKEFLAGS, no `-j` of its own), shown as upstream shows the command
    /// it runs (`shown`: what to type to rerun it by hand).
    Make { shown: String, cmd: String, cwd: Option<PathBuf>, jobs: std::sync::Arc<dkms_state::jobs::Budget> },
    /// Work done in-process; it writes its output to the given sink.
    Native { shown: String, run: NativeFn<'a> },
    /// Third-party build code (the patch step, PRE_BUILD, make,
    /// POST_BUILD) for the module whose build/ directory is `build`: run in
    /// the build sandbox when `build_sandbox` says so (see `sandbox`).
    Confined { build: PathBuf, cmd: Box<Cmd<'a>> },
}

impl<'a> Cmd<'a> {
    fn shown(&self) -> &str {
        match self {
            Cmd::Shell { cmd, .. } => cmd,
            Cmd::Make { shown, .. } | Cmd::Native { shown, .. } => shown,
            Cmd::Confined { cmd, .. } => cmd.shown(),
        }
    }

    /// This command, confined to `build` (see `Cmd::Confined`).
    pub(crate) fn confined(self, build: &Path) -> Cmd<'a> {
        Cmd::Confined { build: build.to_path_buf(), cmd: Box::new(self) }
    }
}

/// `echo -e`: interpret backslash escapes as bash's builtin echo does.
fn echo_e(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('e') | Some('E') => out.push('\x1b'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            Some('\\') => out.push('\\'),
            Some('c') => break,
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600 % 24, secs / 60 % 60, secs % 60)
}

/// Progress dots on stdout every 3 s until dropped.
struct Dots(Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>);

impl Dots {
    fn start(ui: &Ui, on: bool) -> Self {
        if !on {
            return Dots(None);
        }
        let ui = ui.clone();
        let (tx, rx) = mpsc::channel::<()>();
        // The dots belong to the output of the thread that started them.
        let capture = dkms_state::capture::current();
        let h = std::thread::spawn(move || {
            dkms_state::capture::scoped(capture, || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(3)) {
                    ui.out(".");
                }
            })
        });
        Dots(Some((tx, h)))
    }
}

impl Drop for Dots {
    fn drop(&mut self) {
        if let Some((tx, h)) = self.0.take() {
            let _ = tx.send(());
            let _ = h.join();
        }
    }
}

impl Dkms {
    /// Shell prelude making upstream's own variables visible to `eval`ed
    /// commands (they are shell variables there, not exported).
    fn shell_prelude(&self) -> String {
        self.shell_context().iter().map(|(k, v)| format!("{k}={}\n", shell::quote(v))).collect()
    }

    fn run_cmd(&self, cmd: Cmd<'_>, sink: Sink) -> i32 {
        self.run_cmd_bounded(cmd, sink, None).unwrap_or(TIMED_OUT)
    }

    /// `run_cmd`, stopped after `limit` (only for a logged command): None.
    fn run_cmd_bounded(&self, cmd: Cmd<'_>, sink: Sink, limit: Option<Duration>) -> Option<i32> {
        let (cmd, build) = match cmd {
            Cmd::Confined { build, cmd } => (*cmd, Some(build)),
            cmd => (cmd, None),
        };
        let (cmd, cwd, jobs) = match cmd {
            Cmd::Shell { cmd, cwd } => (cmd, cwd, None),
            Cmd::Make { cmd, cwd, jobs, .. } => (cmd, cwd, Some(jobs)),
            Cmd::Confined { cmd, .. } => return self.run_cmd_bounded(*cmd, sink, limit),
            Cmd::Native { run, .. } => {
                return Some(match sink {
                    Sink::File(mut f) => run(&mut f),
                    Sink::Null => run(&mut std::io::sink()),
                    Sink::Inherit => run(&mut self.ui.writer()),
                })
            }
        };
        let script = format!("{}{}", self.shell_prelude(), cmd);
        let mut c = tools::bash(&script, &self.exports);
        if let Some(d) = cwd {
            c.current_dir(d);
        }
        let (mut c, _handoff) = match self.confined(c, build) {
            Ok(confined) => confined,
            Err(why) => {
                match sink {
                    Sink::File(mut f) => drop(f.write_all(format!("{why}\n").as_bytes())),
                    _ => self.ui.errln(&why),
                }
                return Some(126);
            }
        };
        if let Some(j) = jobs {
            j.configure(&mut c);
        }
        match sink {
            Sink::File(f) => {
                let (Ok(a), Ok(b)) = (f.try_clone(), f.try_clone()) else { return Some(1) };
                c.stdout(a).stderr(b);
                if let Some(limit) = limit {
                    return tools::status_bounded(&mut c, limit).unwrap_or(Some(127));
                }
            }
            Sink::Null => {
                c.stdout(Stdio::null()).stderr(Stdio::null());
            }
            Sink::Inherit => return Some(tools::status(&mut c).unwrap_or(127)),
        }
        Some(tools::status_with_stdio(&mut c).unwrap_or(127))
    }

    /// `invoke_command CMD DESCRIPTION [LOGFILE] [background]`; returns the
    /// command's exit status.
    pub(crate) fn invoke_command(&self, cmd: Cmd<'_>, description: &str, log: Option<&Path>, background: bool) -> i32 {
        self.invoke_command_bounded(cmd, description, log, background, None).unwrap_or(TIMED_OUT)
    }

    /// `invoke_command` stopping a logged command (and its process group)
    /// after `limit`: None then (not upstream; framework.conf's
    /// `build_timeout` for make).
    pub(crate) fn invoke_command_bounded(
        &self,
        cmd: Cmd<'_>,
        description: &str,
        log: Option<&Path>,
        background: bool,
        limit: Option<Duration>,
    ) -> Option<i32> {
        let verbose = self.ctx.verbose;
        let shown = cmd.shown().to_string();
        if verbose {
            self.ui.outln(&echo_e(&shown));
        } else {
            self.ui.out(&format!("{}...", echo_e(description)));
        }
        // On a terminal with live status lines (not upstream) the lines
        // show that the build goes on; the dots would only wrap.
        let dots = Dots::start(&self.ui, background && !verbose && !self.quiet_progress() && !self.progress_is_live());
        let status = if let Some(log) = log {
            let f = OpenOptions::new().create(true).append(true).open(log);
            match f {
                Ok(mut f) => {
                    let _ = write!(f, "\n{}\n# command: {}\n", echo_e(description), echo_e(&shown));
                    let start = Instant::now();
                    let st = match f.try_clone() {
                        Ok(c) => self.run_cmd_bounded(cmd, Sink::File(c), limit),
                        Err(_) => Some(1),
                    };
                    let code = st.map_or_else(|| "timed out".to_string(), |c| c.to_string());
                    let _ = write!(
                        f,
                        "\n# exit code: {code}\n# elapsed time: {}\n{}\n",
                        hms(start.elapsed().as_secs()),
                        "-".repeat(64)
                    );
                    match st {
                        Some(st) => st,
                        None => {
                            drop(dots);
                            self.ui.outln("(timed out)");
                            return None;
                        }
                    }
                }
                Err(_) => 1,
            }
        } else if background && !verbose {
            self.run_cmd(cmd, Sink::Null)
        } else {
            self.run_cmd(cmd, Sink::Inherit)
        };
        drop(dots);
        if status > 0 {
            self.ui.out(&format!("(bad exit status: {status})"));
            if !verbose {
                self.ui.outln(&format!("\nFailed command:\n{}", echo_e(&shown)));
            }
        } else {
            self.ui.outln(" done.");
        }
        Some(status)
    }

    /// Progress dots are suppressed for package names matching `dkms*_test`
    /// (upstream's hook for its test suite).
    fn quiet_progress(&self) -> bool {
        dkms_state::glob::matches("dkms*_test", &self.package_name)
    }
}

enum Sink {
    File(std::fs::File),
    Null,
    Inherit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_escapes_and_time() {
        assert_eq!(echo_e(r"a\nb\\c"), "a\nb\\c");
        assert_eq!(echo_e(r"x\qy"), r"x\qy");
        assert_eq!(hms(3725), "01:02:05");
    }
}
