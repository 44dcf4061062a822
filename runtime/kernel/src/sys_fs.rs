//! File system calls: paths, descriptors, pipes, reads and writes.

use crate::abi::{self, errno, fcntl as fc, nr, open as o, poll as pl, tty};
use crate::fd::{Desc, Description, Device, Object, Pipe};
use crate::task::Wait;
use crate::{Kernel, MAX_IO, SysResult};
use friscy_vfs::{FileType, Ino, NewNode, ROOT, Stat, Timespec};
use std::cell::RefCell;
use std::rc::Rc;

/// st_dev of every file (one file system).
const DEV: u64 = 0x0801;
/// f_type of statfs: what tmpfs reports.
const TMPFS_MAGIC: u64 = 0x0102_1994;
/// IOV_MAX.
const IOV_MAX: u64 = 1024;

fn obj_is_node(o: &Object) -> bool {
    matches!(o, Object::Node(_) | Object::Dev(..))
}

fn device_of(rdev: u64) -> Option<Device> {
    match rdev {
        abi::dev::NULL => Some(Device::Null),
        abi::dev::ZERO => Some(Device::Zero),
        abi::dev::FULL => Some(Device::Full),
        abi::dev::RANDOM | abi::dev::URANDOM => Some(Device::Random),
        _ => None,
    }
}

impl Kernel {
    pub(crate) fn dispatch_fs(&mut self, n: u64, a: &[u64; 6]) -> Option<SysResult> {
        let fd = a[0] as i32;
        Some(match n {
            nr::OPENAT => self.openat(a[0], a[1], a[2], a[3]),
            nr::OPENAT2 => {
                // struct open_how { flags, mode, resolve }
                let mut b = [0u8; 24];
                if let Err(e) = self.read_mem(a[2], &mut b) {
                    return Some(Err(e));
                }
                let flags = u64::from_le_bytes(b[0..8].try_into().expect("8"));
                let mode = u64::from_le_bytes(b[8..16].try_into().expect("8"));
                self.openat(a[0], a[1], flags, mode)
            }
            nr::CLOSE => self.close(fd),
            nr::CLOSE_RANGE => {
                let (lo, hi) = (a[0] as u32, a[1] as u32);
                if lo > hi {
                    return Some(Err(errno::EINVAL));
                }
                let files = self.files();
                let fds: Vec<i32> = files
                    .borrow()
                    .fds
                    .keys()
                    .copied()
                    .filter(|&f| f as u32 >= lo && f as u32 <= hi)
                    .collect();
                // CLOSE_RANGE_CLOEXEC = 4
                if a[2] & 4 != 0 {
                    for f in fds {
                        if let Some(e) = files.borrow_mut().fds.get_mut(&f) {
                            e.1 = true;
                        }
                    }
                } else {
                    let gone: Vec<_> = fds
                        .into_iter()
                        .filter_map(|f| files.borrow_mut().fds.remove(&f))
                        .collect();
                    drop(gone);
                    self.event();
                }
                Ok(0)
            }
            nr::READ => self.read_fd(fd, a[1], a[2], None),
            nr::PREAD64 => self.read_fd(fd, a[1], a[2], Some(a[3])),
            nr::WRITE => self.write_fd(fd, a[1], a[2], None),
            nr::PWRITE64 => self.write_fd(fd, a[1], a[2], Some(a[3])),
            nr::READV | nr::PREADV | nr::PREADV2 => {
                let off = (n != nr::READV && a[3] as i64 != -1).then_some(a[3]);
                self.readv(fd, a[1], a[2], off)
            }
            nr::WRITEV | nr::PWRITEV | nr::PWRITEV2 => {
                let off = (n != nr::WRITEV && a[3] as i64 != -1).then_some(a[3]);
                match self.gather(a[1], a[2]) {
                    Ok(data) => self.write_bytes_fd(fd, &data, off),
                    Err(e) => Err(e),
                }
            }
            nr::LSEEK => self.lseek(fd, a[1] as i64, a[2]),
            nr::FSTAT => {
                let st = self.fd_stat(fd);
                st.and_then(|st| self.write_stat(a[1], &st))
            }
            nr::NEWFSTATAT => {
                let st = self.path_stat(a[0], a[1], a[3]);
                st.and_then(|st| self.write_stat(a[2], &st))
            }
            nr::STATX => self.statx(a),
            nr::GETDENTS64 => self.getdents(fd, a[1], a[2]),
            nr::GETCWD => {
                let cwd = self.proc_().cwd;
                let path = self.fs.borrow().path_of(cwd);
                match path {
                    None => Err(errno::ENOENT),
                    Some(mut p) => {
                        p.push(0);
                        if p.len() as u64 > a[1] {
                            Err(errno::ERANGE)
                        } else {
                            self.write_mem(a[0], &p).map(|_| p.len() as u64)
                        }
                    }
                }
            }
            nr::CHDIR | nr::FCHDIR | nr::CHROOT => {
                let ino = if n == nr::FCHDIR {
                    self.fd_ino(fd)
                } else {
                    self.read_path(a[0])
                        .and_then(|p| self.resolve_at(abi::AT_FDCWD as u64, &p, true))
                };
                match ino {
                    Err(e) => Err(e),
                    Ok(ino) => {
                        if self.fs.borrow().kind(ino) != Ok(FileType::Dir) {
                            Err(errno::ENOTDIR)
                        } else if n == nr::CHROOT {
                            // One root per run: chroot to "/" is all there is.
                            if ino == ROOT {
                                Ok(0)
                            } else {
                                Err(errno::EPERM)
                            }
                        } else {
                            let old = self.proc_().cwd;
                            let mut fs = self.fs.borrow_mut();
                            fs.hold(ino);
                            fs.release(old);
                            drop(fs);
                            self.proc_().cwd = ino;
                            Ok(0)
                        }
                    }
                }
            }
            nr::MKDIRAT => self.make_node(a[0], a[1], NewNode::Dir, a[2]),
            nr::MKNODAT => {
                let mode = a[2] as u32;
                let node = match mode & abi::S_IFMT {
                    0 | abi::S_IFREG => NewNode::Reg,
                    abi::S_IFIFO => NewNode::Fifo,
                    abi::S_IFSOCK => NewNode::Sock,
                    abi::S_IFCHR | abi::S_IFBLK if self.proc_().euid != 0 => {
                        return Some(Err(errno::EPERM));
                    }
                    abi::S_IFCHR => NewNode::Chr(a[3]),
                    abi::S_IFBLK => NewNode::Blk(a[3]),
                    _ => return Some(Err(errno::EINVAL)),
                };
                self.make_node(a[0], a[1], node, a[2])
            }
            nr::SYMLINKAT => match self.read_path(a[0]) {
                Err(e) => Err(e),
                Ok(target) if target.is_empty() => Err(errno::ENOENT),
                Ok(target) => self.make_node(a[1], a[2], NewNode::Symlink(target), 0o777),
            },
            nr::UNLINKAT => self.unlinkat(a[0], a[1], a[2]),
            nr::LINKAT => self.linkat(a),
            nr::RENAMEAT | nr::RENAMEAT2 => {
                let flags = if n == nr::RENAMEAT { 0 } else { a[4] };
                self.renameat(a[0], a[1], a[2], a[3], flags)
            }
            nr::READLINKAT => self.readlinkat(a[0], a[1], a[2], a[3]),
            nr::FACCESSAT | nr::FACCESSAT2 => {
                let flags = if n == nr::FACCESSAT2 { a[3] } else { 0 };
                self.faccessat(a[0], a[1], a[2], flags)
            }
            nr::FCHMOD => self
                .fd_ino(fd)
                .and_then(|ino| self.fs.borrow_mut().set_mode(ino, a[1] as u32).map(|_| 0)),
            nr::FCHMODAT | nr::FCHMODAT2 => {
                let flags = if n == nr::FCHMODAT2 { a[3] } else { 0 };
                self.path_ino(a[0], a[1], flags)
                    .and_then(|ino| self.fs.borrow_mut().set_mode(ino, a[2] as u32).map(|_| 0))
            }
            nr::FCHOWN => self
                .fd_ino(fd)
                .and_then(|ino| self.chown(ino, a[1] as u32, a[2] as u32)),
            nr::FCHOWNAT => self
                .path_ino(a[0], a[1], a[4])
                .and_then(|ino| self.chown(ino, a[2] as u32, a[3] as u32)),
            nr::UTIMENSAT => self.utimensat(a),
            nr::TRUNCATE => self
                .read_path(a[0])
                .and_then(|p| self.resolve_at(abi::AT_FDCWD as u64, &p, true))
                .and_then(|ino| self.truncate_ino(ino, a[1] as i64)),
            nr::FTRUNCATE => {
                let d = self.desc(fd);
                d.and_then(|d| {
                    let d = d.borrow();
                    if !d.writable() {
                        return Err(errno::EINVAL);
                    }
                    match d.obj {
                        Object::Node(ino) => Ok(ino),
                        _ => Err(errno::EINVAL),
                    }
                })
                .and_then(|ino| self.truncate_ino(ino, a[1] as i64))
            }
            nr::FALLOCATE => {
                let d = self.desc(fd);
                d.and_then(|d| match d.borrow().obj {
                    Object::Node(ino) => Ok(ino),
                    _ => Err(errno::ESPIPE),
                })
                .and_then(|ino| {
                    let end = a[2].checked_add(a[3]).ok_or(errno::EFBIG)?;
                    let size = self.fs.borrow().stat(ino)?.size;
                    if a[1] == 0 && end > size {
                        self.fs.borrow_mut().truncate(ino, end)?;
                    }
                    Ok(0)
                })
            }
            nr::FSYNC | nr::FDATASYNC | nr::SYNC_FILE_RANGE => self.desc(fd).map(|_| 0),
            nr::SYNC | nr::SYNCFS => Ok(0),
            nr::FADVISE64 | nr::READAHEAD => self.desc(fd).map(|_| 0),
            nr::FCNTL => self.fcntl(fd, a[1], a[2]),
            nr::FLOCK => self.sys_flock(fd, a[1]),
            nr::DUP => {
                let files = self.files();
                let d = files.borrow().get(fd);
                match d {
                    None => Err(errno::EBADF),
                    Some(d) => files
                        .borrow_mut()
                        .install(d, false, 0)
                        .map(|f| f as u64)
                        .ok_or(errno::EMFILE),
                }
            }
            nr::DUP3 => self.dup3(fd, a[1] as i32, a[2]),
            nr::PIPE2 => self.pipe2(a[0], a[1]),
            nr::IOCTL => self.ioctl(fd, a[1], a[2]),
            nr::STATFS | nr::FSTATFS => {
                let ok = if n == nr::STATFS {
                    self.read_path(a[0])
                        .and_then(|p| self.resolve_at(abi::AT_FDCWD as u64, &p, true))
                        .map(|_| ())
                } else {
                    self.desc(fd).map(|_| ())
                };
                ok.and_then(|_| {
                    let mut b = [0u8; 120];
                    let words: [u64; 7] = [
                        TMPFS_MAGIC,
                        4096,
                        1 << 20,
                        1 << 19,
                        1 << 19,
                        1 << 20,
                        1 << 19,
                    ];
                    for (i, w) in words.iter().enumerate() {
                        b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
                    }
                    // f_namelen at 64, f_frsize at 72
                    b[64..72].copy_from_slice(&255u64.to_le_bytes());
                    b[72..80].copy_from_slice(&4096u64.to_le_bytes());
                    self.write_mem(a[1], &b).map(|_| 0)
                })
            }
            nr::SENDFILE => self.sendfile(a[0] as i32, a[1] as i32, a[2], a[3]),
            nr::COPY_FILE_RANGE => self.copy_file_range(a),
            nr::PPOLL => self.ppoll(a[0], a[1], a[2], a[3]),
            nr::PSELECT6 => self.pselect(a),
            nr::UMOUNT2 | nr::MOUNT | nr::PIVOT_ROOT => Err(errno::EPERM),
            _ => return None,
        })
    }

