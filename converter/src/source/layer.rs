//! Layers: where their blobs are, and reading them verified and decompressed.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use sha2::{Digest as _, Sha256};

use super::digest::format_digest;
use super::error::SourceError;
use super::media::{Compression, layer_compression, sniff_compression};

/// How many leading bytes of a blob are looked at to recognise compression.
const MAGIC_LEN: usize = 4;

/// One layer of an image: a tar stream of file system changes, possibly
/// compressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The `sha256:…` digest of the blob as stored (compressed, if it is).
    pub digest: String,
    /// The media type: from the manifest for OCI layouts; for docker archives
    /// (whose `manifest.json` has none) the OCI layer type matching the blob's
    /// magic bytes.
    pub media_type: String,
    /// The size of the blob as stored, in bytes.
    pub size: u64,
    /// Where the blob is.
    pub(crate) location: Location,
    /// The digest of the uncompressed tar, as the image's config lists it
    /// (`rootfs.diff_ids`), when it does: [`Layer::open`] checks the
    /// stream against it too, so a layer chains up to the config even
    /// where nothing else names its blob (a `docker save` archive's
    /// `manifest.json` is not content-addressed).
    pub diff_id: Option<String>,
}

/// Where a layer blob is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A file of its own (an OCI layout's `blobs/sha256/<hex>`).
    File(PathBuf),
    /// A byte range of a (docker save) tar archive.
    ArchiveMember {
        /// The archive.
        archive: PathBuf,
        /// The member's path in the archive, for messages.
        member: String,
        /// The offset of the member's data in the archive file.
        offset: u64,
    },
    /// A blob of a registry repository.
    Remote(Remote),
}

