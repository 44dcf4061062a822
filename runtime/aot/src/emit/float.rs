//! Floating point in translated code: fast paths for the common cases, the
//! interpreter (the `exec` helper) for everything else.
//!
//! RISC-V and wasm agree on a result rounded to nearest, ties to even. They
//! differ in NaNs (wasm's payloads are not canonical), and wasm has no
//! exception flags. So a fast path is taken only where its answer is the
//! interpreter's:
//!
//! - add, sub, mul, div and sqrt in double precision, when the rounding is
//!   to nearest (the instruction's, or `frm` for a dynamic one), NX is set
//!   in `fflags` already (it is sticky: after a program's first inexact
//!   result it stays set unless the program clears it), and the result is
//!   finite and larger in magnitude than the smallest normal number. Then
//!   no NaN was made or passed on, and no overflow, underflow, division by
//!   zero or invalid operation happened: each of those ends in an infinity,
//!   a NaN, a zero or a number at most the smallest normal (tininess is
//!   detected after rounding, so a result of exactly the smallest normal
//!   may have underflowed);
//! - sign injection and moves between the register files: bits only, no
//!   flags (loads and stores are `super::memory`'s);
//! - comparisons of two numbers that are not NaNs: no flags;
//! - `fflags`, `frm` and `fcsr` read and written as the interpreter does.
//!
//! Everything else, and every case a check turns down, goes through the
//! helper, which runs the interpreter's own code for the instruction on
//! the registers in memory (floating-point registers always live there).

use super::*;

/// Byte offset of `f` among the hart's registers (`f0` follows `x31`).
pub(super) fn freg(f: u8) -> u32 {
    (32 + u32::from(f & 31)) * 8
}

