//! Reading an image from an OCI image layout directory (`oci:DIR[:TAG]`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::config::parse_config;
use super::digest::{sha256_hex, sha256_of};
use super::error::SourceError;
use super::layer::{Layer, Location};
use super::media::{self, OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST, layer_compression};
use super::{MAX_METADATA_SIZE, SourceImage, parse_json, read_limited};

/// The file that marks a directory as an OCI image layout.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// The layout's top-level index.
pub const INDEX_FILE: &str = "index.json";
/// The directory holding the blobs (under it: `<algorithm>/<hex>`).
pub const BLOBS_DIR: &str = "blobs";
/// The annotation naming an image in a layout (the TAG of `oci:DIR:TAG`).
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// The major version of `imageLayoutVersion` understood here.
const LAYOUT_VERSION_MAJOR: &str = "1";
/// The only manifest / index `schemaVersion` there is.
const SCHEMA_VERSION: u64 = 2;
/// How deep image indexes may nest before the chain is refused.
const MAX_INDEX_DEPTH: usize = 4;
/// The OS and architecture picked from an image index.
const WANTED_OS: &str = "linux";
/// See [`WANTED_OS`].
const WANTED_ARCH: &str = "riscv64";

/// The `oci-layout` file.
#[derive(Debug, Deserialize)]
struct LayoutJson {
    #[serde(rename = "imageLayoutVersion")]
    image_layout_version: Option<String>,
}

/// A content descriptor.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType")]
    pub(crate) media_type: Option<String>,
    pub(crate) digest: String,
    pub(crate) size: u64,
    pub(crate) platform: Option<PlatformJson>,
    pub(crate) annotations: Option<BTreeMap<String, String>>,
}

/// The `platform` of a descriptor in an index.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PlatformJson {
    os: Option<String>,
    architecture: Option<String>,
    variant: Option<String>,
}

/// An image index or an image manifest: the fields of both, all optional,
/// so that a document can be parsed before its kind is known.
#[derive(Debug, Deserialize)]
pub(crate) struct DocumentJson {
    #[serde(rename = "schemaVersion")]
    pub(crate) schema_version: Option<u64>,
    #[serde(rename = "mediaType")]
    pub(crate) media_type: Option<String>,
    pub(crate) manifests: Option<Vec<Descriptor>>,
    pub(crate) config: Option<Descriptor>,
    pub(crate) layers: Option<Vec<Descriptor>>,
}

impl Descriptor {
    /// The image name annotation, if any.
    fn ref_name(&self) -> Option<&str> {
        self.annotations
            .as_ref()
            .and_then(|a| a.get(REF_NAME_ANNOTATION))
            .map(String::as_str)
    }

    /// The name to show for this descriptor in a list of choices.
    fn display_name(&self) -> String {
        match self.ref_name() {
            Some(name) => name.to_owned(),
            None => format!("(unnamed {})", self.digest),
        }
    }

    /// `os/arch[/variant]`, or `unknown` without a platform.
    fn platform_name(&self) -> String {
        match &self.platform {
            Some(p) => {
                let mut name = format!(
                    "{}/{}",
                    p.os.as_deref().unwrap_or("?"),
                    p.architecture.as_deref().unwrap_or("?")
                );
                if let Some(variant) = p.variant.as_deref().filter(|v| !v.is_empty()) {
                    name.push('/');
                    name.push_str(variant);
                }
                name
            }
            None => "unknown".to_owned(),
        }
    }

    /// Whether the platform is linux/riscv64.
    fn is_riscv64(&self) -> bool {
        self.platform.as_ref().is_some_and(|p| {
            p.os.as_deref() == Some(WANTED_OS) && p.architecture.as_deref() == Some(WANTED_ARCH)
        })
    }
}

