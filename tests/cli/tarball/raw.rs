//! Hand-written tar archives for the hostile-tarball tests: headers
//! written verbatim, so absolute names, `..`, links out, devices and
//! truncated size bombs survive.

use super::*;

/// One raw tar member: a header written verbatim (no path normalisation,
/// so absolute names and `..` survive) and its data.
pub(super) struct Member {
    pub(super) name: Vec<u8>,
    pub(super) kind: tar::EntryType,
    pub(super) link: Vec<u8>,
    pub(super) size: u64,
    pub(super) data: Vec<u8>,
}

pub(super) fn file(name: &str, data: &[u8]) -> Member {
    Member {
        name: name.into(),
        kind: tar::EntryType::Regular,
        link: vec![],
        size: data.len() as u64,
        data: data.to_vec(),
    }
}

pub(super) fn dir_entry(name: &str) -> Member {
    Member { name: name.into(), kind: tar::EntryType::Directory, link: vec![], size: 0, data: vec![] }
}

pub(super) fn link(name: &str, kind: tar::EntryType, target: &str) -> Member {
    Member { name: name.into(), kind, link: target.into(), size: 0, data: vec![] }
}

pub(super) fn special(name: &str, kind: tar::EntryType) -> Member {
    Member { name: name.into(), kind, link: vec![], size: 0, data: vec![] }
}

pub(super) fn header(m: &Member) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    let old = h.as_old_mut();
    old.name[..m.name.len()].copy_from_slice(&m.name);
    old.linkname[..m.link.len()].copy_from_slice(&m.link);
    h.set_entry_type(m.kind);
    h.set_mode(if m.kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
    h.set_size(m.size);
    h.set_mtime(1_700_000_000);
    if matches!(m.kind, tar::EntryType::Char | tar::EntryType::Block) {
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
    }
    h.set_cksum();
    h
}

/// Write the members as a tar (gzipped when the name ends in .gz). A
/// member whose declared size exceeds its data is written last and
/// truncated, like a size bomb would be.
pub(super) fn write_tar(path: &Path, members: &[Member]) {
    let mut raw = Vec::new();
    {
        let mut b = tar::Builder::new(&mut raw);
        for m in members {
            let h = header(m);
            if m.size as usize == m.data.len() {
                b.append(&h, &m.data[..]).unwrap();
            } else {
                b.get_mut().write_all(h.as_bytes()).unwrap();
            }
        }
        if members.iter().all(|m| m.size as usize == m.data.len()) {
            b.finish().unwrap();
        }
    }
    if path.to_string_lossy().ends_with(".gz") {
        let mut out = Command::new("gzip")
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip");
        out.stdin.take().unwrap().write_all(&raw).unwrap();
        let o = out.wait_with_output().unwrap();
        fs::write(path, o.stdout).unwrap();
    } else {
        fs::write(path, raw).unwrap();
    }
}

/// The members of a valid binaries-only tarball for M/V.
pub(super) fn valid_members(conf: &str) -> Vec<Member> {
    let k = format!("./dkms_main_tree/{KVER}/{}", arch());
    vec![
        dir_entry("./dkms_main_tree/"),
        dir_entry(&format!("./dkms_main_tree/{KVER}/")),
        dir_entry(&format!("{k}/")),
        dir_entry(&format!("{k}/module/")),
        file(&format!("{k}/module/{M}.ko"), b"fake module\n"),
        dir_entry("./dkms_binaries_only/"),
        file("./dkms_binaries_only/dkms.conf", conf.as_bytes()),
        dir_entry("./dkms_source_tree/"),
        dir_entry("./dkms_source_tree/sub/"),
    ]
}
