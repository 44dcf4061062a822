//! friscy's image side: reading container images given with skopeo-style
//! references (`oci:DIR[:TAG]`, `docker-archive:FILE[:REF]`, `dir:ROOTFS`).
//!
//! ```no_run
//! use friscy_converter::{ImageRef, open_image};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let reference: ImageRef = "oci:/images/base:base".parse()?;
//! let image = open_image(&reference)?;
//! image.check_riscv64()?;
//! for layer in &image.layers {
//!     let mut tar = layer.open()?; // uncompressed, digest-checked at EOF
//!     std::io::copy(&mut tar, &mut std::io::sink())?;
//! }
//! # Ok(())
//! # }
//! ```

pub mod aot;
pub mod daemon;
pub mod friscy;
pub mod registry;
pub mod source;
pub mod tree;

pub use source::digest::sha256_of;
pub use source::{
    ImageRef, Layer, MAX_METADATA_SIZE, Platform, RunConfig, SourceError, SourceImage, media,
    open_image,
};

/// friscy's cache folder: `$XDG_CACHE_HOME/friscy`, else
/// `$HOME/.cache/friscy`, else (no home) `friscy-UID` in the system's temp
/// folder. Made (mode 0700) when missing. Refused when it belongs to
/// another user or others may write to it: what is cached there (saved
/// images, layers) is read back, so only the user may write it.
pub fn cache_dir() -> std::io::Result<std::path::PathBuf> {
    let uid = rustix::process::getuid().as_raw();
    let dir = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| std::path::PathBuf::from(h).join(".cache"))
        })
        .map(|base| base.join("friscy"))
        .unwrap_or_else(|| std::env::temp_dir().join(format!("friscy-{uid}")));
    own_folder(dir, uid)
}

/// `dir`, made (mode 0700) if missing, if it is a folder that belongs to
/// `uid` and that nobody else may write to.
fn own_folder(dir: std::path::PathBuf, uid: u32) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::metadata(&dir)?;
    let refuse = |why: String| {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "friscy's cache folder {} {why}: refusing to use it (set XDG_CACHE_HOME to a folder of your own)",
                dir.display()
            ),
        ))
    };
    if !meta.is_dir() {
        return refuse("is not a folder".into());
    }
    if meta.uid() != uid {
        return refuse(format!("belongs to uid {}, not {uid}", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return refuse(format!(
            "may be written by others (mode {:o})",
            meta.mode() & 0o777
        ));
    }
    Ok(dir)
}

/// This machine's architecture as OCI platforms name it (`amd64`, `arm64`,
/// …): what an image of programs for this machine declares.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_cache_is_a_folder_only_its_user_writes() {
        let tmp = crate::source::testutil::TempDir::new();
        let uid = rustix::process::getuid().as_raw();
        let fresh = tmp.path().join("a/friscy");
        let got = super::own_folder(fresh.clone(), uid).unwrap();
        assert_eq!(got, fresh);
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        // a folder others may write to (a shared /tmp/friscy, say)
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let err = super::own_folder(shared.clone(), uid).unwrap_err();
        assert!(err.to_string().contains("written by others"), "{err}");
        // another user's folder
        let err = super::own_folder(fresh, uid + 1).unwrap_err();
        assert!(err.to_string().contains("belongs to uid"), "{err}");
        // not a folder
        let file = tmp.path().join("file");
        std::fs::write(&file, b"").unwrap();
        assert!(super::own_folder(file, uid).is_err());
    }
}
