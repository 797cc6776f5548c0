//! The build/install lifecycle without real kernel headers or compilers:
//! fake `make`, `modinfo`, `depmod` and `strip` in the sandbox's PATH dir,
//! a stub header tree in the install tree, signing disabled in
//! framework.conf. Each scenario runs its steps on fresh sandboxes for ours
//! and (when the shared copy is present) upstream's bash dkms, compares every
//! step byte for byte (stdout, stderr, their interleaving, exit code), the
//! trees left behind, the make.logs (date and elapsed time masked) and the
//! tools' call logs; and checks ours against fixed expectations.
//! install, uninstall, autoinstall and kernel_* need root (upstream's
//! check_root); those tests are reported skipped when not root.
//!
//! This module is the harness; the scenarios are in its submodules, by
//! topic: `build` (outcomes and errors of build, unbuild, remove),
//! `build_conf` (what dkms.conf and the options add to a build: patches,
//! scripts, signing, MAKE), `install` (install, uninstall, their scripts and
//! the refusal of non-root), `autoinstall` (autoinstall and the kernel_*
//! hooks) and `parallel` (autoinstall's builds side by side).

mod autoinstall;
mod build;
mod build_conf;
mod install;
mod parallel;

use crate::skip::{skip_part, skip_unless};
use crate::support::{arch, assert_same, is_root, upstream_source, Impl, Output, Sandbox, KVER};
use std::fs;
use std::path::{Path, PathBuf};

/// Package names match upstream's `dkms*_test` hook, which turns off the
/// progress dots of long commands: otherwise each upstream build holds the
/// output pipe open for up to 3 s (the orphaned `sleep 3` of the dot loop).
const M: &str = "dkms_life_test";
const V: &str = "1.0";

/// Fake kbuild. Takes the usual `make -jN KERNELRELEASE=K -C KSRC M=DIR`;
/// for every `Makefile` under DIR, creates `<name>.ko` next to it for each
/// `<name>.o` of its `obj-m` line (a text file: a first line, then the
/// `key=value` lines of `<name>.modinfo` if present, which the fake modinfo
/// reports), and an empty `DIR/Module.symvers`. A Makefile containing
/// `#fake-make: fail` makes it fail with status 2.
const FAKE_MAKE: &str = r#"#!/bin/sh
echo "make $*" >> "@LOG@"
M=; C=; K=; prev=
for a in "$@"; do
    case $prev in -C) C=$a;; esac
    case $a in M=*) M=${a#M=};; KERNELRELEASE=*) K=${a#KERNELRELEASE=};; esac
    prev=$a
done
echo "make: Entering directory '$C'"
if grep -qs '^#fake-make: fail' "$M/Makefile"; then
    echo "$M/fake.c:1:1: error: this build is meant to fail" >&2
    echo "make[1]: *** [fake] Error 1" >&2
    echo "make: *** [modules] Error 2" >&2
    exit 2
fi
find "$M" -name Makefile | sort | while read -r mf; do
    d=${mf%/Makefile}
    sed -n 's/^obj-m[ :+]*=//p' "$mf" | tr ' ' '\n' | while read -r o; do
        [ -n "$o" ] || continue
        n=${o%.o}
        echo "  CC [M]  $d/$n.o"
        echo "  LD [M]  $d/$n.ko"
        { echo "fake module $n for $K"; if [ -f "$d/$n.modinfo" ]; then cat "$d/$n.modinfo"; fi; } > "$d/$n.ko"
    done
done
: > "$M/Module.symvers"
echo "make: Leaving directory '$C'"
"#;

/// `modinfo FILE`: the `key=value` lines of the fake .ko as `key:  value`.
const FAKE_MODINFO: &str = r#"#!/bin/sh
for f in "$@"; do :; done
[ -f "$f" ] || { echo "modinfo: ERROR: Module $f not found." >&2; exit 1; }
sed -n 's/^\([a-z]*\)=\(.*\)$/\1:  \2/p' "$f"
"#;

/// `depmod` and `strip` only record that they ran.
const FAKE_RECORDER: &str = r#"#!/bin/sh
echo "${0##*/} $*" >> "@LOG@"
"#;

/// framework.conf of every scenario: no signing, a fixed `-j`.
const FRAMEWORK: &str = "try_sign_modules=\"false\"\nparallel_jobs=3\n";

/// The signing prologue with that framework.conf (and its empty line).
const NO_SIGNING: &str = "Module signing is disabled by policy, modules won't be signed\n\n";

/// Where the tools record their calls (outside the compared trees).
fn tool_log(sb: &Sandbox) -> PathBuf {
    sb.root.join("tools.log")
}

fn write_exec(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, text).expect("write");
    let mut perm = fs::metadata(path).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    fs::set_permissions(path, perm).expect("chmod");
}

