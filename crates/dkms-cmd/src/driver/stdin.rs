//! `-` on the command line: targets read as JSON Lines from stdin, and the
//! verb run once per target.

use crate::support::dkms::Dkms;
use dkms_cli::ui::Ui;
use dkms_state::error::Result;

/// Read JSON Lines from stdin: records naming a target are returned in
/// order; `error` records are passed through untouched (their targets are
/// not acted on); anything else (and `progress`) is ignored.
pub(super) fn read_stdin_targets(ui: &Ui) -> Vec<dkms_proto::Target> {
    use std::io::BufRead;
    let mut targets: Vec<dkms_proto::Target> = Vec::new();
    let mut failed: Vec<dkms_proto::Target> = Vec::new();
    for line in std::io::stdin().lock().lines().map_while(std::result::Result::ok) {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if value.get("type").and_then(|t| t.as_str()) == Some("error") {
            ui.passthrough(&line);
            if let Ok(env) = serde_json::from_value::<dkms_proto::Envelope>(value) {
                failed.extend(env.record.target());
            }
            continue;
        }
        // A build under way is no target (its outcome follows).
        if value.get("type").and_then(|t| t.as_str()) == Some("progress") {
            continue;
        }
        let (Some(module), Some(version)) =
            (value.get("module").and_then(|v| v.as_str()), value.get("version").and_then(|v| v.as_str()))
        else {
            continue;
        };
        // A record about no module (a planned depmod) names no target.
        if module.is_empty() {
            continue;
        }
        let field = |k: &str| value.get(k).and_then(|v| v.as_str()).map(String::from);
        let t = dkms_proto::Target {
            module: module.into(),
            version: version.into(),
            kernel: field("kernel"),
            arch: field("arch"),
        };
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    targets.retain(|t| !failed.iter().any(|f| f.module == t.module && f.version == t.version));
    targets
}

/// Every name of a stdin target is one plain directory name.
fn check_target(t: &dkms_proto::Target) -> Result<()> {
    use dkms_state::name::{check, What};
    check(What::Module, &t.module)?;
    check(What::Version, &t.version)?;
    t.kernel.as_deref().map_or(Ok(()), |k| check(What::Kernel, k))?;
    t.arch.as_deref().map_or(Ok(()), |a| check(What::Arch, a))
}

/// Run the verb once per target read from stdin; the exit status is that
/// of the last target that failed (0 if none did).
pub(super) fn run_targets(d: &mut Dkms, run: fn(&mut Dkms) -> Result<()>, targets: Vec<dkms_proto::Target>) -> u8 {
    let mut code = 0;
    for t in targets {
        // Not upstream: a record's names enter here, as the command line's
        // enter in `Ctx::start`.
        if let Err(e) = check_target(&t) {
            d.reporting = Some(t.clone());
            d.report(&e);
            code = e.code;
            continue;
        }
        d.module = t.module.clone();
        d.module_version = t.version.clone();
        // The record's kernel, else the command line's (`Ctx` keeps them).
        match &t.kernel {
            Some(k) => {
                d.kernelver = vec![k.clone()];
                d.arch = vec![t.arch.clone().or_else(|| d.ctx.arch.first().cloned()).unwrap_or_default()];
            }
            None => {
                d.kernelver = d.ctx.kernelver.clone();
                d.arch = d.ctx.arch.clone();
            }
        }
        d.reporting = Some(t.clone());
        if let Err(e) = d.subshell(run) {
            d.report(&e);
            code = e.code;
        }
    }
    code
}
