//! The cache key of a build: SHA-256 over the canonical JSON of `Inputs`,
//! everything that decides the built files. What is deliberately left out:
//! modification times, owners, and where the DKMS and source trees are
//! (their paths in dkms.conf values are replaced by `$dkms_tree` and
//! `$source_tree`), so that every node of a fleet computes the same key.

use super::{file_sha256, sha256_hex};
use crate::tools;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The inputs of a key, kept readable in every entry's manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    pub module: String,
    pub version: String,
    pub kernel: String,
    pub arch: String,
    /// SHA-256 over the module's source tree (`tree_digest`).
    pub source: String,
    /// The evaluated dkms.conf variables, `NAME[i]` → value.
    pub conf: BTreeMap<String, String>,
    /// The make command dkms runs (trees replaced as in `conf`).
    pub make_command: String,
    /// Patches from the framework's overlay (`/etc/dkms/<module>/patches`),
    /// name → SHA-256; patches shipped in the source are in `source`.
    pub patches: BTreeMap<String, String>,
    /// Kernel header identity: `Module.symvers`, `.config` and
    /// `include/generated/utsrelease.h` of the kernel build directory →
    /// SHA-256 ("absent" when missing).
    pub headers: BTreeMap<String, String>,
    /// `CONFIG_CC_VERSION_TEXT` of the kernel config.
    pub cc_version_text: String,
    /// `$CC --version` (CC as make gets it, else gcc).
    pub compiler: String,
    /// The environment dkms passes to make (exports, compiler variables,
    /// build_environment).
    pub make_env: BTreeMap<String, String>,
    /// How the modules are signed: the kernel's hash algorithm and the
    /// SHA-256 of the certificate, or "" when they are not.
    pub signing: String,
    /// The compression suffix of the built modules ("", ".gz", ".xz", ".zst").
    pub compression: String,
    /// The dkms release that builds.
    pub dkms_version: String,
}

impl Inputs {
    /// The key: lower-case hex SHA-256 of the canonical JSON of the inputs
    /// (field order fixed, maps sorted).
    pub fn key(&self) -> String {
        sha256_hex(&serde_json::to_vec(self).unwrap_or_default())
    }
}

/// What `gather` reads from.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub module: &'a str,
    pub version: &'a str,
    pub kernel: &'a str,
    pub arch: &'a str,
    /// The module's source (`<dkms_tree>/<m>/<v>/source`, followed).
    pub source_dir: &'a Path,
    /// `(NAME, index, value)` of the evaluated dkms.conf.
    pub conf_vars: Vec<(String, usize, String)>,
    pub make_command: &'a str,
    /// The overlay patch directory, if any.
    pub patch_overlay: Option<PathBuf>,
    /// The kernel build directory and the kernel config.
    pub kernel_source_dir: &'a Path,
    pub kernel_config: &'a Path,
    pub make_env: &'a [(String, String)],
    /// Signing: (hash algorithm, certificate file) when modules are signed.
    pub signing: Option<(String, PathBuf)>,
    pub compression: &'a str,
    pub dkms_version: &'a str,
    /// Tree paths replaced in conf values: `(path, placeholder)`.
    pub trees: Vec<(String, &'static str)>,
}