/// Fake tools, framework.conf and stub headers for KVER.
fn world(sb: &Sandbox) {
    let log = tool_log(sb).display().to_string();
    write_exec(&sb.bin.join("make"), &FAKE_MAKE.replace("@LOG@", &log));
    write_exec(&sb.bin.join("modinfo"), FAKE_MODINFO);
    write_exec(&sb.bin.join("depmod"), &FAKE_RECORDER.replace("@LOG@", &log));
    write_exec(&sb.bin.join("strip"), &FAKE_RECORDER.replace("@LOG@", &log));
    sb.write(&sb.sysconf.join("dkms/framework.conf"), FRAMEWORK);
    headers(sb, KVER);
}

/// `<installtree>/<k>/build/{include/..., .config}`: enough for dkms to
/// take the kernel's headers as present. (A file in include/ keeps the
/// `find -empty -delete` of kernel_prerm from removing the tree.)
fn headers(sb: &Sandbox, k: &str) {
    let b = sb.inst.join(k).join("build");
    sb.write(&b.join("include/generated/utsrelease.h"), &format!("#define UTS_RELEASE \"{k}\"\n"));
    sb.write(&b.join(".config"), "CONFIG_MODULES=y\n");
}

/// `<sourcetree>/<m>-<v>/`: dkms.conf (the plain one plus `extra`),
/// Makefile, a .c file and the module's fake modinfo.
fn source(sb: &Sandbox, m: &str, v: &str, extra: &str) {
    let dir = sb.src.join(format!("{m}-{v}"));
    sb.write(&dir.join("dkms.conf"), &format!("{}{extra}", Sandbox::simple_conf(m, v)));
    sb.write(&dir.join("Makefile"), &format!("obj-m := {m}.o\n"));
    sb.write(&dir.join(format!("{m}.c")), "/* not compiled */\n");
    sb.write(&dir.join(format!("{m}.modinfo")), &format!("version={v}\nsrcversion=SRC{v}\n"));
}

/// The source, added (what `add -m -v` leaves: `build/` and the link).
fn added(sb: &Sandbox, m: &str, v: &str, extra: &str) {
    source(sb, m, v, extra);
    let vdir = sb.dkms.join(m).join(v);
    fs::create_dir_all(vdir.join("build")).expect("mkdir");
    std::os::unix::fs::symlink(sb.src.join(format!("{m}-{v}")), vdir.join("source")).expect("symlink");
}

fn plain(sb: &Sandbox) {
    world(sb);
    added(sb, M, V, "");
}

fn fail_make(sb: &Sandbox, m: &str, v: &str) {
    let mf = sb.src.join(format!("{m}-{v}/Makefile"));
    let text = fs::read_to_string(&mf).expect("read Makefile");
    fs::write(&mf, format!("{text}#fake-make: fail\n")).expect("write Makefile");
}

/// bash's `command -v`, on the PATH the runs get (after the fake tools).
fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// What one implementation's run of a scenario left.
struct Run {
    sb: Sandbox,
    outputs: Vec<Output>,
}

