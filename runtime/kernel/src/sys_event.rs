//! eventfd, timerfd, epoll and AF_UNIX sockets.

use crate::abi::{errno, nr, open as o};
use crate::fd::{Desc, Description, Epoll, EventFd, Interest, Object, Socket, TimerFd};
use crate::task::Wait;
use crate::{Clock, Kernel, MAX_IO, SysResult};
use friscy_vfs::{FileType, NewNode};
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
const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const SOCK_STREAM: u64 = 1;
const SOCK_DGRAM: u64 = 2;
const SOCK_SEQPACKET: u64 = 5;
const SOCK_TYPE_MASK: u64 = 0xf;
const SOCK_NONBLOCK: u64 = o::O_NONBLOCK;
const SOCK_CLOEXEC: u64 = o::O_CLOEXEC;
const SOL_SOCKET: u64 = 1;
const SO_TYPE: u64 = 3;
const SO_ERROR: u64 = 4;
const SO_RCVBUF: u64 = 8;
const SO_SNDBUF: u64 = 7;
const SO_DOMAIN: u64 = 39;
const SO_PROTOCOL: u64 = 38;
const SO_ACCEPTCONN: u64 = 30;
const SHUT_RD: u64 = 0;
const SHUT_WR: u64 = 1;
const SHUT_RDWR: u64 = 2;
const MSG_DONTWAIT: u64 = 0x40;
const MSG_PEEK: u64 = 0x02;
const MSG_NOSIGNAL: u64 = 0x4000;
/// `sizeof(struct sockaddr_un)`.
const SOCKADDR_UN_SIZE: usize = 110;
/// `struct msghdr`: name, namelen, iov, iovlen, control, controllen, flags.
const MSGHDR_SIZE: usize = 56;

