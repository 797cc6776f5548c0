//! What makes `dkms status` fast must not change what it prints: real ELF
//! modules (read in-process instead of by `modinfo`), plain and compressed,
//! compared with upstream; the dkms.conf evaluation cache following every
//! input (the conf, `/etc/dkms` overrides, the environment) and surviving an
//! unusable cache directory; the release layout's hardlinked multicall
//! binary.

use crate::skip::{skip_part, skip_unless};
use crate::support::{arch, assert_same, have, ours, Impl, Sandbox, KVER};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A second kernel whose installed modules are xz-compressed.
const KVER_XZ: &str = "6.1.0-98-amd64";

/// A relocatable ELF object whose `.modinfo` holds `strings`.
fn elf_module(dir: &Path, name: &str, strings: &[&str]) -> PathBuf {
    let mut c = String::new();
    for (i, s) in strings.iter().enumerate() {
        c.push_str(&format!(
            "static const char s{i}[] __attribute__((section(\".modinfo\"), used, aligned(1))) = \"{s}\";\n"
        ));
    }
    let src = dir.join(format!("{name}.c"));
    fs::write(&src, c).unwrap();
    let ko = dir.join(format!("{name}.ko"));
    let st = Command::new("gcc").arg("-c").arg(&src).arg("-o").arg(&ko).status().unwrap();
    assert!(st.success(), "gcc");
    ko
}

/// Added, built for `k` with the given module files, active for `k`, and
/// installed copies at `<installtree>/<k><dest>/` (names, files).
fn installed_elf(sb: &Sandbox, m: &str, conf: &str, k: &str, built: &[(&str, &Path)], inst: &[(&str, &str, &Path)]) {
    if !sb.dkms.join(m).join("1.0/source").exists() {
        sb.add_module(m, "1.0", conf);
    }
    let mdir = sb.dkms.join(m).join("1.0").join(k).join(arch()).join("module");
    fs::create_dir_all(&mdir).unwrap();
    for (file, from) in built {
        fs::copy(from, mdir.join(file)).unwrap();
    }
    std::os::unix::fs::symlink(format!("1.0/{k}/{}", arch()), sb.dkms.join(m).join(format!("kernel-{k}-{}", arch())))
        .unwrap();
    for (dest, file, from) in inst {
        let to = sb.inst.join(k).join(dest.trim_start_matches('/'));
        fs::create_dir_all(&to).unwrap();
        fs::copy(from, to.join(file)).unwrap();
    }
}

fn conf(m: &str, records: &[(&str, &str)]) -> String {
    let mut s = format!("PACKAGE_NAME=\"{m}\"\nPACKAGE_VERSION=\"1.0\"\n");
    for (i, (name, loc)) in records.iter().enumerate() {
        s.push_str(&format!("BUILT_MODULE_NAME[{i}]=\"{name}\"\nDEST_MODULE_LOCATION[{i}]=\"{loc}\"\n"));
    }
    s
}

fn xz(file: &Path) -> PathBuf {
    let st = Command::new("xz").args(["-k", "-f"]).arg(file).status().unwrap();
    assert!(st.success(), "xz");
    PathBuf::from(format!("{}.xz", file.display()))
}

