//! The error type of image reading.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while reading an image.
///
/// Each variant names what failed: the image reference, the blob digest, the
/// file or archive member. Errors met while *streaming* a layer (see
/// [`Layer::open`](crate::Layer::open)) arrive as [`io::Error`]s whose inner
/// error is a `SourceError`; [`SourceError::from_io`] recovers it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The reference uses a transport this crate does not read (yet).
    #[error(
        "unsupported image reference '{reference}': the transports supported for now are \
         oci:DIR[:TAG], docker-archive:FILE[:REF], dir:ROOTFS, docker://REF, docker-daemon:REF \
         and a bare REF (the engine's image, else the registry's)"
    )]
    UnsupportedTransport {
        /// The reference as given.
        reference: String,
    },
    /// The reference has a supported transport but is malformed.
    #[error("invalid image reference '{reference}': {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file (or archive) being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A JSON document could not be parsed into the expected shape.
    #[error("{what} is not valid JSON of the expected shape: {source}")]
    Json {
        /// The document, e.g. `/img/index.json` or `manifest sha256:… (/img/blobs/sha256/…)`.
        what: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A document parsed but breaks a rule of the image format.
    #[error("{what} is invalid: {reason}")]
    Invalid {
        /// The document or object at fault.
        what: String,
        /// The rule it breaks.
        reason: String,
    },
    /// The directory of an `oci:` reference is not an OCI image layout.
    #[error("{} is not an OCI image layout: {reason}", dir.display())]
    NotOciLayout {
        /// The directory.
        dir: PathBuf,
        /// Why not.
        reason: String,
    },
    /// A digest is not `sha256:` followed by 64 lowercase hex digits.
    #[error(
        "invalid digest '{digest}' in {context}: only sha256:<64 lowercase hex digits> is accepted"
    )]
    InvalidDigest {
        /// The digest as found.
        digest: String,
        /// Where it was found.
        context: String,
    },
    /// A blob the image refers to is not there.
    #[error("blob {digest} is missing: {} does not exist", path.display())]
    BlobMissing {
        /// The blob's digest.
        digest: String,
        /// Where it should be.
        path: PathBuf,
    },
    /// A blob's content does not hash to its digest.
    #[error("{what} has digest {actual}, but {expected} was expected")]
    DigestMismatch {
        /// The blob (kind, digest and location).
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// A blob's length is not the one its descriptor gives.
    #[error("{what} is {actual} bytes long, but {expected} bytes were expected")]
    SizeMismatch {
        /// The blob (kind, digest and location).
        what: String,
        /// The size it should have.
        expected: u64,
        /// The size it has (or at least has, when reading stopped early).
        actual: u64,
    },
    /// A metadata document is larger than this crate is willing to load.
    #[error("{what} is larger than the {limit}-byte limit for image metadata")]
    TooLarge {
        /// The document.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// No image in the layout or archive carries the requested name.
    #[error(
        "'{reference}' has no image named '{tag}'; the names available are: {}",
        list(available)
    )]
    TagNotFound {
        /// The image reference.
        reference: String,
        /// The requested name.
        tag: String,
        /// The names present.
        available: Vec<String>,
    },
    /// Several images are present and none was named.
    #[error(
        "'{reference}' holds several images, so one must be named (append :NAME); \
         the names available are: {}",
        list(available)
    )]
    AmbiguousImage {
        /// The image reference.
        reference: String,
        /// The names present.
        available: Vec<String>,
    },
    /// The layout or archive holds no image at all.
    #[error("'{reference}' holds no image")]
    NoImage {
        /// The image reference.
        reference: String,
    },
    /// An image index has no manifest for linux/riscv64.
    #[error(
        "{what} has no linux/riscv64 image; the platforms present are: {}",
        list(platforms)
    )]
    NoRiscv64Manifest {
        /// The index (digest and location).
        what: String,
        /// The platforms it lists, as `os/arch[/variant]`.
        platforms: Vec<String>,
    },
    /// A descriptor or document has a media type that does not fit where it is.
    #[error("{what} has media type '{media_type}'; expected {expected}")]
    UnsupportedMediaType {
        /// The object (kind and digest).
        what: String,
        /// Its media type.
        media_type: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A layer is zstd-compressed.
    #[error("layer {digest} is zstd-compressed: zstd layers are not supported yet")]
    ZstdNotSupported {
        /// The layer's digest.
        digest: String,
    },
    /// Reading a layer blob failed (below decompression).
    #[error("reading layer {digest}: {source}")]
    LayerRead {
        /// The layer's digest.
        digest: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Decompressing a layer failed (corrupt or truncated data).
    #[error("decompressing layer {digest}: {source}")]
    Decompress {
        /// The layer's digest.
        digest: String,
        /// The decompressor's complaint.
        #[source]
        source: io::Error,
    },
    /// The image is not for linux/riscv64.
    #[error(
        "'{reference}' is an image for {platform}, but friscy runs linux/riscv64 images only; \
         build the image for riscv64 with `docker build --platform linux/riscv64 ...` \
         (or pick the riscv64 image of a multi-platform image)"
    )]
    WrongPlatform {
        /// The image reference.
        reference: String,
        /// The image's platform, as `os/arch[/variant]`.
        platform: String,
    },
    /// A registry operation failed.
    #[error(transparent)]
    Registry(Box<crate::registry::RegistryError>),
    /// The engine could not give the image.
    #[error("{0}")]
    Engine(String),
    /// A `dir:` root is not a directory.
    #[error("{} is not a directory", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A docker archive lacks a member its manifest names.
    #[error("{} has no member '{member}'", archive.display())]
    MissingMember {
        /// The archive.
        archive: PathBuf,
        /// The member path.
        member: String,
    },
    /// A docker archive names a member by a path that leaves the archive or
    /// cannot be followed safely.
    #[error("{}: refusing member path '{member}': {reason}", archive.display())]
    HostilePath {
        /// The archive.
        archive: PathBuf,
        /// The path as found.
        member: String,
        /// Why it is refused.
        reason: String,
    },
}

impl SourceError {
    /// Recovers the `SourceError` carried by an [`io::Error`] returned from a
    /// layer stream; any other I/O error becomes [`SourceError::Io`] on `path`.
    pub fn from_io(err: io::Error, path: impl Into<PathBuf>) -> SourceError {
        if !err.get_ref().is_some_and(|inner| inner.is::<SourceError>()) {
            return SourceError::Io {
                path: path.into(),
                source: err,
            };
        }
        let kind = err.kind();
        match err
            .into_inner()
            .map(|inner| inner.downcast::<SourceError>())
        {
            Some(Ok(source_error)) => *source_error,
            Some(Err(other)) => SourceError::Io {
                path: path.into(),
                source: io::Error::new(kind, other),
            },
            None => SourceError::Io {
                path: path.into(),
                source: io::Error::from(kind),
            },
        }
    }

    /// Wraps this error in an [`io::Error`] of kind `InvalidData`, so that it
    /// can travel through a [`std::io::Read`] stream.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// A comma-separated list, or `(none)`.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_owned()
    } else {
        items.join(", ")
    }
}
