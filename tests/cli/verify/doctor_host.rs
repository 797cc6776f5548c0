//! `dkms doctor`'s checks of the machine, each fault injected without
//! touching it: Secure Boot's state from a private EFI directory
//! (`DKMS_EFI_DIR`) and the certificate's enrolment from a `PATH` without
//! mokutil or with a fake one; the Debian kernel hooks under
//! `DKMS_SYSCONFDIR`, other distributions' kernel-install plugin and dkms.service
//! in a mount namespace that makes the machine a Fedora; free space on a
//! small tmpfs mounted as the DKMS tree.

use super::doctor::Doc;
use super::{path_without, unavailable, write_exec, Real};
use crate::skip::skip_unless;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const SECURE_BOOT_VAR: &str = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// A doctor whose sandbox has a key pair (so the enrolment is asked).
fn doc_with_pair() -> Doc {
    let r = Real::new(true);
    let (key, cert) = super::new_pair(&r, "pair");
    fs::copy(key, r.key()).unwrap();
    fs::copy(cert, r.cert()).unwrap();
    fs::set_permissions(r.key(), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut doc = Doc::new(r);
    let k = doc.r.k.clone();
    doc.args = vec!["-k".into(), k];
    doc
}

/// `DKMS_EFI_DIR` (and `PATH`) for the runs.
fn efi(doc: &mut Doc, dir: &Path, path: OsString) {
    doc.vars = vec![("DKMS_EFI_DIR".into(), dir.into()), ("PATH".into(), path)];
}

/// A fake mokutil that logs its arguments and answers `--test-key` with
/// `says` (`%s`: the certificate) and exit status `code`.
fn mokutil(doc: &Doc, says: &str, code: i32) -> PathBuf {
    let log = doc.r.sb.root.join("mokutil.log");
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> {}\n[ \"$1\" = --test-key ] || exit 2\nprintf '{says}\\n' \"$2\"\nexit {code}\n",
        log.display()
    );
    write_exec(&doc.r.sb.bin.join("mokutil"), &script);
    log
}

#[test]
fn doctor_tells_secure_boot_and_enrolment() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let mut doc = doc_with_pair();
    let cert = doc.r.shown(&doc.r.cert());
    let dir = doc.r.sb.root.join("efi");
    let vars = dir.join("efivars");
    let no_mokutil = path_without(&doc.r, &["mokutil"]);

    efi(&mut doc, &dir, no_mokutil.clone());
    doc.expect("not booted with EFI", "secure-boot", "info", 0, "Not booted with EFI");

    fs::create_dir_all(&vars).unwrap();
    let f = doc.expect("efivarfs not mounted", "secure-boot-unknown", "warning", 0, "cannot be told");
    assert_eq!(f["remedy"], "mount -t efivarfs efivarfs /sys/firmware/efi/efivars");

    fs::write(vars.join("Boot0000-8be4df61-93ca-11d2-aa0d-00e098032b8c"), [7, 0, 0, 0, 1]).unwrap();
    doc.expect("firmware without Secure Boot", "secure-boot", "info", 0, "Secure Boot is off.");
    fs::write(vars.join(SECURE_BOOT_VAR), [6, 0, 0, 0, 0]).unwrap();
    doc.expect("Secure Boot off", "secure-boot", "info", 0, "Secure Boot is off.");

    fs::write(vars.join(SECURE_BOOT_VAR), [6, 0, 0, 0, 1]).unwrap();
    let f = doc.expect("Secure Boot on, no mokutil", "mok-enrollment-unknown", "warning", 0, "without mokutil");
    assert!(f["remedy"].as_str().is_some_and(|r| r.contains("mokutil")), "{f}");

    // From here a fake mokutil (in the sandbox's bin, first on PATH).
    efi(&mut doc, &dir, no_mokutil);
    let log = mokutil(&doc, "%s is not enrolled", 0);
    let f = doc.expect("certificate not enrolled", "mok-not-enrolled", "error", 19, &cert);
    assert_eq!(f["remedy"], format!("mokutil --import {cert} (then reboot and confirm the enrolment)"));
    assert!(fs::read_to_string(&log).unwrap().contains(&format!("--test-key {}", doc.r.cert().display())));

    mokutil(&doc, "%s is already in the enrollment request", 1);
    doc.expect("enrolment pending", "mok-enrollment-pending", "warning", 0, "waits to be enrolled");
    mokutil(&doc, "%s is blocked in dbx", 1);
    doc.expect("certificate blocked", "mok-blocked", "error", 19, "is blocked");
    mokutil(&doc, "EFI variables are not supported on this system", 255);
    doc.expect("mokutil cannot tell", "mok-enrollment-unknown", "warning", 0, "EFI variables are not supported");
    mokutil(&doc, "%s is already enrolled", 1);
    doc.expect("certificate enrolled", "secure-boot", "info", 0, "is enrolled");
}

/// Is the machine Debian-like (where doctor looks for /etc/kernel hooks)?
fn debian_like() -> bool {
    let text = fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("ID=").or_else(|| l.strip_prefix("ID_LIKE=")))
        .any(|v| v.trim_matches('"').split(' ').any(|id| id == "debian" || id == "ubuntu"))
}

