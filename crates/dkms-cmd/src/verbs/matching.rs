//! `dkms match` (`run_match` upstream): build and install on one kernel
//! every module/version installed on a template kernel.

use crate::ops::build::maybe_build_module;
use crate::ops::install::maybe_install_module;
use crate::ops::prepare_kernel::prepare_kernel;
use crate::ops::status::status_lines;
use crate::support::dkms::{Dkms, Target};
use crate::support::options::BuildOptions;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::status;

/// `dkms match`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    d.check_root()?;
    d.ctx.have_one_kernel("match")?;
    let (k, a) = d.kernelver0();
    let template = d.ctx.args.template_kernel.clone();
    if template.is_empty() {
        return Err(Error::die(
            Kind::TemplateKernelMissing,
            [
                "Invalid number of parameters passed.",
                "Usage: match --templatekernel=<kernel-version> -k <kernel-version>",
                "   or: match --templatekernel=<kernel-version> -k <kernel-version> <module>",
            ],
        ));
    }
    if template == k {
        return Err(Error::die(
            Kind::TemplateKernelSame,
            ["The templatekernel and the specified kernel version are the same."],
        ));
    }
    let globals = (d.module.as_str(), d.module_version.as_str());
    let mut lines: Vec<String> = status_lines(d, globals, Target::new("", "", &template, &a))
        .into_iter()
        .filter(|l| l.contains(": installed"))
        .collect();
    let module = d.module.clone();
    if !module.is_empty() {
        if !d.ctx.trees.module_dir(&module).is_dir() {
            return Err(Error::die(
                Kind::ModuleNotInTree,
                [format!("The module: {module} is not located in the DKMS tree.")],
            ));
        }
        lines.retain(|l| l.starts_with(&format!("{module}/")));
    }
    d.ui.outln("");
    d.ui.outln(&format!("Matching modules in kernel: {k} ({a})"));
    d.ui.outln(&format!("to the configuration of kernel: {template} ({a})"));
    if lines.is_empty() {
        d.ui.outln("");
        d.ui.outln("There is nothing to be done for this match.");
        return Ok(());
    }
    prepare_kernel(d, &k)?;
    let opts = BuildOptions::from_args(&d.ctx.args);
    for line in lines {
        let m = line.split('/').next().unwrap_or_default().to_string();
        let v = line.split_once('/').map(|x| x.1).unwrap_or_default().split(',').next().unwrap_or_default().to_string();
        d.ui.outln(&format!("Module:  {m}"));
        d.ui.outln(&format!("Version: {v}"));
        if status::is_module_broken(&d.ctx.trees, &m, &v) {
            d.ui.error(&[
                format!("{m}/{v} is broken!"),
                "Missing the source directory or the symbolic link pointing to it.".into(),
                "Manual intervention is required!".into(),
            ]);
            continue;
        }
        for step in [maybe_build_module, maybe_install_module] {
            if let Err(e) = d.subshell(|d| step(d, &opts, Target::new(&m, &v, &k, &a))) {
                d.report(&e);
            }
        }
    }
    Ok(())
}
