//! The build sandbox (framework.conf `build_sandbox`, `--build-sandbox`;
//! not in upstream dkms, which runs all third-party build code as root):
//! whether to confine, and the bubblewrap command line that does it.
//!
//! A confined command runs under `bwrap` in private mount, PID, IPC, UTS
//! and network namespaces (no network at all), with `/` read-only, a
//! private `/tmp`, the module's `build/` directory the only other writable
//! place, the kernel headers readable and the signing key's directories
//! hidden (signing stays in dkms, outside). Inside, `setpriv` drops to an
//! unprivileged uid with no capabilities and `no_new_privs`.
//!
//! Which user: a dynamic uid, not a dedicated system user. It is a uid of
//! systemd's DynamicUser range that no /etc/passwd or /etc/group entry and
//! no systemd dynamic user holds (65519, or the next lower free one), so
//! nothing has to be created at install time (a `make install`, a tarball
//! install, the .deb and a chroot all work alike) and nothing on the system
//! is owned by it between builds: the directories a command needs are
//! handed to it (`Handoff`) for that command only and given back to their
//! owners right after. bwrap runs as root without a user namespace (so it
//! also works where unprivileged user namespaces are disabled) and
//! `setpriv` switches uid inside; `--unshare-all` is not used because its
//! user namespace would leave no room to switch to that uid.

use super::dkms::Dkms;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::shell::untrusted::{Policy, Untrusted};
use dkms_state::tools;
use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `build_sandbox`: no (upstream's behaviour), yes, auto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    No,
    Yes,
    Auto,
}

/// The tools and the uid a sandbox is made with.
#[derive(Debug)]
pub(crate) struct Tool {
    bwrap: PathBuf,
    setpriv: PathBuf,
    uid: u32,
}

/// What one confined command may see: `rw` (handed to the sandbox uid),
/// `ro` (readable), `hidden` (covered by an empty tmpfs), its directory,
/// `links` (symlinks recreated where a tmpfs hides them).
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) rw: Vec<PathBuf>,
    pub(crate) ro: Vec<PathBuf>,
    pub(crate) hidden: Vec<PathBuf>,
    pub(crate) cwd: Option<PathBuf>,
    /// Symlinks to show as they are (to their real target).
    pub(crate) links: Vec<PathBuf>,
}

/// The sandbox of this process, probed once: the tools, or why not.
pub(crate) fn tool() -> std::result::Result<&'static Tool, &'static str> {
    static PROBED: OnceLock<std::result::Result<Tool, String>> = OnceLock::new();
    PROBED.get_or_init(probe).as_ref().map_err(String::as_str)
}

fn probe() -> std::result::Result<Tool, String> {
    let find = |p: &str| which::which(p).map_err(|_| format!("{p} is not installed"));
    let t = Tool { bwrap: find("bwrap")?, setpriv: find("setpriv")?, uid: free_uid() };
    let mut c = tools::wrapped(&tools::command("true", &[]), &t.args(&Plan::default()));
    match tools::output(&mut c) {
        Ok(o) if o.status.success() => Ok(t),
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            Err(format!("bwrap cannot make a sandbox here: {}", why.lines().next().unwrap_or("(no message)")))
        }
        Err(e) => Err(format!("bwrap cannot be run: {e}")),
    }
}

/// The highest uid of systemd's DynamicUser range (61184-65519) that
/// neither /etc/passwd nor /etc/group nor a running dynamic user holds.
fn free_uid() -> u32 {
    let taken = |file: &str, id: u32| {
        std::fs::read_to_string(file).unwrap_or_default().lines().any(|l| l.split(':').nth(2) == Some(&id.to_string()))
    };
    (61184..=65519u32)
        .rev()
        .find(|&id| {
            !taken("/etc/passwd", id)
                && !taken("/etc/group", id)
                && !Path::new(&format!("/run/systemd/dynamic-uid/{id}")).exists()
        })
        .unwrap_or(65519)
}

