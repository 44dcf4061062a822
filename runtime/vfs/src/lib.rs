//! friscy's file system: an in-memory inode tree built from image layers.
//!
//! # Design
//!
//! * **Inode table.** [`Fs`] owns a `Vec<Option<Inode>>`; an inode number
//!   ([`Ino`]) is an index into it and [`ROOT`] is the root directory. Freed
//!   slots are reused. Every ino handed in is checked: a number that is out
//!   of range or names a freed slot gives `ENOENT`, never a panic.
//! * **Directories** map names (any bytes except `/` and NUL, at most 255
//!   of them) to inos in a `BTreeMap`, and remember their parent for `..`.
//!   Each entry also gets a sequence number when it is inserted; `readdir`
//!   cookies are those numbers, so removing entries while a directory is
//!   being listed never makes the listing skip others.
//! * **Regular files** are sparse chunked byte arrays in memory, or *lazy*:
//!   a [`Content`] that is loaded on first read or write and then cached
//!   (so a `dir:` image does not read every file when it starts).
//! * **Link counts and open handles.** An inode is freed when its link count
//!   is zero and no open handle ([`Fs::hold`]) refers to it, as on Linux.
//! * **Paths** are resolved iteratively with a symlink counter
//!   ([`Fs::resolve`], in `path.rs`); there is no recursion anywhere, so
//!   hostile symlink chains or deep trees cannot exhaust the stack.
//! * **Images** come from OCI layer tars ([`Fs::apply_layer`], `layer.rs`,
//!   with AUFS whiteouts) or from a host directory
//!   ([`Fs::import_host_dir`], `host.rs`, not on wasm32). The source is
//!   only read; every change stays in memory.
//!
//! No permission checks are made here: the caller (the kernel) decides who
//! may do what. Reads do not update access times.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::rc::Rc;

mod data;
#[cfg(all(unix, not(target_arch = "wasm32")))]
mod host;
pub mod image;
mod layer;
mod path;

use data::Chunks;
pub use layer::{LayerError, LayerStats};

/// An inode number: an index into the inode table.
pub type Ino = u32;

/// The inode number of the root directory.
pub const ROOT: Ino = 1;

/// The largest file size supported (1 TiB); writes beyond it give `EFBIG`.
pub const MAX_FILE_SIZE: u64 = 1 << 40;

/// The longest name of a directory entry, in bytes (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// The longest path accepted, in bytes, without the terminating NUL
/// (Linux `PATH_MAX` - 1).
pub const PATH_MAX: usize = 4095;

/// The most symlinks followed while resolving one path (Linux `MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;

/// `renameat2` flag: fail with `EEXIST` if the target exists.
pub const RENAME_NOREPLACE: u32 = 1;
/// `renameat2` flag: atomically swap the two (both must exist).
pub const RENAME_EXCHANGE: u32 = 2;

/// Linux errno values used by this crate (positive numbers, riscv64 /
/// asm-generic values).
pub mod errno {
    /// Operation not permitted.
    pub const EPERM: i64 = 1;
    /// No such file or directory.
    pub const ENOENT: i64 = 2;
    /// I/O error.
    pub const EIO: i64 = 5;
    /// Out of memory (a lazy file larger than the room under the limit).
    pub const ENOMEM: i64 = 12;
    /// Bad file descriptor.
    pub const EBADF: i64 = 9;
    /// Permission denied.
    pub const EACCES: i64 = 13;
    /// Device or resource busy.
    pub const EBUSY: i64 = 16;
    /// File exists.
    pub const EEXIST: i64 = 17;
    /// Cross-device link.
    pub const EXDEV: i64 = 18;
    /// Not a directory.
    pub const ENOTDIR: i64 = 20;
    /// Is a directory.
    pub const EISDIR: i64 = 21;
    /// Invalid argument.
    pub const EINVAL: i64 = 22;
    /// File too large.
    pub const EFBIG: i64 = 27;
    /// No space left on device.
    pub const ENOSPC: i64 = 28;
    /// Too many links.
    pub const EMLINK: i64 = 31;
    /// File name too long.
    pub const ENAMETOOLONG: i64 = 36;
    /// Directory not empty.
    pub const ENOTEMPTY: i64 = 39;
    /// Too many levels of symbolic links.
    pub const ELOOP: i64 = 40;
    /// Operation not supported.
    pub const EOPNOTSUPP: i64 = 95;
}

use errno::*;

/// The result of a file-system operation: `Err` holds a positive errno.
pub type VResult<T> = Result<T, i64>;

