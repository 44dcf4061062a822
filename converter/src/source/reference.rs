//! Parsing image references written with skopeo-style transports.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::error::SourceError;

/// The `oci:` transport prefix.
pub const OCI_TRANSPORT: &str = "oci:";
/// The `docker-archive:` transport prefix.
pub const DOCKER_ARCHIVE_TRANSPORT: &str = "docker-archive:";
/// The `dir:` transport prefix.
pub const DIR_TRANSPORT: &str = "dir:";
/// The registry transport prefix.
pub const DOCKER_TRANSPORT: &str = "docker://";
/// The local engine's transport prefix.
pub const DAEMON_TRANSPORT: &str = "docker-daemon:";

/// skopeo transports friscy does not read: a reference starting with one
/// is not taken for a bare docker reference.
const OTHER_TRANSPORTS: &[&str] = &[
    "oci-archive:",
    "containers-storage:",
    "ostree:",
    "sif:",
    "tarball:",
];

/// An image reference with its transport.
///
/// Written like skopeo's references:
///
/// * `oci:DIR[:TAG]` — an OCI image layout directory and, optionally, the
///   `org.opencontainers.image.ref.name` of the image in it. `DIR` and `TAG`
///   are split at the *last* `:`, and only if what follows it contains no
///   `/`, so `oci:/a:b/img` is the directory `/a:b/img` without a tag.
/// * `docker-archive:FILE[:REF]` — a `docker save` tarball and, optionally,
///   one of its `RepoTags` (such as `name:tag`) or `@N`, the N-th image in
///   its `manifest.json`. A REF may itself contain `:`, so the split is made
///   at the first `:` after which the text before it names an existing file;
///   when none does, at the first `:` (skopeo's rule). Unlike the other
///   transports, this looks at the file system.
/// * `dir:ROOTFS` — an already unpacked root file system.
///
/// Note that skopeo's own `dir:` transport means a directory of blobs; here it
/// means a root file system tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// An OCI image layout directory.
    Oci {
        /// The layout directory.
        dir: PathBuf,
        /// The image's `org.opencontainers.image.ref.name`, if given.
        tag: Option<String>,
    },
    /// A `docker save` archive.
    DockerArchive {
        /// The tar file.
        file: PathBuf,
        /// One of the image's `RepoTags`, or `@N`, if given.
        tag: Option<String>,
    },
    /// An unpacked root file system.
    Dir {
        /// The root directory.
        root: PathBuf,
    },
    /// An image in a registry (`docker://REF`).
    Docker {
        /// `REGISTRY/REPO[:TAG][@DIGEST]` as written.
        reference: String,
    },
    /// An image of the local engine (`docker-daemon:REF`).
    Daemon {
        /// The engine's name for it.
        reference: String,
    },
    /// A reference without a transport: the engine's image if it has one,
    /// else the registry's, as `docker run` does.
    Bare {
        /// As written.
        reference: String,
    },
}

