//! `dkms sign [module/version] [-k kernel] [--all]` (not in upstream
//! dkms; dkms#372): re-sign what is built and installed with the key and
//! certificate a build would use now, e.g. after `generate_mok` made a new
//! pair or framework.conf names another. Without -k: every kernel the
//! module is built for; `--all` without a module: every built module.

use crate::ops::plan::Step;
use crate::ops::sign::{planned_files, sign_build};
use crate::support::dkms::{Dkms, Signer, Target};
use crate::support::signing;
use dkms_cli::ui;
use dkms_proto::{PlannedAction, Record};
use dkms_state::error::{Error, Kind, Result};
use dkms_state::status::{self, State};
use std::collections::HashMap;
use std::path::Path;

pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    let (m, v) = (d.module.clone(), d.module_version.clone());
    if m.is_empty() && !d.ctx.args.all {
        return Err(Error::die(
            Kind::ModuleArgsMissing,
            ["Specify a module/version to sign, or --all to sign every built module."],
        ));
    }
    if !m.is_empty() {
        d.checked_target("sign", &d.module, &d.module_version)?;
    }
    d.check_rw_dkms_tree()?;
    let kernels = d.ctx.args.kernelver.clone();
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let builds: Vec<(String, String, String, String)> =
        status::module_status(&d.ctx.trees, opt(&m).as_deref(), opt(&v).as_deref(), None, None)
            .into_iter()
            .filter(|e| matches!(e.state, State::Built | State::Installed))
            .filter_map(|e| Some((e.module, e.version, e.kernel?, e.arch?)))
            .filter(|(_, _, k, _)| kernels.is_empty() || kernels.contains(k))
            .collect();
    if builds.is_empty() {
        d.ui.outln("Nothing built to sign.");
        return Ok(());
    }
    let dry_run = d.ctx.args.dry_run;
    let mut signers: HashMap<String, Signer> = HashMap::new();
    for (m, v, k, a) in &builds {
        if !signers.contains_key(k) {
            let s = signer(d, k, a, !dry_run)?;
            signers.insert(k.clone(), s);
        }
        let s = signers[k].clone();
        if dry_run {
            let files = planned_files(d, Target::new(m, v, k, a))?;
            Step { files, ..Step::new(PlannedAction::Sign, Target::new(m, v, k, a)) }.emit(&d.ui);
            continue;
        }
        let files = sign_build(d, Target::new(m, v, k, a), &s)?;
        d.ui.emit(Record::Signed { target: ui::target(m, v, Some(k), Some(a)), certificate: s.cert.clone(), files });
    }
    Ok(())
}

/// What a build for kernel `k` signs with now (`prepare_signing`'s checks,
/// without generating a pair: signing with a new one makes sense only once
/// it is enrolled); its prologue lines, once per kernel, when `print`
/// (not in a `--dry-run` plan, which makes the same checks).
fn signer(d: &Dkms, k: &str, a: &str, print: bool) -> Result<Signer> {
    let config = d.kernel_config(k);
    let s = signing::expected_signer(d, k, a, &config)
        .map_err(|why| Error::die(Kind::SignFailed, [format!("Modules for kernel {k} are not signed: {why}.")]))?;
    let key_there = s.key.starts_with("pkcs11:") || Path::new(&s.key).is_file();
    if !key_there || !Path::new(&s.cert).is_file() {
        return Err(Error::die(
            Kind::MokUnavailable,
            [format!("The signing key {} or its certificate {} does not exist.", s.key, s.cert)],
        )
        .with_hint("dkms generate_mok"));
    }
    if print {
        d.ui.outln(&format!("Sign command: {}", s.sign_file.display()));
        d.ui.outln(&format!("Signing key: {}", s.key));
        d.ui.outln(&format!("Public certificate (MOK): {}", s.cert));
        d.ui.outln("");
    }
    Ok(s)
}
