//! Module signing set-up (`prepare_signing`, `prepare_mok` upstream): the
//! policy and chroot checks, the kernel's hash algorithm, the sign-file
//! program per distribution, and the MOK key pair — generated with openssl
//! when missing, never overwriting an existing key or certificate.

use super::dkms::{Dkms, Signer};
use dkms_state::distro::{self, Family};
use dkms_state::{framework, fsutil, kernel, tools};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Signing settings from framework.conf, read lazily with `$kernelver`
/// visible (so paths may contain it).
pub(crate) fn settings(d: &Dkms, kernelver: &str, arch: &str) -> BTreeMap<String, String> {
    let mut initial = BTreeMap::new();
    for name in framework::SIGNING {
        if let Some(v) = dkms_state::env::var(name) {
            initial.insert(name.to_string(), v);
        }
    }
    let mut ctx = d.shell_context();
    ctx.push(("kernelver".into(), kernelver.into()));
    ctx.push(("arch".into(), arch.into()));
    framework::read(&framework::SIGNING, &initial, ctx)
}

/// `prepare_signing`: prints upstream's prologue lines and returns the
/// signer, or None when modules will not be signed.
pub(crate) fn prepare_signing(d: &Dkms, kernelver: &str, arch: &str, kernel_config: &Path) -> Option<Signer> {
    let s = settings(d, kernelver, arch);
    let get = |k: &str| s.get(k).cloned().unwrap_or_default();
    let policy = get("try_sign_modules");
    if policy == "false" {
        d.ui.outln("Module signing is disabled by policy, modules won't be signed");
        return None;
    }
    if policy != "true" && kernel::running_in_chroot() {
        d.ui.outln("Running in chroot, modules won't be signed");
        return None;
    }
    if !kernel_config.is_file() {
        d.ui.outln(&format!("Kernel config {} not found, modules won't be signed", kernel_config.display()));
        return None;
    }
    let Some(hash) = kernel::config_value(kernel_config, "CONFIG_MODULE_SIG_HASH") else {
        d.ui.outln("The kernel is built without module signing facility, modules won't be signed");
        return None;
    };
    let sign_file = sign_file_path(d, &s, kernelver);
    d.ui.outln(&format!("Sign command: {sign_file}"));
    let sf = PathBuf::from(&sign_file);
    if !sf.is_file() || !fsutil::executable(&sf) {
        d.ui.outln(&format!("Binary {sign_file} not found, modules won't be signed"));
        return None;
    }
    let (key, cert) = prepare_mok(d, &s, kernel_config)?;
    Some(Signer { sign_file: sf, hash, key, cert })
}

/// The sign-file program `prepare_signing` picks: framework.conf's
/// `sign_file`, else the distribution's, else the kernel's own.
pub(crate) fn sign_file_path(d: &Dkms, s: &BTreeMap<String, String>, kernelver: &str) -> String {
    let mut sign_file = s.get("sign_file").cloned().unwrap_or_default();
    if sign_file.is_empty() {
        let dist = &d.ctx.running_distribution;
        sign_file = match distro::family(dist) {
            Family::Debian if dist.starts_with("ubuntu") => which::which("kmodsign")
                .ok()
                .filter(|p| fsutil::executable(p))
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("/usr/src/linux-headers-{kernelver}/scripts/sign-file")),
            Family::Debian => {
                let major_minor = kernelver.rsplit_once('.').map_or(kernelver, |(a, _)| a);
                format!("/usr/lib/linux-kbuild-{major_minor}/scripts/sign-file")
            }
            Family::Gentoo => format!("/usr/src/linux-{kernelver}/scripts/sign-file"),
            _ => String::new(),
        };
        if !Path::new(&sign_file).is_file() {
            sign_file = format!("{}/{kernelver}/build/scripts/sign-file", d.ctx.trees.install_tree.display());
        }
    }
    sign_file
}

/// What a build for this kernel would sign with, worked out without
/// printing or generating anything (for `status --verify` and `doctor`):
/// (sign-file, key, certificate), or why modules are not signed.
pub(crate) fn expected_signer(
    d: &Dkms,
    kernelver: &str,
    arch: &str,
    kernel_config: &Path,
) -> Result<Signer, &'static str> {
    let s = settings(d, kernelver, arch);
    let policy = s.get("try_sign_modules").map(String::as_str).unwrap_or_default();
    if policy == "false" {
        return Err("module signing is disabled by policy");
    }
    if policy != "true" && kernel::running_in_chroot() {
        return Err("running in a chroot");
    }
    if !kernel_config.is_file() {
        return Err("the kernel config is missing");
    }
    let Some(hash) = kernel::config_value(kernel_config, "CONFIG_MODULE_SIG_HASH") else {
        return Err("the kernel is built without module signing");
    };
    let sf = PathBuf::from(sign_file_path(d, &s, kernelver));
    if !sf.is_file() || !fsutil::executable(&sf) {
        return Err("sign-file is missing");
    }
    let (key, cert) = mok_paths(d, &s, kernel_config);
    Ok(Signer { sign_file: sf, hash, key, cert })
}

