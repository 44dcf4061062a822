//! The interpreter: decoded-block cache and dispatch.
//!
//! Code is decoded once into blocks of pre-decoded instructions (16 bytes
//! each: the handler, the table's op, three register indices and an
//! immediate). A block ends at a control transfer, an `ecall`/`ebreak`/
//! `fence.i`, an illegal encoding or the end of its page. Adjacent pairs
//! from a measured list are fused into one handler. Instructions are
//! dispatched either as threaded code (each handler tail-calls the next) or
//! by a loop around the same `step` function (wasm32). Blocks are found
//! through a direct-mapped cache in front of a hash map, linked to their
//! successors, charged to the budget once each, and dropped all together
//! on `fence.i` or when a store hits a page that holds decoded code. See
//! docs/machine.md.

use crate::fp::{self, BinOp, Cmp, IntKind};
use crate::hart::{Exit, F0, Hart, SINK};
use crate::memory::{Access, MemFault, Memory, PAGE_SIZE};
use friscy_isa::decode::{
    CSR_CYCLE, CSR_FCSR, CSR_FFLAGS, CSR_FRM, CSR_INSTRET, CSR_TIME, FFLAGS_MASK, FRM_MASK,
    FRM_SHIFT, RM_DYN,
};
use friscy_isa::{Format, Inst, Op, decode};
use std::cell::Cell;

use crate::AddrMap;

/// A pre-decoded instruction.
///
/// Register fields index the hart's register file (floating-point registers are
/// offset by 32; an integer destination of `x0` is [`SINK`]). `imm` holds:
/// the immediate; for branches, `jal` and `auipc` the target or value as an
/// offset from the block's start; for FP ops the rounding mode (FMA: `rs3 |
/// rm << 8`); for CSR ops the CSR number.
#[derive(Clone, Copy)]
pub struct DInst {
    pub h: Handler,
    /// `Op as u8`, or `END_OF_BLOCK`.
    pub op: u8,
    pub rd: u8,
    pub rs1: u8,
    pub rs2: u8,
    pub imm: i32,
}

/// A cached edge from one block to the next (see [`goto`]).
#[derive(Clone, Copy)]
struct Link {
    pc: u64,
    block: *const Block,
}

const NO_LINK: Link = Link {
    pc: u64::MAX,
    block: std::ptr::null(),
};
/// Link slots: where a taken branch, `jal` or `jalr` went, and where the
/// block falls through to.
const LINK_TAKEN: usize = 0;
const LINK_FALL: usize = 1;

struct Block {
    pc: u64,
    /// Address after the last instruction.
    end: u64,
    /// Number of instructions.
    n: u32,
    /// Successor blocks, each with the pc it was entered at. A link points
    /// at a boxed block of the same cache; blocks are only freed all
    /// together (flush), which frees every link with them.
    links: [Cell<Link>; 2],
    /// The instructions, and a last entry that ends the block.
    insts: Box<[DInst]>,
    /// Byte offset of each instruction from `pc`.
    offs: Box<[u16]>,
    /// With translation on: how many times a round entered this block
    /// from another one. At the hot threshold a round stops before it, so
    /// that the run loop asks for its translation; [`TRANSLATED`] once it
    /// has one (a round never runs it interpreted).
    heat: Cell<u32>,
}

/// A block's `heat` once its pc runs translated.
const TRANSLATED: u32 = u32::MAX;

const CACHE_BITS: u32 = 12;
/// Blocks entered one from another before returning to the run loop.
/// (Handlers end in tail calls; this bounds the stack even where a build
/// does not turn them into jumps.)
const CHAIN: u32 = 64;
const CACHE_SIZE: usize = 1 << CACHE_BITS;

/// The decoded code of one address space.
/// How decoded instructions are dispatched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// Each instruction's handler jumps to the next one's (tail calls):
    /// the fastest where indirect jumps are cheap (native code).
    Threaded,
    /// One loop with a `match` (a jump table): the fastest in wasm engines.
    Loop,
}

impl Default for Dispatch {
    fn default() -> Self {
        if cfg!(target_arch = "wasm32") {
            Dispatch::Loop
        } else {
            Dispatch::Threaded
        }
    }
}

pub struct CodeCache {
    dispatch: Dispatch,
    /// Boxed, so a block never moves while links point at it.
    #[expect(clippy::vec_box, reason = "links hold the address of each block")]
    blocks: Vec<Box<Block>>,
    map: AddrMap<u64, u32>,
    fast: Box<[(u64, u32); CACHE_SIZE]>,
    /// Translated regions, tried before each block (crate::aot).
    regions: crate::aot::Regions,
}

impl Default for CodeCache {
    fn default() -> Self {
        CodeCache::new()
    }
}

impl std::fmt::Debug for CodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeCache")
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

#[inline(always)]
fn slot(pc: u64) -> usize {
    ((pc >> 1) as usize) & (CACHE_SIZE - 1)
}

impl CodeCache {
    pub fn new() -> CodeCache {
        CodeCache {
            dispatch: Dispatch::default(),
            blocks: Vec::new(),
            map: AddrMap::default(),
            fast: Box::new([(u64::MAX, 0); CACHE_SIZE]),
            regions: crate::aot::Regions::default(),
        }
    }

    /// Chooses how instructions are dispatched (both give the same results).
    pub fn set_dispatch(&mut self, dispatch: Dispatch) {
        self.dispatch = dispatch;
    }

    /// Drops every decoded block and forgets which pages held code (what
    /// `fence.i` and `riscv_flush_icache` ask for).
    pub fn drop_code(&mut self, mem: &mut Memory) {
        self.flush();
        mem.clear_code_pages();
    }

    /// Drops every decoded block.
    pub fn flush(&mut self) {
        self.blocks.clear();
        self.map.clear();
        self.fast.fill((u64::MAX, 0));
        self.regions.clear();
    }

    /// Number of decoded blocks (for statistics).
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    #[inline(always)]
    fn find(&mut self, pc: u64, mem: &mut Memory) -> Result<u32, Exit> {
        let s = self.fast[slot(pc)];
        if s.0 == pc {
            return Ok(s.1);
        }
        self.find_slow(pc, mem)
    }

    #[inline(never)]
    fn find_slow(&mut self, pc: u64, mem: &mut Memory) -> Result<u32, Exit> {
        let idx = match self.map.get(&pc) {
            Some(&i) => i,
            None => {
                let block = translate(pc, mem)?;
                let i = self.blocks.len() as u32;
                self.blocks.push(Box::new(block));
                self.map.insert(pc, i);
                i
            }
        };
        self.fast[slot(pc)] = (pc, idx);
        Ok(idx)
    }

    /// Runs `hart` for about `budget` instructions (whole blocks).
    pub fn run(&mut self, hart: &mut Hart, mem: &mut Memory, budget: u64) -> Exit {
        use crate::aot::Ran;
        use friscy_aot::abi::Exit as Tx;
        let mut pc = hart.pc;
        let mut left = budget as i64;
        // the block at pc is the interpreter's (translated code left it)
        let mut interpret = false;
        // and it has no translation
        let mut untranslated = false;
        // or none yet (see `Ran::Wait`)
        let mut waiting = false;
        let translate = crate::aot::active();
        let hot = if translate { crate::aot::hot() } else { 0 };
        loop {
            if left <= 0 {
                hart.pc = pc;
                return Exit::Budget;
            }
            if translate && !std::mem::take(&mut interpret) {
                hart.pc = pc;
                let (map, blocks) = (&self.map, &self.blocks);
                let ran = self.regions.run(hart, mem, left, || {
                    let block = map.get(&pc).map(|&i| &blocks[i as usize]);
                    // a round stopped before it: it ran `hot` times since
                    let visits = block
                        .map(|b| b.heat.get())
                        .filter(|&heat| heat != TRANSLATED && heat >= hot)
                        .map_or(1, |_| hot);
                    (visits, block.map_or(1, |b| b.n))
                });
                if let Some(at) = self.regions.linked.take()
                    && let Some(&i) = self.map.get(&at)
                {
                    // rounds stop before it now: it runs translated
                    self.blocks[i as usize].heat.set(TRANSLATED);
                }
                match ran {
                    Ran::Interpret => {}
                    Ran::Untranslated => untranslated = true,
                    Ran::Wait => waiting = true,
                    Ran::Returned { executed, exit } => {
                        hart.instret += executed;
                        left -= executed as i64;
                        pc = hart.pc;
                        match exit {
                            Tx::Continue => {}
                            Tx::Budget => return Exit::Budget,
                            Tx::Interpret | Tx::Fault => interpret = true,
                            Tx::CodeWritten => {
                                if mem.take_code_dirty() {
                                    self.drop_code(mem);
                                }
                            }
                        }
                        continue;
                    }
                    Ran::Fault { executed, fault } => {
                        hart.instret += executed;
                        return Exit::Fault(fault);
                    }
                }
            }
            let bi = match self.find(pc, mem) {
                Ok(b) => b,
                Err(exit) => {
                    hart.pc = pc;
                    return exit;
                }
            };
            let block = &self.blocks[bi as usize];
            if std::mem::take(&mut untranslated) {
                // rounds may run it freely
                block.heat.set(0);
            }
            if std::mem::take(&mut waiting) && block.heat.get() >= hot {
                // a round stopped before it (its visits were counted):
                // rounds may run it again until it is hot again
                block.heat.set(0);
            }
            let Hart {
                regs,
                pc: hart_pc,
                fflags,
                frm,
                reservation,
                instret,
                time,
            } = &mut *hart;
            let mut cx = Cx {
                pc: hart_pc,
                fflags,
                frm,
                reservation,
                mem: &mut *mem,
                block,
                blocks: &self.blocks,
                fast: &self.fast,
                instret_base: *instret,
                time: *time,
                executed: u64::from(block.n),
                unretired: 0,
                chain: CHAIN.min((left / 16).max(1) as u32),
                hot,
                next: block.end,
                exit: None,
            };
            let ip = Ip(block.insts.as_ptr());
            match self.dispatch {
                Dispatch::Threaded => (ip.inst().h)(&mut cx, ip, regs),
                Dispatch::Loop => run_loop(&mut cx, ip, regs),
            }
            let (next, exit) = (cx.next, cx.exit);
            *instret += cx.executed - cx.unretired;
            left -= cx.executed as i64;
            if mem.take_code_dirty() {
                self.drop_code(mem);
            }
            match exit {
                None => pc = next,
                Some(exit) => return exit,
            }
        }
    }
}