/// Reads the image `tag` (or the only image) of the OCI layout at `dir`;
/// `reference` is the reference as written, for the result and for errors.
pub fn open_oci(
    dir: &Path,
    tag: Option<&str>,
    reference: &str,
) -> Result<SourceImage, SourceError> {
    check_layout(dir)?;
    let index_path = dir.join(INDEX_FILE);
    let index_what = index_path.display().to_string();
    let index_bytes = read_small_file(&index_path)?;
    let index: DocumentJson = parse_json(&index_bytes, &index_what)?;
    check_schema_version(&index, &index_what)?;
    if let Some(media_type) = index.media_type.as_deref()
        && !media::is_index(media_type)
    {
        return Err(SourceError::UnsupportedMediaType {
            what: index_what,
            media_type: media_type.to_owned(),
            expected: OCI_IMAGE_INDEX,
        });
    }
    let descriptors = index.manifests.unwrap_or_default();
    let chosen = select_image(&descriptors, tag, reference, &index_what)?;
    let (manifest_digest, manifest) = resolve_manifest(dir, chosen, &index_what)?;
    let manifest_what = format!("manifest {manifest_digest}");

    let config_desc = manifest.config.ok_or_else(|| SourceError::Invalid {
        what: manifest_what.clone(),
        reason: "it has no config descriptor".to_owned(),
    })?;
    let config_media_type = config_desc.media_type.as_deref().unwrap_or_default();
    if !media::is_config(config_media_type) {
        return Err(SourceError::UnsupportedMediaType {
            what: format!("the config {} of {manifest_what}", config_desc.digest),
            media_type: config_media_type.to_owned(),
            expected: "an OCI or Docker image config (is this a container image?)",
        });
    }
    let config_bytes = read_blob(dir, &config_desc, "config", &manifest_what)?;
    let config_what = format!("config {}", config_desc.digest);
    let parsed = parse_config(&config_bytes, &config_what)?;

    let mut layers = manifest
        .layers
        .unwrap_or_default()
        .iter()
        .map(|desc| layer_from_descriptor(dir, desc, &manifest_what))
        .collect::<Result<Vec<_>, _>>()?;
    super::pin_diff_ids(&mut layers, &parsed.diff_ids);

    Ok(SourceImage {
        reference: reference.to_owned(),
        platform: parsed.platform,
        config: parsed.run,
        labels: parsed.labels,
        config_json: config_bytes,
        config_digest: Some(config_desc.digest),
        layers,
        rootfs: None,
    })
}

/// Checks `DIR/oci-layout`.
fn check_layout(dir: &Path) -> Result<(), SourceError> {
    let not_layout = |reason: String| SourceError::NotOciLayout {
        dir: dir.to_owned(),
        reason,
    };
    if !dir.is_dir() {
        return Err(not_layout("it is not a directory".to_owned()));
    }
    let path = dir.join(OCI_LAYOUT_FILE);
    let bytes = match read_small_file(&path) {
        Err(SourceError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Err(not_layout(format!("it has no {OCI_LAYOUT_FILE} file")));
        }
        other => other?,
    };
    let layout: LayoutJson = parse_json(&bytes, &path.display().to_string())?;
    match layout.image_layout_version {
        None => Err(not_layout(format!(
            "{OCI_LAYOUT_FILE} has no imageLayoutVersion"
        ))),
        Some(version) if version.split('.').next() == Some(LAYOUT_VERSION_MAJOR) => Ok(()),
        Some(version) => Err(not_layout(format!(
            "imageLayoutVersion {version} is not supported (only {LAYOUT_VERSION_MAJOR}.x is)"
        ))),
    }
}

