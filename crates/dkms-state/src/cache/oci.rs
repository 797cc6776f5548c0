//! An OCI registry as a cache source and push target (`oci://HOST/REPO`
//! over HTTPS, `oci+http://HOST:PORT/REPO` in the clear): one entry is one
//! artifact tagged with its key, an image manifest whose config is the
//! empty descriptor and whose three layers are the entry's three files
//! (manifest, signature, archive), told apart by media type. Pulled by tag
//! over the distribution API, every blob checked against its descriptor's
//! size and sha256 while it streams; pushed with the monolithic blob upload
//! and a manifest PUT. Credentials and tokens: `oci_auth`.

use super::http::{agent, Miss};
pub use super::registry::Reference;
use super::registry::{Body, Session};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const ARTIFACT_TYPE: &str = "application/vnd.dkms.cache.entry.v1";
pub const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// The layers' media types, in the order of `entry::names`.
pub const LAYER_TYPES: [&str; 3] = [
    "application/vnd.dkms.cache.manifest.v1+json",
    "application/vnd.dkms.cache.signature.v1",
    "application/vnd.dkms.cache.archive.v1.tar+zstd",
];
/// The file-name suffixes of an entry, in the same order.
const SUFFIXES: [&str; 3] = [".json", ".json.sig", ".tar.zst"];
/// The largest image manifest read (the distribution spec's limit).
const MAX_IMAGE_MANIFEST: u64 = 4 << 20;

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// An OCI image manifest, the fields we write and read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    pub media_type: String,
    #[serde(default)]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// `sha256:<64 hex>` (it goes into a URL path; nothing else is accepted).
fn valid_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The descriptor of the empty config, `{}`.
fn empty_descriptor() -> Descriptor {
    Descriptor {
        media_type: EMPTY_TYPE.into(),
        digest: format!("sha256:{}", super::sha256_hex(b"{}")),
        size: 2,
        data: Some("e30=".into()),
    }
}

/// The entry file `name` (`<key>.json`, ...): its key and layer type.
fn layer_of(name: &str) -> Option<(&str, &'static str)> {
    (0..3).find_map(|i| {
        name.strip_suffix(SUFFIXES[i]).filter(|k| super::entry::valid_key(k)).map(|k| (k, LAYER_TYPES[i]))
    })
}

/// Reads a blob, failing at its end if it is not `size` bytes with the
/// digest `sha256` (or at once when it runs longer).
struct Verified<R> {
    inner: R,
    hash: Sha256,
    seen: u64,
    size: u64,
    want: String,
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        self.hash.update(&buf[..n]);
        let bad = |what: &str| Err(std::io::Error::other(format!("blob {what} its descriptor")));
        if self.seen > self.size {
            return bad("is larger than");
        }
        if n == 0 && !buf.is_empty() {
            if self.seen != self.size {
                return bad("is shorter than");
            }
            if super::hex(&std::mem::take(&mut self.hash).finalize()) != self.want {
                return bad("does not match the digest of");
            }
        }
        Ok(n)
    }
}

/// The image manifest tagged `tag`.
fn get_manifest(s: &mut Session, tag: &str) -> Result<ImageManifest, Miss> {
    let url = s.reference.url(&format!("manifests/{tag}"));
    let resp = s.send("GET", &url, &[("Accept", MANIFEST_TYPE)], None)?;
    match resp.status().as_u16() {
        200 => {}
        404 => return Err(Miss::Absent),
        st => return Err(Miss::Failed(format!("HTTP {st} for {url}"))),
    }
    let mut bytes = Vec::new();
    resp.into_body()
        .into_with_config()
        .limit(MAX_IMAGE_MANIFEST)
        .reader()
        .read_to_end(&mut bytes)
        .map_err(|e| Miss::Failed(format!("image manifest: {e}")))?;
    let m: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| Miss::Failed(format!("image manifest unreadable ({e})")))?;
    if m.media_type != MANIFEST_TYPE || m.artifact_type.as_deref() != Some(ARTIFACT_TYPE) {
        return Err(Miss::Failed(format!("{tag} is not a dkms cache entry")));
    }
    Ok(m)
}