/// Never read: [`step_one`] runs with no chaining.
static NO_FAST: [(u64, u32); CACHE_SIZE] = [(0, 0); CACHE_SIZE];

/// Runs the one instruction at `hart.pc` as the interpreter does, and
/// moves `pc` past it (what translated code has the interpreter do for it
/// without leaving: floating point, atomics). On a trap or fault nothing
/// has changed and the exit says why.
pub fn step_one(hart: &mut Hart, mem: &mut Memory) -> Option<Exit> {
    let block = match decode_block(hart.pc, mem, 1) {
        Ok(b) => b,
        Err(e) => return Some(e),
    };
    let Hart {
        regs,
        pc: hart_pc,
        fflags,
        frm,
        reservation,
        instret,
        time,
    } = hart;
    let mut cx = Cx {
        pc: hart_pc,
        fflags,
        frm,
        reservation,
        mem,
        block: &block,
        blocks: &[],
        fast: &NO_FAST,
        instret_base: *instret,
        time: *time,
        executed: u64::from(block.n),
        unretired: 0,
        chain: 0,
        hot: 0,
        next: block.end,
        exit: None,
    };
    run_loop(&mut cx, Ip(block.insts.as_ptr()), regs);
    let (next, exit) = (cx.next, cx.exit);
    if exit.is_none() {
        *hart_pc = next;
    }
    exit
}

/// Reads the raw encoding at `pc` (for reporting illegal instructions).
fn raw_at(pc: u64, mem: &mut Memory) -> Result<u32, MemFault> {
    let lo = mem.fetch_u16(pc)?;
    if lo & 3 != 3 {
        return Ok(u32::from(lo));
    }
    let hi = mem.fetch_u16(pc + 2)?;
    Ok(u32::from(lo) | (u32::from(hi) << 16))
}

fn translate(pc: u64, mem: &mut Memory) -> Result<Block, Exit> {
    decode_block(pc, mem, usize::MAX)
}

/// The block at `pc`, of at most `limit` instructions.
fn decode_block(pc: u64, mem: &mut Memory, limit: usize) -> Result<Block, Exit> {
    if pc & 1 != 0 {
        // Instructions are 2-byte aligned (jalr clears bit 0, but an ELF
        // entry point or a signal handler address may be odd): Linux
        // delivers SIGBUS for a misaligned fetch.
        return Err(Exit::Fault(MemFault {
            addr: pc,
            access: Access::Fetch,
            cause: crate::memory::FaultCause::Misaligned,
        }));
    }
    let page_end = (pc & !(PAGE_SIZE - 1)) + PAGE_SIZE;
    let mut insts = Vec::new();
    let mut offs = Vec::new();
    let mut cur = pc;
    loop {
        let raw = match raw_at(cur, mem) {
            Ok(r) => r,
            Err(fault) if insts.is_empty() => return Err(Exit::Fault(fault)),
            // The fault belongs to the next block's first instruction.
            Err(_) => break,
        };
        let inst = match decode(raw) {
            Ok(i) => i,
            Err(_) if insts.is_empty() => return Err(Exit::Illegal(raw)),
            Err(_) => break,
        };
        let off = (cur - pc) as u32;
        insts.push(predecode(&inst, off));
        offs.push(off as u16);
        cur += u64::from(inst.len);
        if inst.op.ends_block() || cur >= page_end || insts.len() >= limit {
            break;
        }
    }
    insts.push(DInst {
        h: handler(END_OF_BLOCK),
        op: END_OF_BLOCK,
        rd: 0,
        rs1: 0,
        rs2: 0,
        imm: 0,
    });
    offs.push((cur - pc) as u16);
    fuse(&mut insts);
    Ok(Block {
        pc,
        end: cur,
        n: (insts.len() - 1) as u32,
        links: [Cell::new(NO_LINK), Cell::new(NO_LINK)],
        insts: insts.into_boxed_slice(),
        offs: offs.into_boxed_slice(),
        heat: Cell::new(0),
    })
}

/// Pairs of adjacent instructions that one handler runs together (a
/// superinstruction), saving a dispatch. Both entries stay in the block
/// (the second keeps its own handler and fields); the first gets the
/// pair's handler, which runs the first op, then the second, each with
/// exactly what its own handler would do on a fault, trap, slow access or
/// branch. The list holds the most frequent adjacent pairs measured in
/// compiled rv64gc code (our benchmark kernels and Debian's busybox, each
/// weighted equally): address arithmetic, loads and stores, loop
/// bookkeeping, sign extensions, rotates; see docs/machine.md.
macro_rules! pairs {
    ($(($a:ident, $b:ident)),* $(,)?) => {
        /// The fused pairs, most frequent first.
        const PAIRS: &[(Op, Op)] = &[$((Op::$a, Op::$b)),*];

        fn pair_handler(a: u8, b: u8) -> Option<Handler> {
            $(
                if a == Op::$a as u8 && b == Op::$b as u8 {
                    return Some(h2::<{ Op::$a as u8 }, { Op::$b as u8 }>);
                }
            )*
            None
        }

        /// Runs fused pair number `k` for the loop dispatch.
        #[inline(always)]
        fn loop_pair(k: usize, c: &mut Cx<'_>, ip: Ip, r: &mut Regs) -> PairOut {
            let mut n = 0;
            $(
                if k == n {
                    return pair_step::<{ Op::$a as u8 }, { Op::$b as u8 }>(c, ip, r);
                }
                n += 1;
            )*
            let _ = n;
            unreachable!("pair codes come from PAIRS")
        }
    };
}

/// In the `op` byte of a block entry, values from `PAIR_CODE` on (below
/// [`END_OF_BLOCK`]) mark the first entry of fused pair `op - PAIR_CODE`,
/// for the loop dispatch (the threaded one has the pair's handler).
const PAIR_CODE: u8 = Op::COUNT as u8;

/// The op of an entry, seeing through pair codes.
#[inline(always)]
fn op_of(code: u8) -> Option<Op> {
    match Op::from_index(code) {
        Some(op) => Some(op),
        None if code != END_OF_BLOCK => PAIRS.get(usize::from(code - PAIR_CODE)).map(|p| p.0),
        None => None,
    }
}

/// What a fused pair did, for the loop dispatch.
enum PairOut {
    /// Both ran; go on after the second.
    Next,
    /// Leave the block (through this link slot).
    Goto(usize),
    /// Stop running.
    Stop,
    /// The entry at this pointer needs the slow memory path; go on after it.
    Slow(Ip),
}

