//! The binary cache (not in upstream dkms): before make, fetch and verify
//! the entry for the build's key from a cache source (`fetch`), which
//! `do_build` then puts in place of make's output (`place`), everything
//! else being a local build's; after a local build, write it as an entry
//! (`push_after_build`). The key, the entry format and the sources are in
//! `dkms_state::cache`. With no cache configured both return at once and
//! compute nothing: dkms behaves exactly as upstream's.

use super::build_steps::{missing_module, stage_build};
use super::prepare_kernel::date;
use crate::support::dkms::{Dkms, Target};
use dkms_cli::{ui, RELEASE_STRING};
use dkms_proto::Record;
use dkms_state::cache::check;
use dkms_state::cache::entry::{self, MakeStats, Manifest};
use dkms_state::cache::fetch::{Miss, Source};
use dkms_state::cache::key::{self, Inputs};
use dkms_state::cache::oci;
use dkms_state::conf::Conf;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::progress::{self, Previous};
use dkms_state::{env, fsutil, tarball};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A setting of the cache: the option, else `DKMS_<NAME>`, else
/// framework.conf.
fn setting(d: &Dkms, name: &str) -> String {
    let flag = match name {
        "binary_cache" => d.opts.binary_cache.clone(),
        "binary_cache_push" => d.opts.binary_cache_push.clone(),
        _ => d.opts.binary_cache_certificate.clone(),
    };
    flag.or_else(|| env::var(&format!("DKMS_{}", name.to_ascii_uppercase())))
        .unwrap_or_else(|| d.ctx.setting(name).to_string())
}

/// The sources of `binary_cache`, in order, each with the word naming it.
pub(crate) fn sources(d: &Dkms) -> Vec<(String, Source)> {
    setting(d, "binary_cache").split_ascii_whitespace().map(|w| (w.to_string(), Source::parse(w))).collect()
}

/// Where entries are pushed: a directory or a registry repository.
pub(crate) enum PushTo {
    Dir(PathBuf),
    Oci(std::result::Result<oci::Reference, String>),
}

impl PushTo {
    /// `binary_cache_push` or `--to`: `oci://`/`oci+http://` name a
    /// registry, anything else a directory.
    pub(crate) fn new(to: PathBuf) -> PushTo {
        match to.to_str().and_then(oci::Reference::parse) {
            Some(r) => PushTo::Oci(r),
            None => PushTo::Dir(to),
        }
    }
}

impl std::fmt::Display for PushTo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushTo::Dir(p) => write!(f, "{}", p.display()),
            PushTo::Oci(Ok(r)) => write!(f, "{r}"),
            PushTo::Oci(Err(_)) => write!(f, "an OCI registry"),
        }
    }
}

/// `binary_cache_push`, if set.
pub(crate) fn push_to(d: &Dkms) -> Option<PushTo> {
    Some(setting(d, "binary_cache_push")).filter(|s| !s.is_empty()).map(|s| PushTo::new(s.into()))
}

/// The MOK key pair as `prepare_mok` finds it (without generating one):
/// mok_signing_key and mok_certificate, else the distribution's default.
fn mok(d: &Dkms, k: &str, a: &str) -> (PathBuf, PathBuf) {
    let s = crate::support::signing::settings(d, k, a);
    let get = |n: &str| s.get(n).cloned().filter(|v| !v.is_empty());
    let ubuntu = d.ctx.running_distribution.starts_with("ubuntu");
    let (dk, dc) = if ubuntu {
        ("/var/lib/shim-signed/mok/MOK.priv", "/var/lib/shim-signed/mok/MOK.der")
    } else {
        ("/var/lib/dkms/mok.key", "/var/lib/dkms/mok.pub")
    };
    let key = get("mok_signing_key").unwrap_or_else(|| dk.into());
    let cert = get("mok_certificate").unwrap_or_else(|| dc.into());
    (key.into(), cert.into())
}

/// `binary_cache_certificate`, default mok_certificate.
pub(crate) fn certificate(d: &Dkms, k: &str, a: &str) -> PathBuf {
    Some(setting(d, "binary_cache_certificate"))
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| mok(d, k, a).1)
}

