//! Live status lines of running builds on a terminal (`--progress=auto`
//! with stderr a terminal; not in upstream dkms). The lines sit below the
//! text dkms has written, one per running build, like cargo's or docker's
//! progress; every write of dkms's own text to the terminal erases them,
//! writes, and draws them again, and a finished build's line is erased, so
//! the terminal ends with upstream's text alone.
//!
//! Only the current line is ever written: `\r`, erase-line (`ESC[2K`),
//! cursor up (`ESC[1A`) and cursor forward (`ESC[nC`), never an absolute
//! position, so this works inside apt's progress bar, which keeps the last
//! row of the terminal for itself with a scroll region.

use dkms_state::capture::Stream;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The status lines are redrawn at most this often.
const REDRAW: Duration = Duration::from_millis(100);

struct Board {
    /// Status lines by build id, in the order the builds started.
    lines: Vec<(u64, String)>,
    /// Lines on the terminal now, and whether they begin below a line of
    /// text (else on the line the cursor was on).
    shown: usize,
    below: bool,
    /// dkms's text on the terminal after its last newline.
    pending: String,
    last_draw: Option<Instant>,
    next_id: u64,
    /// Children writing to the terminal themselves: no drawing meanwhile.
    paused: usize,
    /// Where a child left the cursor is not known: lines are drawn from
    /// the next line, and erased back to its start.
    unknown_column: bool,
}

static BOARD: Mutex<Board> = Mutex::new(Board {
    lines: Vec::new(),
    shown: 0,
    below: false,
    pending: String::new(),
    last_draw: None,
    next_id: 0,
    paused: 0,
    unknown_column: false,
});

fn board() -> std::sync::MutexGuard<'static, Board> {
    BOARD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Is stderr a terminal the lines can be drawn on? One of no columns is
/// not: apt gives dpkg's maintainer scripts (the kernel hooks, our trigger)
/// a pseudo-terminal of size 0x0 when its own output goes to a pipe or a
/// file, and lines drawn there only end up in that log as escapes (and as
/// output apt relays, line by line, ten times a second).
pub fn available() -> bool {
    std::io::stderr().is_terminal() && rustix::termios::tcgetwinsize(std::io::stderr()).is_ok_and(|w| w.ws_col > 0)
}

/// Does `stream` reach the terminal the lines are on? (stdout counts when it
/// is a terminal too: then it is taken to be the same one.)
fn on_terminal(stream: Stream) -> bool {
    available() && (stream == Stream::Stderr || std::io::stdout().is_terminal())
}

fn width() -> usize {
    rustix::termios::tcgetwinsize(std::io::stderr()).map_or(80, |w| usize::from(w.ws_col)).max(20)
}

impl Board {
    /// The escapes that erase the lines shown and put the cursor back at the
    /// end of the pending text.
    fn erase(&mut self, out: &mut String) {
        if self.shown == 0 {
            return;
        }
        out.push_str("\r\x1b[2K");
        for _ in 1..self.shown {
            out.push_str("\x1b[1A\x1b[2K");
        }
        if self.below {
            out.push_str("\x1b[1A\r");
            let col = self.pending.chars().count() % width();
            if col > 0 {
                out.push_str(&format!("\x1b[{col}C"));
            }
        }
        self.shown = 0;
    }

    /// The lines, below the pending text (or on the empty current line),
    /// each cut to the terminal's width so none wraps.
    fn draw(&mut self, out: &mut String) {
        if self.lines.is_empty() || self.paused > 0 {
            return;
        }
        let w = width() - 1;
        self.below = !self.pending.is_empty() || self.unknown_column;
        if self.below {
            out.push('\n');
        }
        for (i, (_, l)) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.extend(l.chars().take(w));
        }
        self.shown = self.lines.len();
        self.last_draw = Some(Instant::now());
    }

    fn redraw(&mut self) {
        let mut out = String::new();
        self.erase(&mut out);
        self.draw(&mut out);
        put(Stream::Stderr, out.as_bytes());
    }

    /// Keep track of the text after the last newline.
    fn track(&mut self, b: &[u8]) {
        self.unknown_column = false;
        let s = String::from_utf8_lossy(b);
        match s.rfind(['\n', '\r']) {
            Some(i) => self.pending = s[i + 1..].to_string(),
            None => self.pending.push_str(&s),
        }
        // A line this long (a make.log of one endless line streamed by
        // `dkms log`) is not kept: its column is as unknown as after a
        // child's write, and memory stays bounded.
        if self.pending.len() > MAX_PENDING {
            self.pending.clear();
            self.unknown_column = true;
        }
    }
}

/// Write `b` to one stream as every writer does: stdout flushed at once,
/// and before anything goes to stderr.
pub(crate) fn put(stream: Stream, b: &[u8]) {
    if b.is_empty() {
        return;
    }
    match stream {
        Stream::Stdout => {
            let mut o = std::io::stdout().lock();
            let _ = o.write_all(b);
            let _ = o.flush();
        }
        Stream::Stderr => {
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().write_all(b);
        }
    }
}

