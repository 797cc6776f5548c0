//! The verb table: one entry per action, with everything the parser, the
//! front-end's dispatch, `--help`, the man pages and the completions need
//! (a new verb is one entry here, one file in dkms-cmd's `verbs/`, one arm
//! of its `runner`, then `make gen`).

use super::verbs_cache::CACHE;
use super::verbs_mok::{ENROLL, SIGN};
use super::FlagId::*;
use super::{FlagId, LockKind, Operand, Verb};

const HOOK: [FlagId; 3] = [Kernelver, Arch, DryRun];
const MV: [Operand; 1] = [Operand::ModuleVersion];

/// `add`
pub const ADD: Verb = Verb {
    name: "add",
    binary: "dkms-add",
    summary: "Register a module source tree with DKMS",
    lock: LockKind::Exclusive,
    runs_make: false,
    flags: &[
        Module,
        ModuleVersion,
        Kernelver,
        Arch,
        Conf,
        Force,
        RpmSafeUpgrade,
        Directive,
        KernelSourceDir,
        BuildSandbox,
    ],
    operands: &[Operand::SourceModuleVersion, Operand::SourceDir, Operand::Tarball],
    sub_words: &[],
    extension: false,
    description: "Register a module/version with DKMS: create <dkms_tree>/<module>/<version>/ and its source link \
to <source_tree>/<module>-<version>/, which must hold a valid dkms.conf.

Given a directory holding a dkms.conf (or the dkms.conf file itself), dkms first copies that directory to \
<source_tree>/<PACKAGE_NAME>-<PACKAGE_VERSION>/ (with --force, over an existing copy). Given a tarball, add does \
what ldtarball does. Adding a module/version twice fails with exit status {status:already-added}. The module's POST_ADD script runs last.",
};

/// `remove`
pub const REMOVE: Verb = Verb {
    name: "remove",
    binary: "dkms-remove",
    summary: "Uninstall, unbuild and unregister a module/version",
    lock: LockKind::Exclusive,
    runs_make: false,
    flags: &[Module, ModuleVersion, Kernelver, Arch, All, Conf, RpmSafeUpgrade, NoDepmod, Directive, DryRun],
    operands: &MV,
    sub_words: &[],
    extension: false,
    description: "Uninstall and unbuild the module/version for the kernels given with -k (the running kernel \
without -k; every kernel with --all), then, when no kernel is left built, unregister it: \
<dkms_tree>/<module>/<version>/ is deleted, including tarballs made by mktarball. The source in <source_tree> stays.",
};

/// `build`
pub const BUILD: Verb = Verb {
    name: "build",
    binary: "dkms-build",
    summary: "Build a module for a kernel",
    lock: LockKind::Exclusive,
    runs_make: true,
    flags: &[
        Module,
        ModuleVersion,
        Kernelver,
        Arch,
        Conf,
        Force,
        Config,
        KernelSourceDir,
        Jobs,
        Directive,
        BinaryCache,
        BinaryCachePush,
        BinaryCacheCertificate,
        BuildSandbox,
        Progress,
        DryRun,
    ],
    operands: &[Operand::ModuleVersion, Operand::SourceDir],
    sub_words: &[],
    extension: false,
    description: "Compile the module/version for each kernel given with -k (default: the running kernel). A \
module that is not added yet is added first, so build takes what add takes.

The source is copied to <dkms_tree>/<module>/<version>/build/, patches are applied, PRE_BUILD runs, then MAKE; \
the resulting modules are stripped, signed and compressed as the kernel expects, and moved into \
<kernel>/<arch>/module/ in one rename. The build log is kept as <kernel>/<arch>/log/make.log; after a failure \
build/ and build/make.log are left for inspection.

An already built module is skipped (exit status 0) unless --force is given. A kernel excluded by the \
BUILD_EXCLUSIVE_* directives is skipped with exit status {status:build-exclusive}; missing kernel headers give exit status \
{status:kernel-headers-missing}, missing BUILD_DEPENDS {status:build-depends-missing}, a failing make \
{status:build-failed}.",
};

