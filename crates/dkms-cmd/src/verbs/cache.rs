//! `dkms cache key|push|verify|gc` (not in upstream dkms): the binary
//! cache's own commands. `key` and `push` work on a build of the DKMS tree
//! and compute its key exactly as a build would (same conf, same make
//! environment, same signing); `verify` and `gc` work on a cache directory;
//! `gate` (also `status`) asks the cache sources about every AUTOINSTALL
//! module.

use crate::ops::binary_cache;
use crate::ops::prepare_kernel::{make_env, prepare_kernel_and_signing};
use crate::support::dkms::{Dkms, Target};
use crate::support::subshell::for_each_kernel;
use dkms_cli::ui;
use dkms_proto::Record;
use dkms_state::cache::check;
use dkms_state::cache::entry::{self, Manifest};
use dkms_state::cache::fetch::{Miss, Source};
use dkms_state::error::{Error, Kind, Result};
use dkms_state::status::State;
use dkms_state::{status, tarball, version};
use std::path::{Path, PathBuf};

const USAGE: &str =
    "Usage: dkms cache key|push MODULE/VERSION -k KERNEL [--to DIR] | deb MODULE/VERSION|--all -k KERNEL --to DIR \
     | verify DIR | gc DIR --keep-kernels KERNELS | gate|status -k KERNEL [--cache SOURCES] | kmm MODULE/VERSION... -k KERNEL --to REF";

fn usage(why: &str) -> Error {
    Error::die(Kind::CacheUsage, [why.to_string(), USAGE.to_string()])
}

/// `dkms cache`
pub(crate) fn run(d: &mut Dkms) -> Result<()> {
    let words = d.ctx.args.words.clone();
    let operand = words.get(1).cloned();
    match words.first().map(String::as_str) {
        Some(w @ ("key" | "push")) => {
            let (mut m, mut v) = (d.module.clone(), d.module_version.clone());
            if let Some((om, ov)) = operand.as_deref().and_then(|o| o.split_once('/')) {
                // The operand enters here, not through `-m`: checked as `-m` is.
                dkms_state::name::check(dkms_state::name::What::Module, om)?;
                dkms_state::name::check(dkms_state::name::What::Version, ov)?;
                (m, v) = (om.into(), ov.into());
            }
            if m.is_empty() || v.is_empty() {
                return Err(usage(&format!("cache {w} needs a module/version.")));
            }
            let push = w == "push";
            for_each_kernel(d, &m, &v, |d, k, a| key_or_push(d, Target::new(&m, &v, k, a), push))
        }
        Some("deb") => super::cache_deb::run(d, operand.as_deref()),
        Some("verify") => verify(d, &PathBuf::from(operand.ok_or_else(|| usage("cache verify needs a directory."))?)),
        // `status` is `gate` when it reaches here (driver::cache_status).
        Some(w @ ("gate" | "status")) => gate(d, w),
        Some("kmm") => super::cache_kmm::run(d, &words[1..], usage),
        Some("gc") => gc(d, &PathBuf::from(operand.ok_or_else(|| usage("cache gc needs a directory."))?)),
        Some(other) => Err(usage(&format!("Unknown cache action: {other}"))),
        None => Err(usage("cache needs an action.")),
    }
}