/// A point in time: seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Timespec {
    /// Seconds since the epoch (may be negative).
    pub sec: i64,
    /// Nanoseconds, below 1 000 000 000.
    pub nsec: u32,
}

/// The type of an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// Regular file.
    Reg,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Character device.
    Chr,
    /// Block device.
    Blk,
    /// Named pipe.
    Fifo,
    /// Unix-domain socket.
    Sock,
}

impl FileType {
    /// The `S_IFMT` bits of `st_mode` for this type (`S_IFREG` etc.).
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Reg => 0o100000,
            FileType::Dir => 0o040000,
            FileType::Symlink => 0o120000,
            FileType::Chr => 0o020000,
            FileType::Blk => 0o060000,
            FileType::Fifo => 0o010000,
            FileType::Sock => 0o140000,
        }
    }

    /// The `d_type` of a `linux_dirent64` for this type (`DT_REG` etc.).
    pub fn dirent_type(self) -> u8 {
        match self {
            FileType::Reg => 8,
            FileType::Dir => 4,
            FileType::Symlink => 10,
            FileType::Chr => 2,
            FileType::Blk => 6,
            FileType::Fifo => 1,
            FileType::Sock => 12,
        }
    }
}

/// Builds a Linux device number (`dev_t`) from major and minor numbers.
pub fn makedev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (u64::from(major), u64::from(minor));
    ((major & 0xfff) << 8) | (minor & 0xff) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

/// What `stat` reports about an inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Inode number.
    pub ino: u64,
    /// Type of the inode.
    pub kind: FileType,
    /// Full `st_mode`: type bits | permissions, including suid/sgid/sticky.
    pub mode: u32,
    /// Number of hard links.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number for device nodes (Linux encoding), else 0.
    pub rdev: u64,
    /// Size in bytes.
    pub size: u64,
    /// Storage in use, in 512-byte units.
    pub blocks: u64,
    /// Last access.
    pub atime: Timespec,
    /// Last modification of the contents.
    pub mtime: Timespec,
    /// Last change of the inode.
    pub ctime: Timespec,
}

/// The kind of node [`Fs::create`] makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NewNode {
    /// An empty regular file.
    Reg,
    /// An empty directory.
    Dir,
    /// A symbolic link with this target.
    Symlink(Vec<u8>),
    /// A character device with this device number.
    Chr(u64),
    /// A block device with this device number.
    Blk(u64),
    /// A named pipe.
    Fifo,
    /// A Unix-domain socket.
    Sock,
}

/// The bytes of a regular file that are loaded only when first needed.
pub trait Content {
    /// The size of the file, reported by `stat` before the content is loaded.
    fn size(&self) -> u64;
    /// Reads the whole content.
    fn load(&self) -> std::io::Result<Vec<u8>>;
}

/// One entry returned by [`Fs::readdir`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name.
    pub name: Vec<u8>,
    /// The inode it refers to.
    pub ino: Ino,
    /// The type of that inode.
    pub kind: FileType,
    /// The cookie of the entry after this one (`d_off`).
    pub next: u64,
}

/// A directory entry: the inode and the sequence number used as its cookie.
#[derive(Clone, Copy, Debug)]
struct Slot {
    ino: Ino,
    seq: u64,
}

/// The first cookie of a named entry (0 is ".", 1 is "..").
const FIRST_SEQ: u64 = 2;

#[derive(Debug)]
struct Dir {
    names: BTreeMap<Vec<u8>, Slot>,
    order: BTreeMap<u64, Vec<u8>>,
    next_seq: u64,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            names: BTreeMap::new(),
            order: BTreeMap::new(),
            next_seq: FIRST_SEQ,
        }
    }

    fn insert(&mut self, name: Vec<u8>, ino: Ino) {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        if let Some(old) = self.names.insert(name.clone(), Slot { ino, seq }) {
            self.order.remove(&old.seq);
        }
        self.order.insert(seq, name);
    }

    fn remove(&mut self, name: &[u8]) -> Option<Ino> {
        let slot = self.names.remove(name)?;
        self.order.remove(&slot.seq);
        Some(slot.ino)
    }

    fn get(&self, name: &[u8]) -> Option<Ino> {
        self.names.get(name).map(|s| s.ino)
    }

    /// Points an existing entry at another inode, keeping its cookie.
    fn repoint(&mut self, name: &[u8], ino: Ino) {
        if let Some(slot) = self.names.get_mut(name) {
            slot.ino = ino;
        }
    }
}

enum FileBody {
    Mem(Chunks),
    Lazy(Rc<dyn Content>),
}

