//! Threads (tasks), processes (thread groups) and their address spaces.

use crate::fd::FdTable;
use crate::signal::SigAction;
use friscy_machine::{CodeCache, Hart, Memory};
use friscy_vfs::Ino;
use std::cell::RefCell;
use std::rc::Rc;

pub type Pid = i32;

/// An address space: memory, its decoded code and the heap's bounds.
pub struct Mm {
    pub mem: Memory,
    pub code: CodeCache,
    pub brk_start: u64,
    pub brk: u64,
    /// What file backs each mapping, by start address (for /proc/PID/maps).
    pub names: std::collections::BTreeMap<u64, MapName>,
}

/// The file behind a mapping: its path and the file offset of the start.
#[derive(Clone, Debug)]
pub struct MapName {
    pub end: u64,
    pub offset: u64,
    pub path: std::rc::Rc<[u8]>,
}

impl Mm {
    /// A fresh address space.
    pub fn new(mem: Memory, code: CodeCache, brk: u64) -> Mm {
        Mm {
            mem,
            code,
            brk_start: brk,
            brk,
            names: std::collections::BTreeMap::new(),
        }
    }

    /// Records that [start, end) now maps `name` (path, file offset of
    /// `start`), or nothing named; names of what was there are cut away.
    pub fn name_range(&mut self, start: u64, end: u64, name: Option<(std::rc::Rc<[u8]>, u64)>) {
        let hit: Vec<u64> = self
            .names
            .range(..end)
            .filter(|(s, n)| n.end > start && **s < end)
            .map(|(s, _)| *s)
            .collect();
        for s in hit {
            let n = self.names.remove(&s).expect("listed");
            if s < start {
                self.names.insert(
                    s,
                    MapName {
                        end: start,
                        ..n.clone()
                    },
                );
            }
            if n.end > end {
                self.names.insert(
                    end,
                    MapName {
                        end: n.end,
                        offset: n.offset + (end - s),
                        path: n.path.clone(),
                    },
                );
            }
        }
        if let Some((path, offset)) = name {
            self.names.insert(start, MapName { end, offset, path });
        }
    }

    /// The file mapped at `addr`, with the file offset there.
    pub fn name_at(&self, addr: u64) -> Option<(&[u8], u64)> {
        let (s, n) = self.names.range(..=addr).next_back()?;
        (n.end > addr).then(|| (&*n.path, n.offset + (addr - s)))
    }
}

/// What a futex is: (address space, address) for a private one, (shared
/// page, offset with the top bit set) for one in a shared mapping.
pub type FutexKey = (u64, u64);

/// Why a blocked task waits; it is retried (its system call run again)
/// when the wait may be over.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wait {
    /// Retry when anything happened since (`Kernel::epoch` moved past this).
    pub epoch: Option<u64>,
    /// Retry at this monotonic time (ns).
    pub deadline: Option<u128>,
    /// Retry when the host's standard input may be readable.
    pub host_input: bool,
    /// Waiting on this futex (key, bitset); woken by FUTEX_WAKE only.
    pub futex: Option<(FutexKey, u32)>,
    /// The call is restarted after a signal handler with SA_RESTART.
    pub restartable: bool,
    /// Only a `wake` value (or a signal) ends the wait.
    pub manual: bool,
    /// Waiting on a host socket: (handle, for writing).
    pub net: Option<(u64, bool)>,
}

#[derive(Clone, Copy, Debug)]
pub enum State {
    Runnable,
    /// In a system call that could not finish yet; `pc` is at its `ecall`.
    Blocked(Wait),
    /// Stopped by a job-control signal.
    Stopped,
}

pub struct Task {
    pub tid: Pid,
    pub pid: Pid,
    pub hart: Hart,
    pub state: State,
    pub sigmask: u64,
    /// Signals sent to this thread.
    pub pending: u64,
    pub clear_child_tid: u64,
    pub robust_list: u64,
    /// A value a blocked call returns when resumed (set by FUTEX_WAKE or a
    /// deadline that passed), instead of running it again.
    pub wake: Option<u64>,
    /// sigaltstack: (sp, size, flags).
    pub altstack: (u64, u64, u32),
    /// The mask to restore once a handler runs (rt_sigsuspend, ppoll).
    pub saved_mask: Option<u64>,
    /// Deadline of a sleep or timed wait in progress (ns, monotonic).
    pub sleep_until: Option<u128>,
    /// The child this task waits for in vfork.
    pub vfork_child: Option<Pid>,
}

