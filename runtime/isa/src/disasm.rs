//! A disassembler for traces, in the style of `objdump -M no-aliases`.

use crate::compressed::COp;
use crate::decode::{
    CSR_CYCLE, CSR_FCSR, CSR_FFLAGS, CSR_FRM, CSR_INSTRET, CSR_TIME, Inst, RM_DYN,
};
use crate::table::Format;
use std::fmt::Write;

/// ABI names of the integer registers.
pub const XREG: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
    "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
    "t5", "t6",
];

/// ABI names of the floating-point registers.
pub const FREG: [&str; 32] = [
    "ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1", "fa2",
    "fa3", "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7", "fs8", "fs9",
    "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
];

const RM: [&str; 8] = ["rne", "rtz", "rdn", "rup", "rmm", "rm5", "rm6", "dyn"];

/// Names of the CSRs a user program can reach.
pub fn csr_name(csr: u16) -> Option<&'static str> {
    Some(match csr {
        CSR_FFLAGS => "fflags",
        CSR_FRM => "frm",
        CSR_FCSR => "fcsr",
        CSR_CYCLE => "cycle",
        CSR_TIME => "time",
        CSR_INSTRET => "instret",
        _ => return None,
    })
}

fn fence_set(bits: i64) -> String {
    let mut s = String::new();
    for (bit, c) in [(8, 'i'), (4, 'o'), (2, 'r'), (1, 'w')] {
        if bits & bit != 0 {
            s.push(c);
        }
    }
    if s.is_empty() { "0".into() } else { s }
}

/// The mnemonic as printed: the compressed form's name when it was one.
pub fn mnemonic(inst: &Inst) -> &'static str {
    match inst.compressed {
        // RV64's shifts by zero are HINTs with names of their own
        Some(COp::Slli) if inst.imm == 0 => "c.slli64",
        Some(COp::Srli) if inst.imm == 0 => "c.srli64",
        Some(COp::Srai) if inst.imm == 0 => "c.srai64",
        Some(c) => c.name(),
        None => inst.op.name(),
    }
}

/// Disassembles `inst`, located at `pc`.
pub fn disassemble(inst: &Inst, pc: u64) -> String {
    let mut s = String::from(mnemonic(inst));
    let mut ops = String::new();
    let target = pc.wrapping_add(inst.imm as u64);
    if let Some(c) = inst.compressed {
        compressed_operands(&mut ops, c, inst, target);
    } else {
        operands(&mut ops, inst, target);
    }
    if !ops.is_empty() {
        s.push('\t');
        s.push_str(&ops);
    }
    if let Format::Amo | Format::Lr = inst.op.format() {
        let aqrl = match inst.rm & 3 {
            0 => "",
            1 => ".rl",
            2 => ".aq",
            _ => ".aqrl",
        };
        s.insert_str(mnemonic(inst).len(), aqrl);
    }
    s
}

/// Operands of a compressed instruction, as its compressed form writes them.
fn compressed_operands(ops: &mut String, c: COp, inst: &Inst, target: u64) {
    let x = |r: u8| XREG[usize::from(r & 31)];
    let f = |r: u8| FREG[usize::from(r & 31)];
    let _ = match c {
        COp::Ebreak => Ok(()),
        COp::Slli | COp::Srli | COp::Srai if inst.imm == 0 => write!(ops, "{}", x(inst.rd)),
        COp::Addi4spn => write!(ops, "{},{},{}", x(inst.rd), x(inst.rs1), inst.imm),
        COp::Lw | COp::Ld | COp::Lwsp | COp::Ldsp => {
            write!(ops, "{},{}({})", x(inst.rd), inst.imm, x(inst.rs1))
        }
        COp::Fld | COp::Fldsp => write!(ops, "{},{}({})", f(inst.rd), inst.imm, x(inst.rs1)),
        COp::Sw | COp::Sd | COp::Swsp | COp::Sdsp => {
            write!(ops, "{},{}({})", x(inst.rs2), inst.imm, x(inst.rs1))
        }
        COp::Fsd | COp::Fsdsp => write!(ops, "{},{}({})", f(inst.rs2), inst.imm, x(inst.rs1)),
        COp::Addi
        | COp::Addiw
        | COp::Li
        | COp::Addi16sp
        | COp::Srli
        | COp::Srai
        | COp::Andi
        | COp::Slli => write!(ops, "{},{}", x(inst.rd), inst.imm),
        COp::Lui => write!(ops, "{},0x{:x}", x(inst.rd), (inst.imm >> 12) & 0xfffff),
        COp::Sub | COp::Xor | COp::Or | COp::And | COp::Subw | COp::Addw | COp::Add | COp::Mv => {
            write!(ops, "{},{}", x(inst.rd), x(inst.rs2))
        }
        COp::J => write!(ops, "0x{target:x}"),
        COp::Beqz | COp::Bnez => write!(ops, "{},0x{target:x}", x(inst.rs1)),
        COp::Jr | COp::Jalr => write!(ops, "{}", x(inst.rs1)),
    };
}

