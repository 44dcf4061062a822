//! Open file descriptions and the per-process descriptor table.

use crate::abi::{PIPE_BUF_SIZE, open};
use friscy_vfs::{Fs, Ino};
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

/// A character device friscy implements itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Null,
    Zero,
    Full,
    Random,
}

/// A byte queue: appended at the back, taken from the front, with block
/// copies (a `VecDeque<u8>` moves bytes one at a time through iterators).
#[derive(Debug, Default)]
pub struct ByteQueue {
    data: Vec<u8>,
    /// Bytes before this were taken.
    start: usize,
}

impl ByteQueue {
    pub fn len(&self) -> usize {
        self.data.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.data.len() / 2 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.extend_from_slice(bytes);
    }

    /// The first `n` bytes (at most), without taking them.
    pub fn peek(&self, n: usize) -> Vec<u8> {
        let n = n.min(self.len());
        self.data[self.start..self.start + n].to_vec()
    }

    /// Takes the first `n` bytes (at most).
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.peek(n);
        self.start += out.len();
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
        out
    }
}

/// The buffer between the two ends of a pipe (or a socket's direction).
#[derive(Debug, Default)]
pub struct Pipe {
    pub buf: ByteQueue,
    pub readers: usize,
    pub writers: usize,
    /// Sockets: marked stretches of `buf` (every message of a datagram or
    /// seqpacket socket; bytes sent with descriptors on a stream socket).
    pub records: VecDeque<Record>,
    /// Sockets: bytes taken from `buf` so far (record positions count
    /// from the first byte ever put).
    pub taken: u64,
}

/// A stretch of a socket's bytes sent as one message or with ancillary
/// data.
#[derive(Debug)]
pub struct Record {
    /// Position of its first byte.
    pub at: u64,
    pub len: usize,
    /// Descriptors passed along (SCM_RIGHTS).
    pub fds: Vec<Desc>,
    /// The sender's bound name (datagram sockets).
    pub from: Option<Vec<u8>>,
}

impl Pipe {
    pub fn space(&self) -> usize {
        PIPE_BUF_SIZE.saturating_sub(self.buf.len())
    }
}

/// An eventfd counter.
#[derive(Debug, Default)]
pub struct EventFd {
    pub count: u64,
    pub semaphore: bool,
}

/// A timerfd: when it next fires and how often.
#[derive(Debug, Default)]
pub struct TimerFd {
    /// CLOCK_REALTIME (else monotonic).
    pub realtime: bool,
    /// Next expiry, in nanoseconds of the monotonic clock.
    pub next: Option<u128>,
    pub interval: u128,
    /// Expirations not yet read.
    pub expired: u64,
}

impl TimerFd {
    /// Counts the expirations up to `now`.
    pub fn advance(&mut self, now: u128) {
        if let Some(next) = self.next
            && now >= next
        {
            match (now - next).checked_div(self.interval) {
                Some(k) => {
                    let n = k + 1;
                    self.expired += n as u64;
                    self.next = Some(next + n * self.interval);
                }
                None => {
                    self.expired += 1;
                    self.next = None;
                }
            }
        }
    }
}

/// One registration of an epoll instance.
#[derive(Debug)]
pub struct Interest {
    pub desc: std::rc::Weak<RefCell<Description>>,
    pub events: u32,
    pub data: u64,
}

/// An epoll instance: what it watches, by descriptor number.
#[derive(Debug, Default)]
pub struct Epoll {
    pub interest: BTreeMap<i32, Interest>,
}

/// (pid, uid, gid) of a socket's creator, as SO_PEERCRED reports it.
pub type Cred = (i32, u32, u32);

/// An AF_UNIX socket: one end of a connection, a listening socket, or a
/// datagram socket (which always has its own receive queue).
#[derive(Debug)]
pub struct Socket {
    /// Bytes coming in, and going out (the peer's `rx`), once connected.
    pub rx: Option<Rc<RefCell<Pipe>>>,
    pub tx: Option<Rc<RefCell<Pipe>>>,
    /// Listening: connections waiting for accept (the server ends).
    pub listening: bool,
    pub backlog: VecDeque<Rc<RefCell<Socket>>>,
    /// The VFS node it is bound to.
    pub bound: Option<Vec<u8>>,
    /// The path of the socket it connected to.
    pub peer_name: Option<Vec<u8>>,
    pub shut_rd: bool,
    pub shut_wr: bool,
    /// SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_SEQPACKET = 5.
    pub kind: u32,
    /// Who made it, and who made the peer (connected sockets).
    pub cred: Cred,
    pub peer_cred: Option<Cred>,
}