enum Body {
    File(FileBody),
    Dir(Dir),
    Symlink(Vec<u8>),
    Special,
}

struct Inode {
    kind: FileType,
    perm: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    open: u32,
    rdev: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
    /// For a directory its parent; for anything else the directory it was
    /// last linked into (a hint for [`Fs::path_of`]).
    parent: Ino,
    body: Body,
}

impl Inode {
    fn size(&self) -> u64 {
        match &self.body {
            Body::File(FileBody::Mem(c)) => c.size(),
            Body::File(FileBody::Lazy(c)) => c.size(),
            Body::Dir(_) => 4096,
            Body::Symlink(t) => t.len() as u64,
            Body::Special => 0,
        }
    }

    fn blocks(&self) -> u64 {
        let bytes = match &self.body {
            Body::File(FileBody::Mem(c)) => c.allocated(),
            Body::File(FileBody::Lazy(c)) => c.size().div_ceil(4096).saturating_mul(4096),
            Body::Dir(_) => 4096,
            Body::Symlink(_) | Body::Special => 0,
        };
        bytes / 512
    }
}

/// The file system: an inode table and the time stamped on changes.
pub struct Fs {
    nodes: Vec<Option<Inode>>,
    free: Vec<Ino>,
    now: Timespec,
}

impl std::fmt::Debug for Fs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fs")
            .field("inodes", &self.inode_count())
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl Default for Fs {
    fn default() -> Fs {
        Fs::new()
    }
}

/// Checks a name for an entry that is being created: not empty, no `/` or
/// NUL, at most [`NAME_MAX`] bytes. `.` and `..` are left to the caller.
fn check_name(name: &[u8]) -> VResult<()> {
    if name.is_empty() {
        return Err(ENOENT);
    }
    if name.len() > NAME_MAX {
        return Err(ENAMETOOLONG);
    }
    if name.iter().any(|&b| b == b'/' || b == 0) {
        return Err(EINVAL);
    }
    Ok(())
}

fn is_dot_or_dotdot(name: &[u8]) -> bool {
    name == b"." || name == b".."
}

impl Fs {
    /// A file system holding only `/` (mode 0o755, owned by root).
    pub fn new() -> Fs {
        let root = Inode {
            kind: FileType::Dir,
            perm: 0o755,
            uid: 0,
            gid: 0,
            nlink: 2,
            open: 0,
            rdev: 0,
            atime: Timespec::default(),
            mtime: Timespec::default(),
            ctime: Timespec::default(),
            parent: ROOT,
            body: Body::Dir(Dir::new()),
        };
        Fs {
            nodes: vec![None, Some(root)],
            free: Vec::new(),
            now: Timespec::default(),
        }
    }

    /// Sets the time stamped on later changes.
    pub fn set_now(&mut self, t: Timespec) {
        self.now = t;
    }

    /// The time currently stamped on changes.
    pub fn now(&self) -> Timespec {
        self.now
    }

