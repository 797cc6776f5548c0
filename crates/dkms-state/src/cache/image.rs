//! A container image of built modules for Kubernetes KMM's ModuleLoader
//! (`cache kmm`): one gzip layer of a staged root (`opt/lib/modules/<K>/…`
//! with its depmod files, `bin/cp`), an OCI image config naming that layer,
//! and the image manifest; written as an OCI image layout directory or
//! pushed to a registry (`oci::push_image`).

use super::oci::{Descriptor, MANIFEST_TYPE};
use super::{file_sha256, hex, sha256_hex};
use crate::{fsutil, tarball};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// An image: its blobs (config and layer, as files) and manifest.
pub struct Image {
    pub blobs: Vec<(Descriptor, PathBuf)>,
    pub manifest: Vec<u8>,
}

impl Image {
    /// The manifest's descriptor.
    pub fn descriptor(&self) -> Descriptor {
        let digest = format!("sha256:{}", sha256_hex(&self.manifest));
        Descriptor { media_type: MANIFEST_TYPE.into(), digest, size: self.manifest.len() as u64, data: None }
    }
}

/// The OCI name of a kernel's `uname -m` (`x86_64` → `amd64`).
pub fn oci_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "i386" | "i486" | "i586" | "i686" => "386",
        "armv7l" => "arm",
        other => other,
    }
}

/// The image of `root` (its `opt/` and `bin/`), blobs made in `work`.
pub fn build(root: &Path, work: &Path, arch: &str) -> Result<Image, String> {
    let layer = work.join("layer.tar.gz");
    tarball::create(&layer, |w| {
        for top in ["opt", "bin"] {
            if root.join(top).is_dir() {
                w.add_tree(&root.join(top), top)?;
            }
        }
        Ok(())
    })
    .map_err(|e| format!("image layer: {e}"))?;
    // The config names the layer by the digest of its uncompressed tar.
    let mut plain = flate2::read::GzDecoder::new(std::fs::File::open(&layer).map_err(|e| e.to_string())?);
    let mut h = Sha256::new();
    std::io::copy(&mut plain, &mut h).map_err(|e| format!("image layer: {e}"))?;
    let diff_id = format!("sha256:{}", hex(&h.finalize()));
    let config = serde_json::json!({
        "architecture": oci_arch(arch),
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    let config_path = work.join("config.json");
    std::fs::write(&config_path, serde_json::to_vec(&config).map_err(|e| e.to_string())?)
        .map_err(|e| format!("image config: {e}"))?;
    let desc = |path: &Path, media: &str| -> Result<Descriptor, String> {
        let (size, sha) = file_sha256(path).map_err(|e| e.to_string())?;
        Ok(Descriptor { media_type: media.into(), digest: format!("sha256:{sha}"), size, data: None })
    };
    let (cd, ld) = (desc(&config_path, CONFIG_TYPE)?, desc(&layer, LAYER_TYPE)?);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": cd,
        "layers": [ld],
    });
    let manifest = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    Ok(Image { blobs: vec![(cd, config_path), (ld, layer)], manifest })
}

/// Write `img` into the OCI image layout `dir` (made if missing), its
/// manifest named `tag` in `index.json` (replacing one of that name).
pub fn write_layout(dir: &Path, tag: &str, img: &Image) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", dir.display());
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(err)?;
    for (d, path) in &img.blobs {
        let to = blobs.join(&d.digest["sha256:".len()..]);
        let bytes = std::fs::read(path).map_err(err)?;
        fsutil::write_atomic(&to, &bytes).map_err(err)?;
    }
    let md = img.descriptor();
    fsutil::write_atomic(&blobs.join(&md.digest["sha256:".len()..]), &img.manifest).map_err(err)?;
    fsutil::write_atomic(&dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(err)?;
    let index_path = dir.join("index.json");
    let mut index: serde_json::Value = std::fs::read(&index_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| serde_json::json!({"schemaVersion": 2, "manifests": []}));
    const NAME: &str = "org.opencontainers.image.ref.name";
    let mut manifests: Vec<serde_json::Value> = index["manifests"].as_array().cloned().unwrap_or_default();
    manifests.retain(|m| m["annotations"][NAME] != tag);
    let mut entry = serde_json::to_value(&md).map_err(|e| e.to_string())?;
    entry["annotations"] = serde_json::json!({ NAME: tag });
    manifests.push(entry);
    index["manifests"] = serde_json::Value::Array(manifests);
    let text = serde_json::to_vec_pretty(&index).map_err(|e| e.to_string())?;
    fsutil::write_atomic(&index_path, &text).map_err(err)
}

/// A tag for kernel `k`: the characters a tag cannot hold become `_`.
pub fn tag_for(k: &str) -> String {
    let t: String = k
        .chars()
        .enumerate()
        .map(|(i, c)| if c.is_ascii_alphanumeric() || c == '_' || (i > 0 && (c == '.' || c == '-')) { c } else { '_' })
        .collect();
    t.chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_arches() {
        assert_eq!(tag_for("6.1.0-48-amd64"), "6.1.0-48-amd64");
        assert_eq!(tag_for("6.8.0+rt"), "6.8.0_rt");
        assert_eq!(oci_arch("x86_64"), "amd64");
    }
}