#[inline(always)]
fn pair_step<const A: u8, const B: u8>(c: &mut Cx<'_>, ip: Ip, r: &mut Regs) -> PairOut {
    let (a, b) = const {
        match (Op::from_u8(A), Op::from_u8(B)) {
            (Some(a), Some(b)) => (a, b),
            _ => panic!("pairs! names ops of the table"),
        }
    };
    match step(a, c, ip, r) {
        Ctl::Next => {}
        Ctl::Goto(link) => return PairOut::Goto(link),
        Ctl::Stop => return PairOut::Stop,
        Ctl::Slow => return PairOut::Slow(ip),
    }
    let ip = ip.next();
    match step(b, c, ip, r) {
        Ctl::Next => PairOut::Next,
        Ctl::Goto(link) => PairOut::Goto(link),
        Ctl::Stop => PairOut::Stop,
        Ctl::Slow => PairOut::Slow(ip),
    }
}

pairs! {
    (Addi, Addi),
    (Add, Add),
    (Slli, Add),
    (Sd, Sd),
    (Addiw, Addiw),
    (Addi, Add),
    (Add, Lw),
    (Add, Ld),
    (Ld, Ld),
    (Lw, Lw),
    (Ld, Add),
    (Add, Bne),
    (Add, Addi),
    (Add, Jalr),
    (Addi, Beq),
    (Addiw, Addi),
    (Addi, Bgeu),
    (Ld, Addi),
    (Slli, Srli),
    (Addi, Bne),
    (Lw, Add),
    (Addi, Sd),
    (Addi, Bltu),
    (Add, Jal),
    (Lbu, Lbu),
    (Lw, Addi),
    (Lbu, Addi),
    (And, And),
    (And, Beq),
    (Add, Xori),
    (Xori, And),
    (Or, Or),
    (Addw, Bne),
    (Mulw, Addw),
    (Addi, Mulw),
    (Lw, Addiw),
    (Sd, Addi),
    (Addw, Xor),
    (Addiw, Andi),
    (Xor, Add),
    (Ld, Xor),
    (Slliw, Srliw),
    (Srliw, Slliw),
    (Srli, Xor),
    (Slli, Addi),
    (Addi, Jalr),
    (Andi, Addi),
    (Srli, Slli),
    (Auipc, Addi),
    (Ld, Slli),
    (Mul, Srli),
    (Slli, Or),
    (Sd, Jal),
    (Addiw, And),
    (And, Slli),
    (Addiw, Add),
    (Addiw, Beq),
    (Ld, Addiw),
    (Addw, Addw),
    (Xor, Xor),
    (Srli, Ld),
    (Sltu, Sltu),
    (Subw, Jalr),
    (Lw, Sltu),
    (Sltu, Subw),
    (Addw, Addiw),
    (Xor, Addw),
    (Sw, Addi),
    (Srli, Add),
    (Sb, Bne),
    (Xor, Mul),
    (Addi, Ld),
    (Addi, Addiw),
    (Or, Slli),
    (Andi, Addiw),
    (Addi, Slli),
    (Addi, Sb),
    (Sb, Sb),
    (Addi, Jal),
    (Srliw, Srliw),
    (Slliw, Slliw),
    (Add, Addiw),
    (Addiw, Slli),
    (Subw, Addi),
    (Andi, Ld),
    (Addiw, Subw),
    (Add, Bge),
    (Addiw, Sd),
    (Lw, Srliw),
    (Srliw, Or),
    (Xor, Srliw),
    (Add, Slliw),
    (Addiw, Bne),
    (Lw, Slli),
    (Add, Srli),
    (Ld, Sd),
}

/// Gives each fusable pair of adjacent instructions the pair's handler.
fn fuse(insts: &mut [DInst]) {
    let mut i = 0;
    while i + 1 < insts.len() {
        if let Some(h) = pair_handler(insts[i].op, insts[i + 1].op) {
            insts[i].h = h;
            let (a, b) = (insts[i].op, insts[i + 1].op);
            let k = PAIRS
                .iter()
                .position(|&(x, y)| x as u8 == a && y as u8 == b);
            if let Some(k) = k.filter(|&k| k < usize::from(END_OF_BLOCK - PAIR_CODE)) {
                insts[i].op = PAIR_CODE + k as u8;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
}

/// The handler for a fused pair: both instructions, then the one after.
fn h2<const A: u8, const B: u8>(c: &mut Cx<'_>, ip: Ip, r: &mut Regs) {
    let (a, b) = const {
        match (Op::from_u8(A), Op::from_u8(B)) {
            (Some(a), Some(b)) => (a, b),
            _ => panic!("pairs! names ops of the table"),
        }
    };
    match step(a, c, ip, r) {
        Ctl::Next => {}
        Ctl::Goto(link) => return goto(c, c.next, link, r),
        Ctl::Stop => return,
        // finishes the access, then goes on with the second entry's own
        // handler
        Ctl::Slow => return mem_slow(c, ip, r),
    }
    let ip = ip.next();
    match step(b, c, ip, r) {
        Ctl::Next => {
            let ip = ip.next();
            (ip.inst().h)(c, ip, r)
        }
        Ctl::Goto(link) => goto(c, c.next, link, r),
        Ctl::Stop => {}
        Ctl::Slow => mem_slow(c, ip, r),
    }
}

fn xd(r: u8) -> u8 {
    if r == 0 { SINK } else { r }
}

fn fr(r: u8) -> u8 {
    F0 as u8 + r
}

/// Turns a decoded instruction at byte offset `off` of its block into the
/// interpreter's form.
pub fn predecode(i: &Inst, off: u32) -> DInst {
    let imm = i.imm as i32;
    let rel = (off as i32).wrapping_add(imm);
    let (rd, rs1, rs2, imm) = match i.op.format() {
        Format::R | Format::Amo | Format::Lr => (xd(i.rd), i.rs1, i.rs2, 0),
        Format::Unary => (xd(i.rd), i.rs1, 0, 0),
        Format::I | Format::ShiftI | Format::ShiftIW | Format::Load => (xd(i.rd), i.rs1, 0, imm),
        Format::Jalr => (xd(i.rd), i.rs1, 0, imm),
        Format::Store => (0, i.rs1, i.rs2, imm),
        Format::Branch => (0, i.rs1, i.rs2, rel),
        Format::U if i.op == Op::Auipc => (xd(i.rd), 0, 0, rel),
        Format::U => (xd(i.rd), 0, 0, imm),
        Format::J => (xd(i.rd), 0, 0, rel),
        Format::Fence | Format::None => (0, 0, 0, 0),
        Format::Csr => (xd(i.rd), i.rs1, 0, imm),
        // rs1 is the 5-bit immediate here, not a register
        Format::CsrI => (xd(i.rd), i.rs1, 0, imm),
        Format::FLoad => (fr(i.rd), i.rs1, 0, imm),
        Format::FStore => (0, i.rs1, fr(i.rs2), imm),
        Format::FR => (fr(i.rd), fr(i.rs1), fr(i.rs2), i32::from(i.rm)),
        Format::FRn => (fr(i.rd), fr(i.rs1), fr(i.rs2), 0),
        Format::FCmp => (xd(i.rd), fr(i.rs1), fr(i.rs2), 0),
        Format::FR4 => (
            fr(i.rd),
            fr(i.rs1),
            fr(i.rs2),
            i32::from(fr(i.rs3)) | (i32::from(i.rm) << 8),
        ),
        Format::FUnaryFF => (fr(i.rd), fr(i.rs1), 0, i32::from(i.rm)),
        Format::FUnaryXF => (xd(i.rd), fr(i.rs1), 0, i32::from(i.rm)),
        Format::FUnaryFX => (fr(i.rd), i.rs1, 0, i32::from(i.rm)),
        Format::FMvXF => (xd(i.rd), fr(i.rs1), 0, 0),
        Format::FMvFX => (fr(i.rd), i.rs1, 0, 0),
    };
    DInst {
        h: handler(i.op as u8),
        op: i.op as u8,
        rd,
        rs1,
        rs2,
        imm,
    }
}

const CANONICAL_NAN_S: u32 = 0x7fc0_0000;
const NAN_BOX: u64 = 0xffff_ffff_0000_0000;

/// The single-precision value in a register (an improperly NaN-boxed value
/// reads as the canonical NaN).
#[inline(always)]
fn unbox(v: u64) -> u32 {
    if v & NAN_BOX == NAN_BOX {
        v as u32
    } else {
        CANONICAL_NAN_S
    }
}

#[inline(always)]
fn nanbox(v: u32) -> u64 {
    NAN_BOX | u64::from(v)
}

/// Executes a CSR instruction; returns None if it is illegal.
fn csr_op(c: &mut Cx<'_>, op: Op, r: &Regs, d: &DInst, instret_now: u64) -> Option<u64> {
    let csr = (d.imm as u16) & 0xfff;
    let (src, writes) = match op {
        Op::Csrrw => (r[d.rs1 as usize], true),
        Op::Csrrs | Op::Csrrc => (r[d.rs1 as usize], d.rs1 != 0),
        Op::Csrrwi => (u64::from(d.rs1), true),
        _ => (u64::from(d.rs1), d.rs1 != 0),
    };
    let old = match csr {
        CSR_FFLAGS => u64::from(*c.fflags),
        CSR_FRM => u64::from(*c.frm),
        CSR_FCSR => u64::from((*c.frm << FRM_SHIFT) | *c.fflags),
        // Read-only counters: cycles are counted as instructions; the
        // time is what the embedder last set (`Hart::time`).
        CSR_CYCLE | CSR_INSTRET | CSR_TIME => {
            if writes {
                return None;
            }
            if csr == CSR_TIME { c.time } else { instret_now }
        }
        _ => return None,
    };
    if writes {
        let new = match op {
            Op::Csrrw | Op::Csrrwi => src,
            Op::Csrrs | Op::Csrrsi => old | src,
            _ => old & !src,
        };
        match csr {
            CSR_FFLAGS => *c.fflags = new as u8 & FFLAGS_MASK,
            CSR_FRM => *c.frm = new as u8 & FRM_MASK,
            _ => {
                *c.fflags = new as u8 & FFLAGS_MASK;
                *c.frm = (new >> FRM_SHIFT) as u8 & FRM_MASK;
            }
        }
    }
    Some(old)
}

#[inline(always)]
fn rounding(frm: u8, rm: i32) -> Option<u8> {
    let rm = (rm & 7) as u8;
    let rm = if rm == RM_DYN { frm } else { rm };
    (rm <= fp::RMM).then_some(rm)
}

/// The state a handler works on: the hart, its memory, and the block being
/// run.
pub struct Cx<'a> {
    pc: &'a mut u64,
    fflags: &'a mut u8,
    frm: &'a mut u8,
    reservation: &'a mut Option<u64>,
    mem: &'a mut Memory,
    block: &'a Block,
    blocks: &'a [Box<Block>],
    fast: &'a [(u64, u32); CACHE_SIZE],
    /// `instret` when this round of chained blocks began.
    instret_base: u64,
    /// What the `time` CSR reads.
    time: u64,
    /// Instructions of the blocks entered this round.
    executed: u64,
    /// Of those, how many did not retire (the rest of a block left by a
    /// trap or fault).
    unretired: u64,
    /// Blocks that may still be entered without returning to the loop;
    /// zero once decoded code went stale. (Handlers end in tail calls; this
    /// bounds the stack even where a build does not make them jumps.)
    chain: u32,
    /// With translation on, the heat at which a round stops before a block
    /// (see `Block::heat`); 0 with it off.
    hot: u32,
    /// Where to continue after the block (set by its last instruction).
    next: u64,
    /// Set when the run must stop (trap, fault, illegal instruction).
    exit: Option<Exit>,
}

/// The register file: `x0..x31`, `f0..f31` at 32.., the write sink at 64
/// (see [`Hart`]).
pub type Regs = [u64; 256];

/// A pointer to an instruction of the block being run.
///
/// Invariant: it points into the `insts` of a block that outlives the run
/// of its handlers (blocks are only dropped in [`CodeCache::run`] between
/// runs), and never past the block's last entry, which ends the block
/// without advancing.
#[derive(Clone, Copy)]
pub struct Ip(*const DInst);

impl Ip {
    #[inline(always)]
    fn inst(self) -> DInst {
        // SAFETY: by the invariant of `Ip`, it points at a live DInst.
        unsafe { *self.0 }
    }

    /// The next instruction; only called on entries that are not the last.
    #[inline(always)]
    fn next(self) -> Ip {
        Ip(self.0.wrapping_add(1))
    }

    /// Index of this instruction in `block`.
    fn index(self, block: &Block) -> usize {
        (self.0 as usize - block.insts.as_ptr() as usize) / std::mem::size_of::<DInst>()
    }
}

impl Cx<'_> {
    /// After a store that may have hit decoded code (a slow-path store):
    /// finish this block, then return to the run loop, which drops the
    /// stale blocks.
    #[inline(always)]
    fn after_store(&mut self) {
        if self.mem.code_dirty() {
            self.chain = 0;
        }
    }
}

/// Runs one instruction, then (in tail position) the next one.
pub type Handler = for<'a, 'b, 'c> fn(&'a mut Cx<'b>, Ip, &'c mut Regs);