    // ---- lookups ----

    pub(crate) fn desc(&self, fd: i32) -> Result<Desc, i64> {
        self.files().borrow().get(fd).ok_or(errno::EBADF)
    }

    fn fd_ino(&self, fd: i32) -> Result<Ino, i64> {
        self.desc(fd)?.borrow().ino().ok_or(errno::EBADF)
    }

    /// Where a relative path starts for `dirfd`.
    fn base_dir(&mut self, dirfd: u64) -> Result<Ino, i64> {
        if dirfd as i32 as i64 == abi::AT_FDCWD {
            return Ok(self.proc_().cwd);
        }
        let ino = self.fd_ino(dirfd as i32).map_err(|_| errno::EBADF)?;
        if self.fs.borrow().kind(ino)? != FileType::Dir {
            return Err(errno::ENOTDIR);
        }
        Ok(ino)
    }

    /// Resolves a path from the current directory (following links).
    pub(crate) fn resolve_path(&mut self, path: &[u8]) -> Result<Ino, i64> {
        self.resolve_at(abi::AT_FDCWD as u64, path, true)
    }

    /// Parent directory and last name of a path from the current
    /// directory.
    pub(crate) fn parent_of(&mut self, path: &[u8]) -> Result<(Ino, Vec<u8>, bool), i64> {
        self.parent_at(abi::AT_FDCWD as u64, path)
    }

    /// The path of the directory behind `dirfd` (for execveat).
    pub(crate) fn dir_path(&mut self, dirfd: i32) -> Result<Vec<u8>, i64> {
        let ino = self.base_dir(dirfd as u64)?;
        self.fs.borrow().path_of(ino).ok_or(errno::ENOENT)
    }

    pub(crate) fn resolve_at(&mut self, dirfd: u64, path: &[u8], follow: bool) -> Result<Ino, i64> {
        if path.is_empty() {
            return Err(errno::ENOENT);
        }
        let base = if path[0] == b'/' {
            ROOT
        } else {
            self.base_dir(dirfd)?
        };
        self.refresh_proc_for(path);
        self.fs.borrow().resolve(base, path, follow)
    }

    /// The descriptor a path like /proc/self/fd/N or /dev/stdin names in
    /// the current process (opening it reopens what the descriptor refers
    /// to, pipes included).
    fn fd_path(&self, path: &[u8]) -> Option<i32> {
        let pid = self.pid().to_string();
        let n = match path {
            b"/dev/stdin" => return Some(0),
            b"/dev/stdout" => return Some(1),
            b"/dev/stderr" => return Some(2),
            _ => path
                .strip_prefix(b"/proc/self/fd/")
                .or_else(|| path.strip_prefix(b"/dev/fd/"))
                .or_else(|| {
                    path.strip_prefix(b"/proc/")?
                        .strip_prefix(pid.as_bytes())?
                        .strip_prefix(b"/fd/")
                })?,
        };
        std::str::from_utf8(n).ok()?.parse().ok()
    }

    /// The inode named by (dirfd, path, flags) for the *at calls that take
    /// AT_EMPTY_PATH / AT_SYMLINK_NOFOLLOW.
    fn path_ino(&mut self, dirfd: u64, path: u64, flags: u64) -> Result<Ino, i64> {
        let p = self.read_path(path)?;
        if p.is_empty() && flags & abi::AT_EMPTY_PATH != 0 {
            if dirfd as i32 as i64 == abi::AT_FDCWD {
                return Ok(self.proc_().cwd);
            }
            return self.fd_ino(dirfd as i32);
        }
        self.resolve_at(dirfd, &p, flags & abi::AT_SYMLINK_NOFOLLOW == 0)
    }

    /// Parent directory and last name, for calls that create or remove.
    fn parent_at(&mut self, dirfd: u64, path: &[u8]) -> Result<(Ino, Vec<u8>, bool), i64> {
        if path.is_empty() {
            return Err(errno::ENOENT);
        }
        let base = if path[0] == b'/' {
            ROOT
        } else {
            self.base_dir(dirfd)?
        };
        self.refresh_proc_for(path);
        self.fs.borrow().resolve_parent(base, path)
    }

    // ---- stat ----

    fn host_stat(&mut self, fd: i32) -> Result<Stat, i64> {
        let h = self.host().fstat(fd)?;
        Ok(Stat {
            ino: h.ino,
            kind: match h.mode & abi::S_IFMT {
                abi::S_IFCHR => FileType::Chr,
                abi::S_IFIFO => FileType::Fifo,
                abi::S_IFDIR => FileType::Dir,
                abi::S_IFSOCK => FileType::Sock,
                _ => FileType::Reg,
            },
            mode: h.mode,
            nlink: h.nlink,
            uid: h.uid,
            gid: h.gid,
            rdev: h.rdev,
            size: h.size,
            blocks: h.size.div_ceil(512),
            atime: Timespec::default(),
            mtime: Timespec::default(),
            ctime: Timespec::default(),
        })
    }

