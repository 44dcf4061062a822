//! The local Docker engine, through the `docker` command (`$FRISCY_DOCKER`,
//! else `docker` on the PATH, with the user's DOCKER_HOST and context):
//! images are read with `docker save` and written with `docker load`.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::source::{SourceError, SourceImage};

/// Global flags for every `docker` command run (the ones the user gave
/// `docker` before `friscy`: --host, --context, --config, TLS).
static ENGINE_ARGS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// Sets the global flags passed to `docker` (once, at start-up).
pub fn set_engine_args(args: Vec<String>) {
    let _ = ENGINE_ARGS.set(args);
}

/// The `docker` command to run.
pub fn docker() -> Command {
    let bin = std::env::var_os("FRISCY_DOCKER").unwrap_or_else(|| "docker".into());
    let mut c = Command::new(bin);
    if let Some(args) = ENGINE_ARGS.get() {
        c.args(args);
    }
    c
}

/// Removes an image name from the engine (the image goes with its last
/// name).
pub fn remove(reference: &str) {
    let _ = docker()
        .args(["image", "rm", "--", reference])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Where images saved from the engine are kept, by image ID.
fn cache_dir() -> Result<PathBuf, SourceError> {
    crate::cache_dir()
        .map(|d| d.join("engine"))
        .map_err(|e| engine_error(e.to_string()))
}

/// The engine's image ID for `reference`, if it has the image.
pub fn image_id(reference: &str) -> Option<String> {
    let out = docker()
        .args(["image", "inspect", "--format", "{{.Id}}", "--", reference])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let id = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    id.starts_with("sha256:").then_some(id)
}

/// Whether the engine has `reference`.
pub fn engine_has(reference: &str) -> bool {
    image_id(reference).is_some()
}

fn engine_error(what: String) -> SourceError {
    SourceError::Engine(what)
}

/// Runs a `docker` command, turning a failure into an error with its
/// stderr.
fn run(cmd: &mut Command, what: &str) -> Result<(), SourceError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| engine_error(format!("cannot run docker for {what}: {e}")))?;
    if !out.status.success() {
        return Err(engine_error(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Reads image `reference` of the engine (saved once per image ID).
pub fn open_daemon(reference: &str, written: &str) -> Result<SourceImage, SourceError> {
    let id = image_id(reference).ok_or_else(|| {
        engine_error(format!(
            "the engine has no image {reference} (`docker images` lists what it has; \
             is DOCKER_HOST right?)"
        ))
    })?;
    let dir = cache_dir()?;
    fs::create_dir_all(&dir).map_err(|source| SourceError::Io {
        path: dir.clone(),
        source,
    })?;
    let hex = crate::source::digest::sha256_hex(&id, "the engine's image ID")?;
    let file = dir.join(format!("{hex}.tar"));
    if file.exists() {
        // a saved copy is used only if it is still the image the engine
        // names: its config is the image ID (whose layers the config's
        // diff ids pin, checked as they are read)
        match crate::source::open_docker_archive_file(&file, written) {
            Ok(mut img) if img.config_digest.as_deref() == Some(id.as_str()) => {
                img.reference = written.to_owned();
                return Ok(img);
            }
            _ => {
                let _ = fs::remove_file(&file);
            }
        }
    }
    {
        let tmp = dir.join(format!(".save-{}.tar", std::process::id()));
        let saved = run(
            docker()
                .arg("save")
                .arg("-o")
                .arg(&tmp)
                .arg("--")
                .arg(reference),
            &format!("docker save {reference}"),
        );
        if let Err(e) = saved {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &file).map_err(|source| SourceError::Io {
            path: file.clone(),
            source,
        })?;
    }
    let mut img = crate::source::open_docker_archive_file(&file, written)?;
    img.reference = written.to_owned();
    Ok(img)
}

/// Writes a `docker load` archive of an image whose blobs are under
/// `blobs` (by hex digest) and loads it as `tag`.
pub fn load(
    blobs: &Path,
    config_digest: &str,
    layer_digests: &[String],
    tag: &str,
) -> Result<(), SourceError> {
    let dir = cache_dir()?;
    fs::create_dir_all(&dir).map_err(|source| SourceError::Io {
        path: dir.clone(),
        source,
    })?;
    let archive = dir.join(format!(".load-{}.tar", std::process::id()));
    let written = write_archive(&archive, blobs, config_digest, layer_digests, tag);
    let result = written
        .map_err(|source| SourceError::Io {
            path: archive.clone(),
            source,
        })
        .and_then(|_| {
            run(
                docker().arg("load").arg("-i").arg(&archive),
                &format!("docker load of {tag}"),
            )
        });
    let _ = fs::remove_file(&archive);
    result
}

fn write_archive(
    archive: &Path,
    blobs: &Path,
    config_digest: &str,
    layer_digests: &[String],
    tag: &str,
) -> io::Result<()> {
    let member = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    let manifest = serde_json::json!([{
        "Config": member(config_digest),
        "RepoTags": if tag.is_empty() { vec![] } else { vec![tag] },
        "Layers": layer_digests.iter().map(|d| member(d)).collect::<Vec<_>>(),
    }]);
    let mut tar = tar::Builder::new(BufWriter::new(File::create(archive)?));
    let mut add = |name: &str, path: &Path| -> io::Result<()> {
        let mut f = File::open(path)?;
        tar.append_file(name, &mut f)
    };
    let mut names = vec![config_digest.to_owned()];
    names.extend(layer_digests.iter().cloned());
    names.sort();
    names.dedup();
    for d in &names {
        add(&member(d), &blobs.join(d.trim_start_matches("sha256:")))?;
    }
    let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "manifest.json", &bytes[..])?;
    tar.into_inner()?.flush()
}