/// The handler of each op (indexed by `Op as u8`; 255 ends a block).
///
/// Every instruction carries its handler, and each handler ends by calling
/// the next instruction's handler in tail position, so each op has its own
/// indirect branch (threaded code) instead of one shared `match`.
fn handler(op: u8) -> Handler {
    macro_rules! row {
        ($hi:literal) => {
            [
                h::<{ $hi * 16 }>,
                h::<{ $hi * 16 + 1 }>,
                h::<{ $hi * 16 + 2 }>,
                h::<{ $hi * 16 + 3 }>,
                h::<{ $hi * 16 + 4 }>,
                h::<{ $hi * 16 + 5 }>,
                h::<{ $hi * 16 + 6 }>,
                h::<{ $hi * 16 + 7 }>,
                h::<{ $hi * 16 + 8 }>,
                h::<{ $hi * 16 + 9 }>,
                h::<{ $hi * 16 + 10 }>,
                h::<{ $hi * 16 + 11 }>,
                h::<{ $hi * 16 + 12 }>,
                h::<{ $hi * 16 + 13 }>,
                h::<{ $hi * 16 + 14 }>,
                h::<{ $hi * 16 + 15 }>,
            ]
        };
    }
    static HANDLERS: [[Handler; 16]; 16] = [
        row!(0),
        row!(1),
        row!(2),
        row!(3),
        row!(4),
        row!(5),
        row!(6),
        row!(7),
        row!(8),
        row!(9),
        row!(10),
        row!(11),
        row!(12),
        row!(13),
        row!(14),
        row!(15),
    ];
    HANDLERS[usize::from(op >> 4)][usize::from(op & 15)]
}

/// Marks the end of a block whose last instruction falls through.
const END_OF_BLOCK: u8 = u8::MAX;

/// The handler for op number `OP`: one `match` arm of [`step`], then the
/// next instruction.
fn h<const OP: u8>(c: &mut Cx<'_>, ip: Ip, r: &mut Regs) {
    let op = const { Op::from_u8(OP) };
    match op {
        Some(op) => match step(op, c, ip, r) {
            Ctl::Next => {
                let ip = ip.next();
                (ip.inst().h)(c, ip, r)
            }
            Ctl::Goto(link) => goto(c, c.next, link, r),
            Ctl::Stop => {}
            Ctl::Slow => mem_slow(c, ip, r),
        },
        None => goto(c, c.block.end, LINK_FALL, r),
    }
}

/// What [`step`] wants next.
enum Ctl {
    /// Run the next instruction of the block.
    Next,
    /// Leave the block for `c.next` (through this link slot).
    Goto(usize),
    /// Stop running (`c.exit` says why).
    Stop,
    /// The access missed the TLB: redo it on the slow path.
    Slow,
}

/// Enters the block at `target` directly when it is decoded and the round
/// may go on; otherwise returns to [`CodeCache::run`] with `c.next` set.
#[inline(always)]
fn goto(c: &mut Cx<'_>, target: u64, link: usize, r: &mut Regs) {
    if let Some(block) = next_block(c, target, link) {
        let ip = Ip(block.insts.as_ptr());
        (ip.inst().h)(c, ip, r)
    }
}

/// The block to go on with at `target`, charged to this round, if it is
/// decoded and the round may go on; sets `c.next` either way.
#[inline(always)]
fn next_block<'a>(c: &mut Cx<'a>, target: u64, link: usize) -> Option<&'a Block> {
    c.next = target;
    if c.chain == 0 {
        return None;
    }
    let l = c.block.links[link].get();
    let block: &'a Block = if l.pc == target {
        // SAFETY: a link points at a boxed block of this cache, set below
        // from `c.blocks`; blocks are freed only all together, between
        // rounds, and the block holding this link is alive, so the target
        // is too.
        unsafe { &*l.block }
    } else {
        let s = c.fast[slot(target)];
        if s.0 != target {
            return None;
        }
        let b: &'a Block = &c.blocks[s.1 as usize];
        c.block.links[link].set(Link {
            pc: target,
            block: b,
        });
        b
    };
    if c.hot != 0 {
        let heat = block.heat.get();
        if heat >= c.hot {
            return None;
        }
        block.heat.set(heat + 1);
    }
    c.chain -= 1;
    c.executed += u64::from(block.n);
    c.block = block;
    Some(block)
}

