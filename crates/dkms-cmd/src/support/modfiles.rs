//! Module files of a build and of the install tree: the compression suffix
//! (`set_module_suffix`), `compressed_or_uncompressed`, where an installed
//! copy really is (`find_actual_dest_module_location`).

use super::dkms::{Dkms, Target};
use dkms_state::conf::Conf;
use dkms_state::{kernel, modinfo, trees};
use std::path::{Path, PathBuf};

/// `compressed_or_uncompressed DIR NAME`: `DIR/NAME.ko` or `DIR/NAME.ko<suffix>`.
pub(crate) fn compressed_or_uncompressed(dir: &Path, name: &str, suffix: &str) -> Option<PathBuf> {
    let plain = trees::cat(dir, &format!("{name}.ko"));
    if plain.exists() {
        return Some(plain);
    }
    let compressed = trees::cat(dir, &format!("{name}.ko{suffix}"));
    compressed.exists().then_some(compressed)
}

impl Dkms {
    /// `set_module_suffix`: (".ko", compressed suffix) for a kernel.
    pub(crate) fn module_suffix(&self, kernelver: &str) -> &'static str {
        kernel::compressed_suffix(&self.ctx.trees.install_tree, kernelver)
    }

    /// `find_actual_dest_module_location`: where the installed copy of
    /// record `i` really is (the distribution's location or the conf's
    /// own), recognised by having the version of the DKMS-owned copy.
    /// `suffix` is `set_module_suffix`'s result for `k`, which callers work
    /// out once per kernel (it walks the kernel's module tree).
    pub(crate) fn find_actual_dest_module_location(
        &self,
        m: &str,
        c: &Conf,
        i: usize,
        k: &str,
        a: &str,
        suffix: &str,
    ) -> Option<String> {
        let r = &c.modules[i];
        let mut locations = vec![r.dest_module_location.clone()];
        if r.orig_dest_module_location != r.dest_module_location {
            locations.push(r.orig_dest_module_location.clone());
        }
        let owned = compressed_or_uncompressed(
            &self.ctx.trees.active_link(m, k, a).join("module"),
            &r.dest_module_name,
            suffix,
        );
        let owned_info = owned.as_deref().map(modinfo::verinfo).unwrap_or_default();
        for l in locations {
            let dir = trees::cat(&self.ctx.trees.install_tree, &format!("{k}{l}"));
            if let Some(installed) = compressed_or_uncompressed(&dir, &r.dest_module_name, suffix) {
                if modinfo::verinfo(&installed).version == owned_info.version {
                    return Some(l);
                }
            }
        }
        None
    }

    /// The module files of a build (`<kver>/<arch>/module/*.ko*`), sorted.
    pub(crate) fn built_modules(&self, x: Target) -> Vec<String> {
        let Target { m, v, k, a } = x;
        let mut files: Vec<String> = std::fs::read_dir(self.ctx.trees.arch_dir(m, v, k, a).join("module"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".ko"))
            .map(|e| e.path().display().to_string())
            .collect();
        files.sort();
        files
    }
}

impl Dkms {
    /// The newest version (upstream's version sort) of `module` built or
    /// installed for `k`/`a`: what a `.dep_<module>` file of a
    /// BUILD_DEPENDS_REBUILD module records.
    pub(crate) fn latest_version_of(&self, module: &str, k: &str, a: &str) -> Option<String> {
        let mut versions: Vec<String> =
            dkms_state::status::module_status(&self.ctx.trees, Some(module), None, Some(k), Some(a))
                .into_iter()
                .map(|e| e.version)
                .collect();
        versions.sort_by(|x, y| dkms_cli::versort::compare(x, y));
        versions.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::fixture::{conf, Fixture, A, K};

    #[test]
    fn the_plain_module_wins_over_the_compressed_one() {
        let f = Fixture::new();
        let dir = f.build(Target::new("hello", "1.0", K, A), &["hello.ko.xz"]);
        assert_eq!(compressed_or_uncompressed(&dir, "hello", ".xz"), Some(dir.join("hello.ko.xz")));
        assert_eq!(compressed_or_uncompressed(&dir, "hello", ".zst"), None);
        std::fs::write(dir.join("hello.ko"), "plain").unwrap();
        assert_eq!(compressed_or_uncompressed(&dir, "hello", ".xz"), Some(dir.join("hello.ko")));
    }

    #[test]
    fn the_kernels_suffix_is_zst_over_xz_over_gz() {
        // set_module_suffix looks at the kernel's own modules.
        let f = Fixture::new();
        f.kernel(K);
        assert_eq!(f.d.module_suffix(K), "");
        f.write(&format!("modules/{K}/kernel/a.ko.gz"), "");
        assert_eq!(f.d.module_suffix(K), ".gz");
        f.write(&format!("modules/{K}/kernel/b.ko.xz"), "");
        assert_eq!(f.d.module_suffix(K), ".xz");
        f.write(&format!("modules/{K}/kernel/net/c.ko.zst"), "");
        assert_eq!(f.d.module_suffix(K), ".zst");
    }

    #[test]
    fn built_modules_are_the_ko_files_sorted() {
        let f = Fixture::new();
        let dir = f.build(Target::new("hello", "1.0", K, A), &["b.ko.xz", "a.ko", "Module.symvers"]);
        let want: Vec<String> = ["a.ko", "b.ko.xz"].iter().map(|n| dir.join(n).display().to_string()).collect();
        assert_eq!(f.d.built_modules(Target::new("hello", "1.0", K, A)), want);
    }

    #[test]
    fn the_latest_version_is_upstreams_version_sort() {
        let f = Fixture::new();
        for v in ["1.9", "1.10", "1.2"] {
            f.add("base", v, &conf("base", v, ""));
            f.build(Target::new("base", v, K, A), &["base.ko"]);
        }
        assert_eq!(f.d.latest_version_of("base", K, A).as_deref(), Some("1.10"));
        assert_eq!(f.d.latest_version_of("other", K, A), None);
    }

    #[test]
    fn the_installed_copy_is_found_where_it_really_is() {
        let mut f = Fixture::new();
        f.kernel(K);
        f.add("hello", "1.0", &conf("hello", "1.0", ""));
        f.build(Target::new("hello", "1.0", K, A), &["hello.ko"]);
        f.install(Target::new("hello", "1.0", K, A));
        let c = f.read_conf(Target::new("hello", "1.0", K, A));
        assert_eq!(f.d.find_actual_dest_module_location("hello", &c, 0, K, A, ""), None);
        // Debian's /updates/dkms, or the conf's own location (§6.5).
        f.write(&format!("modules/{K}/kernel/extra/hello.ko"), "hello.ko");
        assert_eq!(f.d.find_actual_dest_module_location("hello", &c, 0, K, A, "").as_deref(), Some("/kernel/extra"));
        f.write(&format!("modules/{K}/updates/dkms/hello.ko"), "hello.ko");
        assert_eq!(f.d.find_actual_dest_module_location("hello", &c, 0, K, A, "").as_deref(), Some("/updates/dkms"));
    }
}
