//! Unit tests only: a `Dkms` over throw-away trees (dkms_tree, source_tree,
//! install_tree, a conf dir and a tmp dir of its own, all in one temporary
//! directory), and the upstream layout (`reference/upstream-dkms.md` §4)
//! written by hand — added, built, installed — so that an operation's
//! decisions are tested without root and without touching /var/lib/dkms,
//! /usr/src, /lib/modules or /etc/dkms.

use super::dkms::{Dkms, Target};
use super::options::{BuildOptions, RemoveOptions, RunOptions};
use dkms_cli::args::Args;
use dkms_cli::Ctx;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::trees::Trees;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The kernel the fixture targets (upstream's status lists kernel
/// directories that start with a digit).
pub(crate) const K: &str = "6.1.0-unit";
/// Its arch.
pub(crate) const A: &str = "x86_64";

/// A minimal dkms.conf of module `m` version `v` building one module `m`.
pub(crate) fn conf(m: &str, v: &str, extra: &str) -> String {
    format!("PACKAGE_NAME={m}\nPACKAGE_VERSION={v}\nBUILT_MODULE_NAME[0]={m}\nDEST_MODULE_LOCATION[0]=/kernel/extra\n{extra}")
}

/// The trees and the run context on them; removed when dropped.
pub(crate) struct Fixture {
    dir: tempfile::TempDir,
    pub(crate) d: Dkms,
    build: BuildOptions,
    remove: RemoveOptions,
}

/// Unit tests run no autoinstall from a tarball: what `load_tarball` gets
/// handed down says so if a test reaches it.
fn no_autoinstall(_: &mut Dkms, _: &BuildOptions) -> Result<()> {
    Err(Error::die(Kind::AutoinstallFailed, ["autoinstall is not run by unit tests"]))
}

impl Fixture {
    /// Trees for kernel `K`/`A`, Debian's rules, no options given.
    pub(crate) fn new() -> Fixture {
        Fixture::with(|_| {})
    }

    /// As `new`, the command line's options set by `edit`.
    pub(crate) fn with(edit: impl FnOnce(&mut Args)) -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path().canonicalize().expect("temporary directory resolves");
        for sub in ["dkms", "src", "modules", "etc/dkms", "tmp"] {
            std::fs::create_dir_all(root.join(sub)).expect("fixture directories");
        }
        let mut args = Args::default();
        edit(&mut args);
        // What the verbs make of the command line (`verbs/`, `driver`).
        let (opts, build, remove) =
            (RunOptions::from_args(&args), BuildOptions::from_args(&args), RemoveOptions::from_args(&args));
        let mv = (args.module.clone(), args.module_version.clone());
        let ctx = Ctx {
            args,
            argv0: "dkms".into(),
            trees: Trees {
                dkms_tree: root.join("dkms"),
                source_tree: root.join("src"),
                install_tree: root.join("modules"),
            },
            running_distribution: "debian12".into(),
            current_kernel: K.into(),
            current_os: "Linux".into(),
            tmp_location: root.join("tmp"),
            conf_dir: root.join("etc/dkms"),
            framework: BTreeMap::new(),
            parallel_jobs: "1".into(),
            verbose: false,
            symlink_modules: false,
            modprobe_on_install: false,
            addon_modules_dir: None,
            kernelver: vec![K.into()],
            arch: vec![A.into()],
        };
        Fixture { dir, d: Dkms::new(ctx, dkms_cli::ui::Ui::new(), opts, mv, no_autoinstall), build, remove }
    }

    /// The options of the build operations, as the verbs make them from
    /// the command line (`Fixture::with`).
    pub(crate) fn build_opts(&self) -> BuildOptions {
        self.build
    }

    /// The options of remove, as its verb makes them.
    pub(crate) fn remove_opts(&self) -> RemoveOptions {
        self.remove
    }

    /// The trees.
    pub(crate) fn trees(&self) -> &Trees {
        &self.d.ctx.trees
    }

    /// `<fixture>/<rel>` with `text` written there (directories made).
    pub(crate) fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.dir.path().canonicalize().expect("fixture root").join(rel);
        std::fs::create_dir_all(p.parent().expect("a parent")).expect("directories");
        std::fs::write(&p, text).expect("written");
        p
    }

    /// Kernel `k`'s module tree `<install_tree>/<k>` with its headers'
    /// `build/include` (what `kernel_trigger` and prepare_kernel look for).
    pub(crate) fn kernel(&self, k: &str) -> PathBuf {
        let lib = self.trees().lib_tree(k);
        std::fs::create_dir_all(lib.join("kernel")).expect("module tree");
        std::fs::create_dir_all(lib.join("build/include")).expect("headers");
        lib
    }

    /// m/v added: `<source_tree>/m-v/dkms.conf` holding `conf_text` (and a
    /// kbuild Makefile, so that the source is not empty), and
    /// the `source` link to it (`add_module`).
    pub(crate) fn add(&self, m: &str, v: &str, conf_text: &str) {
        let src = self.trees().source_dir(m, v);
        std::fs::create_dir_all(&src).expect("source");
        std::fs::write(src.join("dkms.conf"), conf_text).expect("dkms.conf");
        std::fs::write(src.join("Makefile"), format!("obj-m := {m}.o\n")).expect("Makefile");
        std::fs::create_dir_all(self.trees().version_dir(m, v)).expect("version dir");
        std::os::unix::fs::symlink(&src, self.trees().source_link(m, v)).expect("source link");
    }

    /// m/v built for k/a: `<m>/<v>/<k>/<a>/module/<file>` for each file
    /// (its text is its name). The module's directory path.
    pub(crate) fn build(&self, x: Target, files: &[&str]) -> PathBuf {
        let Target { m, v, k, a } = x;
        let dir = self.trees().arch_dir(m, v, k, a).join("module");
        std::fs::create_dir_all(&dir).expect("module dir");
        for f in files {
            std::fs::write(dir.join(f), f).expect("module file");
        }
        dir
    }

    /// m/v installed for k/a: the `kernel-<k>-<a>` link to its build.
    pub(crate) fn install(&self, x: Target) {
        let Target { m, v, k, a } = x;
        let link = self.trees().active_link(m, k, a);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("{v}/{k}/{a}"), link).expect("active link");
    }

    /// The dkms.conf of m/v read for k/a, as the operations read it.
    pub(crate) fn read_conf(&mut self, x: Target) -> dkms_state::conf::Conf {
        let Target { m, v, k, a } = x;
        let x = super::dkms::Target::new(m, v, k, a);
        self.d.read_conf_or_die(x, None, false).expect("a valid dkms.conf")
    }
}

