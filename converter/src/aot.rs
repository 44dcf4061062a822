//! Translation at conversion: the modules of wasm `friscy-aot` makes of a
//! layer's riscv64 ELF files, stored in the friscy layer beside the files
//! (`docs/image-format.md`, `docs/aot.md`), so that a wasm runtime runs
//! their code translated from the first time it maps them.

use friscy_vfs::image::Translator;

/// The translator conversion uses: whole ELF files, with the limits meant
/// for ahead-of-time translation.
#[derive(Clone, Copy, Debug, Default)]
pub struct Aot;

impl Translator for Aot {
    fn version(&self) -> u32 {
        friscy_aot::abi::VERSION
    }

    fn translate(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        friscy_aot::translate_elf(data, friscy_aot::Limits::AHEAD_OF_TIME).map(|m| m.wasm)
    }
}