impl Tool {
    /// `bwrap ... -- setpriv ... --`: what goes in front of the command.
    fn args(&self, plan: &Plan) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec![self.bwrap.clone().into()];
        let mut push = |w: &[&str]| a.extend(w.iter().map(OsString::from));
        push(&["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]);
        push(&["--die-with-parent", "--new-session", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]);
        push(&["--perms", "1777", "--tmpfs", "/tmp", "--setenv", "HOME", "/tmp"]);
        let mut covered: Vec<PathBuf> = vec!["/tmp".into()];
        for h in plan.hidden.iter().filter(|h| h.is_dir()) {
            covered.push(h.clone());
            a.extend(words(&["--perms", "0755", "--tmpfs"], h));
        }
        let binds = plan.ro.iter().map(|p| ("--ro-bind", p)).chain(plan.rw.iter().map(|p| ("--bind", p)));
        for (how, p) in binds.filter(|(_, p)| p.exists()) {
            reach(&mut a, &mut covered, p);
            a.extend(words(&[how], p));
            a.push(p.into());
        }
        // A symlink under a tmpfs (the kernel_source_dir link of a private
        // install tree) is made again, to its real target (bound above).
        for l in &plan.links {
            let Ok(target) = std::fs::canonicalize(l) else { continue };
            let link = std::fs::symlink_metadata(l).is_ok_and(|m| m.file_type().is_symlink());
            if link && covered.iter().any(|c| l.starts_with(c)) {
                reach(&mut a, &mut covered, l);
                a.extend(words(&["--symlink"], &target));
                a.push(l.into());
            }
        }
        if let Some(d) = &plan.cwd {
            a.extend(words(&["--chdir"], d));
        }
        a.push("--".into());
        a.push(self.setpriv.clone().into());
        let id = self.uid.to_string();
        a.extend([format!("--reuid={id}"), format!("--regid={id}")].map(OsString::from));
        let drop = ["--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"];
        a.extend(drop.map(OsString::from));
        a
    }
}

/// Make every directory on the way to `p` searchable by the sandbox uid:
/// one that is not is covered by a tmpfs, and the ones under a tmpfs are
/// made.
fn reach(a: &mut Vec<OsString>, covered: &mut Vec<PathBuf>, p: &Path) {
    for anc in p.ancestors().skip(1).collect::<Vec<_>>().into_iter().rev().skip(1) {
        if covered.iter().any(|c| anc.starts_with(c) && anc != c) {
            a.extend(words(&["--perms", "0755", "--dir"], anc));
        } else if !covered.iter().any(|c| c == anc) && !searchable(anc) {
            covered.push(anc.to_path_buf());
            a.extend(words(&["--perms", "0755", "--tmpfs"], anc));
        }
    }
}

fn words(w: &[&str], p: &Path) -> Vec<OsString> {
    w.iter().map(OsString::from).chain(std::iter::once(p.into())).collect()
}

/// Can anyone read this directory and the files in it (`o+rx`, `o+r`)?
fn readable(dir: &Path) -> bool {
    let mode = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode());
    mode(dir) & 0o005 == 0o005
        && std::fs::read_dir(dir).into_iter().flatten().flatten().all(|e| mode(&e.path()) & 0o004 != 0)
}

/// Can anyone search (`o+x`) this directory?
fn searchable(dir: &Path) -> bool {
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0)
}

/// Paths handed to the sandbox uid for one command, given back when
/// dropped: each entry to its owner and mode, what the sandbox created to
/// root.
pub(crate) struct Handoff {
    roots: Vec<PathBuf>,
    owners: std::collections::HashMap<PathBuf, (u32, u32, u32)>,
}

/// Every entry under `roots`, not following symlinks.
fn walk(roots: &[PathBuf], mut f: impl FnMut(&Path, &std::fs::Metadata)) {
    let mut todo: Vec<PathBuf> = roots.to_vec();
    while let Some(p) = todo.pop() {
        let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
        if m.is_dir() {
            todo.extend(std::fs::read_dir(&p).into_iter().flatten().flatten().map(|e| e.path()));
        }
        f(&p, &m);
    }
}

