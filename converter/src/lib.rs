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

/// friscy's cache folder: `$XDG_CACHE_HOME/friscy`, else `~/.cache/friscy`
/// (the system temp folder when there is no home).
pub fn cache_dir() -> std::path::PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("friscy")
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
