//! The three trees (`dkms_tree`, `source_tree`, `install_tree`) and every path
//! inside them, named as upstream names them (§4 of the layout).

use std::path::{Path, PathBuf};

/// Upstream defaults.
pub const DEFAULT_DKMS_TREE: &str = "/var/lib/dkms";
pub const DEFAULT_SOURCE_TREE: &str = "/usr/src";
pub const DEFAULT_INSTALL_TREE: &str = "/lib/modules";

/// The trees one invocation works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trees {
    pub dkms_tree: PathBuf,
    pub source_tree: PathBuf,
    pub install_tree: PathBuf,
}

impl Default for Trees {
    fn default() -> Self {
        Trees {
            dkms_tree: DEFAULT_DKMS_TREE.into(),
            source_tree: DEFAULT_SOURCE_TREE.into(),
            install_tree: DEFAULT_INSTALL_TREE.into(),
        }
    }
}

// Paths are built by string concatenation, as bash does with "$a/$b", so
// that a tree given with a trailing slash prints exactly as upstream prints it.
fn join(base: &Path, parts: &[&str]) -> PathBuf {
    let mut s = base.as_os_str().to_os_string();
    for part in parts {
        s.push("/");
        s.push(part);
    }
    PathBuf::from(s)
}

/// `"$base/$rest"` without normalisation.
pub fn cat(base: &Path, rest: &str) -> PathBuf {
    join(base, &[rest])
}

impl Trees {
    /// `$dkms_tree/$module`
    pub fn module_dir(&self, module: &str) -> PathBuf {
        join(&self.dkms_tree, &[module])
    }
    /// `$dkms_tree/$module/$module_version`
    pub fn version_dir(&self, module: &str, version: &str) -> PathBuf {
        join(&self.dkms_tree, &[module, version])
    }
    /// `$dkms_tree/$module/$module_version/source` (the "added" symlink)
    pub fn source_link(&self, module: &str, version: &str) -> PathBuf {
        join(&self.dkms_tree, &[module, version, "source"])
    }
    /// `$dkms_tree/$module/$module_version/build`
    pub fn build_dir(&self, module: &str, version: &str) -> PathBuf {
        join(&self.dkms_tree, &[module, version, "build"])
    }
    /// `$dkms_tree/$module/$module_version/$kernelver`
    pub fn kernel_dir(&self, module: &str, version: &str, kernelver: &str) -> PathBuf {
        join(&self.dkms_tree, &[module, version, kernelver])
    }
    /// `$dkms_tree/$module/$module_version/$kernelver/$arch` (built when it has `module/`)
    pub fn arch_dir(&self, module: &str, version: &str, kernelver: &str, arch: &str) -> PathBuf {
        join(&self.dkms_tree, &[module, version, kernelver, arch])
    }
    /// `$dkms_tree/$module/kernel-$kernelver-$arch` (the "installed" symlink)
    pub fn active_link(&self, module: &str, kernelver: &str, arch: &str) -> PathBuf {
        join(&self.dkms_tree, &[module, &format!("kernel-{kernelver}-{arch}")])
    }
    /// `$dkms_tree/$module/original_module/$kernelver/$arch`
    pub fn original_module_dir(&self, module: &str, kernelver: &str, arch: &str) -> PathBuf {
        join(&self.dkms_tree, &[module, "original_module", kernelver, arch])
    }
    /// `$source_tree/$module-$module_version`
    pub fn source_dir(&self, module: &str, version: &str) -> PathBuf {
        join(&self.source_tree, &[&format!("{module}-{version}")])
    }
    /// `$install_tree/$kernelver`
    pub fn lib_tree(&self, kernelver: &str) -> PathBuf {
        join(&self.install_tree, &[kernelver])
    }
    /// `$dkms_tree/depmod-pending-$kernelver-$arch`: an uninstall under the
    /// kernel hooks (`delayed_depmod`) left the depmod to them.
    pub fn depmod_pending(&self, kernelver: &str, arch: &str) -> PathBuf {
        self.dkms_tree.join(format!("depmod-pending-{kernelver}-{arch}"))
    }
}