/// The entry file `name` of the registry, as a reader of at most `limit`
/// bytes that checks the blob's size and digest as it goes.
pub fn open(r: &Reference, name: &str, limit: u64) -> Result<Box<dyn Read>, Miss> {
    let (key, _) = layer_of(name).ok_or(Miss::Absent)?;
    Pull::new(r, key)?.open(name, limit)
}

/// One entry being pulled: its image manifest, fetched once for all its
/// blobs, and the session (a token asked once) they are read through.
pub struct Pull {
    s: Session,
    key: String,
    manifest: ImageManifest,
}

impl Pull {
    /// The image manifest tagged `key` (`Miss::Absent`: no such tag).
    pub fn new(r: &Reference, key: &str) -> Result<Pull, Miss> {
        let mut s = Session::new(r.clone(), agent());
        let manifest = get_manifest(&mut s, key)?;
        Ok(Pull { s, key: key.to_string(), manifest })
    }

    /// The entry file `name` (of this entry), as `open` reads it.
    pub fn open(&mut self, name: &str, limit: u64) -> Result<Box<dyn Read>, Miss> {
        let media = layer_of(name).filter(|(k, _)| *k == self.key).ok_or(Miss::Absent)?.1;
        let mut found = self.manifest.layers.iter().filter(|l| l.media_type == media);
        let (Some(layer), None) = (found.next(), found.next()) else {
            return Err(Miss::Absent);
        };
        if !valid_digest(&layer.digest) {
            return Err(Miss::Failed(format!("{name}: bad digest in the image manifest")));
        }
        if layer.size > limit {
            return Err(Miss::Failed(format!("{name} is larger than {limit} bytes")));
        }
        let url = self.s.reference.url(&format!("blobs/{}", layer.digest));
        let resp = self.s.send("GET", &url, &[], None)?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Err(Miss::Failed(format!("{name}: blob missing"))),
            st => return Err(Miss::Failed(format!("HTTP {st} for {url}"))),
        }
        let body = resp.into_body().into_with_config().limit(layer.size.saturating_add(1)).reader();
        let want = layer.digest["sha256:".len()..].to_ascii_lowercase();
        Ok(Box::new(Verified { inner: body, hash: Sha256::new(), seen: 0, size: layer.size, want }))
    }
}

/// Upload the entry `key` whose three files (`entry::names`) are in `dir`,
/// then tag its image manifest with the key.
pub fn push(r: &Reference, key: &str, dir: &Path) -> Result<(), String> {
    let mut s = Session::new(r.clone(), agent());
    let config = empty_descriptor();
    upload(&mut s, &config, Body::Bytes(b"{}"))?;
    let mut layers = Vec::new();
    for (name, media) in super::entry::names(key).iter().zip(LAYER_TYPES) {
        let path = dir.join(name);
        let (size, sha) = super::file_sha256(&path).map_err(|e| format!("{name}: {e}"))?;
        let d = Descriptor { media_type: media.into(), digest: format!("sha256:{sha}"), size, data: None };
        upload(&mut s, &d, Body::File(&path))?;
        layers.push(d);
    }
    let m = ImageManifest {
        schema_version: 2,
        media_type: MANIFEST_TYPE.into(),
        artifact_type: Some(ARTIFACT_TYPE.into()),
        config,
        layers,
    };
    let bytes = serde_json::to_vec(&m).map_err(|e| e.to_string())?;
    put_manifest(&mut s, key, &bytes)
}

/// Upload `blobs` (each unless the registry has it) and tag the image
/// `manifest` with `tag` (a `cache kmm` image).
pub fn push_image(
    r: &Reference,
    tag: &str,
    blobs: &[(Descriptor, std::path::PathBuf)],
    manifest: &[u8],
) -> Result<(), String> {
    let mut s = Session::new(r.clone(), agent());
    for (d, path) in blobs {
        upload(&mut s, d, Body::File(path))?;
    }
    put_manifest(&mut s, tag, manifest)
}

