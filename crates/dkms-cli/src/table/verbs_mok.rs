//! The verbs of module signing and Secure Boot that upstream lacks (issue
//! 28): `enroll` and `sign`, listed in `VERBS` with the others.

use super::FlagId::*;
use super::{LockKind, Operand, Verb};

/// `sign`'s operand (as `verbs`' MV, not imported: the two files import
/// each other only one way).
const MV: [Operand; 1] = [Operand::ModuleVersion];

/// `enroll` (not in upstream dkms)
pub const ENROLL: Verb = Verb {
    name: "enroll",
    binary: "dkms-enroll",
    summary: "Queue the signing certificate for enrolment as a Machine Owner Key",
    lock: LockKind::None,
    runs_make: false,
    flags: &[Kernelver, PasswordFile],
    extension: true,
    operands: &[],
    sub_words: &[],
    description: "Queue the certificate dkms signs modules with (the one a build for the kernel given with -k, \
default the running kernel, would use; see generate_mok) for enrolment as a Machine Owner Key, with mokutil \
--import. shim's MokManager then asks, at the next boot, for the one-time password given here before it enrols \
the certificate; from then on the kernel loads the modules dkms signs with Secure Boot on. The password is \
the first line of the --password-file file, or is asked twice on the terminal; without a terminal and without \
--password-file, enroll does not wait but exits with status {kind:password-unavailable}, so unattended runs \
never hang. Nothing is done when the certificate is already enrolled, or already waits to be enrolled (mokutil \
--test-key, --list-new). Exit status {kind:mok-unavailable} when there is no certificate, \
{kind:mokutil-missing} without mokutil, {kind:enroll-failed} when mokutil --import fails. Not in upstream dkms.",
};

/// `sign` (not in upstream dkms)
pub const SIGN: Verb = Verb {
    name: "sign",
    binary: "dkms-sign",
    summary: "Re-sign built and installed modules with the current key",
    lock: LockKind::Exclusive,
    runs_make: false,
    flags: &[Module, ModuleVersion, Kernelver, Arch, All, DryRun],
    extension: true,
    operands: &MV,
    sub_words: &[],
    description: "Re-sign the built and installed module files of the module/version (for every kernel it is \
built for, or those given with -k; with --all and no module, of every built module) with the key and \
certificate a build would sign with now: after generate_mok made a new pair, or framework.conf names another \
(mok_signing_key, mok_certificate). Each file, compressed or not, is signed as a build signs it: its old \
signature stripped, then sign_file with the kernel's CONFIG_MODULE_SIG_HASH, then compressed again. The new \
copies of one build are staged and journaled, then renamed into place: a killed run leaves every file either \
old or new, and the next run completes or rolls back what it began. status --verify then passes with the new \
signer. No pair is generated: without one, exit status {kind:mok-unavailable}; exit status {kind:sign-failed} \
when modules are not signed for the kernel or a file cannot be re-signed. --json gives one signed record per \
build. With --dry-run, after the same checks, each build is planned as \"Would re-sign\" with the files it would \
replace (JSON: planned records, action sign), and nothing is changed. Not in upstream dkms.",
};
