//! Reading container images: `oci:` layouts, `docker-archive:` tarballs and
//! `dir:` root file systems.
//!
//! [`ImageRef`] parses a reference; [`open_image`] reads the image's
//! metadata into a [`SourceImage`] (verifying the manifest and config
//! digests); each [`Layer`] can then be opened as an uncompressed tar stream
//! whose blob digest is checked as it is read.

mod config;
pub(crate) mod digest;
mod docker_archive;
mod error;
mod layer;
pub mod media;
mod oci;
mod reference;
mod remote;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use error::SourceError;
pub use layer::Layer;
pub use reference::ImageRef;

/// The largest metadata document (index, manifest, config, `manifest.json`)
/// that is loaded into memory; anything larger is refused as hostile.
pub const MAX_METADATA_SIZE: u64 = 16 * 1024 * 1024;

/// The OS friscy runs.
pub const RISCV64_OS: &str = "linux";
/// The architecture friscy runs.
pub const RISCV64_ARCH: &str = "riscv64";

/// The parts of the image config `friscy run` uses (the `config` object of an
/// OCI image config or Docker image config). Absent or null fields are empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`, as `NAME=value` strings.
    pub env: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: String,
    /// `User` (`user`, `uid`, `user:group` or `uid:gid`).
    pub user: String,
}

/// The platform an image is built for, from its config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Platform {
    /// `os`, e.g. `linux` (empty if the config has none).
    pub os: String,
    /// `architecture`, e.g. `riscv64` (empty if the config has none).
    pub architecture: String,
    /// `variant`, if any.
    pub variant: Option<String>,
}

impl Platform {
    /// linux/riscv64.
    pub fn linux_riscv64() -> Platform {
        Platform {
            os: RISCV64_OS.to_owned(),
            architecture: RISCV64_ARCH.to_owned(),
            variant: None,
        }
    }

    /// Whether this is linux/riscv64 (any variant).
    pub fn is_linux_riscv64(&self) -> bool {
        self.os == RISCV64_OS && self.architecture == RISCV64_ARCH
    }
}

impl fmt::Display for Platform {
    /// `os/architecture[/variant]`, with `unknown` for a missing part.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_unknown = |s: &str| if s.is_empty() { "unknown" } else { s }.to_owned();
        write!(
            f,
            "{}/{}",
            or_unknown(&self.os),
            or_unknown(&self.architecture)
        )?;
        match &self.variant {
            Some(variant) => write!(f, "/{variant}"),
            None => Ok(()),
        }
    }
}

/// An image as read from its source: metadata plus where its layers are.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceImage {
    /// The reference the image was opened with, as written.
    pub reference: String,
    /// The platform its config declares (linux/riscv64 for `dir:`).
    pub platform: Platform,
    /// The process settings from its config (default for `dir:`).
    pub config: RunConfig,
    /// The `sha256:…` digest of its config (`None` for `dir:`).
    pub config_digest: Option<String>,
    /// The config document as stored (empty for `dir:`).
    pub config_json: Vec<u8>,
    /// The config's `Labels`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its layers, lowest first (empty for `dir:`).
    pub layers: Vec<Layer>,
    /// For `dir:`, the root file system to use as is; `None` otherwise.
    pub rootfs: Option<PathBuf>,
}

impl SourceImage {
    /// Fails unless the image's config says linux/riscv64; the error names
    /// the image's platform and says how to build for riscv64.
    pub fn check_riscv64(&self) -> Result<(), SourceError> {
        if self.platform.is_linux_riscv64() {
            Ok(())
        } else {
            Err(SourceError::WrongPlatform {
                reference: self.reference.clone(),
                platform: self.platform.to_string(),
            })
        }
    }
}

/// Reads the metadata of the image `reference` names.
///
/// For `oci:` the index, manifest and config blobs are digest-checked and
/// each layer blob is checked to exist with its declared size; for
/// `docker-archive:` the config is digest-checked when its name carries the
/// digest. Layer contents are checked when they are read ([`Layer::open`]).
/// The platform is not checked: see [`SourceImage::check_riscv64`].
pub fn open_image(reference: &ImageRef) -> Result<SourceImage, SourceError> {
    let written = reference.to_string();
    match reference {
        ImageRef::Oci { dir, tag } => oci::open_oci(dir, tag.as_deref(), &written),
        ImageRef::DockerArchive { file, tag } => {
            docker_archive::open_docker_archive(file, tag.as_deref(), &written)
        }
        ImageRef::Dir { root } => open_dir(root, written),
        ImageRef::Docker { reference } => {
            let target = crate::registry::RegistryRef::parse(reference)
                .map_err(|e| SourceError::Registry(Box::new(e)))?;
            remote::open_registry(&target, &written)
        }
        ImageRef::Daemon { reference } => crate::daemon::open_daemon(reference, &written),
        ImageRef::Bare { reference } => {
            if crate::daemon::engine_has(reference) {
                return crate::daemon::open_daemon(reference, &written);
            }
            let target = crate::registry::RegistryRef::parse(reference)
                .map_err(|e| SourceError::Registry(Box::new(e)))?;
            remote::open_registry(&target, &written)
        }
    }
}

/// A `dir:` image: the root file system as is.
fn open_dir(root: &Path, reference: String) -> Result<SourceImage, SourceError> {
    let metadata = std::fs::metadata(root).map_err(|source| SourceError::Io {
        path: root.to_owned(),
        source,
    })?;
    if !metadata.is_dir() {
        return Err(SourceError::NotADirectory {
            path: root.to_owned(),
        });
    }
    Ok(SourceImage {
        reference,
        platform: Platform::linux_riscv64(),
        config: RunConfig::default(),
        config_digest: None,
        config_json: Vec::new(),
        labels: Default::default(),
        layers: Vec::new(),
        rootfs: Some(root.to_owned()),
    })
}

/// Reads at most [`MAX_METADATA_SIZE`] bytes from `reader` (which reads
/// `path`), failing with [`SourceError::TooLarge`] naming `what` if there
/// are more.
fn read_limited(reader: impl Read, path: &Path, what: &str) -> Result<Vec<u8>, SourceError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_METADATA_SIZE.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| SourceError::Io {
            path: path.to_owned(),
            source,
        })?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_METADATA_SIZE {
        return Err(SourceError::TooLarge {
            what: what.to_owned(),
            limit: MAX_METADATA_SIZE,
        });
    }
    Ok(bytes)
}

/// Gives each layer the diff id the config lists for it, when the config
/// lists one per layer (each a sha256 digest): [`Layer::open`] then checks
/// the uncompressed stream against it.
fn pin_diff_ids(layers: &mut [Layer], diff_ids: &[String]) {
    if layers.len() != diff_ids.len() || !diff_ids.iter().all(|d| crate::registry::is_digest(d)) {
        return;
    }
    for (layer, id) in layers.iter_mut().zip(diff_ids) {
        layer.diff_id = Some(id.clone());
    }
}

/// Parses JSON, naming the document in the error.
fn parse_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, SourceError> {
    serde_json::from_slice(bytes).map_err(|source| SourceError::Json {
        what: what.to_owned(),
        source,
    })
}

/// Reads the only image of a `docker save` archive (used for images the
/// engine saved).
pub fn open_docker_archive_file(file: &Path, written: &str) -> Result<SourceImage, SourceError> {
    docker_archive::open_docker_archive(file, None, written)
}
