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
        if md.is_dir() {
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

// ---------------------------------------------------------------- build

#[test]
fn add_build_skip_and_force_rebuild() {
    let setup = |sb: &Sandbox| {
        world(sb);
        source(sb, M, V, "");
    };
    let build = kargs("build");
    let force: Vec<&str> = build.iter().copied().chain(["--force"]).collect();
    let steps: [&[&str]; 6] = [&["add", "-m", M, "-v", V], &build, &["status"], &build, &force, &["status"]];
    let run = scenario("add, build, build, build --force", &setup, &steps);
    let o = &run.outputs;
    let a = arch();
    assert_eq!(
        ose(&o[0]),
        (0, format!("Creating symlink <ROOT>/dkms/{M}/{V}/source -> <ROOT>/src/{M}-{V}\n").as_str(), "")
    );
    let built = format!("{NO_SIGNING}Building module(s)... done.\n");
    assert_eq!(ose(&o[1]), (0, built.as_str(), ""));
    assert_eq!(ose(&o[2]), (0, built_line(M, V).as_str(), ""));
    let skip = format!(
        "Module {M}/{V} already built for kernel {KVER} ({a}), skip. You may override by specifying --force.\n"
    );
    assert_eq!(ose(&o[3]), (0, skip.as_str(), ""));
    assert_eq!(ose(&o[4]), (0, built.as_str(), ""));
    assert_eq!(ose(&o[5]), (0, built_line(M, V).as_str(), ""));

    // The tree: module/ and log/ under <k>/<arch>, build/ gone, no .tmp_*.
    let vdir = run.sb.dkms.join(M).join(V);
    let adir = vdir.join(KVER).join(a);
    assert!(!vdir.join("build").exists(), "build/ is removed after a successful build");
    assert_eq!(tmp_dirs(&run.sb.dkms), Vec::<PathBuf>::new(), "temporary build dirs left");
    let ko = fs::read_to_string(adir.join(format!("module/{M}.ko"))).expect("built module");
    assert_eq!(ko, format!("fake module {M} for {KVER}\nversion={V}\nsrcversion=SRC{V}\n"));
    assert!(adir.join("module/Module.symvers").is_file(), "Module.symvers is kept");
    let log = fs::read_to_string(adir.join("log/make.log")).expect("make.log");
    let mut lines = log.lines();
    assert_eq!(lines.next(), Some(format!("DKMS (dkms-3.4.3) make.log for {M}/{V} for kernel {KVER} ({a})").as_str()));
    assert!(lines.next().is_some_and(|d| !d.is_empty()), "a date line follows the header");
    let log = run.norm(&mask_log(&log));
    let body = format!(
        "\nBuilding module(s)\n# command: {cmd}\nmake: Entering directory '<ROOT>/inst/{KVER}/build'\n  \
         CC [M]  <ROOT>/dkms/{M}/{V}/build/{M}.o\n  LD [M]  <ROOT>/dkms/{M}/{V}/build/{M}.ko\n\
         make: Leaving directory '<ROOT>/inst/{KVER}/build'\n\n# exit code: 0\n# elapsed time: <ELAPSED>\n{dashes}\n",
        cmd = make_cmd(M, V),
        dashes = "-".repeat(64)
    );
    assert!(log.ends_with(&body), "make.log:\n{log}");
    // make ran twice (build, then build --force), strip once per build.
    let tools = run.tools();
    assert_eq!(tools.lines().filter(|l| l.starts_with("make ")).count(), 2, "{tools}");
    let strip = format!("strip -g <ROOT>/dkms/{M}/{V}/build/{M}.ko");
    assert_eq!(tools.lines().filter(|l| *l == strip).count(), 2, "{tools}");
}

#[test]
fn build_adds_the_module_first_when_needed() {
    let setup = |sb: &Sandbox| {
        world(sb);
        source(sb, M, V, "");
    };
    let run = scenario("build, not added", &setup, &[&kargs("build")]);
    let expected = format!(
        "Creating symlink <ROOT>/dkms/{M}/{V}/source -> <ROOT>/src/{M}-{V}\n\n{NO_SIGNING}Building module(s)... done.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (0, expected.as_str(), ""));
}

#[test]
fn multi_module_package_with_locations_names_and_strip() {
    let conf = "PACKAGE_NAME=\"dkms_multi_test\"\nPACKAGE_VERSION=\"2.1\"\n\
                BUILT_MODULE_NAME[0]=\"zt-one\"\nDEST_MODULE_LOCATION[0]=\"/updates\"\n\
                BUILT_MODULE_NAME[1]=\"zt-two\"\nBUILT_MODULE_LOCATION[1]=\"sub/\"\n\
                DEST_MODULE_NAME[1]=\"zt-two-renamed\"\nDEST_MODULE_LOCATION[1]=\"/kernel/drivers/misc\"\n\
                STRIP[1]=\"no\"\n";
    let setup = |sb: &Sandbox| {
        world(sb);
        let dir = sb.src.join("dkms_multi_test-2.1");
        sb.write(&dir.join("dkms.conf"), conf);
        sb.write(&dir.join("Makefile"), "obj-m := zt-one.o\n");
        sb.write(&dir.join("sub/Makefile"), "obj-m := zt-two.o\n");
        sb.write(&dir.join("sub/zt-two.modinfo"), "version=2.1\n");
    };
    let build: &[&str] = &["build", "dkms_multi_test/2.1", "-k", KVER];
    let run = scenario("multi-module build", &setup, &[build, &["status"]]);
    let expected =
        format!("Creating symlink <ROOT>/dkms/dkms_multi_test/2.1/source -> <ROOT>/src/dkms_multi_test-2.1\n\n{NO_SIGNING}Building module(s)... done.\n");
    assert_eq!(ose(&run.outputs[0]), (0, expected.as_str(), ""));
    assert_eq!(run.outputs[1].stdout, built_line("dkms_multi_test", "2.1"));
    let mdir = run.sb.dkms.join("dkms_multi_test/2.1").join(KVER).join(arch()).join("module");
    let mut names: Vec<String> =
        fs::read_dir(&mdir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["Module.symvers", "zt-one.ko", "zt-two-renamed.ko"]);
    assert_eq!(
        fs::read_to_string(mdir.join("zt-two-renamed.ko")).unwrap(),
        format!("fake module zt-two for {KVER}\nversion=2.1\n")
    );
    // STRIP[1]="no": only zt-one is stripped.
    let strips: Vec<String> = run.tools().lines().filter(|l| l.starts_with("strip ")).map(String::from).collect();
    assert_eq!(strips, ["strip -g <ROOT>/dkms/dkms_multi_test/2.1/build/zt-one.ko"]);
}

#[test]
fn failing_make_exits_10_and_keeps_the_build_dir() {
    let setup = |sb: &Sandbox| {
        plain(sb);
        fail_make(sb, M, V);
    };
    let run = scenario("failing make", &setup, &[&kargs("build"), &["status"]]);
    let a = arch();
    let o = &run.outputs[0];
    let stdout =
        format!("{NO_SIGNING}Building module(s)...(bad exit status: 2)\nFailed command:\n{}\n", make_cmd(M, V));
    let stderr = format!(
        "\nError! Bad return status for module build on kernel: {KVER} ({a})\n\
         Consult <ROOT>/dkms/{M}/{V}/build/make.log for more information.\n"
    );
    assert_eq!(ose(o), (10, stdout.as_str(), stderr.as_str()));
    assert_eq!(o.combined, format!("{stdout}{stderr}"));
    assert_eq!(run.outputs[1].stdout, format!("{M}/{V}: added\n"));
    let vdir = run.sb.dkms.join(M).join(V);
    assert!(!vdir.join(KVER).exists(), "no <k> dir after a failed build");
    let log = fs::read_to_string(vdir.join("build/make.log")).expect("build/make.log is kept");
    assert!(log.contains("make: *** [modules] Error 2\n\n# exit code: 2\n"), "{log}");
    assert!(vdir.join(format!("build/{M}.c")).is_file(), "the build dir is kept for inspection");
}

#[test]
fn make_without_the_module_exits_7() {
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(&sb.src.join(format!("{M}-{V}/Makefile")), "obj-m := zt-other.o\n");
    };
    let run = scenario("no .ko", &setup, &[&kargs("build")]);
    let stderr = format!(
        "\nError! Build of {M}.ko failed for: {KVER} ({a})\n\
         Make sure the name and location of the generated module are correct,\n\
         or consult <ROOT>/dkms/{M}/{V}/build/make.log for more information.\n",
        a = arch()
    );
    let stdout = format!("{NO_SIGNING}Building module(s)... done.\n");
    assert_eq!(ose(&run.outputs[0]), (7, stdout.as_str(), stderr.as_str()));
    assert!(!run.sb.dkms.join(M).join(V).join(KVER).exists());
}

#[test]
fn missing_headers_exit_21() {
    let setup = |sb: &Sandbox| {
        plain(sb);
        fs::remove_dir_all(sb.inst.join(KVER).join("build/include")).unwrap();
    };
    let run = scenario("no headers", &setup, &[&kargs("build")]);
    let stderr = format!(
        "\nError! Your kernel headers for kernel {KVER} cannot be found at <ROOT>/inst/{KVER}/build or <ROOT>/inst/{KVER}/source.\n\
         Please install your distribution's kernel headers package matching {KVER}, or use the --kernelsourcedir option to tell DKMS where it's located.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (21, "", stderr.as_str()));
    assert!(run.sb.dkms.join(M).join(V).join("build").is_dir());
    assert!(!run.sb.dkms.join(M).join(V).join(KVER).exists());
}

#[test]
fn build_exclusive_arch_mismatch_exits_77() {
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, M, V, "BUILD_EXCLUSIVE_ARCH=\"zt-no-such-arch\"\n");
    };
    let run = scenario("BUILD_EXCLUSIVE_ARCH", &setup, &[&kargs("build"), &["status"]]);
    let stderr = format!(
        "Warning: The <ROOT>/dkms/{M}/{V}/{KVER}/{a}/dkms.conf\n\
         for module {M}/{V} includes BUILD_EXCLUSIVE directives\n\
         which do not match this kernel/arch/config for any modules.\n\
         This indicates that it should not be built.\n",
        a = arch()
    );
    assert_eq!(ose(&run.outputs[0]), (77, "", stderr.as_str()));
    assert_eq!(run.outputs[1].stdout, format!("{M}/{V}: added\n"));
    assert_eq!(run.tools(), "", "nothing is run for an excluded module");
}

