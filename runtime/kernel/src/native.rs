//! The native host: the process's own standard streams, clocks and
//! randomness.

use crate::abi::errno;
use crate::host::{Clock, Host, HostNet, HostStat, SocketAddr};
use rustix::fd::BorrowedFd;
use socket2::{Domain, SockAddr, Socket, Type};
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Host effects for a native run.
#[derive(Debug)]
pub struct NativeHost {
    start: Instant,
    /// The guest's network sockets, by handle.
    sockets: HashMap<u64, Socket>,
    next_socket: u64,
}

/// socket option levels and names friscy passes to the host (Linux
/// values, the same on the host).
const SOL_SOCKET: u32 = 1;
const SO_REUSEADDR: u32 = 2;
const SO_TYPE: u32 = 3;
const SO_ERROR: u32 = 4;
const SO_BROADCAST: u32 = 6;
const SO_SNDBUF: u32 = 7;
const SO_RCVBUF: u32 = 8;
const SO_KEEPALIVE: u32 = 9;
const SO_REUSEPORT: u32 = 15;
const IPPROTO_TCP: u32 = 6;
const TCP_NODELAY: u32 = 1;
const IPPROTO_IPV6: u32 = 41;
const IPV6_V6ONLY: u32 = 26;
const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;
const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;

fn io_err(e: std::io::Error) -> i64 {
    e.raw_os_error().map_or(errno::EIO, i64::from)
}

