//! The interpreter: decoded-block cache and dispatch loop.
//!
//! Code is decoded once into blocks of pre-decoded instructions (8 bytes
//! each: the table's [`Op`], three register indices and an immediate). A
//! block ends at a control transfer, an `ecall`/`ebreak`/`fence.i`, an
//! illegal encoding or the end of its page. The budget is charged once per
//! block. Blocks are found through a direct-mapped cache in front of a hash
//! map, and dropped all together on `fence.i` or when a store hits a page
//! that holds decoded code.

use crate::fp::{self, BinOp, Cmp, IntKind};
use crate::hart::{Exit, F0, Hart, SINK};
use crate::memory::{Access, MemFault, Memory, PAGE_SIZE};
use friscy_isa::decode::RM_DYN;
use friscy_isa::{Format, Inst, Op, decode};
use std::collections::HashMap;

/// A pre-decoded instruction.
///
/// Register fields index [`Hart::regs`] (floating-point registers are
/// offset by 32; an integer destination of `x0` is [`SINK`]). `imm` holds:
/// the immediate; for branches, `jal` and `auipc` the target or value as an
/// offset from the block's start; for FP ops the rounding mode (FMA: `rs3 |
/// rm << 8`); for CSR ops the CSR number.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(8))]
pub struct DInst {
    pub op: Op,
    pub rd: u8,
    pub rs1: u8,
    pub rs2: u8,
    pub imm: i32,
}

struct Block {
    pc: u64,
    /// Address after the last instruction.
    end: u64,
    insts: Box<[DInst]>,
    /// Byte offset of each instruction from `pc`.
    offs: Box<[u16]>,
}

const CACHE_BITS: u32 = 12;
const CACHE_SIZE: usize = 1 << CACHE_BITS;

/// The decoded code of one address space.
pub struct CodeCache {
    blocks: Vec<Block>,
    map: HashMap<u64, u32>,
    fast: Box<[(u64, u32); CACHE_SIZE]>,
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

/// Outcome of one block.
enum Flow {
    Next(u64),
    Stop(Exit),
}

impl CodeCache {
    pub fn new() -> CodeCache {
        CodeCache {
            blocks: Vec::new(),
            map: HashMap::new(),
            fast: Box::new([(u64::MAX, 0); CACHE_SIZE]),
        }
    }

    /// Drops every decoded block.
    pub fn flush(&mut self) {
        self.blocks.clear();
        self.map.clear();
        self.fast.fill((u64::MAX, 0));
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
                self.blocks.push(block);
                self.map.insert(pc, i);
                i
            }
        };
        self.fast[slot(pc)] = (pc, idx);
        Ok(idx)
    }

    /// Runs `hart` for about `budget` instructions (whole blocks).
    pub fn run(&mut self, hart: &mut Hart, mem: &mut Memory, budget: u64) -> Exit {
        let mut pc = hart.pc;
        let mut left = budget as i64;
        loop {
            if left <= 0 {
                hart.pc = pc;
                return Exit::Budget;
            }
            let bi = match self.find(pc, mem) {
                Ok(b) => b,
                Err(exit) => {
                    hart.pc = pc;
                    return exit;
                }
            };
            let block = &self.blocks[bi as usize];
            let n = block.insts.len();
            left -= n as i64;
            hart.instret += n as u64;
            let flow = exec_block(hart, mem, block);
            if mem.take_code_dirty() {
                self.flush();
                mem.clear_code_pages();
            }
            match flow {
                Flow::Next(next) => pc = next,
                Flow::Stop(exit) => return exit,
            }
        }
    }
}

/// Whether an instruction ends its block.
fn ends_block(op: Op) -> bool {
    matches!(
        op,
        Op::Jal
            | Op::Jalr
            | Op::Beq
            | Op::Bne
            | Op::Blt
            | Op::Bge
            | Op::Bltu
            | Op::Bgeu
            | Op::Ecall
            | Op::Ebreak
            | Op::FenceI
    )
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
        if ends_block(inst.op) || cur >= page_end {
            break;
        }
    }
    Ok(Block {
        pc,
        end: cur,
        insts: insts.into_boxed_slice(),
        offs: offs.into_boxed_slice(),
    })
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
        op: i.op,
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