#[test]
fn real_elf_modules_match_upstream() {
    skip_unless!(have("gcc"), "gcc is not installed");
    skip_unless!(have("modinfo"), "modinfo (kmod) is not installed");
    let mut sb = Sandbox::new();
    let ko = sb.root.join("ko");
    fs::create_dir_all(&ko).unwrap();
    let v1 = elf_module(&ko, "v1", &["version=1.0", "srcversion=AAAAAAAAAAAAAAAAAAAAAAA1"]);
    let v1b = elf_module(&ko, "v1b", &["version=1.0", "srcversion=BBBBBBBBBBBBBBBBBBBBBBB2"]);
    let v2 = elf_module(&ko, "v2", &["version=2.0", "srcversion=CCCCCCCCCCCCCCCCCCCCCCC3"]);
    let chk = elf_module(&ko, "chk", &["license=GPL", "version=1.0 CHECKSUM"]);
    // Identical copies: installed.
    installed_elf(
        &sb,
        "ze-same",
        &conf("ze-same", &[("ze-same", "/updates")]),
        KVER,
        &[("ze-same.ko", &v1)],
        &[("/updates/dkms", "ze-same.ko", &v1)],
    );
    // Same version, other bytes: differences.
    installed_elf(
        &sb,
        "ze-other",
        &conf("ze-other", &[("ze-other", "/updates")]),
        KVER,
        &[("ze-other.ko", &v1)],
        &[("/updates/dkms", "ze-other.ko", &v1b)],
    );
    // The copy with the built version is at the conf's own location, not the
    // distribution's: find_actual_dest_module_location picks it.
    installed_elf(
        &sb,
        "ze-where",
        &conf("ze-where", &[("ze-where", "/kernel/drivers/misc"), ("ze-two", "/updates")]),
        KVER,
        &[("ze-where.ko", &v2), ("ze-two.ko", &chk)],
        &[
            ("/updates/dkms", "ze-where.ko", &v1),
            ("/kernel/drivers/misc", "ze-where.ko", &v2),
            ("/updates/dkms", "ze-two.ko", &chk),
        ],
    );
    // Not an ELF file at all: modinfo itself decides (and fails).
    let junk = ko.join("junk.ko");
    fs::write(&junk, "junk\n").unwrap();
    installed_elf(
        &sb,
        "ze-junk",
        &conf("ze-junk", &[("ze-junk", "/updates")]),
        KVER,
        &[("ze-junk.ko", &junk)],
        &[("/updates/dkms", "ze-junk.ko", &junk)],
    );
    if have("xz") {
        // A kernel with compressed modules: .ko.xz built and installed.
        let (x1, x2) = (xz(&v1), xz(&v2));
        installed_elf(
            &sb,
            "ze-same",
            "",
            KVER_XZ,
            &[("ze-same.ko.xz", &x1)],
            &[("/updates/dkms", "ze-same.ko.xz", &x1)],
        );
        installed_elf(
            &sb,
            "ze-other",
            "",
            KVER_XZ,
            &[("ze-other.ko.xz", &x1)],
            &[("/updates/dkms", "ze-other.ko.xz", &x2)],
        );
    } else {
        skip_part("the kernel with xz-compressed modules", "xz is not installed");
    }
    let first = sb.run(Impl::Ours, &["status"]);
    let a = arch();
    for line in [
        format!("ze-same/1.0, {KVER}, {a}: installed\n"),
        format!("ze-other/1.0, {KVER}, {a}: installed (Differences between built and installed modules)\n"),
        format!("ze-where/1.0, {KVER}, {a}: installed\n"),
    ] {
        assert!(first.stdout.contains(&line), "{line}in\n{}", first.stdout);
    }
    // A second run gives the same output (these plain confs are evaluated
    // without bash, by shell::plain, so they need no cache entries).
    assert!(!sb.dkms.join(".cache/conf").exists(), "plain confs are not cached");
    assert_eq!(sb.run(Impl::Ours, &["status"]), first);
    if sb.upstream().is_some() {
        for args in [vec!["status"], vec!["status", "-k", KVER], vec!["status", "-m", "ze-where"]] {
            let o = sb.run(Impl::Ours, &args);
            let u = sb.run(Impl::Upstream, &args);
            assert_same(&format!("ELF modules: {args:?}"), &o, &u);
        }
    }
}

