//! `friscy convert` and `friscy inspect`, and reading friscy images for
//! `friscy run`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use friscy_converter::friscy::{self, Progress};
use friscy_converter::{ImageRef, Layer, SourceImage, open_image};
use friscy_vfs::image::{ChunkLoc, ChunkSource, LayerOutput, member_data};

/// Where `convert` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// An OCI layout and tag.
    Oci { dir: PathBuf, tag: String },
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
        bail!("{s:?}: the destination must be oci:DIR[:TAG]")
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

/// `friscy convert SOURCE DEST`.
pub fn convert(source: &str, dest: &str) -> Result<ExitCode> {
    let dest: Dest = dest.parse()?;
    let src = open(source)?;
    src.check_riscv64()?;
    let started = Instant::now();
    let Dest::Oci { dir, tag } = &dest;
    let mut bar = Bar::new();
    let c = friscy::convert_to_layout(&src, dir, tag, &mut bar)
        .with_context(|| format!("cannot convert {source}"))?;
    let files: u64 = c.layers.iter().map(|l| l.file_bytes).sum();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{source} -> oci:{}:{tag}\n  manifest {}\n  {} layers, {} of files, {} stored ({} deduplicated), {:.1} s ({:.0} MB/s)",
        dir.display(),
        c.manifest_digest,
        c.layers.len(),
        mb(files),
        mb(c.stored_bytes()),
        mb(c.layers.iter().map(|l| l.dedup_bytes).sum()),
        secs,
        files as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

/// `friscy inspect IMAGE`.
pub fn inspect(image: &str) -> Result<ExitCode> {
    let src = open(image)?;
    println!("image     {image}");
    println!("platform  {}", src.platform);
    if let Some(d) = &src.config_digest {
        println!("config    {d}");
    }
    if !friscy::is_friscy(&src) {
        println!("format    container image (not friscy; `friscy convert` makes one)");
        for (n, l) in src.layers.iter().enumerate() {
            println!("layer {:<3} {} {}", n + 1, l.digest, mb(l.size));
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!("format    friscy {}", src.labels[friscy::LABEL_FORMAT]);
    if let Some(s) = src.labels.get(friscy::LABEL_SOURCE) {
        println!("source    {s}");
    }
    let indexes = friscy::read_indexes(&src)?;
    let mut total = friscy::IndexStats::default();
    for (n, (l, ix)) in src.layers.iter().zip(&indexes).enumerate() {
        let s = friscy::index_stats(ix);
        println!(
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
    }
    let stored: u64 = src.layers.iter().map(|l| l.size).sum();
    println!(
        "total     {} files, {} of files, {} distinct content ({} deduplicated), {} stored",
        total.files,
        mb(total.file_bytes),
        mb(total.chunk_bytes),
        mb(total.file_bytes.saturating_sub(total.chunk_bytes)),
        mb(stored)
    );
    println!("runtime   none in the image yet; AOT blobs: none");
    Ok(ExitCode::SUCCESS)
}

/// Chunks read from an image's layer blobs (a file, or a member of an
/// archive), one range read each.
pub struct LayerChunks(pub Vec<Layer>);

impl ChunkSource for LayerChunks {
    fn chunk(&self, layer: usize, loc: &ChunkLoc) -> std::io::Result<Vec<u8>> {
        let l = self.0.get(layer).ok_or(std::io::ErrorKind::NotFound)?;
        let member = l
            .read_range(loc.offset, loc.clen)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        member_data(&member, loc.len as usize)
    }
}
