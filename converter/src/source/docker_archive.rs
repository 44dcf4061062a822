//! Reading an image from a `docker save` tarball (`docker-archive:FILE[:REF]`).
//!
//! Both layouts `docker save` has written are read: the legacy one, whose
//! `manifest.json` names the config as `<hex>.json` and the layers as
//! `<id>/layer.tar` (duplicates being symlinks), and the OCI-style one of
//! Docker 25 and later, whose paths are `blobs/sha256/<hex>`.
//!
//! Nothing is extracted: opening the image scans the archive's headers once,
//! records where each member's data lies, and reads only `manifest.json` and
//! the config into memory. A layer's [`Layer::open`] seeks into the archive
//! and streams the member, so memory stays bounded whatever the layer sizes.
//! A compressed outer archive (`docker save | gzip`) cannot be read this way
//! and is refused with a message saying to decompress it first.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tar::EntryType;

use super::config::parse_config;
use super::digest::{SHA256_PREFIX, format_digest, is_sha256_hex, sha256_of};
use super::error::SourceError;
use super::layer::{Layer, Location};
use super::media::{
    Compression, OCI_LAYER_TAR, OCI_LAYER_TAR_GZIP, OCI_LAYER_TAR_ZSTD, sniff_compression,
};
use super::{MAX_METADATA_SIZE, SourceImage, parse_json, read_limited};

/// The archive member listing the images and their parts.
pub const MANIFEST_MEMBER: &str = "manifest.json";
/// The most members an archive may have (a guard against hostile archives;
/// real ones have a few per layer).
const MAX_MEMBERS: usize = 100_000;
/// The most symlinks / hard links followed to resolve one member.
const MAX_LINK_HOPS: usize = 8;
/// How many leading bytes are looked at to recognise compression.
const MAGIC_LEN: usize = 4;
/// The suffix of the legacy layout's config member, `<hex>.json`.
const JSON_SUFFIX: &str = ".json";
/// The tag implied by a reference without one.
const DEFAULT_TAG: &str = "latest";
/// The registry of references without one.
const DOCKER_HUB: &str = "docker.io";
/// An old name of [`DOCKER_HUB`].
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
/// The Docker Hub namespace of single-component names (`alpine`).
const OFFICIAL_NAMESPACE: &str = "library";
/// A registry name recognised without a `.` or `:`.
const LOCALHOST: &str = "localhost";
/// A REF of the form `@N` selects the N-th image of `manifest.json`.
const INDEX_SELECTOR: char = '@';

/// One image of `manifest.json`.
#[derive(Debug, Deserialize)]
struct ManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Option<Vec<String>>,
}

/// What an archive member is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    /// A regular file whose data is at `offset` in the archive.
    File { offset: u64, size: u64 },
    /// A symbolic link, target as written (relative to the link's directory).
    Symlink(String),
    /// A hard link, target as an archive path.
    HardLink(String),
    /// A directory, device, sparse file or anything else without plain data.
    Other,
}

/// The members of an archive, by normalized path.
struct ArchiveIndex<'a> {
    archive: &'a Path,
    members: HashMap<String, Member>,
}

/// A regular member found by [`ArchiveIndex::resolve`].
struct Resolved {
    /// Its path (after following links).
    path: String,
    /// The offset of its data in the archive.
    offset: u64,
    /// Its size.
    size: u64,
}

