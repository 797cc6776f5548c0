//! `dkms log MODULE/VERSION [-k KERNEL] [-a ARCH] [--path]` (not in
//! upstream dkms): the make.log of the last build of a target, whether it
//! succeeded (`<kernel>/<arch>/log/make.log`) or failed (the copy kept by
//! the failure memory, or upstream's `build/make.log` when its header names
//! this kernel); the newest wins.

use crate::support::dkms::{Dkms, Target};
use dkms_cli::ui;
use dkms_proto::Record;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::failures;
use dkms_state::untrusted::{self, Links};
use std::path::{Path, PathBuf};

/// `dkms log`: one kernel (the first of -k, default the running one).
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    let (m, v) = (d.module.clone(), d.module_version.clone());
    d.check_module_args("log", &m, &v)?;
    d.ctx.have_one_kernel("log")?;
    let (k, a) = d.kernelver0();
    let Some((path, failed)) = last_log(d, Target::new(&m, &v, &k, &a)) else {
        return Err(Error::die(
            Kind::LogMissing,
            [format!("No make.log of a build of {m}/{v} for kernel {k} ({a}) was found.")],
        )
        .with_hint(format!("Build it: dkms build {m}/{v} -k {k}")));
    };
    if d.ui.json() {
        d.ui.emit(Record::Log {
            target: ui::target(&m, &v, Some(&k), Some(&a)),
            path: path.display().to_string(),
            failed,
        });
    } else if d.ctx.args.path_only {
        d.ui.outln(&path.display().to_string());
    } else {
        // A build wrote it, not dkms: only a regular file, never through a
        // link (a build could point it at any file root can read), and
        // streamed, however large it is.
        let f = untrusted::open_regular(&path, Links::Refuse)
            .map_err(|e| Error::io(Kind::LogUnreadable, path.display(), e))?;
        std::io::copy(&mut std::io::BufReader::with_capacity(1 << 16, f), &mut d.ui.writer())
            .map_err(|e| Error::io(Kind::LogUnreadable, path.display(), e))?;
    }
    Ok(())
}

/// The newest make.log of the target, and whether it is a failed build's.
fn last_log(d: &Dkms, x: Target) -> Option<(PathBuf, bool)> {
    let Target { m, v, k, a } = x;
    let t = &d.ctx.trees;
    let mut found: Vec<(PathBuf, bool)> = Vec::new();
    let built = t.arch_dir(m, v, k, a).join("log/make.log");
    if built.is_file() {
        found.push((built, false));
    }
    if let Some(log) = failures::read(&t.dkms_tree, m, v, k, a).and_then(|f| f.log) {
        found.push((log, true));
    }
    // Upstream leaves a failed build's log in build/, headed
    // "DKMS (...) make.log for m/v for kernel K (A)".
    let left = t.build_dir(m, v).join("make.log");
    if header_names(&left, k, a) {
        found.push((left, true));
    }
    found.into_iter().max_by_key(|(p, _)| modified(p))
}

/// The first line (at most 4 KiB of it) of a regular `log` names k/a.
fn header_names(log: &Path, k: &str, a: &str) -> bool {
    use std::io::{BufRead, Read};
    let Ok(f) = untrusted::open_regular(log, Links::Refuse) else { return false };
    let mut line = Vec::new();
    if std::io::BufReader::new(f.take(4096)).read_until(b'\n', &mut line).is_err() {
        return false;
    }
    let line = String::from_utf8_lossy(&line);
    line.lines().next().is_some_and(|l| l.ends_with(&format!(" for kernel {k} ({a})")))
}

fn modified(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH)
}
