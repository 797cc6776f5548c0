//! `dkms status` (`show_status` upstream): one `do_status` query per kernel
//! of the command line (`ops::status`); always exits 0.

use crate::ops::status::do_status;
use crate::support::dkms::Dkms;
use dkms_cli::ui;
use dkms_state::error::Result;

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
    Ok(())
}
