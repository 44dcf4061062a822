//! Writing friscy images (`docs/image-format.md`): each source layer becomes
//! a friscy layer ([`friscy_vfs::image::write_layer`]), the config keeps the
//! source's settings and says where each layer's index is, and the result
//! is stored in an OCI image layout — blobs first, `index.json` last and
//! atomically, so a failed conversion leaves no tag behind.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use friscy_vfs::LayerError;
use friscy_vfs::image::{self as fmt, ImageError, LayerOutput, Seen};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::source::digest::sha256_of;
use crate::source::media::{
    OCI_IMAGE_CONFIG, OCI_IMAGE_INDEX, OCI_IMAGE_MANIFEST, OCI_LAYER_TAR_GZIP,
};
use crate::source::{SourceError, SourceImage};

/// Label: the friscy image format version.
pub const LABEL_FORMAT: &str = "dev.friscy.format";
/// Label: where each layer's index is (JSON, see [`LayerInfo`]).
pub const LABEL_LAYERS: &str = "dev.friscy.layers";
/// Label: the digest of the source image's config.
pub const LABEL_SOURCE: &str = "dev.friscy.source";
/// Label: where the wasm runtime is in the image (see [`RuntimeLabel`]).
pub const LABEL_RUNTIME: &str = "dev.friscy.runtime";
/// The version of the contract between the page (`main.js`) and the
/// runtime files an image carries (`friscy_web.wasm`, `worker.js`): a page
/// uses an image's runtime only when their protocols agree (else its own).
/// Change it with `RUNTIME_PROTOCOL` in `runtime/web/page/main.js`.
pub const RUNTIME_PROTOCOL: u32 = 1;

/// What conversion writes besides the layers' files.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options<'a> {
    /// Translate the riscv64 ELF files and store their modules.
    pub aot: bool,
    /// The wasm runtime's files (name, bytes), stored as a last layer of
    /// their own.
    pub runtime: Option<&'a [(String, Vec<u8>)]>,
}

/// The [`LABEL_RUNTIME`] label's value: the runtime layer (its number
/// among the image's layers, from 0), the page protocol, the friscy
/// version that made it, and where each file's gzip member is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeLabel {
    pub layer: usize,
    pub protocol: u32,
    pub friscy: String,
    pub files: Vec<RuntimeFileLabel>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeFileLabel {
    pub name: String,
    pub offset: u64,
    pub length: u64,
    pub size: u64,
    pub digest: String,
}
/// The manifest's `artifactType`.
pub const ARTIFACT_TYPE: &str = "application/vnd.friscy.image.v1";
/// Layer annotation: `OFFSET,LENGTH` of the layer's index member.
pub const ANNOTATION_INDEX: &str = "dev.friscy.index";
/// The OCI annotation that names a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("layer {layer} ({digest}): {source}")]
    Layer {
        layer: usize,
        digest: String,
        source: ImageError,
    },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Invalid(String),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ConvertError + '_ {
    move |source| ConvertError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Where one friscy layer's index is, as the config records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// The layer blob this was written for.
    pub digest: String,
    /// Offset and length of the index's gzip member in that blob.
    pub index: [u64; 2],
    /// The digest of that member: the config (which the manifest pins)
    /// pins the index, and the index every chunk. Empty for a layer the
    /// BuildKit frontend wrote (read whole, checked by its diff id).
    #[serde(default)]
    pub index_digest: String,
}

impl LayerInfo {
    /// Where the index of the layer `o` wrote is.
    pub fn of(o: &LayerOutput) -> LayerInfo {
        LayerInfo {
            digest: o.digest.clone(),
            index: [o.index_offset, o.index_len],
            index_digest: o.index_digest.clone(),
        }
    }
}

/// What a conversion made.
#[derive(Clone, Debug, Default)]
pub struct Converted {
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layers: Vec<LayerOutput>,
}

