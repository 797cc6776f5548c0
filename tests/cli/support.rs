//! Test support: hermetic sandboxes (dkms, source and install trees plus a
//! private sysconf dir and TMPDIR under one temp dir), running our binaries
//! and upstream's bash dkms on them, and comparing the two byte for byte.

use std::cell::Cell;
use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::skip::skip_part;

/// A kernel version no real system has, so nothing can collide with it.
pub const KVER: &str = "6.1.0-99-amd64";

/// Our front-end.
pub fn ours() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dkms"))
}

/// `uname -m`, as both implementations default to it.
pub fn arch() -> &'static str {
    static ARCH: OnceLock<String> = OnceLock::new();
    ARCH.get_or_init(|| {
        let out = Command::new("uname").arg("-m").output().expect("uname -m");
        String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
    })
}

/// Is `tool` on the test's own PATH?
pub fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

/// The newest kernel (by name, in plain string order) of `/lib/modules`
/// whose headers directory `/lib/modules/<k>/build` satisfies `headers`:
/// each test group asks of the headers what its builds need.
pub fn newest_kernel(headers: impl Fn(&Path) -> bool) -> Option<String> {
    let mut ks: Vec<String> = fs::read_dir("/lib/modules")
        .ok()?
        .flatten()
        .filter(|e| headers(&e.path().join("build")))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ks.sort();
    ks.pop()
}

/// Running as root (upstream's `add` of a source directory requires it).
pub fn is_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| {
        let out = Command::new("id").arg("-u").output().expect("id -u");
        String::from_utf8_lossy(&out.stdout).trim() == "0"
    })
}

/// Where upstream's real bash dkms (built from dkms.in) is in the shared
/// reference material, whether or not it is there.
pub fn upstream_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/upstream/built/dkms")
}

/// Upstream's real bash dkms, if the shared reference material is present.
/// When it is not, the running test's comparison with upstream is reported
/// as a skipped part (a failure under `CI=true`).
pub fn upstream_source() -> Option<PathBuf> {
    let p = upstream_path();
    if p.is_file() {
        Some(p)
    } else {
        skip_part("the comparison with upstream", &format!("{} is absent", p.display()));
        None
    }
}

/// Which implementation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Ours,
    Upstream,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// stdout and stderr written to one file, in the order they were written.
    pub combined: String,
}

impl Output {
    /// Both streams carry something, so their interleaving is worth a run
    /// of its own; otherwise `combined` is simply the one that does.
    pub fn interleaved(&self) -> bool {
        !self.stdout.is_empty() && !self.stderr.is_empty()
    }
}

