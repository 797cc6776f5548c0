//! `dkms doctor` (not in upstream dkms): a read-only diagnosis of each
//! kernel (`kernel`: headers, compiler, sign-file, compression tool), of
//! module signing (`signing`: key and certificate, Secure Boot and MOK
//! enrolment), of the kernel hooks and of the DKMS tree (`tree`: dangling
//! source links, half-built builds, leftover journals, builds for kernels
//! that are gone, remembered failures, installed modules failing
//! `status --verify`, free space) and of the build sandbox (`sandbox`).
//! Each finding has a severity, a stable kind, a message and, where there
//! is one, a remedy.

mod kernel;
mod sandbox;
mod signing;
mod tree;

use crate::support::dkms::Dkms;
use dkms_proto::Severity;

/// One finding.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    /// Stable kebab-case name of what was found.
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    pub(crate) remedy: Option<String>,
    /// The kernel it concerns, if one.
    pub(crate) kernel: Option<String>,
}

/// Findings as they are collected.
#[derive(Default)]
pub(crate) struct Report {
    pub(crate) findings: Vec<Finding>,
}

impl Report {
    fn add(&mut self, severity: Severity, kind: &'static str, message: String, remedy: Option<String>) {
        self.findings.push(Finding { severity, kind, message, remedy, kernel: None });
    }

    fn add_for(&mut self, k: &str, severity: Severity, kind: &'static str, message: String, remedy: Option<String>) {
        self.findings.push(Finding { severity, kind, message, remedy, kernel: Some(k.to_string()) });
    }
}

/// The kernels to look at: those given with -k (`given`), else every
/// directory of the install tree (sorted).
fn kernels(d: &Dkms, given: &[String]) -> Vec<String> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let mut ks: Vec<String> = std::fs::read_dir(&d.ctx.trees.install_tree)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    ks.sort_by(|a, b| dkms_cli::versort::compare(a, b));
    ks
}

/// Every check, in the order they are shown, of the kernels `given` with
/// -k (none: every kernel).
pub(crate) fn diagnose(d: &Dkms, given: &[String]) -> Vec<Finding> {
    let mut r = Report::default();
    let arch = d.arch.first().cloned().unwrap_or_else(dkms_state::kernel::uname_m);
    let ks = kernels(d, given);
    for k in &ks {
        kernel::check(d, &mut r, k, &arch);
    }
    let signing_kernel = ks.iter().find(|k| d.kernel_config(k).is_file()).cloned();
    signing::check(d, &mut r, signing_kernel.as_deref().unwrap_or(&d.ctx.current_kernel), &arch);
    tree::hooks(d, &mut r);
    sandbox::check(d, &mut r);
    tree::check(d, &mut r);
    tree::space(d, &mut r);
    r.findings
}

/// The remedy line of a distribution's package install.
pub(crate) fn install_cmd(d: &Dkms, package_debian: &str, package_rpm: &str) -> String {
    use dkms_state::distro::{family, Family};
    match family(&d.ctx.running_distribution) {
        Family::Debian => format!("apt-get install {package_debian}"),
        Family::RedHat => format!("dnf install {package_rpm}"),
        Family::Suse => format!("zypper install {package_rpm}"),
        Family::Arch | Family::Gentoo | Family::Other => {
            format!("install your distribution's package of {package_debian} ({package_rpm})")
        }
    }
}
