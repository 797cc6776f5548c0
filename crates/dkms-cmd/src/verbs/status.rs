//! `dkms status` (`show_status` upstream): one `do_status` query per kernel
//! of the command line (`ops::status`); always exits 0 (with `--verify`,
//! 18 when an installed build fails verification).

use crate::ops::status::{do_status, Show};
use crate::ops::verify::Verifier;
use crate::support::dkms::mvka;
use crate::support::dkms::Dkms;
use dkms_cli::ui;
use dkms_state::error::{Error, Kind, Result};

/// `dkms status`: always exits 0, even for broken modules; with `--verify`
/// (not upstream) 18 when an installed build fails verification.
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
    let mut verifier = d.ctx.args.verify.then(Verifier::default);
    for (k, a) in &queries {
        // In JSON mode the records are the output; no text on either stream.
        let show = Show { print: !ui::json(), records: true, verify: verifier.as_mut() };
        do_status(d, mvka(&m, &v, k, a), show);
    }
    match verifier {
        Some(ver) if ver.failed > 0 => {
            Err(Error::die(Kind::VerifyFailed, [format!("{} installed build(s) do not verify.", ver.failed)]))
        }
        _ => Ok(()),
    }
}
