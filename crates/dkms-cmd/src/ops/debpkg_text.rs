//! The words and texts of a prebuilt module package (`dkms cache deb`, not
//! in upstream dkms): its Debian name, version and architecture, and the
//! control file, maintainer scripts, copyright and changelog it carries.
//! Pure functions: `debpkg` gathers the facts and writes the files.

use dkms_state::error::{Error, Kind, Result};

/// Everything the texts of one package say.
pub(crate) struct Facts {
    /// The package name, `<module>-modules-<kernel>`.
    pub(crate) package: String,
    /// `<module>-modules` (the virtual package every kernel's provides).
    pub(crate) provides: String,
    pub(crate) version: String,
    pub(crate) deb_arch: String,
    pub(crate) module: String,
    pub(crate) module_version: String,
    pub(crate) kernel: String,
    /// The module files, by name (`foo.ko.xz`).
    pub(crate) files: Vec<String>,
    pub(crate) maintainer: String,
    /// Seconds since the epoch the build was made (the version's suffix,
    /// the changelog's date, the archive's times).
    pub(crate) built: u64,
    pub(crate) installed_kib: u64,
}

/// A `cache deb` failure that is not install's.
pub(crate) fn failed(why: impl Into<String>) -> Error {
    Error::die(Kind::DebFailed, [why.into()])
}

/// Debian's name for `name` (a module or kernel word): lower case, `_` as
/// `-` (Debian package names allow neither upper case nor `_`), then it
/// must match `[a-z0-9][a-z0-9+.-]+`.
pub(crate) fn package_word(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// `<module>-modules-<kernel>` as Debian allows it, or why not.
pub(crate) fn package_name(module: &str, kernel: &str) -> Result<String> {
    let name = format!("{}-modules-{}", package_word(module), package_word(kernel));
    let first_ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c));
    if !first_ok || !rest_ok {
        return Err(failed(format!(
            "'{}' is not a Debian package name ([a-z0-9][a-z0-9+.-]+): module {module}, kernel {kernel}.",
            dkms_state::name::printable(&name)
        )));
    }
    Ok(name)
}

/// `<V>-dkms<YYYYMMDDhhmmss>`: the module's version, then as Debian
/// revision the time (UTC) the build was made. It grows with every rebuild,
/// is the same each time the same build is packaged (on any machine: a
/// cache entry carries its builder's time), and needs no counter kept
/// anywhere. A revision makes the package non-native: changelog.Debian.gz.
pub(crate) fn package_version(v: &str, built: u64) -> Result<String> {
    let ok = v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || ".+~-".contains(c));
    if !ok {
        return Err(failed(format!(
            "The module version '{}' is not a Debian upstream version (a digit first, then [A-Za-z0-9.+~-]).",
            dkms_state::name::printable(v)
        )));
    }
    let (y, mo, d, h, mi, s, _) = civil(built);
    Ok(format!("{v}-dkms{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}"))
}

/// dpkg's architecture for the kernel's machine name (`uname -m`).
pub(crate) fn deb_arch(arch: &str) -> Result<&'static str> {
    Ok(match arch {
        "x86_64" | "amd64" => "amd64",
        "i386" | "i486" | "i586" | "i686" => "i386",
        "aarch64" | "arm64" => "arm64",
        "armv7l" | "armv7" | "armhf" => "armhf",
        "armv6l" | "armv5tel" | "armel" => "armel",
        "ppc64le" | "ppc64el" => "ppc64el",
        "ppc64" => "ppc64",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" => "loong64",
        "mips64el" | "mips64" => "mips64el",
        _ => return Err(failed(format!("No Debian architecture is known for {arch}."))),
    })
}

/// (year, month, day, hour, minute, second, weekday 0 = Sunday) of a UTC
/// time (Howard Hinnant's days-to-civil: no date crate for one line).
fn civil(t: u64) -> (i64, u32, u32, u32, u32, u32, usize) {
    let days = (t / 86400) as i64;
    let secs = t % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let wd = (days + 4).rem_euclid(7) as usize;
    (y, m, d, (secs / 3600) as u32, (secs % 3600 / 60) as u32, (secs % 60) as u32, wd)
}

/// RFC 2822 date, as a Debian changelog wants it.
fn rfc2822(t: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (y, mo, d, h, mi, s, wd) = civil(t);
    format!("{}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} +0000", DAYS[wd], MONTHS[mo as usize - 1])
}

