//! `friscy aot`: riscv64 ELF files translated to WebAssembly ahead of time
//! (docs/aot.md), one module a file, named by the sha256 of the file so
//! that the wasm runtime finds it when the file is mapped.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What was translated.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub files: u64,
    pub elf_bytes: u64,
    pub module_bytes: u64,
}

/// The hex name of a module: the sha256 of its ELF file.
pub fn module_name(elf: &[u8]) -> String {
    friscy_kernel::elf::content_key(elf)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        + ".wasm"
}

/// Translates every riscv64 ELF file among `inputs` (files, or directories
/// walked without following links) into `out`, saying what it does on
/// stderr (one line a file).
pub fn translate(inputs: &[PathBuf], out: &Path) -> Result<Totals> {
    // (file, named on the command line)
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    for i in inputs {
        let meta =
            std::fs::symlink_metadata(i).with_context(|| format!("cannot read {}", i.display()))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(i, &mut found)?;
            files.extend(found.into_iter().map(|f| (f, false)));
        } else {
            files.push((i.clone(), true));
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let start = Instant::now();
    let mut totals = Totals::default();
    for (f, named) in &files {
        let data = std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?;
        if !friscy_aot::is_riscv64_elf(&data) {
            if *named {
                bail!("{} is not a riscv64 ELF file", f.display());
            }
            continue;
        }
        let Some(m) = friscy_aot::translate_elf(&data, friscy_aot::Limits::AHEAD_OF_TIME) else {
            eprintln!("friscy aot: {}: no code to translate", f.display());
            continue;
        };
        let name = module_name(&data);
        let dest = out.join(&name);
        let tmp = out.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, &m.wasm).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &dest).with_context(|| format!("cannot write {}", dest.display()))?;
        totals.files += 1;
        totals.elf_bytes += data.len() as u64;
        totals.module_bytes += m.wasm.len() as u64;
        eprintln!(
            "friscy aot: {}: {} functions, {} instructions, {} KiB -> {name} ({} KiB)",
            f.display(),
            m.map.functions.len(),
            m.insts,
            data.len() / 1024,
            m.wasm.len() / 1024
        );
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "friscy aot: {} files, {:.1} MB of ELF -> {:.1} MB of wasm in {secs:.2} s ({:.1} MB/s)",
        totals.files,
        totals.elf_bytes as f64 / 1e6,
        totals.module_bytes as f64 / 1e6,
        totals.elf_bytes as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(totals)
}

/// Regular files under `dir`, in name order, not following links.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot read {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let t = e.file_type()?;
        if t.is_dir() {
            walk(&e.path(), files)?;
        } else if t.is_file() {
            files.push(e.path());
        }
    }
    Ok(())
}
