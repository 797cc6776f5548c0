//! The vermagic check after build: a module built against another kernel's
//! headers fails the build with `wrong-kernel` (exit 17) and nothing is
//! installed; a correct module builds and installs as before.
//!
//! Only one kernel's headers are installed here, so "another kernel" is a
//! fake release (`support::KVER`, 6.1.0-99-amd64) in the private install
//! tree whose `build` link points at the real headers, and the module's
//! Makefile hard-codes the real kernel's headers directory — what
//! `$(shell uname -r)` does on a machine running that kernel. The module's
//! vermagic then names the real release, not the one dkms built for.

use super::{unavailable, Real};
use crate::skip::skip_unless;
use crate::support::{arch, KVER};
use std::path::Path;

#[test]
fn a_module_built_for_another_kernel_fails_and_nothing_is_installed() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let mut r = Real::new(false);
    let real_build = Path::new("/lib/modules").join(&r.k).join("build");
    r.kernel(KVER, &real_build);
    let makefile = format!("obj-m := wk.o\nall:\n\t$(MAKE) -C {} M=$(CURDIR) modules\n", real_build.display());
    r.source("wk", "1.0", Some(&makefile), "MAKE[0]=\"make\"\n");
    let before = r.sb.listing();
    let (code, out, err) = r.dkms(&["install", "wk/1.0", "-k", KVER]);
    assert_eq!(code, 17, "{out}\n{err}");
    assert!(err.contains(&format!("was built for kernel {}, not for {KVER} ({})", r.k, arch())), "{err}");
    assert!(err.contains("uname -r"), "the hint names the usual cause: {err}");
    // Nothing built into the tree, nothing installed.
    assert!(!r.sb.dkms.join("wk/1.0").join(KVER).exists());
    let inst: Vec<String> = r.sb.listing().lines().filter(|l| l.contains("/inst/")).map(str::to_string).collect();
    let inst_before: Vec<String> = before.lines().filter(|l| l.contains("/inst/")).map(str::to_string).collect();
    assert_eq!(inst, inst_before, "the install tree is untouched");
    // The build log stays where upstream leaves a failed build's.
    assert!(r.sb.dkms.join("wk/1.0/build/make.log").is_file());

    // JSON: an error record of kind wrong-kernel.
    let (code, out, _) = r.dkms(&["build", "--json", "wk/1.0", "-k", KVER]);
    assert_eq!(code, 17);
    assert!(out.contains(r#""kind":"wrong-kernel""#) && out.contains(r#""exit_code":17"#), "{out}");
}

#[test]
fn a_correct_module_builds_signs_and_installs_compressed() {
    skip_unless!(unavailable().is_none(), unavailable().unwrap_or_default());
    let mut r = Real::new(true);
    r.compress_xz();
    r.source("okm", "1.0", None, "");
    let k = r.k.clone();
    let (code, out, err) = r.dkms(&["install", "okm/1.0", "-k", &k]);
    assert_eq!(code, 0, "{out}\n{err}");
    let installed = r.sb.inst.join(&k).join("updates/dkms/okm.ko.xz");
    assert!(installed.is_file(), "{out}");
    let facts = dkms_state::module_file::read(&installed).expect("readable module");
    assert_eq!(facts.release(), Some(k.as_str()));
    let sig = facts.signature.expect("signed");
    let cert = dkms_state::module_file::read_certificate(&r.cert()).expect("certificate");
    assert_eq!(dkms_state::module_file::signed_with(&sig, &cert), Some(true));
}