    fn fd_stat(&mut self, fd: i32) -> Result<Stat, i64> {
        let d = self.desc(fd)?;
        let obj_ino = d.borrow().ino();
        if let Some(ino) = obj_ino {
            return self.fs.borrow().stat(ino);
        }
        let host = match d.borrow().obj {
            Object::Host(h) => Some(h),
            _ => None,
        };
        if let Some(h) = host {
            return self.host_stat(h);
        }
        let term = match &d.borrow().obj {
            Object::Tty(t) => Some((t.borrow().index, false)),
            Object::PtyMaster(t) => Some((t.borrow().index, true)),
            _ => None,
        };
        if let Some((index, master)) = term {
            // the /dev/pts/N (or /dev/ptmx) node, so that ttyname() finds it
            let (path, rdev) = if master {
                (b"/dev/ptmx".to_vec(), abi::dev::PTMX)
            } else {
                (
                    format!("/dev/pts/{index}").into_bytes(),
                    abi::dev::makedev(abi::dev::PTS_MAJOR, u64::from(index)),
                )
            };
            let node = self.fs.borrow().resolve(ROOT, &path, true);
            if let Ok(ino) = node {
                let st = self.fs.borrow().stat(ino)?;
                if st.rdev == rdev {
                    return Ok(st);
                }
            }
            return Ok(Stat {
                ino: 3 + u64::from(index),
                kind: FileType::Chr,
                mode: abi::S_IFCHR | 0o620,
                nlink: 1,
                uid: 0,
                gid: 5,
                rdev,
                size: 0,
                blocks: 0,
                atime: Timespec::default(),
                mtime: Timespec::default(),
                ctime: Timespec::default(),
            });
        }
        // a pipe, a socket or an anonymous inode (eventfd, timerfd, epoll)
        let id = Rc::as_ptr(&d) as u64;
        let (kind, mode) = match d.borrow().obj {
            Object::Socket(_) | Object::Inet(_) => (FileType::Sock, abi::S_IFSOCK | 0o777),
            Object::PipeRead(_) | Object::PipeWrite(_) => (FileType::Fifo, abi::S_IFIFO | 0o600),
            _ => (FileType::Reg, 0o600),
        };
        Ok(Stat {
            ino: id & 0xffff_ffff,
            kind,
            mode,
            nlink: 1,
            uid: self.proc_().euid,
            gid: self.proc_().egid,
            rdev: 0,
            size: 0,
            blocks: 0,
            atime: Timespec::default(),
            mtime: Timespec::default(),
            ctime: Timespec::default(),
        })
    }

    fn path_stat(&mut self, dirfd: u64, path: u64, flags: u64) -> Result<Stat, i64> {
        let p = self.read_path(path)?;
        if p.is_empty() && flags & abi::AT_EMPTY_PATH != 0 {
            if dirfd as i32 as i64 == abi::AT_FDCWD {
                let cwd = self.proc_().cwd;
                return self.fs.borrow().stat(cwd);
            }
            return self.fd_stat(dirfd as i32);
        }
        if flags & abi::AT_SYMLINK_NOFOLLOW == 0
            && let Some(fd) = self.fd_path(&p)
        {
            return self.fd_stat(fd);
        }
        let ino = self.resolve_at(dirfd, &p, flags & abi::AT_SYMLINK_NOFOLLOW == 0)?;
        self.fs.borrow().stat(ino)
    }

    fn write_stat(&mut self, addr: u64, st: &Stat) -> SysResult {
        let mut b = [0u8; abi::STAT_SIZE];
        let put = |b: &mut [u8], at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
        put(&mut b, 0, &DEV.to_le_bytes());
        put(&mut b, 8, &st.ino.to_le_bytes());
        put(&mut b, 16, &st.mode.to_le_bytes());
        put(&mut b, 20, &st.nlink.to_le_bytes());
        put(&mut b, 24, &st.uid.to_le_bytes());
        put(&mut b, 28, &st.gid.to_le_bytes());
        put(&mut b, 32, &st.rdev.to_le_bytes());
        put(&mut b, 48, &st.size.to_le_bytes());
        put(&mut b, 56, &4096u32.to_le_bytes());
        put(&mut b, 64, &st.blocks.to_le_bytes());
        for (i, t) in [st.atime, st.mtime, st.ctime].iter().enumerate() {
            put(&mut b, 72 + i * 16, &t.sec.to_le_bytes());
            put(&mut b, 80 + i * 16, &u64::from(t.nsec).to_le_bytes());
        }
        self.write_mem(addr, &b)?;
        Ok(0)
    }

    fn statx(&mut self, a: &[u64; 6]) -> SysResult {
        let st = self.path_stat(a[0], a[1], a[2])?;
        let mut b = [0u8; abi::STATX_SIZE];
        let put = |b: &mut [u8], at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
        put(&mut b, 0, &abi::STATX_BASIC_STATS.to_le_bytes());
        put(&mut b, 4, &4096u32.to_le_bytes());
        put(&mut b, 16, &st.nlink.to_le_bytes());
        put(&mut b, 20, &st.uid.to_le_bytes());
        put(&mut b, 24, &st.gid.to_le_bytes());
        put(&mut b, 28, &(st.mode as u16).to_le_bytes());
        put(&mut b, 32, &st.ino.to_le_bytes());
        put(&mut b, 40, &st.size.to_le_bytes());
        put(&mut b, 48, &st.blocks.to_le_bytes());
        // atime 64, btime 80 (not kept: left zero), ctime 96, mtime 112
        for (at, t) in [(64, st.atime), (96, st.ctime), (112, st.mtime)] {
            put(&mut b, at, &t.sec.to_le_bytes());
            put(&mut b, at + 8, &t.nsec.to_le_bytes());
        }
        let major = |d: u64| (((d >> 8) & 0xfff) | ((d >> 32) & !0xfff)) as u32;
        let minor = |d: u64| ((d & 0xff) | ((d >> 12) & !0xff)) as u32;
        put(&mut b, 128, &major(st.rdev).to_le_bytes());
        put(&mut b, 132, &minor(st.rdev).to_le_bytes());
        put(&mut b, 136, &major(DEV).to_le_bytes());
        put(&mut b, 140, &minor(DEV).to_le_bytes());
        self.write_mem(a[4], &b)?;
        Ok(0)
    }

    // ---- open, close, dup ----

