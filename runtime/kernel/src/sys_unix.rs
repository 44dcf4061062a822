//! AF_UNIX sockets: stream, datagram and seqpacket; bound to file system
//! nodes or abstract names; descriptors passed with SCM_RIGHTS.
//!
//! A connection is two [`Pipe`]s, one per direction. A datagram socket
//! owns its receive queue; senders append to the queue of the socket they
//! name (or connected to). Message boundaries, descriptors in flight and
//! sender names are [`Record`]s over the queued bytes.

use crate::abi::{errno, nr, open as o};
use crate::fd::{Cred, Desc, Description, Object, Pipe, Record, SOCK_DGRAM, SOCK_STREAM, Socket};
use crate::{Kernel, MAX_IO, SysResult};
use friscy_vfs::{FileType, NewNode};
use std::cell::RefCell;
use std::rc::Rc;

pub(crate) const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const SOCK_SEQPACKET: u32 = 5;
const SOCK_TYPE_MASK: u64 = 0xf;
const SOCK_NONBLOCK: u64 = o::O_NONBLOCK;
const SOCK_CLOEXEC: u64 = o::O_CLOEXEC;
const SOL_SOCKET: u64 = 1;
const SO_TYPE: u64 = 3;
const SO_ERROR: u64 = 4;
const SO_SNDBUF: u64 = 7;
const SO_RCVBUF: u64 = 8;
const SO_PASSCRED: u64 = 16;
const SO_PEERCRED: u64 = 17;
const SO_ACCEPTCONN: u64 = 30;
const SO_PROTOCOL: u64 = 38;
const SO_DOMAIN: u64 = 39;
const SHUT_RD: u64 = 0;
const SHUT_WR: u64 = 1;
const SHUT_RDWR: u64 = 2;
pub(crate) const MSG_PEEK: u64 = 0x02;
const MSG_CTRUNC: u32 = 0x08;
const MSG_TRUNC: u64 = 0x20;
pub(crate) const MSG_DONTWAIT: u64 = 0x40;
pub(crate) const MSG_NOSIGNAL: u64 = 0x4000;
const MSG_CMSG_CLOEXEC: u64 = 0x4000_0000;
const SCM_RIGHTS: u32 = 1;
const SCM_CREDENTIALS: u32 = 2;
/// Most descriptors one message may carry (Linux: SCM_MAX_FD).
const SCM_MAX_FD: usize = 253;
/// `struct cmsghdr`: u64 len, i32 level, i32 type.
const CMSGHDR_SIZE: u64 = 16;
/// `sizeof(struct sockaddr_un)`.
const SOCKADDR_UN_SIZE: usize = 110;
/// `struct msghdr`: name, namelen, iov, iovlen, control, controllen, flags.
const MSGHDR_SIZE: usize = 56;
/// Largest datagram (Linux: the default send buffer).
const MAX_DGRAM: usize = 212_992;

/// (base, len) of each iovec.
type IoVecs = Vec<(u64, u64)>;

/// What one receive took.
#[derive(Default)]
pub(crate) struct Received {
    pub data: Vec<u8>,
    /// The whole message's length (more than `data` when truncated).
    pub full: usize,
    pub fds: Vec<Desc>,
    pub from: Option<Vec<u8>>,
}