/// Picks the image descriptor from `index.json`: the one named `tag`, or
/// the only one. When several candidates remain and all carry a platform,
/// the linux/riscv64 one is taken, as from an image index.
fn select_image<'a>(
    descriptors: &'a [Descriptor],
    tag: Option<&str>,
    reference: &str,
    index_what: &str,
) -> Result<&'a Descriptor, SourceError> {
    let mut names: Vec<String> = Vec::new();
    for desc in descriptors {
        let name = desc.display_name();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let candidates: Vec<&Descriptor> = match tag {
        Some(tag) => descriptors
            .iter()
            .filter(|d| d.ref_name() == Some(tag))
            .collect(),
        None => descriptors.iter().collect(),
    };
    match (candidates.as_slice(), tag) {
        ([], Some(tag)) => Err(SourceError::TagNotFound {
            reference: reference.to_owned(),
            tag: tag.to_owned(),
            available: names,
        }),
        ([], None) => Err(SourceError::NoImage {
            reference: reference.to_owned(),
        }),
        ([only], _) => Ok(only),
        (several, _) if several.iter().all(|d| d.platform.is_some()) => {
            choose_riscv64(several.iter().copied(), index_what)
        }
        _ => Err(SourceError::AmbiguousImage {
            reference: reference.to_owned(),
            available: names,
        }),
    }
}

/// The first linux/riscv64 descriptor; `what` names the index for the error.
pub(crate) fn choose_riscv64<'a>(
    descriptors: impl Iterator<Item = &'a Descriptor> + Clone,
    what: &str,
) -> Result<&'a Descriptor, SourceError> {
    if let Some(found) = descriptors.clone().find(|d| d.is_riscv64()) {
        return Ok(found);
    }
    let mut platforms: Vec<String> = Vec::new();
    for desc in descriptors {
        let name = desc.platform_name();
        if !platforms.contains(&name) {
            platforms.push(name);
        }
    }
    Err(SourceError::NoRiscv64Manifest {
        what: what.to_owned(),
        platforms,
    })
}

/// Follows `desc` through image indexes (choosing linux/riscv64) to an image
/// manifest, verifying every blob read; returns its digest and content.
fn resolve_manifest(
    dir: &Path,
    desc: &Descriptor,
    index_what: &str,
) -> Result<(String, DocumentJson), SourceError> {
    let mut desc = desc.clone();
    let mut referrer = index_what.to_owned();
    for _ in 0..=MAX_INDEX_DEPTH {
        let bytes = read_blob(dir, &desc, "manifest", &referrer)?;
        let what = format!("manifest {}", desc.digest);
        let doc: DocumentJson = parse_json(&bytes, &what)?;
        check_schema_version(&doc, &what)?;
        let media_type = document_media_type(&desc, &doc, &what)?;
        if media::is_index(&media_type) {
            let what = format!("image index {}", desc.digest);
            let children = doc.manifests.unwrap_or_default();
            desc = choose_riscv64(children.iter(), &what)?.clone();
            referrer = what;
        } else if media::is_manifest(&media_type) {
            return Ok((desc.digest, doc));
        } else {
            return Err(SourceError::UnsupportedMediaType {
                what,
                media_type,
                expected: "an OCI or Docker image manifest or index",
            });
        }
    }
    Err(SourceError::Invalid {
        what: index_what.to_owned(),
        reason: format!("image indexes nest more than {MAX_INDEX_DEPTH} deep"),
    })
}

/// The media type of a manifest or index: the descriptor's and the
/// document's must agree; with neither, it is guessed from the content.
fn document_media_type(
    desc: &Descriptor,
    doc: &DocumentJson,
    what: &str,
) -> Result<String, SourceError> {
    match (desc.media_type.as_deref(), doc.media_type.as_deref()) {
        (Some(outer), Some(inner)) if outer != inner => Err(SourceError::Invalid {
            what: what.to_owned(),
            reason: format!(
                "its descriptor says media type '{outer}' but the document says '{inner}'"
            ),
        }),
        (Some(media_type), _) | (None, Some(media_type)) => Ok(media_type.to_owned()),
        (None, None) if doc.manifests.is_some() => Ok(OCI_IMAGE_INDEX.to_owned()),
        (None, None) if doc.config.is_some() => Ok(OCI_IMAGE_MANIFEST.to_owned()),
        (None, None) => Err(SourceError::Invalid {
            what: what.to_owned(),
            reason: "it has no media type and is neither an index nor a manifest".to_owned(),
        }),
    }
}

