//! Showing how far a running make has got (`--progress`; not in upstream
//! dkms, whose `invoke_command` prints a dot every 3 s and nothing else): a
//! thread follows make.log while make runs (`dkms_state::progress`) and
//! shows what it sees — a live status line on a terminal, a heartbeat line
//! every 30 s with `--progress=lines`, `progress` records with `--json`.
//! With none of these asked for, nothing runs and upstream's output is
//! unchanged.

use super::dkms::{Dkms, Target};
use dkms_cli::ctx::ProgressMode;
use dkms_cli::live;
use dkms_cli::ui::{self, Ui};
use dkms_proto::Record;
use dkms_state::progress::{short, Follower, Previous, Snapshot};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often the thread looks at make.log (the live line is redrawn at most
/// this often).
const TICK: Duration = Duration::from_millis(100);
/// `--progress=lines`: a heartbeat this often per running build.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// `--json`: at most one `progress` record per build this often.
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// Where progress goes.
#[derive(Debug, Clone)]
struct Sinks {
    live: bool,
    lines: Option<Duration>,
    json: bool,
    /// The run's output, for the records and heartbeat lines.
    ui: Ui,
}

/// The heartbeat interval: 30 s, or `DKMS_PROGRESS_INTERVAL` seconds (a
/// knob for tests only, so that they need no 35 s build).
fn heartbeat_interval() -> Duration {
    dkms_state::env::nonempty("DKMS_PROGRESS_INTERVAL")
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(HEARTBEAT, Duration::from_secs_f64)
}

/// The build being watched.
struct Build {
    m: String,
    v: String,
    k: String,
    a: String,
    log: PathBuf,
    build_dir: PathBuf,
    prev: Option<Previous>,
}

/// A running watch; dropping it stops the thread and erases the live line.
pub(crate) struct Watch(Option<(mpsc::Sender<()>, std::thread::JoinHandle<()>)>);

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some((tx, h)) = self.0.take() {
            let _ = tx.send(());
            let _ = h.join();
        }
    }
}

impl Dkms {
    /// Where progress goes in this run (none: upstream's output alone).
    fn progress_sinks(&self) -> Option<Sinks> {
        let mode = self.ctx.progress();
        let s = Sinks {
            live: mode == ProgressMode::Auto && live::available(),
            lines: (mode == ProgressMode::Lines).then(heartbeat_interval),
            json: self.ui.json() && mode != ProgressMode::Never,
            ui: self.ui.clone(),
        };
        (s.live || s.lines.is_some() || s.json).then_some(s)
    }

    /// Is a live status line shown for builds? (Then it stands in for
    /// upstream's dots on the terminal.)
    pub(crate) fn progress_is_live(&self) -> bool {
        self.progress_sinks().is_some_and(|s| s.live)
    }

    /// Watch the make of `x` that logs to `log` until the watch is dropped;
    /// the last build is the newest kept make.log of the module/version,
    /// else what `cached` finds (a binary cache entry's manifest).
    pub(crate) fn watch_make(&self, x: Target, log: &Path, cached: impl FnOnce() -> Option<Previous>) -> Watch {
        let Some(sinks) = self.progress_sinks() else { return Watch(None) };
        let Target { m, v, k, a } = x;
        let b = Build {
            m: m.into(),
            v: v.into(),
            k: k.into(),
            a: a.into(),
            log: log.into(),
            build_dir: self.ctx.trees.build_dir(m, v),
            prev: dkms_state::progress::previous(&self.ctx.trees, m, v).or_else(cached),
        };
        let (tx, rx) = mpsc::channel::<()>();
        let h = std::thread::spawn(move || watch(&b, sinks, &rx));
        Watch(Some((tx, h)))
    }
}

/// Until told to stop: follow the log, show what it says.
fn watch(b: &Build, sinks: Sinks, stop: &mpsc::Receiver<()>) {
    let start = Instant::now();
    let mut follower = Follower::open(&b.log, &b.build_dir);
    let id = sinks.live.then(live::add);
    let (mut last_record, mut last_line) = (start, start);
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(TICK) {
        if let Some(f) = follower.as_mut() {
            f.poll();
        }
        let Some(f) = follower.as_ref() else { continue };
        let now = Instant::now();
        let s = Snapshot::of(f, now - start, b.prev.as_ref());
        if let Some(id) = id {
            live::set(id, status_line(b, &s));
        }
        if sinks.json && now - last_record >= RECORD_EVERY {
            last_record = now;
            sinks.ui.emit(record(b, &s));
        }
        if sinks.lines.is_some_and(|every| now - last_line >= every) {
            last_line = now;
            sinks.ui.heartbeat(&heartbeat(b, &s));
        }
    }
    if let Some(id) = id {
        live::remove(id);
    }
}