/// Readiness of an AF_UNIX socket: (readable, writable, hung up).
pub(crate) fn socket_ready(s: &Socket) -> (bool, bool, bool) {
    if s.listening {
        return (!s.backlog.is_empty(), false, false);
    }
    let (r, hup_r) = match &s.rx {
        Some(rx) => {
            let rx = rx.borrow();
            let eof = s.kind != SOCK_DGRAM && rx.writers == 0;
            let data = if s.message() {
                !rx.records.is_empty()
            } else {
                !rx.buf.is_empty()
            };
            (data || eof || s.shut_rd, eof)
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
        // an unconnected datagram socket can always send somewhere
        None => (s.kind == SOCK_DGRAM, false),
    };
    (r, w, hup_r && hup_w)
}

impl Kernel {
    pub(crate) fn dispatch_unix(&mut self, n: u64, a: &[u64; 6]) -> Option<SysResult> {
        let fd = a[0] as i32;
        Some(match n {
            nr::SOCKETPAIR => self.socketpair(a[0], a[1], a[3]),
            nr::SOCKET => self.socket(a[0], a[1]),
            nr::BIND => self.bind(fd, a[1], a[2]),
            nr::LISTEN => self.sock(fd).and_then(|s| {
                if s.borrow().kind == SOCK_DGRAM {
                    return Err(errno::EOPNOTSUPP);
                }
                s.borrow_mut().listening = true;
                Ok(0)
            }),
            nr::ACCEPT | nr::ACCEPT4 => self.accept(fd, if n == nr::ACCEPT4 { a[3] } else { 0 }),
            nr::CONNECT => self.connect(fd, a[1], a[2]),
            nr::SHUTDOWN => self.shutdown(fd, a[1]),
            nr::GETSOCKNAME | nr::GETPEERNAME => {
                let s = match self.sock(fd) {
                    Ok(s) => s,
                    Err(e) => return Some(Err(e)),
                };
                let name = if n == nr::GETSOCKNAME {
                    s.borrow().bound.clone()
                } else {
                    let s = s.borrow();
                    if !s.connected() {
                        return Some(Err(errno::ENOTCONN));
                    }
                    s.peer_name.clone()
                };
                self.write_sockaddr(a[1], a[2], name.as_deref().unwrap_or(b""))
                    .map(|_| 0)
            }
            nr::SETSOCKOPT => self.sock(fd).map(|_| 0),
            nr::GETSOCKOPT => self.getsockopt(fd, a[1], a[2], a[3], a[4]),
            nr::SENDTO => {
                let data = match self.read_guest(a[1], a[2]) {
                    Ok(d) => d,
                    Err(e) => return Some(Err(e)),
                };
                let to = if a[4] != 0 {
                    match self.read_sockaddr(a[4], a[5]) {
                        Ok(name) => Some(name),
                        Err(e) => return Some(Err(e)),
                    }
                } else {
                    None
                };
                self.unix_send_fd(fd, &data, Vec::new(), to, a[3])
            }
            nr::RECVFROM => {
                let len = a[2].min(MAX_IO as u64) as usize;
                match self.unix_recv_fd(fd, len, a[3]) {
                    Ok(got) => {
                        if a[4] != 0
                            && let Err(e) = self.write_from(a[4], a[5], got.from.as_deref())
                        {
                            return Some(Err(e));
                        }
                        self.write_mem(a[1], &got.data).map(|_| {
                            if a[3] & MSG_TRUNC != 0 {
                                got.full as u64
                            } else {
                                got.data.len() as u64
                            }
                        })
                    }
                    Err(e) => Err(e),
                }
            }
            nr::SENDMSG => self.sendmsg(fd, a[1], a[2]),
            nr::RECVMSG => self.recvmsg(fd, a[1], a[2]),
            _ => return None,
        })
    }

    fn sock(&mut self, fd: i32) -> Result<Rc<RefCell<Socket>>, i64> {
        match &self.desc(fd)?.borrow().obj {
            Object::Socket(s) => Ok(s.clone()),
            _ => Err(errno::ENOTSOCK),
        }
    }

    fn my_cred(&mut self) -> Cred {
        let p = self.proc_();
        (p.pid, p.euid, p.egid)
    }

    fn socket_kind(ty: u64) -> Result<u32, i64> {
        match (ty & SOCK_TYPE_MASK) as u32 {
            k @ (SOCK_STREAM | SOCK_DGRAM | SOCK_SEQPACKET) => Ok(k),
            _ => Err(errno::EINVAL),
        }
    }

    fn socketpair(&mut self, domain: u64, ty: u64, sv: u64) -> SysResult {
        if domain != AF_UNIX {
            return Err(errno::EAFNOSUPPORT);
        }
        let kind = Self::socket_kind(ty)?;
        let (a, b) = Socket::pair(kind, self.my_cred());
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
        let kind = Self::socket_kind(ty)?;
        let s = Socket::new(kind, self.my_cred());
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

    /// The sender's name for recvfrom/recvmsg: none (length 0) when it
    /// was not bound.
    fn write_from(&mut self, addr: u64, lenp: u64, from: Option<&[u8]>) -> Result<(), i64> {
        match from {
            Some(name) => self.write_sockaddr(addr, lenp, name),
            None if lenp != 0 => self.write_u32(lenp, 0),
            None => Ok(()),
        }
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

    /// The live socket bound to `name`.
    fn unix_lookup(&mut self, name: &[u8]) -> Result<Rc<RefCell<Socket>>, i64> {
        let found = if name[0] == 0 {
            self.abstract_sockets.get(name).and_then(|w| w.upgrade())
        } else {
            let ino = self.resolve_path(name)?;
            if self.fs.borrow().kind(ino)? != FileType::Sock {
                return Err(errno::ECONNREFUSED);
            }
            self.unix_sockets.get(&ino).and_then(|w| w.upgrade())
        };
        found.ok_or(errno::ECONNREFUSED)
    }

    fn connect(&mut self, fd: i32, addr: u64, len: u64) -> SysResult {
        let s = self.sock(fd)?;
        let name = self.read_sockaddr(addr, len)?;
        let kind = s.borrow().kind;
        if kind == SOCK_DGRAM {
            // a default destination (connecting again replaces it)
            let peer = self.unix_lookup(&name)?;
            let peer = peer.borrow();
            if peer.kind != SOCK_DGRAM {
                return Err(errno::EPROTOTYPE);
            }
            let q = peer.rx.clone().ok_or(errno::ECONNREFUSED)?;
            q.borrow_mut().writers += 1;
            let mut sb = s.borrow_mut();
            if let Some(old) = sb.tx.replace(q)
                && !sb.shut_wr
            {
                old.borrow_mut().writers -= 1;
            }
            sb.peer_name = Some(name);
            sb.peer_cred = Some(peer.cred);
            return Ok(0);
        }
        if s.borrow().connected() {
            return Err(errno::EISCONN);
        }
        let listener = self.unix_lookup(&name)?;
        if !listener.borrow().listening {
            return Err(errno::ECONNREFUSED);
        }
        if listener.borrow().kind != kind {
            return Err(errno::EPROTOTYPE);
        }
        let my_cred = self.my_cred();
        let (mine, mut theirs) = Socket::pair(kind, my_cred);
        theirs.bound = Some(name.clone());
        theirs.cred = listener.borrow().cred;
        {
            let mut sb = s.borrow_mut();
            sb.rx = mine.rx.clone();
            sb.tx = mine.tx.clone();
            sb.peer_name = Some(name);
            sb.peer_cred = Some(listener.borrow().cred);
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
            return self.would_block(nonblock);
        };
        let d = Description::new(Object::Socket(conn), o::O_RDWR | (flags & SOCK_NONBLOCK));
        self.install(d, flags & SOCK_CLOEXEC != 0)
    }

    fn shutdown(&mut self, fd: i32, how: u64) -> SysResult {
        let s = self.sock(fd)?;
        if how > SHUT_RDWR {
            return Err(errno::EINVAL);
        }
        let mut s = s.borrow_mut();
        if !s.connected() {
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
        drop(s);
        self.event();
        Ok(0)
    }

    fn getsockopt(&mut self, fd: i32, level: u64, opt: u64, val: u64, lenp: u64) -> SysResult {
        let s = self.sock(fd)?;
        if level != SOL_SOCKET {
            return Err(errno::EOPNOTSUPP);
        }
        let cap = self.read_u32(lenp)?;
        if opt == SO_PEERCRED {
            // struct ucred { pid, uid, gid }
            let (pid, uid, gid) = s.borrow().peer_cred.unwrap_or((0, u32::MAX, u32::MAX));
            let mut b = [0u8; 12];
            b[0..4].copy_from_slice(&pid.to_le_bytes());
            b[4..8].copy_from_slice(&uid.to_le_bytes());
            b[8..12].copy_from_slice(&gid.to_le_bytes());
            let n = (cap as usize).min(b.len());
            self.write_mem(val, &b[..n])?;
            self.write_u32(lenp, n as u32)?;
            return Ok(0);
        }
        let v: u32 = match opt {
            SO_TYPE => s.borrow().kind,
            SO_ERROR | SO_PASSCRED => 0,
            SO_DOMAIN => AF_UNIX as u32,
            SO_PROTOCOL => 0,
            SO_ACCEPTCONN => u32::from(s.borrow().listening),
            SO_RCVBUF | SO_SNDBUF => crate::abi::PIPE_BUF_SIZE as u32,
            _ => return Err(errno::ENOPROTOOPT),
        };
        if cap < 4 {
            return Err(errno::EINVAL);
        }
        self.write_u32(val, v)?;
        self.write_u32(lenp, 4)?;
        Ok(0)
    }

    fn unix_send_fd(
        &mut self,
        fd: i32,
        data: &[u8],
        fds: Vec<Desc>,
        to: Option<Vec<u8>>,
        flags: u64,
    ) -> SysResult {
        let d = self.desc(fd)?;
        let s = match &d.borrow().obj {
            Object::Socket(s) => Some(s.clone()),
            _ => None,
        };
        match s {
            Some(s) => {
                let nonblock = d.borrow().nonblocking() || flags & MSG_DONTWAIT != 0;
                self.unix_send(&s, data, fds, to, flags, nonblock)
            }
            // send(2) on a descriptor other than a socket
            None if to.is_none() && fds.is_empty() => match self.event_write(&d, data, flags) {
                Some(r) => r,
                None => Err(errno::ENOTSOCK),
            },
            None => Err(errno::ENOTSOCK),
        }
    }

    fn unix_recv_fd(&mut self, fd: i32, len: usize, flags: u64) -> Result<Received, i64> {
        let d = self.desc(fd)?;
        let s = match &d.borrow().obj {
            Object::Socket(s) => Some(s.clone()),
            _ => None,
        };
        match s {
            Some(s) => {
                let nonblock = d.borrow().nonblocking() || flags & MSG_DONTWAIT != 0;
                self.unix_recv(&s, len, flags, nonblock)
            }
            None => match self.event_read(&d, len, flags) {
                Some(r) => r.map(|data| Received {
                    full: data.len(),
                    data,
                    ..Received::default()
                }),
                None => Err(errno::ENOTSOCK),
            },
        }
    }

    /// Sends on an AF_UNIX socket: to its peer, or (datagram sockets) to
    /// the socket bound to `to`.
    pub(crate) fn unix_send(
        &mut self,
        s: &Rc<RefCell<Socket>>,
        data: &[u8],
        fds: Vec<Desc>,
        to: Option<Vec<u8>>,
        flags: u64,
        nonblock: bool,
    ) -> SysResult {
        let (kind, shut, tx, me) = {
            let sb = s.borrow();
            (sb.kind, sb.shut_wr, sb.tx.clone(), sb.bound.clone())
        };
        let tx: Rc<RefCell<Pipe>> = match (to, kind) {
            (Some(name), SOCK_DGRAM) => {
                let peer = self.unix_lookup(&name)?;
                let peer = peer.borrow();
                if peer.kind != SOCK_DGRAM {
                    return Err(errno::EPROTOTYPE);
                }
                peer.rx.clone().ok_or(errno::ECONNREFUSED)?
            }
            (Some(_), SOCK_STREAM) => {
                return Err(if tx.is_some() {
                    errno::EISCONN
                } else {
                    errno::EOPNOTSUPP
                });
            }
            // seqpacket ignores a destination, as Linux does
            _ => tx.ok_or(errno::ENOTCONN)?,
        };
        let message = kind != SOCK_STREAM;
        let mut p = tx.borrow_mut();
        if kind == SOCK_DGRAM && p.readers == 0 {
            return Err(errno::ECONNREFUSED);
        }
        if p.readers == 0 || shut {
            drop(p);
            if flags & MSG_NOSIGNAL == 0 {
                self.raise_sigpipe();
            }
            return Err(errno::EPIPE);
        }
        if message && data.len() > MAX_DGRAM {
            return Err(errno::EMSGSIZE);
        }
        let space = p.space();
        let fits = if message {
            // a message goes whole; a big one may go into an empty queue
            data.len() <= space || p.buf.is_empty()
        } else {
            space > 0 || data.is_empty()
        };
        if !fits {
            drop(p);
            return self.would_block(nonblock);
        }
        let n = if message {
            data.len()
        } else {
            data.len().min(space)
        };
        if message || (!fds.is_empty() && n > 0) {
            let at = p.taken + p.buf.len() as u64;
            p.records.push_back(Record {
                at,
                len: n,
                fds,
                from: me.filter(|_| kind == SOCK_DGRAM),
            });
        }
        p.buf.extend_from_slice(&data[..n]);
        drop(p);
        self.event();
        Ok(n as u64)
    }

    /// Receives from an AF_UNIX socket: at most one message (datagram,
    /// seqpacket), and on a stream no further than the next bytes that
    /// carry descriptors.
    pub(crate) fn unix_recv(
        &mut self,
        s: &Rc<RefCell<Socket>>,
        len: usize,
        flags: u64,
        nonblock: bool,
    ) -> Result<Received, i64> {
        let sb = s.borrow();
        if sb.listening {
            return Err(errno::EINVAL);
        }
        let Some(rx) = sb.rx.clone() else {
            return Err(errno::ENOTCONN);
        };
        let (kind, shut) = (sb.kind, sb.shut_rd);
        drop(sb);
        let peek = flags & MSG_PEEK != 0;
        let mut p = rx.borrow_mut();
        let empty = if kind == SOCK_STREAM {
            p.buf.is_empty()
        } else {
            p.records.is_empty()
        };
        if empty {
            if shut || (kind != SOCK_DGRAM && p.writers == 0) {
                return Ok(Received::default());
            }
            drop(p);
            return self.would_block(nonblock).map(|_| Received::default());
        }
        let got = if kind == SOCK_STREAM {
            let mut n = len.min(p.buf.len());
            let taken = p.taken;
            let mut fds = Vec::new();
            if let Some(r) = p.records.front_mut() {
                if r.at <= taken {
                    // these bytes came with descriptors: stop at their end
                    let left = (r.at + r.len as u64 - taken) as usize;
                    n = n.min(left);
                    fds = if peek {
                        r.fds.clone()
                    } else {
                        std::mem::take(&mut r.fds)
                    };
                } else {
                    n = n.min((r.at - taken) as usize);
                }
            }
            let data = if peek { p.buf.peek(n) } else { p.buf.take(n) };
            if !peek {
                p.taken += n as u64;
                let now = p.taken;
                while p
                    .records
                    .front()
                    .is_some_and(|r| r.at + r.len as u64 <= now)
                {
                    p.records.pop_front();
                }
            }
            Received {
                full: data.len(),
                data,
                fds,
                from: None,
            }
        } else {
            let r = p.records.front().expect("not empty");
            let full = r.len;
            let n = len.min(full);
            if peek {
                let (fds, from) = (r.fds.clone(), r.from.clone());
                Received {
                    data: p.buf.peek(n),
                    full,
                    fds,
                    from,
                }
            } else {
                let r = p.records.pop_front().expect("not empty");
                let mut data = p.buf.take(full);
                data.truncate(n);
                p.taken += full as u64;
                Received {
                    data,
                    full,
                    fds: r.fds,
                    from: r.from,
                }
            }
        };
        drop(p);
        if !peek {
            self.event();
        }
        Ok(got)
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

    /// The descriptors named by SCM_RIGHTS messages in a control buffer.
    fn read_rights(&mut self, ctl: u64, len: u64) -> Result<Vec<Desc>, i64> {
        let mut fds = Vec::new();
        let mut off = 0u64;
        while off + CMSGHDR_SIZE <= len {
            let clen = self.read_u64(ctl + off)?;
            let level = u64::from(self.read_u32(ctl + off + 8)?);
            let ty = self.read_u32(ctl + off + 12)?;
            if clen < CMSGHDR_SIZE || clen > len - off {
                return Err(errno::EINVAL);
            }
            match (level, ty) {
                (SOL_SOCKET, SCM_RIGHTS) => {
                    let n = (clen - CMSGHDR_SIZE) / 4;
                    if fds.len() + n as usize > SCM_MAX_FD {
                        return Err(errno::EINVAL);
                    }
                    for i in 0..n {
                        let fd = self.read_u32(ctl + off + CMSGHDR_SIZE + i * 4)? as i32;
                        fds.push(self.desc(fd)?);
                    }
                }
                // the sender's own credentials: nothing to check here
                (SOL_SOCKET, SCM_CREDENTIALS) => {}
                _ => return Err(errno::EINVAL),
            }
            off += clen.next_multiple_of(8);
        }
        Ok(fds)
    }

    fn sendmsg(&mut self, fd: i32, msg: u64, flags: u64) -> SysResult {
        let (iov, words) = self.msghdr(msg)?;
        let [name, namelen, _, _, ctl, ctllen, _] = words;
        let to = if name != 0 && namelen != 0 {
            Some(self.read_sockaddr(name, namelen)?)
        } else {
            None
        };
        let fds = if ctl != 0 && ctllen != 0 {
            self.read_rights(ctl, ctllen)?
        } else {
            Vec::new()
        };
        let mut data = Vec::new();
        for (base, len) in iov {
            let len = len.min((MAX_IO - data.len()) as u64) as usize;
            let start = data.len();
            data.resize(start + len, 0);
            self.read_mem(base, &mut data[start..])?;
        }
        self.unix_send_fd(fd, &data, fds, to, flags)
    }

    fn recvmsg(&mut self, fd: i32, msg: u64, flags: u64) -> SysResult {
        let (iov, words) = self.msghdr(msg)?;
        let [name, _, _, _, ctl, ctllen, _] = words;
        let total: u64 = iov.iter().map(|&(_, l)| l).sum::<u64>().min(MAX_IO as u64);
        let got = self.unix_recv_fd(fd, total as usize, flags)?;
        self.scatter(&iov, &got.data)?;
        let mut out_flags = 0u32;
        if got.full > got.data.len() {
            out_flags |= MSG_TRUNC as u32;
        }
        if name != 0 {
            self.write_from(name, msg + 8, got.from.as_deref())?;
        } else {
            self.write_u32(msg + 8, 0)?;
        }
        // descriptors: one SCM_RIGHTS message, as many as fit
        let mut used = 0u64;
        if !got.fds.is_empty() {
            let room = if ctl == 0 {
                0
            } else {
                (ctllen.saturating_sub(CMSGHDR_SIZE) / 4) as usize
            };
            let fit = got.fds.len().min(room);
            if fit < got.fds.len() {
                out_flags |= MSG_CTRUNC;
            }
            if fit > 0 {
                let cloexec = flags & MSG_CMSG_CLOEXEC != 0;
                let mut nums = Vec::with_capacity(fit);
                for d in got.fds.into_iter().take(fit) {
                    match self.install(d, cloexec) {
                        Ok(n) => nums.push(n as i32),
                        Err(_) => {
                            out_flags |= MSG_CTRUNC;
                            break;
                        }
                    }
                }
                let clen = CMSGHDR_SIZE + 4 * nums.len() as u64;
                let mut b = Vec::with_capacity(clen as usize);
                b.extend_from_slice(&clen.to_le_bytes());
                b.extend_from_slice(&(SOL_SOCKET as u32).to_le_bytes());
                b.extend_from_slice(&SCM_RIGHTS.to_le_bytes());
                for n in nums {
                    b.extend_from_slice(&n.to_le_bytes());
                }
                self.write_mem(ctl, &b)?;
                used = clen.next_multiple_of(8).min(ctllen);
            }
        }
        self.write_u64(msg + 40, used)?;
        self.write_u32(msg + 48, out_flags)?;
        Ok(if flags & MSG_TRUNC != 0 {
            got.full as u64
        } else {
            got.data.len() as u64
        })
    }
}