/// The key inputs of building `x` with `conf`, make getting `env`, the
/// modules compressed with `suffix`.
pub(crate) fn inputs(
    d: &Dkms,
    x: Target,
    conf: &Conf,
    env: &[(String, String)],
    suffix: &str,
) -> std::io::Result<Inputs> {
    let t = &d.ctx.trees;
    let source_dir = d.build_source(x.m, x.v);
    let ksrc = d.kernel_source_dir(x.k);
    let config = d.kernel_config(x.k);
    let conf_vars =
        conf.raw.vars.iter().flat_map(|(n, arr)| arr.iter().map(move |(i, v)| (n.clone(), *i, v.clone()))).collect();
    let s = |p: &Path| p.to_string_lossy().into_owned();
    // dkms's own markers (the lock holder's pid) decide nothing in a build.
    let make_env: Vec<(String, String)> = env.iter().filter(|(n, _)| !n.starts_with("DKMS_")).cloned().collect();
    let r = key::Request {
        module: x.m,
        version: x.v,
        kernel: x.k,
        arch: x.a,
        source_dir: &source_dir,
        conf_vars,
        make_command: &conf.make_command,
        patch_overlay: Some(d.ctx.conf_dir.join(x.m).join("patches")),
        kernel_source_dir: &ksrc,
        kernel_config: &config,
        make_env: &make_env,
        signing: d.signer.as_ref().map(|s| (s.hash.clone(), PathBuf::from(&s.cert))),
        compression: suffix,
        dkms_version: RELEASE_STRING,
        trees: vec![
            (s(&ksrc), "$kernel_source_dir"),
            (s(&t.dkms_tree), "$dkms_tree"),
            (s(&t.source_tree), "$source_tree"),
            (s(&t.install_tree), "$install_tree"),
        ],
    };
    key::gather(&r)
}

/// What the last build of `m`/`v` took, as the newest entry of it in a
/// cache directory (those of `binary_cache`, then `binary_cache_push`)
/// records it: what a local build with no make.log of the module/version
/// counts its total and time left against (`--progress`). Sources on HTTP
/// or in registries are not listed for it: that would cost requests at
/// the start of every build.
pub(crate) fn last_make(d: &Dkms, m: &str, v: &str) -> Option<Previous> {
    let mut dirs: Vec<PathBuf> =
        sources(d).into_iter().filter_map(|(_, s)| if let Source::Dir(p) = s { Some(p) } else { None }).collect();
    if let Some(PushTo::Dir(p)) = push_to(d) {
        dirs.push(p);
    }
    let newest = dirs.iter().filter_map(|dir| check::last_make(dir, m, v)).max_by_key(|(created, _)| *created);
    newest.map(|(_, s)| Previous { steps: s.steps, elapsed: std::time::Duration::from_secs(s.seconds) })
}

/// A verified entry of the binary cache, unpacked into a private
/// directory outside the DKMS tree (removed when dropped), to stand in for
/// make: `place` puts it where the build goes.
pub(crate) struct Prebuilt {
    /// The word of `binary_cache` naming its source.
    pub(crate) word: String,
    pub(crate) key: String,
    dir: tempfile::TempDir,
}

impl Prebuilt {
    /// The unpacked archive: `module/`, `log/make.log`.
    fn root(&self) -> PathBuf {
        self.dir.path().join("entry")
    }

    /// The entry's built modules (what `module/` of a build holds).
    pub(crate) fn module_dir(&self) -> PathBuf {
        self.root().join("module")
    }
}

/// What the sources of `binary_cache` hold for one build.
pub(crate) enum Lookup {
    /// No source is configured.
    NoCache,
    /// The key could not be computed (why).
    NoKey(String),
    /// The first entry that passed every check.
    Found(Prebuilt),
    /// None did: the key and, for each source, its word and why.
    Missing(String, Vec<(String, String)>),
}

