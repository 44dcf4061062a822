//! The contract between translated code and the runtime that enters it.
//!
//! A translated module imports the runtime's memory, table and helpers,
//! and holds functions `run(state: i32) -> i32`, one per region. It
//! exports no function (V8 refuses a module with more than 100,000
//! exports, and a large library makes more functions than that): it
//! exports the number of its functions as the global [`EXPORT_FUNCTIONS`]
//! and a function [`EXPORT_INSTALL`]`(slot: i32)` that puts them, in
//! order, in the table from `slot` on (the embedder grows the table by
//! that number first). `state` points at a block of the runtime's memory
//! laid out as below (the runtime's `friscy_machine::aot::State`, which
//! checks these offsets when it is compiled); `run` returns an [`Exit`]
//! code and leaves the pc to go on at in the state.

/// `i32` global: how many functions the module holds.
pub const EXPORT_FUNCTIONS: &str = "functions";
/// `install(slot: i32)`: puts function `k` at table slot `slot + k`.
pub const EXPORT_INSTALL: &str = "install";

/// Module and names of the imports.
pub const IMPORT_MODULE: &str = "env";
/// The runtime's linear memory.
pub const IMPORT_MEMORY: &str = "memory";
/// `load(state: i32, addr: i64, size: i32) -> i64`: a load the TLB did
/// not serve, zero-extended; sets [`STATUS`] to [`STATUS_FAULT`] on a
/// fault (and fills the fault fields).
pub const IMPORT_LOAD: &str = "load";
/// `store(state: i32, addr: i64, value: i64, size: i32)`: a store the TLB
/// did not serve; sets [`STATUS`] to [`STATUS_FAULT`] on a fault, to
/// [`STATUS_CODE`] when it wrote a page that holds translated or decoded
/// code.
pub const IMPORT_STORE: &str = "store";
/// `exec(state: i32, pc: i64)`: runs the one instruction at `pc` as the
/// interpreter does (floating point and atomics, which this tier does not
/// turn into wasm of its own), reading and writing the registers in the
/// state's register file; sets [`STATUS`] to [`STATUS_OK`],
/// [`STATUS_CODE`] (it wrote a page of code) or [`STATUS_INTERPRET`] (it
/// trapped or faulted and changed nothing: the interpreter must run it).
pub const IMPORT_EXEC: &str = "exec";
/// The runtime's function table, where linked regions are: a region that
/// leaves for a pc another linked region starts at tail-calls it
/// (`return_call_indirect`) instead of returning.
pub const IMPORT_TABLE: &str = "table";
/// `base: i64` (an immutable global): added to every guest address the
/// code was translated at, so that one module serves a position-independent
/// file wherever it is loaded (0 for code translated where it runs).
pub const IMPORT_BASE: &str = "base";
/// The custom section of an ELF file's module: its [`CodeMap`], the
/// module's first section (so that the runtime reads a module's first
/// bytes to decide whether to read the rest: [`code_map_extent`]).
pub const CUSTOM_SECTION: &str = "friscy-aot";
/// The translator's version: a module made by another version is not
/// used (it is part of what names a module in a friscy image).
pub const VERSION: u32 = 15;

/// Offsets in the state block.
/// `u32`: address of the integer registers (`x0..x31`, 8 bytes each;
/// `x0` reads as zero and is never written).
pub const REGS: u32 = 0;
/// `u32`: address of the read TLB ([`TLB_SIZE`] entries).
pub const TLB_READ: u32 = 4;
/// `u32`: address of the write TLB.
pub const TLB_WRITE: u32 = 8;
/// `u32`: the runtime's memory object (for the helpers).
pub const MEM: u32 = 12;
/// `u64`, out: where to go on.
pub const PC: u32 = 16;
/// `i64`, in: instructions the code may run before it returns
/// [`Exit::Budget`] (checked at each block's start).
pub const BUDGET: u32 = 24;
/// `u64`, in and out: instructions retired (each region adds its own, so
/// a chain of regions linked by tail calls counts them all).
pub const EXECUTED: u32 = 32;
/// `u32`: set by the helpers ([`STATUS_OK`], [`STATUS_FAULT`],
/// [`STATUS_CODE`]); translated code reads it after each call.
pub const STATUS: u32 = 40;
/// `u32`: address of the link table: [`LINKS`] entries of [`LINK_ENTRY`]
/// bytes, each a pc where linked code starts (`u64`, at 0; all ones
/// when empty), its table slot (`u32`, at [`LINK_SLOT`]) and block
/// (`u32`, at [`LINK_BLOCK`]), found by `(pc >> 1) & (LINKS - 1)`.
pub const LINK_TABLE: u32 = 48;
/// `u32`, in: the block of the region to start at (its index among the
/// region's blocks; 0 is the entry). A region translated ahead of time
/// may be entered at any of its blocks.
pub const BLOCK: u32 = 52;
/// `u32`: the hart (for the `exec` helper).
pub const HART: u32 = 64;
/// `u32`: address of the hart's accrued exception flags (`fflags`, a
/// byte: NX is bit 0), with the dynamic rounding mode (`frm`) in the
/// byte after it.
pub const FFLAGS: u32 = 68;
/// Size of the state block the module may touch.
pub const STATE_SIZE: u32 = 72;
/// Link table entries.
pub const LINKS: u32 = 4096;
pub const LINK_ENTRY: u32 = 16;
pub const LINK_SLOT: u32 = 8;
pub const LINK_BLOCK: u32 = 12;

