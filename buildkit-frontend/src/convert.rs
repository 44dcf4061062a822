//! The conversion step, run by BuildKit in a container of the frontend's
//! image: the Dockerfile's result (a tree at IN) becomes one friscy layer,
//! whose tar entries (`friscy/index`, `friscy/c/<sha256>`) are written as
//! files under OUT. BuildKit then makes OUT the image's one layer (its own
//! tar, compressed its own way), which friscy reads by entry name.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use friscy_converter::tree::tar_tree;
use friscy_vfs::image::{Seen, Translator, write_translated_layer};

pub fn run(input: &Path, output: &Path, aot: bool) -> Result<()> {
    if !input.is_dir() {
        bail!("{}: not a directory", input.display());
    }
    std::fs::create_dir_all(output).with_context(|| format!("cannot make {}", output.display()))?;
    // the blob is made beside the files it becomes, and removed before the
    // step ends, so it is not part of the layer (the image's root is
    // read-only)
    let scratch = output.join(format!(".friscy-layer-{}.tmp", std::process::id()));
    let result = convert(input, output, &scratch, aot);
    let _ = std::fs::remove_file(&scratch);
    result
}

fn convert(input: &Path, output: &Path, scratch: &Path, aot: bool) -> Result<()> {
    let t0 = std::time::Instant::now();
    let (mut reader, writer) = io::pipe().context("a pipe")?;
    let root = input.to_owned();
    let tarring = std::thread::spawn(move || tar_tree(&root, BufWriter::new(writer)));
    let blob =
        File::create(scratch).with_context(|| format!("cannot write {}", scratch.display()))?;
    let mut seen = Seen::new();
    let mut translator = friscy_converter::aot::Aot;
    let written = write_translated_layer(
        BufReader::new(&mut reader),
        BufWriter::new(blob),
        &mut seen,
        aot.then_some(&mut translator as &mut dyn Translator),
        &mut |_| {},
    );
    // the tar's last blocks, which the layer reader does not need
    let _ = io::copy(&mut reader, &mut io::sink());
    drop(reader);
    let stats = tarring
        .join()
        .map_err(|_| anyhow::anyhow!("the tree walk panicked"))?
        .with_context(|| format!("reading {}", input.display()))?;
    let layer = written.context("writing the friscy layer")?;
    // the layer's entries, as files
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(BufReader::new(
        File::open(scratch)?,
    )));
    archive.set_preserve_mtime(true);
    archive.set_preserve_permissions(true);
    archive
        .unpack(output)
        .with_context(|| format!("writing the layer's files under {}", output.display()))?;
    let mut err = io::stderr().lock();
    let _ = writeln!(
        err,
        "friscy: {} entries, {:.1} MB of files as {} chunks ({:.1} MB stored once), \
         {} modules of translated code ({:.1} MB of ELF -> {:.1} MB of wasm) in {:.1} s{}",
        stats.entries,
        stats.file_bytes as f64 / 1e6,
        layer.chunks,
        layer.chunk_bytes as f64 / 1e6,
        layer.modules,
        layer.translated_bytes as f64 / 1e6,
        layer.module_bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64(),
        if stats.skipped > 0 {
            format!("; {} sockets left out", stats.skipped)
        } else {
            String::new()
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use friscy_vfs::image::{CHUNK_DIR, INDEX_PATH, Index, Kind};

    #[test]
    fn a_tree_becomes_a_friscy_layers_files() {
        let dir = std::env::temp_dir().join(format!("friscy-fe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (input, output) = (dir.join("in"), dir.join("out"));
        std::fs::create_dir_all(input.join("etc")).unwrap();
        std::fs::write(input.join("etc/hostname"), b"friscy\n").unwrap();
        std::fs::write(input.join("big"), vec![1u8; 3 << 20]).unwrap();
        std::os::unix::fs::symlink("etc/hostname", input.join("h")).unwrap();
        run(&input, &output, true).unwrap();
        let index = std::fs::read(output.join(INDEX_PATH)).unwrap();
        let index = Index::decode(&index).unwrap();
        let paths: Vec<_> = index
            .entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.path).into_owned())
            .collect();
        assert_eq!(paths, ["big", "etc", "etc/hostname", "h"]);
        assert!(matches!(index.entries[3].kind, Kind::Symlink(_)));
        // three equal 1 MiB chunks are stored once, plus the small file
        let chunks = std::fs::read_dir(output.join(CHUNK_DIR)).unwrap().count();
        assert_eq!(chunks, 2);
        assert_eq!(index.chunks.len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