/// Reads the image `tag` (or the only image) of the docker archive `file`;
/// `reference` is the reference as written, for the result and for errors.
pub fn open_docker_archive(
    file: &Path,
    tag: Option<&str>,
    reference: &str,
) -> Result<SourceImage, SourceError> {
    check_not_compressed(file)?;
    let index = ArchiveIndex::scan(file)?;
    let manifest = index.resolve(MANIFEST_MEMBER)?;
    let manifest_what = format!("{MANIFEST_MEMBER} in {}", file.display());
    let manifest_bytes = index.read_small(&manifest, &manifest_what)?;
    let entries: Vec<ManifestEntry> = parse_json(&manifest_bytes, &manifest_what)?;
    let entry = select_entry(&entries, tag, reference)?;

    let config = index.resolve(&entry.config)?;
    let config_what = format!("config {} in {}", config.path, file.display());
    let config_bytes = index.read_small(&config, &config_what)?;
    let actual = sha256_of(&config_bytes);
    if let Some(expected) = digest_from_path(&config.path)
        && expected != actual
    {
        return Err(SourceError::DigestMismatch {
            what: config_what,
            expected,
            actual,
        });
    }
    let parsed = parse_config(&config_bytes, &config_what)?;

    let mut layers = Vec::new();
    for (position, layer_path) in entry.layers.iter().flatten().enumerate() {
        let member = index.resolve(layer_path)?;
        let head = index.read_head(&member)?;
        let compression = sniff_compression(&head);
        let media_type = match compression {
            Compression::None => OCI_LAYER_TAR,
            Compression::Gzip => OCI_LAYER_TAR_GZIP,
            Compression::Zstd => OCI_LAYER_TAR_ZSTD,
        };
        // The digest of the blob as stored: from a `blobs/sha256/<hex>` path;
        // else, for an uncompressed layer, its diff_id (which is the digest
        // of the uncompressed tar); else computed now. It is checked again
        // whenever the layer is read.
        let diff_id = parsed
            .diff_ids
            .get(position)
            .filter(|d| d.strip_prefix(SHA256_PREFIX).is_some_and(is_sha256_hex));
        let digest = match (digest_from_path(&member.path), compression, diff_id) {
            (Some(digest), _, _) => digest,
            (None, Compression::None, Some(diff_id)) => diff_id.clone(),
            (None, _, _) => index.hash(&member)?,
        };
        layers.push(Layer {
            digest,
            media_type: media_type.to_owned(),
            size: member.size,
            location: Location::ArchiveMember {
                archive: file.to_owned(),
                member: member.path,
                offset: member.offset,
            },
            diff_id: None,
        });
    }
    super::pin_diff_ids(&mut layers, &parsed.diff_ids);

    Ok(SourceImage {
        reference: reference.to_owned(),
        platform: parsed.platform,
        config: parsed.run,
        labels: parsed.labels,
        config_json: config_bytes,
        config_digest: Some(actual),
        layers,
        rootfs: None,
    })
}

/// Refuses a gzip- or zstd-compressed archive.
fn check_not_compressed(file: &Path) -> Result<(), SourceError> {
    let io_error = |source| SourceError::Io {
        path: file.to_owned(),
        source,
    };
    let mut head = Vec::with_capacity(MAGIC_LEN);
    File::open(file)
        .map_err(io_error)?
        .take(MAGIC_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io_error)?;
    match sniff_compression(&head) {
        Compression::None => Ok(()),
        Compression::Gzip | Compression::Zstd => Err(SourceError::Invalid {
            what: file.display().to_string(),
            reason: "it is a compressed archive; decompress it first \
                     (for example with gunzip or zstd -d) and pass the plain tar"
                .to_owned(),
        }),
    }
}

/// Picks the image: `@N`, one whose `RepoTags` holds `tag`, or the only one.
fn select_entry<'a>(
    entries: &'a [ManifestEntry],
    tag: Option<&str>,
    reference: &str,
) -> Result<&'a ManifestEntry, SourceError> {
    let available = || {
        let mut names = Vec::new();
        for (position, entry) in entries.iter().enumerate() {
            match entry.repo_tags.as_deref() {
                Some(tags) if !tags.is_empty() => names.extend(tags.iter().cloned()),
                _ => names.push(format!("{INDEX_SELECTOR}{position}")),
            }
        }
        names
    };
    let Some(tag) = tag else {
        return match entries {
            [] => Err(SourceError::NoImage {
                reference: reference.to_owned(),
            }),
            [only] => Ok(only),
            _ => Err(SourceError::AmbiguousImage {
                reference: reference.to_owned(),
                available: available(),
            }),
        };
    };
    let found = match tag
        .strip_prefix(INDEX_SELECTOR)
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(position) => entries.get(position),
        None => {
            let wanted = canonical_reference(tag);
            entries.iter().find(|entry| {
                entry
                    .repo_tags
                    .iter()
                    .flatten()
                    .any(|t| t == tag || canonical_reference(t) == wanted)
            })
        }
    };
    found.ok_or_else(|| SourceError::TagNotFound {
        reference: reference.to_owned(),
        tag: tag.to_owned(),
        available: available(),
    })
}

