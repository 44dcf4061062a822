//! Ahead-of-time translation of a whole ELF file: one module holding a
//! region for every place the file's code may be entered at, to be linked
//! wherever the file is loaded (docs/aot.md).
//!
//! Where code is entered is found statically: the ELF entry point, the
//! function symbols (`.symtab` where the file keeps it, `.dynsym`), and a
//! linear sweep of the executable segments for the targets of direct
//! calls, the return points after calls (a callee in another region
//! returns there) and addresses made by `auipc`+`addi` (function
//! pointers), and the addresses the dynamic linker writes into data
//! (`R_RISCV_RELATIVE`: function pointers of position-independent files,
//! and the label tables of computed gotos, such as python's bytecode
//! loop). A place found wrongly costs module bytes, never an answer:
//! a region only runs when the guest reaches its exact entry, and it
//! decodes from there as the interpreter would.

use std::collections::BTreeSet;

use friscy_isa::{Op, decode};
use object::{
    Object, ObjectSection, ObjectSegment, ObjectSymbol, RelocationFlags, SectionKind, SegmentFlags,
    SymbolKind,
};

use crate::abi::{CodeMap, Entry};
use crate::{Code, Limits, region};

/// `PF_X` of a program header's flags.
const PF_X: u32 = object::elf::PF_X.0;
/// `EM_RISCV`.
const EM_RISCV: u16 = 243;

/// The executable segments of a file, readable as code at their own
/// (unbiased) addresses.
struct Segments<'a> {
    /// (address, bytes in the file)
    list: Vec<(u64, &'a [u8])>,
}

impl Code for Segments<'_> {
    fn fetch_u16(&mut self, pc: u64) -> Option<u16> {
        let (addr, bytes) = self
            .list
            .iter()
            .find(|(a, b)| pc >= *a && pc - *a < b.len() as u64)?;
        let at = usize::try_from(pc - addr).ok()?;
        let b = bytes.get(at..at.checked_add(2)?)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
}

/// A translated ELF file.
#[derive(Clone, Debug)]
pub struct ElfModule {
    pub wasm: Vec<u8>,
    /// What the module covers (also in its custom section).
    pub map: CodeMap,
    /// Guest instructions translated (counted once per region they are in).
    pub insts: usize,
    /// Bytes of executable segments in the file.
    pub code_bytes: u64,
}

/// Whether `data` is a riscv64 ELF file (the files worth translating).
pub fn is_riscv64_elf(data: &[u8]) -> bool {
    data.len() >= 20
        && data[..4] == *b"\x7fELF"
        && data[4] == 2
        && data[5] == 1
        && u16::from_le_bytes([data[18], data[19]]) == EM_RISCV
}

