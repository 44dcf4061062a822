//! `friscy convert` and `friscy inspect`, and reading friscy images for
//! `friscy run`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use friscy_converter::friscy::{self, Progress};
use friscy_converter::registry::RegistryRef;
use friscy_converter::{ImageRef, SourceImage, open_image};
use friscy_vfs::image::LayerOutput;

/// Where `convert` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// An OCI layout and tag.
    Oci { dir: PathBuf, tag: String },
    /// A registry (pushed).
    Registry(RegistryRef),
    /// The local engine (loaded, so that `docker push` publishes it).
    Daemon(String),
}

impl std::str::FromStr for Dest {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Dest> {
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((d, t)) if !t.contains('/') && !d.is_empty() => (d, t),
                _ => (rest, "latest"),
            };
            if dir.is_empty() {
                bail!("{s:?}: oci: needs a directory (oci:DIR[:TAG])");
            }
            return Ok(Dest::Oci {
                dir: PathBuf::from(dir),
                tag: tag.to_owned(),
            });
        }
        if let Some(rest) = s.strip_prefix("docker://") {
            return Ok(Dest::Registry(RegistryRef::parse(rest)?));
        }
        if let Some(rest) = s.strip_prefix("docker-daemon:") {
            let r = RegistryRef::parse(rest)?;
            let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
            return Ok(Dest::Daemon(
                format!("{}/{}:{tag}", r.registry, r.repository)
                    .trim_start_matches("docker.io/library/")
                    .to_owned(),
            ));
        }
        bail!("{s:?}: the destination must be oci:DIR[:TAG], docker://REF or docker-daemon:REF")
    }
}

/// Sends a converted image where `dest` says (not `Dest::Oci`).
fn deliver(blobs: &std::path::Path, c: &friscy::Converted, dest: &Dest) -> Result<String> {
    match dest {
        Dest::Oci { .. } => Ok(String::new()),
        Dest::Registry(target) => {
            let on = std::io::stderr().is_terminal();
            let p = friscy::push(blobs, c, target, &mut |line| {
                if on {
                    eprintln!("{line}");
                }
            })
            .with_context(|| format!("cannot push to {target}"))?;
            Ok(format!(
                "pushed {target} ({}): {} blobs uploaded ({}), {} already there",
                p.manifest_digest,
                p.uploaded,
                mb(p.uploaded_bytes),
                p.skipped
            ))
        }
        Dest::Daemon(tag) => {
            let layers: Vec<String> = c.layers.iter().map(|l| l.digest.clone()).collect();
            friscy_converter::daemon::load(blobs, &c.config_digest, &layers, tag)
                .with_context(|| format!("cannot load {tag} into the engine"))?;
            Ok(format!(
                "loaded into the engine as {tag} (`docker push {tag}` publishes it)"
            ))
        }
    }
}

/// Megabytes, for people.
fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Progress on a terminal (one line rewritten); nothing when piped.
struct Bar {
    on: bool,
    layer: usize,
    of: usize,
    done: u64,
    shown: Instant,
}

impl Bar {
    fn new() -> Bar {
        Bar {
            on: std::io::stderr().is_terminal(),
            layer: 0,
            of: 0,
            done: 0,
            shown: Instant::now(),
        }
    }

    fn show(&mut self) {
        if self.on {
            eprint!(
                "\r\x1b[Klayer {}/{}: {} converted",
                self.layer,
                self.of,
                mb(self.done)
            );
            let _ = std::io::stderr().flush();
        }
    }
}

impl Progress for Bar {
    fn layer(&mut self, n: usize, of: usize, _size: u64) {
        (self.layer, self.of, self.done) = (n, of, 0);
        self.show();
    }

    fn bytes(&mut self, bytes: u64) {
        self.done += bytes;
        if self.shown.elapsed().as_millis() >= 100 {
            self.shown = Instant::now();
            self.show();
        }
    }

    fn layer_done(&mut self, n: usize, out: &LayerOutput) {
        if self.on {
            eprintln!(
                "\r\x1b[Klayer {n}/{}: {} of files, {} stored, {} deduplicated",
                self.of,
                mb(out.file_bytes),
                mb(out.size),
                mb(out.dedup_bytes)
            );
        }
    }
}

