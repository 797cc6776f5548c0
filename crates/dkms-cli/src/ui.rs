//! Output: upstream's text, byte for byte, with stdout flushed before every
//! stderr write and before children run, so interleaved output keeps
//! upstream's order. In JSON mode stdout carries only JSON Lines and the
//! human text moves to stderr. Also the one error reporter.

use dkms_state::error::{Error, Style};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);
static MUTED: AtomicBool = AtomicBool::new(false);

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
        let _ = std::io::stderr().write_all(s.as_bytes());
    } else {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(s.as_bytes());
        let _ = o.flush();
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
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(s.as_bytes());
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
/// `error` record in JSON mode.
pub fn report(e: &Error) {
    match e.style {
        Style::Error => error(&e.lines),
        Style::Warning => warn(&e.lines),
        Style::Silent => {}
    }
    // Hints go to people at a terminal; logs and scripts keep upstream's
    // exact text (and get the hint in JSON).
    if let (Some(h), Style::Error | Style::Warning) = (&e.hint, e.style) {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            errln(&format!("Hint: {h}"));
        }
    }
    if json() && e.kind != "reported" {
        let mut rec = serde_json::json!({
            "format_version": 1,
            "type": "error",
            "kind": e.kind,
            "exit_code": e.code,
            "message": e.lines.join("\n"),
        });
        if let Some(h) = &e.hint {
            rec["hint"] = serde_json::Value::String(h.clone());
        }
        record(&rec);
    }
}

/// Emit one JSON Lines record on stdout (JSON mode only).
pub fn record(v: &serde_json::Value) {
    if json() {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{v}");
        let _ = o.flush();
    }
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
