//! Decoding: 16- and 32-bit encodings to [`Inst`], driven by the table.

use crate::compressed::{self, COp};
use crate::table::{Format, Op, TABLE};
use std::sync::OnceLock;

/// A decoded instruction: the table's [`Op`] and its operands, with
/// immediates already sign-extended and scaled.
///
/// Compressed instructions decode to the 32-bit instruction they expand to;
/// `compressed` keeps which compressed form it was (for the disassembler).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inst {
    pub op: Op,
    pub rd: u8,
    pub rs1: u8,
    pub rs2: u8,
    pub rs3: u8,
    /// Rounding mode field (F/D), or the aq/rl bits (A: aq = 2, rl = 1).
    pub rm: u8,
    /// The immediate: sign-extended offset or value; the shift amount for
    /// shifts; the CSR number for CSR instructions (with the 5-bit
    /// immediate of `csrr*i` in `rs1`); `pred << 4 | succ` (and fm in bits
    /// 8..12) for fence. For `lui`/`auipc` it is already shifted left by 12.
    pub imm: i64,
    /// Encoding length in bytes: 2 or 4.
    pub len: u8,
    pub compressed: Option<COp>,
}

/// Why an encoding is not an instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// No instruction has this encoding (or it is reserved).
    Illegal,
}

/// Rounding modes 5 and 6 are reserved; 7 is "dynamic" (use frm).
pub const RM_DYN: u8 = 7;
/// Round to nearest, ties to even.
pub const RM_RNE: u8 = 0;
/// Round towards zero.
pub const RM_RTZ: u8 = 1;
/// The inexact flag (NX) of `fflags`.
pub const FFLAG_NX: u8 = 1;
/// `fcsr` is `frm << FRM_SHIFT | fflags`: the bits each holds.
pub const FFLAGS_MASK: u8 = 0x1f;
pub const FRM_MASK: u8 = 7;
pub const FRM_SHIFT: u32 = 5;

/// The CSRs a user program can reach.
pub const CSR_FFLAGS: u16 = 0x001;
pub const CSR_FRM: u16 = 0x002;
pub const CSR_FCSR: u16 = 0x003;
pub const CSR_CYCLE: u16 = 0xc00;
pub const CSR_TIME: u16 = 0xc01;
pub const CSR_INSTRET: u16 = 0xc02;

#[inline]
fn bits(x: u32, hi: u32, lo: u32) -> u32 {
    (x >> lo) & ((1u32 << (hi - lo + 1)) - 1)
}

#[inline]
fn sext(value: u64, width: u32) -> i64 {
    let shift = 64 - width;
    ((value << shift) as i64) >> shift
}

/// Length in bytes of the instruction whose first halfword is `low16`:
/// 2 for compressed, 4 for 32-bit; longer encodings are not supported.
pub fn length(low16: u16) -> Option<u8> {
    if low16 & 3 != 3 {
        Some(2)
    } else if low16 & 0x1c != 0x1c {
        Some(4)
    } else {
        None
    }
}

fn index() -> &'static [Vec<Op>; 32] {
    static INDEX: OnceLock<[Vec<Op>; 32]> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut idx: [Vec<Op>; 32] = Default::default();
        for d in TABLE {
            idx[((d.bits >> 2) & 0x1f) as usize].push(d.op);
        }
        idx
    })
}

/// Finds the table row of a 32-bit encoding.
pub fn lookup(raw: u32) -> Option<Op> {
    if raw & 3 != 3 {
        return None;
    }
    index()[((raw >> 2) & 0x1f) as usize]
        .iter()
        .copied()
        .find(|op| raw & op.desc().mask == op.desc().bits)
}

