//! `mktree` and `unmktree` (not in upstream dkms): make
//! `<source_tree>/<module>-<version>/` a tree `add` and `build` accept as it
//! stands (a skeleton, or a copy of a source directory made with `add`'s
//! copy, `fsutil::copy_tree`), and delete one that is not registered. Both
//! assemble or dismantle the tree under a temporary name, so it is either
//! all there or not at all.

use crate::support::dkms::{Dkms, Target};
use dkms_state::error::{Error, Kind, Result};
use dkms_state::{beneath, fsutil, name, status};
use std::path::{Path, PathBuf};

/// What `make_tree` made: the directory, the files it wrote (relative).
pub(crate) struct Made {
    pub(crate) dir: PathBuf,
    pub(crate) generated: Vec<String>,
}

/// `dkms.conf` of a new tree: AUTOINSTALL, and the modules at
/// /updates/dkms (where upstream's own examples put them).
fn conf_text(m: &str, v: &str, modules: &[String]) -> String {
    let mut s = format!("PACKAGE_NAME=\"{m}\"\nPACKAGE_VERSION=\"{v}\"\n");
    for (i, name) in modules.iter().enumerate() {
        s.push_str(&format!("BUILT_MODULE_NAME[{i}]=\"{name}\"\nDEST_MODULE_LOCATION[{i}]=\"/updates/dkms\"\n"));
    }
    s.push_str("AUTOINSTALL=\"yes\"\n");
    s
}

/// The skeleton's kbuild Makefile. dkms runs `make -C <kernel build dir>
/// M=<dir> KERNELRELEASE=<kernel>`; by hand it needs KERNELRELEASE and never
/// defaults to `uname -r`, the classic way to build for the wrong kernel.
fn makefile_text(m: &str) -> String {
    format!(
        "# Kbuild makefile of {m}, made by dkms mktree.
obj-m := {m}.o

# Run by hand (not through kbuild): build for the kernel named by
# KERNELRELEASE, against KDIR (default: its build directory). The kernel is
# never guessed with `uname -r`: the one you build for (a new kernel being
# installed, a chroot) is often not the one running.
ifeq ($(KBUILD_EXTMOD),)
ifeq ($(KERNELRELEASE),)
$(error Name the kernel to build for: make KERNELRELEASE=<kernel release>)
endif
KDIR ?= /lib/modules/$(KERNELRELEASE)/build

all modules:
\t$(MAKE) -C $(KDIR) M=$(CURDIR) KERNELRELEASE=$(KERNELRELEASE) modules

clean:
\t$(MAKE) -C $(KDIR) M=$(CURDIR) KERNELRELEASE=$(KERNELRELEASE) clean
endif
"
    )
}

