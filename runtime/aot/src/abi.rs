//! The contract between translated code and the runtime that enters it.
//!
//! A translated module imports the runtime's memory and two helpers, and
//! exports one function, `run(state: i32) -> i32`. `state` points at a
//! block of the runtime's memory laid out as below (the runtime's
//! `friscy_machine::aot::State`, which checks these offsets when it is
//! compiled); `run` returns an [`Exit`] code and leaves the pc to go on at
//! in the state.

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
/// The runtime's function table, where linked regions are: a region that
/// leaves for a pc another linked region starts at tail-calls it
/// (`return_call_indirect`) instead of returning.
pub const IMPORT_TABLE: &str = "table";
/// The exported function.
pub const EXPORT_RUN: &str = "run";

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
/// bytes, each the pc a linked region starts at (`u64`, at 0; all ones
/// when empty) and its table slot (`u32`, at [`LINK_SLOT`]), found by
/// `(pc >> 1) & (LINKS - 1)`.
pub const LINK_TABLE: u32 = 48;
/// Size of the state block the module may touch.
pub const STATE_SIZE: u32 = 64;
/// Link table entries.
pub const LINKS: u32 = 4096;
pub const LINK_ENTRY: u32 = 16;
pub const LINK_SLOT: u32 = 8;

pub const STATUS_OK: i32 = 0;
pub const STATUS_FAULT: i32 = 1;
pub const STATUS_CODE: i32 = 2;

/// A software TLB entry: the page number (`u64`, at 0) and the host
/// address of the page (`u32`, at [`TLB_BASE`]); [`TLB_ENTRY`] bytes.
pub const TLB_ENTRY: u32 = 16;
pub const TLB_BASE: u32 = 8;
/// Entries per TLB (direct-mapped by the low bits of the page number).
pub const TLB_SIZE: u32 = 512;
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