/// The first entry for the build of `x` that a source of `binary_cache`
/// has and that passes every check (signature, the files' hashes, every
/// module present and built for this kernel, signed when dkms signs).
pub(crate) fn lookup(d: &Dkms, x: Target, conf: &Conf, env: &[(String, String)], suffix: &str) -> Lookup {
    let sources = sources(d);
    if sources.is_empty() {
        return Lookup::NoCache;
    }
    let key = match inputs(d, x, conf, env, suffix) {
        Ok(i) => i.key(),
        Err(e) => return Lookup::NoKey(e.to_string()),
    };
    let cert = certificate(d, x.k, x.a);
    let mut reasons = Vec::new();
    for (word, src) in sources {
        let reason = match from_source(d, x, conf, suffix, &src, &key, &cert) {
            Ok(dir) => return Lookup::Found(Prebuilt { word, key, dir }),
            Err(Miss::Absent) => "no entry".to_string(),
            Err(Miss::Failed(r)) => r,
        };
        reasons.push((word, reason));
    }
    Lookup::Missing(key, reasons)
}

/// Before make: `lookup`'s entry. None: no cache, or no source could
/// supply it (each said why in a warning); the caller builds locally.
pub(crate) fn fetch(d: &Dkms, x: Target, conf: &Conf, env: &[(String, String)], suffix: &str) -> Option<Prebuilt> {
    let (key, reasons) = match lookup(d, x, conf, env, suffix) {
        Lookup::NoCache => return None,
        Lookup::Found(p) => return Some(p),
        Lookup::NoKey(e) => {
            d.ui.warn(&[format!("Binary cache not used: cannot compute the key ({e})")]);
            return None;
        }
        Lookup::Missing(key, reasons) => (key, reasons),
    };
    for (word, reason) in reasons {
        d.ui.warn(&[format!("Binary cache {word} not used for {}: {reason}", &key[..12])]);
        d.ui.emit(Record::CacheRejected {
            target: ui::target(x.m, x.v, Some(x.k), Some(x.a)),
            source: word,
            key: key.clone(),
            reason,
        });
    }
    None
}

/// Fetch the entry `key` of `src` into a private directory, check it as
/// `cache verify` does (`check::fetch_checked`) and unpack it there
/// (`entry/`); then the build's own demands: for this build, every module
/// of its conf there.
fn from_source(
    d: &Dkms,
    x: Target,
    conf: &Conf,
    suffix: &str,
    src: &Source,
    key: &str,
    cert: &Path,
) -> std::result::Result<tempfile::TempDir, Miss> {
    let tmp = tarball::private_dir(&d.ctx.tmp_location).map_err(|e| Miss::Failed(e.to_string()))?;
    let checked = check::fetch_checked(src, key, cert, tmp.path(), Some([x.m, x.v, x.k, x.a]))?;
    if let Some(name) = missing_module(conf, x.k, x.a, &checked.root.join("module"), suffix) {
        return Err(Miss::Failed(format!("module {name} missing from the entry")));
    }
    // The signature the key promises is the one this build makes.
    if d.signer.is_some() == checked.manifest.inputs.signing.is_empty() {
        return Err(Miss::Failed("manifest is for another build".into()));
    }
    Ok(tmp)
}

/// Put the `prebuilt` entry where the build of `x` goes, in the place of
/// make (`do_build` runs this between copying the source to `build/` and
/// POST_BUILD): its make.log becomes the build's log, with a line saying
/// where it came from, and its modules are staged and renamed into place
/// as a local build's are (`stage_build`).
pub(crate) fn place(d: &Dkms, x: Target, conf: &Conf, suffix: &str, p: &Prebuilt, build_log: &Path) -> Result<()> {
    let root = p.root();
    let log = root.join("log/make.log");
    if log.is_file() {
        fsutil::copy_file(&log, build_log).map_err(|e| Error::io(Kind::BuildPrepareFailed, build_log.display(), e))?;
    }
    let line = format!("\nUsing prebuilt modules from {} ({})\n{}", p.word, &p.key[..12], date());
    let appended =
        std::fs::OpenOptions::new().append(true).open(build_log).and_then(|mut f| f.write_all(line.as_bytes()));
    appended.map_err(|e| Error::io(Kind::BuildPrepareFailed, build_log.display(), e))?;
    stage_build(d, x, conf, suffix, |module_dir| {
        fsutil::copy_tree(&root.join("module"), module_dir)
            .map_err(|e| Error::io(Kind::BuildStagingFailed, module_dir.display(), e))
    })?;
    d.ui.outln(&format!("Using prebuilt modules from {} ({})", p.word, &p.key[..12]));
    Ok(())
}

