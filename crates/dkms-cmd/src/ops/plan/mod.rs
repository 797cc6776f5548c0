//! `--dry-run` (not in upstream dkms): what build, install, uninstall,
//! unbuild, remove, autoinstall, sign and the kernel hooks would do, worked out
//! from the same checks and decisions the real operations make (`build_checks`,
//! `install_checks`, `destination`, `archived_originals`, autoinstall's
//! `plan`), printed one line per step and emitted as `planned` records —
//! and nothing changed: no file written, no script, make or depmod run.
//!
//! What a dry run cannot know it assumes (README says so): that a build
//! succeeds, that PRE_INSTALL (named in the plan) lets the install go on,
//! and that a module not built yet passes the version check (only its
//! OBSOLETE_BY part is made). Whether the binary
//! cache supplies a build it does know: it fetches and verifies the entry
//! as the real run would (into a temporary directory, removed again).

pub(crate) mod autoinstall;
pub(crate) mod remove;
pub(crate) mod target;

use crate::support::dkms::Target;
use dkms_cli::ui::{self, Ui};
use dkms_proto::{PlannedAction, Record, SkipReason};

/// One step of a plan.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) action: PlannedAction,
    pub(crate) target: dkms_proto::Target,
    pub(crate) reason: Option<SkipReason>,
    pub(crate) files: Vec<String>,
    pub(crate) originals: Vec<String>,
    pub(crate) after: Vec<String>,
    pub(crate) round: Option<u32>,
    pub(crate) side_by_side: bool,
    /// `substitute`: the cache source and key.
    pub(crate) source: Option<(String, String)>,
}

impl Step {
    /// A step on m/v for kernel k/a (k empty: not about one kernel).
    pub(crate) fn new(action: PlannedAction, x: Target) -> Step {
        let Target { m, v, k, a } = x;
        let kernel = (!k.is_empty()).then_some(k);
        Step {
            action,
            target: ui::target(m, v, kernel, kernel.map(|_| a)),
            reason: None,
            files: Vec::new(),
            originals: Vec::new(),
            after: Vec::new(),
            round: None,
            side_by_side: false,
            source: None,
        }
    }

    /// Skipping m/v on k/a for `reason`.
    pub(crate) fn skip(x: Target, reason: SkipReason) -> Step {
        Step { reason: Some(reason), ..Step::new(PlannedAction::Skip, x) }
    }

    /// depmod for kernel `k`.
    pub(crate) fn depmod(k: &str, a: &str) -> Step {
        Step::new(PlannedAction::Depmod, Target::new("", "", k, a))
    }

    /// Print the step and emit its `planned` record.
    pub(crate) fn emit(self, ui: &Ui) {
        for line in self.text() {
            ui.outln(&line);
        }
        ui.emit(Record::Planned {
            target: self.target,
            action: self.action,
            reason: self.reason,
            files: self.files,
            originals: self.originals,
            after: self.after,
            round: self.round,
            side_by_side: self.side_by_side,
            key: self.source.as_ref().map(|s| s.1.clone()),
            source: self.source.map(|s| s.0),
        });
    }

    /// The step in words: "Would ..." and the files concerned, indented.
    fn text(&self) -> Vec<String> {
        let t = &self.target;
        let mv = format!("{}/{}", t.module, t.version);
        let on = match (&t.kernel, &t.arch) {
            (Some(k), Some(a)) => format!(" for kernel {k} ({a})"),
            _ => String::new(),
        };
        let round = self.round.map(|r| format!("[round {r}] ")).unwrap_or_default();
        let mut lines = vec![match self.action {
            PlannedAction::Add => format!("Would add {mv}"),
            PlannedAction::Build => format!("{round}Would build {mv}{on}"),
            PlannedAction::Substitute => {
                let (source, key) = self.source.clone().unwrap_or_default();
                let key = key.get(..12).unwrap_or_default();
                format!("{round}Would use prebuilt modules of {mv}{on} from {source} ({key})")
            }
            PlannedAction::Install => format!("{round}Would install {mv}{on}"),
            PlannedAction::Uninstall => format!("Would uninstall {mv}{on}"),
            PlannedAction::Unbuild => format!("Would unbuild {mv}{on}"),
            PlannedAction::Remove => format!("Would remove {mv} from the DKMS tree"),
            PlannedAction::Skip => format!("{round}Would skip {mv}{on}: {}", reason_text(self.reason)),
            PlannedAction::Depmod => format!("Would run depmod{on}"),
            PlannedAction::Sign => format!("Would re-sign {mv}{on}"),
        }];
        if self.side_by_side {
            lines[0].push_str(" in the background, side by side with other builds");
        }
        if !self.after.is_empty() {
            lines[0].push_str(&format!(", after {}", self.after.join(" ")));
        }
        let (file_verb, original_verb) = match self.action {
            PlannedAction::Add => ("from", ""),
            PlannedAction::Build => ("making", ""),
            PlannedAction::Substitute => ("placing", ""),
            PlannedAction::Install => ("placing", "archiving the original"),
            PlannedAction::Uninstall => ("deleting", "restoring the original"),
            PlannedAction::Sign => ("re-signing", ""),
            _ => ("", ""),
        };
        lines.extend(self.files.iter().map(|f| format!("  {file_verb} {f}")));
        lines.extend(self.originals.iter().map(|f| format!("  {original_verb} {f}")));
        lines
    }
}

