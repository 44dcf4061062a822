//! Host effects: everything the kernel needs from the machine it runs on.
//! Native and browser builds each provide an implementation.

/// Host-side metadata of one of the standard streams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStat {
    /// st_mode in Linux values (file type bits and permissions).
    pub mode: u32,
    pub size: u64,
    pub rdev: u64,
    pub ino: u64,
    pub dev: u64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub blksize: u32,
}

/// Network sockets of the host (natively; the browser build has none yet).
/// A socket is a handle the host gave out; the kernel closes it with
/// `net_close`. Host sockets never block: a call that would block fails
/// with EAGAIN and the kernel waits (`wait_host`).
pub trait HostNet {
    /// A new socket: domain AF_INET/AF_INET6, type SOCK_STREAM/SOCK_DGRAM.
    fn net_socket(&mut self, domain: u32, ty: u32) -> Result<u64, i64>;
    fn net_close(&mut self, h: u64);
    fn net_bind(&mut self, h: u64, addr: SocketAddr) -> Result<(), i64>;
    /// EINPROGRESS while the connection is being made.
    fn net_connect(&mut self, h: u64, addr: SocketAddr) -> Result<(), i64>;
    /// The outcome of a connection in progress (SO_ERROR), as an errno.
    fn net_error(&mut self, h: u64) -> i64;
    fn net_listen(&mut self, h: u64, backlog: i32) -> Result<(), i64>;
    fn net_accept(&mut self, h: u64) -> Result<(u64, Option<SocketAddr>), i64>;
    fn net_send(&mut self, h: u64, data: &[u8], to: Option<SocketAddr>) -> Result<usize, i64>;
    fn net_recv(
        &mut self,
        h: u64,
        len: usize,
        peek: bool,
    ) -> Result<(Vec<u8>, Option<SocketAddr>), i64>;
    fn net_shutdown(&mut self, h: u64, how: u32) -> Result<(), i64>;
    /// The local (or peer) address.
    fn net_name(&mut self, h: u64, peer: bool) -> Result<Option<SocketAddr>, i64>;
    /// Sets (with a value) or reads an integer socket option.
    fn net_option(&mut self, h: u64, level: u32, name: u32, value: Option<i32>)
    -> Result<i32, i64>;
    /// (readable, writable, hung up)
    fn net_ready(&mut self, h: u64) -> (bool, bool, bool);
}

pub use std::net::SocketAddr;

/// Which clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    Realtime,
    Monotonic,
}

/// The host's side of the standard streams, clocks and randomness. Errors
/// are Linux errno values.
pub trait Host {
    /// Writes to the host stream behind guest fd 0, 1 or 2.
    fn write(&mut self, fd: i32, data: &[u8]) -> Result<usize, i64>;
    /// Reads from the host stream behind guest fd 0, 1 or 2.
    fn read(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize, i64>;
    /// Metadata of the host stream behind guest fd 0, 1 or 2.
    fn fstat(&mut self, fd: i32) -> Result<HostStat, i64>;
    /// Whether the stream is a terminal.
    fn is_terminal(&mut self, fd: i32) -> bool;
    /// Seeks the host stream (ESPIPE for pipes and terminals).
    fn seek(&mut self, fd: i32, offset: i64, whence: u32) -> Result<u64, i64>;
    /// Nanoseconds since the clock's epoch.
    fn now(&mut self, clock: Clock) -> u128;
    /// Sleeps (or waits) for the given number of nanoseconds.
    fn sleep(&mut self, nanos: u128);
    /// Fills `buf` with random bytes.
    fn random(&mut self, buf: &mut [u8]) -> Result<(), i64>;
    /// Whether a read of the host stream behind guest fd `fd` would not
    /// block now (default: reads never block).
    fn input_ready(&mut self, _fd: i32) -> bool {
        true
    }
    /// Waits until the stream behind guest fd `fd` is readable or
    /// `timeout` nanoseconds pass (forever: None); true if readable.
    fn wait_input(&mut self, _fd: i32, timeout: Option<u128>) -> bool {
        if let Some(ns) = timeout {
            self.sleep(ns);
        }
        true
    }
    /// The host terminal's size as (rows, columns), if the guest's
    /// terminal is the host's.
    fn window_size(&mut self) -> Option<(u16, u16)> {
        None
    }
    /// The host's network, if it offers one.
    fn net(&mut self) -> Option<&mut dyn HostNet> {
        None
    }
    /// Waits until standard input (with `stdin`) or one of `sockets` is
    /// ready — readable, or writable for those paired with true — or
    /// `timeout` nanoseconds pass; true if something is ready.
    fn wait_host(&mut self, stdin: bool, sockets: &[(u64, bool)], timeout: Option<u128>) -> bool {
        let _ = sockets;
        if stdin {
            self.wait_input(0, timeout)
        } else {
            if let Some(ns) = timeout {
                self.sleep(ns);
            }
            true
        }
    }
    /// A message from friscy itself (not the guest) for the person running
    /// it; by default on the host's stderr, prefixed with `friscy: `.
    fn log(&mut self, message: &str) {
        let _ = self.write(2, format!("friscy: {message}\n").as_bytes());
    }
}
