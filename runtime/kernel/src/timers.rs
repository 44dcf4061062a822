//! Interval timers: `setitimer(ITIMER_REAL)`/`getitimer` (which glibc's
//! `alarm` uses) and POSIX timers (`timer_create` and friends), all
//! delivering signals when they expire.

use crate::abi::{errno, nr, sig};
use crate::signal::SigInfo;
use crate::sys_proc::Target;
use crate::task::Pid;
use crate::{Clock, Kernel, SysResult};
use std::collections::BTreeMap;

const ITIMER_REAL: u64 = 0;
const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD_ID: i32 = 4;
const TIMER_ABSTIME: u64 = 1;
/// si_code of a POSIX timer's signal.
const SI_TIMER: i32 = -2;
/// Most POSIX timers one process may have.
const MAX_TIMERS: usize = 1024;

/// One timer of a process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timer {
    /// Next expiry (monotonic ns).
    pub next: Option<u128>,
    pub interval: u128,
    pub signo: i32,
    /// Deliver to this thread (SIGEV_THREAD_ID), else to the process.
    pub thread: Option<Pid>,
    /// SIGEV_NONE: nothing is delivered.
    pub silent: bool,
    pub value: u64,
    pub overrun: i32,
    /// CLOCK_REALTIME (for TIMER_ABSTIME).
    pub realtime: bool,
}

/// The timers of every process: ITIMER_REAL as id -1, POSIX timers by id.
#[derive(Debug, Default)]
pub struct Timers {
    by_pid: BTreeMap<Pid, BTreeMap<i32, Timer>>,
}

impl Timers {
    /// The earliest expiry of any timer.
    pub fn next_deadline(&self) -> Option<u128> {
        self.by_pid
            .values()
            .flat_map(|m| m.values())
            .filter_map(|t| t.next)
            .min()
    }

    /// A process ended (or exec'd: POSIX timers go, ITIMER_REAL stays).
    pub fn drop_process(&mut self, pid: Pid, keep_itimer: bool) {
        if keep_itimer {
            if let Some(m) = self.by_pid.get_mut(&pid) {
                m.retain(|&id, _| id == -1);
            }
        } else {
            self.by_pid.remove(&pid);
        }
    }
}

impl Kernel {
    pub(crate) fn dispatch_timers(&mut self, n: u64, a: &[u64; 6]) -> Option<SysResult> {
        Some(match n {
            nr::SETITIMER => self.setitimer(a[0], a[1], a[2]),
            nr::GETITIMER => {
                if a[0] != ITIMER_REAL {
                    return Some(self.other_itimer());
                }
                let pid = self.pid();
                let t = self
                    .timers
                    .by_pid
                    .get(&pid)
                    .and_then(|m| m.get(&-1))
                    .copied();
                self.write_itimerval(a[1], t.unwrap_or_default()).map(|_| 0)
            }
            nr::TIMER_CREATE => self.timer_create(a[0], a[1], a[2]),
            nr::TIMER_SETTIME => self.timer_settime(a[0] as i32, a[1], a[2], a[3]),
            nr::TIMER_GETTIME => {
                let pid = self.pid();
                let Some(t) = self
                    .timers
                    .by_pid
                    .get(&pid)
                    .and_then(|m| m.get(&(a[0] as i32)))
                    .copied()
                else {
                    return Some(Err(errno::EINVAL));
                };
                let now = self.now(Clock::Monotonic);
                let left = t.next.map_or(0, |n| n.saturating_sub(now).max(1));
                self.write_timespec(a[1], t.interval)
                    .and_then(|_| self.write_timespec(a[1] + 16, left))
                    .map(|_| 0)
            }
            nr::TIMER_GETOVERRUN => {
                let pid = self.pid();
                match self
                    .timers
                    .by_pid
                    .get(&pid)
                    .and_then(|m| m.get(&(a[0] as i32)))
                {
                    Some(t) => Ok(t.overrun as u64),
                    None => Err(errno::EINVAL),
                }
            }
            nr::TIMER_DELETE => {
                let pid = self.pid();
                let id = a[0] as i32;
                match self.timers.by_pid.get_mut(&pid).and_then(|m| m.remove(&id)) {
                    Some(_) if id >= 0 => Ok(0),
                    _ => Err(errno::EINVAL),
                }
            }
            _ => return None,
        })
    }