impl Converted {
    /// Total blob bytes (config and layers).
    pub fn stored_bytes(&self) -> u64 {
        self.config.len() as u64 + self.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

/// Progress of a conversion, for a terminal.
pub trait Progress {
    /// Layer `n` of `of` starts; its source blob is `size` bytes.
    fn layer(&mut self, n: usize, of: usize, size: u64);
    /// `bytes` more uncompressed file bytes were converted.
    fn bytes(&mut self, bytes: u64);
    /// Layer `n` is done.
    fn layer_done(&mut self, n: usize, out: &LayerOutput);
}

/// A [`Progress`] that says nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn layer(&mut self, _: usize, _: usize, _: u64) {}
    fn bytes(&mut self, _: u64) {}
    fn layer_done(&mut self, _: usize, _: &LayerOutput) {}
}

/// Whether `src` is a friscy image already.
pub fn is_friscy(src: &SourceImage) -> bool {
    src.labels.contains_key(LABEL_FORMAT)
}

/// The friscy layout of a friscy image: where each layer's index is. Fails
/// for an image of another format version.
pub fn layer_infos(src: &SourceImage) -> Result<Vec<LayerInfo>, ConvertError> {
    let version = src.labels.get(LABEL_FORMAT).map(String::as_str);
    let known = fmt::FORMAT_VERSIONS.map(|v| v.to_string());
    if !version.is_some_and(|v| known.iter().any(|k| k == v)) {
        return Err(ConvertError::Invalid(format!(
            "{} is friscy image format {}; this friscy reads formats {} \
             (convert its source image again with this friscy)",
            src.reference,
            version.unwrap_or("?"),
            known.join(" and ")
        )));
    }
    let raw = src
        .labels
        .get(LABEL_LAYERS)
        .map(String::as_str)
        .unwrap_or("");
    let infos: Vec<LayerInfo> = serde_json::from_str(raw).map_err(|e| {
        ConvertError::Invalid(format!("{}: label {LABEL_LAYERS}: {e}", src.reference))
    })?;
    if infos.len() != src.layers.len() {
        return Err(ConvertError::Invalid(format!(
            "{}: {} layers but {} layer indexes",
            src.reference,
            src.layers.len(),
            infos.len()
        )));
    }
    Ok(infos)
}

/// Converts `src` (linux/riscv64, already checked) into friscy layers
/// written under `blobs` (an OCI layout's `blobs/sha256`), and makes the
/// config and manifest (also written there). With `options.aot`, each
/// layer also stores the modules of translated code of its riscv64 ELF
/// files; with `options.runtime`, a last layer holds the wasm runtime.
pub fn convert(
    src: &SourceImage,
    blobs: &Path,
    options: Options,
    progress: &mut dyn Progress,
) -> Result<Converted, ConvertError> {
    let aot = options.aot;
    if src.rootfs.is_some() {
        return Err(ConvertError::Invalid(format!(
            "{}: a dir: tree has no layers to convert (make it an image first)",
            src.reference
        )));
    }
    if is_friscy(src) {
        return Err(ConvertError::Invalid(format!(
            "{} is a friscy image already",
            src.reference
        )));
    }
    fs::create_dir_all(blobs).map_err(io_at(blobs))?;
    let mut seen = Seen::new();
    let mut outs = Vec::new();
    for (i, layer) in src.layers.iter().enumerate() {
        progress.layer(i + 1, src.layers.len(), layer.size);
        let mut input = layer.open()?;
        let tmp = blobs.join(format!(".friscy-layer-{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(io_at(&tmp))?;
        let mut out = BufWriter::new(file);
        let mut translator = crate::aot::Aot;
        let written = fmt::write_translated_layer(
            &mut input,
            &mut out,
            &mut seen,
            aot.then_some(&mut translator as &mut dyn fmt::Translator),
            &mut |n| progress.bytes(n),
        );
        let result = written.and_then(|o| {
            // the rest of the source stream: its digest is checked at EOF
            io::copy(&mut input, &mut io::sink())?;
            out.flush()?;
            Ok(o)
        });
        let o = match result {
            Ok(o) => o,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(layer_error(i + 1, layer, e));
            }
        };
        let dst = blobs.join(o.digest.trim_start_matches("sha256:"));
        fs::rename(&tmp, &dst).map_err(io_at(&dst))?;
        progress.layer_done(i + 1, &o);
        outs.push(o);
    }
    let mut runtime = None;
    if let Some(files) = options.runtime {
        let tmp = blobs.join(format!(".friscy-runtime-{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(io_at(&tmp))?;
        let mut out = BufWriter::new(file);
        let named: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect();
        let (o, placed) = fmt::write_runtime_layer(&named, &mut out)
            .and_then(|r| out.flush().map(|()| r).map_err(ImageError::Io))
            .inspect_err(|_| {
                let _ = fs::remove_file(&tmp);
            })
            .map_err(|e| ConvertError::Invalid(format!("the runtime layer: {e}")))?;
        let dst = blobs.join(o.digest.trim_start_matches("sha256:"));
        fs::rename(&tmp, &dst).map_err(io_at(&dst))?;
        runtime = Some(RuntimeLabel {
            layer: outs.len(),
            protocol: RUNTIME_PROTOCOL,
            friscy: env!("CARGO_PKG_VERSION").to_owned(),
            files: placed
                .into_iter()
                .map(|f| RuntimeFileLabel {
                    name: f.name,
                    offset: f.offset,
                    length: f.length,
                    size: f.size,
                    digest: f.digest,
                })
                .collect(),
        });
        outs.push(o);
    }
    let config = make_config(src, &outs, runtime.as_ref())?;
    let source = src.config_digest.clone().unwrap_or_default();
    seal(blobs, &source, config, outs)
}

/// Writes the config and the manifest of friscy layers `outs` (made from
/// the source image whose config digest is `source`) under `blobs`.
fn seal(
    blobs: &Path,
    source: &str,
    config: Vec<u8>,
    outs: Vec<LayerOutput>,
) -> Result<Converted, ConvertError> {
    let config_digest = sha256_of(&config);
    write_blob(blobs, &config_digest, &config)?;
    let manifest = make_manifest(source, &config, &config_digest, &outs);
    let manifest_digest = sha256_of(&manifest);
    write_blob(blobs, &manifest_digest, &manifest)?;
    Ok(Converted {
        manifest,
        manifest_digest,
        config,
        config_digest,
        layers: outs,
    })
}

/// A failed layer: a bad source blob (digest, decompression) is the
/// source's error; anything else names the layer.
fn layer_error(n: usize, layer: &crate::source::Layer, e: ImageError) -> ConvertError {
    let io = match e {
        ImageError::Io(io) | ImageError::Layer(LayerError::Io(io)) => io,
        other => {
            return ConvertError::Layer {
                layer: n,
                digest: layer.digest.clone(),
                source: other,
            };
        }
    };
    match SourceError::from_io(io, layer.location_description()) {
        SourceError::Io { source, .. } => ConvertError::Layer {
            layer: n,
            digest: layer.digest.clone(),
            source: ImageError::Io(source),
        },
        other => ConvertError::Source(other),
    }
}

/// The friscy config: the source's, with the friscy layers' diff ids, one
/// history entry per layer and the friscy labels.
fn make_config(
    src: &SourceImage,
    outs: &[LayerOutput],
    runtime: Option<&RuntimeLabel>,
) -> Result<Vec<u8>, ConvertError> {
    let source = src.config_digest.clone().unwrap_or_default();
    let history: Vec<String> = (1..=outs.len())
        .map(|n| match runtime {
            Some(r) if r.layer + 1 == n => {
                format!("friscy convert: the wasm runtime of friscy {}", r.friscy)
            }
            _ => format!("friscy convert: layer {n} of {source}"),
        })
        .collect();
    let infos: Vec<LayerInfo> = outs.iter().map(LayerInfo::of).collect();
    let diff_ids: Vec<String> = outs.iter().map(|o| o.diff_id.clone()).collect();
    let mut config = friscy_config(
        &src.config_json,
        &src.reference,
        &source,
        &diff_ids,
        &history,
        &infos,
    )?;
    if let Some(r) = runtime {
        let mut cfg: Value = serde_json::from_slice(&config).unwrap_or_default();
        cfg["config"]["Labels"][LABEL_RUNTIME] =
            serde_json::to_string(r).unwrap_or_default().into();
        config = serde_json::to_vec(&cfg).unwrap_or_default();
    }
    Ok(config)
}

/// The config of a friscy image built by the BuildKit frontend from the
/// Dockerfile result's config `source`: one layer, which BuildKit writes
/// (so its diff id is BuildKit's to fill in, and its layer info has no
/// blob digest: readers read it whole, `friscy push` makes it lazy).
pub fn frontend_config(source: &[u8]) -> Result<Vec<u8>, ConvertError> {
    let infos = [LayerInfo {
        digest: String::new(),
        index: [0, 0],
        index_digest: String::new(),
    }];
    let history = ["friscy frontend: the Dockerfile's result as one friscy layer".to_owned()];
    friscy_config(
        source,
        "the Dockerfile's result",
        &sha256_of(source),
        &[],
        &history,
        &infos,
    )
}

/// `config_json` (a source image's config) made a friscy image's: the
/// given diff ids, one history entry per layer (`created_by`), the friscy
/// labels.
fn friscy_config(
    config_json: &[u8],
    reference: &str,
    source: &str,
    diff_ids: &[String],
    history: &[String],
    infos: &[LayerInfo],
) -> Result<Vec<u8>, ConvertError> {
    let mut cfg: Value = serde_json::from_slice(config_json)
        .map_err(|e| ConvertError::Invalid(format!("{reference}: config: {e}")))?;
    let Some(obj) = cfg.as_object_mut() else {
        return Err(ConvertError::Invalid(format!(
            "{reference}: the config is not an object"
        )));
    };
    let created = obj.get("created").cloned().unwrap_or(Value::Null);
    obj.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    let history: Vec<Value> = history
        .iter()
        .map(|by| {
            let mut h = json!({ "created_by": by });
            if !created.is_null() {
                h["created"] = created.clone();
            }
            h
        })
        .collect();
    obj.insert("history".into(), Value::Array(history));
    let container = obj
        .entry("config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| ConvertError::Invalid(format!("{reference}: config.config")))?;
    let labels = container.entry("Labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    let labels = labels.as_object_mut().expect("an object");
    labels.insert(LABEL_FORMAT.into(), fmt::FORMAT_VERSION.to_string().into());
    labels.insert(
        LABEL_LAYERS.into(),
        serde_json::to_string(infos).unwrap_or_default().into(),
    );
    labels.insert(LABEL_SOURCE.into(), source.into());
    Ok(serde_json::to_vec(&cfg).unwrap_or_default())
}

fn make_manifest(
    source: &str,
    config: &[u8],
    config_digest: &str,
    outs: &[LayerOutput],
) -> Vec<u8> {
    let layers: Vec<Value> = outs
        .iter()
        .map(|o| {
            json!({
                "mediaType": OCI_LAYER_TAR_GZIP,
                "digest": o.digest,
                "size": o.size,
                "annotations": {ANNOTATION_INDEX: format!("{},{}", o.index_offset, o.index_len)},
            })
        })
        .collect();
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": OCI_IMAGE_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": layers,
        "annotations": {
            LABEL_FORMAT: fmt::FORMAT_VERSION.to_string(),
            LABEL_SOURCE: source,
        },
    });
    serde_json::to_vec(&m).unwrap_or_default()
}

/// Writes a blob by digest (`sha256:<hex>`) unless it is there.
pub fn write_blob(blobs: &Path, digest: &str, bytes: &[u8]) -> Result<(), ConvertError> {
    let path = blobs.join(digest.trim_start_matches("sha256:"));
    if path.exists() {
        return Ok(());
    }
    let tmp = blobs.join(format!(".friscy-blob-{}.tmp", std::process::id()));
    fs::write(&tmp, bytes).map_err(io_at(&tmp))?;
    fs::rename(&tmp, &path).map_err(io_at(&path))
}

/// Adds (or moves) tag `tag` in the OCI layout at `dir` to the manifest
/// `digest` of `size` bytes: `oci-layout` and `index.json` are written
/// atomically, other tags are kept.
pub fn tag_layout(dir: &Path, tag: &str, digest: &str, size: u64) -> Result<(), ConvertError> {
    let layout = dir.join("oci-layout");
    if !layout.exists() {
        atomic_write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    }
    let index_path = dir.join("index.json");
    let mut index: Value = match fs::read(&index_path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| ConvertError::Invalid(format!("{}: {e}", index_path.display())))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            json!({"schemaVersion": 2, "mediaType": OCI_IMAGE_INDEX, "manifests": []})
        }
        Err(e) => return Err(io_at(&index_path)(e)),
    };
    let manifests = index
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| ConvertError::Invalid(format!("{}: no manifests", index_path.display())))?;
    manifests.retain(|m| m["annotations"][REF_NAME].as_str() != Some(tag));
    manifests.push(json!({
        "mediaType": OCI_IMAGE_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "digest": digest,
        "size": size,
        "platform": {"architecture": "riscv64", "os": "linux"},
        "annotations": {REF_NAME: tag},
    }));
    atomic_write(
        &index_path,
        &serde_json::to_vec_pretty(&index).unwrap_or_default(),
    )
}

fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ConvertError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    fs::write(&tmp, bytes).map_err(io_at(&tmp))?;
    fs::rename(&tmp, path).map_err(io_at(path))
}

