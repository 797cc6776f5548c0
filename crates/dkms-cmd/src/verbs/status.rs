//! `dkms status` (`show_status` upstream): one `do_status` query per kernel
//! of the command line (`ops::status`); always exits 0 (with `--verify`,
//! 18 when an installed build fails verification).

use crate::ops::status::{do_status, Show};
use crate::ops::verify::Verifier;
use crate::support::dkms::Dkms;
use crate::support::dkms::Target;
use dkms_cli::ui;
use dkms_proto::Record;
use dkms_state::error::{Error, Kind, Result};

/// `dkms status`: always exits 0, even for broken modules; with `--verify`
/// (not upstream) 18 when an installed build fails verification.
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    let (m, v) = (d.module.clone(), d.module_version.clone());
    // `-m ..` or `-k 1.0/x/y`: no module of the tree has such a name, and
    // upstream prints nothing; nothing is read through it either.
    if !d.ctx.names_valid() || ![&m, &v].iter().all(|s| s.is_empty() || dkms_state::name::is_valid(s)) {
        return Ok(());
    }
    let mut queries: Vec<(String, String)> = Vec::new();
    if d.kernelver.is_empty() {
        // `$kernelver` is empty, `$arch` is ${arch[0]} (possibly from -a).
        queries.push((String::new(), d.arch.first().cloned().unwrap_or_default()));
    } else {
        for (i, k) in d.kernelver.iter().enumerate() {
            queries.push((k.clone(), d.arch.get(i).cloned().unwrap_or_default()));
        }
    }
    let mut verifier = d.ctx.args.verify.then(Verifier::default);
    for (k, a) in &queries {
        // In JSON mode the records are the output; no text on either stream.
        let globals = (m.as_str(), v.as_str());
        let show = Show { print: !d.ui.json(), records: true, verify: verifier.as_mut(), globals };
        do_status(d, Target::new(&m, &v, k, a), show);
    }
    // As text with --verify, or where framework.conf asks for it
    // (`status_show_failures=yes`: the kernel hooks' failures at a glance).
    let text = verifier.is_some() || matches!(d.ctx.setting("status_show_failures"), "yes" | "true");
    remembered_failures(d, &m, &v, text);
    match verifier {
        Some(ver) if ver.failed > 0 => {
            Err(Error::die(Kind::VerifyFailed, [format!("{} installed build(s) do not verify.", ver.failed)]))
        }
        _ => Ok(()),
    }
}

/// Failure memory (not upstream): in JSON a `failed` record per remembered
/// failure of a module/version still in the tree, within the module and
/// kernels this run is for (-m/-v/-k/-a, or a stdin record's: status does
/// not default the arch, so an empty one filters nothing); as text only on
/// request, after the status lines.
fn remembered_failures(d: &Dkms, m: &str, v: &str, text: bool) {
    if !d.ui.json() && !text {
        return;
    }
    let t = &d.ctx.trees;
    let arches: Vec<&String> = d.arch.iter().filter(|a| !a.is_empty()).collect();
    for f in dkms_state::failures::list(&t.dkms_tree) {
        let wanted = (m.is_empty() || f.module == m)
            && (v.is_empty() || f.version == v)
            && (d.kernelver.is_empty() || d.kernelver.contains(&f.kernel))
            && (arches.is_empty() || arches.contains(&&f.arch));
        if !wanted || !dkms_state::status::is_module_added(t, &f.module, &f.version) {
            continue;
        }
        if d.ui.json() {
            d.ui.emit(Record::Failed {
                target: ui::target(&f.module, &f.version, Some(&f.kernel), Some(&f.arch)),
                kind: f.kind.clone(),
                exit_code: f.exit_code,
                time: f.time,
                inputs_hash: f.inputs_hash.clone(),
                log: f.log.as_ref().map(|l| l.display().to_string()),
            });
        } else {
            d.ui.outln(&format!(
                "{}/{}, {}, {}: build failed ({}, exit status {}); see: dkms log {}/{} -k {}",
                f.module, f.version, f.kernel, f.arch, f.kind, f.exit_code, f.module, f.version, f.kernel
            ));
        }
    }
}
