//! BUILD_DEPENDS_REBUILD (`check_dependencies_updated` upstream): which
//! modules built for a kernel must be rebuilt because a module they build
//! against changed version since (their `.dep_<module>` files). Read-only:
//! the install's `check_and_rebuild_dependent_modules` and a dry run's plan
//! both ask.

use crate::support::dkms::{Dkms, Target};
use dkms_state::error::Result;
use dkms_state::status;

/// `check_dependencies_updated`: has any BUILD_DEPENDS changed version
/// since the module was built (`.dep_<dep>` differs or is missing)? A dry
/// run's plan counts the module/version it installs first (`planned`) as
/// built.
fn dependencies_updated(d: &mut Dkms, x: Target, planned: Option<(&str, &str)>) -> Result<bool> {
    let Target { m, v, k, a } = x;
    let conf = d.read_conf_or_die(x, None, true)?;
    for bd in &conf.build_depends {
        let mut latest = d.latest_version_of(bd, k, a);
        if let Some((_, pv)) = planned.filter(|p| p.0 == bd) {
            if latest.as_deref().is_none_or(|l| dkms_cli::versort::compare(pv, l).is_gt()) {
                latest = Some(pv.to_string());
            }
        }
        let Some(latest) = latest else { continue };
        let recorded = std::fs::read_to_string(d.ctx.trees.arch_dir(m, v, k, a).join(format!(".dep_{bd}")));
        match recorded {
            Ok(old) if old.trim_end_matches('\n') == latest => {}
            _ => return Ok(true),
        }
    }
    Ok(false)
}

/// The BUILD_DEPENDS_REBUILD modules built for this kernel whose
/// dependencies changed (read-only: `check_and_rebuild_dependent_modules`
/// and a dry run's plan, after installing `planned`, both ask). With `force` none is.
pub(crate) fn dependants_to_rebuild(
    d: &mut Dkms,
    force: bool,
    k: &str,
    a: &str,
    planned: Option<(&str, &str)>,
) -> Result<Vec<(String, String)>> {
    let mut to_rebuild: Vec<(String, String)> = Vec::new();
    for e in status::module_status(&d.ctx.trees, None, None, None, None) {
        if e.kernel.as_deref() != Some(k) || e.arch.as_deref() != Some(a) {
            continue;
        }
        // A build run ahead whose install has not come yet is not built in
        // upstream's serial order: rebuilding it now would unbuild it under
        // the install that is about to take it.
        let key = (e.module.clone(), e.version.clone(), k.to_string(), a.to_string());
        if d.builds.as_ref().is_some_and(|b| b.pending(&key)) {
            continue;
        }
        let conf = d.read_conf_or_die(Target::new(&e.module, &e.version, k, a), None, false)?;
        if conf.build_depends.is_empty() || !conf.build_depends_rebuild || force {
            continue;
        }
        if dependencies_updated(d, Target::new(&e.module, &e.version, k, a), planned)? {
            to_rebuild.push((e.module, e.version));
        }
    }
    Ok(to_rebuild)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::{conf, Fixture, A, K};

    /// base at `versions` built for K, and top/1.0 (BUILD_DEPENDS base,
    /// BUILD_DEPENDS_REBUILD) built against base `recorded` (its `.dep_base`).
    fn fixture(edit: impl FnOnce(&mut dkms_cli::args::Args), versions: &[&str], recorded: Option<&str>) -> Fixture {
        let f = Fixture::with(edit);
        for v in versions {
            f.add("base", v, &conf("base", v, ""));
            f.build(Target::new("base", v, K, A), &["base.ko"]);
        }
        f.add("top", "1.0", &conf("top", "1.0", "BUILD_DEPENDS[0]=base\nBUILD_DEPENDS_REBUILD=yes"));
        let dir = f.build(Target::new("top", "1.0", K, A), &["top.ko"]);
        if let Some(r) = recorded {
            std::fs::write(dir.parent().unwrap().join(".dep_base"), format!("{r}\n")).unwrap();
        }
        f
    }

    fn rebuilt(f: &mut Fixture, planned: Option<(&str, &str)>) -> Vec<String> {
        let force = f.build_opts().force;
        dependants_to_rebuild(&mut f.d, force, K, A, planned)
            .unwrap()
            .into_iter()
            .map(|(m, v)| format!("{m}/{v}"))
            .collect()
    }

    #[test]
    fn a_dependant_is_rebuilt_when_its_dependency_changed_version() {
        // §2 BUILD_DEPENDS_REBUILD: the recorded version differs, or is missing.
        assert!(rebuilt(&mut fixture(|_| {}, &["1.0"], Some("1.0")), None).is_empty());
        assert_eq!(rebuilt(&mut fixture(|_| {}, &["1.0", "2.0"], Some("1.0")), None), ["top/1.0"]);
        assert_eq!(rebuilt(&mut fixture(|_| {}, &["1.0"], None), None), ["top/1.0"]);
        // With --force, not.
        assert!(rebuilt(&mut fixture(|a| a.force = true, &["1.0", "2.0"], Some("1.0")), None).is_empty());
    }

    #[test]
    fn a_dry_run_counts_the_version_it_installs_first() {
        let mut f = fixture(|_| {}, &["1.0"], Some("1.0"));
        assert_eq!(rebuilt(&mut f, Some(("base", "1.1"))), ["top/1.0"]);
        assert!(rebuilt(&mut f, Some(("base", "0.9"))).is_empty(), "an older planned version changes nothing");
        assert!(rebuilt(&mut f, Some(("other", "9"))).is_empty());
    }
}