/// Converts `src` into the OCI layout `dir` under `tag`.
pub fn convert_to_layout(
    src: &SourceImage,
    dir: &Path,
    tag: &str,
    options: Options,
    progress: &mut dyn Progress,
) -> Result<Converted, ConvertError> {
    let blobs = dir.join("blobs").join("sha256");
    let c = convert(src, &blobs, options, progress)?;
    tag_layout(dir, tag, &c.manifest_digest, c.manifest.len() as u64)?;
    Ok(c)
}

/// Figures for `inspect`: entries, files and bytes of each layer's index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub entries: u64,
    pub files: u64,
    pub file_bytes: u64,
    pub chunks: u64,
    pub chunk_bytes: u64,
    /// Modules of translated code, their bytes, and the bytes of the ELF
    /// files they were made from.
    pub modules: u64,
    pub module_bytes: u64,
    pub module_elf_bytes: u64,
}

/// How one layer of a friscy image is read.
enum Access {
    /// Its friscy blob: one range read per chunk.
    Ranges(crate::source::Layer),
    /// A blob recompressed (or re-tarred) on the way: its tar, kept whole
    /// in friscy's cache, with where each chunk entry's bytes are in it
    /// (found by name, so any tar writer's layout works).
    Tar(PathBuf, std::collections::HashMap<fmt::Digest, (u64, u64)>),
}