/// One hermetic set of trees.
pub struct Sandbox {
    _dir: tempfile::TempDir,
    /// The temp dir everything lives under (normalised to `<ROOT>` in output).
    pub root: PathBuf,
    pub dkms: PathBuf,
    pub src: PathBuf,
    pub inst: PathBuf,
    /// `DKMS_SYSCONFDIR`; `<sysconf>/dkms` stands for `/etc/dkms`.
    pub sysconf: PathBuf,
    /// TMPDIR for the runs.
    pub tmp: PathBuf,
    /// Scratch space for source directories to `add` (and the cwd of runs).
    pub work: PathBuf,
    /// Prepended to `PATH` for every run: fake tools (make, modinfo, ...)
    /// a test puts here shadow the host's. Empty unless a test fills it.
    pub bin: PathBuf,
    upstream: Option<PathBuf>,
    /// The uid (and gid) runs switch to (see `as_other_user`).
    run_as: Cell<Option<u32>>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new().prefix("dkms-test.").tempdir().expect("tempdir");
        // Canonical, so that what readlink -f returns matches the tree paths.
        let root = dir.path().canonicalize().expect("canonicalize tempdir");
        let sb = Sandbox {
            dkms: root.join("dkms"),
            src: root.join("src"),
            inst: root.join("inst"),
            sysconf: root.join("etc"),
            tmp: root.join("tmp"),
            work: root.join("work"),
            bin: root.join("bin"),
            root,
            _dir: dir,
            upstream: None,
            run_as: Cell::new(None),
        };
        for d in [&sb.dkms, &sb.src, &sb.inst, &sb.sysconf.join("dkms"), &sb.tmp, &sb.work, &sb.bin] {
            fs::create_dir_all(d).expect("mkdir");
        }
        sb
    }

    /// A copy of upstream's dkms whose only change is that `/etc/dkms` is
    /// this sandbox's `<sysconf>/dkms` (what `DKMS_SYSCONFDIR` does for ours),
    /// so neither implementation reads the host's /etc/dkms.
    pub fn upstream(&mut self) -> Option<PathBuf> {
        if self.upstream.is_none() {
            let text = fs::read_to_string(upstream_source()?).expect("read upstream dkms");
            let etc = format!("{}/dkms", self.sysconf.display());
            let patched = text.replace("/etc/dkms", &etc);
            let dir = self.root.join("upstream");
            fs::create_dir_all(&dir).expect("mkdir");
            let p = dir.join("dkms");
            fs::write(&p, patched).expect("write upstream copy");
            let mut perm = fs::metadata(&p).expect("stat").permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
            fs::set_permissions(&p, perm).expect("chmod");
            self.upstream = Some(p);
        }
        self.upstream.clone()
    }

    /// When the tests run as root, make every later run of this sandbox run
    /// as `nobody` (uid and gid 65534), so that what must be refused to
    /// other users can be checked as root too; the sandbox is made
    /// traversable and its TMPDIR writable for it. Nothing as non-root.
    pub fn as_other_user(&self) {
        if !is_root() {
            return;
        }
        self.run_as.set(Some(65534));
        for (dir, mode) in [(&self.root, 0o755), (&self.tmp, 0o1777)] {
            fs::set_permissions(dir, fs::Permissions::from_mode(mode)).expect("chmod");
        }
    }

    /// The tree options every run gets.
    pub fn tree_args(&self) -> Vec<String> {
        vec![
            "--dkmstree".into(),
            self.dkms.display().to_string(),
            "--sourcetree".into(),
            self.src.display().to_string(),
            "--installtree".into(),
            self.inst.display().to_string(),
        ]
    }

    fn command(&mut self, which: Impl, program: Option<&Path>, args: &[&str], trees: bool) -> (Command, PathBuf) {
        let prog = match (which, program) {
            (_, Some(p)) => p.to_path_buf(),
            (Impl::Ours, None) => ours(),
            (Impl::Upstream, None) => self.upstream().expect("upstream dkms present"),
        };
        let mut c = Command::new(&prog);
        c.args(args);
        if trees {
            c.args(self.tree_args());
        }
        c.current_dir(&self.work);
        // Settings upstream lets leak in from the environment, and ours'
        // own knobs: none of them may come from the caller.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("DKMS_") {
                c.env_remove(&k);
            }
        }
        for k in [
            "parallel_jobs",
            "modprobe_on_install",
            "post_transaction",
            "sign_file",
            "mok_signing_key",
            "mok_certificate",
            "build_environment",
            "try_sign_modules",
            "autoinstall_all_kernels",
            "build_sandbox",
            "ADDON_MODULES_DIR",
            "LANGUAGE",
            "LANG",
        ] {
            c.env_remove(k);
        }
        c.env("LC_ALL", "C").env("TMPDIR", &self.tmp).env("DKMS_SYSCONFDIR", &self.sysconf);
        let mut path = self.bin.clone().into_os_string();
        if let Some(p) = std::env::var_os("PATH") {
            path.push(":");
            path.push(p);
        }
        c.env("PATH", path);
        c.stdin(Stdio::null());
        if let Some(id) = self.run_as.get() {
            c.uid(id).gid(id);
        }
        (c, prog)
    }

    /// Run `program` (default: our `dkms` / upstream's copy) with `args`,
    /// followed by the tree options when `trees`. Output is normalised: the
    /// program's path becomes `dkms`, the sandbox root `<ROOT>`. `combined`
    /// is stdout then stderr, right only when one of them is empty (see
    /// `run_combined`).
    pub fn run_with(&mut self, which: Impl, program: Option<&Path>, args: &[&str], trees: bool) -> Output {
        self.run_env(which, program, args, trees, &[])
    }

    /// `run_with`, with `vars` set over what the sandbox sets (a whole
    /// `PATH`, a test knob such as `DKMS_EFI_DIR`).
    pub fn run_env(
        &mut self,
        which: Impl,
        program: Option<&Path>,
        args: &[&str],
        trees: bool,
        vars: &[(&str, &std::ffi::OsStr)],
    ) -> Output {
        let (mut c, prog) = self.command(which, program, args, trees);
        c.envs(vars.iter().copied());
        let out = retry_busy(|| c.output()).expect("run dkms");
        let code = out.status.code().unwrap_or(-1);
        let stdout = self.normalise(&prog, &out.stdout);
        let stderr = self.normalise(&prog, &out.stderr);
        let combined = format!("{stdout}{stderr}");
        Output { code, stdout, stderr, combined }
    }

    /// Run our `dkms` with arguments that need not be UTF-8, followed by
    /// the tree options.
    pub fn run_os(&mut self, args: &[std::ffi::OsString]) -> Output {
        let (mut c, prog) = self.command(Impl::Ours, None, &[], false);
        c.args(args).args(self.tree_args());
        let out = retry_busy(|| c.output()).expect("run dkms");
        let code = out.status.code().unwrap_or(-1);
        let stdout = self.normalise(&prog, &out.stdout);
        let stderr = self.normalise(&prog, &out.stderr);
        let combined = format!("{stdout}{stderr}");
        Output { code, stdout, stderr, combined }
    }

    /// Run our `dkms` with the tree options and `input` on its stdin.
    pub fn run_stdin(&mut self, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let (mut c, prog) = self.command(Impl::Ours, None, args, true);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = retry_busy(|| c.spawn()).expect("run dkms");
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        let out = child.wait_with_output().expect("wait dkms");
        let code = out.status.code().unwrap_or(-1);
        let stdout = self.normalise(&prog, &out.stdout);
        let stderr = self.normalise(&prog, &out.stderr);
        let combined = format!("{stdout}{stderr}");
        Output { code, stdout, stderr, combined }
    }

    /// Run once with stdout and stderr going to the same file, to see the
    /// order in which the two streams were written.
    pub fn run_combined(&mut self, which: Impl, program: Option<&Path>, args: &[&str], trees: bool) -> (i32, String) {
        let (mut c, prog) = self.command(which, program, args, trees);
        let f = tempfile::tempfile_in(&self.tmp).expect("tempfile");
        c.stdout(f.try_clone().expect("dup")).stderr(f.try_clone().expect("dup"));
        let status = retry_busy(|| c.status()).expect("run dkms");
        let mut f = f;
        use std::io::{Read, Seek};
        f.rewind().expect("rewind");
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).expect("read");
        (status.code().unwrap_or(-1), self.normalise(&prog, &buf))
    }

    /// Run once with stdout and stderr going to one pipe, as under apt (a
    /// kernel hook's output): `"$@" 2>&1 | cat`, with pipefail. Returns
    /// the exit status and what came through the pipe.
    pub fn run_piped(&mut self, which: Impl, args: &[&str]) -> (i32, String) {
        let (c, prog) = self.command(which, None, args, true);
        let mut sh = Command::new("bash");
        sh.args(["-c", "set -o pipefail; \"$@\" 2>&1 | cat", "bash"]);
        sh.arg(c.get_program()).args(c.get_args());
        for (k, v) in c.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        if let Some(d) = c.get_current_dir() {
            sh.current_dir(d);
        }
        let out = retry_busy(|| sh.output()).expect("run dkms through a pipe");
        (out.status.code().unwrap_or(-1), self.normalise(&prog, &out.stdout))
    }

    /// Run our `dkms` once with the tree options (so this is fine for
    /// commands that change the trees; `combined` as for `run_with`).
    pub fn dkms(&mut self, args: &[&str]) -> Output {
        self.run_with(Impl::Ours, None, args, true)
    }

    /// Run an implementation's `dkms` with the tree options; captures the
    /// separated streams and, when both carry output, the combined one in a
    /// second run. Only for commands that leave the trees alone.
    pub fn run(&mut self, which: Impl, args: &[&str]) -> Output {
        let mut o = self.run_with(which, None, args, true);
        if !o.interleaved() {
            return o;
        }
        let (code, combined) = self.run_combined(which, None, args, true);
        assert_eq!(code, o.code, "exit code of the combined run of {args:?}");
        o.combined = combined;
        o
    }

    fn normalise(&self, prog: &Path, bytes: &[u8]) -> String {
        let s = String::from_utf8_lossy(bytes);
        s.replace(&prog.display().to_string(), "dkms").replace(&self.root.display().to_string(), "<ROOT>")
    }

    /// Every path under the sandbox's trees (dkms, src, inst) with its type
    /// and link target, root-normalised, sorted; without our lock file and
    /// our dkms.conf evaluation cache (`.cache/`) and failure memory
    /// (`.failures/`).
    pub fn listing(&self) -> String {
        let mut lines = Vec::new();
        for top in [&self.dkms, &self.src, &self.inst] {
            walk(top, &mut lines);
        }
        let (lock, cache) = (format!("{}/.lock ", self.dkms.display()), format!("{}/.cache", self.dkms.display()));
        let failures = format!("{}/.failures", self.dkms.display());
        lines.retain(|l: &String| !l.starts_with(&lock) && !l.starts_with(&cache) && !l.starts_with(&failures));
        lines.sort();
        let mut s = String::new();
        for l in lines {
            let _ = writeln!(s, "{}", l.replace(&self.root.display().to_string(), "<ROOT>"));
        }
        s
    }

    // ---- building trees ----

    /// Write a file, creating its parent directories.
    pub fn write(&self, path: &Path, text: &str) {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    /// A plain one-module dkms.conf.
    pub fn simple_conf(m: &str, v: &str) -> String {
        format!("PACKAGE_NAME=\"{m}\"\nPACKAGE_VERSION=\"{v}\"\nBUILT_MODULE_NAME[0]=\"{m}\"\nDEST_MODULE_LOCATION[0]=\"/updates\"\nAUTOINSTALL=\"yes\"\n")
    }

    /// `<sourcetree>/<m>-<v>/dkms.conf` and the absolute `source` symlink:
    /// the module is added.
    pub fn add_module(&self, m: &str, v: &str, conf: &str) {
        let srcdir = self.src.join(format!("{m}-{v}"));
        self.write(&srcdir.join("dkms.conf"), conf);
        let vdir = self.dkms.join(m).join(v);
        fs::create_dir_all(vdir.join("build")).expect("mkdir");
        symlink(&srcdir, vdir.join("source")).expect("symlink");
    }

    /// `<m>/<v>/<kver>/<arch>/{module/<name>.ko,log/make.log}`.
    pub fn build_module(&self, m: &str, v: &str, k: &str, a: &str, names: &[&str]) {
        let adir = self.dkms.join(m).join(v).join(k).join(a);
        self.write(&adir.join("log/make.log"), "fake build log\n");
        fs::create_dir_all(adir.join("module")).expect("mkdir");
        for n in names {
            fs::write(adir.join("module").join(format!("{n}.ko")), format!("not really an ELF module: {m}/{v} {n}\n"))
                .expect("write .ko");
        }
    }

    /// The relative `kernel-<kver>-<arch>` link, plus a copy of each built
    /// module in `<installtree>/<kver>/<dest>/`.
    pub fn install_module(&self, m: &str, v: &str, k: &str, a: &str, names: &[&str], dest: &str) {
        symlink(format!("{v}/{k}/{a}"), self.dkms.join(m).join(format!("kernel-{k}-{a}"))).expect("symlink");
        let to = self.inst.join(k).join(dest.trim_start_matches('/'));
        fs::create_dir_all(&to).expect("mkdir");
        for n in names {
            let from = self.dkms.join(m).join(v).join(k).join(a).join("module").join(format!("{n}.ko"));
            fs::copy(from, to.join(format!("{n}.ko"))).expect("copy .ko");
        }
    }

    /// Added + built + installed, one module named like the package, at the
    /// Debian location.
    pub fn installed(&self, m: &str, v: &str) {
        self.add_module(m, v, &Self::simple_conf(m, v));
        self.build_module(m, v, KVER, arch(), &[m]);
        self.install_module(m, v, KVER, arch(), &[m], "/updates/dkms");
    }
}