/// The key and certificate `prepare_mok` uses (before any generation).
pub(crate) fn mok_paths(d: &Dkms, s: &BTreeMap<String, String>, kernel_config: &Path) -> (String, String) {
    let get = |k: &str| s.get(k).cloned().unwrap_or_default();
    let (mut key, mut cert) = (get("mok_signing_key"), get("mok_certificate"));
    let dist = &d.ctx.running_distribution;
    if key.is_empty() {
        if dist.starts_with("ubuntu") {
            key = format!("{SHIM_SIGNED_MOK}/MOK.priv");
            cert = format!("{SHIM_SIGNED_MOK}/MOK.der");
        } else if distro::family(dist) == Family::Gentoo {
            (key, cert) = gentoo_paths(kernel_config);
        }
    }
    if key.is_empty() && cert.is_empty() {
        if let Some((k, c)) = shim_signed_pair() {
            (key, cert) = (k, c);
        }
    }
    if key.is_empty() {
        key = "/var/lib/dkms/mok.key".into();
    }
    if cert.is_empty() {
        cert = "/var/lib/dkms/mok.pub".into();
    }
    (key, cert)
}

/// Ubuntu's MOK pair (shim-signed's `update-secureboot-policy --new-key`
/// makes it), where both files exist: used on any distribution when
/// framework.conf names no key, as Ubuntu's dkms does, rather than a second
/// pair in `/var/lib/dkms` that would need enrolling too (not in upstream
/// dkms, whose `prepare_mok` looks there only on Ubuntu). The signing lines
/// (`Signing key:`, `Public certificate (MOK):`) name the pair used.
pub(crate) fn shim_signed_pair() -> Option<(String, String)> {
    let (key, cert) = (format!("{SHIM_SIGNED_MOK}/MOK.priv"), format!("{SHIM_SIGNED_MOK}/MOK.der"));
    (Path::new(&key).is_file() && Path::new(&cert).is_file()).then_some((key, cert))
}

/// Where shim-signed keeps the MOK pair.
const SHIM_SIGNED_MOK: &str = "/var/lib/shim-signed/mok";

/// Gentoo's key and certificate: `MODULES_SIGN_KEY`/`_CERT` from the
/// environment or make.conf, else the kernel's own signing key.
fn gentoo_paths(kernel_config: &Path) -> (String, String) {
    let mut key = dkms_state::env::var("MODULES_SIGN_KEY").unwrap_or_default();
    let mut cert = dkms_state::env::var("MODULES_SIGN_CERT").unwrap_or_default();
    let make_conf = std::fs::read_to_string("/etc/portage/make.conf").unwrap_or_default();
    let from_make_conf = |name: &str| {
        make_conf
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(|v| v.replace('"', ""))
            .unwrap_or_default()
    };
    if key.is_empty() {
        key = from_make_conf("MODULES_SIGN_KEY");
    }
    if cert.is_empty() {
        cert = from_make_conf("MODULES_SIGN_CERT");
    }
    if key.is_empty() {
        if let Some(k) = kernel::config_value(kernel_config, "CONFIG_MODULE_SIG_KEY") {
            let base = kernel_config.parent().unwrap_or(Path::new("/"));
            let p = base.join(&k);
            key = p.canonicalize().unwrap_or(p).to_string_lossy().into_owned();
            cert = key.clone();
        }
    }
    (key, cert)
}

/// `prepare_mok`: print the key and certificate paths and make sure both
/// exist. Returns None (after upstream's message) when they cannot.
pub(crate) fn prepare_mok(d: &Dkms, s: &BTreeMap<String, String>, kernel_config: &Path) -> Option<(String, String)> {
    let configured = s.get("mok_signing_key").is_some_and(|k| !k.is_empty());
    let (key, cert) = mok_paths(d, s, kernel_config);
    if !configured
        && d.ctx.running_distribution.starts_with("ubuntu")
        && (!Path::new(&key).is_file() || !Path::new(&cert).is_file())
    {
        if !tools::available("update-secureboot-policy") {
            d.ui.outln("Binary update-secureboot-policy not found, modules won't be signed");
            return None;
        }
        d.ui.outln("Certificate or key are missing, generating them using update-secureboot-policy...");
        let mut c = tools::command("update-secureboot-policy", &[("SHIM_NOTRIGGER".into(), "y".into())]);
        c.arg("--new-key").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let _ = tools::status_with_stdio(&mut c);
        let mut c = tools::command("update-secureboot-policy", &[]);
        c.arg("--enroll-key");
        let _ = tools::status(&mut c);
    }
    d.ui.outln(&format!("Signing key: {key}"));
    d.ui.outln(&format!("Public certificate (MOK): {cert}"));
    let (kp, cp) = (Path::new(&key), Path::new(&cert));
    if !key.starts_with("pkcs11:") && (!kp.is_file() || !cp.is_file()) {
        d.ui.outln("Certificate or key are missing, generating self signed certificate for MOK...");
        if !tools::available("openssl") {
            d.ui.outln("openssl not found, can't generate key and certificate.");
            return None;
        }
        generate(kp, cp);
        if !kp.is_file() {
            d.ui.outln(&format!("Key file {key} not found and can't be generated, modules won't be signed"));
            return None;
        }
    }
    if !cp.is_file() {
        d.ui.outln(&format!("Certificate file {cert} not found and can't be generated, modules won't be signed"));
        return None;
    }
    Some((key, cert))
}