/// `unbuild`
pub const UNBUILD: Verb = Verb {
    name: "unbuild",
    binary: "dkms-unbuild",
    summary: "Delete the built module for a kernel",
    lock: LockKind::Exclusive,
    runs_make: false,
    flags: &[Module, ModuleVersion, Kernelver, Arch, All, Conf, NoDepmod, Directive, DryRun],
    operands: &MV,
    sub_words: &[],
    extension: false,
    description: "Delete the built module of the module/version for the kernels given with -k (default: the \
running kernel; --all: every kernel it is built for), uninstalling it first where it is installed. The \
module/version stays added.",
};

/// `install`
pub const INSTALL: Verb = Verb {
    name: "install",
    binary: "dkms-install",
    summary: "Install a built module into a kernel's module tree",
    lock: LockKind::Exclusive,
    runs_make: true,
    flags: &[
        Module,
        ModuleVersion,
        Kernelver,
        Arch,
        Conf,
        Force,
        ForceVersionOverride,
        Config,
        KernelSourceDir,
        Jobs,
        SymlinkModules,
        NoDepmod,
        ModprobeOnInstall,
        Directive,
        BinaryCache,
        BinaryCachePush,
        BinaryCacheCertificate,
        BuildSandbox,
        Progress,
        DryRun,
    ],
    operands: &[Operand::ModuleVersion, Operand::SourceDir],
    sub_words: &[],
    extension: false,
    description: "Copy the built modules of the module/version into the kernel module tree of each kernel given \
with -k (default: the running kernel), building (and adding) first when needed.

A module the kernel already has is archived under <dkms_tree>/<module>/original_module/ and restored by \
uninstall; a module that is not newer than the kernel's own is refused unless --force or \
--force-version-override is given. PRE_INSTALL runs before (exit status {status:pre-install-failed} when it fails), POST_INSTALL after, \
then depmod. The kernel-<kernel>-<arch> link in the module's directory marks the installed version. An already \
installed module is skipped unless --force is given.",
};

/// `uninstall`
pub const UNINSTALL: Verb = Verb {
    name: "uninstall",
    binary: "dkms-uninstall",
    summary: "Remove an installed module from a kernel",
    lock: LockKind::Exclusive,
    runs_make: false,
    flags: &[Module, ModuleVersion, Kernelver, Arch, All, Conf, NoDepmod, Directive, DryRun],
    operands: &MV,
    sub_words: &[],
    extension: false,
    description: "Remove the installed modules of the module/version from the kernels given with -k (default: \
the running kernel; --all: every kernel it is built for), restore the modules it replaced, run POST_REMOVE and \
depmod. The module stays built.",
};

/// `match`
pub const MATCH: Verb = Verb {
    name: "match",
    binary: "dkms-match",
    summary: "Install the modules of a template kernel on another kernel",
    lock: LockKind::Exclusive,
    runs_make: true,
    flags: &[
        TemplateKernel,
        Kernelver,
        Arch,
        Module,
        Force,
        Config,
        KernelSourceDir,
        Jobs,
        NoDepmod,
        Directive,
        BuildSandbox,
        Progress,
    ],
    operands: &[],
    sub_words: &[],
    extension: false,
    description: "Build and install on the kernel given with -k (exactly one) every module/version that is \
installed on the kernel given with --templatekernel; with -m, only that module.",
};

