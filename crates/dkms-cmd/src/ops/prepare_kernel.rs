//! What a build needs of its kernel before make (`prepare_kernel`,
//! `prepare_kernel_and_signing` upstream) and the environment make gets:
//! the compiler variables the kernel wants and framework.conf's
//! `build_environment`.

use crate::support::dkms::Dkms;
use crate::support::{secureboot, signing};
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{kernel, tools};
use std::path::Path;

/// Compiler variables a kernel wants (upstream exports them before make).
pub(crate) fn compiler_env(d: &Dkms, ksrc: &Path, config: &Path) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let kv = ksrc.join(".kernelvariables");
    if kv.is_file() {
        let mk = format!("show-%:\n\t@echo $($*)\ninclude {}\n", kv.display());
        let mut c = tools::command("make", &d.exports);
        c.args(["-f", "-", "show-CC"]);
        if let Ok(o) = tools::output_with_input(&mut c, mk.as_bytes()) {
            env.push(("CC".into(), String::from_utf8_lossy(&o.stdout).trim().to_string()));
        }
    }
    if let Ok(text) = std::fs::read_to_string(config) {
        let cc = text.lines().find_map(|l| l.strip_prefix("CONFIG_CC_VERSION_TEXT=")).and_then(|v| {
            let v = v.trim_start_matches('"');
            v.contains(' ').then(|| v.split([' ', '"']).next().unwrap_or_default().to_string())
        });
        let mut set = |names: [&str; 2], value: &str| {
            for n in names {
                env.retain(|(k, _)| k != n);
                env.push((n.to_string(), value.to_string()));
            }
        };
        if let Some(cc) = cc.filter(|c| !c.is_empty() && tools::available(c)) {
            set(["CC", "KERNEL_CC"], &cc);
        }
        if text.contains("CONFIG_CC_IS_CLANG=y") && tools::available("clang") {
            set(["CC", "KERNEL_CC"], "clang");
        }
        if text.contains("CONFIG_LD_IS_LLD=y") && tools::available("ld.lld") {
            set(["LD", "KERNEL_LD"], "ld.lld");
        }
    }
    env
}

/// Variables exported by the framework's `build_environment` file.
pub(crate) fn build_environment(d: &Dkms) -> Vec<(String, String)> {
    let file = d.ctx.setting("build_environment");
    if file.is_empty() || !Path::new(file).is_file() {
        return Vec::new();
    }
    let script = format!(
        "( . {} ) >/dev/null 2>&1; set -a; . {} >/dev/null 2>&1; env -0",
        dkms_state::shell::quote(file),
        dkms_state::shell::quote(file)
    );
    let mut c = tools::bash(&script, &[]);
    let before: Vec<(String, String)> = dkms_state::env::vars().collect();
    match tools::output(&mut c) {
        Ok(o) => o
            .stdout
            .split(|&b| b == 0)
            .filter_map(|kv| String::from_utf8_lossy(kv).split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .filter(|kv| !before.contains(kv) && kv.0 != "_" && kv.0 != "SHLVL" && kv.0 != "PWD")
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `prepare_kernel`: the headers must be there.
pub(crate) fn prepare_kernel(d: &Dkms, k: &str) -> Result<()> {
    if kernel::headers_present(&d.kernel_source_dir(k)) {
        return Ok(());
    }
    let it = d.ctx.trees.install_tree.display();
    Err(Error::die(Kind::KernelHeadersMissing,
        [
            format!("Your kernel headers for kernel {k} cannot be found at {it}/{k}/build or {it}/{k}/source."),
            format!("Please install your distribution's kernel headers package matching {k}, or use the --kernelsourcedir option to tell DKMS where it's located."),
        ],
    )
    .with_hint(format!("On Debian and Ubuntu: apt-get install linux-headers-{k}")))
}

/// `prepare_kernel_and_signing`: once per kernel/arch; prints the signing
/// prologue and an empty line.
pub(crate) fn prepare_kernel_and_signing(d: &mut Dkms, k: &str, a: &str) -> Result<()> {
    let key = format!("{k}/{a}");
    if d.prepared_kernel.as_deref() == Some(key.as_str()) {
        return Ok(());
    }
    prepare_kernel(d, k)?;
    let config = d.kernel_config(k);
    d.signer = signing::prepare_signing(d, k, a, &config);
    if let Some(s) = &d.signer {
        secureboot::warn_if_unenrolled(&d.ui, &s.cert, k);
    }
    d.prepared_kernel = Some(key);
    d.ui.outln("");
    Ok(())
}

pub(crate) fn date() -> String {
    let mut c = tools::command("date", &[]);
    tools::output(&mut c).map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_else(|_| "\n".into())
}

/// The environment make runs with for kernel `k`: dkms's exports without
/// the compiler variables, then those the kernel wants, then framework.conf's
/// `build_environment`.
pub(crate) fn make_env(d: &Dkms, k: &str) -> Vec<(String, String)> {
    let ksrc = d.kernel_source_dir(k);
    let config = d.kernel_config(k);
    let mut env = d.exports.clone();
    env.retain(|(n, _)| !["CC", "KERNEL_CC", "LD", "KERNEL_LD"].contains(&n.as_str()));
    env.extend(compiler_env(d, &ksrc, &config));
    env.extend(build_environment(d));
    env
}
