//! generate_mok: the key pair created once, kept, its certificate remade.

use super::*;

#[test]
fn generate_mok_creates_the_pair_once() {
    skip_unless!(have("openssl"), "openssl is not installed");
    let setup = |sb: &Sandbox| {
        let conf = format!("mok_signing_key={0}/keys/mok.key\nmok_certificate={0}/keys/mok.pub\n", sb.root.display());
        sb.write(&sb.sysconf.join("dkms/framework.conf"), &conf);
        fs::create_dir_all(sb.root.join("keys")).unwrap();
    };
    let o = compare_fresh("generate_mok", &setup, &["generate_mok"]);
    assert_eq!(
        ose(&o),
        (
            0,
            "Signing key: <ROOT>/keys/mok.key\nPublic certificate (MOK): <ROOT>/keys/mok.pub\nCertificate or key are missing, generating self signed certificate for MOK...\n",
            ""
        )
    );
    let mut sb = Sandbox::new();
    setup(&sb);
    assert_eq!(sb.run_with(Impl::Ours, None, &["generate_mok"], false).code, 0);
    let key = fs::read(sb.root.join("keys/mok.key")).unwrap();
    let cert = fs::read(sb.root.join("keys/mok.pub")).unwrap();
    assert!(!key.is_empty() && !cert.is_empty());
    // Both exist: nothing is generated or changed.
    let o = sb.run_with(Impl::Ours, None, &["generate_mok"], false);
    assert_eq!(ose(&o), (0, "Signing key: <ROOT>/keys/mok.key\nPublic certificate (MOK): <ROOT>/keys/mok.pub\n", ""));
    assert_eq!(fs::read(sb.root.join("keys/mok.key")).unwrap(), key);
    assert_eq!(fs::read(sb.root.join("keys/mok.pub")).unwrap(), cert);
    // The certificate lost: a new one for the same key (the key is kept).
    fs::remove_file(sb.root.join("keys/mok.pub")).unwrap();
    let o = sb.run_with(Impl::Ours, None, &["generate_mok"], false);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(fs::read(sb.root.join("keys/mok.key")).unwrap(), key);
    assert!(sb.root.join("keys/mok.pub").is_file());
    // Its own binary works the same.
    let o = sb.run_with(Impl::Ours, Some(&crate::support::ours().with_file_name("dkms-generate-mok")), &[], false);
    assert_eq!(o.code, 0);
    assert!(o.stdout.starts_with("Signing key: <ROOT>/keys/mok.key\n"), "{}", o.stdout);
}

/// `--debug` shows every program dkms runs on stderr, `set -x` style, and
/// changes nothing else: stdout is the same as without it.
#[test]
fn debug_traces_the_programs_run() {
    skip_unless!(have("openssl"), "openssl is not installed");
    let setup = |sb: &Sandbox| {
        let conf = format!("mok_signing_key={0}/keys/mok.key\nmok_certificate={0}/keys/mok.pub\n", sb.root.display());
        sb.write(&sb.sysconf.join("dkms/framework.conf"), &conf);
        fs::create_dir_all(sb.root.join("keys")).unwrap();
    };
    let mut plain = Sandbox::new();
    setup(&plain);
    let without = plain.run_with(Impl::Ours, None, &["generate_mok"], false);
    let mut traced = Sandbox::new();
    setup(&traced);
    let with = traced.run_with(Impl::Ours, None, &["generate_mok", "--debug"], false);
    assert_eq!((with.code, &with.stdout), (without.code, &without.stdout));
    assert!(!without.stderr.contains("+ openssl"), "{}", without.stderr);
    let line =
        with.stderr.lines().find(|l| l.starts_with("+ openssl req ")).unwrap_or_else(|| panic!("{}", with.stderr));
    assert!(line.contains("<ROOT>/keys/mok.key"), "{line}");
}
