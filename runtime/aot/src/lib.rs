//! rv2wasm: riscv64 machine code translated to WebAssembly.
//!
//! One front end for every translation tier (docs/aot.md): it decodes with
//! the same instruction table and decoder as the interpreter
//! (`friscy-isa`), discovers a *region* — the blocks reachable from an
//! entry point through direct branches and jumps, cut at indirect jumps,
//! calls and a size limit — and emits it as one wasm function in a module
//! of its own ([`translate`]). Inside the function the guest's integer
//! registers live in wasm locals, blocks are reached through a `br_table`
//! in a loop, memory is read and written through the interpreter's own
//! software TLB (a few wasm instructions on a hit, an imported helper on a
//! miss) and every way out — an indirect jump, a fault, the budget, an
//! instruction this tier does not translate — writes the registers back
//! and returns an [`abi::Exit`] code with the pc to go on at. What is not
//! translated is never guessed at: the code exits to the interpreter at
//! that instruction.

pub mod abi;
pub mod elf;
mod emit;
mod layout;
mod region;

pub use elf::{ElfModule, is_riscv64_elf, translate_elf};
pub use region::{Block, Region, Term};

/// Reads guest code: the 16-bit parcel at `pc`, or `None` where there is no
/// executable memory (the translator then stops before it).
pub trait Code {
    fn fetch_u16(&mut self, pc: u64) -> Option<u16>;
}

/// Limits on one region.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Instructions in the region, at most.
    pub max_insts: usize,
    /// Blocks in the region, at most.
    pub max_blocks: usize,
}

impl Limits {
    /// For whole files translated ahead of time: larger functions cross
    /// fewer times between functions (intmix under node: 13.1 s with the
    /// default limits, 7.4 s with these; docs/aot.md).
    pub const AHEAD_OF_TIME: Limits = Limits {
        max_insts: 4096,
        max_blocks: 256,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_insts: 512,
            max_blocks: 64,
        }
    }
}

/// A translated region: a wasm module whose one function (installed in
/// the table like every module's, see `abi`) starts at `entry`, linked
/// with base 0.
#[derive(Clone, Debug)]
pub struct Translation {
    pub wasm: Vec<u8>,
    pub entry: u64,
    /// Guest instructions translated.
    pub insts: usize,
    /// Blocks in the region.
    pub blocks: usize,
    /// The guest pages (addresses >> 12) the region's code came from.
    pub pages: Vec<u64>,
}

/// Translates the region that starts at `entry`, or `None` when its first
/// instruction cannot be translated (or read): the caller interprets it.
pub fn translate(code: &mut dyn Code, entry: u64, limits: Limits) -> Option<Translation> {
    let region = region::discover(code, entry, limits)?;
    let mut pages: Vec<u64> = region
        .blocks
        .iter()
        .flat_map(|b| {
            b.insts
                .iter()
                .flat_map(|(pc, inst)| [pc >> 12, (pc + u64::from(inst.len) - 1) >> 12])
        })
        .collect();
    pages.sort_unstable();
    pages.dedup();
    let insts = region.blocks.iter().map(|b| b.insts.len()).sum();
    let blocks = region.blocks.len();
    let shape = layout::layout(&region);
    Some(Translation {
        wasm: emit::module(&[(region, shape)], None),
        entry,
        insts,
        blocks,
        pages,
    })
}

/// Whether this tier translates `inst` (everything else ends a block with
/// an exit to the interpreter at that instruction).
pub fn translates(inst: &friscy_isa::Inst) -> bool {
    emit::supported(inst)
}

#[cfg(test)]
mod tests;
