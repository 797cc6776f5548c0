//! `mktarball`, `ldtarball` (and `add` of a tarball) and `generate_mok`:
//! upstream's messages, exit codes and layouts, compared with upstream's
//! bash dkms where it is present; a build → mktarball → ldtarball →
//! install round trip with a fake `make` that records its calls; tarballs
//! made by one implementation loaded by the other; and hostile tarballs
//! (path escapes, links out, devices, FIFOs, size bombs, unsafe names),
//! each refused with exit 3 and nothing written outside the sandbox.
//! Loading a *source* tarball needs root upstream (`add_source_tree`
//! calls check_root); when not root, those tests or parts are reported
//! skipped.
//!
//! This module is the harness; the tests are in its submodules, by topic:
//! `make` (mktarball), `load` (ldtarball and add of a tarball),
//! `round_trip`, `hostile` (with `raw`, hand-written tar archives) and
//! `mok` (generate_mok).

mod hostile;
mod load;
mod make;
mod mok;
mod raw;
mod round_trip;

use crate::skip::{skip_part, skip_unless};
use crate::support::{arch, assert_same, compare_fresh, have, is_root, Impl, Output, Sandbox, KVER};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Upstream's `dkms*_test` names turn off the progress dots of builds.
const M: &str = "dkms_tarball_test";
const V: &str = "1.0";

/// Why loading a source tarball is skipped when not root.
const NEEDS_ROOT: &str = "needs root (upstream's add_source_tree refuses it)";

/// A source tree worth archiving: dkms.conf, Makefile, a subdirectory, a
/// relative symlink and a file name longer than tar's 100-byte field.
fn source(sb: &Sandbox, m: &str, v: &str) {
    let dir = sb.src.join(format!("{m}-{v}"));
    sb.write(&dir.join("dkms.conf"), &Sandbox::simple_conf(m, v));
    sb.write(&dir.join("Makefile"), &format!("obj-m := {m}.o\n"));
    sb.write(&dir.join(format!("{m}.c")), "/* not compiled */\n");
    sb.write(&dir.join(format!("include/{}.h", "long".repeat(30))), "/* long name */\n");
    std::os::unix::fs::symlink(format!("{m}.c"), dir.join("link.c")).unwrap();
}

/// Added and built for KVER (a fake build: module/<m>.ko and log/make.log).
fn built(sb: &Sandbox) {
    source(sb, M, V);
    let vdir = sb.dkms.join(M).join(V);
    fs::create_dir_all(vdir.join("build")).unwrap();
    std::os::unix::fs::symlink(sb.src.join(format!("{M}-{V}")), vdir.join("source")).unwrap();
    sb.build_module(M, V, KVER, arch(), &[M]);
}

fn location(file: &str) -> String {
    format!("\nTarball location: {file}\n")
}

fn default_tarball(sb: &Sandbox, kernels: &str) -> PathBuf {
    sb.dkms.join(M).join(V).join("tarball").join(format!("{M}-{V}-{kernels}.dkms.tar.gz"))
}

fn kernel_part() -> String {
    format!("kernel{KVER}-{}", arch())
}

/// Member names of an archive as GNU tar lists them, without the `./`
/// prefix, the trailing `/` of directories and the `./` member itself.
fn members(archive: &Path) -> Vec<String> {
    let out = Command::new("tar").arg("-tf").arg(archive).output().expect("tar -tf");
    assert!(out.status.success(), "tar -tf {}: {}", archive.display(), String::from_utf8_lossy(&out.stderr));
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty() && l != ".")
        .collect();
    v.sort();
    v
}

fn ose(o: &Output) -> (i32, &str, &str) {
    (o.code, o.stdout.as_str(), o.stderr.as_str())
}

/// Like `compare_fresh`, but the trees are compared without the tarballs'
/// sizes (compressed bytes differ between implementations).
fn compare_fresh_output(what: &str, setup: &dyn Fn(&Sandbox), args: &[&str]) -> Output {
    let run = |which: Impl| -> Option<(Output, String)> {
        let mut sb = Sandbox::new();
        if which == Impl::Upstream {
            sb.upstream()?;
        }
        setup(&sb);
        let o = sb.run_with(which, None, args, true);
        let listing: String = sb
            .listing()
            .lines()
            .map(|l| if l.contains(".dkms.tar") { l.rsplit_once(' ').map_or(l, |(a, _)| a) } else { l })
            .map(|l| format!("{l}\n"))
            .collect();
        Some((o, listing))
    };
    let (o, listing) = run(Impl::Ours).expect("ours runs");
    if let Some((u, ulisting)) = run(Impl::Upstream) {
        assert_same(what, &o, &u);
        assert_eq!(listing, ulisting, "{what}: trees differ (left: ours, right: upstream)");
    }
    o
}

/// Make a tarball of the built module in a fresh sandbox with `which`.
fn make_tarball(which: Impl, dest: &Path, extra: &[&str]) -> Option<()> {
    let mut sb = Sandbox::new();
    built(&sb);
    sb.build_module(M, V, "6.2.0-1-amd64", arch(), &[M]);
    if which == Impl::Upstream {
        sb.upstream()?;
    }
    let mut args = vec!["mktarball", "-m", M, "-v", V, "-k", KVER];
    args.extend_from_slice(extra);
    let d = dest.display().to_string();
    args.extend_from_slice(&["--archive", &d]);
    let o = sb.run_with(which, None, &args, true);
    assert_eq!(o.code, 0, "{which:?} mktarball: {}", o.stderr);
    Some(())
}

/// Load `archive` with both implementations on fresh sandboxes prepared by
/// `setup`; compare output, exit code and trees. Returns ours.
fn load_both(what: &str, setup: &dyn Fn(&Sandbox), archive: &Path, args: &[&str]) -> (Output, String) {
    let a = archive.display().to_string();
    let mut full: Vec<&str> = args.to_vec();
    full.push(&a);
    let run = |which: Impl| -> Option<(Output, String)> {
        let mut sb = Sandbox::new();
        if which == Impl::Upstream {
            sb.upstream()?;
        }
        setup(&sb);
        let mut o = sb.run_with(which, None, &full, true);
        for s in [&mut o.stdout, &mut o.stderr, &mut o.combined] {
            *s = mask_tmp(s);
        }
        assert!(fs::read_dir(&sb.tmp).unwrap().next().is_none(), "{what}: {which:?} left files in TMPDIR");
        Some((o, sb.listing()))
    };
    let (o, listing) = run(Impl::Ours).expect("ours runs");
    if let Some((u, ulisting)) = run(Impl::Upstream) {
        assert_same(what, &o, &u);
        assert_eq!(listing, ulisting, "{what}: trees differ (left: ours, right: upstream)");
    }
    (o, listing)
}

/// The random part of `$tmp_location/dkms.XXXXXX` masked.
fn mask_tmp(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("/tmp/dkms.") {
        let end = (i + "/tmp/dkms.".len() + 6).min(rest.len());
        out.push_str(&rest[..i]);
        out.push_str("/tmp/dkms.XXXXXX");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}