#[test]
fn missing_patch_exits_5() {
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, M, V, "PATCH[0]=\"fix.patch\"\n");
    };
    let run = scenario("missing patch", &setup, &[&kargs("build")]);
    let stderr = format!(
        "\nError! Patch fix.patch as specified in dkms.conf cannot be\nfound in <ROOT>/dkms/{M}/{V}/build/patches/.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (5, NO_SIGNING, stderr.as_str()));
    assert!(!run.sb.dkms.join(M).join(V).join(KVER).exists());
}

#[test]
fn failing_pre_build_script_propagates_its_status() {
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, M, V, "PRE_BUILD=\"pre.sh arg\"\n");
        write_exec(&sb.src.join(format!("{M}-{V}/pre.sh")), "#!/bin/sh\necho \"pre $*\"\necho oops >&2\nexit 3\n");
    };
    let run = scenario("failing PRE_BUILD", &setup, &[&kargs("build")]);
    let b = format!("<ROOT>/dkms/{M}/{V}/build");
    let stdout = format!(
        "{NO_SIGNING}Running the pre_build script...(bad exit status: 3)\nFailed command:\ncd {b}/ && {b}/pre.sh arg\n\
         Consult {b}/make.log for more information.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (3, stdout.as_str(), ""));
    let log = fs::read_to_string(run.sb.dkms.join(M).join(V).join("build/make.log")).expect("make.log kept");
    assert!(log.contains("\npre arg\noops\n\n# exit code: 3\n"), "{log}");
    assert!(!run.tools().contains("make "), "make does not run after a failed PRE_BUILD");
}

#[test]
fn pre_and_post_build_scripts_run_and_log() {
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, M, V, "PRE_BUILD=\"pre.sh\"\nPOST_BUILD=\"post.sh\"\n");
        write_exec(&sb.src.join(format!("{M}-{V}/pre.sh")), "#!/bin/sh\necho pre ran in \"$PWD\"\n");
        write_exec(&sb.src.join(format!("{M}-{V}/post.sh")), "#!/bin/sh\necho post ran\n");
    };
    let run = scenario("PRE_BUILD and POST_BUILD", &setup, &[&kargs("build")]);
    let stdout = format!(
        "{NO_SIGNING}Running the pre_build script... done.\nBuilding module(s)... done.\nRunning the post_build script... done.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (0, stdout.as_str(), ""));
    let log = fs::read_to_string(run.sb.dkms.join(M).join(V).join(KVER).join(arch()).join("log/make.log")).unwrap();
    let log = run.norm(&log);
    assert!(log.contains(&format!("\npre ran in <ROOT>/dkms/{M}/{V}/build\n")), "{log}");
    assert!(log.contains("\npost ran\n"), "{log}");
}

