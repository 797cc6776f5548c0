//! Failed autoinstalls remembered under the DKMS tree (not upstream, which
//! keeps no trace but the output): one small record per
//! module/version/kernel/arch, `<dkms_tree>/.failures/<m>/<v>/<kver>/<arch>`,
//! written when autoinstall (and so a kernel hook) fails to install a module
//! and removed when a later autoinstall installs it. A record counts only
//! while its module/version is registered and not built for that kernel, so
//! a manual `dkms build`/`install` or `remove` makes it moot without
//! touching it. `dkms status` shows them (JSON; text on request), the
//! kernel hooks list them at the end of their output.

use crate::fsutil;
use crate::glob;
use crate::status;
use crate::trees::Trees;
use std::path::{Path, PathBuf};

/// One remembered failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub module: String,
    pub version: String,
    pub kernel: String,
    pub arch: String,
    /// The exit status the install of the module failed with.
    pub exit_status: i32,
    /// The build's make.log, when there was one.
    pub log: Option<String>,
    /// When it failed (seconds since the epoch).
    pub time: u64,
}

/// Where the records live.
pub fn dir(trees: &Trees) -> PathBuf {
    trees.dkms_tree.join(".failures")
}

fn file(trees: &Trees, m: &str, v: &str, k: &str, a: &str) -> PathBuf {
    dir(trees).join(m).join(v).join(k).join(a)
}

/// Remember that module `m`/`v` failed on `k`/`a` with `exit_status`.
pub fn record(trees: &Trees, m: &str, v: &str, k: &str, a: &str, exit_status: i32) -> std::io::Result<()> {
    let path = file(trees, m, v, k, a);
    std::fs::create_dir_all(path.parent().expect("a record has a parent"))?;
    let log = trees.build_dir(m, v).join("make.log");
    let time = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut text = format!("exit_status={exit_status}\ntime={time}\n");
    if log.is_file() {
        text.push_str(&format!("log={}\n", log.display()));
    }
    fsutil::write_atomic(&path, text.as_bytes())
}

/// Forget the failure of `m`/`v` on `k`/`a` (if any), and the directories
/// it leaves empty (`.failures` itself too, so that an emptied DKMS tree
/// can be removed).
pub fn clear(trees: &Trees, m: &str, v: &str, k: &str, a: &str) {
    if std::fs::remove_file(file(trees, m, v, k, a)).is_ok() {
        fsutil::rmdir_parents(&trees.dkms_tree, &format!(".failures/{m}/{v}/{k}"));
    }
}

fn parse(path: &Path, m: &str, v: &str, k: &str, a: &str) -> Option<Failure> {
    let text = std::fs::read_to_string(path).ok()?;
    let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')));
    Some(Failure {
        module: m.into(),
        version: v.into(),
        kernel: k.into(),
        arch: a.into(),
        exit_status: field("exit_status")?.parse().ok()?,
        log: field("log").map(String::from),
        time: field("time").and_then(|t| t.parse().ok()).unwrap_or(0),
    })
}

/// The failures that still count, sorted by module, version, kernel, arch;
/// only those matching `module`/`version`/`kernel` when given (globs, as
/// `module_status` takes them).
pub fn current(trees: &Trees, module: Option<&str>, version: Option<&str>, kernel: Option<&str>) -> Vec<Failure> {
    let want = |filter: Option<&str>, name: &str| match filter {
        Some(f) if !f.is_empty() => glob::matches(f, name),
        _ => true,
    };
    let mut out = Vec::new();
    let base = dir(trees);
    for m in fsutil::subdirs(&base).into_iter().filter(|m| want(module, m)) {
        for v in fsutil::subdirs(&base.join(&m)).into_iter().filter(|v| want(version, v)) {
            if !status::is_module_added(trees, &m, &v) {
                continue;
            }
            for k in fsutil::subdirs(&base.join(&m).join(&v)).into_iter().filter(|k| want(kernel, k)) {
                let kdir = base.join(&m).join(&v).join(&k);
                let mut arches: Vec<String> = std::fs::read_dir(&kdir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|a| !a.starts_with('.'))
                    .collect();
                arches.sort();
                for a in arches {
                    if status::is_module_built(trees, &m, &v, &k, &a) {
                        continue;
                    }
                    out.extend(parse(&kdir.join(&a), &m, &v, &k, &a));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_listed_while_they_count_and_cleared() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let trees = Trees { dkms_tree: tmp.path().join("dkms"), ..Trees::default() };
        let registered = |m: &str| {
            std::fs::create_dir_all(trees.version_dir(m, "1.0")).expect("mkdir");
            std::os::unix::fs::symlink(tmp.path(), trees.source_link(m, "1.0")).expect("symlink");
        };
        registered("a");
        registered("b");
        std::fs::create_dir_all(trees.build_dir("a", "1.0")).expect("mkdir");
        std::fs::write(trees.build_dir("a", "1.0").join("make.log"), "log").expect("write");
        record(&trees, "a", "1.0", "6.1", "x86_64", 10).expect("record");
        record(&trees, "b", "1.0", "6.1", "x86_64", 4).expect("record");
        record(&trees, "b", "1.0", "6.2", "x86_64", 10).expect("record");
        record(&trees, "gone", "1.0", "6.1", "x86_64", 10).expect("record");
        let names = |v: Vec<Failure>| v.into_iter().map(|f| format!("{}/{}", f.module, f.kernel)).collect::<Vec<_>>();
        assert_eq!(names(current(&trees, None, None, None)), ["a/6.1", "b/6.1", "b/6.2"]);
        assert_eq!(names(current(&trees, None, None, Some("6.2"))), ["b/6.2"]);
        assert_eq!(names(current(&trees, Some("b"), None, None)), ["b/6.1", "b/6.2"]);
        let a = current(&trees, Some("a"), None, None).remove(0);
        assert_eq!((a.exit_status, a.log.is_some()), (10, true));
        // A build for that kernel makes the record moot.
        std::fs::create_dir_all(trees.arch_dir("b", "1.0", "6.1", "x86_64").join("module")).expect("mkdir");
        assert_eq!(names(current(&trees, None, None, None)), ["a/6.1", "b/6.2"]);
        for (m, k) in [("a", "6.1"), ("b", "6.1"), ("b", "6.2"), ("gone", "6.1")] {
            clear(&trees, m, "1.0", k, "x86_64");
        }
        assert!(!dir(&trees).exists(), "emptied records leave no directory");
    }
}
