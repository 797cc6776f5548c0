//! `man/dkms.conf.5` and `man/framework.conf.5`, and the DKMS.CONF and
//! FRAMEWORK.CONF sections of dkms.8, from the tables the readers use:
//! `dkms_state::conf::directives` (beside upstream's `dkms_conf_variables`)
//! and `dkms_state::framework::settings` (beside
//! `dkms_framework_*_variables`), so the pages list what the code reads.

use crate::page::{head, prose, see_also, strip};
use clap_mangen::roff::{bold, italic, roman, Roff};
use dkms_state::conf::directives::{Directive, DIRECTIVES};
use dkms_state::framework::settings::{Env, ReadBy, Setting, SETTINGS};

fn directive_item(r: &mut Roff, d: &Directive) {
    r.control("TP", []);
    r.text([bold(d.name), roman(if d.array { "[#]" } else { "" })]);
    prose(r, d.doc, "IP");
}

/// The body of dkms.8's DKMS.CONF section and of dkms.conf(5)'s
/// DESCRIPTION and DIRECTIVES: every directive the reader keeps.
pub fn directives_body() -> String {
    let mut r = Roff::default();
    prose(&mut r, DESCRIPTION, "PP");
    r.control("PP", []);
    r.text([
        roman("Directives marked "),
        bold("[#]"),
        roman(" are arrays with one element per kernel module of the package; a plain assignment sets element 0."),
    ]);
    for d in DIRECTIVES.iter().filter(|d| !d.internal) {
        directive_item(&mut r, d);
    }
    r.control("PP", []);
    prose(&mut r, OVERRIDES, "PP");
    strip(r.render())
}

const DESCRIPTION: &str = "Each module source carries a dkms.conf at its top. It is a bash script: \
it is sourced by bash, so it may use arrays, command substitution and conditions, with $kernelver, \
$arch and $kernel_source_dir set to the kernel being acted on. Only the variables listed here are \
kept; all others are discarded. Values are expanded once more after sourcing, and a trailing carriage \
return is removed.";

const OVERRIDES: &str = "After the module's own dkms.conf, these files are sourced if they exist, \
each overriding the previous:\n\n  /etc/dkms/<module>.conf\n  /etc/dkms/<module>-<version>.conf\n  \
/etc/dkms/<module>-<version>-<kernel>.conf\n  /etc/dkms/<module>-<version>-<kernel>-<arch>.conf\n  \
/etc/dkms/<module>--<kernel>.conf\n  /etc/dkms/<module>--<kernel>-<arch>.conf\n\nThen the --directive \
options apply (NAME=value, as if assigned last).";

const EXAMPLE: &str = "  PACKAGE_NAME=\"hello\"\n  PACKAGE_VERSION=\"1.0\"\n  BUILT_MODULE_NAME[0]=\"hello\"\n  \
DEST_MODULE_LOCATION[0]=\"/updates/dkms\"\n  AUTOINSTALL=\"yes\"\n  BUILD_EXCLUSIVE_KERNEL_MIN=\"5.10\"";

/// `man/dkms.conf.5`.
pub fn dkms_conf_5() -> String {
    let mut out = head("dkms.conf", 5, "File Formats", "how a DKMS module source is built and installed");
    let mut r = Roff::default();
    r.control("SH", ["SYNOPSIS"]);
    r.text([italic("<source_tree>/<module>-<version>/dkms.conf")]);
    r.control("SH", ["DESCRIPTION"]);
    out.push_str(&strip(r.render()));
    out.push_str(&directives_body().replacen(".TP", ".SH DIRECTIVES\n.TP", 1));
    let mut r = Roff::default();
    r.control("SH", ["INTERNAL NAMES"]);
    r.text([roman(
        "Upstream's reader also keeps these arrays, which dkms sets itself; a dkms.conf should not set them:",
    )]);
    for d in DIRECTIVES.iter().filter(|d| d.internal) {
        directive_item(&mut r, d);
    }
    r.control("SH", ["EXAMPLE"]);
    prose(&mut r, EXAMPLE, "PP");
    r.control("SH", ["NOTES"]);
    r.text([roman("Parts marked (not upstream) are additions of this implementation to upstream DKMS 3.4.3; a dkms.conf that upstream accepts and that names plain files behaves the same.")]);
    out.push_str(&strip(r.render()));
    out.push_str(&see_also(&[("dkms", 8), ("framework.conf", 5), ("dkms-json", 7), ("bash", 1)]));
    out
}

