//! `dkms status --verify` (not in upstream dkms): is what status calls
//! "installed" really there and loadable? Per installed module: the
//! installed file is byte-identical to the built copy, its vermagic names
//! the kernel, it carries a signature by the configured certificate when
//! dkms signs for that kernel, `modules.dep` lists it, and the originals
//! status says were archived still exist. Read-only. A module left unsigned
//! because no key could be created ("Key file ... not found and can't be
//! generated" at build) is `unsigned` with the severity of what the kernel
//! enforces: an error with `CONFIG_MODULE_SIG_FORCE` or Secure Boot on, else
//! a warning that does not fail verification (the kernel loads it).

use crate::support::dkms::{Dkms, Target};
use crate::support::modfiles::compressed_or_uncompressed;
use crate::support::secureboot::{self, SecureBoot};
use crate::support::signing;
use dkms_cli::ui::{self, Ui};
use dkms_proto::{Record, Severity, VerifyProblem, VerifyReason};
use dkms_state::conf::Conf;
use dkms_state::{module_file, trees, untrusted};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// What verification needs to know of a kernel, worked out once per kernel.
pub(crate) struct KernelFacts {
    /// The entries of `modules.dep` (None: the kernel has none).
    depmod: Option<HashSet<String>>,
    /// The certificate (DER) modules must be signed with, when dkms signs
    /// for this kernel; Some(None) when it signs but the certificate cannot
    /// be read (then only the presence of a signature is checked).
    signer: Option<Option<Vec<u8>>>,
    /// The signing key that is missing when dkms signs for this kernel but
    /// has no key pair (the build could not create one).
    unsignable: Option<String>,
    /// Why the kernel refuses unsigned modules, if it does.
    enforced: Option<&'static str>,
}

/// Per-kernel facts of one status run, and its verdict.
#[derive(Default)]
pub(crate) struct Verifier {
    kernels: HashMap<String, KernelFacts>,
    /// Installed builds that failed verification.
    pub(crate) failed: usize,
    /// Their problems, as (module, version, kernel, arch, problems).
    pub(crate) failures: Vec<(String, String, String, String, Vec<VerifyProblem>)>,
}

impl Verifier {
    /// Print the problems under the build's status line (`print`), emit
    /// the `verify` record (`records`), and count a failure.
    pub(crate) fn report(&mut self, ui: &Ui, x: Target, problems: Vec<VerifyProblem>, print: bool, records: bool) {
        if problems.iter().any(|p| p.severity == Severity::Error) {
            self.failed += 1;
            self.failures.push((x.m.into(), x.v.into(), x.k.into(), x.a.into(), problems.clone()));
        }
        if print {
            for l in lines(&problems) {
                ui.outln(&l);
            }
        }
        if records {
            ui.emit(Record::Verify {
                target: ui::target(x.m, x.v, Some(x.k), Some(x.a)),
                ok: problems.iter().all(|p| p.severity != Severity::Error),
                problems,
            });
        }
    }

    fn kernel(&mut self, d: &Dkms, k: &str, a: &str) -> &KernelFacts {
        self.kernels.entry(k.to_string()).or_insert_with(|| {
            let dep = trees::cat(&d.ctx.trees.install_tree, k).join("modules.dep");
            let depmod = std::fs::read_to_string(dep)
                .ok()
                .map(|text| text.lines().filter_map(|l| l.split_once(':').map(|(name, _)| name.to_string())).collect());
            let config = d.kernel_config(k);
            let signs = dkms_state::kernel::config_value(&config, "CONFIG_MODULE_SIG").is_some_and(|v| v == "y");
            let expected = signs.then(|| signing::expected_signer(d, k, a, &config).ok()).flatten();
            let unsignable = expected
                .as_ref()
                .filter(|s| {
                    !s.key.starts_with("pkcs11:") && (!Path::new(&s.key).is_file() || !Path::new(&s.cert).is_file())
                })
                .map(|s| s.key.clone());
            let enforced =
                if dkms_state::kernel::config_value(&config, "CONFIG_MODULE_SIG_FORCE").is_some_and(|v| v == "y") {
                    Some("the kernel refuses unsigned modules (CONFIG_MODULE_SIG_FORCE)")
                } else if unsignable.is_some() && secureboot::state() == SecureBoot::On {
                    Some("Secure Boot is on (the kernel is locked down)")
                } else {
                    None
                };
            let signer = expected.map(|s| module_file::read_certificate(Path::new(&s.cert)));
            KernelFacts { depmod, signer, unsignable, enforced }
        })
    }

