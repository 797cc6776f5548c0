//! The verb table: one entry per action, with everything the parser, the
//! front-end's dispatch, `--help`, the man pages and the completions need
//! (a new verb is one entry here, one file in dkms-cmd's `verbs/`, one arm
//! of its `runner`, then `make gen`).

use super::FlagId::*;
use super::{FlagId, LockKind, Operand, Verb};

const TARGET: [FlagId; 4] = [Module, ModuleVersion, Kernelver, Arch];
const HOOK: [FlagId; 2] = [Kernelver, Arch];
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
    description: "Register a module/version with DKMS: create <dkms_tree>/<module>/<version>/ and its source link \
to <source_tree>/<module>-<version>/, which must hold a valid dkms.conf.

Given a directory holding a dkms.conf (or the dkms.conf file itself), dkms first copies that directory to \
<source_tree>/<PACKAGE_NAME>-<PACKAGE_VERSION>/ (with --force, over an existing copy). Given a tarball, add does \
what ldtarball does. Adding a module/version twice fails with exit status 3. The module's POST_ADD script runs last.",
};

/// `remove`
pub const REMOVE: Verb = Verb {
    name: "remove",
    binary: "dkms-remove",
    summary: "Uninstall, unbuild and unregister a module/version",
    lock: LockKind::Exclusive,
    runs_make: false,
    flags: &[Module, ModuleVersion, Kernelver, Arch, All, Conf, RpmSafeUpgrade, NoDepmod, Directive],
    operands: &MV,
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
        BuildSandbox,
    ],
    operands: &[Operand::ModuleVersion, Operand::SourceDir],
    description: "Compile the module/version for each kernel given with -k (default: the running kernel). A \
module that is not added yet is added first, so build takes what add takes.

The source is copied to <dkms_tree>/<module>/<version>/build/, patches are applied, PRE_BUILD runs, then MAKE; \
the resulting modules are stripped, signed and compressed as the kernel expects, and moved into \
<kernel>/<arch>/module/ in one rename. The build log is kept as <kernel>/<arch>/log/make.log; after a failure \
build/ and build/make.log are left for inspection.

An already built module is skipped (exit status 0) unless --force is given. A kernel excluded by the \
BUILD_EXCLUSIVE_* directives is skipped with exit status 77; missing kernel headers give exit status 21, \
missing BUILD_DEPENDS 13, a failing make 10.",
};

/// `unbuild`
pub const UNBUILD: Verb = Verb {
    name: "unbuild",
    binary: "dkms-unbuild",
    summary: "Delete the built module for a kernel",
    lock: LockKind::Exclusive,
    runs_make: false,
    flags: &[Module, ModuleVersion, Kernelver, Arch, All, Conf, NoDepmod, Directive],
    operands: &MV,
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
        BuildSandbox,
    ],
    operands: &[Operand::ModuleVersion, Operand::SourceDir],
    description: "Copy the built modules of the module/version into the kernel module tree of each kernel given \
with -k (default: the running kernel), building (and adding) first when needed.

A module the kernel already has is archived under <dkms_tree>/<module>/original_module/ and restored by \
uninstall; a module that is not newer than the kernel's own is refused unless --force or \
--force-version-override is given. PRE_INSTALL runs before (exit status 101 when it fails), POST_INSTALL after, \
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
    flags: &[Module, ModuleVersion, Kernelver, Arch, All, Conf, NoDepmod, Directive],
    operands: &MV,
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
    ],
    operands: &[],
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
        BuildSandbox,
    ],
    operands: &[],
    description: "Build and install, for one kernel (default: the running kernel), the newest version of every \
module whose dkms.conf says AUTOINSTALL=\"yes\" and which is not installed there yet, in BUILD_DEPENDS order. \
Nothing to do prints nothing. A module skipped by BUILD_EXCLUSIVE_* counts as done; any failure gives exit \
status 11 after the others were tried. The file /etc/dkms/no-autoinstall turns it off.

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
    flags: &[Archive, Force, BuildSandbox],
    operands: &[Operand::Tarball],
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
    flags: &TARGET,
    operands: &MV,
    description: "Print one line per module/version (added, broken) or per module/version/kernel/arch (built, \
installed), optionally limited to a module, version, kernel or arch:

  <module>/<version>, <kernel>, <arch>: installed

Reads the tree only and always exits 0.",
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
    description: "For kernel packages, before kernel -k is installed (or reinstalled): unbuild every AUTOINSTALL \
module built for it, so that kernel_postinst builds them afresh. Exit status 14 if one failed.",
};

/// `kernel_postinst`
pub const KERNEL_POSTINST: Verb = Verb {
    name: "kernel_postinst",
    binary: "dkms-kernel-postinst",
    summary: "Hook: after a kernel is installed",
    lock: LockKind::Exclusive,
    runs_make: true,
    flags: &[Kernelver, Arch, Jobs, KernelSourceDir, BuildSandbox],
    operands: &[],
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
    description: "For kernel packages, before kernel -k is removed: uninstall and unbuild every module built for \
it. Exit status 14 if one failed.",
};

/// Every upstream action, in upstream's usage order.
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
];