/// Translates every region of a riscv64 ELF file; `None` when it is not
/// one, cannot be parsed or has no code this tier translates.
pub fn translate_elf(data: &[u8], limits: Limits) -> Option<ElfModule> {
    if !is_riscv64_elf(data) {
        return None;
    }
    let file = object::File::parse(data).ok()?;
    let mut segs = Segments { list: Vec::new() };
    let mut map = CodeMap::default();
    for s in file.segments() {
        let SegmentFlags::Elf { p_flags, .. } = s.flags() else {
            continue;
        };
        if p_flags.0 & PF_X == 0 {
            continue;
        }
        let (off, len) = s.file_range();
        let Ok(bytes) = s.data() else { continue };
        if bytes.is_empty() || off.checked_add(len).is_none() {
            continue;
        }
        map.segments.push((off, off + len, s.address()));
        segs.list.push((s.address(), bytes));
    }
    if segs.list.is_empty() || segs.list.len() > 64 {
        return None;
    }
    // Executable segments often hold read-only data too: where the file
    // keeps its section headers, code is what its executable sections
    // hold (so data is never swept or translated as code).
    let text: Vec<(u64, &[u8])> = file
        .sections()
        .filter(|s| s.kind() == SectionKind::Text)
        .filter_map(|s| Some((s.address(), s.data().ok()?)))
        .filter(|(a, b)| {
            !b.is_empty()
                && segs
                    .list
                    .iter()
                    .any(|(sa, sb)| *a >= *sa && a + b.len() as u64 <= sa + sb.len() as u64)
        })
        .collect();
    if !text.is_empty() {
        segs.list = text;
    }
    let code_bytes = segs.list.iter().map(|(_, b)| b.len() as u64).sum();
    let inside = |segs: &Segments<'_>, pc: u64| {
        pc & 1 == 0
            && segs
                .list
                .iter()
                .any(|(a, b)| pc >= *a && pc - *a < b.len() as u64)
    };
    let mut entries: BTreeSet<u64> = BTreeSet::new();
    entries.insert(file.entry());
    for sym in file.symbols().chain(file.dynamic_symbols()) {
        if sym.kind() == SymbolKind::Text && sym.address() != 0 {
            entries.insert(sym.address());
        }
    }
    // addresses relocated into data by the dynamic linker
    for (_, r) in file.dynamic_relocations().into_iter().flatten() {
        let RelocationFlags::Elf { r_type } = r.flags() else {
            continue;
        };
        if r_type == object::elf::R_RISCV_RELATIVE || r_type == object::elf::R_RISCV_IRELATIVE {
            entries.insert(r.addend() as u64);
        }
    }
    let mut returns = BTreeSet::new();
    let mut insts_at = BTreeSet::new();
    // a file linked at a fixed address holds its code's addresses as they
    // are: made by `lui`+`addi`, and written into its data (function
    // pointers: a type's methods, callbacks) with no relocation to say so
    let fixed = file.kind() == object::ObjectKind::Executable;
    sweep(&segs, fixed, &mut entries, &mut returns, &mut insts_at);
    if fixed {
        for s in file.sections() {
            if s.kind() == SectionKind::Text {
                continue;
            }
            let Ok(bytes) = s.data() else { continue };
            let skip = (8 - (s.address() % 8) as usize) % 8;
            for w in bytes.get(skip..).unwrap_or_default().chunks_exact(8) {
                let v = u64::from_le_bytes(w.try_into().expect("8 bytes"));
                if insts_at.contains(&v) {
                    entries.insert(v);
                }
            }
        }
    }
    // addresses made outside the code may be jump tables
    let tables: Vec<u64> = entries
        .iter()
        .copied()
        .filter(|&pc| !inside(&segs, pc))
        .collect();
    let jumps = jump_targets(&file, &tables, &insts_at);
    entries.retain(|&pc| inside(&segs, pc));
    returns.retain(|&pc| inside(&segs, pc));
    // one function per entry not already a block of an earlier one; a
    // function does not follow calls (the callee is a function of its
    // own) and ends where another starts, so code is translated once
    let mut regions = Vec::new();
    let mut insts = 0;
    let mut entered: BTreeSet<u64> = BTreeSet::new();
    // where a function ends: where others start, and blocks already made
    let mut stop = entries.clone();
    let mut list: Vec<Entry> = Vec::new();
    // return points are blocks of their callers; one no caller reached is
    // a function of its own, and so is code a function's limits cut off
    let mut queue: std::collections::VecDeque<u64> =
        entries.iter().chain(&returns).copied().collect();
    while let Some(pc) = queue.pop_front() {
        if entered.contains(&pc) || !inside(&segs, pc) {
            continue;
        }
        // the jump-table targets up to the next function are this one's
        let next = entries.range(pc + 1..).next().copied().unwrap_or(u64::MAX);
        let own: Vec<u64> = jumps.range(pc..next).copied().collect();
        let Some(r) = region::discover_in(&mut segs, pc, limits, false, &stop, &own) else {
            continue;
        };
        let function = regions.len() as u32;
        let shape = crate::layout::layout(&r);
        for (b, entry) in r.blocks.iter().zip(&shape.entries) {
            insts += b.insts.len();
            stop.insert(b.start);
            // the inner blocks of a wasm loop are not entries (a pc that
            // must be one still gets a function of its own)
            if let Some(block) = *entry
                && entered.insert(b.start)
            {
                list.push(Entry {
                    pc: b.start,
                    function,
                    block,
                });
            }
        }
        queue.extend(&r.cut);
        map.functions.push(r.span());
        regions.push((r, shape));
    }
    list.sort_unstable_by_key(|e| e.pc);
    map.entries = list;
    if regions.is_empty() {
        return None;
    }
    let wasm = crate::emit::module(&regions, Some(&mut map));
    Some(ElfModule {
        wasm,
        map,
        insts,
        code_bytes,
    })
}

