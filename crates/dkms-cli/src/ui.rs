//! Output: upstream's text, byte for byte, with stdout flushed before every
//! stderr write and before children run, so interleaved output keeps
//! upstream's order. In JSON mode stdout carries only JSON Lines and the
//! human text moves to stderr. Also the one error reporter. Output of work
//! running under a `dkms_state::capture` is recorded instead, and `replay`ed
//! where the serial run would have printed it.

use dkms_proto::{Counts, Envelope, Record, SkipReason, Target};
use dkms_state::capture::{self, Chunks, Stream};
use dkms_state::error::{Error, Kind, Style};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static JSON: AtomicBool = AtomicBool::new(false);
static MUTED: AtomicBool = AtomicBool::new(false);
/// The last record (`result`, or `version`) has been written.
static FINISHED: AtomicBool = AtomicBool::new(false);

/// Silence all human output (used while replaying a journal in recovery,
/// whose steps would otherwise repeat their messages).
pub fn set_muted(on: bool) {
    MUTED.store(on, Ordering::Relaxed);
}

fn muted() -> bool {
    MUTED.load(Ordering::Relaxed)
}

/// Switch stdout to JSON Lines (human text goes to stderr).
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
    dkms_state::tools::set_child_stdout_to_stderr(on);
}

/// Is JSON mode on?
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

fn write_out(s: &str) {
    if muted() {
        return;
    }
    if json() {
        write_stream(Stream::Stderr, s.as_bytes());
    } else {
        write_stream(Stream::Stdout, s.as_bytes());
    }
}

/// Write to one stream (recorded when a capture is active): stdout is
/// flushed at once, and before anything goes to stderr.
fn write_stream(stream: Stream, b: &[u8]) {
    if capture::write(stream, b) || crate::live::write(stream, b) {
        return;
    }
    crate::live::track(b);
    crate::live::put(stream, b);
}

/// A heartbeat line on stderr (`--progress=lines`, not upstream), written
/// at once (never captured: it is about now), on a line of its own when
/// stdout is the same file and ends mid-line (upstream's dots).
pub fn heartbeat(s: &str) {
    if muted() {
        return;
    }
    let nl = if crate::live::mid_line() && stdout_is_stderr() { "\n" } else { "" };
    write_stream(Stream::Stderr, format!("{nl}{s}\n").as_bytes());
}

/// Do stdout and stderr go to the same file (`>log 2>&1`)?
fn stdout_is_stderr() -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata("/proc/self/fd/1"), std::fs::metadata("/proc/self/fd/2")) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Print what a capture recorded, in its order, to the streams it was for.
pub fn replay(chunks: Chunks) {
    for (stream, b) in chunks {
        write_stream(stream, &b);
    }
}

/// `echo -n` as an `io::Write`, for in-process commands whose output is
/// shown (it follows JSON mode and captures like `out`).
pub struct OutWriter;