/// The skeleton's module: loads, says so, unloads.
fn source_text(m: &str, v: &str) -> String {
    let id: String = m.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!(
        "// SPDX-License-Identifier: GPL-2.0
/* {m} {v}: made by dkms mktree. */
#include <linux/module.h>
#include <linux/init.h>

static int __init {id}_init(void)
{{
\tpr_info(\"{m}: loaded\\n\");
\treturn 0;
}}

static void __exit {id}_exit(void)
{{
\tpr_info(\"{m}: unloaded\\n\");
}}

module_init({id}_init);
module_exit({id}_exit);
MODULE_DESCRIPTION(\"{m}\");
MODULE_LICENSE(\"GPL\");
MODULE_VERSION(\"{v}\");
"
    )
}

/// The modules a kbuild Makefile (or Kbuild) builds: the `<name>.o` words
/// of its `obj-m` assignments (continuation lines joined), in order. Words
/// with make variables or subdirectories cannot be read without make and
/// are left out.
pub(crate) fn obj_m_modules(makefile: &str) -> Vec<String> {
    let joined = makefile.replace("\\\n", " ");
    let mut out: Vec<String> = Vec::new();
    for line in joined.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("obj-m") else { continue };
        let rest = rest.trim_start();
        let Some(words) = ["+=", ":=", "?=", "="].iter().find_map(|op| rest.strip_prefix(op)) else { continue };
        for w in words.split_whitespace() {
            let Some(name) = w.strip_suffix(".o") else { continue };
            if !name.is_empty() && !name.contains(['$', '/', '(', ')']) && !out.iter().any(|o| o == name) {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// The module/version `-m`/`-v` name (`m`, `v`), or with --from a
/// dkms.conf names (both: they must agree). The names must be single path
/// components.
pub(crate) fn tree_names(d: &mut Dkms, m: &str, v: &str, from: Option<&Path>) -> Result<(String, String)> {
    let (mut m, mut v) = (m.to_string(), v.to_string());
    if let Some(conf) = from.map(|f| f.join("dkms.conf")).filter(|c| c.is_file()) {
        let (k, a) = d.kernelver0();
        let c = d.read_conf_or_die(Target::new("", "", &k, &a), Some(&conf), false)?;
        let (cm, cv) = (c.package_name, c.package_version);
        if (!m.is_empty() && m != cm) || (!v.is_empty() && v != cv) {
            return Err(Error::die(Kind::ConfInvalid, [format!("{} names {cm}/{cv}, not {m}/{v}.", conf.display())])
                .with_hint("Leave out -m and -v to take the names from that dkms.conf."));
        }
        (m, v) = (cm, cv);
    }
    d.check_module_args("mktree", &m, &v)?;
    check_tree_names(d, &m, &v)?;
    Ok((m, v))
}

/// Refuse a module or version that is not one path component: the tree
/// would not be `<source_tree>/<module>-<version>`.
pub(crate) fn check_tree_names(d: &Dkms, m: &str, v: &str) -> Result<()> {
    if name::is_valid(m) && name::is_valid(v) {
        return Ok(());
    }
    Err(Error::die(
        Kind::TreeOutsideSourceTree,
        [format!("{m}-{v} is not a directory name inside {} (no '/' or '..').", d.ctx.trees.source_tree.display())],
    ))
}

/// `mktree`: create `<source_tree>/<m>-<v>/` (see the module docs).
pub(crate) fn make_tree(d: &Dkms, m: &str, v: &str, from: Option<&Path>) -> Result<Made> {
    let dir = d.ctx.trees.source_dir(m, v);
    if dir.symlink_metadata().is_ok() {
        return Err(Error::die(
            Kind::TreeExists,
            [format!("{} already exists.", dir.display()), "mktree does not change an existing tree.".into()],
        )
        .with_hint(format!("Register it with: dkms add {m}/{v}; or delete it first with: dkms unmktree {m}/{v}")));
    }
    if let Some(f) = from {
        if !f.is_dir() {
            return Err(Error::die(
                Kind::SourceMissing,
                [
                    "Could not find the directory to copy.".to_string(),
                    format!("Directory: {} does not exist.", f.display()),
                ],
            ));
        }
        // A copy of a directory holding the source tree would copy itself.
        let (real_from, real_tree) = (f.canonicalize(), d.ctx.trees.source_tree.canonicalize());
        if let (Ok(rf), Ok(rt)) = (real_from, real_tree) {
            if rt.starts_with(&rf) {
                return Err(Error::die(
                    Kind::FromHoldsSourceTree,
                    [format!("--from {} holds the source tree {}.", f.display(), rt.display())],
                ));
            }
        }
    }
    let io = |what: String| move |e| Error::io(Kind::SourceTreeWriteFailed, what, e);
    std::fs::create_dir_all(&d.ctx.trees.source_tree)
        .map_err(io(format!("mkdir -p {}", d.ctx.trees.source_tree.display())))?;
    // A new directory (mkdir(2) fails on any name that exists, a planted
    // link among them), filled and renamed into place.
    let (tmp, ()) = fsutil::fresh_sibling(&dir, "mktree", |t| std::fs::create_dir(t))
        .map_err(io(format!("mkdir {}", dir.display())))?;
    let tree = &d.ctx.trees.source_tree;
    let filled = fill(&tmp, m, v, from).and_then(|generated| {
        std::fs::rename(&tmp, &dir).map_err(io(format!("mv {} {}", tmp.display(), dir.display())))?;
        Ok(generated)
    });
    match filled {
        Ok(generated) => Ok(Made { dir, generated }),
        Err(e) => {
            let _ = beneath::remove_all(tree, &tmp);
            Err(e)
        }
    }
}

/// Fill the new, empty temporary directory: a copy of `from` (plus a
/// dkms.conf if it has none) or the skeleton; the files written, relative.
/// Each is a new file: a link the copy brought (a dangling `dkms.conf`) is
/// not written through.
fn fill(tmp: &Path, m: &str, v: &str, from: Option<&Path>) -> Result<Vec<String>> {
    let write = |name: &str, text: String| {
        let p = tmp.join(name);
        fsutil::create_exclusive(&p)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .map_err(|e| Error::io(Kind::SourceTreeWriteFailed, format!("writing {}", p.display()), e))
            .map(|()| name.to_string())
    };
    let Some(from) = from else {
        return Ok(vec![
            write("dkms.conf", conf_text(m, v, &[m.to_string()]))?,
            write("Makefile", makefile_text(m))?,
            write(&format!("{m}.c"), source_text(m, v))?,
        ]);
    };
    fsutil::copy_tree(from, tmp).map_err(|e| {
        Error::io(Kind::SourceTreeWriteFailed, format!("copying {} to {}", from.display(), tmp.display()), e)
    })?;
    if tmp.join("dkms.conf").symlink_metadata().is_ok() {
        return Ok(Vec::new());
    }
    let mut modules = Vec::new();
    for name in ["Kbuild", "Makefile"] {
        if let Ok(text) = std::fs::read_to_string(tmp.join(name)) {
            for n in obj_m_modules(&text) {
                if !modules.contains(&n) {
                    modules.push(n);
                }
            }
        }
    }
    if modules.is_empty() {
        modules.push(m.to_string());
    }
    Ok(vec![write("dkms.conf", conf_text(m, v, &modules))?])
}

/// `unmktree`: delete `<source_tree>/<m>-<v>/`, refusing a registered
/// module/version (unless `force`) and anything that is a symbolic link
/// or resolves outside the source tree. Renamed aside first, then deleted.
pub(crate) fn remove_tree(d: &Dkms, m: &str, v: &str, force: bool) -> Result<PathBuf> {
    check_tree_names(d, m, v)?;
    let trees = &d.ctx.trees;
    let dir = trees.source_dir(m, v);
    let meta = match dir.symlink_metadata() {
        Ok(meta) => meta,
        Err(_) => {
            return Err(Error::die(
                Kind::SourceMissing,
                [
                    "Could not find module source directory.".to_string(),
                    format!("Directory: {} does not exist.", dir.display()),
                ],
            ))
        }
    };
    let outside = |why: String| {
        Error::die(Kind::TreeOutsideSourceTree, [format!("Refusing to delete {}: {why}.", dir.display())])
            .with_hint("Nothing was deleted; remove it by hand if you mean it.")
    };
    if meta.file_type().is_symlink() {
        return Err(outside(format!(
            "it is a symbolic link to {}",
            std::fs::read_link(&dir).unwrap_or_default().display()
        )));
    }
    if !meta.is_dir() {
        return Err(outside("it is not a directory".into()));
    }
    // The source tree itself may be reached through symbolic links
    // (/usr/src -> /somewhere); the tree must be a real directory right in it.
    let real_tree = trees
        .source_tree
        .canonicalize()
        .map_err(|e| Error::io(Kind::SourceTreeWriteFailed, trees.source_tree.display(), e))?;
    let real_dir = dir.canonicalize().map_err(|e| Error::io(Kind::SourceTreeWriteFailed, dir.display(), e))?;
    if real_dir.parent() != Some(real_tree.as_path()) {
        return Err(outside(format!("it resolves to {}, outside {}", real_dir.display(), real_tree.display())));
    }
    if status::is_module_added(trees, m, v) && !force {
        return Err(Error::die(
            Kind::TreeRegistered,
            [format!("{m}/{v} is registered in the DKMS tree; its source tree is still in use.")],
        )
        .with_hint(format!("Remove it first with: dkms remove {m}/{v} --all (or give --force)")));
    }
    let aside = fsutil::temp_sibling(&real_dir, "unmktree");
    let _ = beneath::remove_all(&real_tree, &aside);
    std::fs::rename(&real_dir, &aside).map_err(|e| {
        Error::io(Kind::SourceTreeWriteFailed, format!("mv {} {}", real_dir.display(), aside.display()), e)
    })?;
    // remove_dir_all never follows the symbolic links inside the tree.
    beneath::remove_all(&real_tree, &aside)
        .map_err(|e| Error::io(Kind::SourceTreeWriteFailed, format!("rm -rf {}", aside.display()), e))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obj_m_words() {
        let mk = "# obj-m := commented.o\nobj-m += a.o b.o\nobj-m:=c.o \\\n  d.o\nobj-y += e.o\n\
                  obj-m += $(NAME).o sub/ f.o a.o\nobj-$(CONFIG_X) += g.o\nifneq ($(KERNELRELEASE),)\nobj-m ?= h.o\nendif\n";
        assert_eq!(obj_m_modules(mk), ["a", "b", "c", "d", "f", "h"]);
        assert!(obj_m_modules("all:\n\tmake\n").is_empty());
    }

    #[test]
    fn conf_names_the_modules() {
        let c = conf_text("m", "1", &["x".into(), "y".into()]);
        assert!(c.contains("BUILT_MODULE_NAME[1]=\"y\"\nDEST_MODULE_LOCATION[1]=\"/updates/dkms\"\n"), "{c}");
        assert!(c.ends_with("AUTOINSTALL=\"yes\"\n"));
        assert!(!makefile_text("m").contains("$(shell"), "never $(shell uname -r)");
    }
}
