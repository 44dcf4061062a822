//! Media types of the OCI image specification and of Docker's image manifest
//! v2 schema 2, and the magic bytes used to recognise compressed layers.

/// An OCI image index (a list of manifests, usually one per platform).
pub const OCI_IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// An OCI image manifest.
pub const OCI_IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image configuration.
pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// An uncompressed OCI layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// A gzip-compressed OCI layer.
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// A zstd-compressed OCI layer.
pub const OCI_LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// An uncompressed OCI layer that must not be redistributed (deprecated type).
pub const OCI_LAYER_NONDISTRIBUTABLE_TAR: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// A gzip-compressed OCI layer that must not be redistributed (deprecated type).
pub const OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// A zstd-compressed OCI layer that must not be redistributed (deprecated type).
pub const OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

/// A Docker manifest list (Docker's multi-platform image index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// A Docker image manifest, v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// A Docker image configuration.
pub const DOCKER_IMAGE_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// A gzip-compressed Docker layer.
pub const DOCKER_LAYER_TAR_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// A gzip-compressed Docker layer that is meant to be fetched from elsewhere.
pub const DOCKER_FOREIGN_LAYER_TAR_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// The first bytes of a gzip stream.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The first bytes of a zstd frame.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// How a layer blob is compressed, as far as its media type tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// A gzip-compressed tar stream.
    Gzip,
    /// A zstd-compressed tar stream.
    Zstd,
}

/// The compression a layer media type announces, or `None` if `media_type` is
/// not a layer type this crate knows.
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    match media_type {
        OCI_LAYER_TAR | OCI_LAYER_NONDISTRIBUTABLE_TAR => Some(Compression::None),
        OCI_LAYER_TAR_GZIP
        | OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP
        | DOCKER_LAYER_TAR_GZIP
        | DOCKER_FOREIGN_LAYER_TAR_GZIP => Some(Compression::Gzip),
        OCI_LAYER_TAR_ZSTD | OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD => Some(Compression::Zstd),
        _ => None,
    }
}

/// The compression the first bytes of a blob reveal (`None` when they are not
/// gzip or zstd magic, which includes a blob shorter than the magic).
pub fn sniff_compression(head: &[u8]) -> Compression {
    if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Whether `media_type` names an image index (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_IMAGE_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Whether `media_type` names an image manifest (OCI or Docker v2 schema 2).
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_IMAGE_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Whether `media_type` names an image configuration (OCI or Docker).
pub fn is_config(media_type: &str) -> bool {
    media_type == OCI_IMAGE_CONFIG || media_type == DOCKER_IMAGE_CONFIG
}
