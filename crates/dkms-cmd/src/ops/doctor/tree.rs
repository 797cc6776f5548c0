//! doctor's checks of the kernel hooks and the DKMS tree: modules whose
//! source link points nowhere, half-built builds (a staging `.tmp_*`
//! directory, a build without modules), transactions a crash left
//! unfinished, builds for kernels that are gone, remembered failed builds,
//! installed modules failing `status --verify`, and free space where
//! builds happen.

use super::Report;
use crate::ops::status::{do_status, Show};
use crate::ops::verify::{self, Verifier};
use crate::support::dkms::{Dkms, Target};
use dkms_proto::Severity::{Error, Warning};
use dkms_state::distro::{family, Family};
use dkms_state::{failures, journal, status, tools};
use std::path::Path;

/// Where systemd looks for unit files (dkms.service).
const UNIT_DIRS: [&str; 3] = ["/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"];

/// The distribution's kernel hooks are installed: Debian's
/// `/etc/kernel/{postinst,header_postinst,preinst,prerm}.d/dkms` (what
/// upstream's install-debian installs; `/etc` is `DKMS_SYSCONFDIR` when
/// set); elsewhere (upstream's install-redhat) the kernel-install plugin
/// where kernel-install is what installs kernels, and dkms.service, which
/// builds at boot for a kernel installed without them, where systemd runs.
pub(super) fn hooks(d: &Dkms, r: &mut Report) {
    let etc = d.ctx.conf_dir.parent().unwrap_or(Path::new("/etc")).to_path_buf();
    let mut want = Vec::new();
    if family(&d.ctx.running_distribution) == Family::Debian {
        for hook in ["postinst", "header_postinst", "preinst", "prerm"] {
            want.push(etc.join(format!("kernel/{hook}.d/dkms")));
        }
    } else {
        let plugin = "kernel/install.d/40-dkms.install";
        if tools::available("kernel-install")
            && !etc.join(plugin).is_file()
            && !Path::new("/usr/lib").join(plugin).is_file()
        {
            want.push(Path::new("/usr/lib").join(plugin));
        }
        let unit = |dir: &&str| Path::new(dir).join("dkms.service").is_file();
        if tools::available("systemctl") && !UNIT_DIRS.iter().any(unit) {
            want.push(Path::new(UNIT_DIRS[1]).join("dkms.service"));
        }
    }
    for hook in want.into_iter().filter(|h| !h.is_file()) {
        r.add(
            Warning,
            "kernel-hook-missing",
            format!("The kernel hook {} is missing: new kernels will not get their modules built.", hook.display()),
            Some("reinstall the dkms package (make install-debian / install-redhat from the sources)".into()),
        );
    }
}

pub(super) fn check(d: &Dkms, r: &mut Report) {
    let t = &d.ctx.trees;
    for (m, v) in status::list_module_version_combos(t, None, None) {
        // Where dkms keeps the kernel's own module it replaced
        // (`<dkms_tree>/<module>/original_module/<kernel>/<arch>/`), not a
        // version: nothing there is a build to unbuild.
        if v == "original_module" {
            continue;
        }
        if status::is_module_broken(t, &m, &v) {
            r.add(
                Error,
                "source-link-dangling",
                format!("{m}/{v} is broken: its source link {} points nowhere.", t.source_link(&m, &v).display()),
                Some(format!("restore {} or run: dkms remove {m}/{v} --all", t.source_dir(&m, &v).display())),
            );
            continue;
        }
        builds(d, r, &m, &v);
    }
    for p in journal::pending(&t.dkms_tree) {
        r.add(
            Warning,
            "journal-leftover",
            format!(
                "An interrupted transaction ({} {}) left the journal {}.",
                p.op,
                p.target.join("/"),
                p.path.display()
            ),
            Some(
                "run any dkms command that takes the lock as root (e.g. dkms status); it finishes the recovery".into(),
            ),
        );
    }
    for f in failures::list(&t.dkms_tree) {
        if !status::is_module_added(t, &f.module, &f.version) {
            continue;
        }
        let (m, v, k, a) = (&f.module, &f.version, &f.kernel, &f.arch);
        r.add_for(
            k,
            Warning,
            "build-failed",
            format!("The last build of {m}/{v} for {k} ({a}) failed: {} (exit status {}).", f.kind, f.exit_code),
            Some(format!("dkms log {m}/{v} -k {k}/{a}")),
        );
    }
    verified(d, r);
}