/// Replace `p` by a FIFO: what a reader that blocks would hang on.
pub fn fifo(p: &Path) {
    let _ = fs::remove_file(p);
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
}

/// Replace `p` by a link to `/dev/zero`: an endless file.
pub fn zero_link(p: &Path) {
    let _ = fs::remove_file(p);
    symlink("/dev/zero", p).expect("symlink");
}

/// A fresh self-signed signing pair made with openssl: the private key at
/// `key` and the DER certificate at `cert`, subject `CN=<cn>`.
pub fn mok_pair(key: &Path, cert: &Path, cn: &str) {
    let st = Command::new("openssl")
        .args(["req", "-new", "-x509", "-nodes", "-days", "1", "-subj", &format!("/CN={cn}"), "-newkey", "rsa:2048"])
        .arg("-keyout")
        .arg(key)
        .args(["-outform", "DER", "-out"])
        .arg(cert)
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(st.success(), "openssl req");
}

/// A `mokutil` stand-in (firmware cannot be changed here) as `sb`'s
/// `bin/mokutil`, first on `PATH`. It logs `$@` to `<root>/mokutil.log`
/// and answers from the state in `<root>/mok-state` (`not-enrolled`,
/// `pending`, `enrolled`) as mokutil 0.6 does: `--test-key` and
/// `--list-new` (the SHA-1 fingerprint in `<root>/fingerprint`) tell the
/// state, except in state `unknown-pending`, where `--test-key` says
/// something else and only `--list-new` tells that it waits; `--import`
/// reads the password twice from stdin (logged to `<root>/mokutil.pw`),
/// refuses two that differ, and makes the state `pending`. Returns the
/// log's path.
pub fn mokutil_stand_in(sb: &Sandbox) -> PathBuf {
    const MOKUTIL: &str = r#"#!/bin/sh
echo "$@" >> @ROOT@/mokutil.log
state=$(cat @ROOT@/mok-state)
case $1 in
--test-key)
    case $state in
    enrolled) echo "$2 is already enrolled" ;;
    pending) echo "$2 is already in the enrollment request" ;;
    unknown-pending) echo "Failed to read MokListRT" >&2 ;;
    *) echo "$2 is not enrolled" ;;
    esac ;;
