//! `dkms cache kmm M/V... -k K --to REF` (not in upstream dkms): a
//! Kubernetes KMM ModuleLoader image of existing builds: the modules under
//! `/opt/lib/modules/<K>/updates/dkms/` with the depmod files of
//! `depmod -b /opt K`, and a static `cp` (busybox-static) at `/bin/cp`, as
//! KMM's worker needs; written to `oci-layout:DIR[:TAG]` or pushed to
//! `oci://`/`oci+http://` (tag: the kernel).

use crate::support::dkms::Dkms;
use dkms_state::cache::{image, oci};
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{fsutil, status, tarball, tools};
use std::path::{Path, PathBuf};

/// A static busybox, which runs as `cp` under that name.
const BUSYBOX: &str = "/bin/busybox";

fn bad(what: String) -> Error {
    Error::die(Kind::CacheEntryBad, [format!("KMM image not written: {what}")])
}

/// `cache kmm`: `mvs` are the `module/version` operands.
pub(crate) fn run(d: &mut Dkms, mvs: &[String], usage: impl Fn(&str) -> Error) -> Result<()> {
    let (k, a) = d.kernelver0();
    if mvs.is_empty() || k.is_empty() {
        return Err(usage("cache kmm needs module/version operands and -k KERNEL."));
    }
    let to =
        d.ctx.args.cache_to.clone().ok_or_else(|| usage("cache kmm needs --to oci-layout:DIR or oci://HOST/REPO."))?;
    let to = to.to_str().ok_or_else(|| usage("cache kmm: --to is not UTF-8."))?.to_string();
    let tmp = tarball::private_dir(&d.ctx.tmp_location).map_err(|e| bad(e.to_string()))?;
    let root = tmp.path().join("root");
    let dest = root.join("opt/lib/modules").join(&k).join("updates/dkms");
    std::fs::create_dir_all(&dest).map_err(|e| bad(e.to_string()))?;
    for mv in mvs {
        let (m, v) = mv.split_once('/').ok_or_else(|| usage(&format!("{mv} is not module/version.")))?;
        dkms_state::name::check(dkms_state::name::What::Module, m)?;
        dkms_state::name::check(dkms_state::name::What::Version, v)?;
        if !status::is_module_built(&d.ctx.trees, m, v, &k, &a) {
            return Err(Error::die(Kind::NotBuilt, [format!("{m}/{v} is not built for {k} ({a}): no KMM image.")]));
        }
        copy_modules(&d.ctx.trees.arch_dir(m, v, &k, &a).join("module"), &dest)?;
    }
    depmod(&root.join("opt"), &k)?;
    std::fs::create_dir_all(root.join("bin")).map_err(|e| bad(e.to_string()))?;
    if !Path::new(BUSYBOX).is_file() {
        return Err(bad(format!("{BUSYBOX} is missing (apt-get install busybox-static)")));
    }
    fsutil::copy_file(Path::new(BUSYBOX), &root.join("bin/cp")).map_err(|e| bad(format!("bin/cp: {e}")))?;
    let img = image::build(&root, tmp.path(), &a).map_err(bad)?;
    let tag = image::tag_for(&k);
    let written = if let Some(layout) = to.strip_prefix("oci-layout:") {
        // `DIR:TAG`, the tag being what follows the last `:` if it holds no `/`.
        let (dir, tag) = match layout.rsplit_once(':') {
            Some((dir, t)) if !t.contains('/') && !t.is_empty() => (dir, t.to_string()),
            _ => (layout, tag),
        };
        image::write_layout(Path::new(dir), &tag, &img).map(|_| format!("oci-layout:{dir}:{tag}"))
    } else {
        match oci::Reference::parse(&to) {
            Some(Ok(r)) => oci::push_image(&r, &tag, &img.blobs, &img.manifest).map(|_| format!("{r}:{tag}")),
            Some(Err(why)) => Err(why),
            None => return Err(usage(&format!("cache kmm: {to} is neither oci-layout:DIR nor oci://HOST/REPO."))),
        }
    };
    let written = written.map_err(bad)?;
    d.ui.outln(&format!("KMM image of {} for {k} written to {written} ({})", mvs.join(" "), img.descriptor().digest));
    Ok(())
}

/// The module files (`*.ko*`, regular files) of a build into `dest`.
fn copy_modules(from: &Path, dest: &Path) -> Result<()> {
    let rd = std::fs::read_dir(from).map_err(|e| Error::io(Kind::CacheEntryBad, from.display(), e))?;
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()) && e.file_name().to_string_lossy().contains(".ko"))
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().map(PathBuf::from).unwrap_or_default();
        fsutil::copy_file(&f, &dest.join(&name)).map_err(|e| Error::io(Kind::CacheEntryBad, dest.display(), e))?;
    }
    Ok(())
}

/// `depmod -b BASE K`: modules.dep and the rest under BASE/lib/modules/K.
fn depmod(base: &Path, k: &str) -> Result<()> {
    let mut c = tools::command("depmod", &[]);
    c.arg("-b").arg(base).arg(k);
    match tools::output(&mut c) {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(bad(format!("depmod failed: {}", String::from_utf8_lossy(&o.stderr).trim()))),
        Err(e) => Err(bad(format!("depmod: {e}"))),
    }
}