impl Run {
    /// The trees, with make.log sizes masked (the date line may differ).
    fn listing(&self) -> String {
        self.sb
            .listing()
            .lines()
            .map(|l| match l.find("/make.log f ") {
                Some(i) => format!("{}/make.log f\n", &l[..i]),
                None => format!("{l}\n"),
            })
            .collect()
    }

    /// Every make.log and post_transaction.log in the dkms tree,
    /// root-normalised, with dates and elapsed times masked.
    fn logs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        make_logs(&self.sb.dkms, &mut out);
        out.sort();
        out.into_iter()
            .map(|p| {
                let text = fs::read_to_string(&p).expect("read make.log");
                let text = if p.ends_with("make.log") { mask_log(&text) } else { mask_elapsed(&text) };
                (self.norm(&p.display().to_string()), self.norm(&text))
            })
            .collect()
    }

    fn tools(&self) -> String {
        self.norm(&fs::read_to_string(tool_log(&self.sb)).unwrap_or_default())
    }

    fn norm(&self, s: &str) -> String {
        s.replace(&self.sb.root.display().to_string(), "<ROOT>")
    }
}

fn make_logs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let Ok(md) = fs::symlink_metadata(&p) else { continue };
        // `.failures/` holds our failure memory's copies of make.logs
        // (not in upstream dkms).
        if md.is_dir() && e.file_name() != ".failures" {
            make_logs(&p, out);
        } else if p.file_name().is_some_and(|n| n == "make.log" || n == "post_transaction.log") {
            out.push(p);
        }
    }
}

/// A make.log with its date line (the second) and elapsed times masked.
fn mask_log(text: &str) -> String {
    mask(text, true)
}

/// A command log (post_transaction.log) with its elapsed times masked.
fn mask_elapsed(text: &str) -> String {
    mask(text, false)
}

fn mask(text: &str, date: bool) -> String {
    let line = |(i, l): (usize, &str)| match l {
        _ if date && i == 1 => "<DATE>\n".to_string(),
        _ if l.starts_with("# elapsed time: ") => "# elapsed time: <ELAPSED>\n".to_string(),
        _ => format!("{l}\n"),
    };
    text.lines().enumerate().map(line).collect()
}

/// Run `steps` in order on a fresh sandbox made by `setup`; when some step
/// writes to both streams, again on another with the streams in one file
/// (`combined` of the other steps: stdout then stderr, one of them empty).
fn run_steps(which: Impl, setup: &dyn Fn(&Sandbox), steps: &[&[&str]]) -> Option<Run> {
    let mut sb = Sandbox::new();
    if which == Impl::Upstream {
        sb.upstream()?;
    }
    setup(&sb);
    let mut outputs: Vec<Output> = steps.iter().map(|s| sb.run_with(which, None, s, true)).collect();
    // Replay up to the last step whose streams both carry output.
    if let Some(last) = outputs.iter().rposition(Output::interleaved) {
        let mut sb2 = Sandbox::new();
        if which == Impl::Upstream {
            sb2.upstream()?;
        }
        setup(&sb2);
        for (s, o) in steps.iter().zip(outputs.iter_mut()).take(last + 1) {
            let (code, combined) = sb2.run_combined(which, None, s, true);
            assert_eq!(code, o.code, "{s:?}: exit code of the combined run ({which:?})");
            o.combined = combined;
        }
    }
    Some(Run { sb, outputs })
}