/// A registry client, shared by an image's layers.
#[derive(Clone)]
pub(crate) struct Remote(pub(crate) std::sync::Arc<crate::registry::Client>);

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl PartialEq for Remote {
    fn eq(&self, other: &Remote) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Remote {}

impl Layer {
    /// Opens the layer's uncompressed tar stream.
    ///
    /// The blob is gunzipped when its media type says gzip or when it starts
    /// with the gzip magic bytes; otherwise it is passed through as a plain
    /// tar. A zstd layer (by media type or magic) is refused with
    /// [`SourceError::ZstdNotSupported`].
    ///
    /// The blob's sha256 and size are checked as it streams by: when the blob
    /// has been read to its end (which happens when the returned reader is
    /// read to EOF), a wrong digest or size makes that read fail with an
    /// [`io::Error`] of kind `InvalidData` whose inner error is a
    /// [`SourceError::DigestMismatch`] or [`SourceError::SizeMismatch`] naming
    /// the digest. A blob longer than its size fails as soon as the excess is
    /// read. A consumer that stops early — a tar reader stops at the
    /// end-of-archive blocks — must read the rest (e.g. `io::copy` into
    /// `io::sink()`) to get the check. Corrupt or truncated compressed data
    /// fails with [`SourceError::Decompress`], likewise wrapped.
    /// [`SourceError::from_io`] unwraps these errors.
    pub fn open(&self) -> Result<Box<dyn Read>, SourceError> {
        let mut verified = self.open_verified()?;
        let mut head = [0u8; MAGIC_LEN];
        let head_len = read_up_to(&mut verified, &mut head).map_err(|e| self.error_from_io(e))?;
        let sniffed = sniff_compression(head.get(..head_len).unwrap_or_default());
        let declared = layer_compression(&self.media_type).unwrap_or(Compression::None);
        let head = io::Cursor::new(head.get(..head_len).unwrap_or_default().to_vec());
        let stream = head.chain(verified);
        let decoded = if declared == Compression::Zstd || sniffed == Compression::Zstd {
            return Err(SourceError::ZstdNotSupported {
                digest: self.digest.clone(),
            });
        } else if declared == Compression::Gzip || sniffed == Compression::Gzip {
            Decoded::Gzip(MultiGzDecoder::new(stream))
        } else {
            Decoded::Plain(stream)
        };
        Ok(Box::new(LayerStream {
            decoded,
            digest: self.digest.clone(),
            diff: self.diff_id.clone().map(|d| (Sha256::new(), d)),
        }))
    }

    /// Reads the whole blob (without decompressing it) and checks its sha256
    /// and size.
    pub fn verify(&self) -> Result<(), SourceError> {
        let mut verified = self.open_verified()?;
        io::copy(&mut verified, &mut io::sink())
            .map(drop)
            .map_err(|e| self.error_from_io(e))
    }

    /// `len` bytes of the blob as stored, from `offset` (no digest check:
    /// the caller checks what it reads). Memory grows with the bytes that
    /// arrive, not with what `len` claims.
    pub fn read_range(&self, offset: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        let mut out = Vec::new();
        self.open_range(offset, len)?
            .read_to_end(&mut out)
            .map_err(|e| self.error_from_io(e))?;
        if out.len() as u64 != len {
            return Err(SourceError::LayerRead {
                digest: self.digest.clone(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} of {len} bytes at {offset}", out.len()),
                ),
            });
        }
        Ok(out)
    }

    /// A stream of `len` bytes of the blob as stored, from `offset` (no
    /// digest check), for serving it on.
    pub fn open_range(
        &self,
        offset: u64,
        len: u64,
    ) -> Result<Box<dyn Read + Send + Sync>, SourceError> {
        let end = offset.checked_add(len).filter(|&e| e <= self.size);
        let Some(_) = end else {
            return Err(SourceError::Invalid {
                what: format!("layer {}", self.digest),
                reason: format!("range {offset}+{len} is outside its {} bytes", self.size),
            });
        };
        let (path, start) = match &self.location {
            Location::Remote(r) => {
                return r
                    .0
                    .blob_range_reader(&self.digest, offset, len)
                    .map_err(|e| SourceError::LayerRead {
                        digest: self.digest.clone(),
                        source: io::Error::other(e.to_string()),
                    });
            }
            Location::File(path) => (path, offset),
            Location::ArchiveMember {
                archive,
                offset: base,
                ..
            } => (archive, base.saturating_add(offset)),
        };
        let mut file = open_file(path)?;
        file.seek(SeekFrom::Start(start))
            .map_err(|source| SourceError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Box::new(file.take(len)))
    }

    /// A description of where the blob is, for messages.
    pub fn location_description(&self) -> String {
        match &self.location {
            Location::File(path) => path.display().to_string(),
            Location::ArchiveMember {
                archive, member, ..
            } => format!("{} in {}", member, archive.display()),
            Location::Remote(r) => format!("{} in {}", self.digest, r.0.target),
        }
    }

    /// The blob's raw bytes, wrapped in the digest and size check.
    fn open_verified(&self) -> Result<VerifyingReader<Box<dyn Read>>, SourceError> {
        let raw: Box<dyn Read> = match &self.location {
            Location::Remote(r) => r.0.blob(&self.digest).map_err(|e| SourceError::LayerRead {
                digest: self.digest.clone(),
                source: io::Error::other(e.to_string()),
            })?,
            Location::File(path) => Box::new(open_file(path)?),
            Location::ArchiveMember {
                archive, offset, ..
            } => {
                let mut file = open_file(archive)?;
                file.seek(SeekFrom::Start(*offset))
                    .map_err(|source| SourceError::Io {
                        path: archive.clone(),
                        source,
                    })?;
                // The member's size is its length by definition: what
                // follows it in the archive is not part of it.
                Box::new(file.take(self.size))
            }
        };
        Ok(VerifyingReader::new(
            raw,
            self.digest.clone(),
            self.size,
            format!("layer {} ({})", self.digest, self.location_description()),
        ))
    }

    /// Turns an error from reading the raw blob into a `SourceError`.
    fn error_from_io(&self, err: io::Error) -> SourceError {
        let path = match &self.location {
            Location::File(path) => path.clone(),
            Location::ArchiveMember { archive, .. } => archive.clone(),
            Location::Remote(r) => PathBuf::from(r.0.target.to_string()),
        };
        SourceError::from_io(err, path)
    }
}

