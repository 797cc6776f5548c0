//! Secure Boot without the friction (issue 28), with real keys and real
//! modules: Ubuntu's MOK pair in `/var/lib/shim-signed/mok` is used where
//! framework.conf names no key (in a mount namespace whose `/var/lib` is an
//! overlay, so the machine's is never touched); the enrolment warning at
//! build and install appears only with Secure Boot on (a fake efivars
//! directory, `DKMS_EFI_DIR`) and the certificate not enrolled (a `mokutil`
//! stand-in: firmware cannot be changed here).

use super::{unavailable, write_exec, Real};
use crate::skip::skip_unless;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh pair whose certificate's subject is `CN=<cn>`, under
/// `<root>/<dir>/`: (key, DER certificate).
pub(super) fn pair(r: &Real, dir: &str, cn: &str) -> (PathBuf, PathBuf) {
    let dir = r.sb.root.join(dir);
    fs::create_dir_all(&dir).unwrap();
    let (key, cert) = (dir.join("MOK.priv"), dir.join("MOK.der"));
    crate::support::mok_pair(&key, &cert, cn);
    (key, cert)
}

/// The signer (certificate subject CN) of a module file, as `modinfo`
/// says it (empty: unsigned).
pub(super) fn signer(file: &Path) -> String {
    let o = Command::new("modinfo").args(["-F", "signer"]).arg(file).output().expect("modinfo");
    assert!(o.status.success(), "modinfo {}", file.display());
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Runs dkms in a mount namespace of its own whose `/var/lib` is an
/// overlay (upper layer `<fake>/overlay/upper`, never seen by the
/// machine) with no `shim-signed` and an empty `dkms/` (where upstream's
/// default pair goes), except that
/// `<fake>/mok/`, when there, becomes `/var/lib/shim-signed/mok/`.
const VAR_LIB: &str = r#"#!/bin/sh
exec unshare --mount --propagation private sh -c '
fake=$0; o=$fake/overlay; mkdir -p "$o/upper" "$o/work"
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$o/upper,workdir=$o/work" /var/lib || exit 90
rm -rf /var/lib/shim-signed /var/lib/dkms/mok.key /var/lib/dkms/mok.pub && mkdir -p /var/lib/dkms || exit 91
if [ -d "$fake/mok" ]; then mkdir -p /var/lib/shim-signed && cp -a "$fake/mok" /var/lib/shim-signed/ || exit 92; fi
exec "$@"' "@FAKE@" "@DKMS@" "$@"
"#;

/// A sandbox signing with the kernel's sign-file and no key named in
/// framework.conf (`try_sign_modules="true"`: the private mount namespace
/// looks like a chroot to dkms), running dkms through `VAR_LIB`; the
/// wrapper and `<fake>`.
fn no_key_named(r: &Real) -> (PathBuf, PathBuf) {
    let framework = format!("sign_file=\"/lib/modules/{}/build/scripts/sign-file\"\ntry_sign_modules=\"true\"\n", r.k);
    r.sb.write(&r.sb.sysconf.join("dkms/framework.conf"), &framework);
    let fake = r.sb.root.join("varlib");
    fs::create_dir_all(&fake).unwrap();
    let wrapper = r.sb.root.join("with-var-lib");
    let script = VAR_LIB.replace("@FAKE@", &fake.display().to_string());
    write_exec(&wrapper, &script.replace("@DKMS@", &crate::support::ours().display().to_string()));
    (wrapper, fake)
}

#[test]
fn ubuntu_mok_pair_is_used_where_framework_conf_names_no_key() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    skip_unless!(crate::support::have("unshare"), "no unshare here");
    skip_unless!(crate::support::have("modinfo"), "no modinfo here");
    let mut r = Real::new(true);
    let (wrapper, fake) = no_key_named(&r);
    let k = r.k.clone();
    let a = crate::support::arch();
    r.source("okm", "1.0", None, "");
    let built = r.sb.dkms.join(format!("okm/1.0/{k}/{a}/module/okm.ko"));
    let build = |r: &mut Real| {
        let o = r.sb.run_with(crate::support::Impl::Ours, Some(&wrapper), &["build", "okm/1.0", "-k", &k], true);
        assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
        let _ = r.dkms(&["unbuild", "okm/1.0", "-k", &k]);
        o.stdout
    };

    // No shim-signed pair: upstream's /var/lib/dkms pair, generated.
    let out = build(&mut r);
    assert!(
        out.contains("Signing key: /var/lib/dkms/mok.key\nPublic certificate (MOK): /var/lib/dkms/mok.pub\n"),
        "{out}"
    );
    assert!(out.contains("generating self signed certificate for MOK"), "{out}");
    assert!(fake.join("overlay/upper/dkms/mok.key").is_file(), "generated in the overlay");

    // Ubuntu's pair present: used, nothing generated.
    fs::remove_dir_all(fake.join("overlay")).unwrap();
    pair(&r, "varlib/mok", "Ubuntu MOK stand-in");
    let build_keep = |r: &mut Real| {
        let o = r.sb.run_with(crate::support::Impl::Ours, Some(&wrapper), &["build", "okm/1.0", "-k", &k], true);
        assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
        o.stdout
    };
    let out = build_keep(&mut r);
    let lines = "Signing key: /var/lib/shim-signed/mok/MOK.priv\n\
                 Public certificate (MOK): /var/lib/shim-signed/mok/MOK.der\n";
    assert!(out.contains(lines), "{out}");
    assert!(!out.contains("generating"), "{out}");
    assert!(!fake.join("overlay/upper/dkms/mok.key").exists(), "no second pair");
    assert_eq!(signer(&built), "Ubuntu MOK stand-in");

    // framework.conf naming a key wins over shim-signed's.
    let (key, cert) = pair(&r, "named", "named");
    let framework = format!(
        "sign_file=\"/lib/modules/{k}/build/scripts/sign-file\"\ntry_sign_modules=\"true\"\n\
         mok_signing_key=\"{}\"\nmok_certificate=\"{}\"\n",
        key.display(),
        cert.display()
    );
    r.sb.write(&r.sb.sysconf.join("dkms/framework.conf"), &framework);
    let _ = r.dkms(&["unbuild", "okm/1.0", "-k", &k]);
    let out = build_keep(&mut r);
    assert!(out.contains(&format!("Signing key: {}\n", r.shown(&key))), "{out}");
    assert_eq!(signer(&built), "named");
}

