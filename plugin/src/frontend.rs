//! `friscy frontend push REF`: publishes the BuildKit frontend
//! (`buildkit-frontend/`) as a one-layer image holding only its static
//! binary, for the platform this machine is, so that a Dockerfile starting
//! `# syntax=REF` builds a friscy image.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use friscy_converter::media::{OCI_IMAGE_CONFIG, OCI_IMAGE_MANIFEST, OCI_LAYER_TAR_GZIP};
use friscy_converter::registry::{Client, RegistryRef};
use friscy_converter::{host_architecture, sha256_of};
use serde_json::json;

/// Where the binary goes in the image (the frontend's step runs it there).
const BINARY_IN_IMAGE: &str = "friscy-frontend";
/// The ELF program header type of the interpreter (dynamic linking).
const PT_INTERP: u32 = 3;

/// Where the static frontend binary is: `--binary`, `$FRISCY_FRONTEND`, or
/// where `scripts/build-frontend` puts it beside this program's build.
fn find_binary(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_owned());
    }
    if let Some(p) = std::env::var_os("FRISCY_FRONTEND") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("where is this program")?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let candidates = [
        dir.join(BINARY_IN_IMAGE),
        dir.join("..")
            .join(&triple)
            .join("frontend")
            .join(BINARY_IN_IMAGE),
    ];
    candidates
        .iter()
        .find(|p| is_static(p).unwrap_or(false))
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no static friscy-frontend binary found (looked at {}): build it with \
                 scripts/build-frontend, or give one with --binary",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// ELF `e_machine` values of the platforms a frontend may run on.
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const EM_RISCV: u16 = 243;

/// The `e_machine` of programs for this machine.
fn host_machine() -> Option<u16> {
    match std::env::consts::ARCH {
        "x86_64" => Some(EM_X86_64),
        "aarch64" => Some(EM_AARCH64),
        "riscv64" => Some(EM_RISCV),
        _ => None,
    }
}

/// Whether `path` is a 64-bit little-endian ELF program for this machine
/// with no program interpreter (statically linked).
fn is_static(path: &Path) -> Result<bool> {
    let b = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(static_elf(&b, host_machine()))
}

fn static_elf(b: &[u8], machine: Option<u16>) -> bool {
    let at = |o: usize, n: usize| o.checked_add(n).and_then(|end| b.get(o..end));
    let u16_at = |o: usize| at(o, 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32_at = |o: usize| at(o, 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    let u64_at = |o: usize| {
        at(o, 8)
            .and_then(|s| s.try_into().ok())
            .map(u64::from_le_bytes)
    };
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return false;
    }
    if machine.is_some() && u16_at(18) != machine {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(32), u16_at(54), u16_at(56)) else {
        return false;
    };
    for i in 0..u64::from(phnum) {
        let kind = i
            .checked_mul(u64::from(phentsize))
            .and_then(|o| o.checked_add(phoff))
            .and_then(|o| usize::try_from(o).ok())
            .and_then(u32_at);
        match kind {
            None => return false,
            Some(PT_INTERP) => return false,
            Some(_) => {}
        }
    }
    true
}

/// The image's one layer: the binary at `/friscy-frontend`, gzipped;
/// returns (blob, diff id).
fn layer(binary: &[u8]) -> Result<(Vec<u8>, String)> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o755);
    h.set_size(binary.len() as u64);
    h.set_mtime(0);
    tar.append_data(&mut h, BINARY_IN_IMAGE, binary)?;
    let tar = tar.into_inner()?;
    let diff_id = sha256_of(&tar);
    let mut z = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    z.write_all(&tar)?;
    Ok((z.finish()?, diff_id))
}

/// `friscy frontend push REF [--binary FILE]`.
pub fn push(reference: &str, binary: Option<&Path>) -> Result<ExitCode> {
    let target = RegistryRef::parse(reference.strip_prefix("docker://").unwrap_or(reference))?;
    let path = find_binary(binary)?;
    if !is_static(&path)? {
        bail!(
            "{} is not a statically linked {} ELF program (BuildKit runs it in an empty \
             image): build it with scripts/build-frontend",
            path.display(),
            std::env::consts::ARCH
        );
    }
    let bin = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let (blob, diff_id) = layer(&bin)?;
    let config = serde_json::to_vec(&json!({
        "architecture": host_architecture(),
        "os": "linux",
        "config": {
            "Entrypoint": [format!("/{BINARY_IN_IMAGE}")],
            "Env": ["PATH=/"],
            "Labels": {
                // BuildKit starts a frontend without a network when its
                // image says it needs none
                "moby.buildkit.frontend.network.none": "true",
                "dev.friscy.frontend": env!("CARGO_PKG_VERSION"),
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "friscy frontend push"}],
    }))?;
    let (config_digest, blob_digest) = (sha256_of(&config), sha256_of(&blob));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MANIFEST,
        "config": {"mediaType": OCI_IMAGE_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": OCI_LAYER_TAR_GZIP, "digest": blob_digest, "size": blob.len()}],
    }))?;
    let client = Client::new(&target, true);
    for (digest, bytes) in [(&blob_digest, &blob), (&config_digest, &config)] {
        if !client.has_blob(digest)? {
            client.put_blob(digest, bytes.len() as u64, Box::new(&bytes[..]))?;
        }
    }
    let tag = target.tag.clone().unwrap_or_else(|| "latest".into());
    let digest = client.put_manifest(&tag, OCI_IMAGE_MANIFEST, &manifest)?;
    crate::outln!(
        "pushed the friscy frontend ({}, {:.1} MB) as {}/{}:{tag} ({digest})",
        host_architecture(),
        blob.len() as f64 / 1e6,
        target.registry,
        target.repository
    );
    crate::outln!(
        "use it from a Dockerfile's first line: # syntax={}/{}:{tag}",
        target.registry,
        target.repository
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_programs_are_told_from_dynamic_ones() {
        // this test binary is dynamically linked (Rust's default on gnu)
        let me = std::env::current_exe().unwrap();
        assert!(!is_static(&me).unwrap());
        let dir = std::env::temp_dir().join(format!("friscy-static-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk");
        std::fs::write(&junk, b"#!/bin/sh\n").unwrap();
        assert!(!is_static(&junk).unwrap());
        // a hostile header: program headers far past the end
        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        elf[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        elf[54..56].copy_from_slice(&56u16.to_le_bytes());
        elf[56..58].copy_from_slice(&3u16.to_le_bytes());
        assert!(!static_elf(&elf, Some(EM_X86_64)));
        // no program headers: static; another machine's: not ours
        elf[56..58].copy_from_slice(&0u16.to_le_bytes());
        assert!(static_elf(&elf, Some(EM_X86_64)));
        assert!(!static_elf(&elf, Some(EM_AARCH64)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