/// `SOCK_STREAM` and `SOCK_DGRAM`.
pub const SOCK_STREAM: u32 = 1;
pub const SOCK_DGRAM: u32 = 2;

type Queue = Option<Rc<RefCell<Pipe>>>;

impl Socket {
    fn with(kind: u32, cred: Cred, rx: Queue, tx: Queue) -> Socket {
        Socket {
            rx,
            tx,
            listening: false,
            backlog: VecDeque::new(),
            bound: None,
            peer_name: None,
            shut_rd: false,
            shut_wr: false,
            kind,
            cred,
            peer_cred: None,
        }
    }

    /// A new unconnected socket (a datagram socket gets its receive queue).
    pub fn new(kind: u32, cred: Cred) -> Socket {
        let rx = (kind == SOCK_DGRAM).then(|| {
            Rc::new(RefCell::new(Pipe {
                readers: 1,
                ..Pipe::default()
            }))
        });
        Socket::with(kind, cred, rx, None)
    }

    /// Messages keep their boundaries (datagram and seqpacket).
    pub fn message(&self) -> bool {
        self.kind != SOCK_STREAM
    }

    /// Connected (has somewhere to send).
    pub fn connected(&self) -> bool {
        self.tx.is_some()
    }

    /// A connected pair.
    pub fn pair(kind: u32, cred: Cred) -> (Socket, Socket) {
        let a = Rc::new(RefCell::new(Pipe::default()));
        let b = Rc::new(RefCell::new(Pipe::default()));
        // each end reads one pipe and writes the other
        for p in [&a, &b] {
            let mut p = p.borrow_mut();
            p.readers += 1;
            p.writers += 1;
        }
        let mut x = Socket::with(kind, cred, Some(a.clone()), Some(b.clone()));
        let mut y = Socket::with(kind, cred, Some(b), Some(a));
        x.peer_cred = Some(cred);
        y.peer_cred = Some(cred);
        (x, y)
    }

    /// Stops reading and writing (close or shutdown both ways).
    pub fn hang_up(&mut self) {
        if !self.shut_rd
            && let Some(rx) = &self.rx
        {
            rx.borrow_mut().readers -= 1;
        }
        if !self.shut_wr
            && let Some(tx) = &self.tx
        {
            tx.borrow_mut().writers -= 1;
        }
        self.shut_rd = true;
        self.shut_wr = true;
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.hang_up();
    }
}

/// What a description refers to.
#[derive(Debug)]
pub enum Object {
    /// A regular file, directory, symlink (O_PATH) or node of the VFS.
    Node(Ino),
    /// The read end of a pipe (or FIFO).
    PipeRead(Rc<RefCell<Pipe>>),
    /// The write end of a pipe (or FIFO).
    PipeWrite(Rc<RefCell<Pipe>>),
    /// One of the host's standard streams (0, 1, 2), as given to the guest.
    Host(i32),
    /// /dev/null and friends.
    Dev(Device, Ino),
    EventFd(Rc<RefCell<EventFd>>),
    TimerFd(Rc<RefCell<TimerFd>>),
    Epoll(Rc<RefCell<Epoll>>),
    Socket(Rc<RefCell<Socket>>),
    /// A terminal's own side: the console or a pseudo-terminal's slave.
    Tty(crate::tty::TermRef),
    /// The master side of a pseudo-terminal (/dev/ptmx).
    PtyMaster(crate::tty::TermRef),
    /// A network socket of the host.
    Inet(Rc<crate::sys_net::InetSock>),
    /// A signalfd: the signals it reads.
    SignalFd(Rc<std::cell::Cell<u64>>),
}

impl Object {
    /// Reading it waits for the host's input (stdin, or the console).
    pub fn waits_on_host(&self) -> bool {
        match self {
            Object::Host(h) => *h == 0,
            Object::Tty(t) => t.borrow().console,
            _ => false,
        }
    }
}

/// An open file description (shared by dup'ed descriptors and across fork).
pub struct Description {
    pub obj: Object,
    /// O_ACCMODE, O_APPEND, O_NONBLOCK, O_PATH, O_DIRECTORY as opened.
    pub flags: u64,
    pub offset: u64,
    /// For VFS objects: the file system, told when the description goes
    /// (an unlinked file lives until its last description is closed).
    fs: Option<Rc<RefCell<Fs>>>,
    /// Directory listing position state: the getdents cookie.
    pub dir_cookie: u64,
}

