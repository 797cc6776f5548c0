//! What a kernel module file says about itself: the kernel release in its
//! `vermagic` and its appended signature (`~Module signature appended~`
//! after the kernel's `struct module_signature`), read from the file itself
//! — compressed (`.ko.gz`/`.xz`/`.zst`) or not — through the one module
//! reader (`module_image`: regular files only, bounded, streamed);
//! `modinfo` is asked only when the file is no ELF object the reader
//! understands. Also: whether a signature was made with a given
//! certificate (the PKCS#7 signer names the certificate's issuer and serial
//! number, as `sign-file` writes it), and the certificate read in DER or PEM.

pub use crate::module_image::{split_signature, Module, SIG_MAGIC};
use crate::tools;
use crate::untrusted;
use object::{Object, ObjectSection, ReadRef};
use std::path::Path;

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

/// The facts of a module file: in-process where the file is an ELF object,
/// else what `modinfo` prints (None when neither can read it, and at once
/// for what is no regular file or is too large to be a module).
pub fn read(file: &Path) -> Option<Facts> {
    let m = Module::open(file).ok()?;
    facts(&m).or_else(|| via_modinfo(file))
}

/// The facts of an open module; None when it is no ELF object `object`
/// can read.
pub fn facts(m: &Module) -> Option<Facts> {
    let obj = m.elf()?;
    let vermagic = modinfo_value(&obj, "vermagic");
    Some(Facts { vermagic, signature: m.signature.clone(), signed: m.signed })
}

/// The first `key=` of an ELF module's `.modinfo` (modpost and
/// `MODULE_INFO` put one NUL-separated `key=value` string there each; the
/// kernel's `get_modinfo` takes the first).
pub fn modinfo_value<'d, R: ReadRef<'d>>(obj: &object::File<'d, R>, key: &str) -> Option<String> {
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

/// The largest certificate file read (real ones are a few KiB).
const MAX_CERTIFICATE: u64 = 1 << 20;

/// A certificate file (DER, or PEM) as DER.
pub fn read_certificate(file: &Path) -> Option<Vec<u8>> {
    let f = untrusted::open_regular(file, untrusted::Links::Follow).ok()?;
    let bytes = untrusted::read_all_bounded(f, MAX_CERTIFICATE).ok()?;
    if bytes.first() == Some(&0x30) {
        return Some(bytes);
    }
    let text = String::from_utf8(bytes).ok()?;
    let start = text.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + text[start..].find("-----END CERTIFICATE-----")?;
    crate::base64::decode(&text[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

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
