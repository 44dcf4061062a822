//! The compressed (C) instructions of RV64C with D: their table, and their
//! expansion to the 32-bit instructions of [`crate::table`].

use crate::decode::{DecodeError, Inst};
use crate::table::Op;

/// One row of the compressed table.
#[derive(Clone, Copy, Debug)]
pub struct CDesc {
    pub op: COp,
    pub name: &'static str,
    pub mask: u16,
    pub bits: u16,
}

macro_rules! compressed {
    ($( $op:ident = $name:literal, $mask:literal, $match:literal; )*) => {
        /// Every compressed instruction form.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum COp { $($op,)* }

        /// The table, most specific rows first: the first row that matches
        /// is the instruction.
        pub static CTABLE: &[CDesc] = &[
            $( CDesc { op: COp::$op, name: $name, mask: $mask, bits: $match }, )*
        ];
    };
}

compressed! {
    // quadrant 0
    Addi4spn = "c.addi4spn", 0xe003, 0x0000;
    Fld = "c.fld", 0xe003, 0x2000;
    Lw = "c.lw", 0xe003, 0x4000;
    Ld = "c.ld", 0xe003, 0x6000;
    Fsd = "c.fsd", 0xe003, 0xa000;
    Sw = "c.sw", 0xe003, 0xc000;
    Sd = "c.sd", 0xe003, 0xe000;
    // quadrant 1
    Addi = "c.addi", 0xe003, 0x0001;
    Addiw = "c.addiw", 0xe003, 0x2001;
    Li = "c.li", 0xe003, 0x4001;
    Addi16sp = "c.addi16sp", 0xef83, 0x6101;
    Lui = "c.lui", 0xe003, 0x6001;
    Srli = "c.srli", 0xec03, 0x8001;
    Srai = "c.srai", 0xec03, 0x8401;
    Andi = "c.andi", 0xec03, 0x8801;
    Sub = "c.sub", 0xfc63, 0x8c01;
    Xor = "c.xor", 0xfc63, 0x8c21;
    Or = "c.or", 0xfc63, 0x8c41;
    And = "c.and", 0xfc63, 0x8c61;
    Subw = "c.subw", 0xfc63, 0x9c01;
    Addw = "c.addw", 0xfc63, 0x9c21;
    J = "c.j", 0xe003, 0xa001;
    Beqz = "c.beqz", 0xe003, 0xc001;
    Bnez = "c.bnez", 0xe003, 0xe001;
    // quadrant 2
    Slli = "c.slli", 0xe003, 0x0002;
    Fldsp = "c.fldsp", 0xe003, 0x2002;
    Lwsp = "c.lwsp", 0xe003, 0x4002;
    Ldsp = "c.ldsp", 0xe003, 0x6002;
    Jr = "c.jr", 0xf07f, 0x8002;
    Mv = "c.mv", 0xf003, 0x8002;
    Ebreak = "c.ebreak", 0xffff, 0x9002;
    Jalr = "c.jalr", 0xf07f, 0x9002;
    Add = "c.add", 0xf003, 0x9002;
    Fsdsp = "c.fsdsp", 0xe003, 0xa002;
    Swsp = "c.swsp", 0xe003, 0xc002;
    Sdsp = "c.sdsp", 0xe003, 0xe002;
}

impl COp {
    pub fn name(self) -> &'static str {
        CTABLE
            .iter()
            .find(|d| d.op == self)
            .map(|d| d.name)
            .unwrap_or("c.?")
    }
}

#[inline]
fn b(x: u16, hi: u32, lo: u32) -> u32 {
    (u32::from(x) >> lo) & ((1u32 << (hi - lo + 1)) - 1)
}

#[inline]
fn sext(value: u32, width: u32) -> i64 {
    let shift = 64 - width;
    ((u64::from(value) << shift) as i64) >> shift
}

/// The 3-bit register fields of CIW/CL/CS/CA/CB name x8..x15 (f8..f15).
#[inline]
fn creg(x: u16, lo: u32) -> u8 {
    (b(x, lo + 2, lo) + 8) as u8
}

fn inst(op: Op, c: COp, rd: u8, rs1: u8, rs2: u8, imm: i64) -> Inst {
    Inst {
        op,
        rd,
        rs1,
        rs2,
        rs3: 0,
        rm: 0,
        imm,
        len: 2,
        compressed: Some(c),
    }
}

/// Finds the compressed table row of a 16-bit encoding.
pub fn lookup16(raw: u16) -> Option<COp> {
    CTABLE.iter().find(|d| raw & d.mask == d.bits).map(|d| d.op)
}