#[test]
fn signing_prologue_without_a_signing_kernel() {
    // try_sign_modules="true" skips the chroot test, so the kernel config
    // decides: missing, or without CONFIG_MODULE_SIG_HASH.
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(&sb.sysconf.join("dkms/framework.conf"), "try_sign_modules=\"true\"\nparallel_jobs=3\n");
    };
    let run = scenario("config without signing", &setup, &[&kargs("build")]);
    let stdout = "The kernel is built without module signing facility, modules won't be signed\n\n\
                  Building module(s)... done.\n";
    assert_eq!(ose(&run.outputs[0]), (0, stdout, ""));
    let no_config = |sb: &Sandbox| {
        setup(sb);
        fs::remove_file(sb.inst.join(KVER).join("build/.config")).unwrap();
    };
    let run = scenario("no kernel config", &no_config, &[&kargs("build")]);
    let stdout = format!(
        "Kernel config <ROOT>/inst/{KVER}/build/.config not found, modules won't be signed\n\nBuilding module(s)... done.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (0, stdout.as_str(), ""));
}

#[test]
fn unbuild_and_remove_of_a_built_module() {
    let build = kargs("build");
    let steps: [&[&str]; 5] =
        [&build, &kargs("unbuild"), &kargs("unbuild"), &build, &["remove", "-m", M, "-v", V, "--all"]];
    let run = scenario("build, unbuild, build, remove", &plain, &steps);
    let a = arch();
    let o = &run.outputs;
    let not_installed = format!("Module {M}/{V} is not installed for kernel {KVER} ({a}). Skipping...\n");
    assert_eq!(ose(&o[1]), (0, not_installed.as_str(), ""));
    let not_built = format!("Module {M}/{V} is not built for kernel {KVER} ({a}). Skipping...\n");
    assert_eq!(ose(&o[2]), (0, format!("{not_installed}{not_built}").as_str(), ""));
    assert_eq!(
        ose(&o[4]),
        (0, format!("{not_installed}\nDeleting module {M}/{V} completely from the DKMS tree.\n").as_str(), "")
    );
    assert!(!run.sb.dkms.join(M).exists());
}

#[test]
fn patches_from_the_source_and_the_sysconf_overlay() {
    skip_unless!(on_path("patch"), "patch(1) is not on PATH");
    // a.patch ships with the source, b.patch comes from /etc/dkms/<m>/patches.
    let patch = |line: &str, add: &str| format!("--- a/Makefile\n+++ b/Makefile\n@@ -1 +1,2 @@\n {line}\n+{add}\n");
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, M, V, "PATCH[0]=\"a.patch\"\nPATCH[1]=\"b.patch\"\n");
        sb.write(&sb.src.join(format!("{M}-{V}/patches/a.patch")), &patch(&format!("obj-m := {M}.o"), "# a"));
        sb.write(&sb.sysconf.join(format!("dkms/{M}/patches/b.patch")), &patch("# a", "# b"));
    };
    let run = scenario("two patches", &setup, &[&kargs("build")]);
    let stdout = format!(
        "{NO_SIGNING}Applying patch a.patch... done.\nApplying patch b.patch... done.\nBuilding module(s)... done.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (0, stdout.as_str(), ""));
    let log = fs::read_to_string(run.sb.dkms.join(M).join(V).join(KVER).join(arch()).join("log/make.log")).unwrap();
    assert!(
        log.contains("\nApplying patch b.patch\n# command: patch -p1 < ./patches/b.patch\npatching file Makefile\n"),
        "{log}"
    );
    // The source itself is never patched.
    assert_eq!(fs::read_to_string(run.sb.src.join(format!("{M}-{V}/Makefile"))).unwrap(), format!("obj-m := {M}.o\n"));

    // A patch that does not apply: exit 6, the build dir kept.
    let bad = |sb: &Sandbox| {
        setup(sb);
        let hunk = "--- a/Makefile\n+++ b/Makefile\n@@ -1,2 +1,2 @@\n-not there\n-nor this\n+# b\n+# c\n";
        sb.write(&sb.sysconf.join(format!("dkms/{M}/patches/b.patch")), hunk);
    };
    let run = scenario("patch fails", &bad, &[&kargs("build")]);
    let stdout = format!(
        "{NO_SIGNING}Applying patch a.patch... done.\nApplying patch b.patch...(bad exit status: 1)\n\
         Failed command:\npatch -p1 < ./patches/b.patch\n"
    );
    let stderr = format!(
        "\nError! Application of patch b.patch failed.\nConsult <ROOT>/dkms/{M}/{V}/build/make.log for more information.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (6, stdout.as_str(), stderr.as_str()));
    assert!(run.sb.dkms.join(M).join(V).join("build/make.log").is_file());
}

#[test]
fn verbose_kernelsourcedir_and_kernel_arch_argument() {
    const OTHER: &str = "6.1.0-98-amd64";
    let a = arch();
    let ka = format!("{KVER}/{a}");
    // --kernelsourcedir names a path inside each sandbox, so the steps
    // are made per sandbox rather than passed to `scenario`.
    let mut results = Vec::new();
    for which in [Impl::Ours, Impl::Upstream] {
        let mut sb = Sandbox::new();
        if which == Impl::Upstream && sb.upstream().is_none() {
            continue;
        }
        plain(&sb);
        let ksrc = sb.inst.join(KVER).join("build").display().to_string();
        let steps: [&[&str]; 3] = [
            &["build", "-m", M, "-v", V, "-k", &ka, "--verbose"],
            &["build", "-m", M, "-v", V, "-k", OTHER, "--kernelsourcedir", &ksrc],
            &["status"],
        ];
        results.push(steps.iter().map(|s| sb.run_with(which, None, s, true)).collect::<Vec<Output>>());
    }
    for (o, u) in results[0].iter().zip(results.get(1).into_iter().flatten()) {
        assert_same("--verbose, --kernelsourcedir, -k K/A", o, u);
    }
    let o = &results[0];
    let stdout = format!("{NO_SIGNING}{}\n done.\n", make_cmd(M, V));
    assert_eq!(ose(&o[0]), (0, stdout.as_str(), ""), "--verbose echoes the command instead of the description");
    let stdout = format!("{NO_SIGNING}Building module(s)... done.\n");
    assert_eq!(ose(&o[1]), (0, stdout.as_str(), ""));
    assert_eq!(o[2].stdout, format!("{M}/{V}, {OTHER}, {a}: built\n{M}/{V}, {KVER}, {a}: built\n"));
}

#[test]
fn make_and_make_match_from_dkms_conf() {
    let setup = |sb: &Sandbox| {
        world(sb);
        // MAKE[0] for other kernels; MAKE[1] for 6.1 kernels (not starting
        // with "make", so no -j and KERNELRELEASE are inserted).
        added(
            sb,
            M,
            V,
            "MAKE[0]=\"make -C never KERNELRELEASE=$kernelver\"\nMAKE_MATCH[1]=\"^6\\.1\"\n\
             MAKE[1]=\"env FOO=1 make KVER=$kernelver M=$dkms_tree/$module/$module_version/build\"\n",
        );
    };
    let run = scenario("MAKE_MATCH", &setup, &[&kargs("build")]);
    assert_eq!(run.outputs[0].code, 0, "{}", run.outputs[0].stderr);
    let tools = run.tools();
    assert_eq!(
        tools,
        format!("make KVER={KVER} M=<ROOT>/dkms/{M}/{V}/build\nstrip -g <ROOT>/dkms/{M}/{V}/build/{M}.ko\n")
    );
}

#[test]
fn missing_build_depends_exits_13_unless_forced() {
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, M, V, "BUILD_DEPENDS=\"dkms_dep_test\"\n");
    };
    let build = kargs("build");
    let force: Vec<&str> = build.iter().copied().chain(["--force"]).collect();
    let run = scenario("missing BUILD_DEPENDS", &setup, &[&build, &force]);
    let a = arch();
    let stderr = format!(
        "\nError! Aborting build of module {M}/{V} for kernel {KVER} ({a}) due to missing BUILD_DEPENDS: dkms_dep_test.\n\
         You may override by specifying --force.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (13, NO_SIGNING, stderr.as_str()));
    let stderr = format!(
        "Warning: Trying to build module {M}/{V} for kernel {KVER} ({a}) despite of missing BUILD_DEPENDS: dkms_dep_test.\n"
    );
    let stdout = format!("{NO_SIGNING}Building module(s)... done.\n");
    assert_eq!(ose(&run.outputs[1]), (0, stdout.as_str(), stderr.as_str()));
    assert_eq!(run.outputs[1].combined, format!("{NO_SIGNING}{stderr}Building module(s)... done.\n"));
}