/// (base, len) of each iovec.
type IoVecs = Vec<(u64, u64)>;

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
        Object::Socket(s) => {
            let s = s.borrow();
            if s.listening {
                (!s.backlog.is_empty(), false, false)
            } else {
                let (r, hup_r) = match &s.rx {
                    Some(rx) => {
                        let rx = rx.borrow();
                        (
                            !rx.buf.is_empty() || rx.writers == 0 || s.shut_rd,
                            rx.writers == 0,
                        )
                    }
                    None => (false, false),
                };
                let (w, hup_w) = match &s.tx {
                    Some(tx) => {
                        let tx = tx.borrow();
                        (
                            tx.readers > 0 && tx.space() >= crate::abi::PIPE_BUF,
                            tx.readers == 0,
                        )
                    }
                    None => (false, false),
                };
                (r, w, hup_r && hup_w)
            }
        }
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
            nr::SOCKETPAIR => self.socketpair(a[0], a[1], a[3]),
            nr::SOCKET => self.socket(a[0], a[1]),
            nr::BIND => self.bind(a[0] as i32, a[1], a[2]),
            nr::LISTEN => self.sock(a[0] as i32).map(|s| {
                s.borrow_mut().listening = true;
                0
            }),
            nr::ACCEPT | nr::ACCEPT4 => {
                self.accept(a[0] as i32, if n == nr::ACCEPT4 { a[3] } else { 0 })
            }
            nr::CONNECT => self.connect(a[0] as i32, a[1], a[2]),
            nr::SHUTDOWN => self.shutdown(a[0] as i32, a[1]),
            nr::GETSOCKNAME | nr::GETPEERNAME => {
                let s = match self.sock(a[0] as i32) {
                    Ok(s) => s,
                    Err(e) => return Some(Err(e)),
                };
                let name = if n == nr::GETSOCKNAME {
                    s.borrow().bound.clone()
                } else {
                    let s = s.borrow();
                    if s.rx.is_none() {
                        return Some(Err(errno::ENOTCONN));
                    }
                    s.peer_name.clone()
                };
                self.write_sockaddr(a[1], a[2], name.as_deref().unwrap_or(b""))
                    .map(|_| 0)
            }
            nr::SETSOCKOPT => self.sock(a[0] as i32).map(|_| 0),
            nr::GETSOCKOPT => self.getsockopt(a[0] as i32, a[1], a[2], a[3], a[4]),
            nr::SENDTO => {
                if a[4] != 0 {
                    // an address on a connected stream socket
                    if self.sock(a[0] as i32).is_ok() {
                        return Some(Err(errno::EISCONN));
                    }
                }
                let len = a[2].min(MAX_IO as u64) as usize;
                let mut data = vec![0u8; len];
                if let Err(e) = self.read_mem(a[1], &mut data) {
                    return Some(Err(e));
                }
                self.sock_send(a[0] as i32, &data, a[3])
            }
            nr::RECVFROM => {
                let len = a[2].min(MAX_IO as u64) as usize;
                match self.sock_recv(a[0] as i32, len, a[3]) {
                    Ok(data) => {
                        if a[4] != 0
                            && let Err(e) = self.write_sockaddr(a[4], a[5], b"")
                        {
                            return Some(Err(e));
                        }
                        self.write_mem(a[1], &data).map(|_| data.len() as u64)
                    }
                    Err(e) => Err(e),
                }
            }
            nr::SENDMSG => self.sendmsg(a[0] as i32, a[1], a[2]),
            nr::RECVMSG => self.recvmsg(a[0] as i32, a[1], a[2]),
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
        if nonblock {
            return Err(errno::EAGAIN);
        }
        self.block(Wait {
            restartable: true,
            ..Wait::default()
        })
        .map(|_| Vec::new())
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
                    if nonblock {
                        return Some(Err(errno::EAGAIN));
                    }
                    return Some(
                        self.block(Wait {
                            restartable: true,
                            ..Wait::default()
                        })
                        .map(|_| Vec::new()),
                    );
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
            Err(Err(s)) => {
                let sb = s.borrow();
                if sb.listening {
                    return Some(Err(errno::ENOTCONN));
                }
                let Some(rx) = sb.rx.clone() else {
                    return Some(Err(errno::ENOTCONN));
                };
                let shut = sb.shut_rd;
                drop(sb);
                let mut p = rx.borrow_mut();
                if p.buf.is_empty() {
                    if p.writers == 0 || shut {
                        return Some(Ok(Vec::new()));
                    }
                    drop(p);
                    if nonblock {
                        return Some(Err(errno::EAGAIN));
                    }
                    return Some(
                        self.block(Wait {
                            restartable: true,
                            ..Wait::default()
                        })
                        .map(|_| Vec::new()),
                    );
                }
                let n = len.min(p.buf.len());
                let out: Vec<u8> = if flags & MSG_PEEK != 0 {
                    p.buf.peek(n)
                } else {
                    p.buf.take(n)
                };
                drop(p);
                self.event();
                Ok(out)
            }
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
                    if nonblock {
                        return Some(Err(errno::EAGAIN));
                    }
                    return Some(self.block(Wait {
                        restartable: true,
                        ..Wait::default()
                    }));
                }
                e.count += v;
                drop(e);
                self.event();
                Ok(8)
            }
            Err(s) => {
                let sb = s.borrow();
                let Some(tx) = sb.tx.clone() else {
                    return Some(Err(errno::ENOTCONN));
                };
                let shut = sb.shut_wr;
                drop(sb);
                let mut p = tx.borrow_mut();
                if p.readers == 0 || shut {
                    drop(p);
                    if flags & MSG_NOSIGNAL == 0 {
                        self.raise_sigpipe();
                    }
                    return Some(Err(errno::EPIPE));
                }
                let space = p.space();
                if space == 0 {
                    drop(p);
                    if nonblock {
                        return Some(Err(errno::EAGAIN));
                    }
                    return Some(self.block(Wait {
                        restartable: true,
                        ..Wait::default()
                    }));
                }
                let n = data.len().min(space);
                p.buf.extend_from_slice(&data[..n]);
                drop(p);
                self.event();
                Ok(n as u64)
            }
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

    // ---- sockets ----

    fn sock(&mut self, fd: i32) -> Result<Rc<RefCell<Socket>>, i64> {
        match &self.desc(fd)?.borrow().obj {
            Object::Socket(s) => Ok(s.clone()),
            _ => Err(errno::ENOTSOCK),
        }
    }

    fn socket_kind(&mut self, ty: u64) -> Result<u32, i64> {
        match ty & SOCK_TYPE_MASK {
            SOCK_STREAM => Ok(SOCK_STREAM as u32),
            SOCK_DGRAM | SOCK_SEQPACKET => {
                // Message boundaries are not kept yet: refuse rather than
                // hand out a stream.
                self.note_once(
                    "unix_dgram",
                    "AF_UNIX datagram and seqpacket sockets are not supported yet",
                );
                Err(errno::EPROTONOSUPPORT)
            }
            _ => Err(errno::EINVAL),
        }
    }

    fn socketpair(&mut self, domain: u64, ty: u64, sv: u64) -> SysResult {
        if domain != AF_UNIX {
            return Err(errno::EAFNOSUPPORT);
        }
        let kind = self.socket_kind(ty)?;
        let (a, b) = Socket::pair(kind);
        let flags = o::O_RDWR | (ty & SOCK_NONBLOCK);
        let da = Description::new(Object::Socket(Rc::new(RefCell::new(a))), flags);
        let db = Description::new(Object::Socket(Rc::new(RefCell::new(b))), flags);
        let cloexec = ty & SOCK_CLOEXEC != 0;
        let fa = self.install(da, cloexec)? as i32;
        let fb = match self.install(db, cloexec) {
            Ok(f) => f as i32,
            Err(e) => {
                self.files().borrow_mut().fds.remove(&fa);
                return Err(e);
            }
        };
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&fa.to_le_bytes());
        out[4..].copy_from_slice(&fb.to_le_bytes());
        self.write_mem(sv, &out)?;
        Ok(0)
    }

    fn socket(&mut self, domain: u64, ty: u64) -> SysResult {
        match domain {
            AF_UNIX => {}
            AF_INET | AF_INET6 => return self.inet_socket(domain, ty),
            _ => return Err(errno::EAFNOSUPPORT),
        }
        let kind = self.socket_kind(ty)?;
        let s = Socket::new(kind);
        let d = Description::new(
            Object::Socket(Rc::new(RefCell::new(s))),
            o::O_RDWR | (ty & SOCK_NONBLOCK),
        );
        self.install(d, ty & SOCK_CLOEXEC != 0)
    }

    /// The path in a `sockaddr_un` (abstract names keep their leading NUL).
    fn read_sockaddr(&mut self, addr: u64, len: u64) -> Result<Vec<u8>, i64> {
        if !(2..=SOCKADDR_UN_SIZE as u64).contains(&len) {
            return Err(errno::EINVAL);
        }
        let mut b = vec![0u8; len as usize];
        self.read_mem(addr, &mut b)?;
        if u16::from_le_bytes([b[0], b[1]]) as u64 != AF_UNIX {
            return Err(errno::EAFNOSUPPORT);
        }
        let path = &b[2..];
        if path.first() == Some(&0) {
            return Ok(path.to_vec());
        }
        let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
        if end == 0 {
            return Err(errno::EINVAL);
        }
        Ok(path[..end].to_vec())
    }

    fn write_sockaddr(&mut self, addr: u64, lenp: u64, name: &[u8]) -> Result<(), i64> {
        if addr == 0 || lenp == 0 {
            return Ok(());
        }
        let cap = self.read_u32(lenp)? as usize;
        let mut b = vec![0u8; 2 + name.len() + usize::from(!name.is_empty() && name[0] != 0)];
        b[..2].copy_from_slice(&(AF_UNIX as u16).to_le_bytes());
        b[2..2 + name.len()].copy_from_slice(name);
        let n = b.len().min(cap);
        self.write_mem(addr, &b[..n])?;
        self.write_u32(lenp, b.len() as u32)
    }

    fn bind(&mut self, fd: i32, addr: u64, len: u64) -> SysResult {
        let s = self.sock(fd)?;
        let name = self.read_sockaddr(addr, len)?;
        if s.borrow().bound.is_some() {
            return Err(errno::EINVAL);
        }
        if name[0] == 0 {
            if self.abstract_sockets.contains_key(&name) {
                return Err(errno::EADDRINUSE);
            }
            self.abstract_sockets
                .insert(name.clone(), Rc::downgrade(&s));
        } else {
            let (dir, last, _) = self.parent_of(&name)?;
            let (uid, gid, umask) = {
                let p = self.proc_();
                (p.euid, p.egid, p.umask)
            };
            let ino = self
                .fs
                .borrow_mut()
                .create(dir, &last, NewNode::Sock, 0o777 & !umask, uid, gid)
                .map_err(|e| {
                    if e == errno::EEXIST {
                        errno::EADDRINUSE
                    } else {
                        e
                    }
                })?;
            self.unix_sockets.insert(ino, Rc::downgrade(&s));
        }
        s.borrow_mut().bound = Some(name);
        Ok(0)
    }

    fn connect(&mut self, fd: i32, addr: u64, len: u64) -> SysResult {
        let s = self.sock(fd)?;
        if s.borrow().rx.is_some() {
            return Err(errno::EISCONN);
        }
        let name = self.read_sockaddr(addr, len)?;
        let listener = if name[0] == 0 {
            self.abstract_sockets.get(&name).and_then(|w| w.upgrade())
        } else {
            let ino = self.resolve_path(&name)?;
            if self.fs.borrow().kind(ino)? != FileType::Sock {
                return Err(errno::ECONNREFUSED);
            }
            self.unix_sockets.get(&ino).and_then(|w| w.upgrade())
        };
        let Some(listener) = listener.filter(|l| l.borrow().listening) else {
            return Err(errno::ECONNREFUSED);
        };
        let kind = s.borrow().kind;
        let (mine, mut theirs) = Socket::pair(kind);
        theirs.bound = Some(name.clone());
        {
            let mut sb = s.borrow_mut();
            sb.rx = mine.rx.clone();
            sb.tx = mine.tx.clone();
            sb.peer_name = Some(name);
        }
        // `mine` gives its pipe ends to `s`; forget them without hanging up
        let mut mine = mine;
        mine.rx = None;
        mine.tx = None;
        listener
            .borrow_mut()
            .backlog
            .push_back(Rc::new(RefCell::new(theirs)));
        self.event();
        Ok(0)
    }

    fn accept(&mut self, fd: i32, flags: u64) -> SysResult {
        let s = self.sock(fd)?;
        if !s.borrow().listening {
            return Err(errno::EINVAL);
        }
        let nonblock = self.desc(fd)?.borrow().nonblocking();
        let conn = s.borrow_mut().backlog.pop_front();
        let Some(conn) = conn else {
            if nonblock {
                return Err(errno::EAGAIN);
            }
            return self.block(Wait {
                restartable: true,
                ..Wait::default()
            });
        };
        let d = Description::new(Object::Socket(conn), o::O_RDWR | (flags & SOCK_NONBLOCK));
        self.install(d, flags & SOCK_CLOEXEC != 0)
    }

    fn shutdown(&mut self, fd: i32, how: u64) -> SysResult {
        let s = self.sock(fd)?;
        let mut s = s.borrow_mut();
        if s.rx.is_none() {
            return Err(errno::ENOTCONN);
        }
        if matches!(how, SHUT_RD | SHUT_RDWR) && !s.shut_rd {
            if let Some(rx) = &s.rx {
                rx.borrow_mut().readers -= 1;
            }
            s.shut_rd = true;
        }
        if matches!(how, SHUT_WR | SHUT_RDWR) && !s.shut_wr {
            if let Some(tx) = &s.tx {
                tx.borrow_mut().writers -= 1;
            }
            s.shut_wr = true;
        }
        if how > SHUT_RDWR {
            return Err(errno::EINVAL);
        }
        drop(s);
        self.event();
        Ok(0)
    }

    fn getsockopt(&mut self, fd: i32, level: u64, opt: u64, val: u64, lenp: u64) -> SysResult {
        let s = self.sock(fd)?;
        if level != SOL_SOCKET {
            return Err(errno::EOPNOTSUPP);
        }
        let v: u32 = match opt {
            SO_TYPE => s.borrow().kind,
            SO_ERROR => 0,
            SO_DOMAIN => AF_UNIX as u32,
            SO_PROTOCOL => 0,
            SO_ACCEPTCONN => u32::from(s.borrow().listening),
            SO_RCVBUF | SO_SNDBUF => crate::abi::PIPE_BUF_SIZE as u32,
            _ => return Err(errno::ENOPROTOOPT),
        };
        let cap = self.read_u32(lenp)?;
        if cap < 4 {
            return Err(errno::EINVAL);
        }
        self.write_u32(val, v)?;
        self.write_u32(lenp, 4)?;
        Ok(0)
    }

    fn sock_send(&mut self, fd: i32, data: &[u8], flags: u64) -> SysResult {
        let d = self.desc(fd)?;
        match self.event_write(&d, data, flags) {
            Some(r) => r,
            None => Err(errno::ENOTSOCK),
        }
    }

    fn sock_recv(&mut self, fd: i32, len: usize, flags: u64) -> Result<Vec<u8>, i64> {
        let d = self.desc(fd)?;
        match self.event_read(&d, len, flags) {
            Some(r) => r,
            None => Err(errno::ENOTSOCK),
        }
    }

    /// (iov base, len) pairs of a msghdr, and its seven words.
    fn msghdr(&mut self, msg: u64) -> Result<(IoVecs, [u64; 7]), i64> {
        let mut b = [0u8; MSGHDR_SIZE];
        self.read_mem(msg, &mut b)?;
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        let words = [w(0), w(1), w(2), w(3), w(4), w(5), w(6)];
        let (iov, n) = (words[2], words[3]);
        if n > 1024 {
            return Err(errno::EMSGSIZE);
        }
        let mut v = Vec::new();
        for i in 0..n {
            v.push((
                self.read_u64(iov + i * 16)?,
                self.read_u64(iov + i * 16 + 8)?,
            ));
        }
        Ok((v, words))
    }

    fn sendmsg(&mut self, fd: i32, msg: u64, flags: u64) -> SysResult {
        let (iov, words) = self.msghdr(msg)?;
        if words[5] != 0 {
            self.note_once(
                "scm",
                "sendmsg with ancillary data (e.g. passing descriptors) is not supported yet",
            );
            return Err(errno::EOPNOTSUPP);
        }
        let mut data = Vec::new();
        for (base, len) in iov {
            let len = len.min((MAX_IO - data.len()) as u64) as usize;
            let start = data.len();
            data.resize(start + len, 0);
            self.read_mem(base, &mut data[start..])?;
        }
        self.sock_send(fd, &data, flags)
    }

    fn recvmsg(&mut self, fd: i32, msg: u64, flags: u64) -> SysResult {
        let (iov, _) = self.msghdr(msg)?;
        let total: u64 = iov.iter().map(|&(_, l)| l).sum::<u64>().min(MAX_IO as u64);
        let data = self.sock_recv(fd, total as usize, flags)?;
        let mut at = 0;
        for (base, len) in iov {
            if at >= data.len() {
                break;
            }
            let n = (len as usize).min(data.len() - at);
            self.write_mem(base, &data[at..at + n])?;
            at += n;
        }
        // no name, no control data, no flags
        self.write_u32(msg + 8, 0)?;
        self.write_u64(msg + 40, 0)?;
        self.write_u32(msg + 48, 0)?;
        Ok(data.len() as u64)
    }
}