fn env_text(s: &Setting) -> Option<String> {
    match s.env {
        Env::No => None,
        Env::Under(v) => Some(format!("Environment: {v} (framework.conf wins over it).")),
        Env::Over(v) => Some(format!("Environment: {v} (it wins over framework.conf).")),
    }
}

fn setting_item(r: &mut Roff, s: &Setting) {
    r.control("TP", []);
    r.text([bold(s.name), roman(if s.upstream { "" } else { " (not upstream)" })]);
    prose(r, s.doc, "IP");
    let mut facts = vec![match s.default {
        "" => "Default: empty.".to_string(),
        d => format!("Default: {d}."),
    }];
    facts.extend(env_text(s));
    if let Some(o) = s.option {
        facts.push(format!(
            "Option: {o} (wins over the file{}).",
            if s.env == Env::No { "" } else { " and the environment" }
        ));
    }
    facts.push(
        match s.read_by {
            ReadBy::Start => "Read when dkms starts.",
            ReadBy::Signing => "Read when signing is prepared for a kernel, with $kernelver set.",
            ReadBy::Hooks => "Read by the kernel package hooks and the dpkg trigger, not by dkms.",
            ReadBy::CommonPostinst => "Read by common.postinst only.",
        }
        .to_string(),
    );
    r.control("IP", []);
    r.text([roman(facts.join(" "))]);
}

/// The body of dkms.8's FRAMEWORK.CONF section and of framework.conf(5)'s
/// DESCRIPTION and SETTINGS: every setting, its default and environment.
pub fn settings_body() -> String {
    let mut r = Roff::default();
    prose(&mut r, FRAMEWORK_DESCRIPTION, "PP");
    for s in SETTINGS.iter() {
        setting_item(&mut r, s);
    }
    strip(r.render())
}

const FRAMEWORK_DESCRIPTION: &str = "/etc/dkms/framework.conf and then /etc/dkms/framework.conf.d/*.conf \
(in name order) are sourced by bash; only the settings listed here are read from them (functions and \
other variables are ignored). Debian's common.postinst sources the same files with /bin/sh, so keep to \
plain NAME=\"value\" assignments.\n\nWhich value wins, highest first: the command-line option; an \
environment variable that wins over framework.conf; framework.conf; an environment variable that \
framework.conf overrides (upstream does not reset those names at start); the default.";

/// `man/framework.conf.5`.
pub fn framework_conf_5() -> String {
    let mut out = head("framework.conf", 5, "File Formats", "settings of dkms");
    let mut r = Roff::default();
    r.control("SH", ["SYNOPSIS"]);
    r.text([italic("/etc/dkms/framework.conf")]);
    r.control("br", []);
    r.text([italic("/etc/dkms/framework.conf.d/*.conf")]);
    r.control("SH", ["DESCRIPTION"]);
    out.push_str(&strip(r.render()));
    out.push_str(&settings_body().replacen(".TP", ".SH SETTINGS\n.TP", 1));
    let mut r = Roff::default();
    r.control("SH", ["ENVIRONMENT"]);
    r.text([roman("DKMS_SYSCONFDIR: read $DKMS_SYSCONFDIR/dkms/framework.conf instead of /etc/dkms/framework.conf (not upstream).")]);
    r.control("SH", ["NOTES"]);
    r.text([roman("Settings marked (not upstream) are additions of this implementation to upstream DKMS 3.4.3; upstream ignores them.")]);
    out.push_str(&strip(r.render()));
    out.push_str(&see_also(&[("dkms", 8), ("dkms.conf", 5), ("dkms-json", 7)]));
    out
}