impl Handoff {
    /// Give every entry under `roots` to `uid`, remembering its owner and
    /// mode; with `write`, also make it writable by its new owner (as it
    /// is for root: sources are often read-only, builds write next to
    /// them). A regular file with more than one link is left alone: it may
    /// be a hard link to a file elsewhere.
    pub(crate) fn take(roots: &[PathBuf], uid: u32, write: bool) -> Handoff {
        let mut owners = std::collections::HashMap::new();
        walk(roots, |p, m| {
            owners.insert(p.to_path_buf(), (m.uid(), m.gid(), m.mode() & 0o7777));
            if m.file_type().is_symlink() || (m.is_file() && m.nlink() > 1) {
                return;
            }
            if m.uid() != uid {
                let _ = std::os::unix::fs::lchown(p, Some(uid), Some(uid));
            }
            if write && m.mode() & 0o200 == 0 {
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode((m.mode() | 0o200) & 0o7777));
            }
        });
        Handoff { roots: roots.to_vec(), owners }
    }
}

impl Drop for Handoff {
    fn drop(&mut self) {
        walk(&self.roots, |p, m| {
            let (uid, gid, mode) = self.owners.get(p).copied().unwrap_or((0, 0, m.mode() & 0o7777));
            if (m.uid(), m.gid()) != (uid, gid) {
                let _ = std::os::unix::fs::lchown(p, Some(uid), Some(gid));
            }
            if !m.file_type().is_symlink() && m.mode() & 0o7777 != mode {
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
            }
        });
    }
}

impl Dkms {
    /// `build_sandbox` (the flag wins over framework.conf and the
    /// environment).
    pub(crate) fn sandbox_setting(&self) -> Setting {
        let v = self.opts.build_sandbox.as_deref().unwrap_or_else(|| self.ctx.setting("build_sandbox"));
        match v.trim() {
            "yes" | "true" | "1" => Setting::Yes,
            "auto" => Setting::Auto,
            _ => Setting::No,
        }
    }

    /// With `build_sandbox=yes`, fail unless the sandbox can be set up.
    pub(crate) fn sandbox_check(&self) -> Result<()> {
        if self.sandbox_setting() != Setting::Yes {
            return Ok(());
        }
        tool().map(|_| ()).map_err(|why| {
            Error::die(
                Kind::SandboxUnavailable,
                [format!("build_sandbox=yes, but the build sandbox is unavailable: {why}.")],
            )
            .with_hint(
                "Install bubblewrap (apt-get install bubblewrap) and setpriv (util-linux), or set build_sandbox=auto \
                     (or no) in /etc/dkms/framework.conf.",
            )
        })
    }

    /// The sandbox to confine with, if confining: None with `no`, and with
    /// `auto` when unavailable (saying so once).
    /// bwrap is probed only when asked for: `no` (the default) spawns nothing.
    pub(crate) fn sandbox(&self) -> Option<std::result::Result<&'static Tool, &'static str>> {
        let setting = self.sandbox_setting();
        if setting == Setting::No {
            return None;
        }
        match (setting, tool()) {
            (Setting::Auto, Err(why)) => {
                static NOTICE: std::sync::Once = std::sync::Once::new();
                NOTICE.call_once(|| self.ui.errln(&format!("dkms: build_sandbox=auto: {why}; building unconfined.")));
                None
            }
            (_, t) => Some(t),
        }
    }

    /// The directories of the signing key and certificate: hidden from the
    /// sandbox (signing happens outside, in dkms).
    pub(crate) fn sandbox_hidden(&self) -> Vec<PathBuf> {
        let (k, a) = match self.prepared_kernel.as_deref().and_then(|p| p.rsplit_once('/')) {
            Some((k, a)) => (k.to_string(), a.to_string()),
            None => self.kernelver0(),
        };
        // The prepared signer knows them; else framework.conf says.
        let (key, cert) = match &self.signer {
            Some(s) => (s.key.clone(), s.cert.clone()),
            None => {
                let s = super::signing::settings(self, &k, &a);
                let key = s.get("mok_signing_key").cloned().unwrap_or_else(|| "/var/lib/dkms/mok.key".into());
                (key, s.get("mok_certificate").cloned().unwrap_or_else(|| "/var/lib/dkms/mok.pub".into()))
            }
        };
        let mut dirs: Vec<PathBuf> = [key, cert]
            .iter()
            .filter(|p| !p.starts_with("pkcs11:"))
            .filter_map(|p| Path::new(p).parent().map(Path::to_path_buf))
            .filter(|d| d.is_absolute() && d != Path::new("/"))
            .collect();
        dirs.dedup();
        dirs
    }