/// Our dkms status with extra environment variables (the harness's own
/// environment otherwise).
fn status_with_env(sb: &Sandbox, env: &[(&str, &str)]) -> String {
    let mut c = Command::new(ours());
    c.arg("status").args(sb.tree_args()).current_dir(&sb.work);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("DKMS_") {
            c.env_remove(&k);
        }
    }
    c.env("LC_ALL", "C").env("TMPDIR", &sb.tmp).env("DKMS_SYSCONFDIR", &sb.sysconf);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn conf_cache_follows_every_input() {
    let mut sb = Sandbox::new();
    let a = arch();
    let base = "PACKAGE_NAME=zc\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=zc\nDEST_MODULE_LOCATION[0]=/updates\n";
    let two = "BUILT_MODULE_NAME[1]=zc2\nDEST_MODULE_LOCATION[1]=/updates\n";
    let by_kernel = format!("{base}if [[ $kernelver == 6.* ]]; then\n  {}fi\n", two.replace('\n', "\n  "));
    sb.add_module("zc", "1.0", &by_kernel);
    sb.build_module("zc", "1.0", KVER, a, &["zc"]);
    let built = format!("zc/1.0, {KVER}, {a}: built\n");
    let missing = format!("zc/1.0, {KVER}, {a}: built (Built modules are missing in the kernel modules folder)\n");
    let conf_file = sb.src.join("zc-1.0/dkms.conf");
    let override_file = sb.sysconf.join("dkms/zc.conf");
    // `-m zc`: read_conf names the /etc/dkms overrides after the module of
    // the command line (plain `status` has none, so they do not apply).
    let check = |sb: &mut Sandbox, want: &str, what: &str| {
        for round in ["cold", "warm"] {
            let o = sb.dkms(&["status", "-m", "zc"]);
            assert_eq!(o.stdout, want, "{what} ({round})");
            assert_eq!(o.stderr, "", "{what} ({round})");
        }
        if sb.upstream().is_some() {
            for args in [vec!["status", "-m", "zc"], vec!["status"]] {
                let (o, u) = (sb.run(Impl::Ours, &args), sb.run(Impl::Upstream, &args));
                assert_same(&format!("{what}: {args:?}"), &o, &u);
            }
        }
    };
    check(&mut sb, &missing, "conf depending on $kernelver");
    sb.write(&conf_file, base);
    check(&mut sb, &built, "conf changed");
    sb.write(&override_file, two);
    check(&mut sb, &missing, "override added");
    sb.write(&override_file, "");
    check(&mut sb, &built, "override emptied");
    fs::remove_file(&override_file).unwrap();
    let per_kernel = sb.sysconf.join(format!("dkms/zc--{KVER}.conf"));
    sb.write(&per_kernel, two);
    check(&mut sb, &missing, "per-kernel override added");
    fs::remove_file(&per_kernel).unwrap();
    check(&mut sb, &built, "per-kernel override removed");
    assert_eq!(sb.dkms(&["status"]).stdout, built);

    // The environment is an input too.
    sb.write(&conf_file, &format!("{base}if [[ $ZC_TWO ]]; then\n  {}fi\n", two.replace('\n', "\n  ")));
    assert_eq!(status_with_env(&sb, &[]), built);
    assert_eq!(status_with_env(&sb, &[("ZC_TWO", "1")]), missing);
    assert_eq!(status_with_env(&sb, &[]), built);

    // A conf that reads files is never cached: a change of the file it reads
    // shows at once.
    sb.write(&sb.work.join("names"), "");
    sb.write(&conf_file, &format!("{base}if [[ $(cat {}/names) ]]; then {two}fi\n", sb.work.display()));
    assert_eq!(status_with_env(&sb, &[]), built);
    sb.write(&sb.work.join("names"), "zc2\n");
    assert_eq!(status_with_env(&sb, &[]), missing);

    // An unusable cache directory only costs speed.
    sb.write(&conf_file, base);
    fs::remove_dir_all(sb.dkms.join(".cache")).unwrap();
    sb.write(&sb.dkms.join(".cache"), "not a directory\n");
    check(&mut sb, &built, "cache dir unusable");
}

/// The release layout: `dkms-<verb>` hardlinked to the one `dkms` binary.
#[test]
fn hardlinked_dkms_runs_the_verb_its_name_says() {
    let mut sb = Sandbox::new();
    sb.installed("zh-installed", "3.0");
    let dir = sb.root.join("multi");
    fs::create_dir_all(&dir).unwrap();
    let dkms = dir.join("dkms");
    fs::copy(ours(), &dkms).unwrap();
    let status = dir.join("dkms-status");
    fs::hard_link(&dkms, &status).unwrap();
    let want = sb.dkms(&["status"]);
    assert_eq!(want.stdout, format!("zh-installed/3.0, {KVER}, {}: installed\n", arch()));
    // As dkms-status directly, and as `dkms status` (run in-process: the
    // verb's binary is the front-end's own file).
    assert_eq!(sb.run_with(Impl::Ours, Some(&status), &[], true), want);
    assert_eq!(sb.run_with(Impl::Ours, Some(&dkms), &["status"], true), want);
    // The front-end still works as such.
    let v = sb.run_with(Impl::Ours, Some(&dkms), &["--version"], false);
    assert_eq!(v.stdout, "dkms-3.4.3\n");
}
