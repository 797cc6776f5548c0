//! Differential test of dkms.conf evaluation: every real dkms.conf of
//! `reference/dkms-conf-corpus/`, every dkms.conf of upstream's test suite
//! and a few synthetic ones (CRLF, sparse arrays, second expansion, the
//! /etc/dkms override chain) are evaluated by our `conf::read` and by an
//! oracle script made of upstream's own `safe_source` and `read_conf` code,
//! for several kernels; the whitelisted variables must agree index by index.
//! Without ../shared (the corpus and upstream's code) these tests are
//! reported skipped, and fail under `CI=true`.

// Tests run programs and read the environment directly: the funnels of
// clippy.toml are rules for the product, not for the code that drives it.
#![allow(clippy::disallowed_methods)]

use dkms_state::conf::{self, Spec};
use dkms_state::shell::Array;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "corpus/oracle.rs"]
mod oracle;
/// The skip reporting shared with the `cli` tests (ledger, CI rule).
#[path = "../../../tests/cli/skip.rs"]
mod skip;
use oracle::*;
use skip::skip_unless;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The synthetic confs: what the corpus may not exercise.
fn synthetic(dir: &Path, conf_dir: &Path) -> Vec<(String, PathBuf)> {
    let files: [(&str, &str); 8] = [
        (
            "crlf",
            "PACKAGE_NAME=\"zt-crlf\"\r\nPACKAGE_VERSION=\"1.0\"\r\nBUILT_MODULE_NAME[0]=\"zt\"\r\n\
             DEST_MODULE_LOCATION[0]=\"/updates\"\r\nMAKE[0]=\"make KVER=$kernelver\"\r\nAUTOINSTALL=yes\r\n",
        ),
        (
            "sparse",
            "PACKAGE_NAME=zt-sparse\nPACKAGE_VERSION=2.0\nBUILT_MODULE_NAME[1]=one\nBUILT_MODULE_NAME[3]=three\n\
             DEST_MODULE_LOCATION[3]=/kernel/extra\nSTRIP[7]=no\nPATCH=(a.patch b.patch)\nPATCH_MATCH[1]='^6\\.'\n",
        ),
        (
            "second-expansion",
            // A literal $x survives the first sourcing and is expanded by the
            // write-back (where x is gone); quotes inside values are re-parsed
            // (here into a bash error); blanks collapse.
            "x=expanded\nPACKAGE_NAME='zt-$x'\nPACKAGE_VERSION='v-$kernelver'\nPRE_BUILD='configure --with \"a  b\" $kernelver'\n\
             POST_BUILD=\"tab\there\"\nMAKE[0]='make \\$HOME_NOT_SET'\nCLEAN=\"\\`true\\`\"\n",
        ),
        (
            "kernel-conditionals",
            "PACKAGE_NAME=zt-cond\nPACKAGE_VERSION=1.0\nif [[ $kernelver == 6.* ]]; then MAKE[0]=\"make new\"; else MAKE[0]=\"make old\"; fi\n\
             MAKE[1]=\"make match\"\nMAKE_MATCH[1]='^4\\.'\ncase $arch in x86_64) STRIP=no;; *) STRIP=yes;; esac\n\
             [ -f \"$kernel_source_dir/.config\" ] && . \"$kernel_source_dir/.config\"\n\
             [ \"$CONFIG_ZT\" = y ] && BUILD_EXCLUSIVE_CONFIG=\"CONFIG_ZT\"\nBUILT_MODULE_NAME[0]=\"m-${kernelver%%-*}\"\n\
             DEST_MODULE_LOCATION[0]=/extra\n",
        ),
        (
            "noise-and-functions",
            "echo to-stdout\necho to-stderr >&2\nPACKAGE_NAME=zt-noise\nPACKAGE_VERSION=$(echo 3.0)\nNOT_WHITELISTED=1\n\
             do_status() { echo hijacked; }\nlocal_fn() { AUTOINSTALL=yes; }\nlocal_fn\nunset -v NOT_THERE\n",
        ),
        ("empty", ""),
        ("exit-early", "PACKAGE_NAME=zt-exit\nexit 0\nPACKAGE_VERSION=1.0\n"),
        (
            "override",
            "PACKAGE_NAME=zt-override\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/kernel\nMAKE=make\n",
        ),
    ];
    // The override chain of the last one (module "override", version "1.0").
    fs::write(conf_dir.join("override.conf"), "MAKE=\"make from-module-conf\"\nAUTOINSTALL=yes\n").unwrap();
    fs::write(
        conf_dir.join("override-1.0-6.1.0-99-amd64.conf"),
        "MAKE=\"make from-kernel-conf\"\r\nBUILT_MODULE_NAME[1]=b\n",
    )
    .unwrap();
    fs::write(conf_dir.join("override--4.19.0-99-amd64-x86_64.conf"), "PACKAGE_VERSION=9.9\n").unwrap();
    files
        .iter()
        .map(|(name, text)| {
            let p = dir.join(format!("{name}.dkms.conf"));
            fs::write(&p, text).unwrap();
            (name.to_string(), p)
        })
        .collect()
}