impl std::fmt::Debug for Description {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Description")
            .field("obj", &self.obj)
            .field("flags", &self.flags)
            .field("offset", &self.offset)
            .finish()
    }
}

impl Description {
    pub fn new(obj: Object, flags: u64) -> Desc {
        // A pipe end counts itself on its pipe for as long as it lives.
        match &obj {
            Object::PipeRead(p) => p.borrow_mut().readers += 1,
            Object::PipeWrite(p) => p.borrow_mut().writers += 1,
            Object::Tty(t) => {
                let mut t = t.borrow_mut();
                t.slaves += 1;
                t.slave_opened = true;
            }
            Object::PtyMaster(t) => t.borrow_mut().masters += 1,
            _ => {}
        }
        Rc::new(RefCell::new(Description {
            obj,
            flags,
            offset: 0,
            fs: None,
            dir_cookie: 0,
        }))
    }

    /// A description of VFS inode `ino` (held open in `fs` until dropped).
    pub fn node(fs: &Rc<RefCell<Fs>>, obj: Object, flags: u64) -> Desc {
        let d = Description::new(obj, flags);
        let ino = d.borrow().ino();
        if let Some(ino) = ino {
            fs.borrow_mut().hold(ino);
            d.borrow_mut().fs = Some(fs.clone());
        }
        d
    }

    pub fn readable(&self) -> bool {
        self.flags & open::O_PATH == 0 && self.flags & open::O_ACCMODE != open::O_WRONLY
    }

    pub fn writable(&self) -> bool {
        self.flags & open::O_PATH == 0 && self.flags & open::O_ACCMODE != open::O_RDONLY
    }

    pub fn nonblocking(&self) -> bool {
        self.flags & open::O_NONBLOCK != 0
    }

    /// The VFS inode behind it, if any.
    pub fn ino(&self) -> Option<Ino> {
        match self.obj {
            Object::Node(i) | Object::Dev(_, i) => Some(i),
            _ => None,
        }
    }
}

impl Drop for Description {
    fn drop(&mut self) {
        match &self.obj {
            Object::PipeRead(p) => p.borrow_mut().readers -= 1,
            Object::PipeWrite(p) => p.borrow_mut().writers -= 1,
            Object::Tty(t) => t.borrow_mut().slaves -= 1,
            Object::PtyMaster(t) => t.borrow_mut().masters -= 1,
            _ => {}
        }
        if let (Some(fs), Some(ino)) = (&self.fs, self.ino()) {
            // Descriptions are only dropped while the kernel holds no
            // borrow of the file system.
            if let Ok(mut fs) = fs.try_borrow_mut() {
                fs.release(ino);
            }
        }
    }
}

pub type Desc = Rc<RefCell<Description>>;

/// A process's descriptor table.
#[derive(Debug, Default, Clone)]
pub struct FdTable {
    pub fds: BTreeMap<i32, (Desc, bool)>,
}

/// Most descriptors a process may hold (RLIMIT_NOFILE).
pub const NOFILE: i32 = 1024;

impl FdTable {
    pub fn get(&self, fd: i32) -> Option<Desc> {
        self.fds.get(&fd).map(|(d, _)| d.clone())
    }

    /// The lowest free descriptor at or above `min`.
    pub fn lowest_free(&self, min: i32) -> Option<i32> {
        let mut want = min;
        for (&fd, _) in self.fds.range(min..) {
            if fd != want {
                break;
            }
            want += 1;
        }
        (want < NOFILE).then_some(want)
    }

    /// Installs `d` at the lowest free descriptor >= `min`.
    pub fn install(&mut self, d: Desc, cloexec: bool, min: i32) -> Option<i32> {
        let fd = self.lowest_free(min)?;
        self.fds.insert(fd, (d, cloexec));
        Some(fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_queue_keeps_order_across_compaction() {
        let mut q = ByteQueue::default();
        let mut expect = std::collections::VecDeque::new();
        let mut next = 0u8;
        for round in 0..200 {
            let n = (round * 7) % 50;
            let chunk: Vec<u8> = (0..n)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            q.extend_from_slice(&chunk);
            expect.extend(chunk);
            let take = (round * 5) % 40;
            let got = q.take(take);
            let want: Vec<u8> = expect.drain(..take.min(expect.len())).collect();
            assert_eq!(got, want);
            assert_eq!(q.len(), expect.len());
            assert_eq!(
                q.peek(3),
                expect.iter().take(3).copied().collect::<Vec<_>>()
            );
        }
    }
}