#[test]
fn leftovers_of_an_interrupted_build() {
    // <k>/<arch> without module/ is not "built", yet blocks a new build
    // (exit 3); remove --all finds no built kernel, so it only clears the
    // .tmp_* dirs: the leftover needs a manual rm, as upstream.
    let setup = |sb: &Sandbox| {
        plain(sb);
        let kdir = sb.dkms.join(M).join(V).join(KVER);
        fs::create_dir_all(kdir.join(arch()).join("log")).unwrap();
        fs::create_dir_all(kdir.join(format!(".tmp_{}_Ab12Cd/module", arch()))).unwrap();
    };
    let steps: [&[&str]; 4] = [&["status"], &kargs("build"), &["remove", "-m", M, "-v", V, "--all"], &kargs("build")];
    let run = scenario("half-built", &setup, &steps);
    let o = &run.outputs;
    assert_eq!(o[0].stdout, format!("{M}/{V}: added\n"));
    let stderr = format!(
        "\nError! This module/version has already been built on: {KVER}\n\
         Directory <ROOT>/dkms/{M}/{V}/{KVER}/{a} already exists. Use the dkms remove function before trying to build again.\n",
        a = arch()
    );
    assert_eq!(ose(&o[1]), (3, "", stderr.as_str()));
    assert_eq!(ose(&o[2]), (0, "", ""));
    assert_eq!(tmp_dirs(&run.sb.dkms), Vec::<PathBuf>::new(), "remove cleans .tmp_* dirs");
    assert_eq!(ose(&o[3]), (3, "", stderr.as_str()));
    assert!(run.sb.dkms.join(M).join(V).join(KVER).join(arch()).join("log").is_dir());
}

// ---------------------------------------------------------------- install (root)

#[test]
fn install_status_uninstall_with_an_original_module() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install/uninstall)");
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(&sb.inst.join(KVER).join(format!("kernel/extra/{M}.ko")), "the distribution's module\n");
    };
    let install = kargs("install");
    let uninstall = kargs("uninstall");
    let steps: [&[&str]; 7] =
        [&install, &["status"], &install, &uninstall, &["status"], &install, &["remove", "-m", M, "-v", V, "--all"]];
    let run = scenario("install, uninstall, remove --all", &setup, &steps);
    let o = &run.outputs;
    let a = arch();
    let dest = format!("<ROOT>/inst/{KVER}{}/{M}.ko", dest_dir("/updates"));
    let orig = format!("<ROOT>/inst/{KVER}/kernel/extra/{M}.ko");
    let installed = format!(
        "Found pre-existing {orig}, archiving for uninstallation\nInstalling {dest}\nRunning depmod... done.\n"
    );
    assert_eq!(ose(&o[0]), (0, format!("{NO_SIGNING}Building module(s)... done.\n{installed}").as_str(), ""));
    assert_eq!(ose(&o[1]), (0, format!("{M}/{V}, {KVER}, {a}: installed (Original modules exist)\n").as_str(), ""));
    let skip = format!(
        "Module {M}/{V} already installed on kernel {KVER} ({a}), skip. You may override by specifying --force.\n"
    );
    assert_eq!(ose(&o[2]), (0, skip.as_str(), ""));
    let uninstalled = format!(
        "Module {M}/{V} for kernel {KVER} ({a}):\nBefore uninstall, this module version was ACTIVE on this kernel.\n\
         Deleting {dest}\nRestoring archived original module {orig}\nRunning depmod... done.\n"
    );
    assert_eq!(ose(&o[3]), (0, uninstalled.as_str(), ""));
    assert_eq!(o[4].stdout, built_line(M, V));
    assert_eq!(ose(&o[5]), (0, installed.as_str(), ""));
    let removed = format!("{uninstalled}\nDeleting module {M}/{V} completely from the DKMS tree.\n");
    assert_eq!(ose(&o[6]), (0, removed.as_str(), ""));
    // Everything of ours is gone, the original is back in place.
    assert!(!run.sb.dkms.join(M).exists(), "remove --all leaves nothing of {M}");
    assert_eq!(
        fs::read_to_string(run.sb.inst.join(KVER).join(format!("kernel/extra/{M}.ko"))).unwrap(),
        "the distribution's module\n"
    );
    assert!(!run.sb.inst.join(KVER).join("updates").exists(), "empty destination dirs are removed");
    // No modules.dep: depmod itself never ran.
    assert!(!run.tools().contains("depmod"), "{}", run.tools());
}

#[test]
fn install_links_and_copies() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let run = scenario("install", &plain, &[&kargs("build"), &kargs("install")]);
    let a = arch();
    let dest = format!("<ROOT>/inst/{KVER}{}/{M}.ko", dest_dir("/updates"));
    assert_eq!(ose(&run.outputs[1]), (0, format!("Installing {dest}\nRunning depmod... done.\n").as_str(), ""));
    let link = run.sb.dkms.join(M).join(format!("kernel-{KVER}-{a}"));
    assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from(format!("{V}/{KVER}/{a}")), "relative active link");
    let built = run.sb.dkms.join(M).join(V).join(KVER).join(a).join(format!("module/{M}.ko"));
    let inst = run.sb.root.join(dest.trim_start_matches("<ROOT>/"));
    assert_eq!(fs::read(built).unwrap(), fs::read(inst).unwrap(), "the installed copy is the built module");
    assert!(!run.sb.dkms.join(M).join("original_module").exists());
}

