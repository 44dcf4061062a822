//! friscy's Linux riscv64 personality.
//!
//! This first cut runs one single-threaded process from an ELF image with
//! the host's standard streams as fds 0-2: enough for `friscy exec` to run
//! static programs that compute, write and exit. Every system call it does
//! not implement returns ENOSYS and is reported once, by name.
//!
//! Host effects go through the [`Host`] trait; the native implementation is
//! in [`native`] (not built for wasm32).

pub mod abi;
pub mod elf;
pub mod host;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;

use abi::{errno, mm, nr};
use elf::{Elf, ElfError, TASK_SIZE};
use friscy_machine::{CodeCache, Exit, FaultCause, Hart, MemFault, Memory, PAGE_SIZE, Perm};
pub use host::{Clock, Host, HostStat};
use std::collections::HashSet;
use std::io::Write;
use thiserror::Error;

/// Top of the initial stack.
pub const STACK_TOP: u64 = TASK_SIZE - PAGE_SIZE;
/// Size of the stack mapping (RLIMIT_STACK).
pub const STACK_SIZE: u64 = 8 << 20;
/// Top of the mmap area (mappings are placed top-down below it).
pub const MMAP_TOP: u64 = STACK_TOP - STACK_SIZE - (128 << 20);
/// Where ET_DYN executables are placed (2/3 of the address space, as Linux
/// places them).
pub const ET_DYN_BASE: u64 = (TASK_SIZE / 3 * 2) & !(PAGE_SIZE - 1);
/// Most bytes one read or write moves (shorter transfers are legal).
const MAX_IO: usize = 1 << 24;
/// Most iovecs one readv/writev takes (UIO_MAXIOV).
const IOV_MAX: u64 = 1024;
/// Instructions run between checks of the host (a time slice).
const SLICE: u64 = 1 << 20;

/// Linux signal numbers the machine can raise.
pub const SIGILL: i32 = 4;
pub const SIGTRAP: i32 = 5;
pub const SIGBUS: i32 = 7;
pub const SIGSEGV: i32 = 11;

/// Why a program could not be started.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error(transparent)]
    Elf(#[from] ElfError),
    #[error("dynamically linked (interpreter {0}): only statically linked programs run yet")]
    Dynamic(String),
    #[error("argument and environment strings do not fit the stack")]
    TooBig,
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    Exited(i32),
    Killed { signal: i32, reason: KillReason },
}

/// What the machine did that the default signal action killed the process
/// for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    Fault(MemFault),
    Illegal(u32),
    Breakpoint,
}

impl Termination {
    /// The exit status a shell reports (128 + N for signal N).
    pub fn status(self) -> i32 {
        match self {
            Termination::Exited(c) => c & 0xff,
            Termination::Killed { signal, .. } => 128 + signal,
        }
    }
}

/// One guest process.
pub struct Process {
    pub hart: Hart,
    pub mem: Memory,
    pub code: CodeCache,
    brk_start: u64,
    brk: u64,
    exe: String,
    pid: i32,
    clear_child_tid: u64,
    robust_list: (u64, u64),
    reported: HashSet<u64>,
    comm: [u8; abi::TASK_COMM_LEN],
    trace: Option<Box<dyn Write>>,
    stdio_closed: [bool; 3],
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("exe", &self.exe)
            .field("pc", &format_args!("{:#x}", self.hart.pc))
            .finish()
    }
}

/// A syscall result: a value or an errno.
type SysResult = Result<u64, i64>;

fn efault(_: MemFault) -> i64 {
    errno::EFAULT
}