/// `zfs/2.1.11 for 6.1.0-57-amd64  1m12s  CC [M] module/zfs/dsl_scan.o  312/540 (58%)  ~52s left`
fn status_line(b: &Build, s: &Snapshot) -> String {
    let mut line = format!("{}/{} for {}  {}", b.m, b.v, b.k, short(s.elapsed));
    if !s.step.is_empty() {
        line.push_str(&format!("  {}", s.step));
    }
    if s.total.is_some() {
        line.push_str(&format!("  {}", s.count()));
    }
    if let Some(eta) = s.eta {
        line.push_str(&format!("  ~{} left", short(eta)));
    }
    line
}

/// `dkms: zfs/2.1.11 for 6.1.0-57-amd64: building, 1m30s, 312/540 (58%)`
fn heartbeat(b: &Build, s: &Snapshot) -> String {
    format!("dkms: {}/{} for {}: building, {}, {}", b.m, b.v, b.k, short(s.elapsed), s.count())
}

fn record(b: &Build, s: &Snapshot) -> Record {
    Record::Progress {
        target: ui::target(&b.m, &b.v, Some(&b.k), Some(&b.a)),
        elapsed_s: s.elapsed.as_secs(),
        step: s.step.clone(),
        done: s.done,
        total: s.total,
        eta_s: s.eta.map(|e| e.as_secs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::support::fixture::Fixture;

    #[test]
    fn progress_is_watched_only_when_asked_for() {
        // Upstream's output alone: no thread, no records.
        let never = Fixture::with(|a| a.progress = Some("never".into()));
        assert!(never.d.progress_sinks().is_none());
        let lines = Fixture::with(|a| a.progress = Some("lines".into()));
        let s = lines.d.progress_sinks().expect("heartbeats");
        assert_eq!((s.live, s.lines), (false, Some(heartbeat_interval())));
    }

    /// The example build of issue 25's status line.
    fn zfs_build() -> Build {
        Build {
            m: "zfs".into(),
            v: "2.1.11".into(),
            k: "6.1.0-57-amd64".into(),
            a: "x86_64".into(),
            log: PathBuf::new(),
            build_dir: PathBuf::new(),
            prev: None,
        }
    }

    #[test]
    fn a_progress_record_carries_the_target_and_the_counts() {
        let b = zfs_build();
        let s = Snapshot {
            elapsed: Duration::from_millis(72_900),
            step: "LD [M] zfs.ko".into(),
            done: 539,
            total: Some(540),
            eta: Some(Duration::from_millis(1_500)),
        };
        let Record::Progress { target, elapsed_s, step, done, total, eta_s } = record(&b, &s) else {
            panic!("a progress record")
        };
        assert_eq!(
            (target.module.as_str(), target.kernel.as_deref(), target.arch.as_deref()),
            ("zfs", Some("6.1.0-57-amd64"), Some("x86_64"))
        );
        assert_eq!((elapsed_s, step.as_str(), done, total, eta_s), (72, "LD [M] zfs.ko", 539, Some(540), Some(1)));
    }

    #[test]
    fn status_and_heartbeat_text() {
        let b = zfs_build();
        let mut s = Snapshot {
            elapsed: Duration::from_secs(72),
            step: "CC [M] module/zfs/dsl_scan.o".into(),
            done: 312,
            total: Some(540),
            eta: Some(Duration::from_secs(52)),
        };
        assert_eq!(
            status_line(&b, &s),
            "zfs/2.1.11 for 6.1.0-57-amd64  1m12s  CC [M] module/zfs/dsl_scan.o  312/540 (57%)  ~52s left"
        );
        s.elapsed = Duration::from_secs(90);
        assert_eq!(heartbeat(&b, &s), "dkms: zfs/2.1.11 for 6.1.0-57-amd64: building, 1m30s, 312/540 (57%)");
        (s.total, s.eta, s.step) = (None, None, String::new());
        assert_eq!(status_line(&b, &s), "zfs/2.1.11 for 6.1.0-57-amd64  1m30s");
        assert_eq!(heartbeat(&b, &s), "dkms: zfs/2.1.11 for 6.1.0-57-amd64: building, 1m30s, 312 steps");
    }
}