#[test]
fn install_runs_depmod_when_modules_dep_exists() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(&sb.inst.join(KVER).join("modules.dep"), "kernel/fake.ko:\n");
    };
    let run = scenario("install with modules.dep", &setup, &[&kargs("install"), &kargs("uninstall")]);
    assert_eq!(run.outputs[0].code, 0);
    let tools = run.tools();
    assert_eq!(tools.lines().filter(|l| l.starts_with("depmod ")).count(), 2, "{tools}");
    assert!(run.tools().contains(&format!("depmod -a {KVER}\n")), "{}", run.tools());
}

#[test]
fn install_onto_a_missing_kernel_exits_6() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.build_module(M, V, "6.1.0-98-amd64", arch(), &[M]);
    };
    let k = "6.1.0-98-amd64";
    let run = scenario("install, no kernel dir", &setup, &[&["install", "-m", M, "-v", V, "-k", k]]);
    let stderr = format!(
        "\nError! The directory <ROOT>/inst/{k} doesn't exist.\nYou cannot install a module onto a non-existent kernel.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (6, "", stderr.as_str()));
}

#[test]
fn installing_an_older_version_is_refused() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(
            &sb.inst.join(KVER).join(format!("kernel/drivers/{M}.ko")),
            "in tree\nversion=2.0\nsrcversion=KERNEL\n",
        );
    };
    let run = scenario("older than the kernel's", &setup, &[&kargs("install"), &["status"]]);
    let stderr = format!(
        "\nError! Module version {V} for {M}.ko\nis not newer than what is already found in kernel {KVER} (2.0).\n\
         You may override by specifying --force.\n\nError! Installation aborted.\n"
    );
    let stdout = format!("{NO_SIGNING}Building module(s)... done.\n");
    assert_eq!(ose(&run.outputs[0]), (6, stdout.as_str(), stderr.as_str()));
    assert_eq!(run.outputs[1].stdout, built_line(M, V));
}

#[test]
fn install_compressed_or_as_symlinks() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    // A .ko.xz anywhere in the kernel's tree makes dkms compress with xz.
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(&sb.inst.join(KVER).join("kernel/fs/other.ko.xz"), "x\n");
    };
    if on_path("xz") {
        let run = scenario("compressed", &setup, &[&kargs("install"), &["status"]]);
        let dest = format!("<ROOT>/inst/{KVER}{}/{M}.ko.xz", dest_dir("/updates"));
        let stdout = format!("{NO_SIGNING}Building module(s)... done.\nInstalling {dest}\nRunning depmod... done.\n");
        assert_eq!(ose(&run.outputs[0]), (0, stdout.as_str(), ""));
        assert_eq!(run.outputs[1].stdout, format!("{M}/{V}, {KVER}, {}: installed\n", arch()));
        let built = run.sb.dkms.join(M).join(V).join(KVER).join(arch()).join(format!("module/{M}.ko.xz"));
        assert!(fs::read(built).unwrap().starts_with(b"\xfd7zXZ"), "an xz file");
    } else {
        skip_part("the compressed install", "xz is not on PATH");
    }

    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(&sb.sysconf.join("dkms/framework.conf"), &format!("{FRAMEWORK}symlink_modules=\"yes\"\n"));
    };
    let run = scenario("symlink_modules", &setup, &[&kargs("install"), &kargs("uninstall")]);
    assert_eq!(run.outputs[0].code, 0);
    // The listing compared with upstream's shows the link; check it here too.
    let link = run.sb.inst.join(KVER).join(format!("{}/{M}.ko", dest_dir("/updates").trim_start_matches('/')));
    assert!(!link.exists() && fs::symlink_metadata(&link).is_err(), "uninstall removed the link");
    let mut sb = Sandbox::new();
    setup(&sb);
    assert_eq!(sb.dkms(&kargs("install")).code, 0);
    let target = run.sb.dkms.join(M).join(V).join(KVER).join(arch()).join(format!("module/{M}.ko"));
    let link = sb.inst.join(KVER).join(format!("{}/{M}.ko", dest_dir("/updates").trim_start_matches('/')));
    let got = fs::read_link(&link).expect("installed as a symlink");
    assert_eq!(got, sb.root.join(target.strip_prefix(&run.sb.root).unwrap()));
}

#[test]
fn a_second_version_takes_over_and_an_older_one_is_refused() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let setup = |sb: &Sandbox| {
        plain(sb);
        added(sb, M, "2.0", "");
    };
    let inst = |v: &'static str| -> Vec<&'static str> { vec!["install", "-m", M, "-v", v, "-k", KVER] };
    let i1 = inst(V);
    let i2 = inst("2.0");
    let f1: Vec<&str> = i1.iter().copied().chain(["--force"]).collect();
    let steps: [&[&str]; 5] = [&i1, &i2, &["status"], &i1, &f1];
    let run = scenario("two versions", &setup, &steps);
    let o = &run.outputs;
    let a = arch();
    let dest = format!("<ROOT>/inst/{KVER}{}/{M}.ko", dest_dir("/updates"));
    let fresh = format!("{NO_SIGNING}Building module(s)... done.\nInstalling {dest}\nRunning depmod... done.\n");
    assert_eq!(ose(&o[0]), (0, fresh.as_str(), ""));
    assert_eq!(ose(&o[1]), (0, fresh.as_str(), ""), "2.0 replaces 1.0 without archiving it");
    assert_eq!(o[2].stdout, format!("{M}/{V}, {KVER}, {a}: built\n{M}/2.0, {KVER}, {a}: installed\n"));
    let stderr = format!(
        "\nError! Module version {V} for {M}.ko\nis not newer than what is already found in kernel {KVER} (2.0).\n\
         You may override by specifying --force.\n\nError! Installation aborted.\n"
    );
    assert_eq!(ose(&o[3]), (6, "", stderr.as_str()));
    assert_eq!(ose(&o[4]), (0, format!("Installing {dest}\nRunning depmod... done.\n").as_str(), ""));
    let link = run.sb.dkms.join(M).join(format!("kernel-{KVER}-{a}"));
    assert_eq!(fs::read_link(link).unwrap(), PathBuf::from(format!("{V}/{KVER}/{a}")));
}

