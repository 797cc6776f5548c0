//! What each name of `DKMS_CONF_VARIABLES` (upstream's `dkms_conf_variables`)
//! means: the text of dkms.conf(5) and of dkms.8's DKMS.CONF section, kept
//! beside the whitelist so that a directive the reader keeps cannot go
//! undocumented (the test below, and xtask's generator, walk both lists).
//!
//! Text is plain prose: paragraphs separated by blank lines, lines indented
//! by two spaces shown as examples. "(not upstream)" marks our additions.

/// One directive of dkms.conf.
#[derive(Debug, Clone, Copy)]
pub struct Directive {
    /// The variable name, as in `DKMS_CONF_VARIABLES`.
    pub name: &'static str,
    /// An array with one element per kernel module (`NAME[#]`).
    pub array: bool,
    /// Set by dkms itself (upstream's lowercase internal arrays); kept by
    /// the whitelist, not for dkms.conf authors.
    pub internal: bool,
    pub doc: &'static str,
}

const fn d(name: &'static str, array: bool, doc: &'static str) -> Directive {
    Directive { name, array, internal: false, doc }
}

const fn internal(name: &'static str, doc: &'static str) -> Directive {
    Directive { name, array: true, internal: true, doc }
}

const DEPRECATED_DOC: &str = "Deprecated; accepted and ignored. add, build and install print \
`Deprecated feature: NAME (<file>)` on stderr (CLEAN is exempt when it is true, /bin/true or /usr/bin/true).";