/// After a successful local build: write it into binary_cache_push, if
/// set. A failure is a warning; the build stands.
pub(crate) fn push_after_build(d: &Dkms, x: Target, conf: &Conf, env: &[(String, String)], suffix: &str) {
    let Some(to) = push_to(d) else { return };
    if let Err(e) = push(d, x, conf, env, suffix, &to) {
        d.ui.warn(&[format!("Binary cache entry not written to {to}: {e}")]);
    }
}

/// Write the build of `x` (in the DKMS tree) into `to` as an entry; its
/// key. A registry gets the entry written into a private directory first,
/// then uploaded from there.
pub(crate) fn push(
    d: &Dkms,
    x: Target,
    conf: &Conf,
    env: &[(String, String)],
    suffix: &str,
    to: &PushTo,
) -> std::result::Result<String, String> {
    let inputs = inputs(d, x, conf, env, suffix).map_err(|e| format!("cannot compute the key ({e})"))?;
    let key = inputs.key();
    let base = d.ctx.trees.arch_dir(x.m, x.v, x.k, x.a);
    let files = entry::file_records(&base).map_err(|e| e.to_string())?;
    let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |t| t.as_secs());
    // What make did, for the progress of later builds elsewhere (`last_make`).
    let make = progress::previous_in(&base.join("log/make.log"))
        .map(|p| MakeStats { steps: p.steps, seconds: p.elapsed.as_secs() });
    let m = Manifest {
        format: entry::FORMAT,
        key: key.clone(),
        module: x.m.into(),
        version: x.v.into(),
        kernel: x.k.into(),
        arch: x.a.into(),
        inputs,
        files,
        dkms_version: RELEASE_STRING.into(),
        created,
        make,
    };
    let (sk, sc) = mok(d, x.k, x.a);
    match to {
        PushTo::Dir(dir) => entry::write(dir, &m, &base, &sk, &sc)?,
        PushTo::Oci(r) => {
            let r = r.as_ref().map_err(String::clone)?;
            let tmp = tarball::private_dir(&d.ctx.tmp_location).map_err(|e| e.to_string())?;
            entry::write(tmp.path(), &m, &base, &sk, &sc)?;
            oci::push(r, &key, tmp.path())?;
        }
    }
    d.ui.outln(&format!("Binary cache entry {} written to {to}", &key[..12]));
    d.ui.emit(Record::CachePushed {
        target: ui::target(x.m, x.v, Some(x.k), Some(x.a)),
        dir: to.to_string(),
        key: key.clone(),
    });
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::dkms::Target;
    use crate::support::fixture::{conf, Fixture, A, K};

    /// hello/1.0 added for kernel K and its conf.
    fn hello(f: &mut Fixture) -> Conf {
        f.kernel(K);
        f.write(&format!("modules/{K}/build/.config"), "CONFIG_MODULE_SIG_HASH=\"sha512\"\n");
        f.add(
            "hello",
            "1.0",
            &conf("hello", "1.0", "MAKE[0]=\"make -C $kernel_source_dir M=$dkms_tree/hello/1.0/build\""),
        );
        f.read_conf(Target::new("hello", "1.0", K, A))
    }

    fn key(f: &Fixture, c: &Conf, env: &[(&str, &str)], suffix: &str) -> String {
        let env: Vec<(String, String)> = env.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        inputs(&f.d, Target::new("hello", "1.0", K, A), c, &env, suffix).unwrap().key()
    }

    #[test]
    fn with_no_cache_configured_nothing_is_computed() {
        let mut f = Fixture::new();
        let c = hello(&mut f);
        assert!(sources(&f.d).is_empty());
        assert!(matches!(lookup(&f.d, Target::new("hello", "1.0", K, A), &c, &[], ""), Lookup::NoCache));
        assert!(push_to(&f.d).is_none());
    }

    #[test]
    fn the_key_changes_with_every_build_input_but_not_with_dkms_own_markers() {
        let mut f = Fixture::new();
        let c = hello(&mut f);
        let base = key(&f, &c, &[], "");
        assert_eq!(base.len(), 64);
        assert_eq!(key(&f, &c, &[], ""), base, "the same inputs, the same key");
        assert_eq!(key(&f, &c, &[("DKMS_LOCK_HOLDER", "123")], ""), base);
        assert_ne!(key(&f, &c, &[("KCFLAGS", "-O3")], ""), base);
        assert_ne!(key(&f, &c, &[], ".xz"), base);
        // The source, the kernel's config, a patch of /etc/dkms/<m>/patches.
        f.write("src/hello-1.0/hello.c", "int x;\n");
        let with_source = key(&f, &c, &[], "");
        assert_ne!(with_source, base);
        f.write(&format!("modules/{K}/build/.config"), "CONFIG_MODULE_SIG_HASH=\"sha256\"\n");
        let with_config = key(&f, &c, &[], "");
        assert_ne!(with_config, with_source);
        f.write("etc/dkms/hello/patches/fix.patch", "--- a\n+++ b\n");
        assert_ne!(key(&f, &c, &[], ""), with_config);
    }

    #[test]
    fn the_key_does_not_depend_on_where_the_trees_are() {
        // $dkms_tree and $kernel_source_dir in MAKE are named, not spelled
        // out: two machines with other trees share entries.
        let (mut one, mut two) = (Fixture::new(), Fixture::new());
        let (c1, c2) = (hello(&mut one), hello(&mut two));
        assert_ne!(one.trees().dkms_tree, two.trees().dkms_tree);
        assert_eq!(key(&one, &c1, &[], ""), key(&two, &c2, &[], ""));
    }

    #[test]
    fn a_source_without_the_entry_is_missing_with_its_reason() {
        let mut f = Fixture::with(|a| a.binary_cache = Some("/nonexistent/cache file:///nonexistent/other".into()));
        let c = hello(&mut f);
        let want = key(&f, &c, &[], "");
        match lookup(&f.d, Target::new("hello", "1.0", K, A), &c, &[], "") {
            Lookup::Missing(key, reasons) => {
                assert_eq!(key, want);
                let words: Vec<&str> = reasons.iter().map(|r| r.0.as_str()).collect();
                assert_eq!(words, ["/nonexistent/cache", "file:///nonexistent/other"]);
                assert!(reasons.iter().all(|r| r.1 == "no entry"), "{reasons:?}");
            }
            _ => panic!("expected the entry missing"),
        }
    }

    #[test]
    fn push_goes_to_a_registry_or_a_directory() {
        assert!(matches!(PushTo::new("oci://reg.example/fleet/dkms".into()), PushTo::Oci(Ok(_))));
        assert!(matches!(PushTo::new("oci://reg.example/Upper".into()), PushTo::Oci(Err(_))));
        let dir = PushTo::new("/srv/dkms-cache".into());
        assert!(matches!(dir, PushTo::Dir(_)));
        assert_eq!(dir.to_string(), "/srv/dkms-cache");
        assert_eq!(PushTo::new("oci+http://127.0.0.1:5000/c".into()).to_string(), "oci+http://127.0.0.1:5000/c");
        let f = Fixture::with(|a| a.binary_cache_push = Some("/srv/dkms-cache".into()));
        assert_eq!(push_to(&f.d).map(|p| p.to_string()).as_deref(), Some("/srv/dkms-cache"));
    }

    #[test]
    fn the_certificate_option_wins() {
        let f = Fixture::with(|a| a.binary_cache_certificate = Some("/etc/fleet.pem".into()));
        assert_eq!(certificate(&f.d, K, A), PathBuf::from("/etc/fleet.pem"));
    }
}