#[test]
fn pre_install_failure_exits_101_and_post_install_runs() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, M, V, "PRE_INSTALL=\"pre.sh\"\nPOST_INSTALL=\"post.sh a b\"\n");
        write_exec(&sb.src.join(format!("{M}-{V}/pre.sh")), "#!/bin/sh\necho pre here\nexit 4\n");
        write_exec(&sb.src.join(format!("{M}-{V}/post.sh")), "#!/bin/sh\necho \"post $*\"\n");
    };
    let install = kargs("install");
    let force: Vec<&str> = install.iter().copied().chain(["--force"]).collect();
    let run = scenario("PRE_INSTALL, POST_INSTALL", &setup, &[&install, &force]);
    let stdout = format!("{NO_SIGNING}Building module(s)... done.\nRunning the pre_install script:\npre here\n");
    let stderr = "\nError! pre_install failed, aborting install.\nYou may override by specifying --force.\n";
    assert_eq!(ose(&run.outputs[0]), (101, stdout.as_str(), stderr));
    let dest = format!("<ROOT>/inst/{KVER}{}/{M}.ko", dest_dir("/updates"));
    let stdout = format!(
        "Running the pre_install script:\npre here\nInstalling {dest}\nRunning the post_install script:\npost a b\n\
         Running depmod... done.\n"
    );
    assert_eq!(ose(&run.outputs[1]), (0, stdout.as_str(), ""));
}

#[test]
fn kernel_postinst_and_preinst_follow_autoinstall() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses kernel_postinst/kernel_preinst)");
    // dkms_b_test is built by hand and has AUTOINSTALL="": autoinstall
    // leaves it alone, and so does kernel_preinst.
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, "dkms_a_test", "1.0", "");
        added(sb, "dkms_b_test", "2.0", "AUTOINSTALL=\"\"\n");
    };
    let steps: [&[&str]; 4] = [
        &["build", "-m", "dkms_b_test", "-v", "2.0", "-k", KVER],
        &["kernel_postinst", "-k", KVER],
        &["kernel_preinst", "-k", KVER],
        &["status"],
    ];
    let run = scenario("kernel_postinst, kernel_preinst", &setup, &steps);
    let o = &run.outputs;
    let a = arch();
    let stdout = format!(
        "{NO_SIGNING}{}Autoinstall on {KVER} succeeded for module(s) dkms_a_test.\n",
        autoinstalled("dkms_a_test", "1.0")
    );
    assert_eq!(ose(&o[1]), (0, stdout.as_str(), ""));
    let d = dest_dir("/updates");
    let stdout = format!(
        "Module dkms_a_test/1.0 for kernel {KVER} ({a}):\nBefore uninstall, this module version was ACTIVE on this kernel.\n\
         Deleting <ROOT>/inst/{KVER}{d}/dkms_a_test.ko\nRunning depmod... done.\n"
    );
    let stderr = format!("dkms: removing module dkms_a_test/1.0 for kernel {KVER} ({a})\n");
    assert_eq!(ose(&o[2]), (0, stdout.as_str(), stderr.as_str()));
    assert_eq!(o[3].stdout, format!("dkms_a_test/1.0: added\ndkms_b_test/2.0, {KVER}, {a}: built\n"));
}

// ---------------------------------------------------------------- autoinstall, kernel_* (root)

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

#[test]
fn autoinstall_follows_build_depends() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses autoinstall)");
    let run = scenario("autoinstall", &two_modules, &[&["autoinstall", "-k", KVER], &["status"]]);
    let stdout = format!(
        "{NO_SIGNING}{}{}Autoinstall on {KVER} succeeded for module(s) dkms_b_test dkms_a_test.\n",
        autoinstalled("dkms_b_test", "2.0"),
        autoinstalled("dkms_a_test", "1.0")
    );
    assert_eq!(ose(&run.outputs[0]), (0, stdout.as_str(), ""));
    let a = arch();
    assert_eq!(
        run.outputs[1].stdout,
        format!("dkms_a_test/1.0, {KVER}, {a}: installed\ndkms_b_test/2.0, {KVER}, {a}: installed\n")
    );
}

#[test]
fn autoinstall_with_a_failing_module_exits_11() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses autoinstall)");
    let setup = |sb: &Sandbox| {
        world(sb);
        added(sb, "dkms_a_test", "1.0", "");
        added(sb, "dkms_b_test", "2.0", "");
        fail_make(sb, "dkms_a_test", "1.0");
    };
    let run = scenario("autoinstall, dkms_a_test fails", &setup, &[&["autoinstall", "-k", KVER]]);
    let a = arch();
    let stdout = format!(
        "{NO_SIGNING}Autoinstall of module dkms_a_test/1.0 for kernel {KVER} ({a})\nBuilding module(s)...(bad exit status: 2)\n\
         Failed command:\n{}\n\n{}Autoinstall on {KVER} succeeded for module(s) dkms_b_test.\n\
         Autoinstall on {KVER} failed for module(s) dkms_a_test(10).\n",
        make_cmd("dkms_a_test", "1.0"),
        autoinstalled("dkms_b_test", "2.0")
    );
    let stderr = format!(
        "\nError! Bad return status for module build on kernel: {KVER} ({a})\n\
         Consult <ROOT>/dkms/dkms_a_test/1.0/build/make.log for more information.\n\
         \nError! One or more modules failed to install during autoinstall.\nRefer to previous errors for more information.\n"
    );
    assert_eq!(ose(&run.outputs[0]), (11, stdout.as_str(), stderr.as_str()));

    // The dependency fails: the dependent one is reported unresolved.
    let setup = |sb: &Sandbox| {
        two_modules(sb);
        fail_make(sb, "dkms_b_test", "2.0");
    };
    let run = scenario("autoinstall, dependency fails", &setup, &[&["autoinstall", "-k", KVER]]);
    let o = &run.outputs[0];
    assert_eq!(o.code, 11);
    assert!(
        o.stdout.ends_with(&format!(
            "Autoinstall on {KVER} failed for module(s) dkms_b_test(10).\ndkms_a_test/1.0 autoinstall failed due to missing dependencies: dkms_b_test.\n"
        )),
        "{}",
        o.stdout
    );
}