/// The same round as the threaded handlers give, as one loop around
/// [`step`] (a `match`): no handler calls at all. Used where indirect tail
/// calls are slow (wasm32 engines) or absent.
fn run_loop(c: &mut Cx<'_>, mut ip: Ip, r: &mut Regs) {
    loop {
        let d = ip.inst();
        if d.op >= PAIR_CODE && d.op != END_OF_BLOCK {
            match loop_pair(usize::from(d.op - PAIR_CODE), c, ip, r) {
                PairOut::Next => {
                    ip = ip.next().next();
                    continue;
                }
                PairOut::Goto(link) => match next_block(c, c.next, link) {
                    Some(block) => {
                        ip = Ip(block.insts.as_ptr());
                        continue;
                    }
                    None => return,
                },
                PairOut::Stop => return,
                PairOut::Slow(at) => {
                    if !mem_slow_access(c, at, r) {
                        return;
                    }
                    ip = at.next();
                    continue;
                }
            }
        }
        let (target, link) = match Op::from_index(d.op) {
            Some(op) => match step(op, c, ip, r) {
                Ctl::Next => {
                    ip = ip.next();
                    continue;
                }
                Ctl::Goto(link) => (c.next, link),
                Ctl::Stop => return,
                Ctl::Slow => {
                    if !mem_slow_access(c, ip, r) {
                        return;
                    }
                    ip = ip.next();
                    continue;
                }
            },
            None => (c.block.end, LINK_FALL),
        };
        match next_block(c, target, link) {
            Some(block) => ip = Ip(block.insts.as_ptr()),
            None => return,
        }
    }
}

/// Loads and stores that missed the TLB: the full access path (which may
/// fault), then on to the next instruction.
#[inline(never)]
fn mem_slow(c: &mut Cx<'_>, ip: Ip, r: &mut Regs) {
    if mem_slow_access(c, ip, r) {
        let ip = ip.next();
        (ip.inst().h)(c, ip, r)
    }
}

/// The slow path of the load or store at `ip`; false when it faulted.
#[inline(never)]
fn mem_slow_access(c: &mut Cx<'_>, ip: Ip, r: &mut Regs) -> bool {
    let d = ip.inst();
    let addr = r[d.rs1 as usize].wrapping_add(d.imm as i64 as u64);
    let v = r[d.rs2 as usize];
    let rd = d.rd as usize;
    let op = op_of(d.op);
    let result = match op {
        Some(op) => match op {
            Op::Lb => c.mem.read_u8(addr).map(|x| x as i8 as i64 as u64),
            Op::Lh => c.mem.read_u16(addr).map(|x| x as i16 as i64 as u64),
            Op::Lw => c.mem.read_u32(addr).map(|x| x as i32 as i64 as u64),
            Op::Ld | Op::Fld => c.mem.read_u64(addr),
            Op::Lbu => c.mem.read_u8(addr).map(u64::from),
            Op::Lhu => c.mem.read_u16(addr).map(u64::from),
            Op::Lwu => c.mem.read_u32(addr).map(u64::from),
            Op::Flw => c.mem.read_u32(addr).map(nanbox),
            Op::Sb => c.mem.write_u8(addr, v as u8).map(|()| 0),
            Op::Sh => c.mem.write_u16(addr, v as u16).map(|()| 0),
            Op::Sw | Op::Fsw => c.mem.write_u32(addr, v as u32).map(|()| 0),
            Op::Sd | Op::Fsd => c.mem.write_u64(addr, v).map(|()| 0),
            _ => unreachable!("only loads and stores take the slow path"),
        },
        None => unreachable!("only loads and stores take the slow path"),
    };
    match result {
        Ok(value) => {
            c.after_store();
            let is_store = matches!(
                op,
                Some(Op::Sb | Op::Sh | Op::Sw | Op::Sd | Op::Fsw | Op::Fsd)
            );
            if !is_store {
                r[rd] = value;
            }
            true
        }
        Err(fault) => {
            let i = ip.index(c.block);
            *c.pc = c.block.pc + u64::from(c.block.offs[i]);
            c.unretired = u64::from(c.block.n) - i as u64;
            c.exit = Some(Exit::Fault(fault));
            false
        }
    }
}