/// Decodes one 32-bit instruction.
pub fn decode32(raw: u32) -> Result<Inst, DecodeError> {
    let op = lookup(raw).ok_or(DecodeError::Illegal)?;
    let rd = bits(raw, 11, 7) as u8;
    let rs1 = bits(raw, 19, 15) as u8;
    let rs2 = bits(raw, 24, 20) as u8;
    let rs3 = bits(raw, 31, 27) as u8;
    let funct3 = bits(raw, 14, 12) as u8;
    let i_imm = sext(u64::from(raw >> 20), 12);
    let s_imm = sext(u64::from((bits(raw, 31, 25) << 5) | bits(raw, 11, 7)), 12);
    let mut inst = Inst {
        op,
        rd: 0,
        rs1: 0,
        rs2: 0,
        rs3: 0,
        rm: 0,
        imm: 0,
        len: 4,
        compressed: None,
    };
    let rm_ok = |rm: u8| rm != 5 && rm != 6;
    match op.format() {
        Format::R | Format::FRn | Format::FCmp => {
            inst.rd = rd;
            inst.rs1 = rs1;
            inst.rs2 = rs2;
        }
        Format::Unary | Format::FMvXF | Format::FMvFX => {
            inst.rd = rd;
            inst.rs1 = rs1;
        }
        Format::I | Format::Load | Format::Jalr | Format::FLoad => {
            inst.rd = rd;
            inst.rs1 = rs1;
            inst.imm = i_imm;
        }
        Format::ShiftI => {
            inst.rd = rd;
            inst.rs1 = rs1;
            inst.imm = i64::from(bits(raw, 25, 20));
        }
        Format::ShiftIW => {
            inst.rd = rd;
            inst.rs1 = rs1;
            inst.imm = i64::from(bits(raw, 24, 20));
        }
        Format::Store | Format::FStore => {
            inst.rs1 = rs1;
            inst.rs2 = rs2;
            inst.imm = s_imm;
        }
        Format::Branch => {
            inst.rs1 = rs1;
            inst.rs2 = rs2;
            let imm = (bits(raw, 31, 31) << 12)
                | (bits(raw, 7, 7) << 11)
                | (bits(raw, 30, 25) << 5)
                | (bits(raw, 11, 8) << 1);
            inst.imm = sext(u64::from(imm), 13);
        }
        Format::U => {
            inst.rd = rd;
            inst.imm = i64::from((raw & 0xffff_f000) as i32);
        }
        Format::J => {
            inst.rd = rd;
            let imm = (bits(raw, 31, 31) << 20)
                | (bits(raw, 19, 12) << 12)
                | (bits(raw, 20, 20) << 11)
                | (bits(raw, 30, 21) << 1);
            inst.imm = sext(u64::from(imm), 21);
        }
        Format::Fence => {
            inst.rd = rd;
            inst.rs1 = rs1;
            inst.imm = i64::from(bits(raw, 31, 20));
        }
        Format::None => {}
        Format::Csr | Format::CsrI => {
            inst.rd = rd;
            inst.rs1 = rs1;
            inst.imm = i64::from(raw >> 20);
        }
        Format::Amo | Format::Lr => {
            inst.rd = rd;
            inst.rs1 = rs1;
            inst.rs2 = rs2;
            inst.rm = bits(raw, 26, 25) as u8;
        }
        Format::FR => {
            inst.rd = rd;
            inst.rs1 = rs1;
            inst.rs2 = rs2;
            inst.rm = funct3;
        }
        Format::FR4 => {
            inst.rd = rd;
            inst.rs1 = rs1;
            inst.rs2 = rs2;
            inst.rs3 = rs3;
            inst.rm = funct3;
        }
        Format::FUnaryFF | Format::FUnaryXF | Format::FUnaryFX => {
            inst.rd = rd;
            inst.rs1 = rs1;
            inst.rm = funct3;
        }
    }
    let has_rm = matches!(
        op.format(),
        Format::FR | Format::FR4 | Format::FUnaryFF | Format::FUnaryXF | Format::FUnaryFX
    );
    if has_rm && !rm_ok(inst.rm) {
        return Err(DecodeError::Illegal);
    }
    Ok(inst)
}

/// Decodes one instruction from its first 32 bits (little-endian order; for
/// a compressed instruction only the low 16 bits are used).
pub fn decode(raw: u32) -> Result<Inst, DecodeError> {
    match length(raw as u16) {
        Some(2) => compressed::decode16(raw as u16),
        Some(4) => decode32(raw),
        _ => Err(DecodeError::Illegal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_common_encodings() {
        // addi a0, a1, -1
        let i = decode(0xfff5_8513).unwrap();
        assert_eq!((i.op, i.rd, i.rs1, i.imm, i.len), (Op::Addi, 10, 11, -1, 4));
        // lui a5, 0x80000 (sign-extends)
        let i = decode(0x8000_07b7).unwrap();
        assert_eq!((i.op, i.rd, i.imm), (Op::Lui, 15, -0x8000_0000));
        // jal ra, -4
        let i = decode(0xffdf_f0ef).unwrap();
        assert_eq!((i.op, i.rd, i.imm), (Op::Jal, 1, -4));
        // bne a0, zero, +8
        let i = decode(0x0005_1463).unwrap();
        assert_eq!((i.op, i.rs1, i.rs2, i.imm), (Op::Bne, 10, 0, 8));
        // sd ra, 8(sp)
        let i = decode(0x0011_3423).unwrap();
        assert_eq!((i.op, i.rs1, i.rs2, i.imm), (Op::Sd, 2, 1, 8));
        // srai a0, a0, 63
        let i = decode(0x43f5_5513).unwrap();
        assert_eq!((i.op, i.imm), (Op::Srai, 63));
        // fadd.d fa0, fa1, fa2, dyn
        let i = decode(0x02c5_f553).unwrap();
        assert_eq!((i.op, i.rd, i.rs1, i.rs2, i.rm), (Op::FaddD, 10, 11, 12, 7));
    }

    #[test]
    fn any_word_decodes_or_is_illegal() {
        // no encoding panics the decoder or the disassembler
        let mut x = 0x9e37_79b9u32;
        for _ in 0..2_000_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if let Ok(i) = decode(x) {
                let _ = crate::disasm::disassemble(&i, 0x1000);
            }
        }
        for h in 0..=u16::MAX {
            if let Ok(i) = decode(u32::from(h)) {
                let _ = crate::disasm::disassemble(&i, 0x1000);
            }
        }
    }

    #[test]
    fn reserved_rounding_modes_are_illegal() {
        // fadd.d with rm = 5 and 6
        assert_eq!(decode(0x02c5_d553), Err(DecodeError::Illegal));
        assert_eq!(decode(0x02c5_e553), Err(DecodeError::Illegal));
    }

    #[test]
    fn illegal_encodings() {
        assert_eq!(decode(0xffff_ffff), Err(DecodeError::Illegal));
        assert_eq!(decode(0x0000_0000), Err(DecodeError::Illegal));
        assert_eq!(decode(0x0000_007f), Err(DecodeError::Illegal)); // 48/64-bit
    }
}