    /// The problems of an installed build (empty: it verifies).
    pub(crate) fn check(&mut self, d: &Dkms, x: Target, c: &Conf, suffix: &str) -> Vec<VerifyProblem> {
        let Target { m, v, k, a } = x;
        let t = &d.ctx.trees;
        let facts = self.kernel(d, k, a);
        let mut out = Vec::new();
        for i in 0..c.num_modules() {
            if !c.module_buildable(i, k, a) {
                continue;
            }
            let name = &c.modules[i].dest_module_name;
            // Every problem is an error but an unsigned module the kernel loads.
            let mut problem = |reason, file: &Path, message: String| {
                let severity = match (reason, &facts.unsignable, facts.enforced) {
                    (VerifyReason::Unsigned, Some(_), None) => Severity::Warning,
                    _ => Severity::Error,
                };
                let (module_name, file) = (name.clone(), file.display().to_string());
                out.push(VerifyProblem { reason, module_name, file, message, severity })
            };
            let built_dir = t.arch_dir(m, v, k, a).join("module");
            let Some(built) = compressed_or_uncompressed(&built_dir, name, suffix) else {
                let file = built_dir.join(format!("{name}.ko{suffix}"));
                problem(VerifyReason::Missing, &file, format!("the built copy {} is gone", file.display()));
                continue;
            };
            let Some(installed) = installed_file(d, m, c, i, k, a, suffix) else {
                let loc = &c.modules[i].dest_module_location;
                let file = trees::cat(&t.install_tree, &format!("{k}{loc}/{name}.ko{suffix}"));
                problem(VerifyReason::Missing, &file, format!("{} is not installed", file.display()));
                continue;
            };
            let shown = installed.display().to_string();
            if !same_bytes(&built, &installed) {
                problem(
                    VerifyReason::Corrupted,
                    &installed,
                    format!("{shown} differs from the built copy {}", built.display()),
                );
            }
            // Unreadable is corrupted even when the built copy is the same
            // bytes: a non-module installed is no module installed. So is
            // a file without vermagic, which the kernel refuses to load.
            match module_file::read(&installed).filter(|f| f.vermagic.is_some()) {
                None => problem(
                    VerifyReason::Corrupted,
                    &installed,
                    format!("{shown} cannot be read as a kernel module (no readable module)"),
                ),
                Some(f) => {
                    if let Some(found) = f.release().filter(|r| *r != k) {
                        problem(VerifyReason::WrongKernel, &installed, format!("{shown} is built for kernel {found}"));
                    }
                    match (&facts.signer, &f.signature) {
                        (Some(_), _) if !f.signed => {
                            problem(VerifyReason::Unsigned, &installed, unsigned_message(&shown, facts))
                        }
                        (Some(Some(cert)), Some(sig)) if module_file::signed_with(sig, cert) == Some(false) => problem(
                            VerifyReason::ForeignSigner,
                            &installed,
                            format!("{shown} is not signed with the configured certificate"),
                        ),
                        _ => {}
                    }
                }
            }
            if let Some(dep) = &facts.depmod {
                let lib = trees::cat(&t.install_tree, k);
                let rel = installed.strip_prefix(&lib).map(Path::to_path_buf).unwrap_or_default();
                let rel = rel.display().to_string();
                if !dep.contains(&rel) && !dep.contains(&shown) {
                    problem(
                        VerifyReason::NotInDepmod,
                        &installed,
                        format!("{rel} is not in {}/modules.dep", lib.display()),
                    );
                }
            }
        }
        out.extend(lost_originals(&t.original_module_dir(m, k, a)));
        out
    }
}