pub const STATUS_OK: i32 = 0;
pub const STATUS_FAULT: i32 = 1;
pub const STATUS_CODE: i32 = 2;
pub const STATUS_INTERPRET: i32 = 3;

/// A software TLB entry: the page number (`u64`, at 0), the host
/// address of the page (`u32`, at [`TLB_BASE`]) and what to add to the low
/// 32 bits of a guest address in the page to get its host address (`u32`,
/// at [`TLB_ADDEND`]); [`TLB_ENTRY`] bytes.
pub const TLB_ENTRY: u32 = 16;
pub const TLB_BASE: u32 = 8;
pub const TLB_ADDEND: u32 = 12;
/// Entries per TLB (direct-mapped by the low bits of the page number).
pub const TLB_SIZE: u32 = 4096;
/// Guest page size.
pub const PAGE_SHIFT: u32 = 12;

/// Why translated code returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Exit {
    /// Go on at [`PC`] (an indirect jump, a call, the edge of the region).
    Continue = 0,
    /// The budget ran out before the block at [`PC`].
    Budget = 1,
    /// The instruction at [`PC`] faulted (a helper filled in the fault).
    Fault = 2,
    /// The instruction at [`PC`] is not translated: interpret it.
    Interpret = 3,
    /// A store wrote a page that holds code: drop the code, go on at [`PC`].
    CodeWritten = 4,
}

impl Exit {
    pub fn from_i32(v: i32) -> Option<Exit> {
        [
            Exit::Continue,
            Exit::Budget,
            Exit::Fault,
            Exit::Interpret,
            Exit::CodeWritten,
        ]
        .into_iter()
        .find(|e| *e as i32 == v)
    }
}

/// What an ELF file's module covers: the file's executable segments and
/// the entry points of its regions (its custom section, see
/// [`CUSTOM_SECTION`]). Addresses are the file's own (before any load
/// bias).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeMap {
    /// Executable segments: (file offset, file end, address of the first
    /// byte).
    pub segments: Vec<(u64, u64, u64)>,
    /// The addresses each function's code comes from, [lo, hi), in
    /// function order: a function may run only while all of them hold the
    /// file's code.
    pub functions: Vec<(u64, u64)>,
    /// The size in bytes of each function's body in the module, in
    /// function order (what the engine compiles when the function is first
    /// called: the runtime weighs it against how often the code runs).
    pub sizes: Vec<u32>,
    /// Where code may be entered, by pc ascending.
    pub entries: Vec<Entry>,
}

/// A place where a [`CodeMap`]'s code may be entered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub pc: u64,
    /// The function (exported under its index) and its block there.
    pub function: u32,
    pub block: u32,
}

const CODE_MAP_MAGIC: &[u8; 4] = b"FRA1";
/// More entries than any ELF file has (a bound for what a reader
/// allocates).
const MAX_ENTRIES: usize = 1 << 22;

impl CodeMap {
    /// The section's bytes: magic, version (little-endian `u32`), then
    /// unsigned LEB128 numbers: the segment count and segments, the
    /// function count, each function's first address and length, each
    /// function's size, the entry count and each entry as its distance
    /// from the previous entry's pc (the first: from 0), function and
    /// block. (python3.13's map: 4.5 MB at fixed widths, 1.2 MB this
    /// way.)
    pub fn encode(&self) -> Vec<u8> {
        let mut out = CODE_MAP_MAGIC.to_vec();
        out.extend(VERSION.to_le_bytes());
        let mut put = |v: u64| put_leb(&mut out, v);
        put(self.segments.len() as u64);
        for &(off, end, addr) in &self.segments {
            put(off);
            put(end);
            put(addr);
        }
        put(self.functions.len() as u64);
        for &(lo, hi) in &self.functions {
            put(lo);
            put(hi.wrapping_sub(lo));
        }
        for &size in &self.sizes {
            put(u64::from(size));
        }
        put(self.entries.len() as u64);
        let mut pc = 0;
        for e in &self.entries {
            put(e.pc.wrapping_sub(pc));
            put(u64::from(e.function));
            put(u64::from(e.block));
            pc = e.pc;
        }
        out
    }

    /// The index of the region that starts at `pc`.
    pub fn find(&self, pc: u64) -> Option<Entry> {
        let k = self.entries.binary_search_by_key(&pc, |e| e.pc).ok()?;
        Some(self.entries[k])
    }