impl Process {
    /// Loads a static riscv64 ELF and sets up its stack as Linux does.
    pub fn exec(
        image: &[u8],
        exe: &str,
        argv: &[Vec<u8>],
        envp: &[Vec<u8>],
        host: &mut dyn Host,
    ) -> Result<Process, LoadError> {
        let elf = Elf::parse(image)?;
        if let Some(interp) = elf.interp()? {
            return Err(LoadError::Dynamic(
                String::from_utf8_lossy(interp).into_owned(),
            ));
        }
        let mut mem = Memory::new();
        let bias = if elf.is_dyn() {
            ET_DYN_BASE - elf.span().0
        } else {
            0
        };
        let loaded = elf::load(&elf, &mut mem, bias)?;
        mem.map(STACK_TOP - STACK_SIZE, STACK_SIZE, Perm::RW);
        let mut random = [0u8; 16];
        // A host without randomness still gets a (fixed) AT_RANDOM block.
        let _ = host.random(&mut random);
        let hwcap = hwcap();
        let auxv = [
            (abi::auxv::AT_PHDR, loaded.phdr),
            (abi::auxv::AT_PHENT, elf::PHDR_SIZE as u64),
            (abi::auxv::AT_PHNUM, loaded.phnum),
            (abi::auxv::AT_PAGESZ, PAGE_SIZE),
            (abi::auxv::AT_BASE, 0),
            (abi::auxv::AT_FLAGS, 0),
            (abi::auxv::AT_ENTRY, loaded.entry),
            (abi::auxv::AT_UID, 0),
            (abi::auxv::AT_EUID, 0),
            (abi::auxv::AT_GID, 0),
            (abi::auxv::AT_EGID, 0),
            (abi::auxv::AT_HWCAP, hwcap),
            (abi::auxv::AT_CLKTCK, 100),
            (abi::auxv::AT_SECURE, 0),
            (abi::auxv::AT_HWCAP2, 0),
        ];
        let sp = build_stack(&mut mem, exe.as_bytes(), argv, envp, &random, &auxv)
            .ok_or(LoadError::TooBig)?;
        let mut hart = Hart::new();
        hart.pc = loaded.entry;
        hart.set_x(2, sp);
        let brk = loaded.end.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let mut comm = [0u8; abi::TASK_COMM_LEN];
        let base = exe.rsplit('/').next().unwrap_or(exe).as_bytes();
        let n = base.len().min(abi::TASK_COMM_LEN - 1);
        comm[..n].copy_from_slice(&base[..n]);
        Ok(Process {
            hart,
            mem,
            code: CodeCache::new(),
            brk_start: brk,
            brk,
            exe: exe.to_string(),
            pid: 1,
            clear_child_tid: 0,
            robust_list: (0, 0),
            reported: HashSet::new(),
            comm,
            trace: None,
            stdio_closed: [false; 3],
        })
    }

    /// Prints an strace-like line for every system call to `out`.
    pub fn set_trace(&mut self, out: Box<dyn Write>) {
        self.trace = Some(out);
    }

    /// Runs until the process exits or is killed.
    pub fn run(&mut self, host: &mut dyn Host) -> Termination {
        loop {
            let ns = host.now(Clock::Monotonic);
            self.hart.time = (ns * u128::from(friscy_machine::TIMEBASE_HZ) / 1_000_000_000) as u64;
            match self.code.run(&mut self.hart, &mut self.mem, SLICE) {
                Exit::Budget => {}
                Exit::Ecall => {
                    if let Some(t) = self.syscall(host) {
                        return t;
                    }
                }
                Exit::Fault(fault) => {
                    let signal = if fault.cause == FaultCause::Misaligned {
                        SIGBUS
                    } else {
                        SIGSEGV
                    };
                    return Termination::Killed {
                        signal,
                        reason: KillReason::Fault(fault),
                    };
                }
                Exit::Illegal(raw) => {
                    return Termination::Killed {
                        signal: SIGILL,
                        reason: KillReason::Illegal(raw),
                    };
                }
                Exit::Ebreak => {
                    return Termination::Killed {
                        signal: SIGTRAP,
                        reason: KillReason::Breakpoint,
                    };
                }
            }
        }
    }

    fn arg(&self, i: usize) -> u64 {
        self.hart.x(10 + i)
    }

