//! What a kernel module file says about itself: the kernel release in its
//! `vermagic` and its appended signature (`~Module signature appended~`
//! after the kernel's `struct module_signature`), read from the file itself
//! — compressed (`.ko.gz`/`.xz`/`.zst`) or not — through the `object` ELF
//! reader; `modinfo` is asked only when the file is no ELF object the
//! reader understands. Also: whether a signature was made with a given
//! certificate (the PKCS#7 signer names the certificate's issuer and serial
//! number, as `sign-file` writes it), and the certificate read in DER or PEM.

use crate::modinfo::{compression, decompress};
use crate::tools;
use object::{Object, ObjectSection};
use std::path::Path;

/// The marker the kernel's `sign-file` appends (`MODULE_SIG_STRING`).
pub const SIG_MAGIC: &[u8] = b"~Module signature appended~\n";

/// Size of `struct module_signature` (algo, hash, id_type, signer_len,
/// key_id_len, 3 bytes padding, big-endian sig_len).
const SIG_INFO: usize = 12;

/// The facts of one module file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The whole `vermagic` string; None when the file has none.
    pub vermagic: Option<String>,
    /// The appended signature (PKCS#7, DER), when there is one.
    pub signature: Option<Vec<u8>>,
    /// The file carries the signature marker (also true when only
    /// `modinfo` could tell, then `signature` is None).
    pub signed: bool,
}

impl Facts {
    /// The kernel release `vermagic` names (its first word).
    pub fn release(&self) -> Option<&str> {
        self.vermagic.as_deref()?.split_ascii_whitespace().next()
    }
}

/// The module's bytes, decompressed when compressed (None: unreadable).
pub fn contents(file: &Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(file).ok()?;
    match compression(&bytes[..bytes.len().min(8)]) {
        Some(c) => decompress(file, c),
        None => Some(bytes),
    }
}

/// The facts of a module file: in-process where the file is an ELF object,
/// else what `modinfo` prints (None when neither can read it).
pub fn read(file: &Path) -> Option<Facts> {
    let bytes = contents(file)?;
    from_bytes(&bytes).or_else(|| via_modinfo(file))
}

/// The ELF image and the appended signature of a module's bytes.
pub fn split_signature(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    let Some(body) = bytes.strip_suffix(SIG_MAGIC) else { return (bytes, None) };
    let Some(info_at) = body.len().checked_sub(SIG_INFO) else { return (bytes, None) };
    let info = &body[info_at..];
    let sig_len = u32::from_be_bytes([info[8], info[9], info[10], info[11]]) as usize;
    let Some(sig_at) = info_at.checked_sub(sig_len) else { return (bytes, None) };
    (&body[..sig_at], Some(&body[sig_at..info_at]))
}

/// The facts of decompressed module bytes; None when they are no ELF
/// object `object` can read.
pub fn from_bytes(bytes: &[u8]) -> Option<Facts> {
    let (elf, sig) = split_signature(bytes);
    let obj = object::File::parse(elf).ok()?;
    let vermagic = modinfo_value(&obj, "vermagic");
    Some(Facts { vermagic, signature: sig.map(<[u8]>::to_vec), signed: sig.is_some() })
}

/// The first `key=` of an ELF module's `.modinfo` (modpost and
/// `MODULE_INFO` put one NUL-separated `key=value` string there each; the
/// kernel's `get_modinfo` takes the first).
pub fn modinfo_value(obj: &object::File, key: &str) -> Option<String> {
    let data = obj.section_by_name(".modinfo")?.data().ok()?;
    let prefix = format!("{key}=");
    data.split(|&b| b == 0)
        .find_map(|s| s.strip_prefix(prefix.as_bytes()))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// `modinfo FILE`'s `vermagic:` and signature lines (`sig_id:`, `signer:`).
fn via_modinfo(file: &Path) -> Option<Facts> {
    let mut c = tools::command("modinfo", &[]);
    c.arg(file);
    let out = tools::output(&mut c).ok().filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut facts = Facts::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        match key {
            "vermagic" => facts.vermagic = Some(value.trim().to_string()),
            "sig_id" | "signer" => facts.signed = true,
            _ => {}
        }
    }
    Some(facts)
}