/// Executes one instruction; false when the block is left (taken branch,
/// trap, fault). On a fault or trap, sets `hart.pc` and un-counts the
/// instructions that did not retire.
#[inline(always)]
fn step(op: Op, c: &mut Cx<'_>, ip: Ip, r: &mut Regs) -> Ctl {
    // Stops at instruction `i` of the block: `pc` there, `i` retired.
    macro_rules! stop {
        ($exit:expr) => {{
            let i = ip.index(c.block);
            *c.pc = c.block.pc + u64::from(c.block.offs[i]);
            c.unretired = u64::from(c.block.n) - i as u64;
            c.exit = Some($exit);
            return Ctl::Stop;
        }};
    }
    macro_rules! mem_try {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(fault) => stop!(Exit::Fault(fault)),
            }
        };
    }
    macro_rules! rm {
        ($d:expr) => {
            match rounding(*c.frm, $d.imm) {
                Some(rm) => rm,
                None => {
                    let i = ip.index(c.block);
                    let raw = raw_at(c.block.pc + u64::from(c.block.offs[i]), c.mem).unwrap_or(0);
                    stop!(Exit::Illegal(raw))
                }
            }
        };
    }
    let d = ip.inst();
    let rs1 = r[d.rs1 as usize];
    let rs2 = r[d.rs2 as usize];
    let imm = d.imm as i64 as u64;
    let rd = d.rd as usize;
    match op {
        Op::Lui => r[rd] = imm,
        Op::Auipc => r[rd] = c.block.pc.wrapping_add(imm),
        Op::Jal => {
            r[rd] = c.block.end;
            c.next = c.block.pc.wrapping_add(imm);
            return Ctl::Goto(LINK_TAKEN);
        }
        Op::Jalr => {
            let target = rs1.wrapping_add(imm) & !1;
            r[rd] = c.block.end;
            c.next = target;
            return Ctl::Goto(LINK_TAKEN);
        }
        Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu => {
            let taken = match op {
                Op::Beq => rs1 == rs2,
                Op::Bne => rs1 != rs2,
                Op::Blt => (rs1 as i64) < (rs2 as i64),
                Op::Bge => (rs1 as i64) >= (rs2 as i64),
                Op::Bltu => rs1 < rs2,
                _ => rs1 >= rs2,
            };
            if taken {
                c.next = c.block.pc.wrapping_add(imm);
                return Ctl::Goto(LINK_TAKEN);
            }
            c.next = c.block.end;
            return Ctl::Goto(LINK_FALL);
        }
        Op::Lb => match c.mem.try_read_u8(rs1.wrapping_add(imm)) {
            Some(v) => r[rd] = v as i8 as i64 as u64,
            None => return Ctl::Slow,
        },
        Op::Lh => match c.mem.try_read_u16(rs1.wrapping_add(imm)) {
            Some(v) => r[rd] = v as i16 as i64 as u64,
            None => return Ctl::Slow,
        },
        Op::Lw => match c.mem.try_read_u32(rs1.wrapping_add(imm)) {
            Some(v) => r[rd] = v as i32 as i64 as u64,
            None => return Ctl::Slow,
        },
        Op::Ld | Op::Fld => match c.mem.try_read_u64(rs1.wrapping_add(imm)) {
            Some(v) => r[rd] = v,
            None => return Ctl::Slow,
        },
        Op::Lbu => match c.mem.try_read_u8(rs1.wrapping_add(imm)) {
            Some(v) => r[rd] = u64::from(v),
            None => return Ctl::Slow,
        },
        Op::Lhu => match c.mem.try_read_u16(rs1.wrapping_add(imm)) {
            Some(v) => r[rd] = u64::from(v),
            None => return Ctl::Slow,
        },
        Op::Lwu => match c.mem.try_read_u32(rs1.wrapping_add(imm)) {
            Some(v) => r[rd] = u64::from(v),
            None => return Ctl::Slow,
        },
        Op::Flw => match c.mem.try_read_u32(rs1.wrapping_add(imm)) {
            Some(v) => r[rd] = nanbox(v),
            None => return Ctl::Slow,
        },
        Op::Sb => {
            if !c.mem.try_write_u8(rs1.wrapping_add(imm), rs2 as u8) {
                return Ctl::Slow;
            }
        }
        Op::Sh => {
            if !c.mem.try_write_u16(rs1.wrapping_add(imm), rs2 as u16) {
                return Ctl::Slow;
            }
        }
        Op::Sw | Op::Fsw => {
            if !c.mem.try_write_u32(rs1.wrapping_add(imm), rs2 as u32) {
                return Ctl::Slow;
            }
        }
        Op::Sd | Op::Fsd => {
            if !c.mem.try_write_u64(rs1.wrapping_add(imm), rs2) {
                return Ctl::Slow;
            }
        }
        Op::Addi => r[rd] = rs1.wrapping_add(imm),
        Op::Slti => r[rd] = u64::from((rs1 as i64) < (imm as i64)),
        Op::Sltiu => r[rd] = u64::from(rs1 < imm),
        Op::Xori => r[rd] = rs1 ^ imm,
        Op::Ori => r[rd] = rs1 | imm,
        Op::Andi => r[rd] = rs1 & imm,
        Op::Slli => r[rd] = rs1 << (imm & 63),
        Op::Srli => r[rd] = rs1 >> (imm & 63),
        Op::Srai => r[rd] = ((rs1 as i64) >> (imm & 63)) as u64,
        Op::Add => r[rd] = rs1.wrapping_add(rs2),
        Op::Sub => r[rd] = rs1.wrapping_sub(rs2),
        Op::Sll => r[rd] = rs1 << (rs2 & 63),
        Op::Slt => r[rd] = u64::from((rs1 as i64) < (rs2 as i64)),
        Op::Sltu => r[rd] = u64::from(rs1 < rs2),
        Op::Xor => r[rd] = rs1 ^ rs2,
        Op::Srl => r[rd] = rs1 >> (rs2 & 63),
        Op::Sra => r[rd] = ((rs1 as i64) >> (rs2 & 63)) as u64,
        Op::Or => r[rd] = rs1 | rs2,
        Op::And => r[rd] = rs1 & rs2,
        Op::Addiw => r[rd] = sext32(rs1.wrapping_add(imm)),
        Op::Slliw => r[rd] = sext32(rs1 << (imm & 31)),
        Op::Srliw => r[rd] = sext32(u64::from((rs1 as u32) >> (imm & 31))),
        Op::Sraiw => r[rd] = ((rs1 as i32) >> (imm & 31)) as i64 as u64,
        Op::Addw => r[rd] = sext32(rs1.wrapping_add(rs2)),
        Op::Subw => r[rd] = sext32(rs1.wrapping_sub(rs2)),
        Op::Sllw => r[rd] = sext32(rs1 << (rs2 & 31)),
        Op::Srlw => r[rd] = sext32(u64::from((rs1 as u32) >> (rs2 & 31))),
        Op::Sraw => r[rd] = ((rs1 as i32) >> (rs2 & 31)) as i64 as u64,
        Op::Fence => {}
        Op::FenceI => {
            // Drop every decoded block (including this one) before
            // running on.
            c.mem.mark_code_dirty();
            c.chain = 0;
            c.next = c.block.end;
            return Ctl::Goto(LINK_FALL);
        }
        Op::Ecall => {
            *c.pc = c.block.end;
            c.exit = Some(Exit::Ecall);
            return Ctl::Stop;
        }
        Op::Ebreak => stop!(Exit::Ebreak),
        Op::Csrrw | Op::Csrrs | Op::Csrrc | Op::Csrrwi | Op::Csrrsi | Op::Csrrci => {
            let i = ip.index(c.block);
            let now = c.instret_base + c.executed - (u64::from(c.block.n) - i as u64);
            match csr_op(c, op, r, &d, now) {
                Some(v) => r[rd] = v,
                None => {
                    let raw = raw_at(c.block.pc + u64::from(c.block.offs[i]), c.mem).unwrap_or(0);
                    stop!(Exit::Illegal(raw))
                }
            }
        }
        Op::Mul => r[rd] = rs1.wrapping_mul(rs2),
        Op::Mulh => r[rd] = ((i128::from(rs1 as i64) * i128::from(rs2 as i64)) >> 64) as u64,
        Op::Mulhsu => r[rd] = ((i128::from(rs1 as i64) * i128::from(rs2)) >> 64) as u64,
        Op::Mulhu => r[rd] = ((u128::from(rs1) * u128::from(rs2)) >> 64) as u64,
        Op::Div => {
            let (a, b) = (rs1 as i64, rs2 as i64);
            r[rd] = if b == 0 {
                u64::MAX
            } else {
                a.wrapping_div(b) as u64
            };
        }
        Op::Divu => r[rd] = rs1.checked_div(rs2).unwrap_or(u64::MAX),
        Op::Rem => {
            let (a, b) = (rs1 as i64, rs2 as i64);
            r[rd] = if b == 0 {
                rs1
            } else {
                a.wrapping_rem(b) as u64
            };
        }
        Op::Remu => r[rd] = if rs2 == 0 { rs1 } else { rs1 % rs2 },
        Op::Mulw => r[rd] = sext32(rs1.wrapping_mul(rs2)),
        Op::Divw => {
            let (a, b) = (rs1 as i32, rs2 as i32);
            r[rd] = if b == 0 {
                u64::MAX
            } else {
                a.wrapping_div(b) as i64 as u64
            };
        }
        Op::Divuw => {
            let (a, b) = (rs1 as u32, rs2 as u32);
            r[rd] = a.checked_div(b).map_or(u64::MAX, |q| sext32(u64::from(q)));
        }
        Op::Remw => {
            let (a, b) = (rs1 as i32, rs2 as i32);
            r[rd] = if b == 0 {
                sext32(rs1)
            } else {
                a.wrapping_rem(b) as i64 as u64
            };
        }
        Op::Remuw => {
            let (a, b) = (rs1 as u32, rs2 as u32);
            r[rd] = sext32(u64::from(if b == 0 { a } else { a % b }));
        }
        Op::LrW | Op::LrD => {
            let size = if op == Op::LrW { 4 } else { 8 };
            mem_try!(Memory::check_aligned(rs1, size, Access::Load));
            let v = if size == 4 {
                mem_try!(c.mem.read_u32(rs1)) as i32 as i64 as u64
            } else {
                mem_try!(c.mem.read_u64(rs1))
            };
            *c.reservation = Some(rs1);
            r[rd] = v;
        }
        Op::ScW | Op::ScD => {
            let size = if op == Op::ScW { 4 } else { 8 };
            mem_try!(Memory::check_aligned(rs1, size, Access::Store));
            let ok = c.reservation.take() == Some(rs1);
            if ok {
                if size == 4 {
                    mem_try!(c.mem.write_u32(rs1, rs2 as u32));
                } else {
                    mem_try!(c.mem.write_u64(rs1, rs2));
                }
                c.after_store();
            }
            r[rd] = u64::from(!ok);
        }
        Op::AmoswapW
        | Op::AmoaddW
        | Op::AmoxorW
        | Op::AmoandW
        | Op::AmoorW
        | Op::AmominW
        | Op::AmomaxW
        | Op::AmominuW
        | Op::AmomaxuW
        | Op::AmoswapD
        | Op::AmoaddD
        | Op::AmoxorD
        | Op::AmoandD
        | Op::AmoorD
        | Op::AmominD
        | Op::AmomaxD
        | Op::AmominuD
        | Op::AmomaxuD => {
            // Word AMOs work on sign-extended values: that keeps both the
            // signed and the unsigned order, and the low 32 bits of every
            // result.
            let word = amo_is_word(op);
            mem_try!(Memory::check_aligned(
                rs1,
                if word { 4 } else { 8 },
                Access::Store
            ));
            mem_try!(c.mem.check(rs1, Access::Store));
            let (old, src) = if word {
                (
                    sext32(u64::from(mem_try!(c.mem.read_u32(rs1)))),
                    sext32(rs2),
                )
            } else {
                (mem_try!(c.mem.read_u64(rs1)), rs2)
            };
            let new = amo_value(op, old, src);
            if word {
                mem_try!(c.mem.write_u32(rs1, new as u32));
            } else {
                mem_try!(c.mem.write_u64(rs1, new));
            }
            c.after_store();
            r[rd] = old;
        }
        // ---- F ----
        Op::FmaddS | Op::FmsubS | Op::FnmsubS | Op::FnmaddS => {
            let rm = rm!(DInst {
                imm: d.imm >> 8,
                ..d
            });
            let rs3 = r[(d.imm & 0xff) as usize];
            let (np, nc) = fma_signs(op);
            let v = fp::fma32(unbox(rs1), unbox(rs2), unbox(rs3), (np, nc), rm, c.fflags);
            r[rd] = nanbox(v);
        }
        Op::FmaddD | Op::FmsubD | Op::FnmsubD | Op::FnmaddD => {
            let rm = rm!(DInst {
                imm: d.imm >> 8,
                ..d
            });
            let rs3 = r[(d.imm & 0xff) as usize];
            let (np, nc) = fma_signs(op);
            r[rd] = fp::fma64(rs1, rs2, rs3, (np, nc), rm, c.fflags);
        }
        Op::FaddS | Op::FsubS | Op::FmulS | Op::FdivS => {
            let rm = rm!(d);
            let v = fp::binop32(binop(op), unbox(rs1), unbox(rs2), rm, c.fflags);
            r[rd] = nanbox(v);
        }
        Op::FaddD | Op::FsubD | Op::FmulD | Op::FdivD => {
            let rm = rm!(d);
            r[rd] = fp::binop64(binop(op), rs1, rs2, rm, c.fflags);
        }
        Op::FsqrtS => {
            let rm = rm!(d);
            r[rd] = nanbox(fp::sqrt32(unbox(rs1), rm, c.fflags));
        }
        Op::FsqrtD => {
            let rm = rm!(d);
            r[rd] = fp::sqrt64(rs1, rm, c.fflags);
        }
        Op::FsgnjS | Op::FsgnjnS | Op::FsgnjxS => {
            let (a, b) = (unbox(rs1), unbox(rs2));
            let sign = match op {
                Op::FsgnjS => b,
                Op::FsgnjnS => !b,
                _ => a ^ b,
            } & 0x8000_0000;
            r[rd] = nanbox((a & 0x7fff_ffff) | sign);
        }
        Op::FsgnjD | Op::FsgnjnD | Op::FsgnjxD => {
            let sign = match op {
                Op::FsgnjD => rs2,
                Op::FsgnjnD => !rs2,
                _ => rs1 ^ rs2,
            } & (1 << 63);
            r[rd] = (rs1 & !(1 << 63)) | sign;
        }
        Op::FminS | Op::FmaxS => {
            let max = op == Op::FmaxS;
            let v = fp::min_max(
                fp::S,
                u64::from(unbox(rs1)),
                u64::from(unbox(rs2)),
                max,
                c.fflags,
            );
            r[rd] = nanbox(v as u32);
        }
        Op::FminD | Op::FmaxD => {
            let max = op == Op::FmaxD;
            r[rd] = fp::min_max(fp::D, rs1, rs2, max, c.fflags);
        }
        Op::FcvtWS | Op::FcvtWuS | Op::FcvtLS | Op::FcvtLuS => {
            let rm = rm!(d);
            let kind = int_kind(op);
            r[rd] = fp::to_int(fp::S, u64::from(unbox(rs1)), kind, rm, c.fflags);
        }
        Op::FcvtWD | Op::FcvtWuD | Op::FcvtLD | Op::FcvtLuD => {
            let rm = rm!(d);
            let kind = int_kind(op);
            r[rd] = fp::to_int(fp::D, rs1, kind, rm, c.fflags);
        }
        Op::FmvXW => r[rd] = rs1 as u32 as i32 as i64 as u64,
        Op::FmvXD => r[rd] = rs1,
        Op::FmvWX => r[rd] = nanbox(rs1 as u32),
        Op::FmvDX => r[rd] = rs1,
        Op::FclassS => r[rd] = fp::classify(fp::S, u64::from(unbox(rs1))),
        Op::FclassD => r[rd] = fp::classify(fp::D, rs1),
        Op::FeqS | Op::FltS | Op::FleS => {
            let kind = cmp_kind(op);
            r[rd] = fp::compare(
                fp::S,
                u64::from(unbox(rs1)),
                u64::from(unbox(rs2)),
                kind,
                c.fflags,
            );
        }
        Op::FeqD | Op::FltD | Op::FleD => {
            let kind = cmp_kind(op);
            r[rd] = fp::compare(fp::D, rs1, rs2, kind, c.fflags);
        }
        Op::FcvtSW | Op::FcvtSWu | Op::FcvtSL | Op::FcvtSLu => {
            let rm = rm!(d);
            let v = int_value(op, rs1);
            r[rd] = nanbox(fp::from_int(fp::S, v, rm, c.fflags) as u32);
        }
        Op::FcvtDW | Op::FcvtDWu | Op::FcvtDL | Op::FcvtDLu => {
            let rm = rm!(d);
            let v = int_value(op, rs1);
            r[rd] = fp::from_int(fp::D, v, rm, c.fflags);
        }
        Op::FcvtSD => {
            let rm = rm!(d);
            let v = fp::convert(fp::D, fp::S, rs1, rm, c.fflags);
            r[rd] = nanbox(v as u32);
        }
        Op::FcvtDS => {
            let rm = rm!(d);
            r[rd] = fp::convert(fp::S, fp::D, u64::from(unbox(rs1)), rm, c.fflags);
        }
        // ---- Zba ----
        Op::Sh1add => r[rd] = (rs1 << 1).wrapping_add(rs2),
        Op::Sh2add => r[rd] = (rs1 << 2).wrapping_add(rs2),
        Op::Sh3add => r[rd] = (rs1 << 3).wrapping_add(rs2),
        Op::AddUw => r[rd] = u64::from(rs1 as u32).wrapping_add(rs2),
        Op::Sh1addUw => r[rd] = (u64::from(rs1 as u32) << 1).wrapping_add(rs2),
        Op::Sh2addUw => r[rd] = (u64::from(rs1 as u32) << 2).wrapping_add(rs2),
        Op::Sh3addUw => r[rd] = (u64::from(rs1 as u32) << 3).wrapping_add(rs2),
        Op::SlliUw => r[rd] = u64::from(rs1 as u32) << (imm & 63),
        // ---- Zbb ----
        Op::Andn => r[rd] = rs1 & !rs2,
        Op::Orn => r[rd] = rs1 | !rs2,
        Op::Xnor => r[rd] = !(rs1 ^ rs2),
        Op::Clz => r[rd] = u64::from(rs1.leading_zeros()),
        Op::Ctz => r[rd] = u64::from(rs1.trailing_zeros()),
        Op::Cpop => r[rd] = u64::from(rs1.count_ones()),
        Op::Clzw => r[rd] = u64::from((rs1 as u32).leading_zeros()),
        Op::Ctzw => r[rd] = u64::from((rs1 as u32).trailing_zeros()),
        Op::Cpopw => r[rd] = u64::from((rs1 as u32).count_ones()),
        Op::Max => r[rd] = (rs1 as i64).max(rs2 as i64) as u64,
        Op::Maxu => r[rd] = rs1.max(rs2),
        Op::Min => r[rd] = (rs1 as i64).min(rs2 as i64) as u64,
        Op::Minu => r[rd] = rs1.min(rs2),
        Op::SextB => r[rd] = rs1 as i8 as i64 as u64,
        Op::SextH => r[rd] = rs1 as i16 as i64 as u64,
        Op::ZextH => r[rd] = u64::from(rs1 as u16),
        Op::Rol => r[rd] = rs1.rotate_left((rs2 & 63) as u32),
        Op::Ror => r[rd] = rs1.rotate_right((rs2 & 63) as u32),
        Op::Rolw => r[rd] = sext32(u64::from((rs1 as u32).rotate_left((rs2 & 31) as u32))),
        Op::Rorw => r[rd] = sext32(u64::from((rs1 as u32).rotate_right((rs2 & 31) as u32))),
        Op::Rori => r[rd] = rs1.rotate_right((imm & 63) as u32),
        Op::Roriw => r[rd] = sext32(u64::from((rs1 as u32).rotate_right((imm & 31) as u32))),
        Op::OrcB => {
            let mut v = 0u64;
            for b in 0..8 {
                if (rs1 >> (b * 8)) & 0xff != 0 {
                    v |= 0xff << (b * 8);
                }
            }
            r[rd] = v;
        }
        Op::Rev8 => r[rd] = rs1.swap_bytes(),
        // ---- Zbs ----
        Op::Bclr => r[rd] = rs1 & !(1 << (rs2 & 63)),
        Op::Bext => r[rd] = (rs1 >> (rs2 & 63)) & 1,
        Op::Binv => r[rd] = rs1 ^ (1 << (rs2 & 63)),
        Op::Bset => r[rd] = rs1 | (1 << (rs2 & 63)),
        Op::Bclri => r[rd] = rs1 & !(1 << (imm & 63)),
        Op::Bexti => r[rd] = (rs1 >> (imm & 63)) & 1,
        Op::Binvi => r[rd] = rs1 ^ (1 << (imm & 63)),
        Op::Bseti => r[rd] = rs1 | (1 << (imm & 63)),
        // ---- Zicond ----
        Op::CzeroEqz => r[rd] = if rs2 == 0 { 0 } else { rs1 },
        Op::CzeroNez => r[rd] = if rs2 != 0 { 0 } else { rs1 },
    }
    Ctl::Next
}