--list-new)
    case $state in
    *pending) echo "[key 1]"; echo "SHA1 Fingerprint: $(cat @ROOT@/fingerprint)" ;;
    *) echo "MokNew is empty"; exit 1 ;;
    esac ;;
--import)
    read -r a || exit 1
    read -r b || exit 1
    echo "$a|$b" >> @ROOT@/mokutil.pw
    [ "$a" = "$b" ] || { echo "Password doesn't match" >&2; exit 1; }
    echo pending > @ROOT@/mok-state ;;
*) exit 2 ;;
esac
"#;
    let mokutil = sb.bin.join("mokutil");
    sb.write(&mokutil, &MOKUTIL.replace("@ROOT@", &sb.root.display().to_string()));
    fs::set_permissions(&mokutil, fs::Permissions::from_mode(0o755)).expect("chmod");
    sb.root.join("mokutil.log")
}

/// A real one-file kbuild module `m/1.0` in the sandbox's source tree: its
/// dkms.conf (plus `conf_extra` lines) and a Makefile whose `all:` runs
/// `before` (recipe lines, each `\t...\n`), kbuild, then `after`.
pub fn kbuild_module(sb: &Sandbox, m: &str, conf_extra: &str, before: &str, after: &str) {
    let dir = sb.src.join(format!("{m}-1.0"));
    sb.write(
        &dir.join("dkms.conf"),
        &format!(
            "PACKAGE_NAME={m}\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]={m}\nDEST_MODULE_LOCATION[0]=/updates\n\
             MAKE[0]=\"make KERNELRELEASE=$kernelver\"\n{conf_extra}"
        ),
    );
    sb.write(
        &dir.join(format!("{m}.c")),
        "#include <linux/module.h>\nMODULE_LICENSE(\"GPL\");\nstatic int __init s_init(void) { return 0; }\nmodule_init(s_init);\n",
    );
    sb.write(
        &dir.join("Makefile"),
        &format!(
            "obj-m := {m}.o\nKDIR ?= /lib/modules/$(KERNELRELEASE)/build\nall:\n{before}\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n{after}"
        ),
    );
}