/// The built kernels of one module/version: no staging leftovers, each
/// build holds modules, its kernel still exists.
fn builds(d: &Dkms, r: &mut Report, m: &str, v: &str) {
    let t = &d.ctx.trees;
    let vdir = t.version_dir(m, v);
    let entries = |p: &Path| -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|f| f.is_dir()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        n.sort();
        n
    };
    for k in entries(&vdir).into_iter().filter(|k| !["build", "source", "tarball"].contains(&k.as_str())) {
        for a in entries(&vdir.join(&k)) {
            let dir = vdir.join(&k).join(&a);
            let empty = std::fs::read_dir(dir.join("module")).map_or(true, |mut rd| rd.next().is_none());
            if a.starts_with(".tmp_") || empty {
                r.add_for(
                    &k,
                    Warning,
                    "half-built",
                    format!("{} is an unfinished build of {m}/{v} for {k}.", dir.display()),
                    Some(if a.starts_with(".tmp_") {
                        format!("rm -rf {}", dir.display())
                    } else {
                        format!("dkms unbuild {m}/{v} -k {k}/{a}")
                    }),
                );
                continue;
            }
            if !t.lib_tree(&k).is_dir() {
                r.add_for(
                    &k,
                    Warning,
                    "kernel-gone",
                    format!(
                        "{m}/{v} is built for {k} ({a}), which is no longer installed ({} is gone).",
                        t.lib_tree(&k).display()
                    ),
                    Some(format!("dkms unbuild {m}/{v} -k {k}/{a}")),
                );
            }
        }
    }
}

/// What `status --verify` finds, one finding per installed build.
fn verified(d: &Dkms, r: &mut Report) {
    let mut ver = Verifier::default();
    do_status(
        d,
        Target::new("", "", "", ""),
        Show { print: false, records: false, verify: Some(&mut ver), globals: ("", "") },
    );
    for (m, v, k, a, problems) in ver.failures {
        let lines: Vec<String> = verify::lines(&problems).iter().map(|l| l.trim().to_string()).collect();
        r.add_for(
            &k,
            Error,
            "verify-failed",
            format!("{m}/{v} installed for {k} ({a}) does not verify: {}", lines.join("; ")),
            Some(format!("dkms install --force {m}/{v} -k {k}/{a}")),
        );
    }
}

/// Free space in the DKMS tree (builds happen there) and the temporary
/// directory: an error under 100 MiB, a warning under 1 GiB.
pub(super) fn space(d: &Dkms, r: &mut Report) {
    const MIB: u64 = 1024 * 1024;
    let mut seen = Vec::new();
    for dir in [&d.ctx.trees.dkms_tree, &d.ctx.tmp_location] {
        // Not made yet: the file system it will be made on.
        let Some(dir) = dir.ancestors().find(|p| p.is_dir()) else { continue };
        let Ok(st) = nix::sys::statvfs::statvfs(dir) else { continue };
        // Both on one file system: one finding.
        let Ok(meta) = std::fs::metadata(dir) else { continue };
        let dev = std::os::unix::fs::MetadataExt::dev(&meta);
        if seen.contains(&dev) {
            continue;
        }
        seen.push(dev);
        // fsblkcnt_t and c_ulong are not u64 on every platform.
        #[allow(clippy::unnecessary_cast)]
        let free = st.blocks_available() as u64 * st.fragment_size() as u64;
        let (severity, limit) = match free {
            f if f < 100 * MIB => (Error, "100 MiB"),
            f if f < 1024 * MIB => (Warning, "1 GiB"),
            _ => continue,
        };
        r.add(
            severity,
            "low-space",
            format!("Only {} MiB are free in {} (less than {limit}); builds may fail.", free / MIB, dir.display()),
            Some(format!("free space on the file system of {}", dir.display())),
        );
    }
}