/// A Docker reference in its fully qualified form, the way Docker compares
/// them: `alpine` is `docker.io/library/alpine:latest`, `me/app:1` is
/// `docker.io/me/app:1`, `localhost:5000/x` is `localhost:5000/x:latest`.
/// Tools differ in which form they write into `RepoTags` (Docker the short
/// one, skopeo the long one), so both sides are compared in this form.
fn canonical_reference(reference: &str) -> String {
    let (name, suffix) = match reference.split_once('@') {
        Some((name, digest)) => (name, format!("@{digest}")),
        None => {
            let last_slash = reference.rfind('/').map_or(0, |at| at + 1);
            match reference.rfind(':').filter(|&at| at >= last_slash) {
                Some(at) => (
                    reference.get(..at).unwrap_or(reference),
                    reference.get(at..).unwrap_or_default().to_owned(),
                ),
                None => (reference, format!(":{DEFAULT_TAG}")),
            }
        }
    };
    let (domain, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') || first == LOCALHOST => {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    };
    let domain = if domain == LEGACY_DOCKER_HUB {
        DOCKER_HUB
    } else {
        domain
    };
    if domain == DOCKER_HUB && !path.contains('/') {
        format!("{domain}/{OFFICIAL_NAMESPACE}/{path}{suffix}")
    } else {
        format!("{domain}/{path}{suffix}")
    }
}

/// `sha256:<hex>` if the last component of `path` is `<hex>` or `<hex>.json`.
fn digest_from_path(path: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let hex = name.strip_suffix(JSON_SUFFIX).unwrap_or(name);
    is_sha256_hex(hex).then(|| format!("{SHA256_PREFIX}{hex}"))
}

/// Normalizes a member path: drops `.` and empty components. Returns `None`
/// for a path that is absolute or has a `..` component.
fn normalize(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// Resolves a symlink target written in the member `link`: relative to its
/// directory, with `..` allowed as long as it stays inside the archive.
fn symlink_target(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

impl<'a> ArchiveIndex<'a> {
    /// Reads the headers of every member of `archive`.
    fn scan(archive: &'a Path) -> Result<Self, SourceError> {
        let io_error = |source| SourceError::Io {
            path: archive.to_owned(),
            source,
        };
        let file = File::open(archive).map_err(io_error)?;
        let mut tar = tar::Archive::new(file);
        let mut members = HashMap::new();
        for (count, entry) in tar.entries_with_seek().map_err(io_error)?.enumerate() {
            if count >= MAX_MEMBERS {
                return Err(SourceError::Invalid {
                    what: archive.display().to_string(),
                    reason: format!("it has more than {MAX_MEMBERS} members"),
                });
            }
            let entry = entry.map_err(io_error)?;
            // Members with names that are not UTF-8, absolute or contain `..`
            // cannot be what manifest.json refers to: skip them.
            let Ok(raw_name) = std::str::from_utf8(&entry.path_bytes()).map(str::to_owned) else {
                continue;
            };
            let Some(name) = normalize(&raw_name) else {
                continue;
            };
            let link_name = || {
                entry
                    .link_name_bytes()
                    .and_then(|bytes| String::from_utf8(bytes.into_owned()).ok())
            };
            let member = match entry.header().entry_type() {
                EntryType::Regular | EntryType::Continuous => Member::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                EntryType::Symlink => link_name().map_or(Member::Other, Member::Symlink),
                EntryType::Link => link_name().map_or(Member::Other, Member::HardLink),
                _ => Member::Other,
            };
            members.insert(name, member);
        }
        Ok(ArchiveIndex { archive, members })
    }

    /// Finds the regular member `path` names (as written in manifest.json),
    /// following links.
    fn resolve(&self, path: &str) -> Result<Resolved, SourceError> {
        let hostile = |member: &str, reason: &str| SourceError::HostilePath {
            archive: self.archive.to_owned(),
            member: member.to_owned(),
            reason: reason.to_owned(),
        };
        let mut current =
            normalize(path).ok_or_else(|| hostile(path, "it is absolute or contains '..'"))?;
        for _ in 0..=MAX_LINK_HOPS {
            match self.members.get(&current) {
                None => {
                    return Err(SourceError::MissingMember {
                        archive: self.archive.to_owned(),
                        member: current,
                    });
                }
                Some(Member::File { offset, size }) => {
                    return Ok(Resolved {
                        path: current,
                        offset: *offset,
                        size: *size,
                    });
                }
                Some(Member::Symlink(target)) => {
                    current = symlink_target(&current, target).ok_or_else(|| {
                        hostile(&current, "it is a symlink pointing outside the archive")
                    })?;
                }
                Some(Member::HardLink(target)) => {
                    current = normalize(target).ok_or_else(|| {
                        hostile(&current, "it is a hard link pointing outside the archive")
                    })?;
                }
                Some(Member::Other) => {
                    return Err(SourceError::Invalid {
                        what: format!("member {current} of {}", self.archive.display()),
                        reason: "it is not a regular file".to_owned(),
                    });
                }
            }
        }
        Err(hostile(path, "it is a chain of too many links"))
    }

    /// Opens the archive positioned at `member`'s data, limited to its size.
    fn open(&self, member: &Resolved) -> Result<io::Take<File>, SourceError> {
        let io_error = |source| SourceError::Io {
            path: self.archive.to_owned(),
            source,
        };
        let mut file = File::open(self.archive).map_err(io_error)?;
        file.seek(SeekFrom::Start(member.offset))
            .map_err(io_error)?;
        Ok(file.take(member.size))
    }

    /// Reads a small member (manifest.json, the config) whole.
    fn read_small(&self, member: &Resolved, what: &str) -> Result<Vec<u8>, SourceError> {
        if member.size > MAX_METADATA_SIZE {
            return Err(SourceError::TooLarge {
                what: what.to_owned(),
                limit: MAX_METADATA_SIZE,
            });
        }
        let bytes = read_limited(self.open(member)?, self.archive, what)?;
        let actual = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if actual != member.size {
            return Err(SourceError::SizeMismatch {
                what: what.to_owned(),
                expected: member.size,
                actual,
            });
        }
        Ok(bytes)
    }

    /// The first few bytes of a member.
    fn read_head(&self, member: &Resolved) -> Result<Vec<u8>, SourceError> {
        let mut head = Vec::with_capacity(MAGIC_LEN);
        self.open(member)?
            .take(MAGIC_LEN as u64)
            .read_to_end(&mut head)
            .map_err(|source| SourceError::Io {
                path: self.archive.to_owned(),
                source,
            })?;
        Ok(head)
    }

    /// The sha256 digest of a member's data.
    fn hash(&self, member: &Resolved) -> Result<String, SourceError> {
        let mut hasher = Sha256::new();
        let copied =
            io::copy(&mut self.open(member)?, &mut hasher).map_err(|source| SourceError::Io {
                path: self.archive.to_owned(),
                source,
            })?;
        if copied != member.size {
            return Err(SourceError::SizeMismatch {
                what: format!("member {} of {}", member.path, self.archive.display()),
                expected: member.size,
                actual: copied,
            });
        }
        Ok(format_digest(hasher.finalize().as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_member_paths() {
        assert_eq!(normalize("./a//b/./c").as_deref(), Some("a/b/c"));
        assert_eq!(normalize("/etc/passwd"), None);
        assert_eq!(normalize("a/../../b"), None);
    }

    #[test]
    fn resolves_symlink_targets_inside_only() {
        assert_eq!(
            symlink_target("b/layer.tar", "../a/layer.tar").as_deref(),
            Some("a/layer.tar")
        );
        assert_eq!(symlink_target("b/layer.tar", "../../x"), None);
        assert_eq!(symlink_target("b/layer.tar", "/etc/passwd"), None);
    }

    #[test]
    fn recognises_digest_paths() {
        let hex = "0a".repeat(32);
        let digest = Some(format!("sha256:{hex}"));
        assert_eq!(digest_from_path(&format!("blobs/sha256/{hex}")), digest);
        assert_eq!(digest_from_path(&format!("{hex}.json")), digest);
        assert_eq!(digest_from_path("abc/layer.tar"), None);
    }

    #[test]
    fn canonicalizes_references_like_docker() {
        for (short, long) in [
            ("alpine", "docker.io/library/alpine:latest"),
            ("alpine:3", "docker.io/library/alpine:3"),
            ("docker.io/library/alpine:3", "docker.io/library/alpine:3"),
            ("index.docker.io/alpine", "docker.io/library/alpine:latest"),
            ("me/app:1", "docker.io/me/app:1"),
            ("localhost:5000/x", "localhost:5000/x:latest"),
            ("localhost/x:2", "localhost/x:2"),
            ("quay.io/a/b:c", "quay.io/a/b:c"),
            ("a@sha256:00", "docker.io/library/a@sha256:00"),
        ] {
            assert_eq!(canonical_reference(short), long, "{short}");
        }
    }
}
