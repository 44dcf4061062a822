//! Images in a registry (`docker://REF`): the manifest and config are read
//! now, layer blobs when a layer is opened (whole) or read by range.

use std::sync::Arc;

use super::config::parse_config;
use super::digest::sha256_hex;
use super::error::SourceError;
use super::layer::{Layer, Location, Remote};
use super::media::{self, layer_compression};
use super::oci::{DocumentJson, choose_riscv64};
use super::{SourceImage, parse_json};
use crate::registry::{Client, RegistryRef};

/// How many image indexes may nest.
const MAX_DEPTH: usize = 4;

fn registry_error(e: crate::registry::RegistryError) -> SourceError {
    SourceError::Registry(Box::new(e))
}

/// Reads the linux/riscv64 image `target` names from its registry.
pub fn open_registry(target: &RegistryRef, written: &str) -> Result<SourceImage, SourceError> {
    let client = Arc::new(Client::new(target, false));
    let mut reference = target.reference().to_owned();
    for _ in 0..=MAX_DEPTH {
        let fetched = client.manifest(&reference).map_err(registry_error)?;
        let what = format!("manifest {} of {target}", fetched.digest);
        let doc: DocumentJson = parse_json(&fetched.bytes, &what)?;
        let media_type = doc
            .media_type
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or(fetched.media_type.clone());
        if media::is_index(&media_type) || (doc.manifests.is_some() && doc.config.is_none()) {
            let children = doc.manifests.unwrap_or_default();
            let index_what = format!("image index {target}");
            let child = &choose_riscv64(children.iter(), &index_what)?.digest;
            // a child named by anything but a digest would be fetched
            // unchecked (a tag is whatever the registry says it is)
            sha256_hex(child, &index_what)?;
            reference = child.clone();
            continue;
        }
        let config_desc = doc.config.ok_or_else(|| SourceError::Invalid {
            what: what.clone(),
            reason: "it has no config descriptor".to_owned(),
        })?;
        sha256_hex(
            &config_desc.digest,
            &format!("the config descriptor of {what}"),
        )?;
        let config_what = format!("config {}", config_desc.digest);
        let mut bytes = Vec::new();
        {
            use std::io::Read;
            client
                .blob(&config_desc.digest)
                .map_err(registry_error)?
                .take(super::MAX_METADATA_SIZE)
                .read_to_end(&mut bytes)
                .map_err(|source| SourceError::LayerRead {
                    digest: config_desc.digest.clone(),
                    source,
                })?;
        }
        let actual = super::digest::sha256_of(&bytes);
        if actual != config_desc.digest {
            return Err(SourceError::DigestMismatch {
                what: config_what,
                expected: config_desc.digest,
                actual,
            });
        }
        let parsed = parse_config(&bytes, &config_what)?;
        let mut layers = Vec::new();
        for desc in doc.layers.unwrap_or_default() {
            sha256_hex(&desc.digest, &format!("a layer descriptor of {what}"))?;
            let media_type = desc.media_type.clone().unwrap_or_default();
            if layer_compression(&media_type).is_none() {
                return Err(SourceError::UnsupportedMediaType {
                    what: format!("layer {} of {what}", desc.digest),
                    media_type,
                    expected: "a tar layer (plain, +gzip or +zstd)",
                });
            }
            layers.push(Layer {
                digest: desc.digest.clone(),
                media_type,
                size: desc.size,
                location: Location::Remote(Remote(client.clone())),
                diff_id: None,
            });
        }
        super::pin_diff_ids(&mut layers, &parsed.diff_ids);
        return Ok(SourceImage {
            reference: written.to_owned(),
            platform: parsed.platform,
            config: parsed.run,
            labels: parsed.labels,
            config_json: bytes,
            config_digest: Some(config_desc.digest),
            layers,
            rootfs: None,
        });
    }
    Err(SourceError::Invalid {
        what: written.to_owned(),
        reason: "image indexes nest too deeply".to_owned(),
    })
}