    fn openat(&mut self, dirfd: u64, path: u64, flags: u64, mode: u64) -> SysResult {
        let p = self.read_path(path)?;
        let now = self.now_ts();
        self.fs.borrow_mut().set_now(now);
        if flags & o::O_TMPFILE == o::O_TMPFILE {
            // An unnamed file in the directory: a file created and unlinked.
            let dir = self.resolve_at(dirfd, &p, true)?;
            let (uid, gid, umask) = {
                let pr = self.proc_();
                (pr.euid, pr.egid, pr.umask)
            };
            let name = format!(".friscy-tmpfile-{}-{}", self.pid(), self.epoch);
            let ino = self.fs.borrow_mut().create(
                dir,
                name.as_bytes(),
                NewNode::Reg,
                (mode as u32) & !umask,
                uid,
                gid,
            )?;
            let d = Description::node(&self.fs, Object::Node(ino), flags & !o::O_TMPFILE);
            self.fs.borrow_mut().unlink(dir, name.as_bytes())?;
            return self.install(d, flags & o::O_CLOEXEC != 0);
        }
        if let Some(fd) = self.fd_path(&p) {
            return self.reopen(fd, flags);
        }
        let follow = flags & o::O_NOFOLLOW == 0;
        let ino = match self.resolve_at(dirfd, &p, follow) {
            Ok(ino) => {
                if flags & o::O_CREAT != 0 && flags & o::O_EXCL != 0 {
                    return Err(errno::EEXIST);
                }
                ino
            }
            Err(errno::ENOENT) if flags & o::O_CREAT != 0 => {
                let (dir, name, slash) = self.parent_at(dirfd, &p)?;
                if slash {
                    return Err(errno::EISDIR);
                }
                let (uid, gid, umask) = {
                    let pr = self.proc_();
                    (pr.euid, pr.egid, pr.umask)
                };
                let mut fs = self.fs.borrow_mut();
                // A dangling symlink as the last component: create its target.
                match fs.lookup(dir, &name) {
                    Ok(_) => return Err(errno::EEXIST),
                    Err(_) => {
                        fs.create(dir, &name, NewNode::Reg, (mode as u32) & !umask, uid, gid)?
                    }
                }
            }
            Err(e) => return Err(e),
        };
        let st = self.fs.borrow().stat(ino)?;
        if st.kind == FileType::Symlink && flags & o::O_PATH == 0 {
            return Err(errno::ELOOP);
        }
        if flags & o::O_DIRECTORY != 0 && st.kind != FileType::Dir {
            return Err(errno::ENOTDIR);
        }
        let acc = flags & o::O_ACCMODE;
        if st.kind == FileType::Dir && acc != o::O_RDONLY && flags & o::O_PATH == 0 {
            return Err(errno::EISDIR);
        }
        if flags & o::O_PATH == 0 && !self.may_access(&st, acc) {
            return Err(errno::EACCES);
        }
        let cloexec = flags & o::O_CLOEXEC != 0;
        let keep =
            flags & (o::O_ACCMODE | o::O_APPEND | o::O_NONBLOCK | o::O_PATH | o::O_DIRECTORY);
        if flags & o::O_PATH != 0 {
            let d = Description::node(&self.fs, Object::Node(ino), keep);
            return self.install(d, cloexec);
        }
        let obj = match st.kind {
            FileType::Chr => match device_of(st.rdev) {
                Some(dev) => Object::Dev(dev, ino),
                None if st.rdev == abi::dev::PTMX => return self.open_ptmx(keep, cloexec),
                None if abi::dev::major(st.rdev) == abi::dev::PTS_MAJOR => {
                    let index =
                        u32::try_from(abi::dev::minor(st.rdev)).map_err(|_| errno::ENXIO)?;
                    return self.open_pts(index, keep, cloexec, flags & o::O_NOCTTY != 0);
                }
                None if st.rdev == abi::dev::TTY => {
                    if let Some(term) = self.controlling_term() {
                        let d = Description::new(Object::Tty(term), keep);
                        return self.install(d, cloexec);
                    }
                    // The controlling terminal: the host's, if it is one.
                    if !self.host().is_terminal(0) {
                        return Err(errno::ENXIO);
                    }
                    let h = if acc == o::O_RDONLY { 0 } else { 1 };
                    let d = Description::new(Object::Host(h), keep);
                    return self.install(d, cloexec);
                }
                None => return Err(errno::ENXIO),
            },
            FileType::Blk | FileType::Sock => return Err(errno::ENXIO),
            FileType::Fifo => return self.open_fifo(ino, keep, cloexec),
            _ => Object::Node(ino),
        };
        if st.kind == FileType::Reg && flags & o::O_TRUNC != 0 && acc != o::O_RDONLY {
            self.fs.borrow_mut().truncate(ino, 0)?;
        }
        let d = Description::node(&self.fs, obj, keep);
        self.install(d, cloexec)
    }

    /// Opens what descriptor `fd` refers to again, with new flags.
    fn reopen(&mut self, fd: i32, flags: u64) -> SysResult {
        let d = self.desc(fd)?;
        let keep = flags & (o::O_ACCMODE | o::O_APPEND | o::O_NONBLOCK);
        let obj = match &d.borrow().obj {
            Object::Node(i) => Object::Node(*i),
            Object::Dev(dev, i) => Object::Dev(*dev, *i),
            Object::Host(h) => Object::Host(*h),
            Object::PipeRead(p) => Object::PipeRead(p.clone()),
            Object::PipeWrite(p) => Object::PipeWrite(p.clone()),
            Object::EventFd(x) => Object::EventFd(x.clone()),
            Object::TimerFd(x) => Object::TimerFd(x.clone()),
            Object::Epoll(x) => Object::Epoll(x.clone()),
            Object::Socket(x) => Object::Socket(x.clone()),
            Object::Tty(t) => Object::Tty(t.clone()),
            Object::PtyMaster(t) => Object::PtyMaster(t.clone()),
            Object::Inet(x) => Object::Inet(x.clone()),
            Object::SignalFd(x) => Object::SignalFd(x.clone()),
        };
        let acc = keep & o::O_ACCMODE;
        let wrong = match &obj {
            Object::PipeRead(_) => acc != o::O_RDONLY,
            Object::PipeWrite(_) => acc == o::O_RDONLY,
            _ => false,
        };
        if wrong {
            return Err(errno::EACCES);
        }
        if let Object::Node(ino) = obj
            && flags & o::O_TRUNC != 0
            && acc != o::O_RDONLY
        {
            self.fs.borrow_mut().truncate(ino, 0)?;
        }
        let d = if obj_is_node(&obj) {
            Description::node(&self.fs, obj, keep)
        } else {
            Description::new(obj, keep)
        };
        self.install(d, flags & o::O_CLOEXEC != 0)
    }

    /// FIFOs: a pipe per inode, shared by everyone who opens it.
    fn open_fifo(&mut self, ino: Ino, flags: u64, cloexec: bool) -> SysResult {
        let pipe = self
            .fifos
            .entry(ino)
            .or_insert_with(|| Rc::new(RefCell::new(Pipe::default())))
            .clone();
        let obj = if flags & o::O_ACCMODE == o::O_RDONLY {
            Object::PipeRead(pipe)
        } else {
            Object::PipeWrite(pipe)
        };
        let d = Description::new(obj, flags);
        self.event();
        self.install(d, cloexec)
    }

    fn may_access(&mut self, st: &Stat, acc: u64) -> bool {
        let want = match acc {
            o::O_RDONLY => abi::R_OK,
            o::O_WRONLY => abi::W_OK,
            _ => abi::R_OK | abi::W_OK,
        };
        self.permitted(st, want, true)
    }

    /// Unix permission check of `want` (R_OK|W_OK|X_OK bits).
    fn permitted(&mut self, st: &Stat, want: u64, effective: bool) -> bool {
        let p = self.proc_();
        let (uid, gid) = if effective {
            (p.euid, p.egid)
        } else {
            (p.uid, p.gid)
        };
        if uid == 0 {
            // root: everything but executing a file no one may execute
            return want & abi::X_OK == 0 || st.kind == FileType::Dir || st.mode & 0o111 != 0;
        }
        let bits = if st.uid == uid {
            (st.mode >> 6) & 7
        } else if st.gid == gid || p.groups.contains(&st.gid) {
            (st.mode >> 3) & 7
        } else {
            st.mode & 7
        };
        u64::from(bits) & want == want
    }

    pub(crate) fn install(&mut self, d: Desc, cloexec: bool) -> SysResult {
        let files = self.files();
        let fd = files
            .borrow_mut()
            .install(d, cloexec, 0)
            .ok_or(errno::EMFILE)?;
        Ok(fd as u64)
    }

    fn close(&mut self, fd: i32) -> SysResult {
        let files = self.files();
        let gone = files.borrow_mut().fds.remove(&fd);
        match gone {
            None => Err(errno::EBADF),
            Some(d) => {
                let ino = d.0.borrow().ino();
                if let Some(ino) = ino {
                    self.closed_file(ino);
                }
                drop(d);
                self.event();
                Ok(0)
            }
        }
    }

    fn dup3(&mut self, old: i32, new: i32, flags: u64) -> SysResult {
        if old == new || flags & !o::O_CLOEXEC != 0 {
            return Err(errno::EINVAL);
        }
        if !(0..crate::fd::NOFILE).contains(&new) {
            return Err(errno::EBADF);
        }
        let files = self.files();
        let d = files.borrow().get(old).ok_or(errno::EBADF)?;
        let prev = files
            .borrow_mut()
            .fds
            .insert(new, (d, flags & o::O_CLOEXEC != 0));
        drop(prev);
        self.event();
        Ok(new as u64)
    }