fn key_or_push(d: &mut Dkms, x: Target, push: bool) -> Result<()> {
    let Target { m, v, k, a } = x;
    d.module_is_broken_and_die(m, v)?;
    let conf = d.read_conf_or_die(Target::new(m, v, k, a), None, true)?;
    let prepared = d.quietly(|d| prepare_kernel_and_signing(d, k, a));
    prepared?;
    let env = make_env(d, k);
    let suffix = d.module_suffix(k);
    if !push {
        let inputs = binary_cache::inputs(d, Target::new(m, v, k, a), &conf, &env, suffix)
            .map_err(|e| Error::io(Kind::CacheKeyFailed, "computing the cache key", e))?;
        d.ui.outln(&inputs.key());
        d.ui.outln(&serde_json::to_string_pretty(&inputs).unwrap_or_default());
        return Ok(());
    }
    if !status::is_module_built(&d.ctx.trees, m, v, k, a) {
        return Err(Error::die(Kind::NotBuilt, [format!("{m}/{v} is not built for {k} ({a}): nothing to push.")]));
    }
    let to = match d.ctx.args.cache_to.clone() {
        Some(p) => binary_cache::PushTo::new(p),
        None => binary_cache::push_to(d).ok_or_else(|| usage("cache push needs --to DIR or binary_cache_push."))?,
    };
    binary_cache::push(d, Target::new(m, v, k, a), &conf, &env, suffix, &to)
        .map(drop)
        .map_err(|e| Error::die(Kind::CacheEntryBad, [format!("Binary cache entry not written to {to}: {e}")]))
}

/// The newest version of every module of the tree whose dkms.conf has
/// AUTOINSTALL for `k`/`a` (what autoinstall would install).
fn autoinstall_modules(d: &mut Dkms, k: &str, a: &str) -> Result<Vec<(String, String)>> {
    let mut latest: Vec<(String, String)> = Vec::new();
    for e in status::module_status(&d.ctx.trees, None, None, None, None) {
        if e.state == State::Broken {
            continue;
        }
        match latest.iter_mut().find(|(m, _)| *m == e.module) {
            None => latest.push((e.module, e.version)),
            Some(slot) if version::compare(&e.version, &slot.1).is_gt() => slot.1 = e.version,
            Some(_) => {}
        }
    }
    let mut out = Vec::new();
    for (m, v) in latest {
        let file = d.ctx.trees.source_link(&m, &v).join("dkms.conf");
        if d.read_conf_or_die(Target::new(&m, &v, k, a), Some(&file), false)?.autoinstall {
            out.push((m, v));
        }
    }
    Ok(out)
}

/// `cache gate -k K`: for each AUTOINSTALL module, fetch and verify the
/// entry of its build for K (K need not be installed, its headers must
/// be), install nothing; fail naming the modules the cache lacks.
fn gate(d: &mut Dkms, word: &str) -> Result<()> {
    if d.ctx.args.kernelver.is_empty() {
        return Err(usage(&format!("cache {word} needs -k KERNEL.")));
    }
    if binary_cache::sources(d).is_empty() {
        return Err(usage(&format!("cache {word} needs --cache SOURCES or binary_cache.")));
    }
    let (k, a) = d.kernelver0();
    let prepared = d.quietly(|d| prepare_kernel_and_signing(d, &k, &a));
    prepared?;
    let (env, suffix) = (make_env(d, &k), d.module_suffix(&k));
    let modules = autoinstall_modules(d, &k, &a)?;
    let mut missing = Vec::new();
    for (m, v) in &modules {
        let x = Target::new(m, v, &k, &a);
        let conf = d.read_conf_or_die(x, None, true)?;
        let (key, source, reasons) = match binary_cache::lookup(d, x, &conf, &env, suffix) {
            binary_cache::Lookup::Found(p) => (p.key.clone(), p.word.clone(), Vec::new()),
            binary_cache::Lookup::Missing(key, r) => {
                (key, String::new(), r.into_iter().map(|(w, r)| format!("{w}: {r}")).collect())
            }
            binary_cache::Lookup::NoKey(e) => {
                (String::new(), String::new(), vec![format!("cannot compute the key ({e})")])
            }
            binary_cache::Lookup::NoCache => (String::new(), String::new(), vec!["no binary cache".into()]),
        };
        let short = key.get(..12).unwrap_or("-");
        if reasons.is_empty() {
            d.ui.outln(&format!("{m}/{v}, {k}, {a}: cached ({short}) in {source}"));
        } else {
            d.ui.outln(&format!("{m}/{v}, {k}, {a}: missing ({short}): {}", reasons.join("; ")));
            missing.push(format!("{m}/{v}"));
        }
        let target = ui::target(m, v, Some(&k), Some(&a));
        d.ui.emit(Record::CacheStatus { target, cached: reasons.is_empty(), key, source, reasons });
    }
    if !missing.is_empty() {
        return Err(Error::die(
            Kind::CacheIncomplete,
            [format!(
                "The binary cache lacks {} of {} AUTOINSTALL modules for {k} ({a}): {}",
                missing.len(),
                modules.len(),
                missing.join(" ")
            )],
        ));
    }
    d.ui.outln(&format!("The binary cache holds all {} AUTOINSTALL modules for {k} ({a}).", modules.len()));
    Ok(())
}