/// CSR numbers reachable from user mode.
const CSR_FFLAGS: u32 = 0x001;
const CSR_FRM: u32 = 0x002;
const CSR_FCSR: u32 = 0x003;
const CSR_CYCLE: u32 = 0xc00;
const CSR_TIME: u32 = 0xc01;
const CSR_INSTRET: u32 = 0xc02;

/// Executes a CSR instruction; returns None if it is illegal.
fn csr_op(hart: &mut Hart, d: &DInst, instret_now: u64) -> Option<u64> {
    let csr = (d.imm as u32) & 0xfff;
    let (src, writes) = match d.op {
        Op::Csrrw => (hart.regs[d.rs1 as usize], true),
        Op::Csrrs | Op::Csrrc => (hart.regs[d.rs1 as usize], d.rs1 != 0),
        Op::Csrrwi => (u64::from(d.rs1), true),
        _ => (u64::from(d.rs1), d.rs1 != 0),
    };
    let old = match csr {
        CSR_FFLAGS => u64::from(hart.fflags),
        CSR_FRM => u64::from(hart.frm),
        CSR_FCSR => u64::from(hart.fcsr()),
        // Linux user space reads these; time counts retired instructions
        // here too (the kernel offers real clocks through system calls).
        CSR_CYCLE | CSR_TIME | CSR_INSTRET => {
            if writes {
                return None;
            }
            instret_now
        }
        _ => return None,
    };
    if writes {
        let new = match d.op {
            Op::Csrrw | Op::Csrrwi => src,
            Op::Csrrs | Op::Csrrsi => old | src,
            _ => old & !src,
        };
        match csr {
            CSR_FFLAGS => hart.fflags = (new & 0x1f) as u8,
            CSR_FRM => hart.frm = (new & 7) as u8,
            _ => {
                hart.fflags = (new & 0x1f) as u8;
                hart.frm = ((new >> 5) & 7) as u8;
            }
        }
    }
    Some(old)
}

#[inline(always)]
fn rounding(hart: &Hart, rm: i32) -> Option<u8> {
    let rm = (rm & 7) as u8;
    let rm = if rm == RM_DYN { hart.frm } else { rm };
    (rm <= fp::RMM).then_some(rm)
}