/// Every directive, in the order of `DKMS_CONF_VARIABLES`.
pub const DIRECTIVES: [Directive; 40] = [
    d("PACKAGE_NAME", false, "The module's name (required). It must match the name used on the command line and in the source directory's name (<source_tree>/<module>-<version>). It must be one plain directory name (not empty, no /, no control character, not . or .., not starting with -): otherwise add refuses it with exit status 8 (not upstream)."),
    d("PACKAGE_VERSION", false, "The module's version (required), under the same rules as PACKAGE_NAME."),
    d("POST_ADD", false, "Script, relative to the source directory and run there, after add. Its exit status is ignored. An executable /etc/dkms/<module>/<script name> takes its place."),
    d("POST_BUILD", false, "Script, relative to the build directory, run after the build once the modules are in <kernel>/<arch>/module/; its output goes to make.log. A non-zero status fails the build with that status."),
    d("POST_INSTALL", false, "Script, relative to the source directory and run there, after install. Its exit status is ignored. An executable /etc/dkms/<module>/<script name> takes its place."),
    d("POST_REMOVE", false, "Script, relative to the source directory and run there, after uninstall and remove. Its exit status is ignored. An executable /etc/dkms/<module>/<script name> takes its place."),
    d("PRE_BUILD", false, "Script, relative to the build directory, run before make (after the patches); its output goes to make.log. A non-zero status fails the build with that status. With build_sandbox it runs confined (not upstream)."),
    d("PRE_INSTALL", false, "Script, relative to the source directory and run there, before install. A non-zero status stops the install (exit status 101) unless --force is given. An executable /etc/dkms/<module>/<script name> takes its place."),
    d("BUILD_DEPENDS", true, "Other DKMS modules that must be installed (any version) for the same kernel and architecture before this one is built, else the build stops with exit status 13 (--force builds anyway). Also the order of autoinstall."),
    d("BUILD_EXCLUSIVE_ARCH", true, "Extended regular expression the architecture must match for the module to be built."),
    d("BUILD_EXCLUSIVE_CONFIG", true, "Space-separated kernel options that must be set (CONFIG_FOO: =y or =m) or unset (!CONFIG_FOO) in the kernel's configuration (include/config/auto.conf, else .config); not checked when the kernel has no configuration file."),
    d("BUILD_EXCLUSIVE_KERNEL", true, "Extended regular expression the kernel release must match.\n\nA kernel that does not satisfy a BUILD_EXCLUSIVE_* directive is skipped with a warning and exit status 77 (autoinstall counts it as skipped). Given per module (as an array), a module whose constraint fails is left out, and the kernel is skipped only when no module is left."),
    d("BUILD_EXCLUSIVE_KERNEL_MIN", true, "Lowest kernel version (inclusive) to build for. Versions are compared with every run of digits padded to three places (upstream's VER)."),
    d("BUILD_EXCLUSIVE_KERNEL_MAX", true, "Highest kernel version (inclusive) to build for."),
    internal("build_exclude", "Whether BUILD_EXCLUSIVE_* excludes the kernel (upstream's internal flag)."),
    d("MAKE", true, "The build command, run in the build directory with eval. Default: make -C <kernel_source_dir> M=<dkms_tree>/<module>/<version>/build, with LLVM=1 added when the kernel was built with clang. A leading make gets -j<jobs> and KERNELRELEASE=<kernel> added (quote it, or start with something else, to avoid that). With build_sandbox it runs confined (not upstream); build_timeout in framework.conf bounds it (not upstream)."),
    d("MAKE_MATCH", true, "Extended regular expression: MAKE[#] is used only for kernels matching it; the last matching element wins, MAKE[0] when none matches and MAKE_MATCH[0] is empty."),
    d("PATCH", true, "A patch in the source's patches/ directory, applied with patch -p1 in the build directory before PRE_BUILD, in index order. A name with a .. component or a missing patch stops the build (exit status 5), a patch that does not apply too (exit status 6). Patches in /etc/dkms/<module>/patches/ replace those of the source with the same name."),
    d("PATCH_MATCH", true, "Extended regular expression: PATCH[#] is applied only for kernels matching it (always when empty)."),
    internal("patch_array", "The patches that apply to this kernel (upstream's internal array)."),
    d("BUILT_MODULE_NAME", true, "File name, without .ko, of a module the build produces (it must not end in .o or .ko). May be left out for a package of one module named like the package. It must be one plain file name, else \"Bad conf file\", exit status 8 (not upstream)."),
    internal("built_module_name", "BUILT_MODULE_NAME after defaults (upstream's internal array)."),
    d("BUILT_MODULE_LOCATION", true, "Directory of that module relative to the top of the build tree (default: the top). It may not contain .. nor start with / (not upstream: exit status 8)."),
    internal("built_module_location", "BUILT_MODULE_LOCATION after defaults (upstream's internal array)."),
    d("DEST_MODULE_NAME", true, "Name to install the module under (default: the built name; it must not end in .o or .ko, and must be one plain file name: not upstream)."),
    internal("dest_module_name", "DEST_MODULE_NAME after defaults (upstream's internal array)."),
    d("DEST_MODULE_LOCATION", true, "Where to install the module below /lib/modules/<kernel> (required for each module); must start with /kernel, /updates or /extra, and may not contain .. (not upstream). Debian, Ubuntu and Arch install into /updates/dkms instead, Fedora and RHEL into /extra, SUSE into /updates; ADDON_MODULES_DIR replaces it everywhere."),
    internal("dest_module_location", "DEST_MODULE_LOCATION after the distribution's override (upstream's internal array)."),
    d("STRIP", true, "no (any word starting with n or N) keeps the debugging symbols; by default (or yes) they are removed with strip -g (llvm-strip -g for a clang kernel) before signing. An empty element takes STRIP[0]."),
    internal("strip", "STRIP after defaults (upstream's internal array)."),
    d("AUTOINSTALL", false, "yes (any case) lets autoinstall, the kernel hooks and common.postinst build and install the module for new kernels; no or empty does not; anything else is an error."),
    d("NO_WEAK_MODULES", false, "yes keeps the module out of weak-modules (RHEL, SUSE)."),
    d("BUILD_DEPENDS_REBUILD", false, "yes: after a build, the versions of the BUILD_DEPENDS modules are recorded (<kernel>/<arch>/.dep_<module>); when one of them is later installed in another version, this module is uninstalled, rebuilt and installed again."),
    d("OBSOLETE_BY", false, "Kernel version from which the kernel has the module itself: install refuses kernels from that version on (--force overrides), and it acts as BUILD_EXCLUSIVE_KERNEL_MAX when that is unset. Deprecated (a strict read says to use BUILD_EXCLUSIVE_KERNEL_MAX)."),
    d("CLEAN", false, DEPRECATED_DOC),
    d("REMAKE_INITRD", false, DEPRECATED_DOC),
    d("MODULES_CONF", true, DEPRECATED_DOC),
    d("MODULES_CONF_OBSOLETES", true, DEPRECATED_DOC),
    d("MODULES_CONF_ALIAS_TYPE", true, DEPRECATED_DOC),
    d("MODULES_CONF_OBSOLETE_ONLY", false, DEPRECATED_DOC),
];

/// The entry of `name`.
pub fn directive(name: &str) -> Option<&'static Directive> {
    DIRECTIVES.iter().find(|d| d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::{DEPRECATED, DKMS_CONF_VARIABLES};

    /// Every name the reader keeps has its text, and every text names a kept
    /// variable: the same names in the same order.
    #[test]
    fn every_directive_the_reader_keeps_is_documented() {
        let documented: Vec<&str> = DIRECTIVES.iter().map(|d| d.name).collect();
        assert_eq!(documented, DKMS_CONF_VARIABLES.to_vec());
        for d in DIRECTIVES {
            assert!(!d.doc.trim().is_empty(), "{} has no text", d.name);
            assert_eq!(d.internal, d.name.chars().any(|c| c.is_ascii_lowercase()), "{}", d.name);
            assert_eq!(DEPRECATED.contains(&d.name) && d.name != "OBSOLETE_BY", d.doc == DEPRECATED_DOC, "{}", d.name);
        }
        assert!(directive("MAKE").is_some_and(|d| d.array));
        assert!(directive("NOT_A_DIRECTIVE").is_none());
    }
}