impl Write for OutWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !muted() {
            write_stream(if json() { Stream::Stderr } else { Stream::Stdout }, buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `echo -n TEXT`
pub fn out(s: &str) {
    write_out(s);
}

/// `echo TEXT`
pub fn outln(s: &str) {
    write_out(&format!("{s}\n"));
}

/// Write to stderr (after flushing stdout).
pub fn err(s: &str) {
    if muted() {
        return;
    }
    write_stream(Stream::Stderr, s.as_bytes());
}

/// `echo TEXT >&2`
pub fn errln(s: &str) {
    err(&format!("{s}\n"));
}

fn block(prefix: &str, lines: &[String]) -> String {
    let mut s = String::from(prefix);
    if lines.is_empty() {
        s.push('\n');
    }
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// Upstream's `error`: an empty line, `Error! ` and the lines, on stderr.
pub fn error<S: AsRef<str>>(lines: &[S]) {
    let lines: Vec<String> = lines.iter().map(|l| l.as_ref().to_string()).collect();
    err(&block("\nError! ", &lines));
}

/// Upstream's `warn`: `Warning: ` and the lines, on stderr.
pub fn warn<S: AsRef<str>>(lines: &[S]) {
    let lines: Vec<String> = lines.iter().map(|l| l.as_ref().to_string()).collect();
    err(&block("Warning: ", &lines));
}

/// Upstream's `deprecated`.
pub fn deprecated(what: &str) {
    errln(&format!("Deprecated feature: {what}"));
}

/// Print an error the way upstream's `die`/`diewarn` would, plus a JSON
/// `error` record in JSON mode (a BUILD_EXCLUSIVE exclusion, exit 77, is a
/// `skipped` record there). No target is named: an error before any module
/// is known (`report_for` names one).
pub fn report(e: &Error) {
    report_for(e, None);
}

/// `report`, the record naming `target` (what the run was working on: the
/// caller knows it, nothing process-wide does); a target without a module
/// names nothing.
pub fn report_for(e: &Error, target: Option<&Target>) {
    match e.style {
        Style::Error => error(&e.lines),
        Style::Warning => warn(&e.lines),
        Style::Silent | Style::Reported => {}
    }
    // Hints go to people at a terminal; logs and scripts keep upstream's
    // exact text (and get the hint in JSON).
    if let (Some(h), Style::Error | Style::Warning) = (&e.hint, e.style) {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            errln(&format!("Hint: {h}"));
        }
    }
    if !json() || e.style == Style::Reported {
        return;
    }
    let t = target.filter(|t| !t.module.is_empty()).cloned();
    if e.kind == Kind::BuildExclusive {
        if let Some(target) = t {
            emit(Record::Skipped { target, reason: SkipReason::BuildExclusive });
            return;
        }
    }
    emit(Record::Error {
        kind: e.kind.name().to_string(),
        exit_code: e.code,
        message: e.lines.join("\n"),
        hint: e.hint.clone(),
        module: t.as_ref().map(|t| t.module.clone()),
        version: t.as_ref().map(|t| t.version.clone()),
        kernel: t.as_ref().and_then(|t| t.kernel.clone()),
        arch: t.as_ref().and_then(|t| t.arch.clone()),
    });
}

static COUNTS: Mutex<Option<Counts>> = Mutex::new(None);
/// A target for records.
pub fn target(module: &str, version: &str, kernel: Option<&str>, arch: Option<&str>) -> Target {
    Target {
        module: module.into(),
        version: version.into(),
        kernel: kernel.map(String::from),
        arch: arch.map(String::from),
    }
}

/// Emit a record (JSON mode only) and count it for the final `result`.
pub fn emit(rec: Record) {
    if !json() {
        return;
    }
    {
        let mut c = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let c = c.get_or_insert_with(Counts::default);
        match &rec {
            Record::Status { .. } => c.status += 1,
            Record::Added { .. } => c.added += 1,
            Record::Built { .. } => c.built += 1,
            Record::Installed { .. } => c.installed += 1,
            Record::Uninstalled { .. } => c.uninstalled += 1,
            Record::Unbuilt { .. } => c.unbuilt += 1,
            Record::Removed { .. } => c.removed += 1,
            Record::Skipped { .. } => c.skipped += 1,
            Record::Error { .. } => c.errors += 1,
            Record::Planned { .. } => c.planned += 1,
            _ => {}
        }
    }
    // `--version`'s record is a run's only one: no `result` follows.
    if matches!(rec, Record::Version { .. }) {
        FINISHED.store(true, Ordering::Relaxed);
    }
    line(&serde_json::to_string(&Envelope::new(rec)).unwrap_or_default());
}

/// Pass a line through unchanged (an `error` record read from stdin).
pub fn passthrough(raw: &str) {
    if json() {
        line(raw);
    }
}

fn line(s: &str) {
    write_stream(Stream::Stdout, format!("{s}\n").as_bytes());
}

/// The final `result` record (once: every exit path may call this).
pub fn emit_result(exit_code: u8) {
    if !json() || FINISHED.swap(true, Ordering::Relaxed) {
        return;
    }
    let counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default();
    line(&serde_json::to_string(&Envelope::new(Record::Result { exit_code, counts })).unwrap_or_default());
}

/// Flush stdout (before spawning a child that shares it).
pub fn flush() {
    let _ = std::io::stdout().flush();
}

/// `show_usage`, with `$0` as the program was invoked.
pub fn usage(argv0: &str) {
    outln(&format!(
        "Usage: {argv0} [action] [options]
  [action]  = {{ add | remove | build | unbuild | install | uninstall | match |
               autoinstall | mktarball | ldtarball | status | generate_mok |
               kernel_preinst | kernel_postinst | kernel_prerm }}
  [options] = [-m module] [-v module-version] [-k kernel-version] [-a arch]
              [-c dkms.conf-location] [-q] [--force] [--force-version-override] [--all]
              [--templatekernel=kernel] [--directive='cli-directive=cli-value']
              [--config=kernel-include/config/auto.conf-location] [--archive=tarball-location]
              [--kernelsourcedir=source-location] [--rpm_safe_upgrade]
              [--dkmstree path] [--sourcetree path] [--installtree path]
              [--binaries-only] [--source-only] [--verbose]
              [--no-depmod] [--modprobe-on-install] [-j number] [--version] [--help]"
    ));
}