/// Reads into a zeroed buffer through socket2's `MaybeUninit` interface.
fn uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`; the buffer is
    // initialized, and socket2 only ever writes initialized bytes into it.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

impl NativeHost {
    fn sock(&self, h: u64) -> Result<&Socket, i64> {
        self.sockets.get(&h).ok_or(errno::EBADF)
    }
}

impl HostNet for NativeHost {
    fn net_socket(&mut self, domain: u32, ty: u32) -> Result<u64, i64> {
        let domain = match domain {
            AF_INET => Domain::IPV4,
            AF_INET6 => Domain::IPV6,
            _ => return Err(errno::EAFNOSUPPORT),
        };
        let ty = match ty {
            SOCK_STREAM => Type::STREAM,
            SOCK_DGRAM => Type::DGRAM,
            _ => return Err(errno::EPROTONOSUPPORT),
        };
        let s = Socket::new(domain, ty, None).map_err(io_err)?;
        s.set_nonblocking(true).map_err(io_err)?;
        s.set_cloexec(true).map_err(io_err)?;
        let h = self.next_socket;
        self.next_socket += 1;
        self.sockets.insert(h, s);
        Ok(h)
    }

    fn net_close(&mut self, h: u64) {
        self.sockets.remove(&h);
    }

    fn net_bind(&mut self, h: u64, addr: SocketAddr) -> Result<(), i64> {
        self.sock(h)?.bind(&SockAddr::from(addr)).map_err(io_err)
    }

    fn net_connect(&mut self, h: u64, addr: SocketAddr) -> Result<(), i64> {
        self.sock(h)?.connect(&SockAddr::from(addr)).map_err(io_err)
    }

    fn net_error(&mut self, h: u64) -> i64 {
        match self.sock(h).map(|s| s.take_error()) {
            Ok(Ok(None)) => 0,
            Ok(Ok(Some(e))) | Ok(Err(e)) => io_err(e),
            Err(e) => e,
        }
    }

    fn net_listen(&mut self, h: u64, backlog: i32) -> Result<(), i64> {
        self.sock(h)?.listen(backlog).map_err(io_err)
    }

    fn net_accept(&mut self, h: u64) -> Result<(u64, Option<SocketAddr>), i64> {
        let (s, addr) = self.sock(h)?.accept().map_err(io_err)?;
        s.set_nonblocking(true).map_err(io_err)?;
        let nh = self.next_socket;
        self.next_socket += 1;
        self.sockets.insert(nh, s);
        Ok((nh, addr.as_socket()))
    }

    fn net_send(&mut self, h: u64, data: &[u8], to: Option<SocketAddr>) -> Result<usize, i64> {
        let s = self.sock(h)?;
        match to {
            Some(a) => s.send_to(data, &SockAddr::from(a)),
            None => s.send_with_flags(data, libc_msg_nosignal()),
        }
        .map_err(io_err)
    }

    fn net_recv(
        &mut self,
        h: u64,
        len: usize,
        peek: bool,
    ) -> Result<(Vec<u8>, Option<SocketAddr>), i64> {
        let s = self.sock(h)?;
        let mut buf = vec![0u8; len];
        let (n, from) = if peek {
            let n = s.peek(uninit(&mut buf)).map_err(io_err)?;
            (n, None)
        } else {
            let (n, a) = s.recv_from(uninit(&mut buf)).map_err(io_err)?;
            (n, a.as_socket())
        };
        buf.truncate(n);
        Ok((buf, from))
    }

    fn net_shutdown(&mut self, h: u64, how: u32) -> Result<(), i64> {
        let how = match how {
            0 => std::net::Shutdown::Read,
            1 => std::net::Shutdown::Write,
            _ => std::net::Shutdown::Both,
        };
        self.sock(h)?.shutdown(how).map_err(io_err)
    }

    fn net_name(&mut self, h: u64, peer: bool) -> Result<Option<SocketAddr>, i64> {
        let s = self.sock(h)?;
        let a = if peer { s.peer_addr() } else { s.local_addr() }.map_err(io_err)?;
        Ok(a.as_socket())
    }

    fn net_option(
        &mut self,
        h: u64,
        level: u32,
        name: u32,
        value: Option<i32>,
    ) -> Result<i32, i64> {
        let s = self.sock(h)?;
        let on = value.map(|v| v != 0);
        let r = match (level, name, on) {
            (SOL_SOCKET, SO_REUSEADDR, Some(v)) => s.set_reuse_address(v).map(|_| 0),
            (SOL_SOCKET, SO_REUSEADDR, None) => s.reuse_address().map(i32::from),
            (SOL_SOCKET, SO_REUSEPORT, Some(v)) => s.set_reuse_port(v).map(|_| 0),
            (SOL_SOCKET, SO_REUSEPORT, None) => s.reuse_port().map(i32::from),
            (SOL_SOCKET, SO_KEEPALIVE, Some(v)) => s.set_keepalive(v).map(|_| 0),
            (SOL_SOCKET, SO_KEEPALIVE, None) => s.keepalive().map(i32::from),
            (SOL_SOCKET, SO_BROADCAST, Some(v)) => s.set_broadcast(v).map(|_| 0),
            (SOL_SOCKET, SO_BROADCAST, None) => s.broadcast().map(i32::from),
            (SOL_SOCKET, SO_SNDBUF, Some(_)) => s
                .set_send_buffer_size(value.unwrap_or(0).max(0) as usize)
                .map(|_| 0),
            (SOL_SOCKET, SO_SNDBUF, None) => s.send_buffer_size().map(|v| v as i32),
            (SOL_SOCKET, SO_RCVBUF, Some(_)) => s
                .set_recv_buffer_size(value.unwrap_or(0).max(0) as usize)
                .map(|_| 0),
            (SOL_SOCKET, SO_RCVBUF, None) => s.recv_buffer_size().map(|v| v as i32),
            (SOL_SOCKET, SO_TYPE, None) => s.r#type().map(|t| {
                if t == Type::DGRAM {
                    SOCK_DGRAM as i32
                } else {
                    SOCK_STREAM as i32
                }
            }),
            (SOL_SOCKET, SO_ERROR, None) => Ok(self.net_error(h) as i32),
            (IPPROTO_TCP, TCP_NODELAY, Some(v)) => s.set_tcp_nodelay(v).map(|_| 0),
            (IPPROTO_TCP, TCP_NODELAY, None) => s.tcp_nodelay().map(i32::from),
            (IPPROTO_IPV6, IPV6_V6ONLY, Some(v)) => s.set_only_v6(v).map(|_| 0),
            (IPPROTO_IPV6, IPV6_V6ONLY, None) => s.only_v6().map(i32::from),
            _ => return Err(errno::ENOPROTOOPT),
        };
        r.map_err(io_err)
    }

    fn net_ready(&mut self, h: u64) -> (bool, bool, bool) {
        let Ok(s) = self.sock(h) else {
            return (true, true, true);
        };
        use rustix::event::{PollFd, PollFlags, poll};
        let mut fds = [PollFd::new(s, PollFlags::IN | PollFlags::OUT)];
        let zero = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if poll(&mut fds, Some(&zero)).is_err() {
            return (false, false, false);
        }
        let r = fds[0].revents();
        (
            r.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR),
            r.contains(PollFlags::OUT),
            r.contains(PollFlags::HUP),
        )
    }
}

/// MSG_NOSIGNAL: a write to a closed connection is EPIPE, not a signal to
/// friscy itself (the kernel raises the guest's SIGPIPE).
fn libc_msg_nosignal() -> i32 {
    0x4000
}

impl Default for NativeHost {
    fn default() -> Self {
        NativeHost::new()
    }
}

impl NativeHost {
    pub fn new() -> NativeHost {
        NativeHost {
            start: Instant::now(),
            sockets: HashMap::new(),
            next_socket: 1,
        }
    }
}

fn stdio(fd: i32) -> Result<BorrowedFd<'static>, i64> {
    match fd {
        // SAFETY: fds 0-2 stay open for the life of the process: friscy never
        // closes its own standard streams.
        0..=2 => Ok(unsafe { BorrowedFd::borrow_raw(fd) }),
        _ => Err(errno::EBADF),
    }
}

fn err(e: rustix::io::Errno) -> i64 {
    i64::from(e.raw_os_error())
}

/// Polls fd 0-2 for input for up to `timeout` ns (None: forever).
fn poll_in(fd: i32, timeout: Option<u128>) -> bool {
    let Ok(f) = stdio(fd) else {
        return true;
    };
    let mut fds = [rustix::event::PollFd::new(&f, rustix::event::PollFlags::IN)];
    let ts = timeout.map(|ns| rustix::event::Timespec {
        tv_sec: (ns / 1_000_000_000).min(i64::MAX as u128) as i64,
        tv_nsec: (ns % 1_000_000_000) as i64,
    });
    match rustix::event::poll(&mut fds, ts.as_ref()) {
        Ok(n) => n > 0,
        // EINTR: let the caller look again
        Err(_) => false,
    }
}

impl Host for NativeHost {
    fn window_size(&mut self) -> Option<(u16, u16)> {
        let ws = rustix::termios::tcgetwinsize(stdio(1).ok()?).ok()?;
        (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
    }

    fn input_ready(&mut self, fd: i32) -> bool {
        poll_in(fd, Some(0))
    }

    fn wait_input(&mut self, fd: i32, timeout: Option<u128>) -> bool {
        poll_in(fd, timeout)
    }

    fn net(&mut self) -> Option<&mut dyn HostNet> {
        Some(self)
    }

    fn wait_host(&mut self, stdin: bool, sockets: &[(u64, bool)], timeout: Option<u128>) -> bool {
        use rustix::event::{PollFd, PollFlags, poll};
        let socks: Vec<(&Socket, bool)> = sockets
            .iter()
            .filter_map(|(h, w)| self.sockets.get(h).map(|s| (s, *w)))
            .collect();
        let stdin_fd = stdio(0).ok();
        let mut fds: Vec<PollFd<'_>> = socks
            .iter()
            .map(|(s, w)| PollFd::new(*s, if *w { PollFlags::OUT } else { PollFlags::IN }))
            .collect();
        if stdin && let Some(f) = stdin_fd.as_ref() {
            fds.push(PollFd::new(f, PollFlags::IN));
        }
        let ts = timeout.map(|ns| rustix::event::Timespec {
            tv_sec: (ns / 1_000_000_000).min(i64::MAX as u128) as i64,
            tv_nsec: (ns % 1_000_000_000) as i64,
        });
        matches!(poll(&mut fds, ts.as_ref()), Ok(n) if n > 0)
    }

    fn write(&mut self, fd: i32, data: &[u8]) -> Result<usize, i64> {
        loop {
            match rustix::io::write(stdio(fd)?, data) {
                Err(rustix::io::Errno::INTR) => continue,
                r => return r.map_err(err),
            }
        }
    }

    fn read(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize, i64> {
        loop {
            match rustix::io::read(stdio(fd)?, &mut *buf) {
                Err(rustix::io::Errno::INTR) => continue,
                r => return r.map_err(err),
            }
        }
    }

    fn fstat(&mut self, fd: i32) -> Result<HostStat, i64> {
        let st = rustix::fs::fstat(stdio(fd)?).map_err(err)?;
        Ok(HostStat {
            mode: st.st_mode,
            size: st.st_size as u64,
            rdev: st.st_rdev,
            ino: st.st_ino,
            dev: st.st_dev,
            nlink: st.st_nlink as u32,
            uid: st.st_uid,
            gid: st.st_gid,
            blksize: st.st_blksize as u32,
        })
    }

    fn is_terminal(&mut self, fd: i32) -> bool {
        stdio(fd).is_ok_and(rustix::termios::isatty)
    }

    fn seek(&mut self, fd: i32, offset: i64, whence: u32) -> Result<u64, i64> {
        use rustix::fs::SeekFrom;
        let pos = match whence {
            0 => SeekFrom::Start(offset as u64),
            1 => SeekFrom::Current(offset),
            2 => SeekFrom::End(offset),
            _ => return Err(errno::EINVAL),
        };
        rustix::fs::seek(stdio(fd)?, pos).map_err(err)
    }

    fn now(&mut self, clock: Clock) -> u128 {
        match clock {
            Clock::Realtime => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            Clock::Monotonic => self.start.elapsed().as_nanos() + 1_000_000_000,
        }
    }

    fn sleep(&mut self, nanos: u128) {
        std::thread::sleep(Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64));
    }

    fn random(&mut self, buf: &mut [u8]) -> Result<(), i64> {
        let mut done = 0;
        while done < buf.len() {
            match rustix::rand::getrandom(&mut buf[done..], rustix::rand::GetRandomFlags::empty()) {
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(err(e)),
            }
        }
        Ok(())
    }
}
