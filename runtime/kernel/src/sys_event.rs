//! eventfd, timerfd, epoll and signalfd.

use crate::abi::{errno, nr, open as o};
use crate::fd::{Desc, Description, Epoll, EventFd, Interest, Object, TimerFd};
use crate::sys_unix::MSG_DONTWAIT;
use crate::task::Wait;
use crate::{Clock, Kernel, SysResult};
use std::cell::RefCell;
use std::rc::Rc;

const EFD_SEMAPHORE: u64 = 1;
const TFD_TIMER_ABSTIME: u64 = 1;
const EPOLL_CTL_ADD: u64 = 1;
const EPOLL_CTL_DEL: u64 = 2;
const EPOLL_CTL_MOD: u64 = 3;
const EPOLLIN: u32 = 0x001;
const EPOLLOUT: u32 = 0x004;
const EPOLLERR: u32 = 0x008;
const EPOLLHUP: u32 = 0x010;
const EPOLLRDHUP: u32 = 0x2000;
const EPOLLONESHOT: u32 = 1 << 30;
/// How deep epoll sets may watch epoll sets (Linux: EP_MAX_NESTS).
const EPOLL_MAX_NESTS: u32 = 4;

/// Whether `from` watches `to`, directly or through other epoll sets (or
/// the chain is deeper than `depth`, which counts as a loop too).
fn epoll_reaches(from: &Rc<RefCell<Epoll>>, to: &Rc<RefCell<Epoll>>, depth: u32) -> bool {
    if Rc::ptr_eq(from, to) {
        return true;
    }
    if depth == 0 {
        return true;
    }
    let inner: Vec<Rc<RefCell<Epoll>>> = from
        .borrow()
        .interest
        .values()
        .filter_map(|i| i.desc.upgrade())
        .filter_map(|d| match &d.borrow().obj {
            Object::Epoll(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    inner.iter().any(|e| epoll_reaches(e, to, depth - 1))
}

/// Size of `struct signalfd_siginfo`.
const SIGNALFD_SIGINFO_SIZE: usize = 128;
/// Size of `struct epoll_event` on riscv64 (not packed: u32 events, pad, u64 data).
const EPOLL_EVENT_SIZE: u64 = 16;

/// Readiness of one object: (readable, writable, hung up).
pub(crate) fn readiness(obj: &Object, now: u128) -> Option<(bool, bool, bool)> {
    Some(match obj {
        Object::EventFd(e) => {
            let c = e.borrow().count;
            (c > 0, c < u64::MAX - 1, false)
        }
        Object::TimerFd(t) => {
            let mut t = t.borrow_mut();
            t.advance(now);
            (t.expired > 0, false, false)
        }
        Object::Socket(s) => crate::sys_unix::socket_ready(&s.borrow()),
        _ => return None,
    })
}

impl Kernel {
    pub(crate) fn dispatch_event(&mut self, n: u64, a: &[u64; 6]) -> Option<SysResult> {
        Some(match n {
            nr::EVENTFD2 => {
                if a[1] & !(EFD_SEMAPHORE | o::O_NONBLOCK | o::O_CLOEXEC) != 0 {
                    return Some(Err(errno::EINVAL));
                }
                let e = EventFd {
                    count: a[0] & 0xffff_ffff,
                    semaphore: a[1] & EFD_SEMAPHORE != 0,
                };
                let d = Description::new(
                    Object::EventFd(Rc::new(RefCell::new(e))),
                    o::O_RDWR | (a[1] & o::O_NONBLOCK),
                );
                self.install(d, a[1] & o::O_CLOEXEC != 0)
            }
            nr::TIMERFD_CREATE => {
                if a[1] & !(o::O_NONBLOCK | o::O_CLOEXEC) != 0 {
                    return Some(Err(errno::EINVAL));
                }
                let realtime = match a[0] {
                    0 | 8 => true,
                    1 | 7 | 9 => false,
                    _ => return Some(Err(errno::EINVAL)),
                };
                let t = TimerFd {
                    realtime,
                    ..TimerFd::default()
                };
                let d = Description::new(
                    Object::TimerFd(Rc::new(RefCell::new(t))),
                    o::O_RDONLY | (a[1] & o::O_NONBLOCK),
                );
                self.install(d, a[1] & o::O_CLOEXEC != 0)
            }
            nr::TIMERFD_SETTIME => self.timerfd_settime(a),
            nr::TIMERFD_GETTIME => {
                let t = match self.timer(a[0] as i32) {
                    Ok(t) => t,
                    Err(e) => return Some(Err(e)),
                };
                let (left, interval) = self.timer_left(&t);
                self.write_its(a[1], interval, left).map(|_| 0)
            }
            nr::SIGNALFD4 => self.signalfd(a[0] as i32, a[1], a[2], a[3]),
            nr::EPOLL_CREATE1 => {
                if a[0] & !o::O_CLOEXEC != 0 {
                    return Some(Err(errno::EINVAL));
                }
                let d = Description::new(
                    Object::Epoll(Rc::new(RefCell::new(Epoll::default()))),
                    o::O_RDWR,
                );
                self.install(d, a[0] & o::O_CLOEXEC != 0)
            }
            nr::EPOLL_CTL => self.epoll_ctl(a[0] as i32, a[1], a[2] as i32, a[3]),
            nr::EPOLL_PWAIT | nr::EPOLL_PWAIT2 => {
                let timeout = if n == nr::EPOLL_PWAIT {
                    let ms = a[3] as i32;
                    (ms >= 0).then(|| ms as u128 * 1_000_000)
                } else if a[3] == 0 {
                    None
                } else {
                    match self.read_timespec(a[3]) {
                        Ok(ns) => Some(ns),
                        Err(e) => return Some(Err(e)),
                    }
                };
                self.epoll_wait(a[0] as i32, a[1], a[2] as i32, timeout, a[4])
            }
            _ => return None,
        })
    }

    fn signalfd(&mut self, fd: i32, mask: u64, size: u64, flags: u64) -> SysResult {
        if size != 8 || flags & !(o::O_NONBLOCK | o::O_CLOEXEC) != 0 {
            return Err(errno::EINVAL);
        }
        let set = self.read_u64(mask)? & !crate::signal::UNBLOCKABLE;
        if fd != -1 {
            let d = self.desc(fd)?;
            return match &d.borrow().obj {
                Object::SignalFd(m) => {
                    m.set(set);
                    Ok(fd as u64)
                }
                _ => Err(errno::EINVAL),
            };
        }
        let d = Description::new(
            Object::SignalFd(Rc::new(std::cell::Cell::new(set))),
            o::O_RDONLY | (flags & o::O_NONBLOCK),
        );
        self.install(d, flags & o::O_CLOEXEC != 0)
    }

    /// Reads `struct signalfd_siginfo` records for pending signals.
    fn signalfd_read(&mut self, set: u64, len: usize, nonblock: bool) -> Result<Vec<u8>, i64> {
        if len < SIGNALFD_SIGINFO_SIZE {
            return Err(errno::EINVAL);
        }
        let mut out = Vec::new();
        while out.len() + SIGNALFD_SIGINFO_SIZE <= len {
            let Some(si) = self.take_pending(set) else {
                break;
            };
            let mut b = [0u8; SIGNALFD_SIGINFO_SIZE];
            b[0..4].copy_from_slice(&(si.signo as u32).to_le_bytes());
            b[8..12].copy_from_slice(&si.code.to_le_bytes());
            b[12..16].copy_from_slice(&(si.pid as u32).to_le_bytes());
            b[16..20].copy_from_slice(&si.uid.to_le_bytes());
            b[40..44].copy_from_slice(&si.status.to_le_bytes());
            if let Some(addr) = si.addr {
                b[72..80].copy_from_slice(&addr.to_le_bytes());
            }
            if let Some((_, overrun, value)) = si.timer {
                b[32..36].copy_from_slice(&(overrun as u32).to_le_bytes());
                b[48..56].copy_from_slice(&value.to_le_bytes());
            }
            out.extend_from_slice(&b);
        }
        if !out.is_empty() {
            return Ok(out);
        }
        self.would_block(nonblock).map(|_| Vec::new())
    }

    /// Reads from an eventfd, timerfd or socket; None for other objects.
    pub(crate) fn event_read(
        &mut self,
        d: &Desc,
        len: usize,
        flags: u64,
    ) -> Option<Result<Vec<u8>, i64>> {
        let nonblock = d.borrow().nonblocking() || flags & MSG_DONTWAIT != 0;
        let now = self.now(Clock::Monotonic);
        let inet = match &d.borrow().obj {
            Object::Inet(s) => Some(s.clone()),
            _ => None,
        };
        if let Some(s) = inet {
            return Some(self.inet_recv(&s, len, flags, nonblock).map(|(b, _)| b));
        }
        let sigset = match &d.borrow().obj {
            Object::SignalFd(m) => Some(m.get()),
            _ => None,
        };
        if let Some(set) = sigset {
            return Some(self.signalfd_read(set, len, nonblock));
        }
        let obj = match &d.borrow().obj {
            Object::EventFd(e) => Ok(e.clone()),
            Object::TimerFd(t) => Err(Ok(t.clone())),
            Object::Socket(s) => Err(Err(s.clone())),
            _ => return None,
        };
        Some(match obj {
            Ok(e) => {
                if len < 8 {
                    return Some(Err(errno::EINVAL));
                }
                let mut e = e.borrow_mut();
                if e.count == 0 {
                    drop(e);
                    return Some(self.would_block(nonblock).map(|_| Vec::new()));
                }
                let v = if e.semaphore { 1 } else { e.count };
                e.count -= v;
                drop(e);
                self.event();
                Ok(v.to_le_bytes().to_vec())
            }
            Err(Ok(t)) => {
                if len < 8 {
                    return Some(Err(errno::EINVAL));
                }
                let mut tm = t.borrow_mut();
                tm.advance(now);
                if tm.expired == 0 {
                    let next = tm.next;
                    drop(tm);
                    if nonblock {
                        return Some(Err(errno::EAGAIN));
                    }
                    return Some(
                        self.block(Wait {
                            deadline: next,
                            epoch: Some(0),
                            restartable: true,
                            ..Wait::default()
                        })
                        .map(|_| Vec::new()),
                    );
                }
                let v = std::mem::take(&mut tm.expired);
                Ok(v.to_le_bytes().to_vec())
            }
            Err(Err(s)) => self.unix_recv(&s, len, flags, nonblock).map(|r| r.data),
        })
    }

    /// Writes to an eventfd or socket; None for other objects.
    pub(crate) fn event_write(&mut self, d: &Desc, data: &[u8], flags: u64) -> Option<SysResult> {
        let nonblock = d.borrow().nonblocking() || flags & MSG_DONTWAIT != 0;
        let inet = match &d.borrow().obj {
            Object::Inet(s) => Some(s.clone()),
            _ => None,
        };
        if let Some(s) = inet {
            return Some(self.inet_send(&s, data, None, flags, nonblock));
        }
        let obj = match &d.borrow().obj {
            Object::EventFd(e) => Ok(e.clone()),
            Object::Socket(s) => Err(s.clone()),
            Object::TimerFd(_) | Object::Epoll(_) | Object::SignalFd(_) => {
                return Some(Err(errno::EINVAL));
            }
            _ => return None,
        };
        Some(match obj {
            Ok(e) => {
                if data.len() < 8 {
                    return Some(Err(errno::EINVAL));
                }
                let v = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
                if v == u64::MAX {
                    return Some(Err(errno::EINVAL));
                }
                let mut e = e.borrow_mut();
                if e.count > u64::MAX - 1 - v {
                    drop(e);
                    return Some(self.would_block(nonblock));
                }
                e.count += v;
                drop(e);
                self.event();
                Ok(8)
            }
            Err(s) => self.unix_send(&s, data, Vec::new(), None, flags, nonblock),
        })
    }

    fn timer(&mut self, fd: i32) -> Result<Rc<RefCell<TimerFd>>, i64> {
        match &self.desc(fd)?.borrow().obj {
            Object::TimerFd(t) => Ok(t.clone()),
            _ => Err(errno::EINVAL),
        }
    }

    /// (time left, interval) of a timer, in ns.
    fn timer_left(&mut self, t: &Rc<RefCell<TimerFd>>) -> (u128, u128) {
        let now = self.now(Clock::Monotonic);
        let mut t = t.borrow_mut();
        t.advance(now);
        (t.next.map_or(0, |n| n.saturating_sub(now)), t.interval)
    }

    /// Writes a `struct itimerspec` (interval, value).
    fn write_its(&mut self, addr: u64, interval: u128, value: u128) -> Result<(), i64> {
        if addr == 0 {
            return Ok(());
        }
        self.write_timespec(addr, interval)?;
        self.write_timespec(addr + 16, value)
    }

    fn timerfd_settime(&mut self, a: &[u64; 6]) -> SysResult {
        let t = self.timer(a[0] as i32)?;
        let old = self.timer_left(&t);
        let interval = self.read_timespec(a[2])?;
        let value = self.read_timespec(a[2] + 16)?;
        let now = self.now(Clock::Monotonic);
        let next = if value == 0 {
            None
        } else if a[1] & TFD_TIMER_ABSTIME != 0 {
            let clock = if t.borrow().realtime {
                Clock::Realtime
            } else {
                Clock::Monotonic
            };
            let cur = self.now(clock);
            Some(now + value.saturating_sub(cur))
        } else {
            Some(now + value)
        };
        {
            let mut tm = t.borrow_mut();
            tm.next = next;
            tm.interval = interval;
            tm.expired = 0;
        }
        self.write_its(a[3], old.1, old.0)?;
        self.event();
        Ok(0)
    }

    fn epoll_of(&mut self, fd: i32) -> Result<Rc<RefCell<Epoll>>, i64> {
        match &self.desc(fd)?.borrow().obj {
            Object::Epoll(e) => Ok(e.clone()),
            _ => Err(errno::EINVAL),
        }
    }

    fn epoll_ctl(&mut self, epfd: i32, op: u64, fd: i32, ev: u64) -> SysResult {
        let ep = self.epoll_of(epfd)?;
        let target = self.desc(fd)?;
        if fd == epfd {
            return Err(errno::EINVAL);
        }
        if matches!(target.borrow().obj, Object::Node(_)) {
            // regular files and directories are always ready: Linux refuses them
            return Err(errno::EPERM);
        }
        let inner = match &target.borrow().obj {
            Object::Epoll(e) => Some(e.clone()),
            _ => None,
        };
        if let Some(inner) = inner
            && op != EPOLL_CTL_DEL
            && epoll_reaches(&inner, &ep, EPOLL_MAX_NESTS)
        {
            return Err(errno::ELOOP);
        }
        let (events, data) = if op == EPOLL_CTL_DEL {
            (0, 0)
        } else {
            (self.read_u32(ev)?, self.read_u64(ev + 8)?)
        };
        let mut ep = ep.borrow_mut();
        match op {
            EPOLL_CTL_ADD => {
                if ep.interest.contains_key(&fd) {
                    return Err(errno::EEXIST);
                }
                ep.interest.insert(
                    fd,
                    Interest {
                        desc: Rc::downgrade(&target),
                        events,
                        data,
                    },
                );
            }
            EPOLL_CTL_MOD => {
                let i = ep.interest.get_mut(&fd).ok_or(errno::ENOENT)?;
                i.events = events;
                i.data = data;
                i.desc = Rc::downgrade(&target);
            }
            EPOLL_CTL_DEL => {
                ep.interest.remove(&fd).ok_or(errno::ENOENT)?;
            }
            _ => return Err(errno::EINVAL),
        }
        Ok(0)
    }

    /// Readiness of a description for poll-like waits.
    pub(crate) fn desc_ready(&mut self, d: &Desc) -> (bool, bool, bool) {
        let inet = match &d.borrow().obj {
            Object::Inet(s) => Some(s.clone()),
            _ => None,
        };
        if let Some(s) = inet {
            return self.inet_ready(&s);
        }
        let sigset = match &d.borrow().obj {
            Object::SignalFd(m) => Some(m.get()),
            _ => None,
        };
        if let Some(set) = sigset {
            let tid = self.cur;
            let pending = self.tasks.get(&tid).map_or(0, |t| t.pending)
                | self.procs.get(&self.pid()).map_or(0, |p| p.pending);
            return (pending & set != 0, false, false);
        }
        let now = self.now(Clock::Monotonic);
        let obj_ready = readiness(&d.borrow().obj, now);
        if let Some(r) = obj_ready {
            return r;
        }
        let epoll = match &d.borrow().obj {
            Object::Epoll(e) => Some(e.clone()),
            _ => None,
        };
        if let Some(ep) = epoll {
            // Epoll sets may watch epoll sets (Linux allows a few levels
            // and refuses loops): look no deeper than that.
            if self.epoll_depth >= EPOLL_MAX_NESTS {
                return (false, false, false);
            }
            self.epoll_depth += 1;
            let none = self.epoll_ready(&ep, 1, false).is_empty();
            self.epoll_depth -= 1;
            return (!none, false, false);
        }
        self.simple_ready(d)
    }

    /// Up to `max` ready events of `ep` as (events, data).
    fn epoll_ready(
        &mut self,
        ep: &Rc<RefCell<Epoll>>,
        max: usize,
        consume: bool,
    ) -> Vec<(u32, u64)> {
        let entries: Vec<(
            i32,
            std::rc::Weak<RefCell<crate::fd::Description>>,
            u32,
            u64,
        )> = ep
            .borrow()
            .interest
            .iter()
            .map(|(&fd, i)| (fd, i.desc.clone(), i.events, i.data))
            .collect();
        let mut out = Vec::new();
        for (fd, weak, events, data) in entries {
            if out.len() >= max {
                break;
            }
            let Some(d) = weak.upgrade() else {
                // the description is gone: so is the registration
                ep.borrow_mut().interest.remove(&fd);
                continue;
            };
            let (r, w, hup) = self.desc_ready(&d);
            let mut rev = 0;
            if r && events & EPOLLIN != 0 {
                rev |= EPOLLIN;
            }
            if w && events & EPOLLOUT != 0 {
                rev |= EPOLLOUT;
            }
            if hup {
                rev |= EPOLLHUP | (events & EPOLLRDHUP);
            }
            if rev & (EPOLLIN | EPOLLOUT | EPOLLHUP | EPOLLERR) != 0 && events & 0x3fff_ffff != 0 {
                out.push((rev, data));
                if consume
                    && events & EPOLLONESHOT != 0
                    && let Some(i) = ep.borrow_mut().interest.get_mut(&fd)
                {
                    i.events = 0;
                }
            }
        }
        out
    }

    fn epoll_wait(
        &mut self,
        epfd: i32,
        events: u64,
        max: i32,
        timeout: Option<u128>,
        sigmask: u64,
    ) -> SysResult {
        if max <= 0 {
            return Err(errno::EINVAL);
        }
        let ep = self.epoll_of(epfd)?;
        let ready = self.epoll_ready(&ep, max as usize, true);
        if !ready.is_empty() {
            let mut b = Vec::with_capacity(ready.len() * EPOLL_EVENT_SIZE as usize);
            for (ev, data) in &ready {
                b.extend_from_slice(&ev.to_le_bytes());
                b.extend_from_slice(&[0u8; 4]);
                b.extend_from_slice(&data.to_le_bytes());
            }
            self.write_mem(events, &b)?;
            self.end_wait();
            return Ok(ready.len() as u64);
        }
        let now = self.now(Clock::Monotonic);
        let deadline = match self.task().sleep_until {
            Some(d) => Some(d),
            None => timeout.map(|t| {
                let d = now + t;
                self.task().sleep_until = Some(d);
                d
            }),
        };
        if deadline.is_some_and(|d| now >= d) {
            self.end_wait();
            return Ok(0);
        }
        if sigmask != 0 && self.task().saved_mask.is_none() {
            let m = self.read_u64(sigmask)?;
            let t = self.task();
            t.saved_mask = Some(t.sigmask);
            t.sigmask = m & !crate::signal::UNBLOCKABLE;
        }
        // Timers in the set bound the wait too.
        let timer_next = self.epoll_timer_deadline(&ep);
        let deadline = match (deadline, timer_next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let host_input = self.epoll_watches_host_input(&ep);
        self.block(Wait {
            deadline,
            epoch: Some(0),
            host_input,
            ..Wait::default()
        })
    }

    fn epoll_timer_deadline(&self, ep: &Rc<RefCell<Epoll>>) -> Option<u128> {
        ep.borrow()
            .interest
            .values()
            .filter_map(|i| i.desc.upgrade())
            .filter_map(|d| match &d.borrow().obj {
                Object::TimerFd(t) => t.borrow().next,
                _ => None,
            })
            .min()
    }

    fn epoll_watches_host_input(&self, ep: &Rc<RefCell<Epoll>>) -> bool {
        ep.borrow()
            .interest
            .values()
            .filter_map(|i| i.desc.upgrade())
            .any(|d| d.borrow().obj.waits_on_host())
    }

    /// A wait that returns: its deadline and temporary mask go.
    pub(crate) fn end_wait(&mut self) {
        let t = self.task();
        t.sleep_until = None;
        if let Some(m) = t.saved_mask.take() {
            t.sigmask = m;
        }
    }
}