/// The linear sweep: call targets and `auipc`+`addi` addresses (and, in a
/// file linked at a `fixed` address, `lui`+`addi` ones) into `entries`,
/// return points (into `returns`) and where instructions start (into
/// `insts_at`) in every executable segment.
fn sweep(
    segs: &Segments<'_>,
    fixed: bool,
    entries: &mut BTreeSet<u64>,
    returns: &mut BTreeSet<u64>,
    insts_at: &mut BTreeSet<u64>,
) {
    for &(addr, bytes) in &segs.list {
        let mut at = 0usize;
        // registers holding an address made by `auipc` (or `lui`), until
        // something else writes them or a call or jump comes
        let mut known: [Option<u64>; 32] = [None; 32];
        while at + 2 <= bytes.len() {
            let pc = addr + at as u64;
            let lo = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
            let raw = if lo & 3 != 3 {
                Some(u32::from(lo))
            } else {
                bytes
                    .get(at + 2..at + 4)
                    .map(|h| u32::from(lo) | (u32::from(u16::from_le_bytes([h[0], h[1]])) << 16))
            };
            let Some(inst) = raw.and_then(|r| decode(r).ok()) else {
                at += 2;
                known = [None; 32];
                continue;
            };
            let next = pc.wrapping_add(u64::from(inst.len));
            insts_at.insert(pc);
            match inst.op {
                Op::Jal if inst.rd != 0 => {
                    entries.insert(pc.wrapping_add(inst.imm as u64));
                    returns.insert(next);
                }
                Op::Jalr if inst.rd != 0 => {
                    returns.insert(next);
                }
                Op::Addi => {
                    if let Some(v) = known[usize::from(inst.rs1 & 31)] {
                        entries.insert(v.wrapping_add(inst.imm as u64));
                    }
                }
                _ => {}
            }
            let rd = usize::from(inst.rd & 31);
            match inst.op {
                Op::Auipc => known[rd] = Some(pc.wrapping_add(inst.imm as u64)),
                Op::Lui if fixed => known[rd] = Some(inst.imm as u64),
                Op::Jal | Op::Jalr => known = [None; 32],
                _ => known[rd] = None,
            }
            known[0] = None;
            at += usize::from(inst.len);
        }
    }
}

/// Most targets one jump table is read for.
const MAX_TABLE: usize = 4096;

/// The targets of the jump tables among `tables` (addresses the code
/// makes): a table is a run of 32-bit offsets from its own address, or of
/// 64-bit addresses, each the start of an instruction; it ends at the first
/// entry that is not. A table found wrongly adds places a function may
/// jump to, never a wrong answer.
fn jump_targets(
    file: &object::File<'_>,
    tables: &[u64],
    insts_at: &BTreeSet<u64>,
) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for &t in tables {
        let Some(bytes) = file.segments().find_map(|s| {
            let at = t.checked_sub(s.address())?;
            s.data().ok()?.get(usize::try_from(at).ok()?..)
        }) else {
            continue;
        };
        let relative: Vec<u64> = bytes
            .chunks_exact(4)
            .take(MAX_TABLE)
            .map(|c| t.wrapping_add(i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64 as u64))
            .take_while(|pc| insts_at.contains(pc))
            .collect();
        let absolute: Vec<u64> = bytes
            .chunks_exact(8)
            .take(MAX_TABLE)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .take_while(|pc| insts_at.contains(pc))
            .collect();
        // a table has at least two targets
        for list in [relative, absolute] {
            if list.len() >= 2 {
                out.extend(list);
            }
        }
    }
    out
}
