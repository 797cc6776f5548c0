//! The argument and state checks that end a run with upstream's messages
//! (`check_module_args`, `module_is_broken_and_die`, `check_root`, ...),
//! and the "already built/installed, skip" line.

use super::dkms::{Dkms, Target};
use dkms_cli::ui;
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{fsutil, status};

impl Dkms {
    /// `check_module_args ACTION` for the module/version m/v.
    pub(crate) fn check_module_args(&self, action: &str, m: &str, v: &str) -> Result<()> {
        if !m.is_empty() && !v.is_empty() {
            // Not upstream: `-m ../x` would name directories outside the
            // trees (upstream adds, builds and removes there). The command
            // line was checked on entry; a module/version from elsewhere
            // (a source directory's dkms.conf) is checked here.
            dkms_state::name::check(dkms_state::name::What::Module, m)?;
            return dkms_state::name::check(dkms_state::name::What::Version, v);
        }
        Err(Error::die(
            Kind::ModuleArgsMissing,
            [
                "Arguments <module> and <module-version> are not specified.".to_string(),
                format!("Usage: {action} <module>/<module-version> or"),
                format!("       {action} -m <module>/<module-version> or"),
                format!("       {action} -m <module> -v <module-version>"),
            ],
        ))
    }

    /// `module_is_broken_and_die`
    pub(crate) fn module_is_broken_and_die(&self, m: &str, v: &str) -> Result<()> {
        if status::is_module_broken(&self.ctx.trees, m, v) {
            return Err(Error::die(
                Kind::ModuleBroken,
                [
                    format!("{m}/{v} is broken!"),
                    "Missing the source directory or the symbolic link pointing to it.".into(),
                    "Manual intervention is required!".into(),
                ],
            )
            .with_hint(format!(
                "Restore {} or remove {}",
                self.ctx.trees.source_dir(m, v).display(),
                self.ctx.trees.version_dir(m, v).display()
            )));
        }
        Ok(())
    }

    /// `module_is_added_or_die`
    pub(crate) fn module_is_added_or_die(&self, m: &str, v: &str) -> Result<()> {
        if !status::is_module_added(&self.ctx.trees, m, v) {
            return Err(Error::die(
                Kind::ModuleNotAdded,
                [format!("The module/version combo: {m}/{v} is not located in the DKMS tree.")],
            ));
        }
        Ok(())
    }

    /// `check_root`
    pub(crate) fn check_root(&self) -> Result<()> {
        if nix::unistd::geteuid().is_root() {
            return Ok(());
        }
        Err(Error::die(Kind::NotRoot, ["You must be root to use this command."]).with_hint("Run it again with sudo."))
    }

    /// `check_rw_dkms_tree`
    pub(crate) fn check_rw_dkms_tree(&self) -> Result<()> {
        if fsutil::writable(&self.ctx.trees.dkms_tree) {
            return Ok(());
        }
        Err(Error::die(
            Kind::DkmsTreeReadOnly,
            [format!("No write access to DKMS tree at {}", self.ctx.trees.dkms_tree.display())],
        ))
    }

    /// Upstream's skip line for an already built or installed module
    /// (`maybe_build_module`, `maybe_install_module`) and its JSON record.
    pub(crate) fn skip_already(&self, x: Target, state: &str, reason: dkms_proto::SkipReason) {
        let Target { m, v, k, a } = x;
        self.ui.outln(&format!(
            "Module {m}/{v} already {state} kernel {k} ({a}), skip. You may override by specifying --force."
        ));
        self.ui.emit(dkms_proto::Record::Skipped { target: ui::target(m, v, Some(k), Some(a)), reason });
    }

    /// The checks upstream runs before remove/unbuild/uninstall on the
    /// module/version `m`/`v` of the command line: arguments given, not
    /// broken, added.
    pub(crate) fn checked_target(&self, action: &str, m: &str, v: &str) -> Result<(String, String)> {
        let (m, v) = (m.to_string(), v.to_string());
        self.check_module_args(action, &m, &v)?;
        self.module_is_broken_and_die(&m, &v)?;
        self.module_is_added_or_die(&m, &v)?;
        Ok((m, v))
    }
}

#[cfg(test)]
mod tests {
    use crate::support::fixture::{conf, Fixture};
    use dkms_state::error::Kind;

    #[test]
    fn module_args_are_both_given_and_plain_names() {
        let f = Fixture::new();
        let e = f.d.check_module_args("build", "", "1.0").unwrap_err();
        assert_eq!((e.kind, e.code), (Kind::ModuleArgsMissing, 1));
        assert_eq!(e.lines[1], "Usage: build <module>/<module-version> or");
        assert_eq!(f.d.check_module_args("build", "../x", "1.0").unwrap_err().kind, Kind::NameUnsafe);
        assert_eq!(f.d.check_module_args("build", "x", "1.0/..").unwrap_err().kind, Kind::NameUnsafe);
        assert!(f.d.check_module_args("build", "x", "1.0").is_ok());
    }

    #[test]
    fn a_target_is_checked_broken_before_added_as_upstream_does() {
        let f = Fixture::with(|a| (a.module, a.module_version) = ("hello".into(), "1.0".into()));
        assert_eq!(f.d.checked_target("remove", "hello", "1.0").unwrap_err().kind, Kind::ModuleNotAdded);
        // The version directory without its source link, the source there.
        std::fs::create_dir_all(f.trees().version_dir("hello", "1.0")).unwrap();
        std::fs::create_dir_all(f.trees().source_dir("hello", "1.0")).unwrap();
        let e = f.d.checked_target("remove", "hello", "1.0").unwrap_err();
        assert_eq!((e.kind, e.code), (Kind::ModuleBroken, 4));
        assert!(e.hint.unwrap().starts_with(&format!("Restore {}", f.trees().source_dir("hello", "1.0").display())));
        let f = Fixture::with(|a| (a.module, a.module_version) = ("hello".into(), "1.0".into()));
        f.add("hello", "1.0", &conf("hello", "1.0", ""));
        assert_eq!(f.d.checked_target("remove", "hello", "1.0").unwrap(), ("hello".to_string(), "1.0".to_string()));
    }
}