#[inline(always)]
fn sext32(v: u64) -> u64 {
    v as i32 as i64 as u64
}

/// Whether an AMO works on 32-bit words (funct3 2; doublewords are 3).
fn amo_is_word(op: Op) -> bool {
    (op.desc().bits >> 12) & 7 == 2
}

/// The value an AMO stores, from the old value and the source register.
fn amo_value(op: Op, a: u64, b: u64) -> u64 {
    match op {
        Op::AmoswapW | Op::AmoswapD => b,
        Op::AmoaddW | Op::AmoaddD => a.wrapping_add(b),
        Op::AmoxorW | Op::AmoxorD => a ^ b,
        Op::AmoandW | Op::AmoandD => a & b,
        Op::AmoorW | Op::AmoorD => a | b,
        Op::AmominW | Op::AmominD => (a as i64).min(b as i64) as u64,
        Op::AmomaxW | Op::AmomaxD => (a as i64).max(b as i64) as u64,
        Op::AmominuW | Op::AmominuD => a.min(b),
        _ => a.max(b),
    }
}

fn fma_signs(op: Op) -> (bool, bool) {
    match op {
        Op::FmaddS | Op::FmaddD => (false, false),
        Op::FmsubS | Op::FmsubD => (false, true),
        Op::FnmsubS | Op::FnmsubD => (true, false),
        _ => (true, true),
    }
}