/// Read every input of a key.
pub fn gather(r: &Request) -> std::io::Result<Inputs> {
    let untree = |s: &str| {
        let mut s = s.to_string();
        for (path, name) in &r.trees {
            if !path.is_empty() {
                s = s.replace(path.as_str(), name);
            }
        }
        s
    };
    let conf = r.conf_vars.iter().map(|(n, i, v)| (format!("{n}[{i}]"), untree(v))).collect();
    let mut patches = BTreeMap::new();
    if let Some(dir) = r.patch_overlay.as_deref().filter(|d| d.is_dir()) {
        for e in std::fs::read_dir(dir)?.flatten() {
            if e.path().is_file() {
                patches.insert(e.file_name().to_string_lossy().into_owned(), file_sha256(&e.path())?.1);
            }
        }
    }
    let headers = header_digests(r.kernel_source_dir, r.kernel_config);
    let config = std::fs::read_to_string(r.kernel_config).unwrap_or_default();
    let cc_version_text = config
        .lines()
        .find_map(|l| l.strip_prefix("CONFIG_CC_VERSION_TEXT="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_default();
    let make_env: BTreeMap<String, String> = r.make_env.iter().cloned().collect();
    let cc = make_env.get("CC").cloned().unwrap_or_else(|| "gcc".into());
    let signing = match &r.signing {
        Some((hash, cert)) => format!("{hash} {}", file_sha256(cert).map(|(_, h)| h).unwrap_or_default()),
        None => String::new(),
    };
    Ok(Inputs {
        module: r.module.into(),
        version: r.version.into(),
        kernel: r.kernel.into(),
        arch: r.arch.into(),
        source: tree_digest(r.source_dir)?,
        conf,
        make_command: untree(r.make_command),
        patches,
        headers,
        cc_version_text,
        compiler: compiler_version(&cc, r.make_env),
        make_env,
        signing,
        compression: r.compression.into(),
        dkms_version: r.dkms_version.into(),
    })
}

/// The kernel headers' identity: `Module.symvers`, `.config` and
/// `include/generated/utsrelease.h` of the kernel build directory → SHA-256
/// ("absent" when missing). Also what `kernel_preinst` compares to keep a
/// build whose headers did not change (`crate::dpkg::built_against`).
pub fn header_digests(kernel_source_dir: &Path, kernel_config: &Path) -> BTreeMap<String, String> {
    let files = [
        ("Module.symvers", kernel_source_dir.join("Module.symvers")),
        (".config", kernel_config.to_path_buf()),
        ("include/generated/utsrelease.h", kernel_source_dir.join("include/generated/utsrelease.h")),
    ];
    files
        .into_iter()
        .map(|(name, path)| (name.to_string(), file_sha256(&path).map(|(_, h)| h).unwrap_or_else(|_| "absent".into())))
        .collect()
}

/// `$cc --version`, or "" when it cannot run.
fn compiler_version(cc: &str, env: &[(String, String)]) -> String {
    let mut words = cc.split_ascii_whitespace();
    let Some(prog) = words.next() else { return String::new() };
    let mut c = tools::command(prog, env);
    c.args(words).arg("--version");
    tools::output(&mut c).map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_string()).unwrap_or_default()
}

/// SHA-256 over a directory tree (the top followed when it is a link):
/// for each entry in byte order of its relative path, the path, its type,
/// its permission bits and its contents' SHA-256 or link target. Every
/// field is length-prefixed raw bytes (names and link targets may hold any
/// byte but `/` and NUL, newlines and non-UTF-8 included), so two trees
/// hash alike only when they are alike. Links are not followed and only
/// regular files are opened (without following, without blocking).
pub fn tree_digest(dir: &Path) -> std::io::Result<String> {
    let mut h = Sha256::new();
    walk(dir, b"", &mut h)?;
    Ok(super::hex(&h.finalize()))
}

/// One length-prefixed field.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

fn walk(dir: &Path, rel: &[u8], h: &mut Sha256) -> std::io::Result<()> {
    let mut names: Vec<_> =
        std::fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name())).collect::<std::io::Result<_>>()?;
    names.sort();
    for n in names {
        let path = dir.join(&n);
        let name = [rel, n.as_bytes()].concat();
        let meta = std::fs::symlink_metadata(&path)?;
        let mode = (meta.permissions().mode() & 0o7777).to_le_bytes();
        field(h, &name);
        let ft = meta.file_type();
        if ft.is_symlink() {
            field(h, b"l");
            field(h, &mode);
            field(h, std::fs::read_link(&path)?.as_os_str().as_bytes());
        } else if ft.is_dir() {
            field(h, b"d");
            field(h, &mode);
            walk(&path, &[&name[..], b"/"].concat(), h)?;
        } else if ft.is_file() {
            field(h, b"f");
            field(h, &mode);
            field(h, regular_sha256(&path)?.as_bytes());
        } else {
            field(h, b"o");
            field(h, &mode);
        }
    }
    Ok(())
}