/// Refuses a `schemaVersion` other than 2.
fn check_schema_version(doc: &DocumentJson, what: &str) -> Result<(), SourceError> {
    match doc.schema_version {
        Some(version) if version != SCHEMA_VERSION => Err(SourceError::Invalid {
            what: what.to_owned(),
            reason: format!("schemaVersion {version} is not supported (only {SCHEMA_VERSION})"),
        }),
        _ => Ok(()),
    }
}

/// Describes a layer descriptor of the manifest `manifest_what`, checking
/// that its blob exists with the right size (its content is checked when
/// the layer is read).
fn layer_from_descriptor(
    dir: &Path,
    desc: &Descriptor,
    manifest_what: &str,
) -> Result<Layer, SourceError> {
    let path = blob_path(dir, &desc.digest, &format!("a layer of {manifest_what}"))?;
    let media_type = desc.media_type.clone().unwrap_or_default();
    if layer_compression(&media_type).is_none() {
        return Err(SourceError::UnsupportedMediaType {
            what: format!("layer {} of {manifest_what}", desc.digest),
            media_type,
            expected: "a tar layer (plain, +gzip or +zstd)",
        });
    }
    let metadata =
        std::fs::metadata(&path).map_err(|source| blob_open_error(desc, &path, source))?;
    if !metadata.is_file() {
        return Err(SourceError::Invalid {
            what: format!("layer {} ({})", desc.digest, path.display()),
            reason: "it is not a regular file".to_owned(),
        });
    }
    if metadata.len() != desc.size {
        return Err(SourceError::SizeMismatch {
            what: format!("layer {} ({})", desc.digest, path.display()),
            expected: desc.size,
            actual: metadata.len(),
        });
    }
    Ok(Layer {
        digest: desc.digest.clone(),
        media_type,
        size: desc.size,
        location: Location::File(path),
        diff_id: None,
    })
}

/// `DIR/blobs/sha256/<hex>` for a validated digest; `context` says where
/// the digest was found.
fn blob_path(dir: &Path, digest: &str, context: &str) -> Result<PathBuf, SourceError> {
    let hex = sha256_hex(digest, context)?;
    Ok(dir.join(BLOBS_DIR).join("sha256").join(hex))
}

/// The error for a blob that cannot be opened.
fn blob_open_error(desc: &Descriptor, path: &Path, source: io::Error) -> SourceError {
    if source.kind() == io::ErrorKind::NotFound {
        SourceError::BlobMissing {
            digest: desc.digest.clone(),
            path: path.to_owned(),
        }
    } else {
        SourceError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Reads a small (metadata) blob and checks its size and sha256. `kind` is
/// `manifest` or `config`; `referrer` names the document pointing at it.
fn read_blob(
    dir: &Path,
    desc: &Descriptor,
    kind: &str,
    referrer: &str,
) -> Result<Vec<u8>, SourceError> {
    let path = blob_path(
        dir,
        &desc.digest,
        &format!("the {kind} descriptor in {referrer}"),
    )?;
    let what = format!("{kind} {} ({})", desc.digest, path.display());
    if desc.size > MAX_METADATA_SIZE {
        return Err(SourceError::TooLarge {
            what,
            limit: MAX_METADATA_SIZE,
        });
    }
    let file = File::open(&path).map_err(|source| blob_open_error(desc, &path, source))?;
    let bytes = read_limited(file, &path, &what)?;
    let actual_size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if actual_size != desc.size {
        return Err(SourceError::SizeMismatch {
            what,
            expected: desc.size,
            actual: actual_size,
        });
    }
    let actual = sha256_of(&bytes);
    if actual != desc.digest {
        return Err(SourceError::DigestMismatch {
            what,
            expected: desc.digest.clone(),
            actual,
        });
    }
    Ok(bytes)
}

/// Reads a small file (such as `index.json`) whole.
fn read_small_file(path: &Path) -> Result<Vec<u8>, SourceError> {
    let file = File::open(path).map_err(|source| SourceError::Io {
        path: path.to_owned(),
        source,
    })?;
    read_limited(file, path, &path.display().to_string())
}