fn binop(op: Op) -> BinOp {
    match op {
        Op::FaddS | Op::FaddD => BinOp::Add,
        Op::FsubS | Op::FsubD => BinOp::Sub,
        Op::FmulS | Op::FmulD => BinOp::Mul,
        _ => BinOp::Div,
    }
}

fn int_kind(op: Op) -> IntKind {
    match op {
        Op::FcvtWS | Op::FcvtWD => IntKind::W,
        Op::FcvtWuS | Op::FcvtWuD => IntKind::Wu,
        Op::FcvtLS | Op::FcvtLD => IntKind::L,
        _ => IntKind::Lu,
    }
}

fn int_value(op: Op, v: u64) -> i128 {
    match op {
        Op::FcvtSW | Op::FcvtDW => i128::from(v as i32),
        Op::FcvtSWu | Op::FcvtDWu => i128::from(v as u32),
        Op::FcvtSL | Op::FcvtDL => i128::from(v as i64),
        _ => i128::from(v),
    }
}

fn cmp_kind(op: Op) -> Cmp {
    match op {
        Op::FeqS | Op::FeqD => Cmp::Eq,
        Op::FltS | Op::FltD => Cmp::Lt,
        _ => Cmp::Le,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Perm;

    /// Assembles 32-bit words at 0x10000 and runs them until ecall, with
    /// both dispatch strategies, which must agree.
    fn run_words(words: &[u32], setup: impl Fn(&mut Hart)) -> (Hart, Memory, Exit) {
        let run = |dispatch| {
            let mut mem = Memory::new();
            mem.map(0x10000, 0x1000, Perm::RX);
            mem.map(0x20000, 0x1000, Perm::RW);
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            mem.poke(0x10000, &bytes).unwrap();
            let mut hart = Hart::new();
            hart.pc = 0x10000;
            setup(&mut hart);
            let mut code = CodeCache::new();
            code.set_dispatch(dispatch);
            let exit = code.run(&mut hart, &mut mem, 1_000_000);
            (hart, mem, exit)
        };
        let threaded = run(Dispatch::Threaded);
        let looped = run(Dispatch::Loop);
        assert_eq!(threaded.2, looped.2);
        assert_eq!(threaded.0.regs, looped.0.regs);
        assert_eq!(
            (threaded.0.pc, threaded.0.instret),
            (looped.0.pc, looped.0.instret)
        );
        threaded
    }

    #[test]
    fn loop_and_ecall() {
        // a0 = 0; a1 = 10; loop: a0 += a1; a1 -= 1; bnez a1, loop; ecall
        let (h, _, exit) = run_words(
            &[
                0x0000_0513, // li a0, 0
                0x00a0_0593, // li a1, 10
                0x00b5_0533, // add a0, a0, a1
                0xfff5_8593, // addi a1, a1, -1
                0xfe05_9ce3, // bnez a1, -8
                0x0000_0073, // ecall
            ],
            |_| {},
        );
        assert_eq!(exit, Exit::Ecall);
        assert_eq!(h.x(10), 55);
        assert_eq!(h.pc, 0x10018);
        assert_eq!(h.instret, 2 + 10 * 3 + 1);
    }

    #[test]
    fn x0_stays_zero_and_faults_report_pc() {
        let (h, _, exit) = run_words(
            &[
                0x0010_0013, // addi zero, zero, 1
                0x0000_3003, // ld zero, 0(zero) -> fault at address 0
            ],
            |_| {},
        );
        assert_eq!(h.x(0), 0);
        assert_eq!(h.pc, 0x10004);
        assert_eq!(h.instret, 1);
        match exit {
            Exit::Fault(f) => assert_eq!((f.addr, f.access), (0, Access::Load)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fused_pair_faulting_in_its_second_half() {
        // addi a0, a0, 1; ld a1, 0(zero): a fused pair whose load faults
        assert!(pair_handler(Op::Addi as u8, Op::Ld as u8).is_some());
        let (h, _, exit) = run_words(&[0x0015_0513, 0x0000_3583], |h| h.set_x(10, 41));
        assert!(matches!(exit, Exit::Fault(f) if f.addr == 0), "{exit:?}");
        assert_eq!(h.x(10), 42, "the first half retired");
        assert_eq!(h.pc, 0x10004, "pc at the load");
        assert_eq!(h.instret, 1);
    }

    #[test]
    fn pair_with_a_loop_code_faulting_in_its_second_half() {
        // add a0, a0, a1; ld a1, 0(zero): one of the pairs the loop
        // dispatch fuses too
        let k = PAIRS.iter().position(|&p| p == (Op::Add, Op::Ld)).unwrap();
        assert!(k < usize::from(END_OF_BLOCK - PAIR_CODE));
        let (h, _, exit) = run_words(&[0x00b5_0533, 0x0000_3583], |h| {
            h.set_x(10, 40);
            h.set_x(11, 2);
        });
        assert!(matches!(exit, Exit::Fault(f) if f.addr == 0), "{exit:?}");
        assert_eq!((h.x(10), h.pc, h.instret), (42, 0x10004, 1));
    }

    #[test]
    fn odd_pc_is_a_misaligned_fetch() {
        let mut mem = Memory::new();
        mem.map(0x10000, 0x1000, Perm::RX);
        let mut hart = Hart::new();
        hart.pc = 0x10001;
        let exit = CodeCache::new().run(&mut hart, &mut mem, 100);
        assert!(
            matches!(exit, Exit::Fault(f) if f.addr == 0x10001
                && f.access == Access::Fetch
                && f.cause == crate::memory::FaultCause::Misaligned),
            "{exit:?}"
        );
    }

    #[test]
    fn illegal_instruction_is_reported() {
        let (h, _, exit) = run_words(&[0x0000_0013, 0xffff_ffff], |_| {});
        assert_eq!(exit, Exit::Illegal(0xffff_ffff));
        assert_eq!(h.pc, 0x10004);
    }

    #[test]
    fn self_modifying_code_after_fence_i() {
        // sw t1, 8(t0); fence.i; <patched>; ecall
        let (h, _, exit) = run_words(
            &[
                0x0062_a423, // sw t1, 8(t0)
                0x0000_100f, // fence.i
                0x0000_0013, // nop, replaced by "li a0, 42"
                0x0000_0073, // ecall
            ],
            |h| {
                h.set_x(5, 0x10000);
                h.set_x(6, 0x02a0_0513);
            },
        );
        // The code page is read-only here, so the store faults; make it
        // writable and retry.
        assert!(matches!(exit, Exit::Fault(_)), "{exit:?}");
        let _ = h;
        let mut mem = Memory::new();
        mem.map(0x10000, 0x1000, Perm::RWX);
        let words = [0x0062_a423u32, 0x0000_100f, 0x0000_0013, 0x0000_0073];
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        mem.poke(0x10000, &bytes).unwrap();
        let mut hart = Hart::new();
        hart.pc = 0x10000;
        hart.set_x(5, 0x10000);
        hart.set_x(6, 0x02a0_0513);
        let mut code = CodeCache::new();
        // Decode everything first, then let the program patch itself.
        assert_eq!(code.run(&mut hart, &mut mem, 1000), Exit::Ecall);
        assert_eq!(hart.x(10), 42);
    }
}
