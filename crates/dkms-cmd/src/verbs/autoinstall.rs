//! `dkms autoinstall`: the checks and the kernels to work on (extensions:
//! `-k` repeated, `--all-kernels`), then `ops::autoinstall`.

use crate::ops::autoinstall::autoinstall;
use crate::ops::plan;
use crate::support::dkms::Dkms;
use crate::support::options::BuildOptions;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{fsutil, kernel};

/// `dkms autoinstall`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    d.ctx.check_all_is_banned("autoinstall")?;
    if d.ctx.args.all_kernels {
        if !d.ctx.args.kernelver.is_empty() {
            return Err(Error::die(Kind::AllKernelsWithK, ["The option --all-kernels cannot be used with -k."]));
        }
        select_all_kernels(d);
    } else {
        // Distinct kernels are an extension; the same kernel twice is
        // refused as upstream's have_one_kernel refuses any repetition.
        let t = d.targets();
        if t.iter().enumerate().any(|(i, x)| t[..i].contains(x)) {
            d.ctx.have_one_kernel("autoinstall")?;
        }
    }
    d.check_root()?;
    let opts = BuildOptions::from_args(&d.ctx.args);
    if d.ctx.args.dry_run {
        return plan::autoinstall::autoinstall(d, &opts);
    }
    autoinstall(d, &opts)
}

/// `--all-kernels`: every kernel under the install tree whose headers are
/// there, oldest first, each for the default arch.
fn select_all_kernels(d: &mut Dkms) {
    let arch = d.arch.first().cloned().unwrap_or_else(kernel::uname_m);
    let mut kernels: Vec<String> = fsutil::subdirs(&d.ctx.trees.install_tree)
        .into_iter()
        .filter(|k| kernel::headers_present(&d.kernel_source_dir(k)))
        .collect();
    kernels.sort_by(|x, y| dkms_cli::versort::compare(x, y));
    if kernels.is_empty() {
        d.ui.warn(&[format!("No kernel with headers found in {}: nothing to do.", d.ctx.trees.install_tree.display())]);
    }
    d.arch = vec![arch; kernels.len()];
    d.kernelver = kernels;
}