    /// Handles the `ecall` just executed; Some when the process ended.
    fn syscall(&mut self, host: &mut dyn Host) -> Option<Termination> {
        let n = self.hart.x(17);
        let args = [
            self.arg(0),
            self.arg(1),
            self.arg(2),
            self.arg(3),
            self.arg(4),
            self.arg(5),
        ];
        if n == nr::EXIT || n == nr::EXIT_GROUP {
            self.trace_line(n, &args, None);
            return Some(Termination::Exited(args[0] as i32));
        }
        let result = self.dispatch(n, &args, host);
        self.trace_line(n, &args, Some(result));
        let ret = match result {
            Ok(v) => v,
            Err(e) => (-e) as u64,
        };
        self.hart.set_x(10, ret);
        None
    }

    fn trace_line(&mut self, n: u64, args: &[u64; 6], result: Option<SysResult>) {
        let Some(out) = self.trace.as_mut() else {
            return;
        };
        let name = nr::name(n);
        let shown = format!(
            "{:#x}, {:#x}, {:#x}, {:#x}",
            args[0], args[1], args[2], args[3]
        );
        let _ = match result {
            None => writeln!(out, "[{}] {name}({shown}) = ?", self.pid),
            Some(Ok(v)) => writeln!(out, "[{}] {name}({shown}) = {v:#x}", self.pid),
            Some(Err(e)) => writeln!(out, "[{}] {name}({shown}) = -{e}", self.pid),
        };
    }

    fn enosys(&mut self, n: u64, host: &mut dyn Host) -> SysResult {
        // Linux without CONFIG_RSEQ answers ENOSYS too, and C libraries
        // expect that: not worth a message.
        if n != nr::RSEQ && self.reported.insert(n) {
            host.log(&format!(
                "system call {} ({n}) is not implemented; returning ENOSYS",
                nr::name(n)
            ));
        }
        Err(errno::ENOSYS)
    }

    fn stdio_fd(&self, fd: u64) -> Result<i32, i64> {
        match fd {
            0..=2 if !self.stdio_closed[fd as usize] => Ok(fd as i32),
            _ => Err(errno::EBADF),
        }
    }