fn open(image: &str) -> Result<SourceImage> {
    let r: ImageRef = image
        .parse()
        .with_context(|| format!("bad image reference {image:?}"))?;
    open_image(&r).with_context(|| format!("cannot open image {image}"))
}

/// The image's runtime layer, as its label says.
fn runtime_label(
    labels: &std::collections::BTreeMap<String, String>,
) -> Option<friscy::RuntimeLabel> {
    serde_json::from_str(labels.get(friscy::LABEL_RUNTIME)?).ok()
}

/// The translator versions of an image's modules, this friscy's marked.
fn module_versions(indexes: &[friscy_vfs::image::Index]) -> String {
    let mut v: Vec<u32> = indexes
        .iter()
        .flat_map(|ix| ix.modules.iter().map(|m| m.version))
        .collect();
    v.sort_unstable();
    v.dedup();
    v.iter()
        .map(|&n| {
            if n == friscy_aot::abi::VERSION {
                format!("{n} (this friscy's)")
            } else {
                format!("{n} (not used by this friscy)")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `friscy convert SOURCE DEST`; with `aot`, riscv64 ELF files are
/// translated and their modules stored in the image.
pub fn convert(source: &str, dest: &str, aot: bool) -> Result<ExitCode> {
    let dest: Dest = dest.parse()?;
    convert_dest(source, &dest, aot)
}

/// Converts `source` and loads it into the engine without a name.
pub fn convert_untagged(source: &str, aot: bool) -> Result<ExitCode> {
    convert_dest(source, &Dest::Daemon(String::new()), aot)
}

fn convert_dest(source: &str, dest: &Dest, aot: bool) -> Result<ExitCode> {
    let src = open(source)?;
    src.check_riscv64()?;
    let started = Instant::now();
    let mut bar = Bar::new();
    let scratch;
    let (c, blobs, shown) = match dest {
        Dest::Oci { dir, tag } => {
            let mut files = None;
            let options = crate::serve::convert_options(aot, &mut files);
            let c = friscy::convert_to_layout(&src, dir, tag, options, &mut bar)
                .with_context(|| format!("cannot convert {source}"))?;
            (
                c,
                dir.join("blobs/sha256"),
                format!("oci:{}:{tag}", dir.display()),
            )
        }
        other => {
            scratch = crate::Scratch::new("convert")?;
            let blobs = scratch.0.join("blobs/sha256");
            let mut files = None;
            let options = crate::serve::convert_options(aot, &mut files);
            let c = friscy::convert(&src, &blobs, options, &mut bar)
                .with_context(|| format!("cannot convert {source}"))?;
            let shown = match other {
                Dest::Registry(r) => format!("docker://{r}"),
                Dest::Daemon(t) => format!("docker-daemon:{t}"),
                Dest::Oci { .. } => String::new(),
            };
            (c, blobs, shown)
        }
    };
    let files: u64 = c.layers.iter().map(|l| l.file_bytes).sum();
    let secs = started.elapsed().as_secs_f64();
    let sent = deliver(&blobs, &c, dest)?;
    crate::outln!(
        "{source} -> {shown}\n  manifest {}\n  {} layers, {} of files, {} stored ({} deduplicated), {:.1} s ({:.0} MB/s)",
        c.manifest_digest,
        c.layers.len(),
        mb(files),
        mb(c.stored_bytes()),
        mb(c.layers.iter().map(|l| l.dedup_bytes).sum()),
        secs,
        files as f64 / 1e6 / secs.max(1e-9)
    );
    let labels: std::collections::BTreeMap<String, String> =
        serde_json::from_slice::<serde_json::Value>(&c.config)
            .ok()
            .and_then(|v| serde_json::from_value(v["config"]["Labels"].clone()).ok())
            .unwrap_or_default();
    if let Some(r) = runtime_label(&labels) {
        crate::outln!(
            "  the wasm runtime (friscy {}) as layer {}",
            r.friscy,
            r.layer + 1
        );
    }
    let modules: u64 = c.layers.iter().map(|l| l.modules).sum();
    if modules > 0 {
        crate::outln!(
            "  {modules} modules of translated code: {} of ELF -> {} of wasm",
            mb(c.layers.iter().map(|l| l.translated_bytes).sum()),
            mb(c.layers.iter().map(|l| l.module_bytes).sum())
        );
    }
    if !sent.is_empty() {
        crate::outln!("  {sent}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `friscy push IMAGE [DEST]`: a friscy image (by default the engine's) to
/// a registry with its exact friscy blobs.
pub fn push(image: &str, dest: Option<&str>) -> Result<ExitCode> {
    let src = open(image)?;
    if !friscy::is_friscy(&src) {
        bail!(
            "{image} is not a friscy image; convert and push it in one go with \
             `friscy convert {image} docker://REF`"
        );
    }
    let target = match dest {
        Some(d) => RegistryRef::parse(d.strip_prefix("docker://").unwrap_or(d))?,
        None => {
            let name = image
                .strip_prefix("docker-daemon:")
                .or_else(|| image.strip_prefix("docker://"))
                .unwrap_or(image);
            RegistryRef::parse(name).with_context(|| {
                format!("{image} names no registry: give the destination (docker://REF)")
            })?
        }
    };
    let scratch = crate::Scratch::new("convert")?;
    let blobs = scratch.0.join("blobs/sha256");
    let c = friscy::rebuild(&src, &blobs).with_context(|| format!("cannot rebuild {image}"))?;
    let sent = deliver(&blobs, &c, &Dest::Registry(target))?;
    crate::outln!("{sent}");
    Ok(ExitCode::SUCCESS)
}

/// `friscy inspect IMAGE`.
pub fn inspect(image: &str) -> Result<ExitCode> {
    let src = open(image)?;
    crate::outln!("image     {image}");
    crate::outln!("platform  {}", src.platform);
    if let Some(d) = &src.config_digest {
        crate::outln!("config    {d}");
    }
    if !friscy::is_friscy(&src) {
        crate::outln!("format    container image (not friscy; `friscy convert` makes one)");
        for (n, l) in src.layers.iter().enumerate() {
            crate::outln!("layer {:<3} {} {}", n + 1, l.digest, mb(l.size));
        }
        return Ok(ExitCode::SUCCESS);
    }
    crate::outln!("format    friscy {}", src.labels[friscy::LABEL_FORMAT]);
    if let Some(s) = src.labels.get(friscy::LABEL_SOURCE) {
        crate::outln!("source    {s}");
    }
    let indexes = friscy::read_indexes(&src)?;
    let mut total = friscy::IndexStats::default();
    for (n, (l, ix)) in src.layers.iter().zip(&indexes).enumerate() {
        let s = friscy::index_stats(ix);
        crate::outln!(
            "layer {:<3} {} {:>9}  {} entries, {} files, {} of files, {} chunks ({})",
            n + 1,
            l.digest,
            mb(l.size),
            s.entries,
            s.files,
            mb(s.file_bytes),
            s.chunks,
            mb(s.chunk_bytes)
        );
        total.entries += s.entries;
        total.files += s.files;
        total.file_bytes += s.file_bytes;
        total.chunk_bytes += s.chunk_bytes;
        total.modules += s.modules;
        total.module_bytes += s.module_bytes;
        total.module_elf_bytes += s.module_elf_bytes;
    }
    let stored: u64 = src.layers.iter().map(|l| l.size).sum();
    crate::outln!(
        "total     {} files, {} of files, {} distinct content ({} deduplicated), {} stored",
        total.files,
        mb(total.file_bytes),
        mb(total.chunk_bytes),
        mb(total.file_bytes.saturating_sub(total.chunk_bytes)),
        mb(stored)
    );
    match runtime_label(&src.labels) {
        Some(r) => crate::outln!(
            "runtime   layer {}: {} (friscy {}, page protocol {})",
            r.layer + 1,
            r.files
                .iter()
                .map(|f| format!("{} {}", f.name, mb(f.size)))
                .collect::<Vec<_>>()
                .join(", "),
            r.friscy,
            r.protocol
        ),
        None => crate::outln!("runtime   none in the image (pages use their own)"),
    }
    if total.modules == 0 {
        crate::outln!("modules   none (converted with --no-aot, or no riscv64 ELF files)");
    } else {
        crate::outln!(
            "modules   {} modules of translated code, {} of wasm for {} of ELF files \
             (translator versions: {})",
            total.modules,
            mb(total.module_bytes),
            mb(total.module_elf_bytes),
            module_versions(&indexes)
        );
    }
    Ok(ExitCode::SUCCESS)
}
