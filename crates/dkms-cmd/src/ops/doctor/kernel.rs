//! doctor's checks of one kernel: headers present and usable (`include/`,
//! `Module.symvers`, `.config`), the compiler `CONFIG_CC_VERSION_TEXT`
//! names, sign-file where dkms would sign, and the compression tool of
//! `CONFIG_MODULE_COMPRESS_*`.

use super::{install_cmd, Report};
use crate::support::dkms::Dkms;
use crate::support::signing;
use dkms_proto::Severity::{Error, Info, Warning};
use dkms_state::{kernel, tools};

pub(super) fn check(d: &Dkms, r: &mut Report, k: &str, a: &str) {
    let ksrc = d.kernel_source_dir(k);
    let headers = install_cmd(d, &format!("linux-headers-{k}"), &format!("kernel-devel-{k}"));
    if !kernel::headers_present(&ksrc) {
        let (kind, what) = match std::fs::symlink_metadata(&ksrc) {
            Ok(m) if m.file_type().is_symlink() => ("headers-link-dangling", "points nowhere"),
            Ok(_) => ("headers-missing", "has no include/"),
            Err(_) => ("headers-missing", "does not exist"),
        };
        r.add_for(
            k,
            Warning,
            kind,
            format!(
                "The kernel headers of {k} are not installed: {} {what}; dkms cannot build for {k}.",
                ksrc.display()
            ),
            Some(headers),
        );
        return;
    }
    for (file, what) in [("Module.symvers", "symbol versions"), (".config", "configuration")] {
        if !ksrc.join(file).is_file() {
            r.add_for(
                k,
                Error,
                "headers-incomplete",
                format!("The headers of {k} lack {file} (the kernel's {what}); builds will fail or not load."),
                Some(headers.clone()),
            );
        }
    }
    let config = d.kernel_config(k);
    compiler(d, r, k, &config);
    sign_file(d, r, k, a, &config);
    compression(d, r, k, &config);
}

/// The compiler the kernel was built with is on PATH and reports the same
/// version (kbuild's own check compares `CONFIG_CC_VERSION_TEXT` with the
/// first line of `$(CC) --version`). Which compiler as build's
/// compiler_env picks it: `clang` when `CONFIG_CC_IS_CLANG=y` (its text
/// starts with the vendor, "Debian clang version ..."), else the text's
/// first word.
fn compiler(d: &Dkms, r: &mut Report, k: &str, config: &std::path::Path) {
    let Some(text) = kernel::config_value(config, "CONFIG_CC_VERSION_TEXT") else { return };
    let clang = kernel::config_value(config, "CONFIG_CC_IS_CLANG").as_deref() == Some("y");
    let first = text.split_whitespace().next().map(str::to_string);
    let Some(cc) = (if clang { Some("clang".to_string()) } else { first }) else { return };
    if !tools::available(&cc) {
        r.add_for(
            k,
            Error,
            "compiler-missing",
            format!("{k} was built with {text}, but {cc} is not installed."),
            Some(install_cmd(d, &cc, &cc)),
        );
        return;
    }
    let mut c = tools::command(&cc, &[]);
    c.arg("--version");
    let first = tools::output(&mut c)
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_string())
        .unwrap_or_default();
    if first.trim() != text.trim() {
        r.add_for(
            k,
            Warning,
            "compiler-mismatch",
            format!("{k} was built with \"{text}\"; {cc} here is \"{first}\" (modules may fail to build or load)."),
            Some(format!("install the compiler {k} was built with ({text}) as {cc} on PATH")),
        );
    }
}

/// Where the kernel signs modules and dkms would sign, sign-file exists.
fn sign_file(d: &Dkms, r: &mut Report, k: &str, a: &str, config: &std::path::Path) {
    if kernel::config_value(config, "CONFIG_MODULE_SIG").as_deref() != Some("y") {
        return;
    }
    if let Err(why) = signing::expected_signer(d, k, a, config) {
        let settings = signing::settings(d, k, a);
        if why == "sign-file is missing" {
            let sf = signing::sign_file_path(d, &settings, k);
            let enforced = kernel::config_value(config, "CONFIG_MODULE_SIG_FORCE").as_deref() == Some("y");
            r.add_for(
                k,
                if enforced { Error } else { Warning },
                "sign-file-missing",
                format!("{k} checks module signatures but {sf} is not there: dkms will not sign modules for it."),
                Some(install_cmd(d, &format!("linux-kbuild-{}", major_minor(k)), &format!("kernel-devel-{k}"))),
            );
        } else if built_for(d, k, a) {
            // Only with something built: "not signed" about nothing is false.
            r.add_for(k, Info, "signing-off", format!("Modules built for {k} are not signed: {why}."), None);
        }
    }
}

/// Is any module built for k/a?
fn built_for(d: &Dkms, k: &str, a: &str) -> bool {
    let t = &d.ctx.trees;
    dkms_state::status::list_module_version_combos(t, None, None)
        .iter()
        .any(|(m, v)| dkms_state::status::is_module_built(t, m, v, k, a))
}

fn major_minor(k: &str) -> &str {
    let mut dots = k.match_indices('.').map(|(i, _)| i);
    match (dots.next(), dots.next()) {
        (Some(_), Some(second)) => &k[..second],
        _ => k,
    }
}

/// `CONFIG_MODULE_COMPRESS_*` names a tool dkms will need.
fn compression(d: &Dkms, r: &mut Report, k: &str, config: &std::path::Path) {
    for (opt, tool, pkg) in [("GZIP", "gzip", "gzip"), ("XZ", "xz", "xz-utils"), ("ZSTD", "zstd", "zstd")] {
        let set = kernel::config_value(config, &format!("CONFIG_MODULE_COMPRESS_{opt}")).as_deref() == Some("y");
        if set && !tools::available(tool) {
            r.add_for(
                k,
                Error,
                "compression-tool-missing",
                format!("{k} compresses its modules with {tool}, which is not installed."),
                Some(install_cmd(d, pkg, tool)),
            );
        }
    }
}