    /// Reads a section [`CodeMap::encode`] made; `None` for anything else
    /// (another version, a bad length, entries not ascending).
    pub fn decode(b: &[u8]) -> Option<CodeMap> {
        if b.get(..4)? != CODE_MAP_MAGIC
            || u32::from_le_bytes(b.get(4..8)?.try_into().ok()?) != VERSION
        {
            return None;
        }
        let mut at = 8;
        let mut num = || leb64(b, &mut at);
        // a count, bounded before anything is allocated for it: each item
        // takes at least a byte a number
        let count = |n: u64, numbers: usize, max: usize| {
            usize::try_from(n)
                .ok()
                .filter(|&n| n <= max && n.saturating_mul(numbers) <= b.len())
        };
        let nseg = count(num()?, 3, 64)?;
        let mut segments = Vec::with_capacity(nseg);
        for _ in 0..nseg {
            let (off, end, addr) = (num()?, num()?, num()?);
            if end < off {
                return None;
            }
            segments.push((off, end, addr));
        }
        let nf = count(num()?, 3, MAX_ENTRIES)?;
        let mut functions = Vec::with_capacity(nf);
        for _ in 0..nf {
            let lo = num()?;
            functions.push((lo, lo.checked_add(num()?)?));
        }
        let mut sizes = Vec::with_capacity(nf);
        for _ in 0..nf {
            sizes.push(u32::try_from(num()?).ok()?);
        }
        let n = count(num()?, 3, MAX_ENTRIES)?;
        let mut entries = Vec::with_capacity(n);
        let mut pc = 0u64;
        for k in 0..n {
            let delta = num()?;
            if k > 0 && delta == 0 {
                return None;
            }
            pc = pc.checked_add(delta)?;
            entries.push(Entry {
                pc,
                function: u32::try_from(num()?).ok()?,
                block: u32::try_from(num()?).ok()?,
            });
        }
        let bad_entry = |e: &Entry| {
            functions
                .get(e.function as usize)
                .is_none_or(|&(lo, hi)| e.pc < lo || e.pc >= hi)
        };
        if entries.iter().any(bad_entry) || at != b.len() {
            return None;
        }
        Some(CodeMap {
            segments,
            functions,
            sizes,
            entries,
        })
    }
}

/// The translator version a module's code map names, if the module has
/// one (to say why a module of another version is not used).
pub fn module_version(module: &[u8]) -> Option<u32> {
    let map = custom_section(module)?;
    if map.get(..4)? != CODE_MAP_MAGIC {
        return None;
    }
    Some(u32::from_le_bytes(map.get(4..8)?.try_into().ok()?))
}

/// Appends `v` as unsigned LEB128.
fn put_leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// An unsigned LEB128 value of at most 64 bits at `*at`, moving past it.
fn leb64(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        let bits = u64::from(byte & 0x7f);
        if shift == 63 && bits > 1 {
            return None;
        }
        v |= bits << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// An unsigned LEB128 value of at most 32 bits at `*at`, moving past it.
fn leb(b: &[u8], at: &mut usize) -> Option<usize> {
    let mut v: u64 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return usize::try_from(v).ok();
        }
    }
    None
}

/// The custom section named [`CUSTOM_SECTION`] of a module (or of its
/// first bytes up to [`code_map_extent`]), if it has one (a minimal reader
/// of the module's section headers: the runtime does not carry a wasm
/// parser).
pub fn custom_section(module: &[u8]) -> Option<&[u8]> {
    if module.get(..8)? != b"\0asm\x01\0\0\0" {
        return None;
    }
    let mut at = 8;
    while at < module.len() {
        let id = module[at];
        at += 1;
        let len = leb(module, &mut at)?;
        let end = at.checked_add(len)?;
        let body = module.get(at..end)?;
        if id == 0 {
            let mut p = 0;
            let nlen = leb(body, &mut p)?;
            if body.get(p..p.checked_add(nlen)?)? == CUSTOM_SECTION.as_bytes() {
                return body.get(p + nlen..);
            }
        }
        at = end;
    }
    None
}

/// How many bytes from a module's start hold its code map, from its first
/// bytes (at least [`CODE_MAP_HEAD`] of them, or the whole module): `None`
/// unless the module starts with the custom section [`CUSTOM_SECTION`].
pub fn code_map_extent(head: &[u8]) -> Option<usize> {
    if head.get(..8)? != b"\0asm\x01\0\0\0" || *head.get(8)? != 0 {
        return None;
    }
    let mut at = 9;
    let len = leb(head, &mut at)?;
    let end = at.checked_add(len)?;
    let mut p = at;
    let nlen = leb(head, &mut p)?;
    (head.get(p..p.checked_add(nlen)?)? == CUSTOM_SECTION.as_bytes()).then_some(end)
}

/// Enough of a module's first bytes for [`code_map_extent`].
pub const CODE_MAP_HEAD: usize = 64;