/// The chunks of a friscy image, for [`friscy_vfs::Fs::apply_friscy_layers`].
pub struct ImageChunks(Vec<Access>);

impl fmt::ChunkSource for ImageChunks {
    fn chunk(&self, layer: usize, loc: &fmt::ChunkLoc) -> io::Result<Vec<u8>> {
        match self.0.get(layer) {
            Some(Access::Ranges(l)) => {
                let member = l
                    .read_range(loc.offset, loc.clen)
                    .map_err(|e| io::Error::other(e.to_string()))?;
                fmt::member_data(&member, loc.len as usize)
            }
            Some(Access::Tar(path, at)) => {
                use std::io::{Read, Seek, SeekFrom};
                let &(offset, len) = at
                    .get(&loc.digest)
                    .ok_or_else(|| io::Error::other("chunk entry missing from the layer"))?;
                if len != u64::from(loc.len) {
                    return Err(io::Error::other("chunk entry of the wrong size"));
                }
                let mut f = File::open(path)?;
                f.seek(SeekFrom::Start(offset))?;
                let mut out = vec![0u8; loc.len as usize];
                f.read_exact(&mut out)?;
                Ok(out)
            }
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn refused(&self, _layer: usize, _loc: &fmt::ChunkLoc, why: &str) {
        eprintln!("friscy: {why}");
    }
}

/// Where whole friscy layer tars are cached (by diff id).
fn tar_cache() -> Result<PathBuf, ConvertError> {
    crate::cache_dir()
        .map(|d| d.join("layers"))
        .map_err(|e| ConvertError::Invalid(e.to_string()))
}

/// Whether the file at `path` hashes to `digest` (a cached file is used
/// only if it is still what its name says).
fn file_has_digest(path: &Path, digest: &str) -> bool {
    use sha2::{Digest as _, Sha256};
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut hasher = Sha256::new();
    io::copy(&mut f, &mut hasher).is_ok()
        && format!("sha256:{}", fmt::Digest(hasher.finalize().into()).hex()) == digest
}

/// The diff ids a config lists.
fn diff_ids(src: &SourceImage) -> Vec<String> {
    serde_json::from_slice::<Value>(&src.config_json)
        .ok()
        .and_then(|v| {
            v["rootfs"]["diff_ids"].as_array().map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// A recompressed layer's tar, decompressed into the cache once (checked
/// against the diff id), and its index found in it.
fn whole_layer(
    n: usize,
    layer: &crate::source::Layer,
    diff_id: &str,
) -> Result<(fmt::Index, Access), ConvertError> {
    whole_layer_in(&tar_cache()?, n, layer, diff_id)
}

/// [`whole_layer`], caching in `dir`.
fn whole_layer_in(
    dir: &Path,
    n: usize,
    layer: &crate::source::Layer,
    diff_id: &str,
) -> Result<(fmt::Index, Access), ConvertError> {
    use sha2::{Digest as _, Sha256};
    let hex = diff_id
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| ConvertError::Invalid(format!("layer {n}: bad diff id {diff_id:?}")))?;
    fs::create_dir_all(dir).map_err(io_at(dir))?;
    let path = dir.join(format!("{hex}.tar"));
    if path.exists() && !file_has_digest(&path, diff_id) {
        let _ = fs::remove_file(&path);
    }
    if !path.exists() {
        let tmp = dir.join(format!(".{hex}-{}.tmp", std::process::id()));
        let mut input = layer.open()?;
        let mut out = BufWriter::new(File::create(&tmp).map_err(io_at(&tmp))?);
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let copied: io::Result<()> = (|| {
            loop {
                let k = io::Read::read(&mut input, &mut buf)?;
                if k == 0 {
                    break;
                }
                hasher.update(&buf[..k]);
                out.write_all(&buf[..k])?;
            }
            out.flush()
        })();
        if let Err(e) = copied {
            let _ = fs::remove_file(&tmp);
            return Err(layer_error(n, layer, ImageError::Io(e)));
        }
        let got = format!("sha256:{}", fmt::Digest(hasher.finalize().into()).hex());
        if got != diff_id {
            let _ = fs::remove_file(&tmp);
            return Err(ConvertError::Invalid(format!(
                "layer {n} ({}) unpacks to {got}, not {diff_id}",
                layer.digest
            )));
        }
        fs::rename(&tmp, &path).map_err(io_at(&path))?;
    }
    let file = File::open(&path).map_err(io_at(&path))?;
    let mut archive = tar::Archive::new(io::BufReader::new(file));
    let entries = archive.entries().map_err(io_at(&path))?;
    let mut chunks = std::collections::HashMap::new();
    let mut index = None;
    for e in entries {
        let mut e = e.map_err(io_at(&path))?;
        let name = e.path_bytes().into_owned();
        let name = name.strip_prefix(b"./").unwrap_or(&name);
        if let Some(hex) = name.strip_prefix(fmt::CHUNK_DIR.as_bytes())
            && hex.len() == 64
            && let Some(d) = parse_hex(hex)
        {
            chunks.insert(d, (e.raw_file_position(), e.size()));
            continue;
        }
        let is_index = name == fmt::INDEX_PATH.as_bytes();
        if is_index {
            if e.size() > fmt::MAX_INDEX_SIZE as u64 {
                return Err(ConvertError::Invalid(format!("layer {n}: index too large")));
            }
            let mut data = Vec::new();
            io::Read::read_to_end(&mut e, &mut data).map_err(io_at(&path))?;
            let ix = fmt::Index::decode(&data).map_err(|source| ConvertError::Layer {
                layer: n,
                digest: layer.digest.clone(),
                source,
            })?;
            index = Some(ix);
        }
    }
    match index {
        Some(ix) => Ok((ix, Access::Tar(path, chunks))),
        None => Err(ConvertError::Invalid(format!(
            "layer {n} ({}) has no {}: not a friscy layer",
            layer.digest,
            fmt::INDEX_PATH
        ))),
    }
}

/// A sha256 from 64 lower-case hex digits.
fn parse_hex(hex: &[u8]) -> Option<fmt::Digest> {
    let mut d = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let v = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        d[i] = v(pair[0])? << 4 | v(pair[1])?;
    }
    Some(fmt::Digest(d))
}

/// Reads each layer's index of a friscy image, and how to read its
/// chunks. A layer whose blob is not the one the config describes (a plain
/// `docker push` recompresses them) is read whole once, with `notice`
/// told why.
pub fn open_friscy(
    src: &SourceImage,
    notice: &mut dyn FnMut(&str),
) -> Result<(Vec<fmt::Index>, ImageChunks), ConvertError> {
    let infos = layer_infos(src)?;
    let ids = diff_ids(src);
    let mut indexes = Vec::new();
    let mut access = Vec::new();
    for (n, (layer, info)) in src.layers.iter().zip(&infos).enumerate() {
        let why = if info.digest.is_empty() {
            Some(format!(
                "layer {} was written by BuildKit (the friscy frontend): reading it whole; \
                 `friscy push` makes the image lazily readable",
                n + 1
            ))
        } else if layer.digest != info.digest {
            Some(format!(
                "layer {} is {}, not the friscy blob {} (a plain `docker push` recompresses \
                 layers): reading it whole; `friscy push` keeps friscy images lazy",
                n + 1,
                layer.digest,
                info.digest
            ))
        } else {
            None
        };
        if let Some(why) = why {
            notice(&why);
            let id = ids.get(n).map(String::as_str).unwrap_or_default();
            let (ix, tar) = whole_layer(n + 1, layer, id)?;
            indexes.push(ix);
            access.push(tar);
            continue;
        }
        if info.index[1] > fmt::MAX_INDEX_MEMBER {
            return Err(ConvertError::Invalid(format!(
                "layer {}: its index is said to take {} bytes, more than an index can",
                n + 1,
                info.index[1]
            )));
        }
        let member = layer.read_range(info.index[0], info.index[1])?;
        let ix = fmt::read_pinned_index(&member, &info.index_digest).map_err(|source| {
            ConvertError::Layer {
                layer: n + 1,
                digest: layer.digest.clone(),
                source,
            }
        })?;
        indexes.push(ix);
        access.push(Access::Ranges(layer.clone()));
    }
    Ok((indexes, ImageChunks(access)))
}

/// Reads each layer's index of a friscy image.
pub fn read_indexes(src: &SourceImage) -> Result<Vec<fmt::Index>, ConvertError> {
    open_friscy(src, &mut |_| {}).map(|(ix, _)| ix)
}

/// Counts of an index.
pub fn index_stats(ix: &fmt::Index) -> IndexStats {
    // the chunks of files (those of modules are counted with the modules)
    let of_modules: std::collections::HashSet<&fmt::Digest> =
        ix.modules.iter().flat_map(|m| &m.chunks).collect();
    let files = || ix.chunks.iter().filter(|c| !of_modules.contains(&c.digest));
    let mut s = IndexStats {
        entries: ix.entries.len() as u64,
        chunks: files().count() as u64,
        chunk_bytes: files().map(|c| u64::from(c.len)).sum(),
        ..IndexStats::default()
    };
    for e in &ix.entries {
        if let fmt::Kind::File { size, .. } = e.kind {
            s.files += 1;
            s.file_bytes += size;
        }
    }
    for m in &ix.modules {
        s.modules += 1;
        s.module_bytes += m.size;
        s.module_elf_bytes += m.elf_size;
    }
    s
}

/// What a push did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    pub manifest_digest: String,
    /// Blobs uploaded, and blobs the registry had already.
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    pub skipped: usize,
}

/// Pushes a converted image whose blobs are in `blobs` to `target`
/// (blobs the repository has are not sent again); `say` hears each blob.
pub fn push(
    blobs: &Path,
    c: &Converted,
    target: &crate::registry::RegistryRef,
    say: &mut dyn FnMut(&str),
) -> Result<Pushed, ConvertError> {
    let client = crate::registry::Client::new(target, true);
    let reg = |e: crate::registry::RegistryError| {
        ConvertError::Source(SourceError::Registry(Box::new(e)))
    };
    let mut done = Pushed::default();
    let mut list: Vec<(String, u64)> = c
        .layers
        .iter()
        .map(|l| (l.digest.clone(), l.size))
        .collect();
    list.push((c.config_digest.clone(), c.config.len() as u64));
    for (digest, size) in list {
        if client.has_blob(&digest).map_err(reg)? {
            done.skipped += 1;
            say(&format!("{digest}: already there"));
            continue;
        }
        let path = blobs.join(digest.trim_start_matches("sha256:"));
        let file = File::open(&path).map_err(io_at(&path))?;
        say(&format!("{digest}: uploading {size} bytes"));
        client
            .put_blob(&digest, size, Box::new(io::BufReader::new(file)))
            .map_err(reg)?;
        done.uploaded += 1;
        done.uploaded_bytes += size;
    }
    let reference = target
        .tag
        .clone()
        .unwrap_or_else(|| c.manifest_digest.clone());
    done.manifest_digest = client
        .put_manifest(&reference, OCI_IMAGE_MANIFEST, &c.manifest)
        .map_err(reg)?;
    Ok(done)
}

/// Rebuilds the exact friscy blobs of a friscy image whose layers went
/// through an engine (uncompressed, or compressed some other way) into
/// `blobs`, checking them against the digests its config records. A layer
/// the BuildKit frontend made (no blob digest recorded: BuildKit wrote its
/// tar) is written afresh from its index and chunks, and the config then
/// records the new blobs, so the image is lazily readable again.
pub fn rebuild(src: &SourceImage, blobs: &Path) -> Result<Converted, ConvertError> {
    use fmt::ChunkSource as _;
    let infos = layer_infos(src)?;
    let ids = diff_ids(src);
    fs::create_dir_all(blobs).map_err(io_at(blobs))?;
    let mut outs = Vec::new();
    let mut rewritten = false;
    for (n, (layer, info)) in src.layers.iter().zip(&infos).enumerate() {
        let id = ids.get(n).cloned().unwrap_or_default();
        // a frontend-built layer: its tar, whole, first
        let whole = if info.digest.is_empty() {
            Some(whole_layer(n + 1, layer, &id)?)
        } else {
            None
        };
        let tmp = blobs.join(format!(".friscy-rebuild-{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(io_at(&tmp))?;
        let mut out = BufWriter::new(file);
        let o = if let Some((index, access)) = whole {
            let chunks = ImageChunks(vec![access]);
            rewritten = true;
            fmt::rewrite_layer(&index, &mut |loc| chunks.chunk(0, loc), &mut out)
                .and_then(|o| out.flush().map(|_| o).map_err(ImageError::Io))
                .map_err(|e| {
                    let _ = fs::remove_file(&tmp);
                    layer_error(n + 1, layer, e)
                })?
        } else {
            let mut input = layer.open()?;
            let (digest, size) = fmt::recompress(&mut input, &mut out)
                .and_then(|r| out.flush().map(|_| r))
                .map_err(|e| layer_error(n + 1, layer, ImageError::Io(e)))?;
            if digest != info.digest {
                let _ = fs::remove_file(&tmp);
                return Err(ConvertError::Invalid(format!(
                    "layer {} rebuilds as {digest}, not {} as the config says: \
                     it is not the friscy layer it claims to be",
                    n + 1,
                    info.digest
                )));
            }
            LayerOutput {
                digest,
                size,
                diff_id: id,
                index_offset: info.index[0],
                index_len: info.index[1],
                index_digest: info.index_digest.clone(),
                ..LayerOutput::default()
            }
        };
        let dst = blobs.join(o.digest.trim_start_matches("sha256:"));
        fs::rename(&tmp, &dst).map_err(io_at(&dst))?;
        outs.push(o);
    }
    let source = src.labels.get(LABEL_SOURCE).cloned().unwrap_or_default();
    let config = if rewritten {
        relabel(src, &outs)?
    } else {
        src.config_json.clone()
    };
    seal(blobs, &source, config, outs)
}

/// `src`'s config recording the layers `outs`: their diff ids and where
/// their indexes are.
fn relabel(src: &SourceImage, outs: &[LayerOutput]) -> Result<Vec<u8>, ConvertError> {
    let mut cfg: Value = serde_json::from_slice(&src.config_json)
        .map_err(|e| ConvertError::Invalid(format!("{}: config: {e}", src.reference)))?;
    let infos: Vec<LayerInfo> = outs.iter().map(LayerInfo::of).collect();
    cfg["rootfs"] = json!({
        "type": "layers",
        "diff_ids": outs.iter().map(|o| o.diff_id.clone()).collect::<Vec<_>>(),
    });
    let labels = cfg
        .pointer_mut("/config/Labels")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ConvertError::Invalid(format!("{}: no labels", src.reference)))?;
    labels.insert(
        LABEL_LAYERS.into(),
        serde_json::to_string(&infos).unwrap_or_default().into(),
    );
    Ok(serde_json::to_vec(&cfg).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::ImageRef;
    use crate::source::testutil::{OciLayout, TempDir, config_json, named};

    /// A one-layer riscv64 image converted into a friscy image in `dir`.
    fn friscy_image(dir: &Path) -> SourceImage {
        friscy_image_with(dir, None, b"hello\n")
    }

    /// [`friscy_image`] with these runtime files and this `etc/motd`.
    fn friscy_image_with(
        dir: &Path,
        runtime: Option<&[(String, Vec<u8>)]>,
        motd: &[u8],
    ) -> SourceImage {
        let src = OciLayout::new(dir.join("src"));
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [("etc/motd", motd), ("bin/tool", b"\x7fELF tool")] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o755);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            b.append_data(&mut h, name, data).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let diff = sha256_of(&tar);
        let m = src.image(
            &config_json("riscv64", "/bin/tool", &[diff]),
            &[(crate::media::OCI_LAYER_TAR, tar)],
        );
        src.write_index(vec![named(m, "v1")]);
        let r: ImageRef = format!("oci:{}:v1", src.dir.display()).parse().unwrap();
        let source = crate::open_image(&r).unwrap();
        convert_to_layout(
            &source,
            &dir.join("out"),
            "v1",
            Options { aot: true, runtime },
            &mut Quiet,
        )
        .unwrap();
        let r: ImageRef = format!("oci:{}:v1", dir.join("out").display())
            .parse()
            .unwrap();
        crate::open_image(&r).unwrap()
    }

    /// A gzip member of `tar_bytes` exactly `len` bytes long (padded with
    /// a gzip comment), as a registry that substitutes bytes would make.
    fn member_of_len(tar_bytes: &[u8], len: usize) -> Vec<u8> {
        let gz = |comment: Option<Vec<u8>>| {
            let mut b = flate2::GzBuilder::new().mtime(0);
            if let Some(c) = comment {
                b = b.comment(c);
            }
            let mut enc = b.write(Vec::new(), flate2::Compression::best());
            enc.write_all(tar_bytes).unwrap();
            enc.finish().unwrap()
        };
        let short = gz(None).len();
        // FCOMMENT adds the comment and its NUL
        let pad = len - short - 1;
        let mut enc = flate2::GzBuilder::new()
            .mtime(0)
            .comment(vec![b'x'; pad])
            .write(Vec::new(), flate2::Compression::best());
        enc.write_all(tar_bytes).unwrap();
        let m = enc.finish().unwrap();
        assert_eq!(m.len(), len);
        m
    }

    #[test]
    fn an_index_substituted_in_the_blob_is_refused() {
        let dir = TempDir::new();
        let img = friscy_image(dir.path());
        let infos = layer_infos(&img).unwrap();
        let (indexes, _) = open_friscy(&img, &mut |_| {}).unwrap();
        // the same tree, with the tool made setuid root
        let mut evil = indexes[0].clone();
        for e in &mut evil.entries {
            if e.path == b"bin/tool" {
                e.mode = 0o4755;
            }
        }
        let mut tar = Vec::new();
        let mut h = tar::Header::new_ustar();
        h.set_path(fmt::INDEX_PATH).unwrap();
        let body = evil.encode();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        tar.extend_from_slice(&body);
        tar.resize(512 + body.len().next_multiple_of(512), 0);
        let [offset, len] = infos[0].index;
        let member = member_of_len(&tar, len as usize);
        assert_eq!(fmt::read_index(&member).unwrap(), evil);
        // the registry (here, the layout) serves the substituted bytes
        // under the layer's name
        let path = dir
            .path()
            .join("out/blobs/sha256")
            .join(infos[0].digest.trim_start_matches("sha256:"));
        let mut blob = std::fs::read(&path).unwrap();
        blob[offset as usize..(offset + len) as usize].copy_from_slice(&member);
        std::fs::write(&path, &blob).unwrap();
        let err = open_friscy(&img, &mut |_| {}).err().expect("refused");
        assert!(err.to_string().contains("not sha256:"), "{err}");
        assert!(err.to_string().contains(&infos[0].index_digest), "{err}");
    }

    /// A whole layer kept in the cache is used only while it hashes to its
    /// diff id: a cached file that changed is fetched again.
    #[test]
    fn a_cached_layer_is_used_only_while_it_is_what_its_name_says() {
        let dir = TempDir::new();
        let img = friscy_image(dir.path());
        let id = diff_ids(&img)[0].clone();
        let cache = dir.path().join("cache");
        let (want, _) = whole_layer_in(&cache, 1, &img.layers[0], &id).unwrap();
        let cached = cache.join(format!("{}.tar", id.trim_start_matches("sha256:")));
        assert!(cached.is_file());
        for junk in [&b"not a tar"[..], &[0u8; 1024][..]] {
            std::fs::write(&cached, junk).unwrap();
            let (got, _) = whole_layer_in(&cache, 1, &img.layers[0], &id).unwrap();
            assert_eq!(got, want);
            assert_eq!(sha256_of(&std::fs::read(&cached).unwrap()), id);
        }
    }

    #[test]
    fn configs_pin_every_index() {
        let dir = TempDir::new();
        let img = friscy_image(dir.path());
        let infos = layer_infos(&img).unwrap();
        assert!(
            crate::registry::is_digest(&infos[0].index_digest),
            "{infos:?}"
        );
        let l = &img.layers[0];
        let member = l.read_range(infos[0].index[0], infos[0].index[1]).unwrap();
        assert_eq!(sha256_of(&member), infos[0].index_digest);
    }

    #[test]
    fn the_runtime_layer_is_one_blob_for_every_image_and_pinned() {
        let files = vec![
            ("friscy_web.wasm".to_owned(), b"\0asm\x01\0\0\0".to_vec()),
            ("worker.js".to_owned(), b"// the worker\n".to_vec()),
        ];
        let (a, b) = (TempDir::new(), TempDir::new());
        let one = friscy_image_with(a.path(), Some(&files), b"hello\n");
        let two = friscy_image_with(b.path(), Some(&files), b"other\n");
        assert_eq!(one.layers.len(), 2);
        assert_ne!(one.layers[0].digest, two.layers[0].digest);
        assert_eq!(one.layers[1].digest, two.layers[1].digest, "shared");
        let label: RuntimeLabel = serde_json::from_str(&one.labels[LABEL_RUNTIME]).unwrap();
        assert_eq!((label.layer, label.protocol), (1, RUNTIME_PROTOCOL));
        assert_eq!(label.files.len(), 2);
        for (f, (name, bytes)) in label.files.iter().zip(&files) {
            assert_eq!(&f.name, name);
            let member = one.layers[1].read_range(f.offset, f.length).unwrap();
            let data = fmt::member_data(&member, f.size as usize).unwrap();
            assert_eq!(&data, bytes);
            assert_eq!(sha256_of(&data), f.digest);
        }
        // readers apply it as nothing
        let indexes = read_indexes(&one).unwrap();
        assert!(indexes[1].entries.is_empty() && indexes[1].chunks.is_empty());
        // no runtime, no label
        let c = TempDir::new();
        assert!(!friscy_image(c.path()).labels.contains_key(LABEL_RUNTIME));
    }

    #[test]
    fn the_page_speaks_the_runtime_protocol_images_name() {
        let main = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../runtime/web/page/main.js"
        ))
        .unwrap();
        let line = format!("const RUNTIME_PROTOCOL = {RUNTIME_PROTOCOL};");
        assert!(main.contains(&line), "main.js lacks {line:?}");
    }
}