#[test]
fn kernel_prerm_unbuilds_everything_for_the_kernel() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses kernel_prerm)");
    let steps: [&[&str]; 3] = [&["autoinstall", "-k", KVER], &["kernel_prerm", "-k", KVER], &["status"]];
    let run = scenario("autoinstall, kernel_prerm", &two_modules, &steps);
    let a = arch();
    let o = &run.outputs[1];
    let d = dest_dir("/updates");
    let unbuilt = |m: &str, v: &str| {
        format!(
            "Module {m}/{v} for kernel {KVER} ({a}):\nBefore uninstall, this module version was ACTIVE on this kernel.\n\
             Deleting <ROOT>/inst/{KVER}{d}/{m}.ko\n\n"
        )
    };
    let stdout = format!("{}{}Running depmod... done.\n", unbuilt("dkms_a_test", "1.0"), unbuilt("dkms_b_test", "2.0"));
    let stderr = format!(
        "dkms: removing module dkms_a_test/1.0 for kernel {KVER} ({a})\ndkms: removing module dkms_b_test/2.0 for kernel {KVER} ({a})\n"
    );
    assert_eq!(ose(o), (0, stdout.as_str(), stderr.as_str()));
    assert!(o.combined.starts_with(&format!(
        "dkms: removing module dkms_a_test/1.0 for kernel {KVER} ({a})\nModule dkms_a_test/1.0"
    )));
    assert_eq!(run.outputs[2].stdout, "dkms_a_test/1.0: added\ndkms_b_test/2.0: added\n");
    assert!(!run.sb.dkms.join("dkms_a_test/1.0").join(KVER).exists());
    assert!(!run.sb.dkms.join("dkms_a_test").join(format!("kernel-{KVER}-{a}")).exists());
    assert!(run.sb.inst.join(KVER).join("build/include").is_dir(), "the headers stay");
}

#[test]
fn post_transaction_runs_after_install_and_remove() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses install)");
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.write(
            &sb.sysconf.join("dkms/framework.conf"),
            &format!("{FRAMEWORK}post_transaction=\"echo transaction done\"\n"),
        );
    };
    let steps: [&[&str]; 3] = [&kargs("build"), &kargs("install"), &["remove", "-m", M, "-v", V, "--all"]];
    let run = scenario("post_transaction", &setup, &steps);
    let o = &run.outputs;
    let post = "Executing post-transaction command... done.\n";
    assert_eq!(ose(&o[0]), (0, format!("{NO_SIGNING}Building module(s)... done.\n").as_str(), ""), "not after build");
    assert!(o[1].stdout.ends_with(&format!("Running depmod... done.\n{post}")), "{}", o[1].stdout);
    assert!(o[2].stdout.ends_with(&format!("completely from the DKMS tree.\n{post}")), "{}", o[2].stdout);
    let log = fs::read_to_string(run.sb.dkms.join("post_transaction.log")).expect("post_transaction.log");
    assert!(
        log.starts_with(
            "\nExecuting post-transaction command\n# command: echo transaction done\ntransaction done\n\n# exit code: 0\n"
        ),
        "{log}"
    );
}

#[test]
fn root_only_actions_refuse_other_users() {
    // As root, the runs are made as nobody.
    let setup = |sb: &Sandbox| {
        plain(sb);
        sb.build_module(M, V, KVER, arch(), &[M]);
        sb.as_other_user();
    };
    for args in [
        kargs("install"),
        kargs("uninstall"),
        vec!["autoinstall", "-k", KVER],
        vec!["kernel_prerm", "-k", KVER],
        vec!["kernel_postinst", "-k", KVER],
    ] {
        let run = scenario(&format!("{args:?} as non-root"), &setup, &[&args]);
        assert_eq!(ose(&run.outputs[0]), (1, "", "\nError! You must be root to use this command.\n"), "{args:?}");
    }
}

// ---------------------------------------------------------------- parallel autoinstall (root)

/// Three independent modules and one that depends on the first; make takes
/// a second and notes when it ran and the MAKEFLAGS it got.
fn four_modules_slow_make(sb: &Sandbox) {
    world(sb);
    let jobs = sb.root.join("jobs.log").display().to_string();
    let make = FAKE_MAKE.replace("@LOG@", &tool_log(sb).display().to_string()).replacen(
        "#!/bin/sh\n",
        &format!("#!/bin/sh\necho \"start $(date +%s.%N) ${{MAKEFLAGS:-none}}\" >> {jobs}\nsleep 1\n"),
        1,
    ) + &format!("echo \"end $(date +%s.%N)\" >> {jobs}\n");
    write_exec(&sb.bin.join("make"), &make);
    for m in ["dkms_a_test", "dkms_b_test", "dkms_c_test"] {
        added(sb, m, "1.0", "");
    }
    added(sb, "dkms_d_test", "1.0", "BUILD_DEPENDS=\"dkms_a_test\"\n");
    // depmod runs (and is recorded) only where modules.dep exists.
    sb.write(&sb.inst.join(KVER).join("modules.dep"), "");
}

/// (start, end) of every make run, and the MAKEFLAGS each got.
fn make_runs(sb: &Sandbox) -> (Vec<(f64, f64)>, Vec<String>) {
    let text = fs::read_to_string(sb.root.join("jobs.log")).unwrap_or_default();
    let (mut starts, mut ends, mut flags) = (Vec::new(), Vec::new(), Vec::new());
    for l in text.lines() {
        let mut w = l.splitn(3, ' ');
        match (w.next(), w.next().and_then(|t| t.parse::<f64>().ok())) {
            (Some("start"), Some(t)) => {
                starts.push(t);
                flags.push(w.next().unwrap_or_default().to_string());
            }
            (Some("end"), Some(t)) => ends.push(t),
            _ => {}
        }
    }
    starts.sort_by(f64::total_cmp);
    ends.sort_by(f64::total_cmp);
    (starts.into_iter().zip(ends).collect(), flags)
}

/// The most builds that ran at the same moment.
fn most_at_once(runs: &[(f64, f64)]) -> usize {
    runs.iter().map(|(s, _)| runs.iter().filter(|(s2, e2)| s2 <= s && s < e2).count()).max().unwrap_or(0)
}

#[test]
fn autoinstall_builds_side_by_side_under_one_jobserver() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses autoinstall)");
    let run =
        scenario("autoinstall, four modules", &four_modules_slow_make, &[&["autoinstall", "-k", KVER], &["status"]]);
    // The output is upstream's (checked by scenario), in upstream's order.
    let stdout = format!(
        "{NO_SIGNING}{}{}{}{}Autoinstall on {KVER} succeeded for module(s) dkms_a_test dkms_b_test dkms_c_test dkms_d_test.\n",
        autoinstalled("dkms_a_test", "1.0"),
        autoinstalled("dkms_b_test", "1.0"),
        autoinstalled("dkms_c_test", "1.0"),
        autoinstalled("dkms_d_test", "1.0"),
    );
    assert_eq!(ose(&run.outputs[0]), (0, stdout.as_str(), ""));
    let (runs, flags) = make_runs(&run.sb);
    assert_eq!(runs.len(), 4, "{runs:?}");
    // parallel_jobs=3: three independent builds at once, never more; make
    // gets the jobserver instead of -j3.
    assert_eq!(most_at_once(&runs), 3, "{runs:?}");
    assert!(flags.iter().all(|f| f.contains("--jobserver-auth=")), "{flags:?}");
    let tools = fs::read_to_string(tool_log(&run.sb)).unwrap_or_default();
    assert!(!tools.contains("make -j"), "{tools}");
    // One depmod for the kernel, not one per module.
    assert_eq!(tools.lines().filter(|l| l.starts_with("depmod")).count(), 1, "{tools}");
    assert!(!run.sb.dkms.join(".journal.d").exists(), "journals finished");
}

