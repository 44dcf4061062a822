//! Loads and stores in translated code, integer and floating point, in one
//! place: the software TLB's fast path and the helpers on a miss.
//!
//! An access looks its page up in the interpreter's TLB (the read TLB for
//! a load, the write TLB for a store): a dozen machine instructions on a
//! hit, a helper call on a miss (the load or store helper for integers,
//! the interpreter's `exec` helper for floating point).

use super::*;

/// How an instruction accesses memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Access {
    /// Bytes.
    size: i32,
    store: bool,
    /// Through a floating-point register.
    float: bool,
    /// An integer load that sign-extends.
    signed: bool,
}

/// The access `op` makes, if it is a load or store that this module
/// translates.
pub(super) fn access(op: Op) -> Option<Access> {
    use Op::*;
    let (size, store, float, signed) = match op {
        Lb => (1, false, false, true),
        Lbu => (1, false, false, false),
        Lh => (2, false, false, true),
        Lhu => (2, false, false, false),
        Lw => (4, false, false, true),
        Lwu => (4, false, false, false),
        Ld => (8, false, false, false),
        Sb => (1, true, false, false),
        Sh => (2, true, false, false),
        Sw => (4, true, false, false),
        Sd => (8, true, false, false),
        Flw => (4, false, true, false),
        Fld => (8, false, true, false),
        Fsw => (4, true, true, false),
        Fsd => (8, true, true, false),
        _ => return None,
    };
    Some(Access {
        size,
        store,
        float,
        signed,
    })
}

fn store_op(s: &mut InstructionSink<'_>, size: i32) {
    match size {
        1 => s.i64_store8(mem(0, 0)),
        2 => s.i64_store16(mem(0, 0)),
        4 => s.i64_store32(mem(0, 0)),
        _ => s.i64_store(mem(0, 0)),
    };
}

impl Emitter<'_> {
    /// The load or store `inst` (one of [`access`]'s): through the TLB,
    /// else its helper (the load or store helper; the interpreter for
    /// floating point).
    pub(super) fn memory(&mut self, inst: &Inst, pc: u64, next: u64, i: usize) {
        let a = access(inst.op).expect("only accesses come here");
        self.tlb(inst, a);
        if a.float {
            self.or_exec(inst, pc, next, i, |e| e.direct(inst, a));
            return;
        }
        if a.store {
            self.if_likely(BlockType::Empty, true);
            self.direct(inst, a);
            self.s().else_();
            self.s().local_get(L_STATE).local_get(L_ADDR);
            self.get(inst.rs2);
            self.s().i32_const(a.size).call(F_STORE);
            self.check_status(pc, next, i, true);
            self.end_if();
            return;
        }
        self.if_likely(BlockType::Result(ValType::I64), true);
        self.direct(inst, a);
        self.s().else_();
        // the helper's value is zero-extended
        self.s()
            .local_get(L_STATE)
            .local_get(L_ADDR)
            .i32_const(a.size)
            .call(F_LOAD)
            .local_set(L_T1);
        self.check_status(pc, pc, i, false);
        let mut s = self.s();
        s.local_get(L_T1);
        match (a.signed, a.size) {
            (true, 1) => s.i64_extend8_s(),
            (true, 2) => s.i64_extend16_s(),
            (true, _) => s.i64_extend32_s(),
            (false, _) => &mut s,
        };
        self.end_if();
        self.set(inst.rd);
    }

    /// The access at the host address of the TLB entry found: an integer
    /// load pushes the value (extended as the instruction says);
    /// everything else completes.
    fn direct(&mut self, inst: &Inst, a: Access) {
        match (a.store, a.float) {
            (false, false) => {
                self.host();
                let m = mem(0, 0);
                match (a.size, a.signed) {
                    (1, true) => self.s().i64_load8_s(m),
                    (1, false) => self.s().i64_load8_u(m),
                    (2, true) => self.s().i64_load16_s(m),
                    (2, false) => self.s().i64_load16_u(m),
                    (4, true) => self.s().i64_load32_s(m),
                    (4, false) => self.s().i64_load32_u(m),
                    _ => self.s().i64_load(m),
                };
            }
            (true, false) => {
                self.host();
                self.get(inst.rs2);
                store_op(&mut self.s(), a.size);
            }
            (false, true) => {
                self.s().local_get(L_REGS);
                self.host();
                if a.size == 4 {
                    // NaN-boxed
                    self.s()
                        .i64_load32_u(mem(0, 0))
                        .i64_const(!0xffff_ffff)
                        .i64_or();
                } else {
                    self.s().i64_load(mem(0, 0));
                }
                self.s().i64_store(mem(float::freg(inst.rd), 3));
            }
            (true, true) => {
                self.host();
                self.fbits(inst.rs2);
                store_op(&mut self.s(), a.size);
            }
        }
    }

    /// Computes the address `rs1 + imm` into `L_ADDR` and the entry of the
    /// TLB for `a` (the write TLB for a store, else the read TLB) into
    /// `L_E`; leaves "the entry serves the access" on the stack. An entry
    /// sits at the index of its own page, so the entry at the index of the
    /// first byte holds the page of the last byte only if both are in that
    /// page: one compare checks the page and that the bytes do not cross
    /// it.
    fn tlb(&mut self, inst: &Inst, a: Access) {
        let (size, tlb) = (a.size, if a.store { L_TLBW } else { L_TLBR });
        self.get(inst.rs1);
        self.s()
            .i64_const(inst.imm)
            .i64_add()
            .local_tee(L_ADDR)
            // the entry's offset, (page & (TLB_SIZE - 1)) * TLB_ENTRY, in
            // two steps: the page number's low bits are in the low word
            .i32_wrap_i64()
            .i32_const((abi::PAGE_SHIFT - abi::TLB_ENTRY.trailing_zeros()) as i32)
            .i32_shr_u()
            .i32_const(((abi::TLB_SIZE - 1) * abi::TLB_ENTRY) as i32)
            .i32_and()
            .local_get(tlb)
            .i32_add()
            .local_tee(L_E)
            .i64_load(mem(0, 3))
            .local_get(L_ADDR);
        if size > 1 {
            self.s().i64_const(i64::from(size - 1)).i64_add();
        }
        self.s()
            .i64_const(i64::from(abi::PAGE_SHIFT))
            .i64_shr_u()
            .i64_eq();
    }

    /// Pushes the host address of `L_ADDR` in the entry [`Emitter::tlb`]
    /// found.
    fn host(&mut self) {
        self.s()
            .local_get(L_ADDR)
            .i32_wrap_i64()
            .local_get(L_E)
            .i32_load(mem(abi::TLB_ADDEND, 2))
            .i32_add();
    }

    /// If the last helper call failed, leaves the region: a load can only
    /// fault; a store may also have written a page of code.
    fn check_status(&mut self, pc: u64, next: u64, i: usize, store: bool) {
        self.s()
            .local_get(L_STATE)
            .i32_load(mem(abi::STATUS, 2))
            .local_tee(L_E);
        self.if_likely(BlockType::Empty, false);
        if !store {
            self.leave(Exit::Fault, pc, i);
            self.end_if();
            return;
        }
        self.s()
            .local_get(L_E)
            .i32_const(abi::STATUS_FAULT)
            .i32_eq();
        self.if_();
        self.leave(Exit::Fault, pc, i);
        self.s().else_();
        // the store went through, into a page that holds code
        self.leave(Exit::CodeWritten, next, i + 1);
        self.end_if();
        self.end_if();
    }
}
