//! Kernel upgrades under dpkg (Debian): the kernel hooks queue the kernel
//! and activate our dpkg trigger instead of building, and the trigger
//! builds each queued kernel once, after the transaction's kernel and
//! header packages are configured (initramfs-tools defers its work with a
//! trigger the same way; Arch runs dkms once per pacman transaction from an
//! alpm hook). Not in upstream dkms, whose hooks build at once and so build
//! twice, or fail, when apt configures the image and its headers in
//! separate steps (dkms#521, #545; Launchpad 1427175).
//!
//! The queue is one empty-named file per kernel,
//! `<dkms_tree>/.pending-kernels/<kernel>`, each written through an
//! exclusively created temporary and a rename, so a crash leaves a kernel
//! either queued or not. Names read back are validated (`crate::name`)
//! like any other kernel name.

use crate::{beneath, cache, env, name, tools};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The dpkg trigger our package declares (`interest-noawait` in its
/// DEBIAN/triggers) and the hooks activate.
pub const TRIGGER: &str = "dkms-rs-kernels";

/// Our package's name.
pub const PACKAGE: &str = "dkms-rs";

/// Where our builds record the kernel headers they were made against:
/// `<dkms_tree>/.cache/headers/<m>/<v>/<k>/<a>`, beside the conf cache and
/// not in the build (upstream's layout of `<k>/<a>` stays as it is). Like
/// every cache there it is derived: without it kernel_preinst unbuilds, as
/// upstream's does.
pub fn header_stamp(dkms_tree: &Path, m: &str, v: &str, k: &str, a: &str) -> PathBuf {
    header_stamps(dkms_tree).join(m).join(v).join(k).join(a)
}

/// `<dkms_tree>/.cache/headers`, where the header stamps are.
fn header_stamps(dkms_tree: &Path) -> PathBuf {
    dkms_tree.join(".cache/headers")
}

/// Drop the header stamp of the build `m/v/k/a`, which is gone.
pub fn drop_stamp(dkms_tree: &Path, m: &str, v: &str, k: &str, a: &str) {
    drop_below_stamps(dkms_tree, &header_stamp(dkms_tree, m, v, k, a));
}

/// Drop every header stamp of the version `m/v`, which left the tree.
pub fn drop_version_stamps(dkms_tree: &Path, m: &str, v: &str) {
    drop_below_stamps(dkms_tree, &header_stamps(dkms_tree).join(m).join(v));
}

/// `remove_pruning` below `.cache/headers` (nothing there: nothing done).
fn drop_below_stamps(dkms_tree: &Path, p: &Path) {
    let _ = beneath::remove_pruning(dkms_tree, p, &header_stamps(dkms_tree));
}

/// The package whose maintainer script runs us, when dpkg runs us.
pub fn maintscript_package() -> Option<String> {
    env::nonempty("DPKG_MAINTSCRIPT_PACKAGE")
}

/// dpkg's database (`DPKG_ADMINDIR`, which dpkg sets for maintainer
/// scripts).
fn admindir() -> PathBuf {
    env::nonempty("DPKG_ADMINDIR").map_or_else(|| PathBuf::from("/var/lib/dpkg"), PathBuf::from)
}

/// Does the installed dkms-rs package declare interest in `TRIGGER`? A
/// `make install` has no package and so no trigger: its hooks must build
/// at once, or nothing would ever build the queued kernels.
pub fn trigger_declared() -> bool {
    let file = admindir().join("info").join(format!("{PACKAGE}.triggers"));
    std::fs::read_to_string(file).is_ok_and(|text| {
        text.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            matches!(w.as_slice(), [i, t] if i.starts_with("interest") && *t == TRIGGER)
        })
    })
}

/// Should a kernel hook queue its kernel rather than build? Only inside a
/// dpkg run of another package (our own postinst runs the queue), with the
/// trigger declared and `dpkg-trigger` at hand.
pub fn should_defer() -> bool {
    maintscript_package().is_some_and(|p| p != PACKAGE) && trigger_declared() && tools::available("dpkg-trigger")
}

/// `dpkg-trigger --no-await TRIGGER`: our postinst runs `triggered` at the
/// end of the dpkg run.
pub fn activate() -> io::Result<()> {
    let mut c = tools::command("dpkg-trigger", &[]);
    c.args(["--no-await", TRIGGER]);
    match tools::status(&mut c)? {
        0 => Ok(()),
        st => Err(io::Error::other(format!("dpkg-trigger --no-await {TRIGGER} exited with status {st}"))),
    }
}

/// `<dkms_tree>/.pending-kernels`
pub fn queue_dir(dkms_tree: &Path) -> PathBuf {
    dkms_tree.join(".pending-kernels")
}

/// Queue `kernel` (a validated name).
pub fn enqueue(dkms_tree: &Path, kernel: &str) -> io::Result<()> {
    if !name::is_valid(kernel) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a kernel name"));
    }
    let dir = queue_dir(dkms_tree);
    std::fs::create_dir_all(&dir)?;
    // O_EXCL temporary, then rename: the entry appears whole or not at all.
    let mut tmp = tempfile::Builder::new().prefix(".tmp").tempfile_in(&dir)?;
    tmp.write_all(format!("{kernel}\n").as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(dir.join(kernel)).map_err(|e| e.error)?;
    Ok(())
}

