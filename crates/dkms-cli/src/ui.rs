//! Output: upstream's text, byte for byte, with stdout flushed before every
//! stderr write and before children run, so interleaved output keeps
//! upstream's order. In JSON mode stdout carries only JSON Lines and the
//! human text moves to stderr. Also the one error reporter. Output of work
//! running under a `dkms_state::capture` is recorded instead, and `replay`ed
//! where the serial run would have printed it.
//!
//! All of it goes through a `Ui` handle the driver makes and passes down
//! (`Dkms::ui`), as jj passes its `Ui`: nothing here is process-wide but
//! the terminal itself (`live`, which a signal handler must restore).

use dkms_proto::{Counts, Envelope, Record, SkipReason, Target};
use dkms_state::capture::{self, Chunks, Stream};
use dkms_state::error::{Error, Kind, Style};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One run's output: upstream's text, or JSON Lines with the text on
/// stderr. Clones (a parallel autoinstall's background builds) share the
/// mode, the record counts and the end of the stream; each may be muted on
/// its own (`muted`).
#[derive(Debug, Clone, Default)]
pub struct Ui {
    shared: Arc<Shared>,
    /// Silence all human output (replaying a journal in recovery, or a step
    /// whose messages would repeat another's).
    muted: bool,
}

#[derive(Debug, Default)]
struct Shared {
    json: AtomicBool,
    /// The last record (`result`, or `version`) has been written.
    finished: AtomicBool,
    counts: Mutex<Counts>,
}

impl Ui {
    /// Text output, not muted.
    pub fn new() -> Ui {
        Ui::default()
    }

    /// This output with all human text silenced (records still go out).
    pub fn muted(&self) -> Ui {
        Ui { shared: self.shared.clone(), muted: true }
    }

    /// Switch stdout to JSON Lines (human text goes to stderr). Children's
    /// stdout follows (`tools`): the records' stream is this process's
    /// stdout, a property of the process, not of one `Ui`.
    pub fn set_json(&self, on: bool) {
        self.shared.json.store(on, Ordering::Relaxed);
        dkms_state::tools::set_child_stdout_to_stderr(on);
    }

    /// Is JSON mode on?
    pub fn json(&self) -> bool {
        self.shared.json.load(Ordering::Relaxed)
    }

    /// Human text: stdout, or stderr in JSON mode.
    fn write_out(&self, b: &[u8]) {
        if self.muted {
            return;
        }
        write_stream(if self.json() { Stream::Stderr } else { Stream::Stdout }, b);
    }

    /// A heartbeat line on stderr (`--progress=lines`, not upstream), written
    /// at once (never captured: it is about now), on a line of its own when
    /// stdout is the same file and ends mid-line (upstream's dots).
    pub fn heartbeat(&self, s: &str) {
        if self.muted {
            return;
        }
        let nl = if crate::live::mid_line() && stdout_is_stderr() { "\n" } else { "" };
        write_stream(Stream::Stderr, format!("{nl}{s}\n").as_bytes());
    }

    /// Print what a capture recorded, in its order, to the streams it was for.
    pub fn replay(&self, chunks: Chunks) {
        for (stream, b) in chunks {
            write_stream(stream, &b);
        }
    }