/// SHA-256 of a file that must still be the regular file `walk` saw:
/// opened with O_NOFOLLOW|O_NONBLOCK (a link or FIFO put in its place
/// since is neither followed nor waited on) and checked with fstat.
fn regular_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = crate::untrusted::open_regular(path, crate::untrusted::Links::Refuse)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(super::hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Tweak<'a> = Box<dyn Fn(&mut Request) + 'a>;

    fn world(root: &Path) -> (PathBuf, PathBuf) {
        let src = root.join("src");
        let ksrc = root.join("build");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::create_dir_all(ksrc.join("include/generated")).unwrap();
        std::fs::write(src.join("a.c"), "int a;\n").unwrap();
        std::fs::write(src.join("sub/b.c"), "int b;\n").unwrap();
        std::os::unix::fs::symlink("a.c", src.join("link.c")).unwrap();
        std::fs::write(ksrc.join("Module.symvers"), "0x1\tsym\tvmlinux\tEXPORT_SYMBOL\t\n").unwrap();
        std::fs::write(ksrc.join(".config"), "CONFIG_CC_VERSION_TEXT=\"cc 1\"\n").unwrap();
        std::fs::write(ksrc.join("include/generated/utsrelease.h"), "#define UTS_RELEASE \"k\"\n").unwrap();
        (src, ksrc)
    }

    fn key_of(src: &Path, ksrc: &Path, tree: &str, tweak: impl FnOnce(&mut Request)) -> String {
        let env = vec![("CC".to_string(), "true".to_string())];
        let config = ksrc.join(".config");
        let mut r = Request {
            module: "m",
            version: "1",
            kernel: "k",
            arch: "x86_64",
            source_dir: src,
            conf_vars: vec![("MAKE".into(), 0, format!("make -C {tree}/m/1/build"))],
            make_command: "make",
            patch_overlay: None,
            kernel_source_dir: ksrc,
            kernel_config: &config,
            make_env: &env,
            signing: None,
            compression: "",
            dkms_version: "dkms-3.4.3",
            trees: vec![(tree.to_string(), "$dkms_tree")],
        };
        tweak(&mut r);
        gather(&r).unwrap().key()
    }

    #[test]
    fn every_input_changes_the_key_and_nothing_else_does() {
        let t = tempfile::tempdir().unwrap();
        let (src, ksrc) = world(t.path());
        let base = key_of(&src, &ksrc, "/var/lib/dkms", |_| {});
        assert_eq!(base.len(), 64);
        // Unrelated: the dkms tree's path, mtimes.
        assert_eq!(key_of(&src, &ksrc, "/srv/other/dkms", |_| {}), base);
        let f = std::fs::File::options().write(true).open(src.join("a.c")).unwrap();
        f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(key_of(&src, &ksrc, "/var/lib/dkms", |_| {}), base);
        // Every request field.
        let cert = t.path().join("cert");
        std::fs::write(&cert, "cert").unwrap();
        let other_env: &'static [(String, String)] =
            Box::leak(Box::new([("CC".to_string(), "true".to_string()), ("X".to_string(), "1".to_string())]));
        let tweaks: Vec<(&str, Tweak)> = vec![
            ("module", Box::new(|r| r.module = "n")),
            ("version", Box::new(|r| r.version = "2")),
            ("kernel", Box::new(|r| r.kernel = "k2")),
            ("arch", Box::new(|r| r.arch = "aarch64")),
            ("conf", Box::new(|r| r.conf_vars.push(("STRIP".into(), 0, "no".into())))),
            ("make", Box::new(|r| r.make_command = "make V=1")),
            ("env", Box::new(|r| r.make_env = other_env)),
            ("signing", Box::new(|r| r.signing = Some(("sha512".into(), cert.clone())))),
            ("compression", Box::new(|r| r.compression = ".zst")),
            ("dkms", Box::new(|r| r.dkms_version = "dkms-3.4.4")),
        ];
        for (what, tweak) in tweaks {
            assert_ne!(key_of(&src, &ksrc, "/var/lib/dkms", tweak), base, "{what}");
        }
        // Every file input, changed one at a time and restored.
        let files = [
            src.join("a.c"),
            src.join("sub/b.c"),
            ksrc.join("Module.symvers"),
            ksrc.join(".config"),
            ksrc.join("include/generated/utsrelease.h"),
        ];
        for f in files {
            let old = std::fs::read(&f).unwrap();
            std::fs::write(&f, [&old[..], b"x"].concat()).unwrap();
            assert_ne!(key_of(&src, &ksrc, "/var/lib/dkms", |_| {}), base, "{}", f.display());
            std::fs::write(&f, old).unwrap();
        }
        assert_eq!(key_of(&src, &ksrc, "/var/lib/dkms", |_| {}), base);
        // A mode, a link target, a new file, an overlay patch.
        std::fs::set_permissions(src.join("a.c"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_ne!(key_of(&src, &ksrc, "/var/lib/dkms", |_| {}), base, "mode");
        std::fs::set_permissions(src.join("a.c"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let mode_restored = key_of(&src, &ksrc, "/var/lib/dkms", |_| {});
        std::fs::remove_file(src.join("link.c")).unwrap();
        std::os::unix::fs::symlink("sub/b.c", src.join("link.c")).unwrap();
        assert_ne!(key_of(&src, &ksrc, "/var/lib/dkms", |_| {}), mode_restored, "link target");
        let overlay = t.path().join("patches");
        std::fs::create_dir_all(&overlay).unwrap();
        std::fs::write(overlay.join("fix.patch"), "--- a\n").unwrap();
        let with_patch = key_of(&src, &ksrc, "/var/lib/dkms", |r| r.patch_overlay = Some(overlay.clone()));
        assert_ne!(with_patch, key_of(&src, &ksrc, "/var/lib/dkms", |_| {}), "patch");
    }

    /// Issue 24, defect 3: names and link targets with newlines, and
    /// non-UTF-8 names, no longer make two different trees hash alike.
    #[test]
    fn tree_digest_is_unambiguous() {
        use std::ffi::OsStr;
        let t = tempfile::tempdir().unwrap();
        let tree = |name: &str, files: &[&[u8]], link: Option<(&str, &[u8])>| {
            let d = t.path().join(name);
            std::fs::create_dir(&d).unwrap();
            for f in files {
                std::fs::write(d.join(OsStr::from_bytes(f)), "same").unwrap();
                std::fs::set_permissions(d.join(OsStr::from_bytes(f)), std::fs::Permissions::from_mode(0o644)).unwrap();
            }
            if let Some((l, target)) = link {
                std::os::unix::fs::symlink(OsStr::from_bytes(target), d.join(l)).unwrap();
            }
            tree_digest(&d).unwrap()
        };
        // `a -> X` plus a file `b\nc`, against `a -> X\nb` plus a file `c`.
        let one = tree("one", &[b"b\nc"], Some(("a", b"X")));
        let two = tree("two", &[b"c"], Some(("a", b"X\nb")));
        assert_ne!(one, two);
        let lossy1 = tree("ff", &[b"\xff"], None);
        let lossy2 = tree("fe", &[b"\xfe"], None);
        assert_ne!(lossy1, lossy2);
        // The same tree twice hashes alike.
        assert_eq!(tree("fe2", &[b"\xfe"], None), lossy2);
    }

    /// A FIFO in the source is hashed as a node, never opened (which would
    /// wait for a writer); a link to a file is its target's name, not its
    /// contents.
    #[test]
    fn tree_digest_neither_opens_fifos_nor_follows_links() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("src");
        std::fs::create_dir(&d).unwrap();
        nix::unistd::mkfifo(&d.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let outside = t.path().join("outside");
        std::fs::write(&outside, "one").unwrap();
        std::os::unix::fs::symlink(&outside, d.join("link")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let d2 = d.clone();
        std::thread::spawn(move || tx.send(tree_digest(&d2).map_err(|e| e.to_string())));
        let first =
            rx.recv_timeout(std::time::Duration::from_secs(10)).expect("tree_digest blocked on a FIFO").unwrap();
        std::fs::write(&outside, "two").unwrap();
        assert_eq!(tree_digest(&d).unwrap(), first);
    }
}
