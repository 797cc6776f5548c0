//! Unit tests of autoinstall's planning (upstream's `autoinstall`: the
//! newest version of each AUTOINSTALL module, installed ones skipped,
//! BUILD_DEPENDS order) and of the decisions around it.

use super::*;
use crate::support::fixture::{conf, Fixture, A, K};

/// Add m/v with AUTOINSTALL and `extra` in its dkms.conf.
fn auto(f: &Fixture, m: &str, v: &str, extra: &str) {
    f.add(m, v, &conf(m, v, &format!("AUTOINSTALL=yes\n{extra}")));
}

/// The plan for K/A and the skips it told, as (module, version, reason).
fn planned(f: &mut Fixture) -> (Plan, Vec<(String, String, SkipReason)>) {
    let mut skips = Vec::new();
    let mut skip = |m: &str, v: &str, r| skips.push((m.to_string(), v.to_string(), r));
    let p = plan(&mut f.d, K, A, Options::default(), &mut skip).unwrap();
    (p, skips)
}

fn jobs(p: &Plan) -> Vec<(String, String, Vec<String>)> {
    p.jobs.iter().map(|j| (j.module.clone(), j.version.clone(), j.depends.clone())).collect()
}

#[test]
fn plan_takes_the_newest_version_by_upstreams_ver() {
    let mut f = Fixture::new();
    for v in ["1.9", "1.10", "1.2"] {
        auto(&f, "hello", v, "");
    }
    let (p, skips) = planned(&mut f);
    assert_eq!(jobs(&p), [("hello".into(), "1.10".into(), vec![])]);
    assert_eq!(p.known, ["hello"]);
    assert!(skips.is_empty());
}

#[test]
fn plan_skips_the_installed_and_the_not_autoinstall_and_keeps_build_depends() {
    let mut f = Fixture::new();
    auto(&f, "base", "1.0", "");
    f.build(Target::new("base", "1.0", K, A), &["base.ko"]);
    f.install(Target::new("base", "1.0", K, A));
    f.add("manual", "2.0", &conf("manual", "2.0", ""));
    auto(&f, "top", "3.0", "BUILD_DEPENDS[0]=base\nBUILD_DEPENDS[1]=absent");
    let (p, skips) = planned(&mut f);
    assert_eq!(
        skips,
        [
            ("base".into(), "1.0".into(), SkipReason::AlreadyInstalled),
            ("manual".into(), "2.0".into(), SkipReason::NotAutoinstall)
        ]
    );
    assert_eq!(p.installed, ["base"]);
    assert_eq!(jobs(&p), [("top".into(), "3.0".into(), vec!["base".into(), "absent".into()])]);
    assert_eq!(p.known, ["base", "manual", "top"]);
}

#[test]
fn plan_leaves_a_broken_module_out() {
    // A version directory whose source is gone: upstream says it is broken
    // and goes on with the others.
    let mut f = Fixture::new();
    auto(&f, "hello", "1.0", "");
    std::fs::create_dir_all(f.trees().version_dir("gone", "1.0")).unwrap();
    std::fs::create_dir_all(f.trees().source_dir("gone", "1.0")).unwrap();
    let (p, _) = planned(&mut f);
    assert_eq!(p.known, ["hello"]);
    assert_eq!(jobs(&p).len(), 1);
}

#[test]
fn a_job_left_waiting_failed_only_if_its_dependency_is_registered() {
    let job = |deps: &[&str]| Job {
        module: "top".into(),
        version: "1".into(),
        depends: deps.iter().map(|s| s.to_string()).collect(),
    };
    let known = ["base".to_string()];
    assert_eq!(waiting_reason(&job(&["base"]), &known), SkipReason::DependencyFailed);
    assert_eq!(waiting_reason(&job(&["elsewhere", "base"]), &known), SkipReason::DependencyFailed);
    assert_eq!(waiting_reason(&job(&["elsewhere"]), &known), SkipReason::DependencyNotRegistered);
}

#[test]
fn builds_run_side_by_side_only_for_two_or_more_with_room_for_two() {
    let mut f = Fixture::new();
    f.d.ctx.parallel_jobs = "4".into();
    assert_eq!(side_by_side(&f.d, 1), None);
    assert_eq!(side_by_side(&f.d, 2), Some(4));
    f.d.ctx.parallel_jobs = "1".into();
    assert_eq!(side_by_side(&f.d, 5), None, "-j1 builds one at a time");
    // A bare -j: as many as there are builds.
    f.d.ctx.parallel_jobs = String::new();
    assert_eq!(side_by_side(&f.d, 3), Some(3));
    // An outer make's jobserver makes room even with -j1.
    f.d.ctx.parallel_jobs = "1".into();
    f.d.jobs = Some(Arc::new(Budget::new(2).unwrap()));
    assert_eq!(side_by_side(&f.d, 2), Some(1));
}

#[test]
fn only_unbuilt_jobs_are_built_ahead() {
    let mut f = Fixture::new();
    auto(&f, "built", "1.0", "");
    auto(&f, "fresh", "1.0", "");
    f.build(Target::new("built", "1.0", K, A), &["built.ko"]);
    let (p, _) = planned(&mut f);
    assert_eq!(p.jobs.len(), 2);
    let todo: Vec<String> = unbuilt(&f.d, &p, K, A).into_iter().map(|j| j.module).collect();
    assert_eq!(todo, ["fresh"]);
}

#[test]
fn a_failed_deferred_depmod_names_the_kernel_and_the_fix() {
    assert!(depmod_result(K, None).is_ok());
    assert!(depmod_result(K, Some(0)).is_ok());
    let e = depmod_result(K, Some(3)).unwrap_err();
    assert_eq!(e.kind, Kind::DepmodFailed);
    assert_eq!(e.lines[0], format!("Problems with depmod detected (exit status 3) for kernel {K}."));
    assert!(e.lines[1].contains(&format!("depmod -a {K}")));
}
