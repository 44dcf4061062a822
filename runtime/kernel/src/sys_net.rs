//! AF_INET/AF_INET6 sockets, passed to the host's network (natively).

use crate::abi::{errno, nr, open as o};
use crate::fd::{Description, Object};
use crate::host::SocketAddr;
use crate::task::Wait;
use crate::{Kernel, MAX_IO, SysResult};
use std::cell::Cell;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::rc::{Rc, Weak};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const SOCK_TYPE_MASK: u64 = 0xf;
const MSG_PEEK: u64 = 0x02;
const MSG_DONTWAIT: u64 = 0x40;
const MSG_NOSIGNAL: u64 = 0x4000;
const EINPROGRESS: i64 = 115;
const EALREADY: i64 = 114;
const SOCKADDR_IN_SIZE: usize = 16;
const SOCKADDR_IN6_SIZE: usize = 28;

/// A host socket the guest holds.
#[derive(Debug)]
pub struct InetSock {
    pub handle: u64,
    /// SOCK_STREAM or SOCK_DGRAM.
    pub kind: u32,
    pub domain: u16,
    /// A non-blocking connect is under way on the host.
    pub connecting: Cell<bool>,
}

/// Parses a guest `sockaddr_in`/`sockaddr_in6`.
fn parse_addr(b: &[u8]) -> Result<SocketAddr, i64> {
    if b.len() < 2 {
        return Err(errno::EINVAL);
    }
    let family = u16::from_le_bytes([b[0], b[1]]);
    match family {
        AF_INET if b.len() >= SOCKADDR_IN_SIZE => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Ok(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        AF_INET6 if b.len() >= SOCKADDR_IN6_SIZE => {
            let port = u16::from_be_bytes([b[2], b[3]]);
            let flow = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&b[8..24]);
            let scope = u32::from_le_bytes([b[24], b[25], b[26], b[27]]);
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        AF_INET | AF_INET6 => Err(errno::EINVAL),
        _ => Err(errno::EAFNOSUPPORT),
    }
}

/// A guest `sockaddr_in`/`sockaddr_in6`.
fn format_addr(a: &SocketAddr) -> Vec<u8> {
    match a {
        SocketAddr::V4(v4) => {
            let mut b = vec![0u8; SOCKADDR_IN_SIZE];
            b[0..2].copy_from_slice(&AF_INET.to_le_bytes());
            b[2..4].copy_from_slice(&v4.port().to_be_bytes());
            b[4..8].copy_from_slice(&v4.ip().octets());
            b
        }
        SocketAddr::V6(v6) => {
            let mut b = vec![0u8; SOCKADDR_IN6_SIZE];
            b[0..2].copy_from_slice(&AF_INET6.to_le_bytes());
            b[2..4].copy_from_slice(&v6.port().to_be_bytes());
            b[4..8].copy_from_slice(&v6.flowinfo().to_be_bytes());
            b[8..24].copy_from_slice(&v6.ip().octets());
            b[24..28].copy_from_slice(&v6.scope_id().to_le_bytes());
            b
        }
    }
}

impl Kernel {
    /// socket(AF_INET/AF_INET6, ...).
    pub(crate) fn inet_socket(&mut self, domain: u64, ty: u64) -> SysResult {
        let kind = (ty & SOCK_TYPE_MASK) as u32;
        let Some(net) = self.host().net() else {
            self.note_once(
                "inet",
                "this host gives the guest no network: socket(AF_INET*) returns EAFNOSUPPORT",
            );
            return Err(errno::EAFNOSUPPORT);
        };
        let handle = net.net_socket(domain as u32, kind)?;
        let sock = Rc::new(InetSock {
            handle,
            kind,
            domain: domain as u16,
            connecting: Cell::new(false),
        });
        self.inet.push((Rc::downgrade(&sock), handle));
        let d = Description::new(Object::Inet(sock), o::O_RDWR | (ty & o::O_NONBLOCK));
        let files = self.files();
        let fd = files
            .borrow_mut()
            .install(d, ty & o::O_CLOEXEC != 0, 0)
            .ok_or(errno::EMFILE)?;
        Ok(fd as u64)
    }

    /// Closes host sockets no descriptor refers to any more.
    pub(crate) fn inet_gc(&mut self) {
        if self.inet.iter().all(|(w, _)| w.strong_count() > 0) {
            return;
        }
        let (live, dead): (Vec<_>, Vec<_>) = std::mem::take(&mut self.inet)
            .into_iter()
            .partition(|(w, _)| w.strong_count() > 0);
        self.inet = live;
        if let Some(net) = self.host().net() {
            for (_, h) in dead {
                net.net_close(h);
            }
        }
    }

    fn inet_of(&mut self, fd: i32) -> Option<Rc<InetSock>> {
        let d = self.files().borrow().get(fd)?;
        match &d.borrow().obj {
            Object::Inet(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// Blocks on a host socket (or fails with EAGAIN when non-blocking).
    fn net_block(&mut self, h: u64, write: bool, nonblock: bool) -> SysResult {
        if nonblock {
            return Err(errno::EAGAIN);
        }
        self.block(Wait {
            net: Some((h, write)),
            restartable: true,
            epoch: Some(0),
            ..Wait::default()
        })
    }

    /// The socket system calls on an inet socket; None when `fd` is not one.
    pub(crate) fn dispatch_net(&mut self, n: u64, a: &[u64; 6]) -> Option<SysResult> {
        let fd = a[0] as i32;
        let s = self.inet_of(fd)?;
        let nonblock = self
            .files()
            .borrow()
            .get(fd)
            .is_some_and(|d| d.borrow().nonblocking());
        let h = s.handle;
        Some(match n {
            nr::BIND => self
                .read_sockaddr_in(a[1], a[2])
                .and_then(|addr| self.net_call(|net| net.net_bind(h, addr)))
                .map(|_| 0),
            nr::CONNECT => {
                if s.connecting.get() {
                    // a blocking connect waiting, or a second non-blocking call
                    let (_, w, _) = self
                        .net_call(|net| Ok(net.net_ready(h)))
                        .unwrap_or_default();
                    if !w {
                        return Some(if nonblock {
                            Err(EALREADY)
                        } else {
                            self.net_block(h, true, false)
                        });
                    }
                    s.connecting.set(false);
                    let err = self
                        .net_call(|net| Ok(net.net_error(h)))
                        .unwrap_or(errno::EIO);
                    return Some(if err == 0 { Ok(0) } else { Err(err) });
                }
                let addr = match self.read_sockaddr_in(a[1], a[2]) {
                    Ok(x) => x,
                    Err(e) => return Some(Err(e)),
                };
                match self.net_call(|net| net.net_connect(h, addr)) {
                    Err(EINPROGRESS) if s.kind == 1 => {
                        s.connecting.set(true);
                        if nonblock {
                            Err(EINPROGRESS)
                        } else {
                            self.net_block(h, true, false)
                        }
                    }
                    r => r.map(|_| 0),
                }
            }
            nr::LISTEN => self
                .net_call(|net| net.net_listen(h, a[1] as i32))
                .map(|_| 0),
            nr::ACCEPT | nr::ACCEPT4 => {
                let flags = if n == nr::ACCEPT4 { a[3] } else { 0 };
                match self.net_call(|net| net.net_accept(h)) {
                    Err(errno::EAGAIN) => self.net_block(h, false, nonblock),
                    Err(e) => Err(e),
                    Ok((nh, peer)) => {
                        let sock = Rc::new(InetSock {
                            handle: nh,
                            kind: s.kind,
                            domain: s.domain,
                            connecting: Cell::new(false),
                        });
                        self.inet.push((Rc::downgrade(&sock), nh));
                        if let Some(p) = peer
                            && let Err(e) = self.write_addr_out(a[1], a[2], &p)
                        {
                            return Some(Err(e));
                        }
                        let d = Description::new(
                            Object::Inet(sock),
                            o::O_RDWR | (flags & o::O_NONBLOCK),
                        );
                        let files = self.files();
                        let r = files.borrow_mut().install(d, flags & o::O_CLOEXEC != 0, 0);
                        r.map(|f| f as u64).ok_or(errno::EMFILE)
                    }
                }
            }
            nr::SHUTDOWN => self
                .net_call(|net| net.net_shutdown(h, a[1] as u32))
                .map(|_| 0),
            nr::GETSOCKNAME | nr::GETPEERNAME => {
                let peer = n == nr::GETPEERNAME;
                match self.net_call(|net| net.net_name(h, peer)) {
                    Ok(Some(addr)) => self.write_addr_out(a[1], a[2], &addr).map(|_| 0),
                    Ok(None) => Err(errno::ENOTCONN),
                    Err(e) => Err(e),
                }
            }
            nr::SETSOCKOPT => {
                let v = if a[4] >= 4 {
                    match self.read_u32(a[3]) {
                        Ok(v) => v as i32,
                        Err(e) => return Some(Err(e)),
                    }
                } else {
                    return Some(Err(errno::EINVAL));
                };
                self.net_call(|net| net.net_option(h, a[1] as u32, a[2] as u32, Some(v)))
                    .map(|_| 0)
            }
            nr::GETSOCKOPT => {
                let v = match self.net_call(|net| net.net_option(h, a[1] as u32, a[2] as u32, None))
                {
                    Ok(v) => v,
                    Err(e) => return Some(Err(e)),
                };
                self.write_u32(a[3], v as u32)
                    .and_then(|_| self.write_u32(a[4], 4))
                    .map(|_| 0)
            }
            nr::SENDTO => {
                let data = match self.read_guest(a[1], a[2]) {
                    Ok(d) => d,
                    Err(e) => return Some(Err(e)),
                };
                let to = if a[4] != 0 {
                    match self.read_sockaddr_in(a[4], a[5]) {
                        Ok(x) => Some(x),
                        Err(e) => return Some(Err(e)),
                    }
                } else {
                    None
                };
                self.inet_send(&s, &data, to, a[3], nonblock)
            }
            nr::RECVFROM => {
                let len = a[2].min(MAX_IO as u64) as usize;
                match self.inet_recv(&s, len, a[3], nonblock) {
                    Ok((data, from)) => {
                        if a[4] != 0
                            && let Some(f) = from
                            && let Err(e) = self.write_addr_out(a[4], a[5], &f)
                        {
                            return Some(Err(e));
                        }
                        self.write_mem(a[1], &data).map(|_| data.len() as u64)
                    }
                    Err(e) => Err(e),
                }
            }
            _ => return None,
        })
    }

    fn net_call<T>(
        &mut self,
        f: impl FnOnce(&mut dyn crate::host::HostNet) -> Result<T, i64>,
    ) -> Result<T, i64> {
        match self.host().net() {
            Some(net) => f(net),
            None => Err(errno::EAFNOSUPPORT),
        }
    }

    fn read_sockaddr_in(&mut self, addr: u64, len: u64) -> Result<SocketAddr, i64> {
        if len > 128 {
            return Err(errno::EINVAL);
        }
        let mut b = vec![0u8; len as usize];
        self.read_mem(addr, &mut b)?;
        parse_addr(&b)
    }

    fn write_addr_out(&mut self, addr: u64, lenp: u64, a: &SocketAddr) -> Result<(), i64> {
        if addr == 0 || lenp == 0 {
            return Ok(());
        }
        let b = format_addr(a);
        let cap = self.read_u32(lenp)? as usize;
        self.write_mem(addr, &b[..b.len().min(cap)])?;
        self.write_u32(lenp, b.len() as u32)
    }

    pub(crate) fn inet_send(
        &mut self,
        s: &Rc<InetSock>,
        data: &[u8],
        to: Option<SocketAddr>,
        flags: u64,
        nonblock: bool,
    ) -> SysResult {
        let h = s.handle;
        match self.net_call(|net| net.net_send(h, data, to)) {
            Ok(n) => Ok(n as u64),
            Err(errno::EAGAIN) => self.net_block(h, true, nonblock || flags & MSG_DONTWAIT != 0),
            Err(errno::EPIPE) => {
                if flags & MSG_NOSIGNAL == 0 {
                    self.raise_sigpipe();
                }
                Err(errno::EPIPE)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) fn inet_recv(
        &mut self,
        s: &Rc<InetSock>,
        len: usize,
        flags: u64,
        nonblock: bool,
    ) -> Result<(Vec<u8>, Option<SocketAddr>), i64> {
        let h = s.handle;
        match self.net_call(|net| net.net_recv(h, len, flags & MSG_PEEK != 0)) {
            Err(errno::EAGAIN) => self
                .net_block(h, false, nonblock || flags & MSG_DONTWAIT != 0)
                .map(|_| (Vec::new(), None)),
            r => r,
        }
    }

    /// Readiness of an inet socket.
    pub(crate) fn inet_ready(&mut self, s: &Rc<InetSock>) -> (bool, bool, bool) {
        let h = s.handle;
        self.net_call(|net| Ok(net.net_ready(h)))
            .unwrap_or((true, true, true))
    }
}

/// A live host socket and its handle.
pub type InetEntry = (Weak<InetSock>, u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_round_trip() {
        for a in ["127.0.0.1:8080", "[::1]:443", "[fe80::1%2]:22"] {
            let addr: SocketAddr = a.parse().unwrap();
            assert_eq!(parse_addr(&format_addr(&addr)).unwrap(), addr);
        }
        assert_eq!(parse_addr(&[2, 0, 0]), Err(errno::EINVAL));
        assert_eq!(parse_addr(&[1, 0, 0, 0]), Err(errno::EAFNOSUPPORT));
    }
}