impl Task {
    pub fn new(tid: Pid, pid: Pid, hart: Hart) -> Task {
        Task {
            tid,
            pid,
            hart,
            state: State::Runnable,
            sigmask: 0,
            pending: 0,
            clear_child_tid: 0,
            robust_list: 0,
            wake: None,
            altstack: (0, 0, crate::abi::sig::SS_DISABLE),
            saved_mask: None,
            sleep_until: None,
            vfork_child: None,
        }
    }
}

/// How a process ended, as wait4 reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    Exited(i32),
    Killed { signal: i32, core: bool },
}

impl Termination {
    /// The exit status a shell reports (128 + N for signal N).
    pub fn status(self) -> i32 {
        match self {
            Termination::Exited(c) => c & 0xff,
            Termination::Killed { signal, .. } => 128 + signal,
        }
    }

    /// The status word wait4 stores.
    pub fn wstatus(self) -> u32 {
        match self {
            Termination::Exited(c) => ((c & 0xff) as u32) << 8,
            Termination::Killed { signal, core } => signal as u32 | if core { 0x80 } else { 0 },
        }
    }
}

pub type Actions = [SigAction; 65];

pub struct Proc {
    pub pid: Pid,
    pub ppid: Pid,
    pub pgid: Pid,
    pub sid: Pid,
    pub mm: Rc<RefCell<Mm>>,
    pub files: Rc<RefCell<FdTable>>,
    pub cwd: Ino,
    pub umask: u32,
    pub actions: Rc<RefCell<Actions>>,
    /// Signals sent to the process as a whole.
    pub pending: u64,
    pub threads: Vec<Pid>,
    /// Set once every thread is gone: the process is a zombie.
    pub ended: Option<Termination>,
    /// The exit of the whole group is under way (exit_group, fatal signal).
    pub group_exit: Option<Termination>,
    /// Signal sent to the parent at exit.
    pub exit_signal: i32,
    /// Path of the running program, as /proc/self/exe shows it.
    pub exe: Vec<u8>,
    /// The program's arguments and environment, NUL-terminated (as
    /// /proc/PID/cmdline and environ show them).
    pub cmdline: Vec<u8>,
    pub environ: Vec<u8>,
    pub comm: [u8; crate::abi::TASK_COMM_LEN],
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub groups: Vec<u32>,
    /// The parent thread blocked in vfork until this child execs or exits.
    pub vfork_parent: Option<Pid>,
    /// Instructions retired by threads that are gone.
    pub instret_done: u64,
    /// A stop (by this signal) or a continue the parent's wait has not
    /// seen yet (WUNTRACED / WCONTINUED).
    pub stop_report: Option<i32>,
    pub cont_report: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_names_split_and_shift() {
        let mut mm = Mm::new(Memory::new(), CodeCache::new(), 0);
        let a: std::rc::Rc<[u8]> = b"/a"[..].into();
        mm.name_range(0x1000, 0x5000, Some((a.clone(), 0x100)));
        mm.name_range(0x2000, 0x3000, None);
        assert_eq!(mm.name_at(0x1000), Some((&b"/a"[..], 0x100)));
        assert_eq!(mm.name_at(0x2800), None);
        assert_eq!(mm.name_at(0x3000), Some((&b"/a"[..], 0x2100)));
        assert_eq!(mm.name_at(0x4fff), Some((&b"/a"[..], 0x40ff)));
        assert_eq!(mm.name_at(0x5000), None);
        mm.name_range(0, 0x10000, Some((b"/b"[..].into(), 0)));
        assert_eq!(mm.names.len(), 1);
        assert_eq!(mm.name_at(0x3000), Some((&b"/b"[..], 0x3000)));
    }
}