#[test]
fn doctor_finds_a_kernel_hook_missing() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    skip_unless!(debian_like(), "not a Debian-like system (the /etc/kernel hooks are Debian's)");
    let mut doc = doc_with_pair();
    let hooks: Vec<PathBuf> = ["postinst", "header_postinst", "preinst", "prerm"]
        .iter()
        .map(|h| doc.r.sb.sysconf.join(format!("kernel/{h}.d/dkms")))
        .collect();
    for h in &hooks {
        write_exec(h, "#!/bin/sh\n");
    }
    doc.expect_no("every hook installed", "kernel-hook-missing");
    for h in &hooks {
        fs::remove_file(h).unwrap();
        let f = doc.expect("hook missing", "kernel-hook-missing", "warning", 0, &doc.r.shown(h));
        assert!(f["remedy"].as_str().is_some_and(|r| r.contains("install-debian")), "{f}");
        write_exec(h, "#!/bin/sh\n");
    }
    doc.expect_no("hooks back", "kernel-hook-missing");
}

/// Runs dkms in a mount namespace of its own where the machine is a
/// Fedora: overlays on `/etc` and `/usr/lib` (their upper layers in the
/// sandbox, never seen by the machine) hold `<fake>/os-release`, and the
/// kernel-install plugin directory and systemd's unit directories with no
/// dkms files but what `<fake>/plugins` and `<fake>/units` hold.
const OTHER_DISTRIBUTION: &str = r#"#!/bin/sh
exec unshare --mount --propagation private sh -c '
fake=$0
for d in /etc /usr/lib; do
    o=$fake/overlay$d; mkdir -p "$o/upper" "$o/work"
    mount -t overlay overlay -o "lowerdir=$d,upperdir=$o/upper,workdir=$o/work" "$d" || exit 90
done
rm -f /etc/os-release && cp "$fake/os-release" /etc/os-release || exit 91
for d in /usr/lib/kernel/install.d /usr/lib/systemd/system /lib/systemd/system /etc/systemd/system; do
    mkdir -p "$d" && rm -f "$d/40-dkms.install" "$d/dkms.service" || exit 92
done
for f in "$fake"/plugins/*; do [ -e "$f" ] && cp "$f" /usr/lib/kernel/install.d/; done
for f in "$fake"/units/*; do [ -e "$f" ] && cp "$f" /usr/lib/systemd/system/; done
exec "$@"' "@FAKE@" "@DKMS@" "$@"
"#;

#[test]
fn doctor_finds_the_kernel_install_plugin_and_dkms_service_missing_elsewhere() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    skip_unless!(crate::support::have("unshare"), "no unshare here");
    let mut doc = doc_with_pair();
    // kernel-install and systemd are there (whatever this machine has).
    for tool in ["kernel-install", "systemctl"] {
        write_exec(&doc.r.sb.bin.join(tool), "#!/bin/sh\nexit 0\n");
    }
    let fake = doc.r.sb.root.join("fedora");
    doc.r.sb.write(&fake.join("os-release"), "NAME=\"Fedora Linux\"\nID=fedora\nVERSION_ID=40\n");
    let (plugins, units) = (fake.join("plugins"), fake.join("units"));
    fs::create_dir_all(&plugins).unwrap();
    fs::create_dir_all(&units).unwrap();
    let wrapper = doc.r.sb.root.join("as-fedora");
    let script = OTHER_DISTRIBUTION.replace("@FAKE@", &fake.display().to_string());
    write_exec(&wrapper, &script.replace("@DKMS@", &crate::support::ours().display().to_string()));
    doc.program = Some(wrapper);
    let (code, out, findings) = doc.run();
    assert_eq!(code, 0, "{out}");
    let missing: Vec<&str> = findings
        .iter()
        .filter(|f| f["kind"] == "kernel-hook-missing")
        .map(|f| f["message"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(missing.len(), 2, "{out}");
    assert!(missing[0].contains("/usr/lib/kernel/install.d/40-dkms.install"), "{out}");
    assert!(missing[1].contains("/usr/lib/systemd/system/dkms.service"), "{out}");
    assert!(!out.contains("/etc/kernel/"), "the Debian hooks are not asked for: {out}");
    write_exec(&plugins.join("40-dkms.install"), "#!/bin/sh\n");
    doc.r.sb.write(&units.join("dkms.service"), "[Unit]\n");
    doc.expect_no("plugin and service there", "kernel-hook-missing");
}

/// A tmpfs mounted on a directory for the life of the value.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        let st = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir).status();
        assert!(st.is_ok_and(|s| s.success()), "mount tmpfs on {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn doctor_finds_low_space_where_builds_happen() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let mut doc = doc_with_pair();
    let tree = doc.r.shown(&doc.r.sb.dkms);
    doc.expect_no("DKMS tree on a roomy file system", "low-space");
    {
        let _small = Tmpfs::mount(&doc.r.sb.dkms, "50m");
        let f = doc.expect(
            "DKMS tree on a 50 MiB tmpfs",
            "low-space",
            "error",
            19,
            &format!("free in {tree} (less than 100 MiB)"),
        );
        assert_eq!(f["remedy"], format!("free space on the file system of {tree}"));
    }
    {
        let _small = Tmpfs::mount(&doc.r.sb.dkms, "600m");
        doc.expect(
            "DKMS tree on a 600 MiB tmpfs",
            "low-space",
            "warning",
            0,
            &format!("free in {tree} (less than 1 GiB)"),
        );
    }
    doc.expect_no("tmpfs gone", "low-space");
}