/// Exec of a program another test thread has just written (the upstream
/// copy) fails with ETXTBSY while a child forked meanwhile by a third
/// thread still holds the writing descriptor (until its own exec): retry.
fn retry_busy<T>(mut f: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    const ETXTBSY: i32 = 26;
    for _ in 0..100 {
        match f() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) => std::thread::sleep(std::time::Duration::from_millis(10)),
            r => return r,
        }
    }
    f()
}

pub fn walk(dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(md) = fs::symlink_metadata(&p) else { continue };
        let ft = md.file_type();
        if ft.is_symlink() {
            let t = fs::read_link(&p).map(|t| t.display().to_string()).unwrap_or_default();
            out.push(format!("{} l -> {t}", p.display()));
        } else if ft.is_dir() {
            out.push(format!("{} d", p.display()));
            walk(&p, out);
        } else {
            let len = md.len();
            out.push(format!("{} f {len}", p.display()));
        }
    }
}

/// Assert that two runs agree byte for byte, with a readable diff.
pub fn assert_same(what: &str, ours: &Output, upstream: &Output) {
    let mut problems = String::new();
    if ours.code != upstream.code {
        let _ = writeln!(problems, "exit code: ours {} upstream {}", ours.code, upstream.code);
    }
    for (name, a, b) in [
        ("stdout", &ours.stdout, &upstream.stdout),
        ("stderr", &ours.stderr, &upstream.stderr),
        ("stdout+stderr", &ours.combined, &upstream.combined),
    ] {
        if a != b {
            let _ = writeln!(problems, "--- {name}, ours:\n{a}--- {name}, upstream:\n{b}");
        }
    }
    assert!(problems.is_empty(), "{what}: ours differs from upstream\n{problems}");
}

