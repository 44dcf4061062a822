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

/// The buffer between the two ends of a pipe.
#[derive(Debug, Default)]
pub struct Pipe {
    pub buf: VecDeque<u8>,
    pub readers: usize,
    pub writers: usize,
}

impl Pipe {
    pub fn space(&self) -> usize {
        PIPE_BUF_SIZE.saturating_sub(self.buf.len())
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
