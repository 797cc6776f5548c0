//! `ltdk` (not in upstream dkms): for each module file built for m/v and a
//! kernel, its licence as the kernel sees it (`dkms_state::license`): GPL-
//! compatible or not (the proprietary taint), and the GPL-only exports of
//! that kernel it needs, which a module that is not GPL-compatible cannot
//! have. One paragraph of text, or one `license` record, per file.

use crate::support::dkms::{Dkms, Target};
use dkms_cli::ui::{self, Ui};
use dkms_proto::Record;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::license;
use std::path::Path;

/// What the kernel makes of one module file.
struct Verdict {
    license: Option<String>,
    gpl_compatible: bool,
    gpl_only: Vec<String>,
}

impl Verdict {
    /// The kernel takes it: GPL-compatible, or using no GPL-only export.
    fn ok(&self) -> bool {
        self.gpl_compatible || self.gpl_only.is_empty()
    }
}

/// Check every module file of the build of m/v for k/a; the number of
/// files the kernel will refuse for their licence.
pub(crate) fn check_build(d: &Dkms, x: Target) -> Result<usize> {
    let Target { m, v, k, a } = x;
    let files = d.built_modules(Target::new(m, v, k, a));
    if files.is_empty() {
        return Err(Error::die(
            Kind::NoModuleFiles,
            [format!("No module file of {m}/{v} is built for kernel {k} ({a}).")],
        )
        .with_hint(format!("Build it first with: dkms build {m}/{v} -k {k}")));
    }
    let symvers = d.kernel_source_dir(k).join("Module.symvers");
    let gpl_exports = license::gpl_only_exports(&symvers).map_err(|e| {
        Error::die(
            Kind::KernelHeadersMissing,
            [format!("Cannot read the kernel's export list {}: {e}", symvers.display())],
        )
        .with_hint("Install the kernel's headers (or name its build directory with --kernelsourcedir).")
    })?;
    let mut refused = 0;
    for file in &files {
        let path = Path::new(file);
        let facts =
            license::module_facts(path).map_err(|e| Error::io(Kind::ModuleUnreadable, format!("reading {file}"), e))?;
        let gpl_compatible = facts.license.as_deref().is_some_and(license::is_gpl_compatible);
        let gpl_only = facts.undefined.iter().filter(|s| gpl_exports.contains(*s)).cloned().collect();
        let verdict = Verdict { license: facts.license, gpl_compatible, gpl_only };
        if !verdict.ok() {
            refused += 1;
        }
        show(&d.ui, Target::new(m, v, k, a), path, &verdict);
        d.ui.emit(Record::License {
            target: ui::target(m, v, Some(k), Some(a)),
            file: file.clone(),
            license: verdict.license.clone(),
            gpl_compatible: verdict.gpl_compatible,
            taints: !verdict.gpl_compatible,
            gpl_only_symbols: verdict.gpl_only.clone(),
            symvers: symvers.display().to_string(),
            ok: verdict.ok(),
        });
    }
    Ok(refused)
}

/// The text paragraph of one file.
fn show(ui: &Ui, x: Target, file: &Path, r: &Verdict) {
    let Target { m, v, k, a } = x;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    ui.outln(&format!("{name} ({m}/{v}, {k}, {a}):"));
    let lic = match (&r.license, r.gpl_compatible) {
        (Some(l), true) => format!("\"{l}\": GPL-compatible"),
        (Some(l), false) => format!("\"{l}\": not GPL-compatible, loading it taints the kernel (P)"),
        (None, _) => "none: not GPL-compatible, loading it taints the kernel (P)".to_string(),
    };
    ui.outln(&format!("  license: {lic}"));
    if r.gpl_only.is_empty() {
        ui.outln("  GPL-only symbols used: none");
    } else {
        ui.outln(&format!("  GPL-only symbols used ({}): {}", r.gpl_only.len(), r.gpl_only.join(", ")));
    }
    let verdict = if !r.ok() {
        "refused: a module that is not GPL-compatible cannot use GPL-only symbols"
    } else if r.gpl_compatible {
        "ok"
    } else {
        "ok, but loading it taints the kernel"
    };
    ui.outln(&format!("  verdict: {verdict}"));
}

/// The failure when `refused` module files use GPL-only symbols.
pub(crate) fn refused_error(m: &str, v: &str, refused: usize) -> Error {
    let line = if refused == 1 {
        format!("{m}/{v}: a module file that is not GPL-compatible uses EXPORT_SYMBOL_GPL symbols; the kernel will not load it.")
    } else {
        format!("{m}/{v}: {refused} module files that are not GPL-compatible use EXPORT_SYMBOL_GPL symbols; the kernel will not load them.")
    };
    Error::die(Kind::GplOnlySymbols, [line])
        .with_hint("Use a GPL-compatible MODULE_LICENSE, or stop using the GPL-only symbols listed.")
}