const SECURE_BOOT_VAR: &str = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// A fake EFI directory under the sandbox whose efivars say Secure Boot is
/// `on` (false: off); its path, for `DKMS_EFI_DIR`.
pub(super) fn efi(r: &Real, on: bool) -> PathBuf {
    let dir = r.sb.root.join("efi");
    fs::create_dir_all(dir.join("efivars")).unwrap();
    fs::write(dir.join("efivars").join(SECURE_BOOT_VAR), [6, 0, 0, 0, u8::from(on)]).unwrap();
    dir
}

/// Run dkms with `vars`; (exit, stdout, stderr).
fn run(r: &mut Real, args: &[&str], vars: &[(&str, &std::ffi::OsStr)]) -> (i32, String, String) {
    let o = r.sb.run_env(crate::support::Impl::Ours, None, args, true, vars);
    (o.code, o.stdout, o.stderr)
}

#[test]
fn enrolment_warning_only_with_secure_boot_on_and_the_key_not_enrolled() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let mut r = Real::new(true);
    let k = r.k.clone();
    r.source("okm", "1.0", None, "");
    let cert = r.shown(&r.cert());
    fs::write(r.sb.root.join("mok-state"), "not-enrolled").unwrap();
    let log = crate::support::mokutil_stand_in(&r.sb);
    let efi_dir = efi(&r, false);
    let vars = [("DKMS_EFI_DIR", efi_dir.as_os_str())];
    let warning = "Warning: Secure Boot is on and the certificate";

    // Secure Boot off: the build says nothing more, mokutil is not asked.
    let (code, _, err) = run(&mut r, &["build", "okm/1.0", "-k", &k], &vars);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("Secure Boot"), "{err}");
    assert!(!log.exists(), "mokutil asked with Secure Boot off");
    let _ = r.dkms(&["unbuild", "okm/1.0", "-k", &k]);

    // On and not enrolled: one warning with the remedy; the build succeeds.
    efi(&r, true);
    let (code, _, err) = run(&mut r, &["build", "okm/1.0", "-k", &k], &vars);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err.matches(warning).count(), 1, "{err}");
    let said = format!("{warning} {cert} is not enrolled: the kernel may refuse modules signed with it.\n");
    assert!(err.contains(&said), "{err}");
    assert!(err.contains("Remedy: dkms enroll"), "{err}");

    // Install of that build (JSON): the warning record, valid by the schema.
    let (code, out, err) = run(&mut r, &["install", "okm/1.0", "-k", &k, "--json"], &vars);
    assert_eq!(code, 0, "{err}");
    let records = crate::json::Validator::new().check(&out, code);
    let w: Vec<_> = records.iter().filter(|x| x["type"] == "warning").collect();
    assert_eq!(w.len(), 1, "{out}");
    assert_eq!(w[0]["kind"], "mok-not-enrolled");
    assert_eq!(w[0]["remedy"], "dkms enroll");
    assert_eq!(w[0]["kernel"], k.as_str());
    assert_eq!(err.matches(warning).count(), 1, "{err}");
    let _ = r.dkms(&["uninstall", "okm/1.0", "-k", &k]);

    // Pending or enrolled: nothing.
    for state in ["pending", "enrolled"] {
        fs::write(r.sb.root.join("mok-state"), state).unwrap();
        let (code, _, err) = run(&mut r, &["install", "okm/1.0", "-k", &k], &vars);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("Secure Boot"), "{state}: {err}");
        let _ = r.dkms(&["uninstall", "okm/1.0", "-k", &k]);
    }
    assert!(fs::read_to_string(&log).unwrap().contains(&format!("--test-key {}", r.cert().display())));

    // Enrolment that cannot be told (no mokutil): warned as well.
    fs::remove_file(r.sb.bin.join("mokutil")).unwrap();
    let no_mokutil = super::path_without(&r, &["mokutil"]);
    let vars = [("DKMS_EFI_DIR", efi_dir.as_os_str()), ("PATH", no_mokutil.as_os_str())];
    let (code, out, err) = run(&mut r, &["install", "okm/1.0", "-k", &k, "--json"], &vars);
    assert_eq!(code, 0, "{err}");
    let records = crate::json::Validator::new().check(&out, code);
    let w: Vec<_> = records.iter().filter(|x| x["type"] == "warning").collect();
    assert_eq!(w.len(), 1, "{out}");
    assert_eq!(w[0]["kind"], "mok-enrollment-unknown");
    assert!(err.contains("cannot be told (mokutil is not installed)"), "{err}");
}