/// `autoinstall`
pub const AUTOINSTALL: Verb = Verb {
    name: "autoinstall",
    binary: "dkms-autoinstall",
    summary: "Build and install every AUTOINSTALL module for a kernel",
    lock: LockKind::Exclusive,
    runs_make: true,
    flags: &[
        Kernelver,
        Arch,
        AllKernels,
        Force,
        Config,
        KernelSourceDir,
        Jobs,
        SymlinkModules,
        NoDepmod,
        ModprobeOnInstall,
        BinaryCache,
        BinaryCachePush,
        BinaryCacheCertificate,
        BuildSandbox,
        Progress,
        DryRun,
    ],
    operands: &[],
    sub_words: &[],
    extension: false,
    description: "Build and install, for one kernel (default: the running kernel), the newest version of every \
module whose dkms.conf says AUTOINSTALL=\"yes\" and which is not installed there yet, in BUILD_DEPENDS order. \
Nothing to do prints nothing. A module skipped by BUILD_EXCLUSIVE_* counts as done; any failure gives exit \
status {status:autoinstall-failed} after the others were tried. The file /etc/dkms/no-autoinstall turns it off.

When two or more modules need building, they are built side by side (not in upstream dkms): all builds \
share one budget of -j / parallel_jobs jobs through a GNU make jobserver (dkms run by make joins make's \
jobserver instead), a module waits only for its own BUILD_DEPENDS, and a failed build stops only the \
modules that depend on it. Installs still happen one by one in upstream's order, and the output is the \
serial run's, module by module. depmod runs once per kernel at the end (\"Running depmod... done.\" is still \
shown for each module) unless --modprobe-on-install needs it after each module.

Several kernels in one run (not in upstream dkms): -k given more than once with different kernels, or \
--all-kernels for every kernel with headers under the install tree; each kernel's output follows the \
previous one's, and the exit status is that of the first kernel that failed.

This is what the kernel hooks and the boot-time dkms_autoinstaller run.",
};

/// `mktarball`
pub const MKTARBALL: Verb = Verb {
    name: "mktarball",
    binary: "dkms-mktarball",
    summary: "Archive a module's source and built binaries",
    lock: LockKind::Shared,
    runs_make: false,
    flags: &[Module, ModuleVersion, Kernelver, Arch, All, Archive, BinariesOnly, SourceOnly, Conf],
    operands: &MV,
    sub_words: &[],
    extension: false,
    description: "Write a tarball of the module/version: its source and its built modules for the kernels given \
with -k (default: the running kernel; --all: every kernel it is built for). --source-only leaves the modules \
out, --binaries-only the source. The tarball is written to the module's tarball/ directory in the DKMS tree, \
named after the module, version, kernels and arches; --archive names another file.",
};

/// `ldtarball`
pub const LDTARBALL: Verb = Verb {
    name: "ldtarball",
    binary: "dkms-ldtarball",
    summary: "Load a DKMS tarball into the tree",
    lock: LockKind::Exclusive,
    runs_make: true,
    flags: &[Archive, Force, BuildSandbox, Progress],
    operands: &[Operand::Tarball],
    sub_words: &[],
    extension: false,
    description: "Load a tarball made by mktarball: copy its source to <source_tree>/<module>-<version>/, its \
built modules into the DKMS tree, and add the module/version. Kernels already in the tree are kept unless \
--force is given. A tarball holding only a source tree with a dkms.conf is added like a source directory.",
};

/// `status`
pub const STATUS: Verb = Verb {
    name: "status",
    binary: "dkms-status",
    summary: "Show what is added, built and installed",
    lock: LockKind::Shared,
    runs_make: false,
    flags: &[Module, ModuleVersion, Kernelver, Arch, Verify],
    operands: &MV,
    sub_words: &[],
    extension: false,
    description: "Print one line per module/version (added, broken) or per module/version/kernel/arch (built, \
installed), optionally limited to a module, version, kernel or arch:

  <module>/<version>, <kernel>, <arch>: installed

Reads the tree only and always exits 0.

With --verify (not in upstream dkms), every installed build is checked and each problem is printed, indented, \
under its line as `  <reason>: <what>`, the reasons being corrupted (the installed file differs from the built \
copy or is no readable module), wrong-kernel (its vermagic names another kernel), unsigned and foreign-signer \
(when dkms signs modules for that kernel: no signature, or not by the configured certificate), missing (an \
installed file, the built copy or an archived original is gone) and not-in-depmod (modules.dep does not list it). \
A module left unsigned because dkms could not create a signing key (the build said \"Key file ... not found and \
can't be generated\") is unsigned with the severity of what the kernel enforces: an error when its configuration \
has CONFIG_MODULE_SIG_FORCE=y or Secure Boot is on (efivars), else a warning, printed as `  unsigned (warning): \
<what>`, that does not fail verification (the kernel loads it, tainted). \
The exit status is then {status:verify-failed} when anything failed (warnings aside). In JSON, each installed build gives a verify record after its \
status record; builds that failed and have not been built since are listed as failed records.",
};

/// `generate_mok`
pub const GENERATE_MOK: Verb = Verb {
    name: "generate_mok",
    binary: "dkms-generate-mok",
    summary: "Create the module signing key and certificate",
    lock: LockKind::None,
    runs_make: false,
    flags: &[],
    operands: &[],
    sub_words: &[],
    extension: false,
    description: "Create the key and certificate used to sign modules (framework.conf mok_signing_key and \
mok_certificate, default /var/lib/dkms/mok.key and mok.pub) if they do not exist yet, and print their paths. \
An existing key is never overwritten.",
};

/// `kernel_preinst`
pub const KERNEL_PREINST: Verb = Verb {
    name: "kernel_preinst",
    binary: "dkms-kernel-preinst",
    summary: "Hook: before a kernel is installed",
    lock: LockKind::Exclusive,
    runs_make: false,
    flags: &HOOK,
    operands: &[],
    sub_words: &[],
    extension: false,
    description:
        "For kernel packages, before kernel -k is installed (or reinstalled): unbuild every AUTOINSTALL \
module built for it, so that kernel_postinst builds them afresh. Exit status {status:kernel-hook-failed} if one failed.",
};

/// `kernel_postinst`
pub const KERNEL_POSTINST: Verb = Verb {
    name: "kernel_postinst",
    binary: "dkms-kernel-postinst",
    summary: "Hook: after a kernel is installed",
    lock: LockKind::Exclusive,
    runs_make: true,
    flags: &[
        Kernelver,
        Arch,
        Jobs,
        KernelSourceDir,
        BinaryCache,
        BinaryCachePush,
        BinaryCacheCertificate,
        BuildSandbox,
        Progress,
        DryRun,
    ],
    operands: &[],
    sub_words: &[],
    extension: false,
    description: "For kernel packages, after kernel -k (exactly one) is installed: the same as autoinstall for \
that kernel.",
};

/// `kernel_prerm`
pub const KERNEL_PRERM: Verb = Verb {
    name: "kernel_prerm",
    binary: "dkms-kernel-prerm",
    summary: "Hook: before a kernel is removed",
    lock: LockKind::Exclusive,
    runs_make: false,
    flags: &HOOK,
    operands: &[],
    sub_words: &[],
    extension: false,
    description: "For kernel packages, before kernel -k is removed: uninstall and unbuild every module built for \
it. Exit status {status:kernel-hook-failed} if one failed.",
};

/// `kernel_queue` (not in upstream dkms)
pub const KERNEL_QUEUE: Verb = Verb {
    name: "kernel_queue",
    binary: "dkms-kernel-queue",
    summary: "Hook under dpkg: queue a kernel for dkms-rs's trigger (not in upstream dkms)",
    lock: LockKind::None,
    runs_make: false,
    flags: &[Kernelver, Arch],
    operands: &[],
    sub_words: &[],
    extension: true,
    description: "For the kernel hooks (postinst.d, header_postinst.d, the kernel-install plugin): inside a dpkg run \
of another package (DPKG_MAINTSCRIPT_PACKAGE) where the dkms-rs package declares its trigger dkms-rs-kernels, \
record kernel -k (exactly one) in <dkms_tree>/.pending-kernels and activate the trigger, so that its modules are \
built once, by kernel_trigger, after the transaction's kernel and header packages are configured. Exit status \
{kind:not-deferred}, having done nothing and printed nothing, anywhere else: the hook then builds at once. Takes no lock: \
the queue entry is written whole (a temporary and a rename), and the hook must not wait for a build. Not in upstream dkms.",
};

/// `kernel_trigger` (not in upstream dkms)
pub const KERNEL_TRIGGER: Verb = Verb {
    name: "kernel_trigger",
    binary: "dkms-kernel-trigger",
    summary: "dkms-rs's dpkg trigger: build the queued kernels (not in upstream dkms)",
    lock: LockKind::Exclusive,
    runs_make: true,
    flags: &[Jobs],
    operands: &[],
    sub_words: &[],
    extension: true,
    description: "Run by the dkms-rs package's postinst when its trigger dkms-rs-kernels fires: for each kernel \
kernel_queue recorded, autoinstall once if its headers are installed, then take it off the queue; a kernel \
without headers gets one line saying what to install and stays queued. A module whose remembered failure for \
the kernel has the same inputs (sources, dkms.conf, kernel release and config) is not built again: one line \
names its log and how to retry (dkms autoinstall -k, by hand, always builds). After installing modules for a \
kernel whose initramfs exists, runs update-initramfs -u -k for it. Exit status: that of the first kernel that \
failed. Not in upstream dkms.",
};

/// `mktree` (not in upstream dkms)
pub const MKTREE: Verb = Verb {
    name: "mktree",
    binary: "dkms-mktree",
    summary: "Create a module source tree ready to add (not in upstream dkms)",
    lock: LockKind::Exclusive,
    runs_make: false,
    flags: &[Module, ModuleVersion, From],
    operands: &MV,
    sub_words: &[],
    extension: true,
    description: "Create <source_tree>/<module>-<version>/ as a module tree that dkms add and dkms build accept as \
it stands. Not in upstream dkms (its reference page lists the word; upstream answers \"Unknown action\").

Without --from, the tree is a skeleton: a dkms.conf (PACKAGE_NAME, PACKAGE_VERSION, BUILT_MODULE_NAME[0], \
DEST_MODULE_LOCATION[0]=\"/updates/dkms\", AUTOINSTALL=\"yes\"), a kbuild Makefile that builds for \
$(KERNELRELEASE) (the kernel dkms builds for, never uname -r) and a minimal <module>.c. With --from DIR, the \
tree is a copy of DIR made the way add copies a source directory; a dkms.conf is generated when DIR has none, \
naming the modules of its Makefile's obj-m lines. When DIR has a dkms.conf, -m and -v may be left out (they \
must agree with its PACKAGE_NAME and PACKAGE_VERSION).

An existing <source_tree>/<module>-<version>/ is refused with exit status {kind:tree-exists}; a --from \
directory that does not exist gives exit status {status:source-missing}.",
};

/// `unmktree` (not in upstream dkms)
pub const UNMKTREE: Verb = Verb {
    name: "unmktree",
    binary: "dkms-unmktree",
    summary: "Delete a module source tree (not in upstream dkms)",
    lock: LockKind::Exclusive,
    runs_make: false,
    flags: &[Module, ModuleVersion, Force],
    operands: &MV,
    sub_words: &[],
    extension: true,
    description: "Delete <source_tree>/<module>-<version>/. Not in upstream dkms.

While the module/version is registered in the DKMS tree it is refused with exit status \
{kind:tree-registered} unless --force is given (dkms remove <module>/<version> --all unregisters it). A \
<module>-<version> that is a symbolic link, or that resolves outside the source tree, is refused with \
exit status {kind:tree-outside-source-tree}: nothing outside the source tree is ever deleted. The \
directory is first renamed aside, then deleted, so it is either all there or gone.",
};

/// `ltdk` (not in upstream dkms)
pub const LTDK: Verb = Verb {
    name: "ltdk",
    binary: "dkms-ltdk",
    summary: "Check the licence of built modules against GPL-only exports (not in upstream dkms)",
    lock: LockKind::Shared,
    runs_make: false,
    flags: &[Module, ModuleVersion, Kernelver, Arch, KernelSourceDir],
    operands: &MV,
    sub_words: &[],
    extension: true,
    description: "For each module file built for the module/version and the kernels given with -k (default: the \
running kernel), read the license of its .modinfo (.ko, .ko.gz, .ko.xz and .ko.zst alike) and say whether the \
kernel takes it as GPL-compatible (the kernel's license_is_gpl_compatible: GPL, GPL v2, GPL and additional \
rights, Dual BSD/GPL, Dual MIT/GPL, Dual MPL/GPL), whether loading it taints the kernel (proprietary), and \
which of its undefined symbols the kernel exports with EXPORT_SYMBOL_GPL (from the kernel's Module.symvers in \
its build directory, or --kernelsourcedir), which a module that is not GPL-compatible cannot use. Not in \
upstream dkms.

Exit status 0 when every module file is GPL-compatible or uses no GPL-only symbol; {kind:gpl-only-symbols} \
when one is not GPL-compatible and uses GPL-only symbols: the kernel would refuse to load it. Nothing built \
for a kernel gives exit status {kind:no-module-files}, a missing Module.symvers {status:kernel-headers-missing}. --json gives one \
license record per module file.",
};

/// `log` (not in upstream dkms)
pub const LOG: Verb = Verb {
    name: "log",
    binary: "dkms-log",
    summary: "Show the make.log of a module's last build",
    lock: LockKind::Shared,
    runs_make: false,
    flags: &[Module, ModuleVersion, Kernelver, Arch, PathOnly],
    extension: true,
    operands: &MV,
    sub_words: &[],
    description: "Print the make.log of the last build of the module/version for the kernel given with -k \
(default: the running kernel), whether it succeeded (kept as <kernel>/<arch>/log/make.log) or failed (kept by \
dkms's failure memory as make.log in <dkms_tree>/.failures/ under <module>/<version>/<kernel>/<arch>/, and left \
in build/ as upstream does). With --path, print only where it is. Exit status {status:log-missing} when there is none. Not in upstream dkms.",
};

/// `doctor` (not in upstream dkms)
pub const DOCTOR: Verb = Verb {
    name: "doctor",
    binary: "dkms-doctor",
    summary: "Diagnose the kernels, signing set-up and DKMS tree",
    lock: LockKind::Shared,
    runs_make: false,
    flags: &[Kernelver],
    extension: true,
    operands: &[],
    sub_words: &[],
    description: "A read-only diagnosis, for every kernel under the install tree (or those given with -k) and \
for dkms itself. Each finding has a severity (info, warning, error), a stable kind and, where there is one, a \
remedy. Checked: the kernel headers (build/include, Module.symvers, .config) and the compiler named by \
CONFIG_CC_VERSION_TEXT; sign-file; the signing key and certificate (present, the key readable only by root, the \
two belonging together); Secure Boot (efivars) and whether the certificate is enrolled (mokutil --test-key, where \
mokutil exists), saying so when either cannot be told; the compression tool of CONFIG_MODULE_COMPRESS_*; the kernel hooks of the distribution; the DKMS tree \
(dangling source links, half-built builds, leftover journals, modules built for kernels that are gone, failed \
builds remembered, installed modules failing status --verify); whether builds run in the build sandbox \
(build_sandbox) and whether it works here; free space where builds happen. Exit status {status:doctor-errors} \
when there is an error-level finding. Not in upstream dkms.",
};

/// Every action: upstream's, in upstream's usage order, then ours.
pub const VERBS: &[&Verb] = &[
    &ADD,
    &REMOVE,
    &BUILD,
    &UNBUILD,
    &INSTALL,
    &UNINSTALL,
    &MATCH,
    &AUTOINSTALL,
    &MKTARBALL,
    &LDTARBALL,
    &STATUS,
    &GENERATE_MOK,
    &KERNEL_PREINST,
    &KERNEL_POSTINST,
    &KERNEL_PRERM,
    &KERNEL_QUEUE,
    &KERNEL_TRIGGER,
    &MKTREE,
    &UNMKTREE,
    &LTDK,
    &LOG,
    &DOCTOR,
    &CACHE,
    &ENROLL,
    &SIGN,
];