#[test]
fn autoinstall_with_parallel_jobs_1_builds_one_at_a_time() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses autoinstall)");
    let mut sb = Sandbox::new();
    four_modules_slow_make(&sb);
    let o = sb.run(Impl::Ours, &["autoinstall", "-k", KVER, "-j", "1"]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let (runs, flags) = make_runs(&sb);
    assert_eq!(most_at_once(&runs), 1, "{runs:?}");
    assert!(flags.iter().all(|f| f == "none"), "{flags:?}");
    let tools = fs::read_to_string(tool_log(&sb)).unwrap_or_default();
    assert_eq!(tools.lines().filter(|l| l.starts_with("make -j1 ")).count(), 4, "{tools}");
}

#[test]
fn a_failed_background_build_stops_only_its_dependants() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses autoinstall)");
    let setup = |sb: &Sandbox| {
        four_modules_slow_make(sb);
        fail_make(sb, "dkms_a_test", "1.0");
    };
    let run = scenario("autoinstall, first of four fails", &setup, &[&["autoinstall", "-k", KVER], &["status"]]);
    let o = &run.outputs[0];
    assert_eq!(o.code, 11);
    assert!(
        o.stdout.ends_with(&format!(
            "Autoinstall on {KVER} succeeded for module(s) dkms_b_test dkms_c_test.\n\
             Autoinstall on {KVER} failed for module(s) dkms_a_test(10).\n\
             dkms_d_test/1.0 autoinstall failed due to missing dependencies: dkms_a_test.\n"
        )),
        "{}",
        o.stdout
    );
    let (_, flags) = make_runs(&run.sb);
    assert_eq!(flags.len(), 3, "dkms_d_test is never built: {flags:?}");
}

#[test]
fn autoinstall_on_several_kernels_is_each_kernel_in_turn() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses autoinstall)");
    const K2: &str = "6.1.0-98-amd64";
    let setup = |sb: &Sandbox| {
        two_modules(sb);
        headers(sb, K2);
        sb.write(&sb.inst.join("6.1.0-97-noheaders/kernel/x.ko"), "");
    };
    // Ours in one run, for two kernels named with -k, and with --all-kernels
    // (the kernel without headers is left out; the older kernel goes first).
    let mut ours = Sandbox::new();
    setup(&ours);
    let both = ours.run_with(Impl::Ours, None, &["autoinstall", "-k", K2, "-k", KVER], true);
    let mut all = Sandbox::new();
    setup(&all);
    let every = all.run_with(Impl::Ours, None, &["autoinstall", "--all-kernels"], true);
    assert_eq!(both.code, 0, "{}{}", both.stdout, both.stderr);
    assert_eq!(every, both);
    assert_eq!(all.listing(), ours.listing());
    let a = arch();
    let status = ours.run_with(Impl::Ours, None, &["status"], true);
    assert_eq!(
        status.stdout,
        format!(
            "dkms_a_test/1.0, {K2}, {a}: installed\ndkms_a_test/1.0, {KVER}, {a}: installed\n\
             dkms_b_test/2.0, {K2}, {a}: installed\ndkms_b_test/2.0, {KVER}, {a}: installed\n"
        )
    );
    // The same as upstream run once per kernel.
    if upstream_source().is_some() {
        let mut up = Sandbox::new();
        up.upstream().expect("upstream");
        setup(&up);
        let first = up.run_with(Impl::Upstream, None, &["autoinstall", "-k", K2], true);
        let second = up.run_with(Impl::Upstream, None, &["autoinstall", "-k", KVER], true);
        assert_eq!(both.stdout, format!("{}{}", first.stdout, second.stdout));
        assert_eq!(both.stderr, format!("{}{}", first.stderr, second.stderr));
        assert_eq!(ours.listing(), up.listing());
    }
    // The same kernel twice is refused, as upstream refuses any repetition.
    let twice = ours.run_with(Impl::Ours, None, &["autoinstall", "-k", KVER, "-k", KVER], true);
    assert_eq!(twice.code, 4, "{}", twice.stderr);
}

#[test]
fn autoinstall_run_by_make_joins_its_jobserver() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses autoinstall)");
    skip_unless!(Path::new("/usr/bin/make").is_file(), "/usr/bin/make is not installed");
    let mut sb = Sandbox::new();
    four_modules_slow_make(&sb);
    // `make -j2` runs dkms from a recipe marked recursive (`+`), so dkms
    // gets make's jobserver: two jobs in all, not parallel_jobs=3 more.
    let ours = crate::support::ours().display().to_string();
    let recipe = format!("\t+@'{ours}' autoinstall -k {KVER} {}\n", sb.tree_args().join(" "));
    let makefile = sb.root.join("outer.mk");
    sb.write(&makefile, &format!("all:\n{recipe}"));
    let mk = makefile.display().to_string();
    let o = sb.run_with(Impl::Ours, Some(Path::new("/usr/bin/make")), &["-s", "-j2", "-f", &mk], false);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("succeeded for module(s) dkms_a_test dkms_b_test dkms_c_test dkms_d_test"),
        "{}",
        o.stdout
    );
    let (runs, flags) = make_runs(&sb);
    assert_eq!(runs.len(), 4, "{runs:?}");
    assert_eq!(most_at_once(&runs), 2, "{runs:?}");
    assert!(flags.iter().all(|f| f.contains("--jobserver-auth=")), "{flags:?}");
}

#[test]
fn parallel_autoinstall_in_json_keeps_records_in_upstream_order() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses autoinstall)");
    let mut sb = Sandbox::new();
    four_modules_slow_make(&sb);
    let o = sb.run_with(Impl::Ours, None, &["autoinstall", "--json", "-k", KVER], true);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let records: Vec<serde_json::Value> =
        o.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let seen: Vec<String> = records
        .iter()
        .map(|r| format!("{} {}", r["type"].as_str().unwrap_or("?"), r["module"].as_str().unwrap_or("")))
        .collect();
    let want: Vec<String> = ["dkms_a_test", "dkms_b_test", "dkms_c_test", "dkms_d_test"]
        .iter()
        .flat_map(|m| [format!("built {m}"), format!("installed {m}")])
        .chain(["result ".to_string()])
        .collect();
    assert_eq!(seen, want, "{}", o.stdout);
    // The human text went to stderr, in upstream's order too.
    assert!(o.stderr.contains(&autoinstalled("dkms_c_test", "1.0")), "{}", o.stderr);
}