impl FromStr for ImageRef {
    type Err = SourceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| SourceError::InvalidReference {
            reference: s.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(rest) = s.strip_prefix(OCI_TRANSPORT) {
            let (dir, tag) = split_last_colon(rest);
            if dir.is_empty() {
                return Err(invalid("the OCI layout directory is empty"));
            }
            if tag.is_some_and(str::is_empty) {
                return Err(invalid("the tag after the last ':' is empty"));
            }
            Ok(ImageRef::Oci {
                dir: PathBuf::from(dir),
                tag: tag.map(str::to_owned),
            })
        } else if let Some(rest) = s.strip_prefix(DOCKER_ARCHIVE_TRANSPORT) {
            let (file, tag) = split_archive(rest);
            if file.is_empty() {
                return Err(invalid("the archive file name is empty"));
            }
            if tag.is_some_and(str::is_empty) {
                return Err(invalid("the image reference after ':' is empty"));
            }
            Ok(ImageRef::DockerArchive {
                file: PathBuf::from(file),
                tag: tag.map(str::to_owned),
            })
        } else if let Some(rest) = s.strip_prefix(DIR_TRANSPORT) {
            if rest.is_empty() {
                return Err(invalid("the root directory is empty"));
            }
            Ok(ImageRef::Dir {
                root: PathBuf::from(rest),
            })
        } else if let Some(rest) = s.strip_prefix(DOCKER_TRANSPORT) {
            crate::registry::RegistryRef::parse(rest).map_err(|e| invalid(&e.to_string()))?;
            Ok(ImageRef::Docker {
                reference: rest.to_owned(),
            })
        } else if let Some(rest) = s.strip_prefix(DAEMON_TRANSPORT) {
            if rest.is_empty() {
                return Err(invalid("the engine's image name is empty"));
            }
            if !is_engine_reference(rest) {
                return Err(invalid(
                    "not an image name (REPO[:TAG], as docker takes it) or an image ID",
                ));
            }
            Ok(ImageRef::Daemon {
                reference: rest.to_owned(),
            })
        } else if crate::registry::RegistryRef::parse(s).is_ok()
            && !OTHER_TRANSPORTS.iter().any(|t| s.starts_with(t))
            && !s.contains("://")
            && !s.starts_with('/')
            && !s.starts_with('.')
        {
            Ok(ImageRef::Bare {
                reference: s.to_owned(),
            })
        } else {
            Err(SourceError::UnsupportedTransport {
                reference: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for ImageRef {
    /// Writes the reference back in the form [`FromStr`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Oci { dir, tag } => {
                write!(f, "{OCI_TRANSPORT}{}", dir.display())?;
                write_tag(f, tag.as_deref())
            }
            ImageRef::DockerArchive { file, tag } => {
                write!(f, "{DOCKER_ARCHIVE_TRANSPORT}{}", file.display())?;
                write_tag(f, tag.as_deref())
            }
            ImageRef::Dir { root } => write!(f, "{DIR_TRANSPORT}{}", root.display()),
            ImageRef::Docker { reference } => write!(f, "{DOCKER_TRANSPORT}{reference}"),
            ImageRef::Daemon { reference } => write!(f, "{DAEMON_TRANSPORT}{reference}"),
            ImageRef::Bare { reference } => write!(f, "{reference}"),
        }
    }
}

/// Whether the engine could take `s` as an image: a name the distribution
/// grammar allows, or an image ID (`sha256:HEX`, or HEX alone, which is a
/// valid name too). Nothing that starts with `-` (docker would take it
/// for a flag).
pub fn is_engine_reference(s: &str) -> bool {
    let id = s
        .strip_prefix(super::digest::SHA256_PREFIX)
        .is_some_and(|hex| {
            (1..=super::digest::SHA256_HEX_LEN).contains(&hex.len())
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
    id || crate::registry::RegistryRef::parse(s).is_ok()
}

/// Writes `:TAG` if there is a tag.
fn write_tag(f: &mut fmt::Formatter<'_>, tag: Option<&str>) -> fmt::Result {
    match tag {
        Some(tag) => write!(f, ":{tag}"),
        None => Ok(()),
    }
}

/// Splits `PATH:TAG` at the last `:` if the text after it has no `/`.
fn split_last_colon(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, Some(tag)),
        _ => (s, None),
    }
}

/// Splits `FILE:REF` for `docker-archive:` (see [`ImageRef`]).
fn split_archive(s: &str) -> (&str, Option<&str>) {
    if Path::new(s).is_file() {
        return (s, None);
    }
    for (at, _) in s.match_indices(':') {
        let (file, rest) = s.split_at(at);
        if Path::new(file).is_file() {
            return (file, rest.get(1..));
        }
    }
    match s.split_once(':') {
        Some((file, reference)) => (file, Some(reference)),
        None => (s, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ImageRef, SourceError> {
        s.parse()
    }

    #[test]
    fn oci_with_and_without_tag() {
        assert_eq!(
            parse("oci:/x/img:base").unwrap(),
            ImageRef::Oci {
                dir: "/x/img".into(),
                tag: Some("base".into())
            }
        );
        assert_eq!(
            parse("oci:img").unwrap(),
            ImageRef::Oci {
                dir: "img".into(),
                tag: None
            }
        );
    }

    #[test]
    fn oci_path_with_colon() {
        // The last ':' is followed by a '/': it belongs to the path.
        assert_eq!(
            parse("oci:/tmp/a:b/img").unwrap(),
            ImageRef::Oci {
                dir: "/tmp/a:b/img".into(),
                tag: None
            }
        );
        assert_eq!(
            parse("oci:/tmp/a:b/img:v1").unwrap(),
            ImageRef::Oci {
                dir: "/tmp/a:b/img".into(),
                tag: Some("v1".into())
            }
        );
    }

    #[test]
    fn dir_keeps_everything() {
        assert_eq!(
            parse("dir:/r:o/o:t").unwrap(),
            ImageRef::Dir {
                root: "/r:o/o:t".into()
            }
        );
    }

    #[test]
    fn docker_archive_reference_with_colon() {
        // A file that does not exist: split at the first ':'.
        assert_eq!(
            parse("docker-archive:/nonexistent/x.tar:name:tag").unwrap(),
            ImageRef::DockerArchive {
                file: "/nonexistent/x.tar".into(),
                tag: Some("name:tag".into())
            }
        );
        assert_eq!(
            parse("docker-archive:x.tar").unwrap(),
            ImageRef::DockerArchive {
                file: "x.tar".into(),
                tag: None
            }
        );
    }

    #[test]
    fn docker_archive_existing_file_with_colon() {
        let dir = crate::source::testutil::TempDir::new();
        let file = dir.path().join("a:b.tar");
        std::fs::write(&file, b"").unwrap();
        let whole = format!("docker-archive:{}", file.display());
        assert_eq!(
            parse(&whole).unwrap(),
            ImageRef::DockerArchive {
                file: file.clone(),
                tag: None
            }
        );
        assert_eq!(
            parse(&format!("{whole}:repo/name:tag")).unwrap(),
            ImageRef::DockerArchive {
                file,
                tag: Some("repo/name:tag".into())
            }
        );
    }

    #[test]
    fn unsupported_transports_are_named() {
        for (s, want) in [
            ("docker://alpine:latest", "docker://alpine:latest"),
            ("docker-daemon:alpine:latest", "docker-daemon:alpine:latest"),
            ("alpine:latest", "alpine:latest"),
            ("127.0.0.1:5000/a/b:c", "127.0.0.1:5000/a/b:c"),
        ] {
            assert_eq!(parse(s).unwrap().to_string(), want);
        }
        assert!(matches!(parse("alpine").unwrap(), ImageRef::Bare { .. }));
        for s in ["oci-archive:/x.tar", "containers-storage:alpine", ""] {
            let err = parse(s).unwrap_err();
            assert!(
                matches!(err, SourceError::UnsupportedTransport { .. }),
                "{s}: {err:?}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains("oci:DIR[:TAG]") && msg.contains("docker-archive:"),
                "{msg}"
            );
            assert!(msg.contains(&format!("'{s}'")), "{msg}");
        }
    }

    #[test]
    fn empty_parts_are_rejected() {
        for s in ["oci:", "oci::tag", "oci:dir:", "docker-archive:", "dir:"] {
            assert!(
                matches!(parse(s), Err(SourceError::InvalidReference { .. })),
                "{s}"
            );
        }
    }

    #[test]
    fn engine_references_are_names_or_ids() {
        for s in [
            "docker-daemon:-x",
            "docker-daemon:--output=/tmp/x",
            "docker-daemon:a b",
            "docker-daemon:a:t?x",
            "docker://127.0.0.1:5000/../x",
        ] {
            assert!(
                matches!(parse(s), Err(SourceError::InvalidReference { .. })),
                "{s}"
            );
        }
        for s in [
            "docker-daemon:alpine",
            "docker-daemon:sha256:0123abcd",
            "docker-daemon:localhost:5000/a/b:v1",
        ] {
            assert!(matches!(parse(s), Ok(ImageRef::Daemon { .. })), "{s}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "oci:/x/img:base",
            "oci:/a:b/img",
            "dir:/root",
            "docker-archive:/x.tar:n:t",
        ] {
            assert_eq!(parse(s).unwrap().to_string(), s);
        }
    }
}