/// A kernel module as `modinfo` reads it: an ELF64 relocatable file whose
/// one `.modinfo` section holds `version=` and `srcversion=` (the two
/// facts `check_version_sanity` compares), nothing else.
pub(crate) fn module_elf(version: &str, srcversion: &str) -> Vec<u8> {
    let info = format!("version={version}\0srcversion={srcversion}\0").into_bytes();
    let names = b"\0.modinfo\0.shstrtab\0";
    let info_off = 64u64;
    let names_off = info_off + info.len() as u64;
    let shoff = (names_off + names.len() as u64).div_ceil(8) * 8;
    let mut b = vec![0u8; 64];
    b[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
    b[0x10..0x12].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
    b[0x12..0x14].copy_from_slice(&62u16.to_le_bytes()); // x86-64
    b[0x14..0x18].copy_from_slice(&1u32.to_le_bytes());
    b[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
    b[0x34..0x36].copy_from_slice(&64u16.to_le_bytes());
    b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
    b[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
    b[0x3e..0x40].copy_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&info);
    b.extend_from_slice(names);
    b.resize(shoff as usize, 0);
    b.extend_from_slice(&[0u8; 64]); // the null section
    for (name, kind, off, size) in [(1u32, 1u32, info_off, info.len()), (10, 3, names_off, names.len())] {
        let mut sh = [0u8; 64];
        sh[..4].copy_from_slice(&name.to_le_bytes());
        sh[4..8].copy_from_slice(&kind.to_le_bytes());
        sh[24..32].copy_from_slice(&off.to_le_bytes());
        sh[32..40].copy_from_slice(&(size as u64).to_le_bytes());
        b.extend_from_slice(&sh);
    }
    b
}

/// What `f` printed through `ui` (stdout, stderr), and its result.
pub(crate) fn captured<R>(f: impl FnOnce() -> R) -> (R, String, String) {
    use dkms_state::capture::{self, Capture, Stream};
    let out = Capture::new();
    let r = capture::scoped(Some(out.clone()), f);
    let (mut stdout, mut stderr) = (String::new(), String::new());
    for (stream, bytes) in out.take() {
        let text = String::from_utf8_lossy(&bytes);
        match stream {
            Stream::Stdout => stdout.push_str(&text),
            Stream::Stderr => stderr.push_str(&text),
        }
    }
    (r, stdout, stderr)
}
