//! The binary cache's verb (not in upstream dkms): `cache` and its
//! sub-words (key, push, deb, verify, gc, gate, status, kmm), listed in `VERBS`
//! with the others; its own file, as its text is the longest.

use super::FlagId::*;
use super::{LockKind, Operand, SubWord, Verb};

/// `cache` (not in upstream dkms)
pub const CACHE: Verb = Verb {
    name: "cache",
    binary: "dkms-cache",
    summary: "Binary cache: print a build's key, push, verify or prune entries; write .deb packages of builds",
    extension: true,
    lock: LockKind::Shared,
    runs_make: false,
    flags: &[
        Module,
        ModuleVersion,
        Kernelver,
        Arch,
        Config,
        KernelSourceDir,
        Directive,
        BinaryCache,
        BinaryCachePush,
        BinaryCacheCertificate,
        To,
        KeepKernels,
        All,
        Cache,
    ],
    operands: &[Operand::SubWord],
    sub_words: &[
        SubWord {
            word: "key",
            operand: Operand::ModuleVersion,
            summary: "Print the cache key of a build and its inputs",
        },
        SubWord {
            word: "push",
            operand: Operand::ModuleVersion,
            summary: "Write a build into a cache directory as a signed entry",
        },
        SubWord {
            word: "deb",
            operand: Operand::ModuleVersion,
            summary: "Write a Debian package of the built modules of a build",
        },
        SubWord { word: "verify", operand: Operand::Dir, summary: "Check every entry of a cache directory" },
        SubWord { word: "gc", operand: Operand::Dir, summary: "Remove the entries of kernels no longer wanted" },
        SubWord {
            word: "gate",
            operand: Operand::Nothing,
            summary: "Say whether the cache holds every AUTOINSTALL module for a kernel",
        },
        SubWord {
            word: "status",
            operand: Operand::Nothing,
            summary: "cache gate, unless the DKMS tree has a module named cache",
        },
        SubWord {
            word: "kmm",
            operand: Operand::ModuleVersion,
            summary: "Write builds as a Kubernetes KMM ModuleLoader image",
        },
    ],
    description: "Work on the binary cache of built modules (see BINARY CACHE). Not in upstream dkms. The first \
word after cache says what to do:

cache key module/version -k kernel prints the cache key of that build and, below it, the inputs it is computed \
from (as JSON).

cache push module/version -k kernel [--to dir] writes the existing build of that module/version for that kernel \
into the cache directory dir (default: binary_cache_push) as a signed entry: <key>.json, <key>.json.sig and \
<key>.tar.zst. The manifest is signed with mok_signing_key and mok_certificate.

cache deb module/version -k kernel --to dir (or cache deb --all -k kernel --to dir: every module/version built \
for the kernel) writes a Debian binary package <module>-modules-<kernel>_<version>-dkms<build time>_<arch>.deb of \
the built modules into dir: the modules where dkms install places them, Depends: linux-image-<kernel> | \
linux-image-unsigned-<kernel>, Provides: <module>-modules, maintainer scripts that run depmod for the kernel, an \
update-initramfs trigger, the copyright file from the module source's COPYING or LICENSE. The package name is \
lower case with '_' written '-'. A module dkms would not install (BUILD_EXCLUSIVE, OBSOLETE_BY) is refused with \
install's error. A module/version added but not built here is packaged from a verified binary_cache entry when a \
source has it (no compiler needed). DEBFULLNAME and DEBEMAIL name the maintainer.

cache verify dir checks every entry of the cache directory: the signature against binary_cache_certificate, the \
manifest's structure and key, the archive's files against their sizes and hashes, and the modules' vermagic. It \
prints one line per bad entry and exits with status {status:cache-entry-bad} if there is any.

cache gc dir --keep-kernels kernels removes the entries of every kernel not in the list, and stray temporary \
files.

cache gate -k kernel [--cache sources] is a rollout gate for a kernel that need not be installed yet (its \
headers must be): for every AUTOINSTALL module of this machine (the newest version of each) it computes the \
key of its build for that kernel, fetches the entry from the sources and verifies it as a build would, without \
installing anything, and prints whether the cache holds it. It exits with status {status:cache-incomplete} naming the modules the \
cache lacks.

cache status -k kernel [--cache sources] is cache gate, except that upstream reads dkms cache status as the \
status action of a module named cache: when the DKMS tree has a module named cache, dkms cache status shows \
that module's status, as upstream does. dkms-cache status is always cache gate, as is cache gate itself.

cache kmm module/version... -k kernel --to ref writes the existing builds of those modules for that kernel \
as a Kubernetes KMM ModuleLoader image: the modules under /opt/lib/modules/kernel/updates/dkms/ with the files \
of depmod -b /opt kernel, and a static cp (busybox-static) at /bin/cp. ref is oci-layout:dir[:tag] (an OCI \
image layout directory) or an OCI registry repository; the tag defaults to the kernel.

Sources and push targets may be OCI registries: oci://HOST[:PORT]/REPO (HTTPS) or oci+http://HOST:PORT/REPO; \
an entry is one artifact tagged with its key.",
};
