//! Helpers for tests: temporary directories and small hand-made images.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::Compression as GzLevel;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use super::digest::sha256_of;
use super::media;

/// A directory removed (with its contents) when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh empty directory under the system temp directory.
    pub fn new() -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("friscy-converter-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Gzips `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), GzLevel::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A tar archive of regular files.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// An image config JSON for `arch` whose `Cmd` is `[cmd]`.
pub fn config_json(arch: &str, cmd: &str, diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": arch,
        "os": "linux",
        "config": {
            "Cmd": [cmd],
            "Env": ["PATH=/bin", "X=1"],
            "WorkingDir": "/work",
            "User": "1000",
            "Entrypoint": null
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap()
}

/// An OCI image layout under construction.
pub struct OciLayout {
    /// The layout directory.
    pub dir: PathBuf,
}

impl OciLayout {
    /// Creates the directory with `oci-layout` and `blobs/sha256`.
    pub fn new(dir: PathBuf) -> OciLayout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        OciLayout { dir }
    }

    /// Stores a blob; returns its descriptor.
    pub fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let digest = sha256_of(bytes);
        std::fs::write(self.blob_path(&digest), bytes).unwrap();
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    /// Where the blob `digest` is stored.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    }

    /// Stores a config, layers and a manifest; returns the manifest's
    /// descriptor.
    pub fn image(&self, config: &[u8], layers: &[(&str, Vec<u8>)]) -> Value {
        let config = self.blob(media::OCI_IMAGE_CONFIG, config);
        let layers: Vec<Value> = layers
            .iter()
            .map(|(media_type, bytes)| self.blob(media_type, bytes))
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_IMAGE_MANIFEST,
            "config": config,
            "layers": layers,
        });
        self.blob(
            media::OCI_IMAGE_MANIFEST,
            &serde_json::to_vec(&manifest).unwrap(),
        )
    }

    /// Writes `index.json` listing `manifests`.
    pub fn write_index(&self, manifests: Vec<Value>) {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_IMAGE_INDEX,
            "manifests": manifests,
        });
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}

/// Adds `annotations` naming `descriptor` `name`.
pub fn named(mut descriptor: Value, name: &str) -> Value {
    descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": name});
    descriptor
}

/// Adds a `platform` to `descriptor`.
pub fn with_platform(mut descriptor: Value, os: &str, arch: &str, variant: Option<&str>) -> Value {
    descriptor["platform"] = match variant {
        Some(variant) => json!({"os": os, "architecture": arch, "variant": variant}),
        None => json!({"os": os, "architecture": arch}),
    };
    descriptor
}

/// A member of a hand-made docker archive.
pub enum Member<'a> {
    /// A regular file.
    File(&'a str, Vec<u8>),
    /// A symbolic link (name, target).
    Symlink(&'a str, &'a str),
    /// A hard link (name, target).
    HardLink(&'a str, &'a str),
}

/// A tar archive of regular files and symlinks.
pub fn archive_of(members: &[Member<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        match member {
            Member::File(name, data) => {
                header.set_size(data.len() as u64);
                header.set_entry_type(tar::EntryType::Regular);
                builder
                    .append_data(&mut header, name, data.as_slice())
                    .unwrap();
            }
            Member::Symlink(name, target) | Member::HardLink(name, target) => {
                header.set_size(0);
                header.set_entry_type(if matches!(member, Member::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                builder.append_link(&mut header, name, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}
