//! `dkms status` (`show_status` upstream): one `do_status` query per kernel
//! of the command line (`ops::status`); always exits 0. Then, not upstream,
//! the remembered autoinstall failures (`dkms_state::failures`): always as
//! JSON records, as text lines only when framework.conf sets
//! `status_show_failures=yes` (the text is upstream's byte for byte
//! otherwise).

use crate::ops::status::do_status;
use crate::support::dkms::Dkms;
use dkms_cli::ui;
use dkms_proto::Record;
use dkms_state::error::Result;
use dkms_state::failures;

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
    for (k, a) in &queries {
        // In JSON mode the records are the output; no text on either stream.
        do_status(d, &m, &v, k, a, !ui::json(), true);
    }
    show_failures(d, &m, &v, &queries);
    Ok(())
}

/// The failures of the queried modules on the queried kernels (all kernels
/// when none was given) that no build has made moot since.
fn show_failures(d: &Dkms, m: &str, v: &str, queries: &[(String, String)]) {
    let text = matches!(d.ctx.setting("status_show_failures"), "yes" | "true");
    if !ui::json() && !text {
        return;
    }
    for (k, a) in queries {
        for f in failures::current(&d.ctx.trees, Some(m), Some(v), Some(k)) {
            if !a.is_empty() && !k.is_empty() && f.arch != *a {
                continue;
            }
            let log = f.log.clone();
            if ui::json() {
                ui::emit(Record::Failure {
                    target: ui::target(&f.module, &f.version, Some(&f.kernel), Some(&f.arch)),
                    exit_code: f.exit_status,
                    log,
                    time: f.time,
                });
                continue;
            }
            let see = log.map(|l| format!("; see {l}")).unwrap_or_default();
            ui::outln(&format!(
                "{}/{}, {}, {}: failed (autoinstall exit status {}{see})",
                f.module, f.version, f.kernel, f.arch, f.exit_status
            ));
        }
    }
}