    /// `echo -n` as an `io::Write`, for in-process commands whose output is
    /// shown (it follows JSON mode and captures like `out`).
    pub fn writer(&self) -> OutWriter<'_> {
        OutWriter(self)
    }

    /// `echo -n TEXT`
    pub fn out(&self, s: &str) {
        self.write_out(s.as_bytes());
    }

    /// `echo TEXT`
    pub fn outln(&self, s: &str) {
        self.write_out(format!("{s}\n").as_bytes());
    }

    /// Write to stderr (after flushing stdout).
    pub fn err(&self, s: &str) {
        if self.muted {
            return;
        }
        write_stream(Stream::Stderr, s.as_bytes());
    }

    /// `echo TEXT >&2`
    pub fn errln(&self, s: &str) {
        self.err(&format!("{s}\n"));
    }

    /// Upstream's `error`: an empty line, `Error! ` and the lines, on stderr.
    pub fn error<S: AsRef<str>>(&self, lines: &[S]) {
        self.err(&block("\nError! ", lines));
    }

    /// Upstream's `warn`: `Warning: ` and the lines, on stderr.
    pub fn warn<S: AsRef<str>>(&self, lines: &[S]) {
        self.err(&block("Warning: ", lines));
    }

    /// Upstream's `deprecated`.
    pub fn deprecated(&self, what: &str) {
        self.errln(&format!("Deprecated feature: {what}"));
    }

    /// Print an error the way upstream's `die`/`diewarn` would, plus a JSON
    /// `error` record in JSON mode (a BUILD_EXCLUSIVE exclusion, exit 77, is
    /// a `skipped` record there). No target is named: an error before any
    /// module is known (`report_for` names one).
    pub fn report(&self, e: &Error) {
        self.report_for(e, None);
    }

    /// `report`, the record naming `target` (what the run was working on:
    /// the caller knows it); a target without a module names nothing.
    pub fn report_for(&self, e: &Error, target: Option<&Target>) {
        match e.style {
            Style::Error => self.error(&e.lines),
            Style::Warning => self.warn(&e.lines),
            Style::Silent | Style::Reported => {}
        }
        // Hints go to people at a terminal; logs and scripts keep upstream's
        // exact text (and get the hint in JSON).
        if let (Some(h), Style::Error | Style::Warning) = (&e.hint, e.style) {
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                self.errln(&format!("Hint: {h}"));
            }
        }
        if !self.json() || e.style == Style::Reported {
            return;
        }
        let t = target.filter(|t| !t.module.is_empty()).cloned();
        if e.kind == Kind::BuildExclusive {
            if let Some(target) = t {
                self.emit(Record::Skipped { target, reason: SkipReason::BuildExclusive });
                return;
            }
        }
        self.emit(Record::Error {
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

    /// Emit a record (JSON mode only) and count it for the final `result`.
    pub fn emit(&self, rec: Record) {
        if !self.json() {
            return;
        }
        {
            let mut c = self.shared.counts.lock().unwrap_or_else(|e| e.into_inner());
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
            self.shared.finished.store(true, Ordering::Relaxed);
        }
        line(&serde_json::to_string(&Envelope::new(rec)).unwrap_or_default());
    }

    /// Pass a line through unchanged (an `error` record read from stdin).
    pub fn passthrough(&self, raw: &str) {
        if self.json() {
            line(raw);
        }
    }

    /// The final `result` record (once: every exit path may call this).
    pub fn emit_result(&self, exit_code: u8) {
        if !self.json() || self.shared.finished.swap(true, Ordering::Relaxed) {
            return;
        }
        let counts = self.shared.counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
        line(&serde_json::to_string(&Envelope::new(Record::Result { exit_code, counts })).unwrap_or_default());
    }

    /// `show_usage`, with `$0` as the program was invoked.
    pub fn usage(&self, argv0: &str) {
        self.outln(&usage_text(argv0));
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

/// Do stdout and stderr go to the same file (`>log 2>&1`)?
fn stdout_is_stderr() -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata("/proc/self/fd/1"), std::fs::metadata("/proc/self/fd/2")) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

fn block<S: AsRef<str>>(prefix: &str, lines: &[S]) -> String {
    let mut s = String::from(prefix);
    if lines.is_empty() {
        s.push('\n');
    }
    for l in lines {
        s.push_str(l.as_ref());
        s.push('\n');
    }
    s
}

/// The `io::Write` of `Ui::writer`.
pub struct OutWriter<'a>(&'a Ui);

impl Write for OutWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_out(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A target for records.
pub fn target(module: &str, version: &str, kernel: Option<&str>, arch: Option<&str>) -> Target {
    Target {
        module: module.into(),
        version: version.into(),
        kernel: kernel.map(String::from),
        arch: arch.map(String::from),
    }
}

fn line(s: &str) {
    write_stream(Stream::Stdout, format!("{s}\n").as_bytes());
}

/// A line on stderr from where no `Ui` reaches (the panic hook).
pub fn panic_line(s: &str) {
    write_stream(Stream::Stderr, format!("{s}\n").as_bytes());
}

/// Flush stdout (before spawning a child that shares it).
pub fn flush() {
    let _ = std::io::stdout().flush();
}

/// `show_usage`'s text.
fn usage_text(argv0: &str) -> String {
    format!(
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
    )
}