/// DEBIAN/control.
pub(crate) fn control(f: &Facts) -> String {
    let k = &f.kernel;
    let long = format!(
        "The modules of {}/{} ({}), built by dkms for kernel {k} and placed where dkms install places them. \
         Made with dkms cache deb.",
        f.module,
        f.module_version,
        f.files.join(", ")
    );
    format!(
        "Package: {}\nSource: {}-dkms\nVersion: {}\nArchitecture: {}\nMaintainer: {}\nInstalled-Size: {}\n\
         Depends: linux-image-{k} | linux-image-unsigned-{k}\nProvides: {}\nSection: kernel\nPriority: optional\n\
         Description: {} kernel modules for Linux {k}\n{}",
        f.package,
        package_word(&f.module),
        f.version,
        f.deb_arch,
        f.maintainer,
        f.installed_kib,
        f.provides,
        f.module,
        wrap(&long),
    )
}

/// `text` as the lines of an extended description: each starting with a
/// space, at most 80 columns (lintian's limit).
fn wrap(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for w in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + w.len() > 78 {
            out.push_str(&format!(" {line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    out.push_str(&format!(" {line}\n"));
    out
}

/// postinst and postrm: depmod for the kernel, as `dkms install` and
/// `dkms uninstall` run it, only while the kernel's own package is there
/// (its modules.order; after the kernel's removal depmod would leave files
/// behind that nobody owns).
pub(crate) fn maintainer_script(kernel: &str, on: &str) -> String {
    format!(
        "#!/bin/sh\nset -e\n\ncase \"$1\" in\n{on})\n    if [ -e '/lib/modules/{kernel}/modules.order' ]; then\n        \
         depmod -a '{kernel}'\n    fi\n    ;;\nesac\n\nexit 0\n"
    )
}

/// DEBIAN/triggers: initramfs-tools (when installed) rebuilds the
/// initramfs after the package is installed or removed; without it the
/// trigger has no taker and dpkg ignores it.
pub(crate) const TRIGGERS: &str = "activate-noawait update-initramfs\n";

/// changelog.Debian: one entry for this build.
pub(crate) fn changelog(f: &Facts) -> String {
    format!(
        "{} ({}) unstable; urgency=medium\n\n  * Modules of {}/{} built by dkms for kernel {}.\n\n -- {}  {}\n",
        f.package,
        f.version,
        f.module,
        f.module_version,
        f.kernel,
        f.maintainer,
        rfc2822(f.built)
    )
}

/// The copyright file: the module source's licence file when it has one
/// (`license`: its name and text), else the licences the modules declare
/// (MODULE_LICENSE, as modinfo reads them). Debian's policy: the text of
/// the GPL is not copied but referred to in /usr/share/common-licenses.
/// `notices`: the copyright lines of the sources.
pub(crate) fn copyright(
    f: &Facts,
    license: Option<(&str, &str)>,
    declared: &[(String, String)],
    notices: &[String],
) -> String {
    let mut s = format!(
        "This package holds the kernel modules of {}/{} built by dkms for Linux {}.\n\n",
        f.module, f.module_version, f.kernel
    );
    if notices.is_empty() {
        s.push_str("The module source states no copyright notice.\n\n");
    } else {
        s.push_str("The module source's copyright notices:\n\n");
        s.extend(notices.iter().map(|n| format!("  {n}\n")));
        s.push('\n');
    }
    // The GPL version referred to, when a GPL is named.
    let mut gpl = declared.iter().any(|(_, l)| l.contains("GPL")).then_some("2");
    match license {
        Some((name, text)) if full_gpl(text).is_some() => {
            let n = full_gpl(text).unwrap_or("2");
            s.push_str(&format!("The module source's {name} is the GNU General Public License, version {n}.\n"));
            gpl = Some(n);
        }
        Some((name, text)) => {
            s.push_str(&format!("The module source's {name} says:\n\n{}\n", text.trim_end()));
            if text.contains("GPL") || text.contains("General Public License") {
                gpl = gpl.or(Some("2"));
            }
        }
        None => {
            s.push_str("The module source has no COPYING or LICENSE file. The licences its modules declare\n");
            s.push_str("(MODULE_LICENSE):\n\n");
            for (file, lic) in declared {
                let lic = if lic.is_empty() { "none declared" } else { lic };
                s.push_str(&format!("  {file}: {lic}\n"));
            }
        }
    }
    if let Some(n) = gpl {
        s.push_str(&format!(
            "\nOn Debian systems, the complete text of the GNU General Public License version {n}\n\
             can be found in /usr/share/common-licenses/GPL-{n}.\n"
        ));
    }
    s
}

/// The version of the GNU GPL `text` is the whole of, if it is.
pub(crate) fn full_gpl(text: &str) -> Option<&'static str> {
    if !(text.contains("GNU GENERAL PUBLIC LICENSE") && text.contains("TERMS AND CONDITIONS")) {
        return None;
    }
    Some(if text.contains("Version 3, 29 June 2007") { "3" } else { "2" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_debian_rules() {
        assert_eq!(package_name("dkms_Hello", "6.1.0-48-amd64").unwrap(), "dkms-hello-modules-6.1.0-48-amd64");
        assert_eq!(package_name("a@b", "6.1.0").unwrap_err().kind, Kind::DebFailed);
        assert_eq!(package_name("-x", "6.1.0").unwrap_err().kind, Kind::DebFailed);
    }

    #[test]
    fn version_grows_with_the_build_time() {
        assert_eq!(package_version("1.0", 0).unwrap(), "1.0-dkms19700101000000");
        assert_eq!(package_version("2.3-1", 1_796_683_293).unwrap(), "2.3-1-dkms20261207224133");
        assert!(package_version("v1", 0).is_err());
        assert!(package_version("1.0 beta", 0).is_err());
    }

    #[test]
    fn dates_are_rfc2822() {
        assert_eq!(rfc2822(1_796_683_293), "Mon, 07 Dec 2026 22:41:33 +0000");
        assert_eq!(rfc2822(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn arches_are_dpkg_names() {
        assert_eq!(deb_arch("x86_64").unwrap(), "amd64");
        assert_eq!(deb_arch("aarch64").unwrap(), "arm64");
        assert!(deb_arch("vax").is_err());
    }

    #[test]
    fn scripts_run_depmod_for_the_kernel_only_while_it_is_there() {
        let s = maintainer_script("6.1.0-48-amd64", "configure");
        assert!(s.contains("configure)\n    if [ -e '/lib/modules/6.1.0-48-amd64/modules.order' ]"));
        assert!(s.contains("depmod -a '6.1.0-48-amd64'"));
    }

    fn facts() -> Facts {
        Facts {
            package: "x-modules-6.1.0-1-amd64".into(),
            provides: "x-modules".into(),
            version: "1.0-dkms19700101000000".into(),
            deb_arch: "amd64".into(),
            module: "x".into(),
            module_version: "1.0".into(),
            kernel: "6.1.0-1-amd64".into(),
            files: (0..20).map(|i| format!("module_number_{i}.ko")).collect(),
            maintainer: "m <m@example.org>".into(),
            built: 0,
            installed_kib: 1,
        }
    }

    #[test]
    fn the_control_file_ties_the_package_to_its_kernel() {
        let c = control(&facts());
        let field = |name: &str| c.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).unwrap_or_default();
        assert_eq!(field("Package"), "x-modules-6.1.0-1-amd64");
        assert_eq!(field("Version"), "1.0-dkms19700101000000");
        assert_eq!(field("Architecture"), "amd64");
        // Installable only beside its kernel, signed or not; one virtual
        // name for the module across kernels.
        assert_eq!(field("Depends"), "linux-image-6.1.0-1-amd64 | linux-image-unsigned-6.1.0-1-amd64");
        assert_eq!(field("Provides"), "x-modules");
        assert_eq!(field("Description"), "x kernel modules for Linux 6.1.0-1-amd64");
        let log = changelog(&facts());
        assert!(
            log.starts_with("x-modules-6.1.0-1-amd64 (1.0-dkms19700101000000) unstable; urgency=medium\n"),
            "{log}"
        );
        assert!(log.ends_with(" -- m <m@example.org>  Thu, 01 Jan 1970 00:00:00 +0000\n"), "{log}");
    }

    #[test]
    fn descriptions_keep_to_80_columns() {
        let c = control(&facts());
        let long: Vec<&str> = c.lines().skip_while(|l| !l.starts_with("Description:")).skip(1).collect();
        assert!(long.len() > 3 && long.iter().all(|l| l.starts_with(' ') && l.len() <= 80), "{c}");
    }

    #[test]
    fn the_gpl_is_referred_to_not_copied() {
        let gpl = "GNU GENERAL PUBLIC LICENSE\nVersion 2, June 1991\nTERMS AND CONDITIONS\nlots of text";
        let c = copyright(&facts(), Some(("COPYING", gpl)), &[], &[]);
        assert!(c.contains("COPYING is the GNU General Public License, version 2."), "{c}");
        assert!(c.contains("/usr/share/common-licenses/GPL-2") && !c.contains("lots of text"), "{c}");
        let c = copyright(
            &facts(),
            Some(("LICENSE", "MIT License\nPermission is hereby granted")),
            &[],
            &["Copyright (C) 2024 A".into()],
        );
        assert!(c.contains("LICENSE says:\n\nMIT License") && !c.contains("common-licenses"), "{c}");
        assert!(c.contains("copyright notices:\n\n  Copyright (C) 2024 A\n"), "{c}");
        let c = copyright(&facts(), None, &[("x.ko".into(), "GPL".into()), ("y.ko".into(), String::new())], &[]);
        assert!(c.contains("  x.ko: GPL\n  y.ko: none declared\n") && c.contains("GPL-2"), "{c}");
    }
}