    fn dispatch(&mut self, n: u64, a: &[u64; 6], host: &mut dyn Host) -> SysResult {
        match n {
            nr::WRITE => {
                let fd = self.stdio_fd(a[0])?;
                let len = a[2].min(MAX_IO as u64) as usize;
                let mut buf = vec![0u8; len];
                self.mem.read_bytes(a[1], &mut buf).map_err(efault)?;
                host.write(fd, &buf).map(|n| n as u64)
            }
            nr::WRITEV => {
                let fd = self.stdio_fd(a[0])?;
                let data = self.gather(a[1], a[2])?;
                host.write(fd, &data).map(|n| n as u64)
            }
            nr::READ => {
                let fd = self.stdio_fd(a[0])?;
                let len = a[2].min(MAX_IO as u64) as usize;
                let mut buf = vec![0u8; len];
                let got = host.read(fd, &mut buf)?;
                self.mem.write_bytes(a[1], &buf[..got]).map_err(efault)?;
                Ok(got as u64)
            }
            nr::CLOSE => {
                let fd = self.stdio_fd(a[0])?;
                self.stdio_closed[fd as usize] = true;
                Ok(0)
            }
            nr::LSEEK => {
                let fd = self.stdio_fd(a[0])?;
                host.seek(fd, a[1] as i64, a[2] as u32)
            }
            nr::FSTAT => {
                let fd = self.stdio_fd(a[0])?;
                let st = host.fstat(fd)?;
                self.write_stat(a[1], &st)
            }
            nr::NEWFSTATAT if a[3] & abi::AT_EMPTY_PATH != 0 => {
                let path = self.mem.read_cstr(a[1], 4096).map_err(efault)?;
                if path.as_deref() != Some(b"".as_slice()) {
                    return self.no_filesystem(n, host);
                }
                let fd = self.stdio_fd(a[0])?;
                let st = host.fstat(fd)?;
                self.write_stat(a[2], &st)
            }
            nr::IOCTL => {
                let fd = self.stdio_fd(a[0])?;
                match a[1] {
                    abi::TCGETS | abi::TIOCGWINSZ if !host.is_terminal(fd) => Err(errno::ENOTTY),
                    // Terminals are emulated by the full kernel; here they
                    // are not, and saying "not a tty" would be a lie.
                    _ => self.enosys(n, host),
                }
            }
            nr::READLINKAT => {
                let path = self.mem.read_cstr(a[1], 4096).map_err(efault)?;
                if path.as_deref() == Some(b"/proc/self/exe".as_slice()) {
                    let target = self.exe.clone().into_bytes();
                    let len = target.len().min(a[3] as usize);
                    self.mem.write_bytes(a[2], &target[..len]).map_err(efault)?;
                    return Ok(len as u64);
                }
                self.no_filesystem(n, host)
            }
            nr::OPENAT | nr::FACCESSAT | nr::NEWFSTATAT => self.no_filesystem(n, host),
            nr::SET_TID_ADDRESS => {
                self.clear_child_tid = a[0];
                Ok(self.pid as u64)
            }
            nr::SET_ROBUST_LIST => {
                if a[1] != 24 {
                    return Err(errno::EINVAL);
                }
                self.robust_list = (a[0], a[1]);
                Ok(0)
            }
            nr::UNAME => self.uname(a[0]),
            nr::GETRLIMIT | nr::PRLIMIT64 => {
                let (resource, new, old) = if n == nr::GETRLIMIT {
                    (a[0], 0, a[1])
                } else {
                    if a[0] != 0 && a[0] != self.pid as u64 {
                        return Err(errno::EPERM);
                    }
                    (a[1], a[2], a[3])
                };
                if new != 0 {
                    // Limits are fixed in this single-process runner.
                    return Err(errno::EPERM);
                }
                let (cur, max) = match resource {
                    abi::RLIMIT_STACK => (STACK_SIZE, abi::RLIM_INFINITY),
                    abi::RLIMIT_NOFILE => (1024, 1024 * 1024),
                    0..=15 => (abi::RLIM_INFINITY, abi::RLIM_INFINITY),
                    _ => return Err(errno::EINVAL),
                };
                if old != 0 {
                    self.write_pair(old, cur, max)?;
                }
                Ok(0)
            }
            nr::GETRANDOM => {
                let len = a[1].min(1 << 20) as usize;
                let mut buf = vec![0u8; len];
                host.random(&mut buf)?;
                self.mem.write_bytes(a[0], &buf).map_err(efault)?;
                Ok(len as u64)
            }
            nr::CLOCK_GETTIME | nr::CLOCK_GETRES => {
                let clock = match a[0] {
                    abi::CLOCK_REALTIME => Clock::Realtime,
                    // MONOTONIC, PROCESS_CPUTIME, THREAD_CPUTIME, RAW,
                    // COARSE variants, BOOTTIME
                    1..=7 | 9 => Clock::Monotonic,
                    _ => return Err(errno::EINVAL),
                };
                let ns = if n == nr::CLOCK_GETRES {
                    1
                } else {
                    host.now(clock)
                };
                if a[1] != 0 {
                    self.write_timespec(a[1], ns)?;
                }
                Ok(0)
            }
            nr::GETTIMEOFDAY => {
                if a[0] != 0 {
                    let ns = host.now(Clock::Realtime);
                    let (sec, usec) = (ns / 1_000_000_000, ns % 1_000_000_000 / 1000);
                    self.write_pair(a[0], sec as u64, usec as u64)?;
                }
                Ok(0)
            }
            nr::NANOSLEEP | nr::CLOCK_NANOSLEEP => {
                let ts = if n == nr::NANOSLEEP { a[0] } else { a[2] };
                let sec = self.mem.read_u64(ts).map_err(efault)? as i64;
                let nsec = self.mem.read_u64(ts + 8).map_err(efault)? as i64;
                if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
                    return Err(errno::EINVAL);
                }
                let mut ns = sec as u128 * 1_000_000_000 + nsec as u128;
                // TIMER_ABSTIME
                if n == nr::CLOCK_NANOSLEEP && a[1] & 1 != 0 {
                    let clock = if a[0] == abi::CLOCK_REALTIME {
                        Clock::Realtime
                    } else {
                        Clock::Monotonic
                    };
                    ns = ns.saturating_sub(host.now(clock));
                }
                host.sleep(ns);
                Ok(0)
            }
            nr::SCHED_YIELD => Ok(0),
            nr::GETPID | nr::GETTID => Ok(self.pid as u64),
            nr::GETPPID => Ok(0),
            nr::GETUID | nr::GETEUID | nr::GETGID | nr::GETEGID => Ok(0),
            nr::BRK => Ok(self.brk(a[0])),
            nr::MMAP => self.mmap(a),
            nr::MUNMAP => {
                if a[0] % PAGE_SIZE != 0 || a[1] == 0 {
                    return Err(errno::EINVAL);
                }
                self.mem.unmap(a[0], a[1].div_ceil(PAGE_SIZE) * PAGE_SIZE);
                Ok(0)
            }
            nr::MPROTECT => {
                if a[0] % PAGE_SIZE != 0 {
                    return Err(errno::EINVAL);
                }
                let len = a[1].div_ceil(PAGE_SIZE) * PAGE_SIZE;
                if !self.mem.is_mapped(a[0], len) {
                    return Err(errno::ENOMEM);
                }
                self.mem.protect(a[0], len, prot_to_perm(a[2]));
                Ok(0)
            }
            nr::MADVISE => Ok(0),
            nr::PRCTL => match a[0] {
                abi::PR_SET_NAME => {
                    let mut name = [0u8; abi::TASK_COMM_LEN];
                    let mut raw = [0u8; abi::TASK_COMM_LEN - 1];
                    for (k, b) in raw.iter_mut().enumerate() {
                        *b = self.mem.read_u8(a[1] + k as u64).map_err(efault)?;
                        if *b == 0 {
                            break;
                        }
                    }
                    let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
                    name[..len].copy_from_slice(&raw[..len]);
                    self.comm = name;
                    Ok(0)
                }
                abi::PR_GET_NAME => {
                    let comm = self.comm;
                    self.mem.write_bytes(a[1], &comm).map_err(efault)?;
                    Ok(0)
                }
                _ => self.enosys(n, host),
            },
            nr::RISCV_HWPROBE => self.hwprobe(a),
            nr::RISCV_FLUSH_ICACHE => {
                self.code.drop_code(&mut self.mem);
                Ok(0)
            }
            _ => self.enosys(n, host),
        }
    }

    /// riscv_hwprobe: what this hart implements.
    fn hwprobe(&mut self, a: &[u64; 6]) -> SysResult {
        use abi::hwprobe::*;
        let (pairs, count, flags) = (a[0], a[1], a[4]);
        if flags != 0 {
            return Err(errno::EINVAL);
        }
        for k in 0..count.min(1024) {
            let at = pairs + k * 16;
            let key = self.mem.read_u64(at).map_err(efault)? as i64;
            let value = match key {
                KEY_MVENDORID | KEY_MARCHID | KEY_MIMPID => Some(0),
                KEY_BASE_BEHAVIOR => Some(BASE_BEHAVIOR_IMA),
                KEY_IMA_EXT_0 => Some(IMA_FD | IMA_C | EXT_ZBA | EXT_ZBB | EXT_ZBS | EXT_ZICOND),
                KEY_CPUPERF_0 => Some(MISALIGNED_FAST),
                _ => None,
            };
            let (key, value) = value.map_or((-1i64, 0), |v| (key, v));
            self.mem.write_u64(at, key as u64).map_err(efault)?;
            self.mem.write_u64(at + 8, value).map_err(efault)?;
        }
        Ok(0)
    }

    /// File-system calls: `friscy exec` gives the program no file system.
    fn no_filesystem(&mut self, n: u64, host: &mut dyn Host) -> SysResult {
        self.enosys(n, host)
    }

    /// The bytes a writev names, at most [`MAX_IO`] of them (the write is
    /// then short, as Linux's are past its own limit).
    fn gather(&mut self, iov: u64, count: u64) -> Result<Vec<u8>, i64> {
        if count > IOV_MAX {
            return Err(errno::EINVAL);
        }
        let mut data = Vec::new();
        for i in 0..count {
            let base = self.mem.read_u64(iov + i * 16).map_err(efault)?;
            let len = self.mem.read_u64(iov + i * 16 + 8).map_err(efault)?;
            if (len as i64) < 0 {
                return Err(errno::EINVAL);
            }
            let len = len.min((MAX_IO - data.len()) as u64) as usize;
            if len == 0 {
                break;
            }
            let start = data.len();
            data.resize(start + len, 0);
            self.mem
                .read_bytes(base, &mut data[start..])
                .map_err(efault)?;
        }
        Ok(data)
    }

    fn write_timespec(&mut self, addr: u64, ns: u128) -> Result<(), i64> {
        let (sec, nsec) = (ns / 1_000_000_000, ns % 1_000_000_000);
        self.write_pair(addr, sec as u64, nsec as u64)
    }

    /// Writes two 64-bit words (timespec, timeval, rlimit) to the guest.
    fn write_pair(&mut self, addr: u64, first: u64, second: u64) -> Result<(), i64> {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&first.to_le_bytes());
        b[8..].copy_from_slice(&second.to_le_bytes());
        self.mem.write_bytes(addr, &b).map_err(efault)
    }

    fn write_stat(&mut self, addr: u64, st: &HostStat) -> SysResult {
        let mut b = [0u8; abi::STAT_SIZE];
        b[0..8].copy_from_slice(&st.dev.to_le_bytes());
        b[8..16].copy_from_slice(&st.ino.to_le_bytes());
        b[16..20].copy_from_slice(&st.mode.to_le_bytes());
        b[20..24].copy_from_slice(&st.nlink.to_le_bytes());
        b[24..28].copy_from_slice(&st.uid.to_le_bytes());
        b[28..32].copy_from_slice(&st.gid.to_le_bytes());
        b[32..40].copy_from_slice(&st.rdev.to_le_bytes());
        b[48..56].copy_from_slice(&st.size.to_le_bytes());
        b[56..60].copy_from_slice(&st.blksize.to_le_bytes());
        b[64..72].copy_from_slice(&st.size.div_ceil(512).to_le_bytes());
        self.mem.write_bytes(addr, &b).map_err(efault)?;
        Ok(0)
    }

    fn uname(&mut self, addr: u64) -> SysResult {
        let fields: [&[u8]; 6] = [
            b"Linux",
            b"friscy",
            b"6.1.0-friscy",
            b"#1 SMP friscy",
            b"riscv64",
            b"(none)",
        ];
        let mut b = [0u8; 65 * 6];
        for (i, f) in fields.iter().enumerate() {
            b[i * 65..i * 65 + f.len()].copy_from_slice(f);
        }
        self.mem.write_bytes(addr, &b).map_err(efault)?;
        Ok(0)
    }

    fn brk(&mut self, want: u64) -> u64 {
        if want < self.brk_start {
            return self.brk;
        }
        let old_top = self.brk.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let new_top = want.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        if new_top > old_top {
            let len = new_top - old_top;
            // The heap may not run into another mapping.
            if new_top > MMAP_TOP || self.mem.find_free(old_top, len, new_top) != Some(old_top) {
                return self.brk;
            }
            self.mem.map(old_top, len, Perm::RW);
        } else if new_top < old_top {
            self.mem.unmap(new_top, old_top - new_top);
        }
        self.brk = want;
        want
    }

    fn mmap(&mut self, a: &[u64; 6]) -> SysResult {
        let (addr, len, prot, flags, fd) = (a[0], a[1], a[2], a[3], a[4] as i64);
        if len == 0 || addr % PAGE_SIZE != 0 {
            return Err(errno::EINVAL);
        }
        if flags & mm::MAP_ANONYMOUS == 0 {
            // Only fds 0-2 exist here, and streams cannot be mapped.
            return Err(if (0..=2).contains(&fd) {
                errno::ENODEV
            } else {
                errno::EBADF
            });
        }
        if flags & (mm::MAP_SHARED | mm::MAP_PRIVATE) == 0 {
            return Err(errno::EINVAL);
        }
        let len = len
            .checked_next_multiple_of(PAGE_SIZE)
            .ok_or(errno::ENOMEM)?;
        let fixed = flags & (mm::MAP_FIXED | mm::MAP_FIXED_NOREPLACE) != 0;
        let start = if fixed {
            if addr.checked_add(len).is_none_or(|e| e > TASK_SIZE) {
                return Err(errno::ENOMEM);
            }
            if flags & mm::MAP_FIXED_NOREPLACE != 0
                && self.mem.find_free(addr, len, addr + len) != Some(addr)
            {
                return Err(errno::EEXIST);
            }
            addr
        } else {
            let hint_ok = addr != 0
                && addr.checked_add(len).is_some_and(|e| e <= MMAP_TOP)
                && self.mem.find_free(addr, len, addr + len) == Some(addr);
            if hint_ok {
                addr
            } else {
                self.mem
                    .find_free_below(MMAP_TOP, len, self.brk_start.saturating_add(1 << 30))
                    .ok_or(errno::ENOMEM)?
            }
        };
        self.mem.map(start, len, prot_to_perm(prot));
        Ok(start)
    }
}

