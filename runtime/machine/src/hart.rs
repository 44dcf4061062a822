//! The architectural state of one hart (one guest thread).

/// Index of the first floating-point register in the register file.
pub const F0: usize = 32;
/// A register index no instruction reads: writes to `x0` go here, so `x0`
/// stays zero without a check on every write.
pub const SINK: u8 = 64;

/// Why `run` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// An `ecall`: `pc` is already past it (where the call returns to).
    Ecall,
    /// An `ebreak` (SIGTRAP): `pc` is at the instruction.
    Ebreak,
    /// A memory fault: `pc` is at the faulting instruction (or is the
    /// faulting fetch address).
    Fault(crate::MemFault),
    /// An illegal instruction (SIGILL): `pc` is at it; the raw encoding.
    Illegal(u32),
    /// The instruction budget ran out; `pc` is where to resume.
    Budget,
}

/// Registers, program counter, floating-point CSRs and the LR reservation.
/// Laid out as written (translated code reads `fflags` and `frm`, next to
/// each other: see `crate::aot::State`).
#[derive(Clone)]
#[repr(C)]
pub struct Hart {
    /// `x0..x31` at 0..32, `f0..f31` at 32..64, the write sink at 64. Sized
    /// 256 so that any `u8` index is in bounds without a check.
    pub(crate) regs: [u64; 256],
    pub pc: u64,
    /// Accrued exception flags (fflags).
    pub fflags: u8,
    /// Dynamic rounding mode (frm).
    pub frm: u8,
    /// Address of the LR reservation, if any. The kernel clears it on a
    /// context switch, which makes a pending SC fail, as on real hardware.
    pub reservation: Option<u64>,
    /// Instructions retired.
    pub instret: u64,
    /// What the `time` CSR reads: ticks of the platform timer, which the
    /// embedder keeps current (the kernel sets it from the host's monotonic
    /// clock before each time slice, at [`TIMEBASE_HZ`]).
    pub time: u64,
}

/// Frequency of the `time` CSR (as on QEMU's `virt` machine).
pub const TIMEBASE_HZ: u64 = 10_000_000;

impl std::fmt::Debug for Hart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hart")
            .field("pc", &format_args!("{:#x}", self.pc))
            .field("x", &&self.regs[..32])
            .field("f", &&self.regs[32..64])
            .field("fflags", &self.fflags)
            .field("frm", &self.frm)
            .finish()
    }
}

impl Default for Hart {
    fn default() -> Self {
        Hart::new()
    }
}

impl Hart {
    pub fn new() -> Hart {
        Hart {
            regs: [0; 256],
            pc: 0,
            fflags: 0,
            frm: 0,
            reservation: None,
            instret: 0,
            time: 0,
        }
    }

    /// Integer register `i` (0..32).
    pub fn x(&self, i: usize) -> u64 {
        if i == 0 { 0 } else { self.regs[i & 31] }
    }

    /// Sets integer register `i`; writes to `x0` are ignored.
    pub fn set_x(&mut self, i: usize, v: u64) {
        if i != 0 {
            self.regs[i & 31] = v;
        }
    }

    /// Floating-point register `i` (0..32), raw 64 bits (NaN-boxed singles).
    pub fn f(&self, i: usize) -> u64 {
        self.regs[F0 + (i & 31)]
    }

    pub fn set_f(&mut self, i: usize, v: u64) {
        self.regs[F0 + (i & 31)] = v;
    }

    /// fcsr: frm in bits 5..8, fflags in bits 0..5.
    pub fn fcsr(&self) -> u32 {
        (u32::from(self.frm) << 5) | u32::from(self.fflags)
    }
}