impl Emitter<'_> {
    pub(super) fn float(&mut self, inst: &Inst, pc: u64, next: u64, i: usize) {
        use Op::*;
        match inst.op {
            FaddD | FsubD | FmulD | FdivD | FsqrtD => self.arith_d(inst, pc, next, i),
            FsgnjD | FsgnjnD | FsgnjxD => {
                self.s().local_get(L_REGS);
                self.fbits(inst.rs1);
                self.s().i64_const(i64::MAX).i64_and();
                match inst.op {
                    FsgnjD => self.fbits(inst.rs2),
                    FsgnjnD => {
                        self.fbits(inst.rs2);
                        self.s().i64_const(-1).i64_xor();
                    }
                    _ => {
                        self.fbits(inst.rs1);
                        self.fbits(inst.rs2);
                        self.s().i64_xor();
                    }
                }
                self.s()
                    .i64_const(i64::MIN)
                    .i64_and()
                    .i64_or()
                    .i64_store(mem(freg(inst.rd), 3));
            }
            FmvXD => {
                self.fbits(inst.rs1);
                self.set(inst.rd);
            }
            FmvDX => {
                self.s().local_get(L_REGS);
                self.get(inst.rs1);
                self.s().i64_store(mem(freg(inst.rd), 3));
            }
            FeqD | FltD | FleD => {
                // neither is a NaN
                self.fvalue(inst.rs1);
                self.s().local_tee(L_F1).local_get(L_F1).f64_eq();
                self.fvalue(inst.rs2);
                self.s().local_tee(L_F2).local_get(L_F2).f64_eq().i32_and();
                self.or_exec(inst, pc, next, i, |e| {
                    e.s().local_get(L_F1).local_get(L_F2);
                    match inst.op {
                        FeqD => e.s().f64_eq(),
                        FltD => e.s().f64_lt(),
                        _ => e.s().f64_le(),
                    };
                    e.s().i64_extend_i32_u();
                    e.set(inst.rd);
                });
            }
            _ => self.exec(inst, pc, next, i),
        }
    }

    /// With "the fast path applies" on the stack: `fast`, else the
    /// interpreter's helper for `inst`.
    pub(super) fn or_exec(
        &mut self,
        inst: &Inst,
        pc: u64,
        next: u64,
        i: usize,
        fast: impl FnOnce(&mut Self),
    ) {
        self.if_likely(BlockType::Empty, true);
        fast(self);
        self.s().else_();
        self.exec(inst, pc, next, i);
        self.end_if();
    }

    /// Pushes the bits of `f` (an `i64`).
    pub(super) fn fbits(&mut self, f: u8) {
        self.s().local_get(L_REGS).i64_load(mem(freg(f), 3));
    }

    /// Pushes the value of `f` (an `f64`).
    fn fvalue(&mut self, f: u8) {
        self.s().local_get(L_REGS).f64_load(mem(freg(f), 3));
    }

    /// add, sub, mul, div, sqrt (double precision): see the module's docs.
    fn arith_d(&mut self, inst: &Inst, pc: u64, next: u64, i: usize) {
        if inst.rm != RM_RNE && inst.rm != RM_DYN {
            self.exec(inst, pc, next, i);
            return;
        }
        self.fvalue(inst.rs1);
        if inst.op == Op::FsqrtD {
            self.s().f64_sqrt();
        } else {
            self.fvalue(inst.rs2);
            match inst.op {
                Op::FaddD => self.s().f64_add(),
                Op::FsubD => self.s().f64_sub(),
                Op::FmulD => self.s().f64_mul(),
                _ => self.s().f64_div(),
            };
        }
        // a normal number above the smallest one, not infinite, not NaN
        self.s()
            .local_tee(L_F1)
            .f64_abs()
            .f64_const(f64::MIN_POSITIVE.into())
            .f64_gt()
            .local_get(L_F1)
            .f64_abs()
            .f64_const(f64::INFINITY.into())
            .f64_lt()
            .i32_and();
        // NX set; to nearest if the rounding is dynamic (frm is the byte
        // after fflags)
        self.s().local_get(L_FFLAGS);
        if inst.rm == RM_DYN {
            self.s()
                .i32_load16_u(mem(0, 0))
                .i32_const(i32::from(FRM_MASK) << 8 | i32::from(FFLAG_NX))
                .i32_and()
                .i32_const(i32::from(FFLAG_NX) | (i32::from(RM_RNE) << 8))
                .i32_eq();
        } else {
            self.s()
                .i32_load8_u(mem(0, 0))
                .i32_const(i32::from(FFLAG_NX))
                .i32_and();
        }
        self.s().i32_and();
        self.or_exec(inst, pc, next, i, |e| {
            e.s()
                .local_get(L_REGS)
                .local_get(L_F1)
                .f64_store(mem(freg(inst.rd), 3));
        });
    }

    /// A CSR instruction on `fflags`, `frm` or `fcsr` (see [`fp_csr`]).
    pub(super) fn fp_csr(&mut self, inst: &Inst) {
        use Op::*;
        let csr = inst.imm as u16 & 0xfff;
        // the old value
        let flags = |s: &mut InstructionSink<'_>| {
            s.local_get(L_FFLAGS).i32_load8_u(mem(0, 0));
        };
        let frm = |s: &mut InstructionSink<'_>| {
            s.local_get(L_FFLAGS).i32_load8_u(mem(1, 0));
        };
        match csr {
            CSR_FFLAGS => flags(&mut self.s()),
            CSR_FRM => frm(&mut self.s()),
            _ => {
                frm(&mut self.s());
                self.s().i32_const(FRM_SHIFT as i32).i32_shl();
                flags(&mut self.s());
                self.s().i32_or();
            }
        }
        self.s().i64_extend_i32_u().local_set(L_T2);
        // csrrs/csrrc (and their immediate forms) with x0 (0) write nothing
        let writes = matches!(inst.op, Csrrw | Csrrwi) || inst.rs1 & 31 != 0;
        if writes {
            if matches!(inst.op, Csrrwi | Csrrsi | Csrrci) {
                self.s().i64_const(i64::from(inst.rs1 & 31));
            } else {
                self.get(inst.rs1);
            }
            let mut s = self.s();
            match inst.op {
                Csrrw | Csrrwi => &mut s,
                Csrrs | Csrrsi => s.local_get(L_T2).i64_or(),
                _ => s.i64_const(-1).i64_xor().local_get(L_T2).i64_and(),
            };
            self.s().i32_wrap_i64().local_set(L_E);
            // the new value's field (at `shift`, `mask` wide) into the byte
            // at `at` from fflags
            let store = |s: &mut InstructionSink<'_>, at: u32, shift: u32, mask: u8| {
                s.local_get(L_FFLAGS)
                    .local_get(L_E)
                    .i32_const(shift as i32)
                    .i32_shr_u()
                    .i32_const(i32::from(mask))
                    .i32_and()
                    .i32_store8(mem(at, 0));
            };
            if csr != CSR_FRM {
                store(&mut self.s(), 0, 0, FFLAGS_MASK);
            }
            if csr != CSR_FFLAGS {
                let shift = if csr == CSR_FCSR { FRM_SHIFT } else { 0 };
                store(&mut self.s(), 1, shift, FRM_MASK);
            }
        }
        self.s().local_get(L_T2);
        self.set(inst.rd);
    }
}