fn put_manifest(s: &mut Session, tag: &str, bytes: &[u8]) -> Result<(), String> {
    let url = s.reference.url(&format!("manifests/{tag}"));
    let resp = s.send("PUT", &url, &[("Content-Type", MANIFEST_TYPE)], Some(Body::Bytes(bytes))).map_err(miss)?;
    expect(resp.status().as_u16(), &[201, 200], &url)
}

fn miss(m: Miss) -> String {
    match m {
        Miss::Absent => "not found".into(),
        Miss::Failed(r) => r,
    }
}

fn expect(status: u16, ok: &[u16], url: &str) -> Result<(), String> {
    if ok.contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP {status} for {url}"))
    }
}

/// One blob, unless the registry has it already (HEAD): POST an upload,
/// PUT the bytes to its location with the digest.
fn upload(s: &mut Session, d: &Descriptor, body: Body) -> Result<(), String> {
    let blob = s.reference.url(&format!("blobs/{}", d.digest));
    if s.send("HEAD", &blob, &[], None).map_err(miss)?.status().as_u16() == 200 {
        return Ok(());
    }
    let start = s.reference.url("blobs/uploads/");
    let resp = s.send("POST", &start, &[], Some(Body::Bytes(b""))).map_err(miss)?;
    expect(resp.status().as_u16(), &[202], &start)?;
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("no upload location from {start}"))?;
    let mut url = absolute(&s.reference, location);
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!("digest={}", d.digest.replace(':', "%3A")));
    let headers = [("Content-Type", "application/octet-stream")];
    let resp = s.send("PUT", &url, &headers, Some(body)).map_err(miss)?;
    expect(resp.status().as_u16(), &[201], &blob)
}

/// A `Location` header made absolute against the registry.
fn absolute(r: &Reference, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else {
        format!("{}://{}/{}", r.scheme, r.host, location.trim_start_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r = Reference::parse("oci://reg.example:5000/fleet/dkms").unwrap().unwrap();
        assert_eq!((r.scheme, r.host.as_str(), r.repo.as_str()), ("https", "reg.example:5000", "fleet/dkms"));
        assert_eq!(r.to_string(), "oci://reg.example:5000/fleet/dkms");
        assert_eq!(r.url("manifests/t"), "https://reg.example:5000/v2/fleet/dkms/manifests/t");
        let h = Reference::parse("oci+http://127.0.0.1:5000/c/").unwrap().unwrap();
        assert_eq!((h.scheme, h.repo.as_str()), ("http", "c"));
        for bad in ["oci://host", "oci://host/", "oci://host/Upper", "oci://u@h/r", "oci://h/r/../x", "oci://h/r?x"] {
            assert!(Reference::parse(bad).unwrap().is_err(), "{bad}");
        }
        assert!(Reference::parse("http://h/r").is_none());
    }

    #[test]
    fn names_map_to_layers() {
        let k = "a".repeat(64);
        assert_eq!(layer_of(&format!("{k}.json")), Some((k.as_str(), LAYER_TYPES[0])));
        assert_eq!(layer_of(&format!("{k}.json.sig")), Some((k.as_str(), LAYER_TYPES[1])));
        assert_eq!(layer_of(&format!("{k}.tar.zst")), Some((k.as_str(), LAYER_TYPES[2])));
        assert_eq!(layer_of("x.json"), None);
    }

    #[test]
    fn blobs_are_checked_while_read() {
        let read = |data: &[u8], size: u64, want: &str| {
            let mut v = Verified { inner: data, hash: Sha256::new(), seen: 0, size, want: want.into() };
            let mut out = Vec::new();
            v.read_to_end(&mut out).map(|_| out).map_err(|e| e.to_string())
        };
        let good = crate::cache::sha256_hex(b"abc");
        assert_eq!(read(b"abc", 3, &good), Ok(b"abc".to_vec()));
        assert!(read(b"abd", 3, &good).unwrap_err().contains("digest"));
        assert!(read(b"ab", 3, &good).unwrap_err().contains("shorter"));
        assert!(read(b"abcd", 3, &good).unwrap_err().contains("larger"));
    }

    #[test]
    fn the_empty_config_is_the_spec_s() {
        let d = empty_descriptor();
        assert_eq!(d.digest, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    }
}