    /// `Cmd::Confined`'s command `c` for the module whose build/ directory
    /// is `build`: as it is when not confining; else wrapped, with the
    /// handoff of build/ to hold while it runs; or why it cannot run
    /// (`yes` and no sandbox).
    pub(crate) fn confined(
        &self,
        c: std::process::Command,
        build: Option<PathBuf>,
    ) -> std::result::Result<(std::process::Command, Option<Handoff>), String> {
        let Some(build) = build else { return Ok((c, None)) };
        match self.sandbox() {
            None => Ok((c, None)),
            Some(Ok(t)) => {
                let (w, h) = self.confine(t, &c, &build);
                Ok((w, Some(h)))
            }
            Some(Err(why)) => Err(format!("dkms: build_sandbox=yes, but the build sandbox is unavailable: {why}")),
        }
    }

    /// A build-step command confined in the sandbox for `build`.
    fn confine(&self, t: &Tool, c: &std::process::Command, build: &Path) -> (std::process::Command, Handoff) {
        let cwd = c.get_current_dir().map(Path::to_path_buf);
        let (mut ro, mut links) = (Vec::new(), Vec::new());
        if let Some((k, _)) = self.prepared_kernel.as_deref().and_then(|p| p.rsplit_once('/')) {
            // `make -C <kernel_source_dir>` goes through the link, as outside.
            let ksrc = self.kernel_source_dir(k);
            ro.extend(std::fs::canonicalize(&ksrc));
            links.push(ksrc);
        }
        // A script from /etc/dkms/<module>/ runs where it lies.
        ro.extend(cwd.clone().filter(|d| !d.starts_with(build)));
        let plan = Plan { rw: vec![build.to_path_buf()], ro, hidden: self.sandbox_hidden(), cwd, links };
        (tools::wrapped(c, &t.args(&plan)), Handoff::take(&[build.to_path_buf()], t.uid, true))
    }

    /// While the guard lives, a tarball's dkms.conf that needs bash is
    /// evaluated in the sandbox (`yes`, or `auto` when available), else
    /// after a one-line warning that it is shell code run as root.
    pub(crate) fn untrusted_confs(&self) -> Result<Untrusted> {
        self.sandbox_check()?;
        let name = self.opts.archive_location.clone().unwrap_or_default().display().to_string();
        let Some(Ok(t)) = self.sandbox() else {
            let said = std::cell::Cell::new(false);
            let ui = self.ui.clone();
            let warn = move || {
                if !said.replace(true) {
                    ui.warn(&[format!("the dkms.conf in {name} is shell code; bash runs it as root.")]);
                }
            };
            return Ok(Untrusted::begin(Policy::Warn(std::rc::Rc::new(warn))));
        };
        let hidden = self.sandbox_hidden();
        let run = move |c: std::process::Command, files: &[PathBuf], answers: &Path| {
            let mut dirs: Vec<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
            dirs.sort();
            dirs.dedup();
            let plan = Plan {
                rw: vec![answers.to_path_buf()],
                ro: dirs.clone(),
                hidden: hidden.clone(),
                cwd: None,
                links: Vec::new(),
            };
            let mut w = tools::wrapped(&c, &t.args(&plan));
            w.stderr(std::process::Stdio::inherit());
            // The conf files are read as the sandbox uid: lend them too
            // (bound read-only); answers are written into `answers`.
            let unreadable: Vec<PathBuf> = dirs.iter().filter(|d| !readable(d)).cloned().collect();
            let _lent = Handoff::take(&unreadable, t.uid, false);
            let _answers = Handoff::take(&[answers.to_path_buf()], t.uid, true);
            tools::output(&mut w)
        };
        Ok(Untrusted::begin(Policy::Confine(std::rc::Rc::new(run))))
    }
}