    fn other_itimer(&mut self) -> SysResult {
        // ITIMER_VIRTUAL and ITIMER_PROF count CPU time, which friscy does
        // not account per process yet.
        self.note_once(
            "itimer_cpu",
            "setitimer(ITIMER_VIRTUAL/ITIMER_PROF) is not implemented; returning ENOSYS",
        );
        Err(errno::ENOSYS)
    }

    /// Writes a `struct itimerval` (interval, value; timevals).
    fn write_itimerval(&mut self, addr: u64, t: Timer) -> Result<(), i64> {
        if addr == 0 {
            return Ok(());
        }
        let now = self.now(Clock::Monotonic);
        let left = t.next.map_or(0, |n| n.saturating_sub(now).max(1000));
        let us = |ns: u128| {
            (
                (ns / 1_000_000_000) as u64,
                (ns % 1_000_000_000 / 1000) as u64,
            )
        };
        let (isec, iusec) = us(t.interval);
        let (vsec, vusec) = us(left);
        self.write_pair(addr, isec, iusec)?;
        self.write_pair(addr + 16, vsec, vusec)
    }

    fn read_timeval(&mut self, addr: u64) -> Result<u128, i64> {
        let sec = self.read_u64(addr)? as i64;
        let usec = self.read_u64(addr + 8)? as i64;
        if sec < 0 || !(0..1_000_000).contains(&usec) {
            return Err(errno::EINVAL);
        }
        Ok(sec as u128 * 1_000_000_000 + usec as u128 * 1000)
    }

    fn setitimer(&mut self, which: u64, new: u64, old: u64) -> SysResult {
        if which != ITIMER_REAL {
            return if which <= 2 {
                self.other_itimer()
            } else {
                Err(errno::EINVAL)
            };
        }
        let pid = self.pid();
        let prev = self
            .timers
            .by_pid
            .get(&pid)
            .and_then(|m| m.get(&-1))
            .copied()
            .unwrap_or_default();
        let (interval, value) = if new != 0 {
            (self.read_timeval(new)?, self.read_timeval(new + 16)?)
        } else {
            (0, 0)
        };
        if old != 0 {
            self.write_itimerval(old, prev)?;
        }
        let now = self.now(Clock::Monotonic);
        let t = Timer {
            next: (value > 0).then_some(now + value),
            interval,
            signo: sig::SIGALRM,
            ..Timer::default()
        };
        self.timers.by_pid.entry(pid).or_default().insert(-1, t);
        Ok(0)
    }

