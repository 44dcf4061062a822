//! Signals: actions, delivery on the riscv64 frame layout, rt_sigreturn.

use crate::abi::sig::*;
use crate::task::Pid;

/// What the process does on a signal (`struct sigaction` as riscv64 lays
/// it out: handler, flags, mask; no restorer field).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub mask: u64,
}

/// Size of the kernel's `struct sigaction` on riscv64.
pub const SIGACTION_SIZE: usize = 24;

/// The bit of signal `sig` in a set.
pub fn bit(sig: i32) -> u64 {
    // (no bit for a number that is not a signal)
    match sig {
        1..=64 => 1u64 << (sig - 1),
        _ => 0,
    }
}

/// Signals that can be neither caught, blocked nor ignored.
pub const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

/// What a signal's default action is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    Terminate,
    Core,
    Ignore,
    Stop,
    Continue,
}

pub fn default_action(sig: i32) -> Default {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH => Default::Ignore,
        SIGCONT => Default::Continue,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => Default::Stop,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ
        | SIGSYS => Default::Core,
        _ => Default::Terminate,
    }
}

/// The information delivered with a signal (the parts of `siginfo_t`
/// friscy fills in).
#[derive(Clone, Copy, Debug, Default)]
pub struct SigInfo {
    pub signo: i32,
    pub code: i32,
    /// si_pid (kill, SIGCHLD) — or the low half of si_addr for faults.
    pub pid: Pid,
    pub uid: u32,
    /// SIGCHLD: exit status or signal.
    pub status: i32,
    /// SIGSEGV/SIGBUS: the faulting address.
    pub addr: Option<u64>,
    /// POSIX timers: (timer id, overrun, sigev_value).
    pub timer: Option<(i32, i32, u64)>,
}

/// Size of `siginfo_t`.
pub const SIGINFO_SIZE: usize = 128;
/// Offsets in the signal frame: siginfo, then ucontext.
pub const UC_OFFSET: u64 = SIGINFO_SIZE as u64;
/// ucontext: flags 0, link 8, stack 16 (24 bytes), sigmask 40, mcontext 176.
pub const UC_STACK: u64 = 16;
pub const UC_SIGMASK: u64 = 40;
pub const UC_MCONTEXT: u64 = 176;
/// mcontext: pc and x1..x31 (32 words), then f0..f31 and fcsr.
pub const MC_FPREGS: u64 = 256;
pub const MC_FCSR: u64 = MC_FPREGS + 256;
/// Size of `ucontext_t` on riscv64.
pub const UCONTEXT_SIZE: u64 = 960;
/// The whole frame: siginfo + ucontext.
pub const FRAME_SIZE: u64 = UC_OFFSET + UCONTEXT_SIZE;

impl SigInfo {
    pub fn bytes(&self) -> [u8; SIGINFO_SIZE] {
        let mut b = [0u8; SIGINFO_SIZE];
        b[0..4].copy_from_slice(&self.signo.to_le_bytes());
        b[8..12].copy_from_slice(&self.code.to_le_bytes());
        if let Some((id, overrun, value)) = self.timer {
            b[16..20].copy_from_slice(&id.to_le_bytes());
            b[20..24].copy_from_slice(&overrun.to_le_bytes());
            b[24..32].copy_from_slice(&value.to_le_bytes());
        } else if let Some(addr) = self.addr {
            b[16..24].copy_from_slice(&addr.to_le_bytes());
        } else {
            b[16..20].copy_from_slice(&self.pid.to_le_bytes());
            b[20..24].copy_from_slice(&self.uid.to_le_bytes());
            b[24..28].copy_from_slice(&self.status.to_le_bytes());
        }
        b
    }
}