/// Opens a file, naming it in the error.
fn open_file(path: &Path) -> Result<File, SourceError> {
    File::open(path).map_err(|source| SourceError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads until `buf` is full or the reader is at its end; returns the count.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Why a blob failed its check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// It is not `expected` bytes long (`actual` is as far as reading got).
    Size { actual: u64 },
    /// Its sha256 is `actual` (raw hash).
    Digest { actual: [u8; 32] },
}

/// A reader that hashes and counts what passes through it and, at the end
/// of the stream, fails unless the digest and size are the expected ones.
pub(crate) struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    seen: u64,
    expected_digest: String,
    expected_size: u64,
    what: String,
    failure: Option<Failure>,
    finished: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`, which should yield `expected_size` bytes hashing to
    /// `expected_digest`; `what` names the blob in errors.
    pub(crate) fn new(inner: R, expected_digest: String, expected_size: u64, what: String) -> Self {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            seen: 0,
            expected_digest,
            expected_size,
            what,
            failure: None,
            finished: false,
        }
    }

    /// The error for a failure (rebuilt on every call, so that every read
    /// after the failure fails the same way).
    fn error(&self, failure: Failure) -> io::Error {
        match failure {
            Failure::Size { actual } => SourceError::SizeMismatch {
                what: self.what.clone(),
                expected: self.expected_size,
                actual,
            },
            Failure::Digest { actual } => SourceError::DigestMismatch {
                what: self.what.clone(),
                expected: self.expected_digest.clone(),
                actual: format_digest(&actual),
            },
        }
        .into_io()
    }

    /// Checks size and digest at the end of the stream.
    fn finish(&mut self) -> Option<Failure> {
        if self.seen != self.expected_size {
            return Some(Failure::Size { actual: self.seen });
        }
        let hash: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
        if format_digest(&hash) != self.expected_digest {
            return Some(Failure::Digest { actual: hash });
        }
        None
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(failure) = self.failure {
            return Err(self.error(failure));
        }
        if self.finished || buf.is_empty() {
            return Ok(0);
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(source) => {
                return Err(SourceError::LayerRead {
                    digest: self.expected_digest.clone(),
                    source,
                }
                .into_io());
            }
        };
        if n == 0 {
            self.finished = true;
            self.failure = self.finish();
            return match self.failure {
                Some(failure) => Err(self.error(failure)),
                None => Ok(0),
            };
        }
        // `n <= buf.len()`, which fits in u64 on every supported target.
        self.seen = self.seen.saturating_add(n as u64);
        if self.seen > self.expected_size {
            let failure = Failure::Size { actual: self.seen };
            self.failure = Some(failure);
            return Err(self.error(failure));
        }
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Whether `err` carries a [`SourceError`] (and so already names the layer).
fn is_source_error(err: &io::Error) -> bool {
    err.get_ref().is_some_and(|inner| inner.is::<SourceError>())
}

/// The raw blob behind a decompressor: the sniffed head, then the rest.
type RawStream = io::Chain<io::Cursor<Vec<u8>>, VerifyingReader<Box<dyn Read>>>;

/// The decompression applied to a layer.
enum Decoded {
    /// A plain tar.
    Plain(RawStream),
    /// Gzip (all members, as `gzip -d` does).
    Gzip(MultiGzDecoder<RawStream>),
}

/// A layer's uncompressed tar stream (see [`Layer::open`]).
struct LayerStream {
    decoded: Decoded,
    digest: String,
    /// The hash of what was decoded so far, and the diff id it must end as.
    diff: Option<(Sha256, String)>,
}

impl LayerStream {
    /// The raw blob stream under the decompressor.
    fn raw(&mut self) -> &mut RawStream {
        match &mut self.decoded {
            Decoded::Plain(raw) => raw,
            Decoded::Gzip(decoder) => decoder.get_mut(),
        }
    }

    /// Names the layer in an error, unless the error already is one of ours.
    /// A decompression error is replaced by the blob's digest or size error
    /// if it has one (the rest of the blob is read to find out): a corrupt
    /// blob is the likelier and more useful explanation.
    fn annotate(&mut self, err: io::Error) -> io::Error {
        if err.kind() == io::ErrorKind::Interrupted || is_source_error(&err) {
            return err;
        }
        if let Err(integrity) = io::copy(self.raw(), &mut io::sink())
            && is_source_error(&integrity)
        {
            return integrity;
        }
        let kind = err.kind();
        let err = SourceError::Decompress {
            digest: self.digest.clone(),
            source: err,
        };
        io::Error::new(kind, err)
    }
}

impl Read for LayerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = match &mut self.decoded {
            Decoded::Plain(raw) => raw.read(buf),
            Decoded::Gzip(decoder) => decoder.read(buf),
        };
        match result {
            Ok(0) if !buf.is_empty() => {
                // The decompressed stream has ended; make sure the blob has
                // too, so that its digest and size get checked.
                match io::copy(self.raw(), &mut io::sink()) {
                    Ok(0) => self.check_diff_id(),
                    Ok(extra) => Err(self.annotate(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{extra} bytes of trailing data after the compressed stream"),
                    ))),
                    Err(e) => Err(self.annotate(e)),
                }
            }
            Ok(n) => {
                if let Some((hash, _)) = &mut self.diff {
                    hash.update(buf.get(..n).unwrap_or_default());
                }
                Ok(n)
            }
            Err(e) => Err(self.annotate(e)),
        }
    }
}

impl LayerStream {
    /// At the end: the uncompressed stream must hash to the diff id (once;
    /// later reads at the end give 0 again).
    fn check_diff_id(&mut self) -> io::Result<usize> {
        let Some((hash, expected)) = self.diff.take() else {
            return Ok(0);
        };
        let actual = format_digest(&hash.finalize());
        if actual == expected {
            return Ok(0);
        }
        let err = SourceError::DigestMismatch {
            what: format!("the uncompressed tar of layer {}", self.digest),
            expected,
            actual,
        };
        self.diff = None;
        Err(err.into_io())
    }
}