/// What `unsigned` says: plain, or, where dkms had no key to sign with,
/// whether the kernel loads the module all the same.
fn unsigned_message(shown: &str, facts: &KernelFacts) -> String {
    match (&facts.unsignable, facts.enforced) {
        (None, _) => format!("{shown} carries no signature"),
        (Some(key), None) => format!(
            "{shown} carries no signature: dkms could not create the signing key {key}; the kernel loads it \
             (no CONFIG_MODULE_SIG_FORCE, Secure Boot not on)"
        ),
        (Some(key), Some(why)) => format!(
            "{shown} carries no signature (dkms could not create the signing key {key}) and {why}: it will not load"
        ),
    }
}

/// Where the installed copy of module record `i` is: where
/// `find_actual_dest_module_location` finds it, else the first of the
/// conf's locations holding a file of that name.
pub(crate) fn installed_file(d: &Dkms, m: &str, c: &Conf, i: usize, k: &str, a: &str, suffix: &str) -> Option<PathBuf> {
    let r = &c.modules[i];
    let found = d.find_actual_dest_module_location(m, c, i, k, a, suffix);
    let locations = found.into_iter().chain([r.dest_module_location.clone(), r.orig_dest_module_location.clone()]);
    for l in locations {
        let dir = trees::cat(&d.ctx.trees.install_tree, &format!("{k}{l}"));
        if let Some(p) = compressed_or_uncompressed(&dir, &r.dest_module_name, suffix) {
            return Some(p);
        }
    }
    None
}

/// `(e)`: every original archived on install (`<name>.origin` beside it)
/// is still there; an archive directory with no module at all is missing
/// its originals too.
fn lost_originals(dir: &Path) -> Vec<VerifyProblem> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let names: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    let mut out = Vec::new();
    for origin in names.iter().filter_map(|n| n.strip_suffix(".origin")) {
        if !names.iter().any(|n| n == origin) {
            let file = dir.join(origin);
            out.push(VerifyProblem {
                reason: VerifyReason::Missing,
                module_name: origin.split(".ko").next().unwrap_or(origin).to_string(),
                file: file.display().to_string(),
                message: format!("the archived original {} is gone", file.display()),
                severity: Severity::Error,
            });
        }
    }
    if names.iter().all(|n| n.ends_with(".origin")) && out.is_empty() {
        out.push(VerifyProblem {
            reason: VerifyReason::Missing,
            module_name: String::new(),
            file: dir.display().to_string(),
            message: format!("status says original modules exist, but {} holds none", dir.display()),
            severity: Severity::Error,
        });
    }
    out
}

/// Byte-identical (a symlinked install is the built file itself); both
/// regular files, compared in blocks (`untrusted::same_contents`).
fn same_bytes(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) if x == y => return untrusted::open_regular(a, untrusted::Links::Follow).is_ok(),
        _ => {}
    }
    untrusted::same_contents(a, b)
}

/// The text lines of the problems, as printed under the status line.
pub(crate) fn lines(problems: &[VerifyProblem]) -> Vec<String> {
    problems
        .iter()
        .map(|p| {
            let reason = serde_json::to_value(p.reason).ok().and_then(|v| v.as_str().map(str::to_string));
            let reason = reason.unwrap_or_default();
            match p.severity {
                Severity::Error => format!("\t{reason}: {}", p.message),
                _ => format!("\t{reason} (warning): {}", p.message),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archived_originals_must_be_there() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("original_module/6.1/x86_64");
        assert!(lost_originals(&dir).is_empty(), "no archive: nothing to check");
        std::fs::create_dir_all(&dir).unwrap();
        let empty = lost_originals(&dir);
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0].reason, VerifyReason::Missing);
        std::fs::write(dir.join("e1000e.ko.xz.origin"), "/lib/modules/6.1/kernel/e1000e.ko.xz\n").unwrap();
        let gone = lost_originals(&dir);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].module_name, "e1000e");
        assert!(gone[0].message.contains("archived original"), "{}", gone[0].message);
        std::fs::write(dir.join("e1000e.ko.xz"), "module").unwrap();
        assert!(lost_originals(&dir).is_empty());
    }

    #[test]
    fn problems_print_under_the_status_line() {
        let p = VerifyProblem {
            reason: VerifyReason::NotInDepmod,
            module_name: "m".into(),
            file: "/x".into(),
            message: "updates/m.ko is not in modules.dep".into(),
            severity: Severity::Error,
        };
        assert_eq!(lines(&[p]), ["\tnot-in-depmod: updates/m.ko is not in modules.dep"]);
    }
}