/// The keys of the entries of `dir` (the `<key>.json` files), sorted.
fn keys(dir: &Path) -> Result<Vec<String>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(Kind::CacheDirUnreadable, dir.display(), e))?;
    let mut keys: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".json")).map(String::from))
        .filter(|k| entry::valid_key(k))
        .collect();
    keys.sort();
    Ok(keys)
}

/// `cache verify DIR`: every entry, fully; one line per bad one.
fn verify(d: &mut Dkms, dir: &Path) -> Result<()> {
    let (k, a) = d.kernelver0();
    let cert = binary_cache::certificate(d, &k, &a);
    let keys = keys(dir)?;
    let mut bad = 0;
    for key in &keys {
        if let Err(why) = verify_one(d, dir, key, &cert) {
            d.ui.outln(&format!("{key}: {why}"));
            bad += 1;
        }
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let stem = n.strip_suffix(".json.sig").or_else(|| n.strip_suffix(".tar.zst"));
        if let Some(stem) = stem.filter(|s| !keys.iter().any(|k| k == s)) {
            d.ui.outln(&format!("{n}: no manifest {stem}.json"));
            bad += 1;
        }
    }
    d.ui.outln(&format!("{} entries checked in {}, {bad} bad", keys.len(), dir.display()));
    if bad > 0 {
        return Err(Error::die(Kind::CacheEntryBad, [format!("{bad} bad binary cache entries in {}", dir.display())]));
    }
    Ok(())
}

/// One entry of `dir`, checked exactly as a build checks what it fetches
/// (`check::fetch_checked`, through the same bounded directory source).
fn verify_one(d: &Dkms, dir: &Path, key: &str, cert: &Path) -> std::result::Result<(), String> {
    let tmp = tarball::private_dir(&d.ctx.tmp_location).map_err(|e| e.to_string())?;
    match check::fetch_checked(&Source::Dir(dir.to_path_buf()), key, cert, tmp.path(), None) {
        Ok(_) => Ok(()),
        Err(Miss::Absent) => Err("manifest missing".into()),
        Err(Miss::Failed(why)) => Err(why),
    }
}

/// `cache gc DIR --keep-kernels K...`: remove the entries of other kernels
/// and stray temporary files.
fn gc(d: &mut Dkms, dir: &Path) -> Result<()> {
    let keep = d.ctx.args.keep_kernels.clone();
    if keep.is_empty() {
        return Err(usage("cache gc needs --keep-kernels."));
    }
    let mut removed = 0;
    for key in keys(dir)? {
        // Bounded, regular files only: a FIFO is an unreadable manifest.
        let kernel = Source::Dir(dir.to_path_buf())
            .get(&format!("{key}.json"), check::MAX_MANIFEST)
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
            .map(|m| m.kernel);
        if kernel.as_ref().is_some_and(|k| keep.contains(k)) {
            continue;
        }
        // Manifest last written, first removed: readers never see half an entry.
        for name in entry::names(&key) {
            let _ = std::fs::remove_file(dir.join(name));
        }
        d.ui.outln(&format!("Removed {key} ({})", kernel.unwrap_or_else(|| "unreadable manifest".into())));
        removed += 1;
    }
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with('.') && (n.contains(".json") || n.contains(".tar.zst")) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    d.ui.outln(&format!("{removed} entries removed from {}", dir.display()));
    Ok(())
}