/// Operands of a 32-bit instruction.
fn operands(ops: &mut String, inst: &Inst, target: u64) {
    let x = |r: u8| XREG[usize::from(r & 31)];
    let f = |r: u8| FREG[usize::from(r & 31)];
    let rm = |inst: &Inst| {
        if inst.rm == RM_DYN {
            String::new()
        } else {
            format!(",{}", RM[usize::from(inst.rm & 7)])
        }
    };
    let _ = match inst.op.format() {
        Format::R => write!(ops, "{},{},{}", x(inst.rd), x(inst.rs1), x(inst.rs2)),
        Format::Unary => write!(ops, "{},{}", x(inst.rd), x(inst.rs1)),
        Format::I | Format::ShiftI | Format::ShiftIW => {
            write!(ops, "{},{},{}", x(inst.rd), x(inst.rs1), inst.imm)
        }
        Format::Load | Format::Jalr => {
            write!(ops, "{},{}({})", x(inst.rd), inst.imm, x(inst.rs1))
        }
        Format::Store => write!(ops, "{},{}({})", x(inst.rs2), inst.imm, x(inst.rs1)),
        Format::Branch => write!(ops, "{},{},0x{:x}", x(inst.rs1), x(inst.rs2), target),
        Format::U => write!(ops, "{},0x{:x}", x(inst.rd), (inst.imm >> 12) & 0xfffff),
        Format::J => write!(ops, "{},0x{:x}", x(inst.rd), target),
        Format::Fence => write!(
            ops,
            "{},{}",
            fence_set((inst.imm >> 4) & 0xf),
            fence_set(inst.imm & 0xf)
        ),
        Format::None => Ok(()),
        Format::Csr | Format::CsrI => {
            let csr = (inst.imm & 0xfff) as u16;
            let name = csr_name(csr).map_or_else(|| format!("0x{csr:x}"), str::to_string);
            if inst.op.format() == Format::Csr {
                write!(ops, "{},{},{}", x(inst.rd), name, x(inst.rs1))
            } else {
                write!(ops, "{},{},{}", x(inst.rd), name, inst.rs1)
            }
        }
        Format::Amo => write!(ops, "{},{},({})", x(inst.rd), x(inst.rs2), x(inst.rs1)),
        Format::Lr => write!(ops, "{},({})", x(inst.rd), x(inst.rs1)),
        Format::FLoad => write!(ops, "{},{}({})", f(inst.rd), inst.imm, x(inst.rs1)),
        Format::FStore => write!(ops, "{},{}({})", f(inst.rs2), inst.imm, x(inst.rs1)),
        Format::FR => write!(
            ops,
            "{},{},{}{}",
            f(inst.rd),
            f(inst.rs1),
            f(inst.rs2),
            rm(inst)
        ),
        Format::FRn => write!(ops, "{},{},{}", f(inst.rd), f(inst.rs1), f(inst.rs2)),
        Format::FCmp => write!(ops, "{},{},{}", x(inst.rd), f(inst.rs1), f(inst.rs2)),
        Format::FR4 => write!(
            ops,
            "{},{},{},{}{}",
            f(inst.rd),
            f(inst.rs1),
            f(inst.rs2),
            f(inst.rs3),
            rm(inst)
        ),
        Format::FUnaryFF => write!(ops, "{},{}{}", f(inst.rd), f(inst.rs1), rm(inst)),
        Format::FUnaryXF => write!(ops, "{},{}{}", x(inst.rd), f(inst.rs1), rm(inst)),
        Format::FUnaryFX => write!(ops, "{},{}{}", f(inst.rd), x(inst.rs1), rm(inst)),
        Format::FMvXF => write!(ops, "{},{}", x(inst.rd), f(inst.rs1)),
        Format::FMvFX => write!(ops, "{},{}", f(inst.rd), x(inst.rs1)),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;

    #[test]
    fn prints_like_objdump() {
        let d = |raw| disassemble(&decode(raw).unwrap(), 0x1000);
        assert_eq!(d(0xfff5_8513), "addi\ta0,a1,-1");
        assert_eq!(d(0x0011_3423), "sd\tra,8(sp)");
        assert_eq!(d(0x0005_1463), "bne\ta0,zero,0x1008");
        assert_eq!(d(0x8082), "c.jr\tra");
        assert_eq!(d(0x0000_0073), "ecall");
        assert_eq!(d(0x02c5_f553), "fadd.d\tfa0,fa1,fa2");
        assert_eq!(d(0x0ff0_000f), "fence\tiorw,iorw");
        assert_eq!(d(0x0030_2573), "csrrs\ta0,fcsr,zero");
    }
}