/// Write dkms's own text to `stream` around the status lines: false when
/// it does not go to their terminal (the caller writes it).
pub(crate) fn write(stream: Stream, b: &[u8]) -> bool {
    if !on_terminal(stream) {
        return false;
    }
    let mut g = board();
    let mut erase = String::new();
    g.erase(&mut erase);
    put(Stream::Stderr, erase.as_bytes());
    put(stream, b);
    g.track(b);
    if !g.lines.is_empty() {
        let mut out = String::new();
        g.draw(&mut out);
        put(Stream::Stderr, out.as_bytes());
    }
    true
}

/// A line for a build that starts; its id.
pub fn add() -> u64 {
    let mut g = board();
    g.next_id += 1;
    let id = g.next_id;
    g.lines.push((id, String::new()));
    id
}

/// Set the line of build `id`; the lines are redrawn unless they were
/// less than `REDRAW` ago.
pub fn set(id: u64, text: String) {
    let mut g = board();
    let Some(slot) = g.lines.iter_mut().find(|(i, _)| *i == id) else { return };
    if slot.1 == text {
        return;
    }
    slot.1 = text;
    if available() && g.last_draw.is_none_or(|t| t.elapsed() >= REDRAW) {
        g.redraw();
    }
}

/// The build `id` ended: its line is erased.
pub fn remove(id: u64) {
    let mut g = board();
    g.lines.retain(|(i, _)| *i != id);
    if available() {
        g.redraw();
    }
}

/// Erase every line for good (the run is being stopped: Ctrl-C), waiting
/// briefly for a writer that holds the terminal.
pub fn restore() {
    for _ in 0..20 {
        if let Ok(mut g) = BOARD.try_lock() {
            g.lines.clear();
            if available() {
                g.redraw();
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A child is about to write to the terminal itself: the lines are erased
/// and not drawn until it ends (see `dkms_state::tools::around_inherited`).
pub fn pause() {
    let mut g = board();
    let mut out = String::new();
    g.erase(&mut out);
    put(Stream::Stderr, out.as_bytes());
    g.paused += 1;
}

/// The child has ended, leaving the cursor who knows where: the lines are
/// drawn again from the next line.
pub fn resume() {
    let mut g = board();
    g.paused = g.paused.saturating_sub(1);
    g.pending.clear();
    g.unknown_column = true;
    if available() && g.paused == 0 {
        g.redraw();
    }
}

/// Does dkms's text on stdout end mid-line? (A heartbeat written to the
/// same file then starts on a line of its own.)
pub(crate) fn mid_line() -> bool {
    !board().pending.is_empty()
}

/// Keep track of text written where there are no status lines (a heartbeat
/// needs to know whether the log is mid-line).
/// The longest unfinished line kept to tell the cursor's column.
const MAX_PENDING: usize = 64 << 10;

pub(crate) fn track(b: &[u8]) {
    board().track(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(pending: &str, lines: &[&str]) -> Board {
        Board {
            lines: lines.iter().enumerate().map(|(i, l)| (i as u64, l.to_string())).collect(),
            shown: 0,
            below: false,
            pending: pending.into(),
            last_draw: None,
            next_id: 0,
            paused: 0,
            unknown_column: false,
        }
    }

    #[test]
    fn lines_go_below_pending_text_and_come_back_to_its_end() {
        let mut g = b("Building module(s)...", &["a/1 for k  3s", "b/2 for k  1s"]);
        let mut out = String::new();
        g.draw(&mut out);
        assert_eq!(out, "\na/1 for k  3s\nb/2 for k  1s");
        let mut out = String::new();
        g.erase(&mut out);
        assert_eq!(out, "\r\x1b[2K\x1b[1A\x1b[2K\x1b[1A\r\x1b[21C");
        // On an empty line they start where the cursor is.
        let mut g = b("", &["a/1 for k  3s"]);
        let mut out = String::new();
        g.draw(&mut out);
        g.erase(&mut out);
        assert_eq!(out, "a/1 for k  3s\r\x1b[2K");
    }

    #[test]
    fn after_a_child_lines_start_on_the_next_line_and_come_back_to_its_start() {
        let mut g = b("", &["a/1 for k  3s"]);
        g.paused = 1;
        let mut out = String::new();
        g.draw(&mut out);
        assert_eq!(out, "", "nothing is drawn while a child writes");
        (g.paused, g.unknown_column) = (0, true);
        g.draw(&mut out);
        g.erase(&mut out);
        assert_eq!(out, "\na/1 for k  3s\r\x1b[2K\x1b[1A\r");
        g.track(b"text\n");
        assert!(!g.unknown_column);
    }

    #[test]
    fn pending_text_is_what_follows_the_last_newline() {
        let mut g = b("", &[]);
        g.track(b"Sign command: x\nBuilding module(s)...");
        assert_eq!(g.pending, "Building module(s)...");
        g.track(b"..");
        assert_eq!(g.pending, "Building module(s).....");
        g.track(b" done.\n");
        assert_eq!(g.pending, "");
    }
}