/// Generate what is missing, never destroying an existing file.
/// Both missing: a new pair (upstream's openssl parameters, codeSigning EKU).
/// Only the certificate missing: a certificate for the existing key (upstream
/// would replace the key too). Only the key missing: a certificate without
/// its key cannot sign, so, as upstream, a new pair is made — but the old
/// certificate is first moved aside to `<cert>.old[.N]`, not overwritten.
fn generate(key: &Path, cert: &Path) {
    if !key.is_file() && cert.is_file() {
        let mut n = 0;
        let backup = loop {
            let b = PathBuf::from(if n == 0 {
                format!("{}.old", cert.display())
            } else {
                format!("{}.old.{n}", cert.display())
            });
            if !b.exists() {
                break b;
            }
            n += 1;
        };
        if std::fs::rename(cert, &backup).is_err() {
            return;
        }
    }
    let subject = ["-subj", "/CN=DKMS module signing key", "-addext", "extendedKeyUsage=codeSigning"];
    let mut c = tools::command("openssl", &[]);
    c.args(["req", "-new", "-x509", "-nodes", "-days", "36500"]).args(subject);
    match (key.is_file(), cert.is_file()) {
        (false, false) => {
            // Create the key file private before openssl writes into it.
            use std::os::unix::fs::OpenOptionsExt;
            let created = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(key).is_ok();
            c.args(["-newkey", "rsa:2048", "-keyout"]).arg(key);
            c.args(["-outform", "DER", "-out"]).arg(cert);
            let ok = quiet_ok(&mut c);
            if created && !ok && std::fs::metadata(key).is_ok_and(|m| m.len() == 0) {
                let _ = std::fs::remove_file(key);
            }
        }
        (true, false) => {
            c.arg("-key").arg(key).args(["-outform", "DER", "-out"]).arg(cert);
            quiet_ok(&mut c);
        }
        _ => {}
    }
}

fn quiet_ok(c: &mut std::process::Command) -> bool {
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    tools::status_with_stdio(c).is_ok_and(|s| s == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::Fixture;

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn sign_file_is_framework_confs_else_the_kernels_own() {
        let f = Fixture::new();
        let s = settings(&[("sign_file", "/opt/sign-file")]);
        assert_eq!(sign_file_path(&f.d, &s, "9.99.0-unit"), "/opt/sign-file");
        // Debian's linux-kbuild-9.99 is not there: the kernel's build tree.
        let own = format!("{}/9.99.0-unit/build/scripts/sign-file", f.trees().install_tree.display());
        assert_eq!(sign_file_path(&f.d, &settings(&[]), "9.99.0-unit"), own);
        let mut other = Fixture::new();
        other.d.ctx.running_distribution = "alpine3".into();
        let own = format!("{}/9.99.0-unit/build/scripts/sign-file", other.trees().install_tree.display());
        assert_eq!(sign_file_path(&other.d, &settings(&[]), "9.99.0-unit"), own);
    }

    #[test]
    fn the_mok_pair_is_framework_confs_else_the_distributions() {
        let f = Fixture::new();
        let config = f.trees().install_tree.join("none/.config");
        let s = settings(&[("mok_signing_key", "/k.key"), ("mok_certificate", "/k.der")]);
        assert_eq!(mok_paths(&f.d, &s, &config), ("/k.key".into(), "/k.der".into()));
        let s = settings(&[("mok_signing_key", "/k.key")]);
        assert_eq!(mok_paths(&f.d, &s, &config), ("/k.key".into(), "/var/lib/dkms/mok.pub".into()));
        let mut ubuntu = Fixture::new();
        ubuntu.d.ctx.running_distribution = "ubuntu24.04".into();
        assert_eq!(
            mok_paths(&ubuntu.d, &settings(&[]), &config),
            ("/var/lib/shim-signed/mok/MOK.priv".into(), "/var/lib/shim-signed/mok/MOK.der".into())
        );
    }
}