    /// The number of live inodes.
    pub fn inode_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_some()).count()
    }

    fn node(&self, ino: Ino) -> VResult<&Inode> {
        let idx = usize::try_from(ino).map_err(|_| ENOENT)?;
        self.nodes.get(idx).and_then(Option::as_ref).ok_or(ENOENT)
    }

    fn node_mut(&mut self, ino: Ino) -> VResult<&mut Inode> {
        let idx = usize::try_from(ino).map_err(|_| ENOENT)?;
        self.nodes
            .get_mut(idx)
            .and_then(Option::as_mut)
            .ok_or(ENOENT)
    }

    fn dir(&self, ino: Ino) -> VResult<&Dir> {
        match &self.node(ino)?.body {
            Body::Dir(d) => Ok(d),
            _ => Err(ENOTDIR),
        }
    }

    fn dir_mut(&mut self, ino: Ino) -> VResult<&mut Dir> {
        match &mut self.node_mut(ino)?.body {
            Body::Dir(d) => Ok(d),
            _ => Err(ENOTDIR),
        }
    }

    /// A directory that may get new entries: it must not have been removed.
    fn live_dir(&self, ino: Ino) -> VResult<&Dir> {
        let node = self.node(ino)?;
        match &node.body {
            Body::Dir(d) if node.nlink > 0 => Ok(d),
            Body::Dir(_) => Err(ENOENT),
            _ => Err(ENOTDIR),
        }
    }

    fn touch_dir(&mut self, ino: Ino) {
        let now = self.now;
        if let Ok(n) = self.node_mut(ino) {
            n.mtime = now;
            n.ctime = now;
        }
    }

    fn touch_ctime(&mut self, ino: Ino) {
        let now = self.now;
        if let Ok(n) = self.node_mut(ino) {
            n.ctime = now;
        }
    }

    fn alloc(&mut self, node: Inode) -> VResult<Ino> {
        if let Some(ino) = self.free.pop() {
            if let Some(slot) = usize::try_from(ino)
                .ok()
                .and_then(|i| self.nodes.get_mut(i))
            {
                *slot = Some(node);
                return Ok(ino);
            }
            return Err(ENOSPC);
        }
        let ino = Ino::try_from(self.nodes.len()).map_err(|_| ENOSPC)?;
        if ino == Ino::MAX {
            return Err(ENOSPC);
        }
        self.nodes.try_reserve(1).map_err(|_| ENOSPC)?;
        self.nodes.push(Some(node));
        Ok(ino)
    }

    /// Frees an inode once nothing refers to it any more.
    fn maybe_free(&mut self, ino: Ino) {
        if ino == ROOT {
            return;
        }
        let Ok(idx) = usize::try_from(ino) else {
            return;
        };
        let dead = matches!(self.nodes.get(idx), Some(Some(n)) if n.nlink == 0 && n.open == 0);
        if dead && let Some(slot) = self.nodes.get_mut(idx) {
            *slot = None;
            self.free.push(ino);
        }
    }

    /// Removes one link to `top`; if `top` is a directory, it and
    /// everything under it lose their links (iteratively, no recursion).
    /// The caller has already taken `top` out of its parent's entries and
    /// fixed the parent's link count.
    fn drop_tree(&mut self, top: Ino) {
        let now = self.now;
        let mut work = vec![top];
        while let Some(ino) = work.pop() {
            let Ok(node) = self.node_mut(ino) else {
                continue;
            };
            if let Body::Dir(d) = &mut node.body {
                work.extend(d.names.values().map(|s| s.ino));
                d.names.clear();
                d.order.clear();
                node.nlink = 0;
            } else {
                node.nlink = node.nlink.saturating_sub(1);
            }
            node.ctime = now;
            self.maybe_free(ino);
        }
    }

    fn new_inode(&self, kind: FileType, perm: u32, uid: u32, gid: u32, parent: Ino) -> Inode {
        Inode {
            kind,
            perm: perm & 0o7777,
            uid,
            gid,
            nlink: 1,
            open: 0,
            rdev: 0,
            atime: self.now,
            mtime: self.now,
            ctime: self.now,
            parent,
            body: Body::Special,
        }
    }

    /// Adds a new inode under `dir` as `name`, fixing link counts and times.
    fn insert_new(&mut self, dir: Ino, name: &[u8], node: Inode) -> VResult<Ino> {
        check_name(name)?;
        let d = self.live_dir(dir)?;
        if is_dot_or_dotdot(name) || d.get(name).is_some() {
            return Err(EEXIST);
        }
        let is_dir = node.kind == FileType::Dir;
        if is_dir {
            let parent = self.node(dir)?;
            if parent.nlink == u32::MAX {
                return Err(EMLINK);
            }
        }
        let ino = self.alloc(node)?;
        let d = self.dir_mut(dir)?;
        d.insert(name.to_vec(), ino);
        if is_dir {
            let parent = self.node_mut(dir)?;
            parent.nlink += 1;
        }
        self.touch_dir(dir);
        Ok(ino)
    }

    /// Information about an inode.
    pub fn stat(&self, ino: Ino) -> VResult<Stat> {
        let n = self.node(ino)?;
        Ok(Stat {
            ino: u64::from(ino),
            kind: n.kind,
            mode: n.kind.mode_bits() | n.perm,
            nlink: n.nlink,
            uid: n.uid,
            gid: n.gid,
            rdev: n.rdev,
            size: n.size(),
            blocks: n.blocks(),
            atime: n.atime,
            mtime: n.mtime,
            ctime: n.ctime,
        })
    }

    /// The type of an inode.
    pub fn kind(&self, ino: Ino) -> VResult<FileType> {
        Ok(self.node(ino)?.kind)
    }

    /// Makes a new node `name` in directory `dir`; returns its ino.
    ///
    /// `EEXIST` if the name is taken (or is `.`/`..`), `ENOTDIR` if `dir` is
    /// not a directory, `ENOENT` if it was removed. `perm` is masked to
    /// 0o7777 (symlinks are always 0o777). A new directory has two links and
    /// adds one to its parent. The parent's mtime and ctime are updated.
    pub fn create(
        &mut self,
        dir: Ino,
        name: &[u8],
        node: NewNode,
        perm: u32,
        uid: u32,
        gid: u32,
    ) -> VResult<Ino> {
        let (kind, body, rdev) = match node {
            NewNode::Reg => (
                FileType::Reg,
                Body::File(FileBody::Mem(Chunks::default())),
                0,
            ),
            NewNode::Dir => (FileType::Dir, Body::Dir(Dir::new()), 0),
            NewNode::Symlink(target) => {
                if target.is_empty() {
                    return Err(ENOENT);
                }
                if target.len() > PATH_MAX {
                    return Err(ENAMETOOLONG);
                }
                (FileType::Symlink, Body::Symlink(target), 0)
            }
            NewNode::Chr(rdev) => (FileType::Chr, Body::Special, rdev),
            NewNode::Blk(rdev) => (FileType::Blk, Body::Special, rdev),
            NewNode::Fifo => (FileType::Fifo, Body::Special, 0),
            NewNode::Sock => (FileType::Sock, Body::Special, 0),
        };
        let perm = if kind == FileType::Symlink {
            0o777
        } else {
            perm
        };
        let mut inode = self.new_inode(kind, perm, uid, gid, dir);
        inode.rdev = rdev;
        inode.body = body;
        if kind == FileType::Dir {
            inode.nlink = 2;
        }
        self.insert_new(dir, name, inode)
    }

    /// Makes a regular file whose bytes come from `content` on first use.
    /// Until then `stat` reports `content.size()` as its size. Its atime,
    /// mtime and ctime are `mtime`.
    #[allow(clippy::too_many_arguments)]
    pub fn create_lazy(
        &mut self,
        dir: Ino,
        name: &[u8],
        content: Rc<dyn Content>,
        perm: u32,
        uid: u32,
        gid: u32,
        mtime: Timespec,
    ) -> VResult<Ino> {
        let mut inode = self.new_inode(FileType::Reg, perm, uid, gid, dir);
        inode.body = Body::File(FileBody::Lazy(content));
        inode.atime = mtime;
        inode.mtime = mtime;
        inode.ctime = mtime;
        self.insert_new(dir, name, inode)
    }

    /// Makes a regular file holding `data` (used by image import).
    #[allow(clippy::too_many_arguments)]
    fn create_with_data(
        &mut self,
        dir: Ino,
        name: &[u8],
        data: Chunks,
        perm: u32,
        uid: u32,
        gid: u32,
        mtime: Timespec,
    ) -> VResult<Ino> {
        let mut inode = self.new_inode(FileType::Reg, perm, uid, gid, dir);
        inode.body = Body::File(FileBody::Mem(data));
        inode.atime = mtime;
        inode.mtime = mtime;
        inode.ctime = mtime;
        self.insert_new(dir, name, inode)
    }

    /// Adds the name `name` in `dir` for the existing inode `target`.
    ///
    /// `EPERM` for directories, `EEXIST` if the name is taken, `ENOENT` if
    /// `target` has no links left (an unlinked file that is still open).
    pub fn link(&mut self, dir: Ino, name: &[u8], target: Ino) -> VResult<()> {
        let t = self.node(target)?;
        if t.kind == FileType::Dir {
            return Err(EPERM);
        }
        if t.nlink == 0 {
            return Err(ENOENT);
        }
        if t.nlink == u32::MAX {
            return Err(EMLINK);
        }
        check_name(name)?;
        let d = self.live_dir(dir)?;
        if is_dot_or_dotdot(name) || d.get(name).is_some() {
            return Err(EEXIST);
        }
        self.dir_mut(dir)?.insert(name.to_vec(), target);
        let now = self.now;
        let t = self.node_mut(target)?;
        t.nlink += 1;
        t.ctime = now;
        self.touch_dir(dir);
        Ok(())
    }

    /// Removes the name `name` (not a directory: `EISDIR`) from `dir`.
    /// The inode goes when its last link is gone and no handle holds it.
    pub fn unlink(&mut self, dir: Ino, name: &[u8]) -> VResult<()> {
        let ino = self.lookup(dir, name)?;
        if self.node(ino)?.kind == FileType::Dir {
            return Err(EISDIR);
        }
        self.dir_mut(dir)?.remove(name);
        self.drop_tree(ino);
        self.touch_dir(dir);
        Ok(())
    }

    /// Removes the empty directory `name` from `dir`.
    ///
    /// `EINVAL` for `.` (`EBUSY` for the root's), `ENOTEMPTY` for `..` or a
    /// directory with entries, `ENOTDIR` if it is not a directory.
    pub fn rmdir(&mut self, dir: Ino, name: &[u8]) -> VResult<()> {
        self.dir(dir)?;
        if name == b"." {
            return Err(if dir == ROOT { EBUSY } else { EINVAL });
        }
        if name == b".." {
            return Err(if dir == ROOT { EBUSY } else { ENOTEMPTY });
        }
        let ino = self.lookup(dir, name)?;
        if ino == ROOT {
            return Err(EBUSY);
        }
        if !self.dir(ino)?.names.is_empty() {
            return Err(ENOTEMPTY);
        }
        self.dir_mut(dir)?.remove(name);
        let parent = self.node_mut(dir)?;
        parent.nlink = parent.nlink.saturating_sub(1);
        self.drop_tree(ino);
        self.touch_dir(dir);
        Ok(())
    }

    /// True if `anc` is `ino` or one of its ancestors.
    fn is_ancestor_or_self(&self, anc: Ino, ino: Ino) -> bool {
        let mut cur = ino;
        for _ in 0..=self.nodes.len() {
            if cur == anc {
                return true;
            }
            if cur == ROOT {
                return false;
            }
            match self.node(cur) {
                Ok(n) => cur = n.parent,
                Err(_) => return false,
            }
        }
        false
    }

    /// Moves `oldname` in `olddir` to `newname` in `newdir` (`rename`,
    /// `renameat2`).
    ///
    /// `flags` may hold [`RENAME_NOREPLACE`] (`EEXIST` if the target exists)
    /// or [`RENAME_EXCHANGE`] (both must exist; they are swapped). Renaming a
    /// name onto another link of the same inode does nothing. A directory
    /// replaces only an empty directory (`ENOTDIR`, `ENOTEMPTY`), a
    /// non-directory only a non-directory (`EISDIR`); a directory cannot
    /// move into its own subtree (`EINVAL`). `.` or `..` as either name
    /// gives `EBUSY` (`EEXIST` for the target under `RENAME_NOREPLACE`).
    pub fn rename(
        &mut self,
        olddir: Ino,
        oldname: &[u8],
        newdir: Ino,
        newname: &[u8],
        flags: u32,
    ) -> VResult<()> {
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0
            || flags == RENAME_NOREPLACE | RENAME_EXCHANGE
        {
            return Err(EINVAL);
        }
        self.live_dir(olddir)?;
        self.live_dir(newdir)?;
        if is_dot_or_dotdot(oldname) {
            return Err(EBUSY);
        }
        if is_dot_or_dotdot(newname) {
            return Err(if flags & RENAME_NOREPLACE != 0 {
                EEXIST
            } else {
                EBUSY
            });
        }
        check_name(oldname)?;
        check_name(newname)?;
        let src = self.lookup(olddir, oldname)?;
        let dst = self.dir(newdir)?.get(newname);
        let src_dir = self.node(src)?.kind == FileType::Dir;

        if flags & RENAME_EXCHANGE != 0 {
            let dst = dst.ok_or(ENOENT)?;
            return self.exchange(olddir, oldname, src, newdir, newname, dst);
        }

        let mut dst_dir = false;
        if let Some(dst) = dst {
            if flags & RENAME_NOREPLACE != 0 {
                return Err(EEXIST);
            }
            if dst == src {
                return Ok(());
            }
            dst_dir = self.node(dst)?.kind == FileType::Dir;
            if src_dir && !dst_dir {
                return Err(ENOTDIR);
            }
            if !src_dir && dst_dir {
                return Err(EISDIR);
            }
            if dst_dir && !self.dir(dst)?.names.is_empty() {
                return Err(ENOTEMPTY);
            }
        }
        if src_dir && self.is_ancestor_or_self(src, newdir) {
            return Err(EINVAL);
        }
        if src_dir && olddir != newdir && dst.is_none() && self.node(newdir)?.nlink == u32::MAX {
            return Err(EMLINK);
        }

        self.dir_mut(olddir)?.remove(oldname);
        if let Some(dst) = dst {
            self.dir_mut(newdir)?.remove(newname);
            if dst_dir {
                let nd = self.node_mut(newdir)?;
                nd.nlink = nd.nlink.saturating_sub(1);
            }
            self.drop_tree(dst);
        }
        self.dir_mut(newdir)?.insert(newname.to_vec(), src);
        if src_dir && olddir != newdir {
            let od = self.node_mut(olddir)?;
            od.nlink = od.nlink.saturating_sub(1);
            let nd = self.node_mut(newdir)?;
            nd.nlink = nd.nlink.saturating_add(1);
        }
        self.node_mut(src)?.parent = newdir;
        self.touch_ctime(src);
        self.touch_dir(olddir);
        self.touch_dir(newdir);
        Ok(())
    }

    /// The `RENAME_EXCHANGE` half of [`Fs::rename`].
    fn exchange(
        &mut self,
        olddir: Ino,
        oldname: &[u8],
        src: Ino,
        newdir: Ino,
        newname: &[u8],
        dst: Ino,
    ) -> VResult<()> {
        if src == dst {
            return Ok(());
        }
        let src_dir = self.node(src)?.kind == FileType::Dir;
        let dst_dir = self.node(dst)?.kind == FileType::Dir;
        if src_dir && self.is_ancestor_or_self(src, newdir) {
            return Err(EINVAL);
        }
        if dst_dir && self.is_ancestor_or_self(dst, olddir) {
            return Err(EINVAL);
        }
        self.dir_mut(olddir)?.repoint(oldname, dst);
        self.dir_mut(newdir)?.repoint(newname, src);
        if olddir != newdir {
            self.node_mut(src)?.parent = newdir;
            self.node_mut(dst)?.parent = olddir;
            if src_dir != dst_dir {
                // One directory changes parent in one direction only.
                let (from, to) = if src_dir {
                    (olddir, newdir)
                } else {
                    (newdir, olddir)
                };
                let f = self.node_mut(from)?;
                f.nlink = f.nlink.saturating_sub(1);
                let t = self.node_mut(to)?;
                t.nlink = t.nlink.saturating_add(1);
            }
        }
        self.touch_ctime(src);
        self.touch_ctime(dst);
        self.touch_dir(olddir);
        self.touch_dir(newdir);
        Ok(())
    }

    /// The target of a symlink (`EINVAL` if `ino` is not one).
    pub fn readlink(&self, ino: Ino) -> VResult<Vec<u8>> {
        match &self.node(ino)?.body {
            Body::Symlink(t) => Ok(t.clone()),
            _ => Err(EINVAL),
        }
    }

    /// The loaded bytes of a regular file: loads lazy content on first use
    /// (`EIO` if that fails). `EISDIR` for directories, `EINVAL` for other
    /// non-regular inodes.
    fn file_mut(&mut self, ino: Ino) -> VResult<&mut Chunks> {
        let node = self.node_mut(ino)?;
        let lazy = match &node.body {
            Body::File(FileBody::Lazy(c)) => Some(c.clone()),
            Body::File(FileBody::Mem(_)) => None,
            Body::Dir(_) => return Err(EISDIR),
            _ => return Err(EINVAL),
        };
        if let Some(content) = lazy {
            // the whole file comes into memory: it must fit under the limit
            if content.size() > friscy_budget::room() {
                return Err(errno::ENOMEM);
            }
            let bytes = content.load().map_err(|_| EIO)?;
            if bytes.len() as u64 > MAX_FILE_SIZE {
                return Err(EFBIG);
            }
            node.body = Body::File(FileBody::Mem(Chunks::from_vec(bytes)));
        }
        match &mut node.body {
            Body::File(FileBody::Mem(c)) => Ok(c),
            _ => Err(EIO),
        }
    }

    /// Reads from a regular file at `offset`; returns the bytes read, 0 at
    /// or after the end. Loads lazy content on first use (`EIO` if that
    /// fails). `EISDIR` for directories, `EINVAL` for other non-files.
    pub fn read(&mut self, ino: Ino, offset: u64, buf: &mut [u8]) -> VResult<usize> {
        let file = self.file_mut(ino)?;
        Ok(file.read(offset, buf))
    }

    /// Writes to a regular file at `offset`, filling any gap with zeros
    /// (a hole); updates mtime and ctime. A write reaching past
    /// [`MAX_FILE_SIZE`] is shortened; one starting there fails with `EFBIG`.
    pub fn write(&mut self, ino: Ino, offset: u64, data: &[u8]) -> VResult<usize> {
        let now = self.now;
        let file = self.file_mut(ino)?;
        let n = file.write(offset, data)?;
        if n > 0 {
            let node = self.node_mut(ino)?;
            node.mtime = now;
            node.ctime = now;
        }
        Ok(n)
    }

    /// Sets the size of a regular file, dropping bytes past `len` or adding
    /// a hole; updates mtime and ctime. `EFBIG` past [`MAX_FILE_SIZE`].
    pub fn truncate(&mut self, ino: Ino, len: u64) -> VResult<()> {
        let now = self.now;
        if len > MAX_FILE_SIZE {
            self.node(ino)?;
            return Err(EFBIG);
        }
        // Truncating to zero need not load lazy content.
        let node = self.node_mut(ino)?;
        if len == 0 && matches!(node.body, Body::File(FileBody::Lazy(_))) {
            node.body = Body::File(FileBody::Mem(Chunks::default()));
        } else {
            self.file_mut(ino)?.truncate(len)?;
        }
        let node = self.node_mut(ino)?;
        node.mtime = now;
        node.ctime = now;
        Ok(())
    }

    /// The entries of directory `dir` from position `cookie` on.
    ///
    /// Cookie 0 is `.`, 1 is `..`, and every other entry's cookie is a
    /// number given to it when it was added (increasing, never reused in
    /// that directory); entries come in that order. Each entry's `next` is
    /// the cookie to pass to continue after it. `ENOTDIR` if `dir` is not a
    /// directory, `ENOENT` if it has been removed.
    pub fn readdir(&self, dir: Ino, cookie: u64) -> VResult<Vec<DirEntry>> {
        self.readdir_some(dir, cookie, usize::MAX)
    }

    /// Like [`Fs::readdir`], but returns at most `max` entries.
    pub fn readdir_some(&self, dir: Ino, cookie: u64, max: usize) -> VResult<Vec<DirEntry>> {
        let d = self.live_dir(dir)?;
        let parent = self.node(dir)?.parent;
        let mut out = Vec::new();
        if cookie == 0 && out.len() < max {
            out.push(DirEntry {
                name: b".".to_vec(),
                ino: dir,
                kind: FileType::Dir,
                next: 1,
            });
        }
        if cookie <= 1 && out.len() < max {
            out.push(DirEntry {
                name: b"..".to_vec(),
                ino: parent,
                kind: FileType::Dir,
                next: FIRST_SEQ,
            });
        }
        for (&seq, name) in d.order.range(cookie.max(FIRST_SEQ)..) {
            if out.len() >= max {
                break;
            }
            let Some(slot) = d.names.get(name) else {
                continue;
            };
            let kind = self.node(slot.ino).map_or(FileType::Reg, |n| n.kind);
            out.push(DirEntry {
                name: name.clone(),
                ino: slot.ino,
                kind,
                next: seq.saturating_add(1),
            });
        }
        Ok(out)
    }

    /// Sets the permission bits (0o7777), keeping the type; updates ctime.
    /// `EOPNOTSUPP` for symlinks, whose mode cannot change.
    pub fn set_mode(&mut self, ino: Ino, perm: u32) -> VResult<()> {
        let now = self.now;
        let node = self.node_mut(ino)?;
        if node.kind == FileType::Symlink {
            return Err(EOPNOTSUPP);
        }
        node.perm = perm & 0o7777;
        node.ctime = now;
        Ok(())
    }

    /// Changes the owner and/or group; updates ctime. As on Linux, a change
    /// clears set-user-ID on a non-directory, and set-group-ID too when the
    /// group-execute bit is set.
    pub fn set_owner(&mut self, ino: Ino, uid: Option<u32>, gid: Option<u32>) -> VResult<()> {
        let now = self.now;
        let node = self.node_mut(ino)?;
        node.ctime = now;
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        if let Some(u) = uid {
            node.uid = u;
        }
        if let Some(g) = gid {
            node.gid = g;
        }
        if node.kind != FileType::Dir && node.kind != FileType::Symlink {
            node.perm &= !0o4000;
            if node.perm & 0o010 != 0 {
                node.perm &= !0o2000;
            }
        }
        Ok(())
    }

    /// Sets the access and/or modification time; updates ctime.
    pub fn set_times(
        &mut self,
        ino: Ino,
        atime: Option<Timespec>,
        mtime: Option<Timespec>,
    ) -> VResult<()> {
        let now = self.now;
        let node = self.node_mut(ino)?;
        if let Some(a) = atime {
            node.atime = a;
        }
        if let Some(m) = mtime {
            node.mtime = m;
        }
        node.ctime = now;
        Ok(())
    }

    /// Records that an open file description (or a cwd) refers to `ino`.
    /// Unknown inos are ignored.
    pub fn hold(&mut self, ino: Ino) {
        if let Ok(n) = self.node_mut(ino) {
            n.open = n.open.saturating_add(1);
        }
    }

    /// Drops one [`Fs::hold`]. An inode with no links left is freed at its
    /// last release. Unknown inos are ignored.
    pub fn release(&mut self, ino: Ino) {
        if let Ok(n) = self.node_mut(ino) {
            n.open = n.open.saturating_sub(1);
        }
        self.maybe_free(ino);
    }
}

#[cfg(test)]
mod tests;