    fn timer_create(&mut self, clock: u64, sevp: u64, idp: u64) -> SysResult {
        let realtime = match clock {
            0 | 8 | 11 => true,
            1 | 4 | 7 | 9 => false,
            2 | 3 => {
                self.note_once(
                    "cpu_timer",
                    "timer_create on a CPU-time clock is not implemented; returning ENOSYS",
                );
                return Err(errno::ENOSYS);
            }
            _ => return Err(errno::EINVAL),
        };
        let pid = self.pid();
        let count = self.timers.by_pid.get(&pid).map_or(0, |m| m.len());
        if count >= MAX_TIMERS {
            return Err(errno::EAGAIN);
        }
        let id = (0..)
            .find(|i| {
                !self
                    .timers
                    .by_pid
                    .get(&pid)
                    .is_some_and(|m| m.contains_key(i))
            })
            .unwrap_or(0);
        let mut t = Timer {
            signo: sig::SIGALRM,
            value: id as u64,
            realtime,
            ..Timer::default()
        };
        if sevp != 0 {
            let mut b = [0u8; 24];
            self.read_mem(sevp, &mut b)?;
            t.value = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
            let signo = i32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
            let notify = i32::from_le_bytes(b[12..16].try_into().expect("4 bytes"));
            match notify {
                SIGEV_NONE => t.silent = true,
                SIGEV_SIGNAL | SIGEV_THREAD_ID => {
                    if !(1..=sig::NSIG).contains(&signo) {
                        return Err(errno::EINVAL);
                    }
                    t.signo = signo;
                    if notify == SIGEV_THREAD_ID {
                        let tid = i32::from_le_bytes(b[16..20].try_into().expect("4 bytes"));
                        if self.tasks.get(&tid).is_none_or(|x| x.pid != pid) {
                            return Err(errno::EINVAL);
                        }
                        t.thread = Some(tid);
                    }
                }
                _ => return Err(errno::EINVAL),
            }
        }
        self.write_u32(idp, id as u32)?;
        self.timers.by_pid.entry(pid).or_default().insert(id, t);
        Ok(0)
    }

    fn timer_settime(&mut self, id: i32, flags: u64, new: u64, old: u64) -> SysResult {
        let pid = self.pid();
        let Some(prev) = self
            .timers
            .by_pid
            .get(&pid)
            .and_then(|m| m.get(&id))
            .copied()
        else {
            return Err(errno::EINVAL);
        };
        if id < 0 {
            return Err(errno::EINVAL);
        }
        let interval = self.read_timespec(new)?;
        let value = self.read_timespec(new + 16)?;
        let now = self.now(Clock::Monotonic);
        if old != 0 {
            let left = prev.next.map_or(0, |n| n.saturating_sub(now).max(1));
            self.write_timespec(old, prev.interval)?;
            self.write_timespec(old + 16, left)?;
        }
        let next = if value == 0 {
            None
        } else if flags & TIMER_ABSTIME != 0 {
            let clock = if prev.realtime {
                Clock::Realtime
            } else {
                Clock::Monotonic
            };
            let cur = self.now(clock);
            Some(now + value.saturating_sub(cur))
        } else {
            Some(now + value)
        };
        if let Some(t) = self
            .timers
            .by_pid
            .get_mut(&pid)
            .and_then(|m| m.get_mut(&id))
        {
            t.next = next;
            t.interval = interval;
            t.overrun = 0;
        }
        Ok(0)
    }

    /// Delivers the signals of every timer that expired by now.
    pub(crate) fn fire_timers(&mut self) {
        let Some(first) = self.timers.next_deadline() else {
            return;
        };
        let now = self.now(Clock::Monotonic);
        if now < first {
            return;
        }
        let mut fired = Vec::new();
        for (&pid, timers) in self.timers.by_pid.iter_mut() {
            for (&id, t) in timers.iter_mut() {
                let Some(next) = t.next else {
                    continue;
                };
                if now < next {
                    continue;
                }
                let mut overrun = 0;
                t.next = match (now - next).checked_div(t.interval) {
                    Some(k) => {
                        overrun = k.min(i32::MAX as u128) as i32;
                        Some(next + (k + 1) * t.interval)
                    }
                    None => None,
                };
                t.overrun = overrun;
                if !t.silent {
                    fired.push((pid, id, *t, overrun));
                }
            }
        }
        for (pid, id, t, overrun) in fired {
            let info = SigInfo {
                signo: t.signo,
                code: if id < 0 { sig::SI_KERNEL } else { SI_TIMER },
                timer: (id >= 0).then_some((id, overrun, t.value)),
                ..SigInfo::default()
            };
            let target = match t.thread {
                Some(tid) if self.tasks.contains_key(&tid) => Target::Thread(tid),
                _ => Target::Process(pid),
            };
            self.send_signal(target, info);
        }
    }
}