/// Executes one block. On a fault or trap, sets `hart.pc` and un-counts the
/// instructions that did not retire.
#[inline(always)]
fn exec_block(hart: &mut Hart, mem: &mut Memory, block: &Block) -> Flow {
    let base = block.pc;
    let insts = &block.insts;
    let n = insts.len();
    let mut i = 0;
    // Stops at instruction `i` of the block: `pc` there, `i` retired.
    macro_rules! stop {
        ($exit:expr) => {{
            hart.pc = base + u64::from(block.offs[i]);
            hart.instret -= (n - i) as u64;
            return Flow::Stop($exit);
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
            match rounding(hart, $d.imm) {
                Some(rm) => rm,
                None => {
                    let raw = raw_at(base + u64::from(block.offs[i]), mem).unwrap_or(0);
                    stop!(Exit::Illegal(raw))
                }
            }
        };
    }
    while i < n {
        let d = insts[i];
        let r = &mut hart.regs;
        let rs1 = r[d.rs1 as usize];
        let rs2 = r[d.rs2 as usize];
        let imm = d.imm as i64 as u64;
        let rd = d.rd as usize;
        match d.op {
            Op::Lui => r[rd] = imm,
            Op::Auipc => r[rd] = base.wrapping_add(imm),
            Op::Jal => {
                r[rd] = block.end;
                return Flow::Next(base.wrapping_add(imm));
            }
            Op::Jalr => {
                let target = rs1.wrapping_add(imm) & !1;
                r[rd] = block.end;
                return Flow::Next(target);
            }
            Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu => {
                let taken = match d.op {
                    Op::Beq => rs1 == rs2,
                    Op::Bne => rs1 != rs2,
                    Op::Blt => (rs1 as i64) < (rs2 as i64),
                    Op::Bge => (rs1 as i64) >= (rs2 as i64),
                    Op::Bltu => rs1 < rs2,
                    _ => rs1 >= rs2,
                };
                return Flow::Next(if taken {
                    base.wrapping_add(imm)
                } else {
                    block.end
                });
            }
            Op::Lb => r[rd] = mem_try!(mem.read_u8(rs1.wrapping_add(imm))) as i8 as i64 as u64,
            Op::Lh => r[rd] = mem_try!(mem.read_u16(rs1.wrapping_add(imm))) as i16 as i64 as u64,
            Op::Lw => r[rd] = mem_try!(mem.read_u32(rs1.wrapping_add(imm))) as i32 as i64 as u64,
            Op::Ld => r[rd] = mem_try!(mem.read_u64(rs1.wrapping_add(imm))),
            Op::Lbu => r[rd] = u64::from(mem_try!(mem.read_u8(rs1.wrapping_add(imm)))),
            Op::Lhu => r[rd] = u64::from(mem_try!(mem.read_u16(rs1.wrapping_add(imm)))),
            Op::Lwu => r[rd] = u64::from(mem_try!(mem.read_u32(rs1.wrapping_add(imm)))),
            Op::Sb => mem_try!(mem.write_u8(rs1.wrapping_add(imm), rs2 as u8)),
            Op::Sh => mem_try!(mem.write_u16(rs1.wrapping_add(imm), rs2 as u16)),
            Op::Sw => mem_try!(mem.write_u32(rs1.wrapping_add(imm), rs2 as u32)),
            Op::Sd => mem_try!(mem.write_u64(rs1.wrapping_add(imm), rs2)),
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
                hart.pc = block.end;
                mem.mark_code_dirty();
                return Flow::Next(block.end);
            }
            Op::Ecall => {
                hart.pc = block.end;
                return Flow::Stop(Exit::Ecall);
            }
            Op::Ebreak => stop!(Exit::Ebreak),
            Op::Csrrw | Op::Csrrs | Op::Csrrc | Op::Csrrwi | Op::Csrrsi | Op::Csrrci => {
                let now = hart.instret - (n - i) as u64;
                match csr_op(hart, &d, now) {
                    Some(v) => hart.regs[rd] = v,
                    None => {
                        let raw = raw_at(base + u64::from(block.offs[i]), mem).unwrap_or(0);
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
                let size = if d.op == Op::LrW { 4 } else { 8 };
                mem_try!(Memory::check_aligned(rs1, size, Access::Load));
                let v = if size == 4 {
                    mem_try!(mem.read_u32(rs1)) as i32 as i64 as u64
                } else {
                    mem_try!(mem.read_u64(rs1))
                };
                hart.reservation = Some(rs1);
                hart.regs[rd] = v;
            }
            Op::ScW | Op::ScD => {
                let size = if d.op == Op::ScW { 4 } else { 8 };
                mem_try!(Memory::check_aligned(rs1, size, Access::Store));
                let ok = hart.reservation.take() == Some(rs1);
                if ok {
                    if size == 4 {
                        mem_try!(mem.write_u32(rs1, rs2 as u32));
                    } else {
                        mem_try!(mem.write_u64(rs1, rs2));
                    }
                }
                hart.regs[rd] = u64::from(!ok);
            }
            Op::AmoswapW
            | Op::AmoaddW
            | Op::AmoxorW
            | Op::AmoandW
            | Op::AmoorW
            | Op::AmominW
            | Op::AmomaxW
            | Op::AmominuW
            | Op::AmomaxuW => {
                mem_try!(Memory::check_aligned(rs1, 4, Access::Store));
                mem_try!(mem.check(rs1, Access::Store));
                let old = mem_try!(mem.read_u32(rs1));
                let (a, b) = (old, rs2 as u32);
                let new = match d.op {
                    Op::AmoswapW => b,
                    Op::AmoaddW => a.wrapping_add(b),
                    Op::AmoxorW => a ^ b,
                    Op::AmoandW => a & b,
                    Op::AmoorW => a | b,
                    Op::AmominW => (a as i32).min(b as i32) as u32,
                    Op::AmomaxW => (a as i32).max(b as i32) as u32,
                    Op::AmominuW => a.min(b),
                    _ => a.max(b),
                };
                mem_try!(mem.write_u32(rs1, new));
                hart.regs[rd] = old as i32 as i64 as u64;
            }
            Op::AmoswapD
            | Op::AmoaddD
            | Op::AmoxorD
            | Op::AmoandD
            | Op::AmoorD
            | Op::AmominD
            | Op::AmomaxD
            | Op::AmominuD
            | Op::AmomaxuD => {
                mem_try!(Memory::check_aligned(rs1, 8, Access::Store));
                mem_try!(mem.check(rs1, Access::Store));
                let old = mem_try!(mem.read_u64(rs1));
                let (a, b) = (old, rs2);
                let new = match d.op {
                    Op::AmoswapD => b,
                    Op::AmoaddD => a.wrapping_add(b),
                    Op::AmoxorD => a ^ b,
                    Op::AmoandD => a & b,
                    Op::AmoorD => a | b,
                    Op::AmominD => (a as i64).min(b as i64) as u64,
                    Op::AmomaxD => (a as i64).max(b as i64) as u64,
                    Op::AmominuD => a.min(b),
                    _ => a.max(b),
                };
                mem_try!(mem.write_u64(rs1, new));
                hart.regs[rd] = old;
            }
            // ---- F ----
            Op::Flw => {
                let v = mem_try!(mem.read_u32(rs1.wrapping_add(imm)));
                hart.regs[rd] = nanbox(v);
            }
            Op::Fsw => mem_try!(mem.write_u32(rs1.wrapping_add(imm), rs2 as u32)),
            Op::Fld => hart.regs[rd] = mem_try!(mem.read_u64(rs1.wrapping_add(imm))),
            Op::Fsd => mem_try!(mem.write_u64(rs1.wrapping_add(imm), rs2)),
            Op::FmaddS | Op::FmsubS | Op::FnmsubS | Op::FnmaddS => {
                let rm = rm!(DInst {
                    imm: d.imm >> 8,
                    ..d
                });
                let rs3 = hart.regs[(d.imm & 0xff) as usize];
                let (np, nc) = fma_signs(d.op);
                let v = fp::fma32(
                    unbox(rs1),
                    unbox(rs2),
                    unbox(rs3),
                    (np, nc),
                    rm,
                    &mut hart.fflags,
                );
                hart.regs[rd] = nanbox(v);
            }
            Op::FmaddD | Op::FmsubD | Op::FnmsubD | Op::FnmaddD => {
                let rm = rm!(DInst {
                    imm: d.imm >> 8,
                    ..d
                });
                let rs3 = hart.regs[(d.imm & 0xff) as usize];
                let (np, nc) = fma_signs(d.op);
                hart.regs[rd] = fp::fma64(rs1, rs2, rs3, (np, nc), rm, &mut hart.fflags);
            }
            Op::FaddS | Op::FsubS | Op::FmulS | Op::FdivS => {
                let rm = rm!(d);
                let v = fp::binop32(binop(d.op), unbox(rs1), unbox(rs2), rm, &mut hart.fflags);
                hart.regs[rd] = nanbox(v);
            }
            Op::FaddD | Op::FsubD | Op::FmulD | Op::FdivD => {
                let rm = rm!(d);
                hart.regs[rd] = fp::binop64(binop(d.op), rs1, rs2, rm, &mut hart.fflags);
            }
            Op::FsqrtS => {
                let rm = rm!(d);
                hart.regs[rd] = nanbox(fp::sqrt32(unbox(rs1), rm, &mut hart.fflags));
            }
            Op::FsqrtD => {
                let rm = rm!(d);
                hart.regs[rd] = fp::sqrt64(rs1, rm, &mut hart.fflags);
            }
            Op::FsgnjS | Op::FsgnjnS | Op::FsgnjxS => {
                let (a, b) = (unbox(rs1), unbox(rs2));
                let sign = match d.op {
                    Op::FsgnjS => b,
                    Op::FsgnjnS => !b,
                    _ => a ^ b,
                } & 0x8000_0000;
                r[rd] = nanbox((a & 0x7fff_ffff) | sign);
            }
            Op::FsgnjD | Op::FsgnjnD | Op::FsgnjxD => {
                let sign = match d.op {
                    Op::FsgnjD => rs2,
                    Op::FsgnjnD => !rs2,
                    _ => rs1 ^ rs2,
                } & (1 << 63);
                r[rd] = (rs1 & !(1 << 63)) | sign;
            }
            Op::FminS | Op::FmaxS => {
                let max = d.op == Op::FmaxS;
                let v = fp::min_max(
                    fp::S,
                    u64::from(unbox(rs1)),
                    u64::from(unbox(rs2)),
                    max,
                    &mut hart.fflags,
                );
                hart.regs[rd] = nanbox(v as u32);
            }
            Op::FminD | Op::FmaxD => {
                let max = d.op == Op::FmaxD;
                hart.regs[rd] = fp::min_max(fp::D, rs1, rs2, max, &mut hart.fflags);
            }
            Op::FcvtWS | Op::FcvtWuS | Op::FcvtLS | Op::FcvtLuS => {
                let rm = rm!(d);
                let kind = int_kind(d.op);
                hart.regs[rd] =
                    fp::to_int(fp::S, u64::from(unbox(rs1)), kind, rm, &mut hart.fflags);
            }
            Op::FcvtWD | Op::FcvtWuD | Op::FcvtLD | Op::FcvtLuD => {
                let rm = rm!(d);
                let kind = int_kind(d.op);
                hart.regs[rd] = fp::to_int(fp::D, rs1, kind, rm, &mut hart.fflags);
            }
            Op::FmvXW => r[rd] = rs1 as u32 as i32 as i64 as u64,
            Op::FmvXD => r[rd] = rs1,
            Op::FmvWX => r[rd] = nanbox(rs1 as u32),
            Op::FmvDX => r[rd] = rs1,
            Op::FclassS => r[rd] = fp::classify(fp::S, u64::from(unbox(rs1))),
            Op::FclassD => r[rd] = fp::classify(fp::D, rs1),
            Op::FeqS | Op::FltS | Op::FleS => {
                let c = cmp_kind(d.op);
                hart.regs[rd] = fp::compare(
                    fp::S,
                    u64::from(unbox(rs1)),
                    u64::from(unbox(rs2)),
                    c,
                    &mut hart.fflags,
                );
            }
            Op::FeqD | Op::FltD | Op::FleD => {
                let c = cmp_kind(d.op);
                hart.regs[rd] = fp::compare(fp::D, rs1, rs2, c, &mut hart.fflags);
            }
            Op::FcvtSW | Op::FcvtSWu | Op::FcvtSL | Op::FcvtSLu => {
                let rm = rm!(d);
                let v = int_value(d.op, rs1);
                hart.regs[rd] = nanbox(fp::from_int(fp::S, v, rm, &mut hart.fflags) as u32);
            }
            Op::FcvtDW | Op::FcvtDWu | Op::FcvtDL | Op::FcvtDLu => {
                let rm = rm!(d);
                let v = int_value(d.op, rs1);
                hart.regs[rd] = fp::from_int(fp::D, v, rm, &mut hart.fflags);
            }
            Op::FcvtSD => {
                let rm = rm!(d);
                let v = fp::convert(fp::D, fp::S, rs1, rm, &mut hart.fflags);
                hart.regs[rd] = nanbox(v as u32);
            }
            Op::FcvtDS => {
                let rm = rm!(d);
                hart.regs[rd] =
                    fp::convert(fp::S, fp::D, u64::from(unbox(rs1)), rm, &mut hart.fflags);
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
        i += 1;
    }
    Flow::Next(block.end)
}

#[inline(always)]
fn sext32(v: u64) -> u64 {
    v as i32 as i64 as u64
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

    /// Assembles 32-bit words at 0x10000 and runs them until ecall.
    fn run_words(words: &[u32], setup: impl FnOnce(&mut Hart)) -> (Hart, Memory, Exit) {
        let mut mem = Memory::new();
        mem.map(0x10000, 0x1000, Perm::RX);
        mem.map(0x20000, 0x1000, Perm::RW);
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        mem.poke(0x10000, &bytes).unwrap();
        let mut hart = Hart::new();
        hart.pc = 0x10000;
        setup(&mut hart);
        let mut code = CodeCache::new();
        let exit = code.run(&mut hart, &mut mem, 1_000_000);
        (hart, mem, exit)
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