/// (module, file) of every conf compared: the corpus, upstream's test
/// confs, the synthetic ones; and how many came from the corpus.
fn conf_files(corpus: &Path, tmp: &Path, conf_dir: &Path) -> (Vec<(String, PathBuf)>, usize) {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let mut names: Vec<_> = fs::read_dir(corpus).unwrap().flatten().map(|e| e.path()).collect();
    names.sort();
    let corpus_count = names.len();
    for p in names {
        let stem = p.file_name().unwrap().to_string_lossy().trim_end_matches(".dkms.conf").to_string();
        files.push((stem, p));
    }
    let tests = shared().join("conformance/upstream/test");
    let mut dirs: Vec<_> = fs::read_dir(&tests).into_iter().flatten().flatten().map(|e| e.path()).collect();
    dirs.sort();
    for d in dirs {
        if d.join("dkms.conf").is_file() {
            files.push((d.file_name().unwrap().to_string_lossy().into_owned(), d.join("dkms.conf")));
        }
    }
    files.extend(synthetic(tmp, conf_dir));
    (files, corpus_count)
}

/// One case per conf and kernel: a current kernel with a kernel config (so
/// the confs' reading of `$kernel_source_dir/.config` has something to
/// find), an old one without.
fn cases_for(files: &[(String, PathBuf)], tmp: &Path, conf_dir: &Path) -> Vec<Case> {
    let dkms_tree = tmp.join("dkms");
    let ksrc_with = tmp.join("ksrc-with-config");
    fs::create_dir_all(&ksrc_with).unwrap();
    fs::write(
        ksrc_with.join(".config"),
        "CONFIG_ZT=y\nCONFIG_PREEMPT_RT=y\nCONFIG_VIDEO_V4L2=m\nCONFIG_VIDEO_DEV=y\nCONFIG_USB_HID=y\nCONFIG_64BIT=y\n",
    )
    .unwrap();
    let ksrc_without = tmp.join("ksrc-without-config");
    let kernels = [("6.1.0-99-amd64", &ksrc_with), ("4.19.0-99-amd64", &ksrc_without)];
    let mut cases = Vec::new();
    for (module, file) in files {
        for (k, ksrc) in &kernels {
            let spec = spec(module, file, k, ksrc, conf_dir, &dkms_tree, false);
            cases.push(Case { label: format!("{} for {k}", file.display()), spec });
        }
    }
    cases
}