/// Why a step is skipped, in words (the `skipped` record's reason).
fn reason_text(reason: Option<SkipReason>) -> &'static str {
    match reason {
        Some(SkipReason::AlreadyBuilt) => "already built (use --force to rebuild)",
        Some(SkipReason::AlreadyInstalled) => "already installed (use --force to reinstall)",
        Some(SkipReason::BuildExclusive) => "BUILD_EXCLUSIVE excludes this kernel",
        Some(SkipReason::NotAutoinstall) => "not AUTOINSTALL",
        Some(SkipReason::NotInstalled) => "not installed",
        Some(SkipReason::NotBuilt) => "not built",
        Some(SkipReason::DependencyNotRegistered) => "a BUILD_DEPENDS is not registered with DKMS",
        Some(SkipReason::DependencyFailed) => "a BUILD_DEPENDS would fail",
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::{A, K};

    fn step(action: PlannedAction) -> Step {
        Step::new(action, Target::new("hello", "1.0", K, A))
    }

    #[test]
    fn a_build_step_says_its_round_its_company_and_what_it_waits_for() {
        let mut s = step(PlannedAction::Build);
        assert_eq!(s.text(), [format!("Would build hello/1.0 for kernel {K} ({A})")]);
        (s.round, s.side_by_side, s.after) = (Some(2), true, vec!["base".into(), "core".into()]);
        s.files = vec!["/m/hello.ko".into()];
        assert_eq!(
            s.text(),
            [
                format!(
                    "[round 2] Would build hello/1.0 for kernel {K} ({A}) in the background, side by side with other \
                     builds, after base core"
                ),
                "  making /m/hello.ko".into()
            ]
        );
    }

    #[test]
    fn install_and_uninstall_steps_name_their_files_and_originals() {
        let mut s = step(PlannedAction::Install);
        (s.files, s.originals) = (vec!["/lib/hello.ko".into()], vec!["/lib/kernel/hello.ko".into()]);
        assert_eq!(
            s.text()[1..],
            ["  placing /lib/hello.ko".to_string(), "  archiving the original /lib/kernel/hello.ko".into()]
        );
        s.action = PlannedAction::Uninstall;
        assert_eq!(s.text()[0], format!("Would uninstall hello/1.0 for kernel {K} ({A})"));
        assert_eq!(s.text()[2], "  restoring the original /lib/kernel/hello.ko");
    }

    #[test]
    fn steps_not_about_one_kernel_name_none() {
        let s = Step::new(PlannedAction::Remove, Target::new("hello", "1.0", "", ""));
        assert_eq!(s.text(), ["Would remove hello/1.0 from the DKMS tree"]);
        assert_eq!((s.target.kernel, s.target.arch), (None, None));
        assert_eq!(Step::depmod(K, A).text(), [format!("Would run depmod for kernel {K} ({A})")]);
    }

    #[test]
    fn a_substitute_names_its_source_and_the_keys_first_twelve_digits() {
        let mut s = step(PlannedAction::Substitute);
        s.source = Some(("https://cache.example/dkms".into(), "0123456789abcdef0123".into()));
        assert_eq!(
            s.text()[0],
            format!("Would use prebuilt modules of hello/1.0 for kernel {K} ({A}) from https://cache.example/dkms (0123456789ab)")
        );
    }

    #[test]
    fn every_skip_says_why() {
        let reasons = [
            (SkipReason::AlreadyBuilt, "already built (use --force to rebuild)"),
            (SkipReason::AlreadyInstalled, "already installed (use --force to reinstall)"),
            (SkipReason::BuildExclusive, "BUILD_EXCLUSIVE excludes this kernel"),
            (SkipReason::NotAutoinstall, "not AUTOINSTALL"),
            (SkipReason::DependencyNotRegistered, "a BUILD_DEPENDS is not registered with DKMS"),
        ];
        for (reason, why) in reasons {
            let s = Step::skip(Target::new("hello", "1.0", K, A), reason);
            assert_eq!(s.text(), [format!("Would skip hello/1.0 for kernel {K} ({A}): {why}")]);
        }
    }
}
