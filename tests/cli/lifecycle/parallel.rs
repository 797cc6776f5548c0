//! Lifecycle scenarios of autoinstall's parallel builds (root): one
//! jobserver, -j 1, failures stopping only dependants, several kernels,
//! an outer make's jobserver, JSON records in upstream's order.

use super::*;

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
    // `progress` records (a build under way, not upstream) may come in
    // between; the outcomes keep upstream's order.
    let seen: Vec<String> = records
        .iter()
        .filter(|r| r["type"] != "progress")
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

/// Under apt a kernel hook's stdout and stderr are one pipe: a failing
/// module's "Error! Bad return status ..." (stderr) must come out under its
/// own heading, before the next module's, as in upstream's serial run. A
/// failing module then a good one, built side by side (the failing build
/// made slow so that the good one finishes first), compared byte for byte
/// with upstream through one pipe.
#[test]
fn autoinstall_output_through_one_pipe_is_upstreams() {
    skip_unless!(is_root(), "needs root (upstream's check_root refuses autoinstall)");
    let setup = |sb: &Sandbox| {
        world(sb);
        let make = FAKE_MAKE.replace("@LOG@", &tool_log(sb).display().to_string()).replacen(
            "#!/bin/sh\n",
            "#!/bin/sh\ncase $* in *dkms_a_test*) sleep 1;; esac\n",
            1,
        );
        write_exec(&sb.bin.join("make"), &make);
        added(sb, "dkms_a_test", "1.0", "");
        added(sb, "dkms_b_test", "1.0", "");
        fail_make(sb, "dkms_a_test", "1.0");
    };
    let args = ["autoinstall", "-k", KVER];
    let mut ours = Sandbox::new();
    setup(&ours);
    let (code, text) = ours.run_piped(Impl::Ours, &args);
    assert_eq!(code, 11, "{text}");
    let a = text.find("Autoinstall of module dkms_a_test/1.0").expect("a's heading");
    let error = text.find("Error! Bad return status for module build").expect("a's error");
    let b = text.find("Autoinstall of module dkms_b_test/1.0").expect("b's heading");
    assert!(a < error && error < b, "{text}");
    if upstream_source().is_none() {
        skip_part("the comparison with upstream", "upstream's dkms is not available");
        return;
    }
    let mut up = Sandbox::new();
    up.upstream().expect("upstream dkms");
    setup(&up);
    assert_eq!(up.run_piped(Impl::Upstream, &args), (code, text));
}
