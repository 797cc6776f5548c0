//! The binary cache of built modules (not in upstream dkms): the key of a
//! build (`key`), the signed entry that holds it (`entry`) and the sources
//! entries are read from (`fetch`: HTTP(S), a directory or an OCI registry,
//! `oci` and `registry`), and the one check of an entry (`check`). The operations
//! that use them (substitute before make, push after a build) are in
//! dkms-cmd's `ops::binary_cache`.

pub mod check;
pub mod entry;
pub mod fetch;
mod http;
pub mod image;
pub mod key;
pub mod oci;
mod registry;

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Lower-case hex SHA-256 of a file's contents, streamed.
pub fn file_sha256(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((n, hex(&h.finalize())))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