/// Run a scenario with ours and, when available, upstream, and require
/// them to agree on every step, on the trees, the logs and the tools run.
/// Returns our run.
fn scenario(what: &str, setup: &dyn Fn(&Sandbox), steps: &[&[&str]]) -> Run {
    let ours = run_steps(Impl::Ours, setup, steps).expect("ours always runs");
    if upstream_source().is_some() {
        let up = run_steps(Impl::Upstream, setup, steps).expect("upstream runs");
        for ((s, o), u) in steps.iter().zip(&ours.outputs).zip(&up.outputs) {
            assert_same(&format!("{what}: {s:?}"), o, u);
        }
        assert_eq!(ours.listing(), up.listing(), "{what}: trees differ (left: ours, right: upstream)");
        assert_eq!(ours.logs(), up.logs(), "{what}: logs differ (left: ours, right: upstream)");
        let (ot, ut) = if what.starts_with("autoinstall") || what.starts_with("kernel_postinst") {
            (parallel_tools(&ours.tools()), parallel_tools(&up.tools()))
        } else {
            (ours.tools(), up.tools())
        };
        assert_eq!(ot, ut, "{what}: tools run differ (left: ours, right: upstream)");
    }
    ours
}

/// The tools an autoinstall ran, comparable with upstream's: our builds run
/// side by side (so in any order) with make under a jobserver instead of
/// its own `-jN`, and depmod runs once per kernel instead of per module.
fn parallel_tools(log: &str) -> String {
    let mut lines: Vec<String> = log
        .lines()
        .filter(|l| !l.starts_with("depmod "))
        .map(|l| match l.strip_prefix("make -j") {
            Some(rest) => format!("make {}", rest.split_once(' ').map_or("", |(_, r)| r)),
            None => l.to_string(),
        })
        .collect();
    lines.sort();
    lines.dedup();
    lines.join("\n")
}

/// `(code, stdout, stderr)` of a step, for compact assertions.
fn ose(o: &Output) -> (i32, &str, &str) {
    (o.code, o.stdout.as_str(), o.stderr.as_str())
}

fn kargs(verb: &str) -> Vec<&str> {
    vec![verb, "-m", M, "-v", V, "-k", KVER]
}

/// The `make` command line dkms runs for `m/v`.
fn make_cmd(m: &str, v: &str) -> String {
    format!("make -j3 KERNELRELEASE={KVER} -C <ROOT>/inst/{KVER}/build M=<ROOT>/dkms/{m}/{v}/build")
}

fn built_line(m: &str, v: &str) -> String {
    format!("{m}/{v}, {KVER}, {}: built\n", arch())
}

/// Files and dirs under `dir` whose name starts with `.tmp_`.
fn tmp_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".tmp_")) {
            out.push(p.clone());
        }
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            out.extend(tmp_dirs(&p));
        }
    }
    out
}

/// The destination override of `override_dest_module_location` for this
/// host's distribution (upstream reads /etc/os-release; so does ours).
fn dest_dir(conf_location: &str) -> String {
    let text = ["/etc/os-release", "/usr/lib/os-release"].iter().find_map(|f| fs::read_to_string(f).ok());
    let text = text.unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches(|c| c == '"' || c == '\'').to_string())
            .unwrap_or_default()
    };
    let (id, like) = (field("ID"), field("ID_LIKE"));
    let distro = if id == "ubuntu" || like.is_empty() { id } else { like };
    let starts = |ps: &[&str]| ps.iter().any(|p| distro.starts_with(p));
    if starts(&["fedora", "centos", "rhel"]) {
        "/extra".into()
    } else if starts(&["sles", "suse", "opensuse"]) {
        "/updates".into()
    } else if starts(&["debian", "ubuntu", "arch"]) {
        "/updates/dkms".into()
    } else {
        conf_location.into()
    }
}

/// dkms_a_test depends on dkms_b_test: sorted first, installed second.
fn two_modules(sb: &Sandbox) {
    world(sb);
    added(sb, "dkms_a_test", "1.0", "BUILD_DEPENDS=\"dkms_b_test\"\n");
    added(sb, "dkms_b_test", "2.0", "");
}

fn autoinstalled(m: &str, v: &str) -> String {
    format!(
        "Autoinstall of module {m}/{v} for kernel {KVER} ({a})\nBuilding module(s)... done.\n\
         Installing <ROOT>/inst/{KVER}{d}/{m}.ko\nRunning depmod... done.\n\n",
        a = arch(),
        d = dest_dir("/updates")
    )
}
