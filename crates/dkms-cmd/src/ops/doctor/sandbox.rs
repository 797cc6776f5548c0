//! Whether third-party build code runs confined (`build_sandbox`, see
//! `support::sandbox`): the setting, and whether bubblewrap can make the
//! sandbox here (probed as a build would, with `bwrap ... true`).

use super::{install_cmd, Report};
use crate::support::dkms::Dkms;
use crate::support::sandbox::{tool, Setting};
use dkms_proto::Severity::{Error, Info, Warning};

pub(super) fn check(d: &Dkms, r: &mut Report) {
    let install = || Some(install_cmd(d, "bubblewrap", "bubblewrap"));
    let confined = "builds run confined: bubblewrap, an unprivileged uid, no network, / read-only";
    match (d.sandbox_setting(), tool()) {
        (Setting::Yes, Ok(_)) => r.add(Info, "build-sandbox", format!("build_sandbox=yes: {confined}"), None),
        (Setting::Auto, Ok(_)) => r.add(Info, "build-sandbox", format!("build_sandbox=auto: {confined}"), None),
        (Setting::Yes, Err(why)) => r.add(
            Error,
            "sandbox-unavailable",
            format!("build_sandbox=yes, but {why}: every build fails (exit status 78)"),
            install(),
        ),
        (Setting::Auto, Err(why)) => r.add(
            Warning,
            "sandbox-unavailable",
            format!("build_sandbox=auto, but {why}: third-party build code runs unconfined, as root"),
            install(),
        ),
        (Setting::No, Ok(_)) => r.add(
            Info,
            "build-sandbox-off",
            "build_sandbox=no (as upstream): third-party build code runs as root; the sandbox works here".into(),
            Some("set build_sandbox=auto in /etc/dkms/framework.conf".into()),
        ),
        (Setting::No, Err(why)) => r.add(
            Info,
            "build-sandbox-off",
            format!("build_sandbox=no (as upstream): third-party build code runs as root; {why}"),
            install(),
        ),
    }
}
