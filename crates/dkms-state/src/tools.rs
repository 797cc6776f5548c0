//! External programs: the only place that builds `std::process::Command`
//! (`clippy.toml` forbids `Command::new` elsewhere). Children never see the
//! compiler variables upstream unsets at start (`unset CC CXX CFLAGS
//! CXXFLAGS LDFLAGS`), except a program dkms replaces itself with (`exec`).

use crate::capture::Stream;
use crate::env;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Is `tool` available (bash's `command -v`)?
pub fn available(tool: &str) -> bool {
    which::which(tool).is_ok()
}

/// A command for `program` with the build-disturbing variables removed and
/// `exports` added to its environment.
#[allow(clippy::disallowed_methods)] // the funnel itself
pub fn command(program: impl AsRef<OsStr>, exports: &[(String, String)]) -> Command {
    let mut c = Command::new(program);
    for v in env::UNSET_FOR_BUILD {
        c.env_remove(v);
    }
    for (k, v) in exports {
        c.env(k, v);
    }
    unblock_signals_in_child(&mut c);
    c
}

/// dkms takes SIGTERM, SIGINT and SIGHUP in one thread with the signals
/// blocked everywhere else (the verb driver's `signals`); a child inherits
/// the mask through fork and exec (std does not reset it), and make with
/// SIGTERM blocked would outlive the dkms that stops it. Reset it in the
/// child, between fork and exec.
// Unsafe only because `pre_exec` runs code in the forked child: what it
// runs, pthread_sigmask, is async-signal-safe and allocates nothing.
#[allow(unsafe_code)]
fn unblock_signals_in_child(c: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls sigprocmask on an empty set (no
    // allocation, no lock), which POSIX allows after fork.
    unsafe {
        c.pre_exec(|| nix::sys::signal::SigSet::empty().thread_set_mask().map_err(std::io::Error::from));
    }
}

/// Replace this process with `program` (argv[0] `argv0`), its environment
/// untouched: the `dkms` front-end handing over to `dkms-<verb>`. Returns
/// only on failure.
#[allow(clippy::disallowed_methods)] // the funnel itself
pub fn exec(program: &Path, argv0: &str, args: Vec<OsString>) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    // exec keeps the signal mask: the program starts with none blocked.
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
    let mut c = Command::new(program);
    c.arg0(argv0).args(args);
    starting(&c);
    c.exec()
}

/// `cmd` run by a wrapper program: `wrapper[0] wrapper[1..] PROGRAM ARGS`,
/// with `cmd`'s environment changes and directory (the build sandbox puts
/// `bwrap ... -- setpriv ... --` in front of a build command). Stdio and
/// other `pre_exec` hooks are not carried over: set them on the result.
#[allow(clippy::disallowed_methods)] // the funnel itself
pub fn wrapped(cmd: &Command, wrapper: &[OsString]) -> Command {
    let (first, rest) = wrapper.split_first().expect("a wrapper program");
    let mut c = Command::new(first);
    c.args(rest).arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        c.current_dir(d);
    }
    unblock_signals_in_child(&mut c);
    c
}

/// `bash -c SCRIPT` (upstream `eval`s command strings from dkms.conf).
pub fn bash(script: &str, exports: &[(String, String)]) -> Command {
    let mut c = command("bash", exports);
    c.arg("-c").arg(script);
    c
}

/// Before a child starts: flush our stdout so its output lands after what
/// we printed, and with `--debug` show it on stderr as bash's `set -x`
/// would (upstream's `--debug` traces its whole script; ours traces every
/// program it runs).
fn starting(cmd: &Command) {
    let _ = std::io::stdout().flush();
    if TRACE.load(std::sync::atomic::Ordering::Relaxed) {
        let words: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|w| shell_words::quote(&w.to_string_lossy()).into_owned())
            .collect();
        eprintln!("+ {}", words.join(" "));
    }
}

static TRACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--debug`: trace every program run (see `starting`).
pub fn set_trace(on: bool) {
    TRACE.store(on, std::sync::atomic::Ordering::Relaxed);
}

static STDOUT_TO_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// In JSON mode our stdout carries only JSON: children that would share it
/// get our stderr instead.
pub fn set_child_stdout_to_stderr(on: bool) {
    STDOUT_TO_STDERR.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Run to completion with inherited stdio (stdout redirected to stderr in
/// JSON mode); returns the exit status as a shell would report it
/// (128+signal for a killed child).
pub fn status(cmd: &mut Command) -> std::io::Result<i32> {
    let to_stderr = STDOUT_TO_STDERR.load(std::sync::atomic::Ordering::Relaxed);
    if let Some(c) = crate::capture::current() {
        return status_captured(cmd, c, if to_stderr { Stream::Stderr } else { Stream::Stdout });
    }
    if to_stderr {
        use std::os::fd::AsFd;
        cmd.stdout(std::io::stderr().as_fd().try_clone_to_owned()?);
    }
    let around = AROUND_INHERITED.get();
    if let Some((before, _)) = around {
        before();
    }
    let st = status_with_stdio(cmd);
    if let Some((_, after)) = around {
        after();
    }
    st
}

/// Called before and after a child that writes to dkms's own stdout and
/// stderr itself (not captured), so that what dkms draws on a terminal
/// (the live progress lines of dkms-cli) steps aside meanwhile.
static AROUND_INHERITED: std::sync::OnceLock<BeforeAfter> = std::sync::OnceLock::new();

/// What runs before a child, what runs after it.
type BeforeAfter = (fn(), fn());

/// Set what runs around a child that shares dkms's output (once).
pub fn around_inherited(before: fn(), after: fn()) {
    let _ = AROUND_INHERITED.set((before, after));
}

/// `status` while the output is being captured: the child's stdout and
/// stderr go through pipes into the recording, in the order they arrive.
#[allow(clippy::disallowed_methods)] // the one place children are run
fn status_captured(cmd: &mut Command, c: crate::capture::Capture, out: Stream) -> std::io::Result<i32> {
    starting(cmd);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let c2 = c.clone();
    let t = std::thread::spawn(move || stderr.map(|p| crate::capture::pump(c2, Stream::Stderr, p)));
    if let Some(p) = stdout {
        crate::capture::pump(c, out, p);
    }
    let _ = t.join();
    let st = child.wait();
    settle();
    Ok(exit_code(st?))
}

/// Run to completion with the stdio the caller set up.
#[allow(clippy::disallowed_methods)] // the one place children are run
pub fn status_with_stdio(cmd: &mut Command) -> std::io::Result<i32> {
    starting(cmd);
    let st = cmd.status();
    settle();
    Ok(exit_code(st?))
}

/// `status_with_stdio` with a time limit: the child runs in a process group
/// of its own, stopped whole (SIGTERM, then SIGKILL after 5 s) when the
/// limit passes; `None` then.
#[allow(clippy::disallowed_methods)] // the one place children are run
pub fn status_bounded(cmd: &mut Command, limit: std::time::Duration) -> std::io::Result<Option<i32>> {
    use nix::sys::signal::{killpg, Signal};
    use std::os::unix::process::CommandExt;
    starting(cmd);
    let mut child = cmd.process_group(0).spawn()?;
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let start = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait()? {
            settle();
            return Ok(Some(exit_code(st)));
        }
        if start.elapsed() >= limit {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = killpg(group, Signal::SIGTERM);
    let stopped = std::time::Instant::now();
    while child.try_wait()?.is_none() && stopped.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Whatever of the group is left (make's children outlive make).
    let _ = killpg(group, Signal::SIGKILL);
    let _ = child.wait();
    Ok(None)
}

/// Set once a terminating signal is being handled (see `settle`).
static TERMINATING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A terminating signal is being handled: the process exits from the
/// thread handling it, once its descendants are stopped.
pub fn set_terminating() {
    TERMINATING.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Called when a child returns (and before the process exits): while a
/// terminating signal is being handled, the child died of it, and this
/// thread must not go on to report that as a failure or exit first; it
/// waits for the handler's exit.
pub fn settle() {
    while TERMINATING.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::park();
    }
}

/// Stop every process descended from this one (make, the compilers it
/// runs, scripts): SIGTERM, then SIGKILL to what is left after `grace`.
/// Returns once none runs any more, so that a dkms that exits on a signal
/// never leaves a build writing into the tree the next dkms cleans.
pub fn stop_descendants(grace: std::time::Duration) {
    use nix::sys::signal::{kill, Signal};
    let signal_all = |sig: Signal| {
        let found = descendants();
        for &pid in &found {
            let _ = kill(nix::unistd::Pid::from_raw(pid as i32), sig);
        }
        !found.is_empty()
    };
    if !signal_all(Signal::SIGTERM) {
        return;
    }
    let start = std::time::Instant::now();
    while start.elapsed() < grace {
        if descendants().is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    while signal_all(Signal::SIGKILL) && start.elapsed() < grace * 2 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The live (not zombie) processes below this one, from `/proc`.
fn descendants() -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(") ") else { continue };
        let mut f = rest.split(' ');
        let (state, ppid) = (f.next(), f.next().and_then(|p| p.parse::<u32>().ok()));
        if let (Some(state), Some(ppid)) = (state, ppid) {
            if state != "Z" && state != "X" {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut found = vec![std::process::id()];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|&&(_, pp)| pp == p).map(|&(c, _)| c));
        i += 1;
    }
    found.remove(0);
    found
}

/// Run and capture stdout and stderr; stdin is closed.
#[allow(clippy::disallowed_methods)] // the one place children are run
pub fn output(cmd: &mut Command) -> std::io::Result<Output> {
    starting(cmd);
    let out = cmd.stdin(Stdio::null()).output();
    settle();
    out
}

/// Run with `input` on stdin and capture stdout (stderr is left as set).
#[allow(clippy::disallowed_methods)] // the one place children are spawned
pub fn output_with_input(cmd: &mut Command, input: &[u8]) -> std::io::Result<Output> {
    use std::io::Write;
    starting(cmd);
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(input);
    }
    let out = child.wait_with_output();
    settle();
    out
}

/// A child that runs for as long as the value lives and reads its stdin
/// until then (`systemd-inhibit ... cat`): dropping it closes the pipe and
/// waits for the child to end.
pub struct Held {
    child: std::process::Child,
}

/// Start `cmd` with a pipe on stdin and nothing on stdout or stderr; it
/// ends when the returned `Held` is dropped.
#[allow(clippy::disallowed_methods)] // the one place children are spawned
pub fn hold(cmd: &mut Command) -> std::io::Result<Held> {
    starting(cmd);
    let child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    Ok(Held { child })
}

impl Drop for Held {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Convert an exit status into the number bash would put in `$?`.
pub fn exit_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => 1,
    }
}