    fn pipe2(&mut self, fds: u64, flags: u64) -> SysResult {
        if flags & !(o::O_CLOEXEC | o::O_NONBLOCK | o::O_DIRECT) != 0 {
            return Err(errno::EINVAL);
        }
        let pipe = Rc::new(RefCell::new(Pipe::default()));
        let keep = flags & o::O_NONBLOCK;
        let r = Description::new(Object::PipeRead(pipe.clone()), o::O_RDONLY | keep);
        let w = Description::new(Object::PipeWrite(pipe), o::O_WRONLY | keep);
        let cloexec = flags & o::O_CLOEXEC != 0;
        let files = self.files();
        let rfd = files
            .borrow_mut()
            .install(r, cloexec, 0)
            .ok_or(errno::EMFILE)?;
        let Some(wfd) = files.borrow_mut().install(w, cloexec, 0) else {
            files.borrow_mut().fds.remove(&rfd);
            return Err(errno::EMFILE);
        };
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&rfd.to_le_bytes());
        b[4..].copy_from_slice(&wfd.to_le_bytes());
        if let Err(e) = self.write_mem(fds, &b) {
            files.borrow_mut().fds.remove(&rfd);
            files.borrow_mut().fds.remove(&wfd);
            return Err(e);
        }
        Ok(0)
    }

    fn fcntl(&mut self, fd: i32, cmd: u64, arg: u64) -> SysResult {
        let files = self.files();
        let d = files.borrow().get(fd).ok_or(errno::EBADF)?;
        match cmd {
            fc::F_DUPFD | fc::F_DUPFD_CLOEXEC => {
                if arg >= crate::fd::NOFILE as u64 {
                    return Err(errno::EINVAL);
                }
                files
                    .borrow_mut()
                    .install(d, cmd == fc::F_DUPFD_CLOEXEC, arg as i32)
                    .map(|f| f as u64)
                    .ok_or(errno::EMFILE)
            }
            fc::F_GETFD => Ok(u64::from(files.borrow().fds[&fd].1)),
            fc::F_SETFD => {
                if let Some(e) = files.borrow_mut().fds.get_mut(&fd) {
                    e.1 = arg & fc::FD_CLOEXEC != 0;
                }
                Ok(0)
            }
            fc::F_GETFL => Ok(d.borrow().flags & !o::O_DIRECTORY),
            fc::F_SETFL => {
                let mut d = d.borrow_mut();
                d.flags = (d.flags & !o::SETFL_MASK) | (arg & o::SETFL_MASK);
                Ok(0)
            }
            fc::F_GETLK | fc::F_SETLK | fc::F_SETLKW => self.record_lock(&d, cmd, arg),
            fc::F_GETPIPE_SZ => match d.borrow().obj {
                Object::PipeRead(_) | Object::PipeWrite(_) => Ok(abi::PIPE_BUF_SIZE as u64),
                _ => Err(errno::EBADF),
            },
            _ => Err(errno::EINVAL),
        }
    }

    // ---- read and write ----

    fn read_fd(&mut self, fd: i32, buf: u64, len: u64, off: Option<u64>) -> SysResult {
        let len = len.min(MAX_IO as u64) as usize;
        let data = self.read_bytes_fd(fd, len, off)?;
        self.write_mem(buf, &data)?;
        Ok(data.len() as u64)
    }

    /// Reads up to `len` bytes from `fd` (at `off` for pread).
    fn read_bytes_fd(&mut self, fd: i32, len: usize, off: Option<u64>) -> Result<Vec<u8>, i64> {
        let d = self.desc(fd)?;
        if !d.borrow().readable() {
            return Err(errno::EBADF);
        }
        if let Some(r) = self.event_read(&d, len, 0) {
            return r;
        }
        let nonblock = d.borrow().nonblocking();
        let term = match &d.borrow().obj {
            Object::Tty(t) => Some((t.clone(), false)),
            Object::PtyMaster(t) => Some((t.clone(), true)),
            _ => None,
        };
        match term {
            Some((t, false)) => return self.tty_read(&t, len, nonblock),
            Some((t, true)) => return self.master_read(&t, len, nonblock),
            None => {}
        }
        let obj = match &d.borrow().obj {
            Object::Node(i) => Ok(*i),
            Object::Dev(dev, _) => Err(Some(*dev)),
            _ => Err(None),
        };
        match obj {
            Ok(ino) => {
                if self.fs.borrow().kind(ino)? == FileType::Dir {
                    return Err(errno::EISDIR);
                }
                let at = off.unwrap_or(d.borrow().offset);
                self.shm_sync_to_fs(ino)?;
                let mut buf = vec![0u8; len];
                let n = self.fs.borrow_mut().read(ino, at, &mut buf)?;
                buf.truncate(n);
                if off.is_none() {
                    d.borrow_mut().offset = at + n as u64;
                }
                Ok(buf)
            }
            Err(Some(dev)) => match dev {
                Device::Null => Ok(Vec::new()),
                Device::Zero | Device::Full => Ok(vec![0u8; len]),
                Device::Random => {
                    let mut b = vec![0u8; len.min(1 << 20)];
                    self.host().random(&mut b)?;
                    Ok(b)
                }
            },
            Err(None) => {
                if off.is_some() {
                    return Err(errno::ESPIPE);
                }
                let host = match &d.borrow().obj {
                    Object::Host(h) => Some(*h),
                    _ => None,
                };
                if let Some(h) = host {
                    if !self.host().input_ready(h) {
                        if nonblock {
                            return Err(errno::EAGAIN);
                        }
                        return self
                            .block(Wait {
                                host_input: true,
                                restartable: true,
                                ..Wait::default()
                            })
                            .map(|_| Vec::new());
                    }
                    let mut buf = vec![0u8; len];
                    let n = self.host().read(h, &mut buf)?;
                    buf.truncate(n);
                    return Ok(buf);
                }
                let pipe = match &d.borrow().obj {
                    Object::PipeRead(p) => p.clone(),
                    _ => return Err(errno::EBADF),
                };
                let mut p = pipe.borrow_mut();
                if p.buf.is_empty() {
                    if p.writers == 0 {
                        return Ok(Vec::new());
                    }
                    drop(p);
                    if nonblock {
                        return Err(errno::EAGAIN);
                    }
                    return self
                        .block(Wait {
                            restartable: true,
                            ..Wait::default()
                        })
                        .map(|_| Vec::new());
                }
                let n = len.min(p.buf.len());
                let out = p.buf.take(n);
                drop(p);
                self.event();
                Ok(out)
            }
        }
    }

    fn write_fd(&mut self, fd: i32, buf: u64, len: u64, off: Option<u64>) -> SysResult {
        let mut len = len.min(MAX_IO as u64) as usize;
        // A pipe takes at most what fits: copy no more than that out of
        // the guest (and nothing when it must wait anyway).
        if off.is_none()
            && let Ok(d) = self.desc(fd)
            && let Object::PipeWrite(p) = &d.borrow().obj
        {
            let p = p.borrow();
            let space = p.space();
            if p.readers > 0 {
                if space == 0 || (len <= abi::PIPE_BUF && space < len) {
                    len = len.min(abi::PIPE_BUF);
                } else {
                    len = len.min(space);
                }
            }
        }
        let mut data = vec![0u8; len];
        self.read_mem(buf, &mut data)?;
        self.write_bytes_fd(fd, &data, off)
    }

    pub(crate) fn write_bytes_fd(&mut self, fd: i32, data: &[u8], off: Option<u64>) -> SysResult {
        let d = self.desc(fd)?;
        if !d.borrow().writable() {
            return Err(errno::EBADF);
        }
        if let Some(r) = self.event_write(&d, data, 0) {
            return r;
        }
        let nonblock = d.borrow().nonblocking();
        let term = match &d.borrow().obj {
            Object::Tty(t) => Some((t.clone(), false)),
            Object::PtyMaster(t) => Some((t.clone(), true)),
            _ => None,
        };
        match term {
            Some((t, false)) => return self.tty_write(&t, data, nonblock),
            Some((t, true)) => return self.master_write(&t, data, nonblock),
            None => {}
        }
        let append = d.borrow().flags & o::O_APPEND != 0;
        enum Dst {
            Node(Ino),
            Dev(Device),
            Host(i32),
            Pipe(Rc<RefCell<Pipe>>),
        }
        let dst = match &d.borrow().obj {
            Object::Node(i) => Dst::Node(*i),
            Object::Dev(dev, _) => Dst::Dev(*dev),
            Object::Host(h) => Dst::Host(*h),
            Object::PipeWrite(p) => Dst::Pipe(p.clone()),
            _ => return Err(errno::EBADF),
        };
        match dst {
            Dst::Node(ino) => {
                let now = self.now_ts();
                let mut fs = self.fs.borrow_mut();
                fs.set_now(now);
                let at = match off {
                    Some(o) => o,
                    None if append => fs.stat(ino)?.size,
                    None => d.borrow().offset,
                };
                let n = fs.write(ino, at, data)?;
                drop(fs);
                self.shm_written(ino, at, &data[..n]);
                if off.is_none() {
                    d.borrow_mut().offset = at + n as u64;
                }
                Ok(n as u64)
            }
            Dst::Dev(Device::Full) => Err(errno::ENOSPC),
            Dst::Dev(_) => Ok(data.len() as u64),
            Dst::Host(h) => {
                if off.is_some() {
                    return Err(errno::ESPIPE);
                }
                let r = self.host().write(h, data);
                if r == Err(errno::EPIPE) {
                    self.raise_sigpipe();
                }
                r.map(|n| n as u64)
            }
            Dst::Pipe(pipe) => {
                if off.is_some() {
                    return Err(errno::ESPIPE);
                }
                let mut p = pipe.borrow_mut();
                if p.readers == 0 {
                    drop(p);
                    self.raise_sigpipe();
                    return Err(errno::EPIPE);
                }
                let space = p.space();
                // Small writes go in whole or not at all.
                let fits = if data.len() <= abi::PIPE_BUF {
                    space >= data.len()
                } else {
                    space > 0
                };
                if !fits {
                    drop(p);
                    if nonblock {
                        return Err(errno::EAGAIN);
                    }
                    return self.block(Wait {
                        restartable: true,
                        ..Wait::default()
                    });
                }
                let n = data.len().min(space);
                p.buf.extend_from_slice(&data[..n]);
                drop(p);
                self.event();
                Ok(n as u64)
            }
        }
    }

    pub(crate) fn raise_sigpipe(&mut self) {
        let tid = self.cur;
        let pid = self.pid();
        let uid = self.proc_().uid;
        self.send_signal(
            crate::sys_proc::Target::Thread(tid),
            crate::signal::SigInfo {
                signo: abi::sig::SIGPIPE,
                code: abi::sig::SI_USER,
                pid,
                uid,
                ..Default::default()
            },
        );
    }

    /// The bytes a writev names, at most [`MAX_IO`] of them.
    fn gather(&mut self, iov: u64, count: u64) -> Result<Vec<u8>, i64> {
        if count > IOV_MAX {
            return Err(errno::EINVAL);
        }
        let mut data = Vec::new();
        for i in 0..count {
            let base = self.read_u64(iov + i * 16)?;
            let len = self.read_u64(iov + i * 16 + 8)?;
            if (len as i64) < 0 {
                return Err(errno::EINVAL);
            }
            let len = len.min((MAX_IO - data.len()) as u64) as usize;
            if len == 0 {
                continue;
            }
            let start = data.len();
            data.resize(start + len, 0);
            self.read_mem(base, &mut data[start..])?;
        }
        Ok(data)
    }

    fn readv(&mut self, fd: i32, iov: u64, count: u64, off: Option<u64>) -> SysResult {
        if count > IOV_MAX {
            return Err(errno::EINVAL);
        }
        let mut vecs = Vec::new();
        let mut total = 0usize;
        for i in 0..count {
            let base = self.read_u64(iov + i * 16)?;
            let len = self.read_u64(iov + i * 16 + 8)?;
            if (len as i64) < 0 {
                return Err(errno::EINVAL);
            }
            let len = len.min((MAX_IO - total) as u64);
            total += len as usize;
            vecs.push((base, len));
        }
        let data = self.read_bytes_fd(fd, total, off)?;
        self.scatter(&vecs, &data)?;
        Ok(data.len() as u64)
    }

    /// Spreads `data` over the (base, length) buffers of a readv-like call,
    /// in order, as far as it goes.
    pub(crate) fn scatter(&mut self, vecs: &[(u64, u64)], data: &[u8]) -> Result<(), i64> {
        let mut at = 0;
        for &(base, len) in vecs {
            if at >= data.len() {
                break;
            }
            let n = usize::try_from(len)
                .unwrap_or(usize::MAX)
                .min(data.len() - at);
            self.write_mem(base, &data[at..at + n])?;
            at += n;
        }
        Ok(())
    }

    fn lseek(&mut self, fd: i32, off: i64, whence: u64) -> SysResult {
        let d = self.desc(fd)?;
        let ino = match &d.borrow().obj {
            Object::Node(i) => *i,
            Object::Dev(..) => return Ok(0),
            Object::Host(h) => {
                let h = *h;
                return self.host().seek(h, off, whence as u32);
            }
            _ => return Err(errno::ESPIPE),
        };
        let st = self.fs.borrow().stat(ino)?;
        if st.kind == FileType::Dir {
            // Directories: only rewinding (or going to a cookie) makes sense.
            if whence == abi::SEEK_SET && off >= 0 {
                let mut d = d.borrow_mut();
                d.dir_cookie = off as u64;
                d.offset = off as u64;
                return Ok(off as u64);
            }
            return Err(errno::EINVAL);
        }
        let cur = d.borrow().offset as i64;
        let size = st.size as i64;
        let new = match whence {
            abi::SEEK_SET => off,
            abi::SEEK_CUR => cur.checked_add(off).ok_or(errno::EOVERFLOW)?,
            abi::SEEK_END => size.checked_add(off).ok_or(errno::EOVERFLOW)?,
            abi::SEEK_DATA => {
                if off >= size {
                    return Err(errno::ENXIO);
                }
                off
            }
            abi::SEEK_HOLE => {
                if off >= size {
                    return Err(errno::ENXIO);
                }
                size
            }
            _ => return Err(errno::EINVAL),
        };
        if new < 0 {
            return Err(errno::EINVAL);
        }
        d.borrow_mut().offset = new as u64;
        Ok(new as u64)
    }

    fn getdents(&mut self, fd: i32, buf: u64, len: u64) -> SysResult {
        let d = self.desc(fd)?;
        let ino = d.borrow().ino().ok_or(errno::ENOTDIR)?;
        let cookie = d.borrow().dir_cookie;
        let entries = self.fs.borrow().readdir(ino, cookie)?;
        let mut out = Vec::new();
        let mut next = cookie;
        for e in entries {
            let reclen = (abi::DIRENT64_HEADER + e.name.len() + 1).next_multiple_of(8);
            if out.len() + reclen > len as usize {
                if out.is_empty() {
                    return Err(errno::EINVAL);
                }
                break;
            }
            let mut rec = vec![0u8; reclen];
            rec[0..8].copy_from_slice(&u64::from(e.ino).to_le_bytes());
            rec[8..16].copy_from_slice(&e.next.to_le_bytes());
            rec[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
            rec[18] = e.kind.dirent_type();
            rec[19..19 + e.name.len()].copy_from_slice(&e.name);
            out.extend_from_slice(&rec);
            next = e.next;
        }
        self.write_mem(buf, &out)?;
        d.borrow_mut().dir_cookie = next;
        Ok(out.len() as u64)
    }

    // ---- names ----

    fn make_node(&mut self, dirfd: u64, path: u64, node: NewNode, mode: u64) -> SysResult {
        let p = self.read_path(path)?;
        let (dir, name, slash) = self.parent_at(dirfd, &p)?;
        if name == b"." || name == b".." {
            return Err(errno::EEXIST);
        }
        if slash && !matches!(node, NewNode::Dir) {
            return Err(errno::ENOENT);
        }
        let (uid, gid, umask) = {
            let pr = self.proc_();
            (pr.euid, pr.egid, pr.umask)
        };
        let perm = if matches!(node, NewNode::Symlink(_)) {
            0o777
        } else {
            (mode as u32) & 0o7777 & !umask
        };
        let now = self.now_ts();
        let mut fs = self.fs.borrow_mut();
        fs.set_now(now);
        fs.create(dir, &name, node, perm, uid, gid)?;
        drop(fs);
        self.event();
        Ok(0)
    }

    fn unlinkat(&mut self, dirfd: u64, path: u64, flags: u64) -> SysResult {
        if flags & !abi::AT_REMOVEDIR != 0 {
            return Err(errno::EINVAL);
        }
        let p = self.read_path(path)?;
        let (dir, name, slash) = self.parent_at(dirfd, &p)?;
        let now = self.now_ts();
        let mut fs = self.fs.borrow_mut();
        fs.set_now(now);
        if flags & abi::AT_REMOVEDIR != 0 {
            if name == b"." {
                return Err(errno::EINVAL);
            }
            if name == b".." {
                return Err(errno::ENOTEMPTY);
            }
            fs.rmdir(dir, &name)?;
        } else {
            if slash {
                let ino = fs.lookup(dir, &name)?;
                return Err(if fs.kind(ino)? == FileType::Dir {
                    errno::EISDIR
                } else {
                    errno::ENOTDIR
                });
            }
            fs.unlink(dir, &name)?;
        }
        drop(fs);
        self.event();
        Ok(0)
    }

    fn linkat(&mut self, a: &[u64; 6]) -> SysResult {
        let from = self.read_path(a[1])?;
        let follow = a[4] & abi::AT_SYMLINK_FOLLOW != 0;
        let target = if from.is_empty() && a[4] & abi::AT_EMPTY_PATH != 0 {
            self.fd_ino(a[0] as i32)?
        } else {
            self.resolve_at(a[0], &from, follow)?
        };
        let to = self.read_path(a[3])?;
        let (dir, name, slash) = self.parent_at(a[2], &to)?;
        if slash {
            return Err(errno::ENOENT);
        }
        let now = self.now_ts();
        let mut fs = self.fs.borrow_mut();
        fs.set_now(now);
        fs.link(dir, &name, target)?;
        Ok(0)
    }

    fn renameat(&mut self, olddir: u64, old: u64, newdir: u64, new: u64, flags: u64) -> SysResult {
        if flags & !(abi::RENAME_NOREPLACE | abi::RENAME_EXCHANGE) != 0
            || flags == abi::RENAME_NOREPLACE | abi::RENAME_EXCHANGE
        {
            return Err(errno::EINVAL);
        }
        let op = self.read_path(old)?;
        let np = self.read_path(new)?;
        let (od, on, _) = self.parent_at(olddir, &op)?;
        let (nd, nn, _) = self.parent_at(newdir, &np)?;
        for n in [&on, &nn] {
            if n.as_slice() == b"." || n.as_slice() == b".." {
                return Err(errno::EBUSY);
            }
        }
        let now = self.now_ts();
        let mut fs = self.fs.borrow_mut();
        fs.set_now(now);
        fs.rename(od, &on, nd, &nn, flags as u32)?;
        drop(fs);
        self.event();
        Ok(0)
    }

    fn readlinkat(&mut self, dirfd: u64, path: u64, buf: u64, size: u64) -> SysResult {
        if (size as i64) <= 0 {
            return Err(errno::EINVAL);
        }
        let p = self.read_path(path)?;
        let pid = self.pid();
        let target = if p == b"/proc/self/exe" || p == format!("/proc/{pid}/exe").as_bytes() {
            self.proc_().exe.clone()
        } else if let Some(fd) = p
            .strip_prefix(b"/proc/self/fd/")
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse::<i32>().ok())
        {
            let d = self.desc(fd)?;
            let ino = d.borrow().ino();
            match ino {
                Some(ino) => self
                    .fs
                    .borrow()
                    .path_of(ino)
                    .unwrap_or_else(|| b"(deleted)".to_vec()),
                None => format!("pipe:[{}]", (Rc::as_ptr(&d) as u64) & 0xffff_ffff).into_bytes(),
            }
        } else {
            let ino = if p.is_empty() {
                self.fd_ino(dirfd as i32)?
            } else {
                self.resolve_at(dirfd, &p, false)?
            };
            self.fs.borrow().readlink(ino)?
        };
        let n = target.len().min(size as usize);
        self.write_mem(buf, &target[..n])?;
        Ok(n as u64)
    }

    fn faccessat(&mut self, dirfd: u64, path: u64, mode: u64, flags: u64) -> SysResult {
        if mode & !7 != 0 {
            return Err(errno::EINVAL);
        }
        let ino = self.path_ino(dirfd, path, flags)?;
        if mode == abi::F_OK {
            return Ok(0);
        }
        let st = self.fs.borrow().stat(ino)?;
        if self.permitted(&st, mode, flags & abi::AT_EACCESS != 0) {
            Ok(0)
        } else {
            Err(errno::EACCES)
        }
    }

    fn chown(&mut self, ino: Ino, uid: u32, gid: u32) -> SysResult {
        let keep = u32::MAX;
        let st = self.fs.borrow().stat(ino)?;
        let me = self.proc_().euid;
        if me != 0 && ((uid != keep && uid != st.uid) || st.uid != me) {
            return Err(errno::EPERM);
        }
        let now = self.now_ts();
        let mut fs = self.fs.borrow_mut();
        fs.set_now(now);
        fs.set_owner(
            ino,
            (uid != keep).then_some(uid),
            (gid != keep).then_some(gid),
        )?;
        Ok(0)
    }

    fn utimensat(&mut self, a: &[u64; 6]) -> SysResult {
        let ino = if a[1] == 0 {
            // futimens: the fd itself
            self.fd_ino(a[0] as i32)?
        } else {
            self.path_ino(a[0], a[1], a[3])?
        };
        let now = self.now_ts();
        let times = if a[2] == 0 {
            (Some(now), Some(now))
        } else {
            let mut t = [None, None];
            for (i, slot) in t.iter_mut().enumerate() {
                let sec = self.read_u64(a[2] + i as u64 * 16)? as i64;
                let nsec = self.read_u64(a[2] + i as u64 * 16 + 8)?;
                *slot = match nsec {
                    abi::UTIME_OMIT => None,
                    abi::UTIME_NOW => Some(now),
                    n if n < 1_000_000_000 => Some(Timespec {
                        sec,
                        nsec: n as u32,
                    }),
                    _ => return Err(errno::EINVAL),
                };
            }
            (t[0], t[1])
        };
        let mut fs = self.fs.borrow_mut();
        fs.set_now(now);
        fs.set_times(ino, times.0, times.1)?;
        Ok(0)
    }

    fn truncate_ino(&mut self, ino: Ino, len: i64) -> SysResult {
        if len < 0 {
            return Err(errno::EINVAL);
        }
        match self.fs.borrow().kind(ino)? {
            FileType::Dir => return Err(errno::EISDIR),
            FileType::Reg => {}
            _ => return Err(errno::EINVAL),
        }
        self.shm_sync_to_fs(ino)?;
        let now = self.now_ts();
        let mut fs = self.fs.borrow_mut();
        fs.set_now(now);
        fs.truncate(ino, len as u64)?;
        drop(fs);
        // pages past the new end read as zero in the mappings too
        if let Some(pages) = self.shm.get(&ino) {
            let len = len as u64;
            for (&pg, page) in pages.range(len / friscy_machine::PAGE_SIZE..) {
                let ps = pg * friscy_machine::PAGE_SIZE;
                let from = len.max(ps) - ps;
                let zero = vec![0u8; (friscy_machine::PAGE_SIZE - from) as usize];
                page.write(from as usize, &zero);
            }
        }
        Ok(0)
    }

    // ---- copies ----

    fn sendfile(&mut self, out: i32, inp: i32, offp: u64, count: u64) -> SysResult {
        let off = if offp != 0 {
            Some(self.read_u64(offp)?)
        } else {
            None
        };
        let data = self.read_bytes_fd(inp, count.min(MAX_IO as u64) as usize, off)?;
        if data.is_empty() {
            return Ok(0);
        }
        let n = self.write_bytes_fd(out, &data, None)?;
        if let Some(o) = off {
            self.write_u64(offp, o + n)?;
        } else if (n as usize) < data.len() {
            // give back what was not written
            let d = self.desc(inp)?;
            let mut d = d.borrow_mut();
            if matches!(d.obj, Object::Node(_)) {
                d.offset -= data.len() as u64 - n;
            }
        }
        Ok(n)
    }

    fn copy_file_range(&mut self, a: &[u64; 6]) -> SysResult {
        let (fin, offin, fout, offout, len) = (a[0] as i32, a[1], a[2] as i32, a[3], a[4]);
        if a[5] != 0 {
            return Err(errno::EINVAL);
        }
        let din = self.desc(fin)?;
        let dout = self.desc(fout)?;
        let (Some(_), Some(_)) = (din.borrow().ino(), dout.borrow().ino()) else {
            return Err(errno::EINVAL);
        };
        let ioff = if offin != 0 {
            Some(self.read_u64(offin)?)
        } else {
            None
        };
        let ooff = if offout != 0 {
            Some(self.read_u64(offout)?)
        } else {
            None
        };
        let data = self.read_bytes_fd(fin, len.min(MAX_IO as u64) as usize, ioff)?;
        let n = self.write_bytes_fd(fout, &data, ooff)?;
        if let Some(o) = ioff {
            self.write_u64(offin, o + n)?;
        }
        if let Some(o) = ooff {
            self.write_u64(offout, o + n)?;
        }
        Ok(n)
    }

    // ---- terminals ----

    fn ioctl(&mut self, fd: i32, req: u64, arg: u64) -> SysResult {
        let d = self.desc(fd)?;
        match req {
            tty::FIOCLEX | tty::FIONCLEX => {
                let files = self.files();
                if let Some(e) = files.borrow_mut().fds.get_mut(&fd) {
                    e.1 = req == tty::FIOCLEX;
                }
                return Ok(0);
            }
            tty::FIONBIO => {
                let on = self.read_u32(arg)? != 0;
                let mut d = d.borrow_mut();
                if on {
                    d.flags |= o::O_NONBLOCK;
                } else {
                    d.flags &= !o::O_NONBLOCK;
                }
                return Ok(0);
            }
            tty::FIONREAD => {
                let n = match &d.borrow().obj {
                    Object::PipeRead(p) => p.borrow().buf.len() as u32,
                    Object::Node(i) => {
                        let size = self.fs.borrow().stat(*i)?.size;
                        size.saturating_sub(d.borrow().offset) as u32
                    }
                    _ => 0,
                };
                return self.write_u32(arg, n).map(|_| 0);
            }
            _ => {}
        }
        let term = match &d.borrow().obj {
            Object::Tty(t) => Some((t.clone(), false)),
            Object::PtyMaster(t) => Some((t.clone(), true)),
            _ => None,
        };
        if let Some((t, master)) = term {
            return self.tty_ioctl(&t, master, req, arg);
        }
        let host = match d.borrow().obj {
            Object::Host(h) => Some(h),
            _ => None,
        };
        match host {
            Some(h) if self.host().is_terminal(h) => {
                // The terminal itself (termios, window size, job control)
                // is not emulated yet.
                self.enosys_ioctl(req)
            }
            _ => Err(errno::ENOTTY),
        }
    }

    fn enosys_ioctl(&mut self, req: u64) -> SysResult {
        let msg = format!("terminal ioctl {req:#x} is not implemented yet; returning ENOTTY");
        if self.reported_insert(0x1_0000_0000 | req) {
            self.host().log(&msg);
        }
        Err(errno::ENOTTY)
    }

    // ---- poll ----

    /// Readiness of one descriptor: (readable, writable, hangup).
    fn ready(&mut self, fd: i32) -> Option<(bool, bool, bool)> {
        let d = self.files().borrow().get(fd)?;
        Some(self.desc_ready(&d))
    }

    /// Readiness of pipes, host streams and files.
    pub(crate) fn simple_ready(&mut self, d: &Desc) -> (bool, bool, bool) {
        let d = d.borrow();
        match &d.obj {
            Object::PipeRead(p) => {
                let p = p.borrow();
                (!p.buf.is_empty() || p.writers == 0, false, p.writers == 0)
            }
            Object::PipeWrite(p) => {
                let p = p.borrow();
                (
                    false,
                    p.readers > 0 && p.space() >= abi::PIPE_BUF,
                    p.readers == 0,
                )
            }
            Object::Host(h) => {
                let h = *h;
                drop(d);
                (h == 0 && self.host().input_ready(h), h != 0, false)
            }
            Object::Tty(t) | Object::PtyMaster(t) => {
                let (t, master) = (t.clone(), matches!(d.obj, Object::PtyMaster(_)));
                drop(d);
                self.term_ready(&t, master)
            }
            _ => (true, true, false),
        }
    }

    fn ppoll(&mut self, fds: u64, nfds: u64, tmo: u64, sigmask: u64) -> SysResult {
        if nfds > crate::fd::NOFILE as u64 {
            return Err(errno::EINVAL);
        }
        let mut b = vec![0u8; nfds as usize * 8];
        self.read_mem(fds, &mut b)?;
        let mut count = 0;
        let mut host_wait = false;
        for i in 0..nfds as usize {
            let e = &mut b[i * 8..i * 8 + 8];
            let fd = i32::from_le_bytes(e[0..4].try_into().expect("4"));
            let events = u16::from_le_bytes(e[4..6].try_into().expect("2"));
            let mut rev = 0u16;
            if fd >= 0 {
                match self.ready(fd) {
                    None => rev = pl::POLLNVAL,
                    Some((r, w, hup)) => {
                        if r && events & (pl::POLLIN | pl::POLLPRI) != 0 {
                            rev |= pl::POLLIN;
                        }
                        if w && events & pl::POLLOUT != 0 {
                            rev |= pl::POLLOUT;
                        }
                        if hup {
                            rev |= pl::POLLHUP;
                        }
                        let is_host_in = matches!(
                            self.files()
                                .borrow()
                                .get(fd)
                                .map(|d| d.borrow().obj.waits_on_host()),
                            Some(true)
                        );
                        host_wait |= is_host_in;
                    }
                }
            }
            e[6..8].copy_from_slice(&rev.to_le_bytes());
            if rev != 0 {
                count += 1;
            }
        }
        self.poll_finish(count, tmo, sigmask, host_wait, || {})?;
        self.write_mem(fds, &b)?;
        Ok(count)
    }

    /// Common end of ppoll/pselect: return, or block until the deadline.
    fn poll_finish(
        &mut self,
        count: u64,
        tmo: u64,
        sigmask: u64,
        host_wait: bool,
        _f: impl FnOnce(),
    ) -> Result<(), i64> {
        let now = self.now(crate::Clock::Monotonic);
        if count > 0 {
            self.end_wait();
            return Ok(());
        }
        let deadline = match self.task().sleep_until {
            Some(d) => Some(d),
            None if tmo != 0 => {
                let ns = self.read_timespec(tmo)?;
                let d = now + ns;
                self.task().sleep_until = Some(d);
                Some(d)
            }
            None => None,
        };
        if deadline.is_some_and(|d| now >= d) {
            self.end_wait();
            return Ok(());
        }
        if sigmask != 0 && self.task().saved_mask.is_none() {
            let m = self.read_u64(sigmask)?;
            let t = self.task();
            t.saved_mask = Some(t.sigmask);
            t.sigmask = m & !crate::signal::UNBLOCKABLE;
        }
        self.block(Wait {
            deadline,
            host_input: host_wait,
            epoch: Some(0),
            ..Wait::default()
        })
        .map(|_| ())
    }

    fn pselect(&mut self, a: &[u64; 6]) -> SysResult {
        let nfds = a[0] as usize;
        if nfds > crate::fd::NOFILE as usize {
            return Err(errno::EINVAL);
        }
        let words = nfds.div_ceil(64);
        let mut sets = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
        for (k, set) in sets.iter_mut().enumerate() {
            if a[1 + k] != 0 {
                for (w, v) in set.iter_mut().enumerate() {
                    *v = self.read_u64(a[1 + k] + w as u64 * 8)?;
                }
            }
        }
        let mut out = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
        let mut count = 0;
        let mut host_wait = false;
        for fd in 0..nfds {
            let (w, bitn) = (fd / 64, 1u64 << (fd % 64));
            let want_r = sets[0][w] & bitn != 0;
            let want_w = sets[1][w] & bitn != 0;
            if !want_r && !want_w && sets[2][w] & bitn == 0 {
                continue;
            }
            let Some((r, wr, hup)) = self.ready(fd as i32) else {
                return Err(errno::EBADF);
            };
            if want_r && (r || hup) {
                out[0][w] |= bitn;
                count += 1;
            }
            if want_w && wr {
                out[1][w] |= bitn;
                count += 1;
            }
            host_wait |= want_r
                && self
                    .files()
                    .borrow()
                    .get(fd as i32)
                    .is_some_and(|d| d.borrow().obj.waits_on_host());
        }
        // sigmask: a pointer to { sigset_t *ss; size_t len; }
        let mask_ptr = if a[5] != 0 { self.read_u64(a[5])? } else { 0 };
        self.poll_finish(count, a[4], mask_ptr, host_wait, || {})?;
        for (k, set) in out.iter().enumerate() {
            if a[1 + k] != 0 {
                for (w, v) in set.iter().enumerate() {
                    self.write_u64(a[1 + k] + w as u64 * 8, *v)?;
                }
            }
        }
        Ok(count)
    }
}