fn prot_to_perm(prot: u64) -> Perm {
    let mut p = Perm::NONE;
    if prot & mm::PROT_READ != 0 {
        p = p | Perm::R;
    }
    if prot & mm::PROT_WRITE != 0 {
        p = p | Perm::W;
    }
    if prot & mm::PROT_EXEC != 0 {
        p = p | Perm::X;
    }
    p
}

/// AT_HWCAP: one bit per single-letter extension (IMAFDC).
fn hwcap() -> u64 {
    b"IMAFDC".iter().fold(0, |acc, &c| acc | (1 << (c - b'A')))
}

/// Writes argc, argv, envp, auxv and their strings below `STACK_TOP` in the
/// layout Linux uses; returns the initial stack pointer.
fn build_stack(
    mem: &mut Memory,
    execfn: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    random: &[u8; 16],
    auxv: &[(u64, u64)],
) -> Option<u64> {
    let mut sp = STACK_TOP;
    let floor = STACK_TOP - STACK_SIZE / 4;
    let push_bytes = |mem: &mut Memory, sp: &mut u64, data: &[u8]| -> Option<u64> {
        *sp = sp.checked_sub(data.len() as u64)?;
        if *sp < floor {
            return None;
        }
        mem.write_bytes(*sp, data).ok()?;
        Some(*sp)
    };
    let cstr = |s: &[u8]| {
        let mut v = s.to_vec();
        v.push(0);
        v
    };
    let execfn_ptr = push_bytes(mem, &mut sp, &cstr(execfn))?;
    let mut env_ptrs = Vec::new();
    for e in envp.iter().rev() {
        env_ptrs.push(push_bytes(mem, &mut sp, &cstr(e))?);
    }
    env_ptrs.reverse();
    let mut arg_ptrs = Vec::new();
    for a in argv.iter().rev() {
        arg_ptrs.push(push_bytes(mem, &mut sp, &cstr(a))?);
    }
    arg_ptrs.reverse();
    sp &= !15;
    let random_ptr = push_bytes(mem, &mut sp, random)?;
    let mut words: Vec<u64> = Vec::new();
    words.push(argv.len() as u64);
    words.extend(&arg_ptrs);
    words.push(0);
    words.extend(&env_ptrs);
    words.push(0);
    for &(k, v) in auxv {
        words.extend([k, v]);
    }
    words.extend([abi::auxv::AT_RANDOM, random_ptr]);
    words.extend([abi::auxv::AT_EXECFN, execfn_ptr]);
    words.extend([abi::auxv::AT_NULL, 0]);
    let size = (words.len() * 8) as u64;
    sp = (sp - size) & !15;
    if sp < floor {
        return None;
    }
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    mem.write_bytes(sp, &bytes).ok()?;
    Some(sp)
}