/// Run the same command on fresh sandboxes built by `setup` (one per
/// implementation, and another for the combined streams when both carry
/// output), and compare output, exit code and the resulting trees with
/// upstream's when it is available. Returns our output either way.
pub fn compare_fresh(what: &str, setup: &dyn Fn(&Sandbox), args: &[&str]) -> Output {
    let run_one = |which: Impl| -> Option<(Output, String)> {
        let mut sb = Sandbox::new();
        if which == Impl::Upstream {
            sb.upstream()?;
        }
        setup(&sb);
        let mut o = sb.run_with(which, None, args, true);
        let listing = sb.listing();
        if !o.interleaved() {
            return Some((o, listing));
        }
        let mut sb2 = Sandbox::new();
        if which == Impl::Upstream {
            sb2.upstream()?;
        }
        setup(&sb2);
        let (code, combined) = sb2.run_combined(which, None, args, true);
        assert_eq!(code, o.code, "{what}: exit code of the combined run ({which:?})");
        o.combined = combined;
        Some((o, listing))
    };
    let (o, listing) = run_one(Impl::Ours).expect("ours always runs");
    if let Some((u, ulisting)) = run_one(Impl::Upstream) {
        assert_same(what, &o, &u);
        assert_eq!(listing, ulisting, "{what}: trees differ after the run (left: ours, right: upstream)");
    }
    o
}