/// Decodes a compressed instruction into the 32-bit instruction it expands
/// to. Reserved encodings are illegal; HINTs decode to their (harmless)
/// expansion.
pub fn decode16(raw: u16) -> Result<Inst, DecodeError> {
    use DecodeError::Illegal;
    let c = lookup16(raw).ok_or(Illegal)?;
    let rd = b(raw, 11, 7) as u8; // also rs1 in CR/CI
    let rs2 = b(raw, 6, 2) as u8;
    let ci_imm = sext((b(raw, 12, 12) << 5) | b(raw, 6, 2), 6);
    let ci_uimm6 = i64::from((b(raw, 12, 12) << 5) | b(raw, 6, 2));
    // CL/CS offsets
    let off_w = i64::from((b(raw, 12, 10) << 3) | (b(raw, 6, 6) << 2) | (b(raw, 5, 5) << 6));
    let off_d = i64::from((b(raw, 12, 10) << 3) | (b(raw, 6, 5) << 6));
    let rd_ = creg(raw, 2);
    let rs1_ = creg(raw, 7);
    let sp = 2;
    Ok(match c {
        COp::Addi4spn => {
            let imm = (b(raw, 12, 11) << 4)
                | (b(raw, 10, 7) << 6)
                | (b(raw, 6, 6) << 2)
                | (b(raw, 5, 5) << 3);
            if imm == 0 {
                return Err(Illegal);
            }
            inst(Op::Addi, c, rd_, sp, 0, i64::from(imm))
        }
        COp::Fld => inst(Op::Fld, c, rd_, rs1_, 0, off_d),
        COp::Lw => inst(Op::Lw, c, rd_, rs1_, 0, off_w),
        COp::Ld => inst(Op::Ld, c, rd_, rs1_, 0, off_d),
        COp::Fsd => inst(Op::Fsd, c, 0, rs1_, rd_, off_d),
        COp::Sw => inst(Op::Sw, c, 0, rs1_, rd_, off_w),
        COp::Sd => inst(Op::Sd, c, 0, rs1_, rd_, off_d),
        COp::Addi => inst(Op::Addi, c, rd, rd, 0, ci_imm),
        COp::Addiw => {
            if rd == 0 {
                return Err(Illegal);
            }
            inst(Op::Addiw, c, rd, rd, 0, ci_imm)
        }
        COp::Li => inst(Op::Addi, c, rd, 0, 0, ci_imm),
        COp::Addi16sp => {
            let imm = (b(raw, 12, 12) << 9)
                | (b(raw, 6, 6) << 4)
                | (b(raw, 5, 5) << 6)
                | (b(raw, 4, 3) << 7)
                | (b(raw, 2, 2) << 5);
            if imm == 0 {
                return Err(Illegal);
            }
            inst(Op::Addi, c, sp, sp, 0, sext(imm, 10))
        }
        COp::Lui => {
            if ci_imm == 0 {
                return Err(Illegal);
            }
            inst(Op::Lui, c, rd, 0, 0, ci_imm << 12)
        }
        COp::Srli => inst(Op::Srli, c, rs1_, rs1_, 0, ci_uimm6),
        COp::Srai => inst(Op::Srai, c, rs1_, rs1_, 0, ci_uimm6),
        COp::Andi => inst(Op::Andi, c, rs1_, rs1_, 0, ci_imm),
        COp::Sub => inst(Op::Sub, c, rs1_, rs1_, rd_, 0),
        COp::Xor => inst(Op::Xor, c, rs1_, rs1_, rd_, 0),
        COp::Or => inst(Op::Or, c, rs1_, rs1_, rd_, 0),
        COp::And => inst(Op::And, c, rs1_, rs1_, rd_, 0),
        COp::Subw => inst(Op::Subw, c, rs1_, rs1_, rd_, 0),
        COp::Addw => inst(Op::Addw, c, rs1_, rs1_, rd_, 0),
        COp::J => {
            let imm = (b(raw, 12, 12) << 11)
                | (b(raw, 11, 11) << 4)
                | (b(raw, 10, 9) << 8)
                | (b(raw, 8, 8) << 10)
                | (b(raw, 7, 7) << 6)
                | (b(raw, 6, 6) << 7)
                | (b(raw, 5, 3) << 1)
                | (b(raw, 2, 2) << 5);
            inst(Op::Jal, c, 0, 0, 0, sext(imm, 12))
        }
        COp::Beqz | COp::Bnez => {
            let imm = (b(raw, 12, 12) << 8)
                | (b(raw, 11, 10) << 3)
                | (b(raw, 6, 5) << 6)
                | (b(raw, 4, 3) << 1)
                | (b(raw, 2, 2) << 5);
            let op = if c == COp::Beqz { Op::Beq } else { Op::Bne };
            inst(op, c, 0, rs1_, 0, sext(imm, 9))
        }
        COp::Slli => inst(Op::Slli, c, rd, rd, 0, ci_uimm6),
        COp::Fldsp | COp::Ldsp => {
            if c == COp::Ldsp && rd == 0 {
                return Err(Illegal);
            }
            let imm = (b(raw, 12, 12) << 5) | (b(raw, 6, 5) << 3) | (b(raw, 4, 2) << 6);
            let op = if c == COp::Ldsp { Op::Ld } else { Op::Fld };
            inst(op, c, rd, sp, 0, i64::from(imm))
        }
        COp::Lwsp => {
            if rd == 0 {
                return Err(Illegal);
            }
            let imm = (b(raw, 12, 12) << 5) | (b(raw, 6, 4) << 2) | (b(raw, 3, 2) << 6);
            inst(Op::Lw, c, rd, sp, 0, i64::from(imm))
        }
        COp::Jr => {
            if rd == 0 {
                return Err(Illegal);
            }
            inst(Op::Jalr, c, 0, rd, 0, 0)
        }
        COp::Mv => inst(Op::Add, c, rd, 0, rs2, 0),
        COp::Ebreak => inst(Op::Ebreak, c, 0, 0, 0, 0),
        COp::Jalr => inst(Op::Jalr, c, 1, rd, 0, 0),
        COp::Add => inst(Op::Add, c, rd, rd, rs2, 0),
        COp::Fsdsp | COp::Sdsp => {
            let imm = (b(raw, 12, 10) << 3) | (b(raw, 9, 7) << 6);
            let op = if c == COp::Sdsp { Op::Sd } else { Op::Fsd };
            inst(op, c, 0, sp, rs2, i64::from(imm))
        }
        COp::Swsp => {
            let imm = (b(raw, 12, 9) << 2) | (b(raw, 8, 7) << 6);
            inst(Op::Sw, c, 0, sp, rs2, i64::from(imm))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansions() {
        // c.addi4spn s0, sp, 16  == 0x0800
        let i = decode16(0x0800).unwrap();
        assert_eq!((i.op, i.rd, i.rs1, i.imm, i.len), (Op::Addi, 8, 2, 16, 2));
        // c.li a0, -1 == 0x557d
        let i = decode16(0x557d).unwrap();
        assert_eq!((i.op, i.rd, i.rs1, i.imm), (Op::Addi, 10, 0, -1));
        // c.ldsp ra, 8(sp) == 0x60a2
        let i = decode16(0x60a2).unwrap();
        assert_eq!((i.op, i.rd, i.rs1, i.imm), (Op::Ld, 1, 2, 8));
        // c.sdsp ra, 8(sp) == 0xe406
        let i = decode16(0xe406).unwrap();
        assert_eq!((i.op, i.rs2, i.rs1, i.imm), (Op::Sd, 1, 2, 8));
        // c.jr ra == 0x8082
        let i = decode16(0x8082).unwrap();
        assert_eq!((i.op, i.rd, i.rs1), (Op::Jalr, 0, 1));
        // c.addi16sp sp, -32 == 0x1101
        let i = decode16(0x1101).unwrap();
        assert_eq!((i.op, i.rd, i.imm), (Op::Addi, 2, -32));
        // c.j -2 == 0xbffd
        let i = decode16(0xbffd).unwrap();
        assert_eq!((i.op, i.imm), (Op::Jal, -2));
        // c.bnez a5, -4 == 0xfff5
        let i = decode16(0xfff5).unwrap();
        assert_eq!((i.op, i.rs1, i.imm), (Op::Bne, 15, -4));
    }

    #[test]
    fn reserved_forms() {
        assert!(decode16(0x0000).is_err()); // all zero: defined illegal
        assert!(decode16(0x6101 & !0x107c).is_err()); // c.addi16sp 0
        assert!(decode16(0x4002).is_err()); // c.lwsp x0
        assert!(decode16(0x8002).is_err()); // c.jr x0
        assert!(decode16(0x2001).is_err()); // c.addiw x0
        assert!(decode16(0x9c41).is_err()); // reserved CA
        assert!(decode16(0x8000).is_err()); // quadrant 0, funct3 100
    }
}