/// `ours` and `theirs` over `items`, both sides spread over the CPUs (each
/// forks dozens of times per evaluation, as upstream does); results in
/// `items`' order.
fn in_parallel<T: Sync, A: Send, B: Send>(
    items: &[T],
    ours: impl Fn(&[T]) -> Vec<A> + Sync,
    theirs: impl Fn(&[T]) -> Vec<B> + Sync,
) -> (Vec<A>, Vec<B>) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let (ours, theirs) = (&ours, &theirs);
                (scope.spawn(move || ours(part)), scope.spawn(move || theirs(part)))
            })
            .collect();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (o, t) in handles {
            a.extend(o.join().unwrap());
            b.extend(t.join().unwrap());
        }
        (a, b)
    })
}

/// A read of `file` as module zt-style `module` 1.0 on `k`/x86_64.
fn spec(module: &str, file: &Path, k: &str, ksrc: &Path, conf_dir: &Path, dkms_tree: &Path, strict: bool) -> Spec {
    Spec {
        module: module.into(),
        module_version: "1.0".into(),
        kernelver: k.to_string(),
        arch: "x86_64".into(),
        file: file.to_path_buf(),
        conf_dir: conf_dir.to_path_buf(),
        kernel_source_dir: ksrc.to_path_buf(),
        kernel_config: ksrc.join(".config"),
        dkms_tree: dkms_tree.to_path_buf(),
        running_distribution: "debian".into(),
        addon_modules_dir: None,
        context: context(dkms_tree),
        directives: Vec::new(),
        strict,
        capture_stderr: false,
    }
}