/// One DER element at the start of `b`: (tag, header length, total length).
fn tlv(b: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, head) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let total = head.checked_add(len)?;
    (total <= b.len()).then_some((tag, head, total))
}

/// The DER of a certificate's issuer Name followed by its serial number
/// INTEGER — exactly what a PKCS#7 `IssuerAndSerialNumber` holds.
pub fn issuer_and_serial(cert_der: &[u8]) -> Option<Vec<u8>> {
    let (_, h, _) = tlv(cert_der)?; // Certificate
    let tbs = &cert_der[h..];
    let (_, h, total) = tlv(tbs)?; // TBSCertificate
    let mut rest = &tbs[h..total];
    let (tag, _, n) = tlv(rest)?;
    if tag == 0xa0 {
        rest = &rest[n..]; // [0] version
    }
    let (tag, _, serial_len) = tlv(rest)?;
    if tag != 0x02 {
        return None;
    }
    let serial = &rest[..serial_len];
    rest = &rest[serial_len..];
    let (_, _, n) = tlv(rest)?; // signature AlgorithmIdentifier
    rest = &rest[n..];
    let (tag, _, n) = tlv(rest)?; // issuer Name
    if tag != 0x30 {
        return None;
    }
    let mut out = rest[..n].to_vec();
    out.extend_from_slice(serial);
    Some(out)
}

/// Was this PKCS#7 signature made with this certificate's key (its signer
/// info names the certificate)? None when the certificate cannot be read.
pub fn signed_with(signature: &[u8], cert_der: &[u8]) -> Option<bool> {
    let needle = issuer_and_serial(cert_der)?;
    Some(signature.windows(needle.len()).any(|w| w == needle.as_slice()))
}

/// A certificate file (DER, or PEM) as DER.
pub fn read_certificate(file: &Path) -> Option<Vec<u8>> {
    let bytes = std::fs::read(file).ok()?;
    if bytes.first() == Some(&0x30) {
        return Some(bytes);
    }
    let text = String::from_utf8(bytes).ok()?;
    let start = text.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + text[start..].find("-----END CERTIFICATE-----")?;
    base64(&text[start..end])
}

/// Standard base64, whitespace ignored.
fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_an_appended_signature() {
        let mut b = b"ELFBODY".to_vec();
        b.extend_from_slice(b"SIGNATURE");
        b.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        b.extend_from_slice(SIG_MAGIC);
        let (body, sig) = split_signature(&b);
        assert_eq!(body, b"ELFBODY");
        assert_eq!(sig, Some(&b"SIGNATURE"[..]));
        assert_eq!(split_signature(b"plain"), (&b"plain"[..], None));
        // A length past the start is no signature.
        let mut bad = vec![0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 200];
        bad.extend_from_slice(SIG_MAGIC);
        assert!(split_signature(&bad).1.is_none());
    }

    #[test]
    fn decodes_base64() {
        assert_eq!(base64("aGVs\nbG8=").unwrap(), b"hello");
        assert!(base64("a*b").is_none());
    }

    #[test]
    fn finds_issuer_and_serial() {
        // SEQ { SEQ { [0]{INT 2}, INT 5, SEQ{}, SEQ{ "x" } } }
        let tbs = [0xa0, 3, 2, 1, 2, 2, 1, 5, 0x30, 0, 0x30, 3, 0x0c, 1, b'x'];
        let mut cert = vec![0x30, (tbs.len() + 2) as u8, 0x30, tbs.len() as u8];
        cert.extend_from_slice(&tbs);
        let want = vec![0x30, 3, 0x0c, 1, b'x', 2, 1, 5];
        assert_eq!(issuer_and_serial(&cert), Some(want.clone()));
        let mut sig = b"pkcs7...".to_vec();
        sig.extend_from_slice(&want);
        assert_eq!(signed_with(&sig, &cert), Some(true));
        assert_eq!(signed_with(b"other", &cert), Some(false));
        assert_eq!(signed_with(b"other", b"junk"), None);
    }
}