/// The queue: the kernels, sorted, and the entries that are not kernel
/// names (printable), which are removed.
pub fn queued(dkms_tree: &Path) -> (Vec<String>, Vec<String>) {
    let dir = queue_dir(dkms_tree);
    let (mut kernels, mut refused) = (Vec::new(), Vec::new());
    let Ok(rd) = std::fs::read_dir(&dir) else { return (kernels, refused) };
    for e in rd.flatten() {
        let raw = e.file_name();
        let text = raw.to_string_lossy().into_owned();
        let valid = raw.to_str().is_some_and(name::is_valid);
        if valid && !text.starts_with(".tmp") {
            kernels.push(text);
            continue;
        }
        // A temporary left by a crash, or something we never write.
        let _ = beneath::remove_all(dkms_tree, &dir.join(&raw));
        if !text.starts_with(".tmp") {
            refused.push(name::printable(&text));
        }
    }
    kernels.sort();
    (kernels, refused)
}

/// Take `kernel` off the queue, and the queue directory once empty.
pub fn dequeue(dkms_tree: &Path, kernel: &str) -> io::Result<()> {
    let dir = queue_dir(dkms_tree);
    match beneath::remove_file(dkms_tree, &dir.join(kernel)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let _ = std::fs::remove_dir(&dir);
    Ok(())
}

/// The identity of a kernel's headers (`cache::key::header_digests`), as
/// the text a build's stamp holds.
pub fn header_identity(kernel_source_dir: &Path, kernel_config: &Path) -> String {
    cache::key::header_digests(kernel_source_dir, kernel_config)
        .into_iter()
        .map(|(name, digest)| format!("{digest}  {name}\n"))
        .collect()
}

/// The build in `arch_dir` as the stamp names it: its `module/`
/// directory's inode, new with every build (staged, then renamed), so a
/// stamp left from an earlier build, or one loaded by ldtarball or made by
/// another dkms, names another build.
fn build_identity(arch_dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(arch_dir.join("module")).ok().map(|m| format!("build {}\n", m.ino()))
}

/// Record that the build in `arch_dir` was made against these headers.
pub fn write_stamp(stamp: &Path, arch_dir: &Path, kernel_source_dir: &Path, kernel_config: &Path) -> io::Result<()> {
    let build = build_identity(arch_dir).ok_or_else(|| io::Error::other("no module/ in the build"))?;
    std::fs::create_dir_all(stamp.parent().unwrap_or(Path::new(".")))?;
    let text = build + &header_identity(kernel_source_dir, kernel_config);
    crate::fsutil::write_atomic(stamp, text.as_bytes())
}

/// Was the build in `arch_dir` made against these very headers? False
/// when it has no stamp (built by another dkms), the stamp names another
/// build, or the headers are gone.
pub fn built_against(stamp: &Path, arch_dir: &Path, kernel_source_dir: &Path, kernel_config: &Path) -> bool {
    let Ok(text) = crate::untrusted::read_head(stamp, 4096) else { return false };
    let Some(build) = build_identity(arch_dir) else { return false };
    let now = header_identity(kernel_source_dir, kernel_config);
    !now.contains("absent") && text == build.into_bytes().into_iter().chain(now.into_bytes()).collect::<Vec<u8>>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_round_trip_refuses_what_is_not_a_kernel() {
        let t = tempfile::tempdir().unwrap();
        enqueue(t.path(), "6.1.0-9-amd64").unwrap();
        enqueue(t.path(), "6.1.0-9-amd64").unwrap();
        enqueue(t.path(), "5.10.0-1-amd64").unwrap();
        assert!(enqueue(t.path(), "../x").is_err());
        std::fs::write(queue_dir(t.path()).join("-rf"), "").unwrap();
        std::fs::write(queue_dir(t.path()).join(".tmpAbc"), "").unwrap();
        let (k, refused) = queued(t.path());
        assert_eq!(k, ["5.10.0-1-amd64", "6.1.0-9-amd64"]);
        assert_eq!(refused, ["-rf"]);
        assert_eq!(std::fs::read_dir(queue_dir(t.path())).unwrap().count(), 2);
        dequeue(t.path(), "5.10.0-1-amd64").unwrap();
        dequeue(t.path(), "6.1.0-9-amd64").unwrap();
        assert!(!queue_dir(t.path()).exists());
    }

    #[test]
    fn a_build_is_kept_only_for_the_same_headers() {
        let t = tempfile::tempdir().unwrap();
        let (ksd, arch) = (t.path().join("build"), t.path().join("arch"));
        let stamp = header_stamp(&t.path().join("dkms"), "m", "1", "k", "a");
        std::fs::create_dir_all(ksd.join("include/generated")).unwrap();
        std::fs::create_dir_all(arch.join("module")).unwrap();
        for f in ["Module.symvers", ".config", "include/generated/utsrelease.h"] {
            std::fs::write(ksd.join(f), "a").unwrap();
        }
        let cfg = ksd.join(".config");
        assert!(!built_against(&stamp, &arch, &ksd, &cfg), "no stamp");
        write_stamp(&stamp, &arch, &ksd, &cfg).unwrap();
        assert!(built_against(&stamp, &arch, &ksd, &cfg));
        std::fs::write(ksd.join("Module.symvers"), "b").unwrap();
        assert!(!built_against(&stamp, &arch, &ksd, &cfg));
        write_stamp(&stamp, &arch, &ksd, &cfg).unwrap();
        // Another build (a new module/ directory) is not the stamped one.
        std::fs::rename(arch.join("module"), t.path().join("old")).unwrap();
        std::fs::create_dir_all(arch.join("module")).unwrap();
        assert!(!built_against(&stamp, &arch, &ksd, &cfg), "another build");
        write_stamp(&stamp, &arch, &ksd, &cfg).unwrap();
        std::fs::remove_file(ksd.join("Module.symvers")).unwrap();
        assert!(!built_against(&stamp, &arch, &ksd, &cfg), "headers gone");
    }
}