#[test]
fn evaluation_matches_upstream_read_conf() {
    let corpus = shared().join("reference/dkms-conf-corpus");
    skip_unless!(corpus.is_dir(), &format!("{} is absent", corpus.display()));
    let tmp = tempfile::tempdir().unwrap();
    let conf_dir = tmp.path().join("etc-dkms");
    fs::create_dir_all(&conf_dir).unwrap();
    let (files, corpus_count) = conf_files(&corpus, tmp.path(), &conf_dir);
    let cases = cases_for(&files, tmp.path(), &conf_dir);
    let (ours, theirs) = in_parallel(
        &cases,
        |part| conf::read_many(&part.iter().map(|c| c.spec.clone()).collect::<Vec<_>>()).expect("our reader"),
        |part| oracle(part, &conf_dir),
    );
    assert_eq!(ours.len(), cases.len());

    let mut failures = Vec::new();
    let mut empty = std::collections::BTreeSet::new();
    for ((case, o), t) in cases.iter().zip(&ours).zip(&theirs) {
        if t.is_empty() {
            empty.insert(case.spec.module.as_str());
        }
        if &o.conf.raw.vars != t {
            failures.push(format!("{}:\n  ours:     {:?}\n  upstream: {:?}", case.label, o.conf.raw.vars, t));
        }
    }
    assert!(failures.is_empty(), "{} of {} evaluations differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
    // The comparison compared something: the corpus is all there, and only
    // the deliberately empty confs (an empty file, one that exits before
    // the write-back) yield no variables.
    assert_eq!(corpus_count, 45, "the corpus should hold 45 dkms.conf files");
    let expected_empty: std::collections::BTreeSet<&str> = ["empty", "exit-early", "dkms_conf_test_empty"]
        .into_iter()
        .filter(|m| files.iter().any(|(n, _)| n == m))
        .collect();
    assert_eq!(empty, expected_empty);

    // Spot checks that the synthetic cases mean what they say.
    let find = |module: &str, k: &str| {
        let i = cases.iter().position(|c| c.spec.module == module && c.spec.kernelver == k).unwrap();
        &ours[i].conf.raw
    };
    let crlf = find("crlf", "6.1.0-99-amd64");
    assert_eq!(crlf.scalar("PACKAGE_NAME"), "zt-crlf");
    assert_eq!(crlf.scalar("MAKE"), "make KVER=6.1.0-99-amd64");
    let sparse = find("sparse", "6.1.0-99-amd64");
    assert_eq!(sparse.vars["BUILT_MODULE_NAME"].keys().copied().collect::<Vec<_>>(), vec![1, 3]);
    assert_eq!(sparse.get("STRIP", 7), "no");
    let cond = find("kernel-conditionals", "6.1.0-99-amd64");
    assert_eq!((cond.scalar("MAKE"), cond.scalar("BUILD_EXCLUSIVE_CONFIG")), ("make new", "CONFIG_ZT"));
    assert_eq!(find("kernel-conditionals", "4.19.0-99-amd64").scalar("MAKE"), "make old");
    let ov = find("override", "6.1.0-99-amd64");
    assert_eq!(
        (ov.scalar("MAKE"), ov.scalar("AUTOINSTALL"), ov.get("BUILT_MODULE_NAME", 1)),
        ("make from-kernel-conf", "yes", "b")
    );
    assert_eq!(find("override", "4.19.0-99-amd64").scalar("PACKAGE_VERSION"), "9.9");
    // The write-back is sourced where only upstream's own variables exist.
    let second = find("second-expansion", "6.1.0-99-amd64");
    assert_eq!((second.scalar("PACKAGE_NAME"), second.scalar("PACKAGE_VERSION")), ("zt-", "v-6.1.0-99-amd64"));
}

/// The oracle is upstream's code: its pieces occur verbatim in dkms.in.
#[test]
fn oracle_is_upstream_code() {
    let src = shared().join("conformance/upstream/dkms.in");
    skip_unless!(src.is_file(), &format!("{} is absent", src.display()));
    let text = fs::read_to_string(&src).unwrap();
    for (name, piece) in
        [("dkms_conf_variables", WHITELIST), ("safe_source", SAFE_SOURCE), ("read_conf", READ_CONF_SOURCING)]
    {
        assert!(text.contains(piece), "the oracle's {name} is not upstream's any more");
    }
    // And the whitelist is the one our reader uses, give or take the extra
    // lowercase names it keeps (documented in conf.rs).
    let upstream: Vec<&str> = WHITELIST
        .trim_start_matches("readonly dkms_conf_variables=\"")
        .trim_end_matches('"')
        .split_whitespace()
        .collect();
    for n in &upstream {
        assert!(conf::DKMS_CONF_VARIABLES.contains(n), "{n} missing from conf::DKMS_CONF_VARIABLES");
    }
}

/// The named function definitions of dkms.in, verbatim (from `name()` to
/// the first line that is `}` or `)` alone at column 0).
fn upstream_functions(text: &str, names: &[&str]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for name in names {
        let start = lines
            .iter()
            .position(|l| l.starts_with(&format!("{name}()")) || l.starts_with(&format!("{name} ()")))
            .unwrap_or_else(|| panic!("{name} not found in dkms.in"));
        let end = (start + 1..lines.len()).find(|&i| lines[i] == "}" || lines[i] == ")").expect("function end");
        for l in &lines[start..=end] {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// What both sides derive from one conf, for comparison.
#[derive(Debug, PartialEq, Eq)]
struct Derived {
    ok: bool,
    /// upstream's own messages (`dkms.conf: ...`, `Deprecated feature: ...`)
    messages: Vec<String>,
    /// built name, built location, dest name, dest location, strip
    modules: Vec<[String; 5]>,
    make_command: String,
    patches: Vec<String>,
    build_exclude: bool,
    autoinstall: bool,
}

fn ours_derived(r: &conf::Read) -> Derived {
    let c = &r.conf;
    Derived {
        ok: r.ok,
        messages: r.diags.iter().filter(|d| d.stderr).map(|d| d.text.clone()).collect(),
        modules: c
            .modules
            .iter()
            .map(|m| {
                [
                    m.built_module_name.clone(),
                    m.built_module_location.clone(),
                    m.dest_module_name.clone(),
                    m.dest_module_location.clone(),
                    if m.strip { "yes" } else { "no" }.to_string(),
                ]
            })
            .collect(),
        make_command: c.make_command.clone(),
        patches: c.patch_array.clone(),
        build_exclude: c.build_exclude,
        autoinstall: c.autoinstall,
    }
}

/// Run upstream's own `read_conf` / `read_conf_strict` (extracted from
/// dkms.in at test time) on each spec and collect what it derived.
fn upstream_derived(dkms_in: &str, specs: &[Spec], conf_dir: &Path) -> Vec<Derived> {
    let funcs = upstream_functions(
        dkms_in,
        &[
            "error",
            "deprecated",
            "die",
            "mktemp_or_die",
            "VER",
            "_get_kernel_dir",
            "set_kernel_source_dir_and_kconfig",
            "override_dest_module_location",
            "safe_source",
            "read_conf",
            "read_conf_strict",
        ],
    )
    .replace("/etc/dkms", &conf_dir.display().to_string());
    let mut script = format!("shopt -s extglob\n{WHITELIST}\nshow_deprecation_warnings=0\n{funcs}\n");
    for s in specs {
        script.push_str("(\n");
        for (k, v) in &s.context {
            script.push_str(&format!("{k}={}\n", quote(v)));
        }
        script.push_str(&format!(
            "module={}\nmodule_version={}\nkernel_source_dir={}\nkernel_config={}\nksourcedir_fromcli=1\nkconfig_fromcli=1\n\
             running_distribution={}\naddon_modules_dir=\n",
            quote(&s.module),
            quote(&s.module_version),
            quote(&s.kernel_source_dir.display().to_string()),
            quote(&s.kernel_config.display().to_string()),
            quote(&s.running_distribution),
        ));
        let func = if s.strict { "read_conf_strict" } else { "read_conf" };
        script.push_str(&format!(
            r#"__err=$(mktemp)
{func} {} {} {} 2>"$__err"
__rc=$?
printf 'Q\0rc\0%s\0' "$__rc"
while IFS= read -r __l; do
    case $__l in "dkms.conf: "*|"'/kernel', '/updates', or '/extra' in record #"*|"Deprecated feature: "*) printf 'msg\0%s\0' "$__l";; esac
done < "$__err"
rm -f "$__err"
for ((__i=0; __i < num_modules; __i++)); do
    case ${{strip[__i]}} in no) __s=no;; *) __s=yes;; esac
    printf 'mod\0%s\0%s\0%s\0%s\0%s\0' "${{built_module_name[__i]}}" "${{built_module_location[__i]}}" "${{dest_module_name[__i]}}" "${{dest_module_location[__i]}}" "$__s"
done
printf 'make\0%s\0' "$make_command"
for __p in "${{patch_array[@]}}"; do printf 'patch\0%s\0' "$__p"; done
printf 'exclude\0%s\0' "$build_exclude"
printf 'auto\0%s\0' "$AUTOINSTALL"
)
"#,
            quote(&s.kernelver),
            quote(&s.arch),
            quote(&s.file.display().to_string())
        ));
    }
    let out = run_script("read_conf.sh", &script);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut all: Vec<Derived> = Vec::new();
    let mut fields = text.split('\0');
    while let Some(tag) = fields.next() {
        let mut next = || fields.next().unwrap_or_default().to_string();
        match tag {
            "Q" => all.push(Derived {
                ok: false,
                messages: Vec::new(),
                modules: Vec::new(),
                make_command: String::new(),
                patches: Vec::new(),
                build_exclude: false,
                autoinstall: false,
            }),
            "rc" => all.last_mut().unwrap().ok = next() == "0",
            "msg" => all.last_mut().unwrap().messages.push(next()),
            "mod" => {
                let m = [next(), next(), next(), next(), next()];
                all.last_mut().unwrap().modules.push(m);
            }
            "make" => all.last_mut().unwrap().make_command = next(),
            "patch" => all.last_mut().unwrap().patches.push(next()),
            "exclude" => all.last_mut().unwrap().build_exclude = next() == "yes",
            "auto" => all.last_mut().unwrap().autoinstall = next().eq_ignore_ascii_case("yes"),
            _ => {}
        }
    }
    assert_eq!(
        all.len(),
        specs.len(),
        "upstream read_conf output:\n{text}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    all
}

/// Beyond the evaluation: the module records, make command, patches,
/// BUILD_EXCLUSIVE verdict, validation and deprecation messages our
/// `conf::read` derives equal what upstream's own `read_conf` (and
/// `read_conf_strict`) derive, for the corpus, upstream's test confs and
/// edge cases of post-processing.
/// Edge cases of upstream's post-processing of a read conf.
const EDGE: [&str; 10] = [
    "PACKAGE_NAME=zt\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME[1]=a\nDEST_MODULE_LOCATION[3]=/kernel\nSTRIP[0]=n\nSTRIP[2]=Yes\nSTRIP[3]=maybe\n",
    "PACKAGE_NAME=zt\nPACKAGE_VERSION=1\nDEST_MODULE_LOCATION=/extra\nBUILT_MODULE_LOCATION=a/b\nDEST_MODULE_NAME=x.ko\n",
    "PACKAGE_NAME=zt\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\nbuilt_module_name[2]=x\ndest_module_location[5]=y\n",
    "PACKAGE_NAME=zt\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\nMAKE=(zero one two)\nMAKE_MATCH=('^4' '^6' '^6\\.1\\.')\nPATCH[0]=p0\nPATCH[2]=p2\nPATCH_MATCH[0]='^5'\n",
    "PACKAGE_NAME=zt\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\nMAKE_MATCH[0]='^4'\nMAKE[0]=zero\nAUTOINSTALL=YES\nNO_WEAK_MODULES=No\n",
    "PACKAGE_NAME=zt\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME[0]=a\nBUILT_MODULE_NAME[1]=b\nDEST_MODULE_LOCATION[0]=/updates\nDEST_MODULE_LOCATION[1]=/updates\nBUILD_EXCLUSIVE_KERNEL[1]='^4'\nBUILD_EXCLUSIVE_CONFIG[0]='CONFIG_ZT !CONFIG_OFF'\n",
    "PACKAGE_NAME=zt\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\nBUILD_EXCLUSIVE_CONFIG='CONFIG_MOD !CONFIG_PREEMPT_RT'\n",
    "PACKAGE_NAME=zt\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\nOBSOLETE_BY=5.10\nREMAKE_INITRD=no\nCLEAN=/bin/true\nMODULES_CONF_ALIAS_TYPE=x\n",
    "PACKAGE_NAME=zt\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME[0]=a\nBUILT_MODULE_NAME[1]=a\nDEST_MODULE_NAME[1]=b\nDEST_MODULE_LOCATION[0]=/updates\nDEST_MODULE_LOCATION[1]=/updates\nBUILD_EXCLUSIVE_KERNEL_MAX[1]=5.0\nOBSOLETE_BY=4.0\n",
    "PACKAGE_NAME=zt\nPACKAGE_VERSION=1\nBUILT_MODULE_NAME=a\nDEST_MODULE_LOCATION=/updates\nBUILD_EXCLUSIVE_KERNEL_MIN=6.1.0-100\nBUILD_EXCLUSIVE_ARCH='x86_64|aarch64'\nAUTOINSTALL=maybe\n",
];

#[test]
fn post_processing_matches_upstream_read_conf() {
    let dkms_in_path = shared().join("conformance/upstream/dkms.in");
    let corpus = shared().join("reference/dkms-conf-corpus");
    skip_unless!(dkms_in_path.is_file(), &format!("{} is absent", dkms_in_path.display()));
    skip_unless!(corpus.is_dir(), &format!("{} is absent", corpus.display()));
    let dkms_in = fs::read_to_string(&dkms_in_path).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let conf_dir = tmp.path().join("etc-dkms");
    fs::create_dir_all(&conf_dir).unwrap();
    let dkms_tree = tmp.path().join("dkms");
    let ksrc = tmp.path().join("ksrc");
    fs::create_dir_all(&ksrc).unwrap();
    fs::write(ksrc.join(".config"), "CONFIG_ZT=y\nCONFIG_OFF=n\nCONFIG_MOD=m\nCONFIG_PREEMPT_RT=y\n").unwrap();

    let mut files: Vec<PathBuf> = fs::read_dir(&corpus).unwrap().flatten().map(|e| e.path()).collect();
    let mut tests: Vec<PathBuf> = fs::read_dir(shared().join("conformance/upstream/test"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("dkms.conf"))
        .filter(|p| p.is_file())
        .collect();
    files.append(&mut tests);
    for (i, text) in EDGE.iter().enumerate() {
        let p = tmp.path().join(format!("edge{i}.conf"));
        fs::write(&p, text).unwrap();
        files.push(p);
    }
    files.sort();

    let mut specs = Vec::new();
    for file in &files {
        let edge = file.starts_with(tmp.path());
        // The corpus strictly (the superset of checks) on one kernel; the
        // edge cases both ways on two.
        let runs: &[(&str, bool)] = if edge {
            &[("6.1.0-99-amd64", true), ("6.1.0-99-amd64", false), ("4.19.0-99-amd64", true)]
        } else {
            &[("6.1.0-99-amd64", true)]
        };
        for (k, strict) in runs {
            specs.push(spec("zt", file, k, &ksrc, &conf_dir, &dkms_tree, *strict));
        }
    }

    let (ours, theirs): (Vec<Derived>, Vec<Derived>) = in_parallel(
        &specs,
        |part| conf::read_many(part).unwrap().iter().map(ours_derived).collect(),
        |part| upstream_derived(&dkms_in, part, &conf_dir),
    );
    let mut failures = Vec::new();
    for ((s, o), t) in specs.iter().zip(&ours).zip(&theirs) {
        if o != t {
            failures.push(format!(
                "{} ({}, strict={}):\n  ours:     {o:?}\n  upstream: {t:?}",
                s.file.display(),
                s.kernelver,
                s.strict
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} reads differ:\n{}", failures.len(), specs.len(), failures.join("\n"));
    // Both valid and invalid confs, and messages, were compared.
    assert!(theirs.iter().filter(|d| d.ok).count() > 40);
    assert!(theirs.iter().filter(|d| !d.ok).count() >= 5);
    assert!(theirs.iter().any(|d| d.messages.iter().any(|m| m.starts_with("Deprecated feature: "))));
}

/// Names outside upstream's whitelist vanish with the subshell that sourced
/// the conf: upstream never writes them back, so their values are neither
/// kept nor expanded a second time (where a stray quote in one would make
/// bash complain and drop the names written back after it).
#[test]
fn names_outside_the_whitelist_are_discarded() {
    let tmp = tempfile::tempdir().unwrap();
    let conf_dir = tmp.path().join("etc-dkms");
    fs::create_dir_all(&conf_dir).unwrap();
    let file = tmp.path().join("dkms.conf");
    fs::write(
        &file,
        "PACKAGE_NAME=zt\nPACKAGE_VERSION=1.0\nmake_command=m\npackage_name=x\npackage_version=y\nnum_modules=7\n",
    )
    .unwrap();
    let dkms_tree = tmp.path().join("dkms");
    let spec = Spec {
        module: "zt".into(),
        module_version: "1.0".into(),
        kernelver: "6.1.0-99-amd64".into(),
        arch: "x86_64".into(),
        file,
        conf_dir: conf_dir.clone(),
        kernel_source_dir: tmp.path().join("ksrc"),
        kernel_config: tmp.path().join("ksrc/.config"),
        dkms_tree: dkms_tree.clone(),
        running_distribution: "debian".into(),
        addon_modules_dir: None,
        context: context(&dkms_tree),
        directives: Vec::new(),
        strict: false,
        capture_stderr: false,
    };
    let ours = conf::read(&spec).unwrap();
    let theirs = oracle(&[Case { label: "outside".into(), spec }], &conf_dir);
    assert_eq!(ours.conf.raw.vars, theirs[0]);
}