/// `status --verify` in text and JSON with `vars`: (exit, text, the
/// problems of the JSON `verify` records, whether they all say ok).
fn verify(r: &mut Real, vars: &[(&str, &std::ffi::OsStr)]) -> (i32, String, Vec<serde_json::Value>, bool) {
    let (code, out, _) = run(r, &["status", "--verify"], vars);
    let (jcode, json, _) = run(r, &["status", "--verify", "--json"], vars);
    assert_eq!(code, jcode, "{out}");
    let records = crate::json::Validator::new().check(&json, jcode);
    let verdicts: Vec<&serde_json::Value> = records.iter().filter(|x| x["type"] == "verify").collect();
    assert!(!verdicts.is_empty(), "{json}");
    let ok = verdicts.iter().all(|v| v["ok"] == true);
    let problems = verdicts.iter().flat_map(|v| v["problems"].as_array().cloned().unwrap_or_default()).collect();
    (code, out, problems, ok)
}

#[test]
fn unsigned_by_necessity_fails_verify_only_where_the_kernel_enforces_signatures() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let mut r = Real::new(true);
    let k = r.k.clone();
    // No key can be created: the directory it would go into is a file.
    let blocker = r.sb.root.join("not-a-directory");
    fs::write(&blocker, "").unwrap();
    let framework = format!(
        "sign_file=\"/lib/modules/{k}/build/scripts/sign-file\"\nmok_signing_key=\"{b}/mok.key\"\n\
         mok_certificate=\"{b}/mok.pub\"\n",
        b = blocker.display()
    );
    r.sb.write(&r.sb.sysconf.join("dkms/framework.conf"), &framework);
    r.source("okm", "1.0", None, "");
    let (code, out, err) = r.dkms(&["install", "okm/1.0", "-k", &k]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("not found and can't be generated, modules won't be signed"), "{out}");

    // The kernel loads it: a warning, and verification passes.
    let (code, out, problems, ok) = verify(&mut r, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\tunsigned (warning): ") && out.contains("the kernel loads it"), "{out}");
    assert!(ok, "{problems:?}");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0]["reason"].as_str(), problems[0]["severity"].as_str()), (Some("unsigned"), Some("warning")));

    // Secure Boot on: an error, exit 18.
    let efi_dir = efi(&r, true);
    let (code, out, problems, ok) = verify(&mut r, &[("DKMS_EFI_DIR", efi_dir.as_os_str())]);
    assert_eq!(code, 18, "{out}");
    assert!(out.contains("\tunsigned: ") && out.contains("Secure Boot is on"), "{out}");
    assert!(!ok && problems[0]["severity"] == "error", "{problems:?}");

    // CONFIG_MODULE_SIG_FORCE in the kernel's configuration: an error too.
    let forced = super::overlay_kernel(&r, "forced", &|c| format!("{c}\nCONFIG_MODULE_SIG_FORCE=y\n"), &[]);
    let build = r.sb.inst.join(&k).join("build");
    fs::remove_file(&build).unwrap();
    std::os::unix::fs::symlink(&forced, &build).unwrap();
    let (code, out, problems, _) = verify(&mut r, &[]);
    assert_eq!(code, 18, "{out}");
    assert!(out.contains("CONFIG_MODULE_SIG_FORCE") && out.contains("it will not load"), "{out}");
    assert_eq!(problems[0]["severity"], "error");
}
