//! Advisory file locks: `flock` (owned by an open file description) and
//! POSIX record locks (`fcntl` F_SETLK/F_SETLKW/F_GETLK, owned by a
//! process and dropped when it closes any descriptor of the file).

use crate::abi::{errno, fcntl as fc};
use crate::fd::{Desc, Description};
use crate::task::{Pid, Wait};
use crate::{Kernel, SysResult};
use friscy_vfs::Ino;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

const LOCK_SH: u64 = 1;
const LOCK_EX: u64 = 2;
const LOCK_NB: u64 = 4;
const LOCK_UN: u64 = 8;
const F_RDLCK: i16 = 0;
const F_WRLCK: i16 = 1;
const F_UNLCK: i16 = fc::F_UNLCK as i16;
/// `struct flock` on riscv64: type, whence, start, len, pid.
const FLOCK_SIZE: usize = 32;

/// One POSIX lock: [start, end) (end None: to the end of any file).
#[derive(Clone, Copy, Debug)]
struct Record {
    pid: Pid,
    start: u64,
    end: Option<u64>,
    write: bool,
}

fn overlaps(a: &Record, start: u64, end: Option<u64>) -> bool {
    let a_before = a.end.is_some_and(|e| e <= start);
    let b_before = end.is_some_and(|e| e <= a.start);
    !a_before && !b_before
}

/// Holders of a file's flock: the description, and whether exclusive.
type FlockHolders = Vec<(Weak<RefCell<Description>>, bool)>;

/// The locks of every file.
#[derive(Debug, Default)]
pub struct Locks {
    /// flock: holders by inode (the description, exclusive?).
    flocks: HashMap<Ino, FlockHolders>,
    records: HashMap<Ino, Vec<Record>>,
}

impl Locks {
    /// Drops every record lock `pid` holds on `ino` (or on every file).
    pub fn release_records(&mut self, pid: Pid, ino: Option<Ino>) -> bool {
        let mut changed = false;
        for (i, recs) in self.records.iter_mut() {
            if ino.is_none_or(|x| x == *i) {
                let before = recs.len();
                recs.retain(|r| r.pid != pid);
                changed |= recs.len() != before;
            }
        }
        changed
    }
}

impl Kernel {
    pub(crate) fn sys_flock(&mut self, fd: i32, op: u64) -> SysResult {
        let d = self.desc(fd)?;
        let ino = d.borrow().ino().ok_or(errno::EINVAL)?;
        let nonblock = op & LOCK_NB != 0;
        let want = op & !LOCK_NB;
        let me = Rc::downgrade(&d);
        let holders = self.locks.flocks.entry(ino).or_default();
        holders.retain(|(w, _)| w.strong_count() > 0);
        match want {
            LOCK_UN => {
                holders.retain(|(w, _)| !w.ptr_eq(&me));
                self.event();
                Ok(0)
            }
            LOCK_SH | LOCK_EX => {
                let exclusive = want == LOCK_EX;
                let conflict = holders
                    .iter()
                    .any(|(w, ex)| !w.ptr_eq(&me) && (exclusive || *ex));
                if conflict {
                    if nonblock {
                        return Err(errno::EWOULDBLOCK);
                    }
                    return self.block(Wait {
                        restartable: true,
                        ..Wait::default()
                    });
                }
                let holders = self.locks.flocks.entry(ino).or_default();
                holders.retain(|(w, _)| !w.ptr_eq(&me));
                holders.push((me, exclusive));
                Ok(0)
            }
            _ => Err(errno::EINVAL),
        }
    }

    /// F_GETLK, F_SETLK, F_SETLKW.
    pub(crate) fn record_lock(&mut self, d: &Desc, cmd: u64, arg: u64) -> SysResult {
        let ino = d.borrow().ino().ok_or(errno::EBADF)?;
        let mut b = [0u8; FLOCK_SIZE];
        self.read_mem(arg, &mut b)?;
        let ty = i16::from_le_bytes([b[0], b[1]]);
        let whence = i16::from_le_bytes([b[2], b[3]]);
        let start = i64::from_le_bytes(b[8..16].try_into().expect("8 bytes"));
        let len = i64::from_le_bytes(b[16..24].try_into().expect("8 bytes"));
        let base: i64 = match whence as u64 {
            crate::abi::SEEK_SET => 0,
            crate::abi::SEEK_CUR => d.borrow().offset as i64,
            crate::abi::SEEK_END => self.fs.borrow().stat(ino)?.size as i64,
            _ => return Err(errno::EINVAL),
        };
        let mut s = base.checked_add(start).ok_or(errno::EOVERFLOW)?;
        let mut e = if len == 0 {
            None
        } else {
            Some(s.checked_add(len).ok_or(errno::EOVERFLOW)?)
        };
        if len < 0 {
            // a negative length locks the bytes before start
            e = Some(s);
            s += len;
        }
        if s < 0 {
            return Err(errno::EINVAL);
        }
        let (start, end) = (s as u64, e.map(|x| x as u64));
        let write = match ty {
            F_RDLCK => false,
            F_WRLCK => true,
            F_UNLCK => false,
            _ => return Err(errno::EINVAL),
        };
        if ty != F_UNLCK {
            let ok = if write {
                d.borrow().writable()
            } else {
                d.borrow().readable()
            };
            if !ok && cmd != fc::F_GETLK {
                return Err(errno::EBADF);
            }
        }
        let pid = self.pid();
        let recs = self.locks.records.entry(ino).or_default();
        recs.retain(|r| self.procs.get(&r.pid).is_some_and(|p| p.ended.is_none()));
        let conflict = recs
            .iter()
            .find(|r| r.pid != pid && overlaps(r, start, end) && (write || r.write))
            .copied();
        if cmd == fc::F_GETLK {
            if ty == F_UNLCK {
                return Err(errno::EINVAL);
            }
            match conflict {
                None => b[0..2].copy_from_slice(&F_UNLCK.to_le_bytes()),
                Some(c) => {
                    let ty = if c.write { F_WRLCK } else { F_RDLCK };
                    b[0..2].copy_from_slice(&ty.to_le_bytes());
                    b[2..4].copy_from_slice(&0i16.to_le_bytes());
                    b[8..16].copy_from_slice(&(c.start as i64).to_le_bytes());
                    let l = c.end.map_or(0, |e| (e - c.start) as i64);
                    b[16..24].copy_from_slice(&l.to_le_bytes());
                    b[24..28].copy_from_slice(&c.pid.to_le_bytes());
                }
            }
            self.write_mem(arg, &b)?;
            return Ok(0);
        }
        if ty != F_UNLCK && conflict.is_some() {
            if cmd == fc::F_SETLK {
                return Err(errno::EAGAIN);
            }
            return self.block(Wait {
                restartable: true,
                ..Wait::default()
            });
        }
        // Take this process's range out (splitting what overlaps), then
        // add the new lock.
        let recs = self.locks.records.entry(ino).or_default();
        let mut kept = Vec::new();
        for r in recs.drain(..) {
            if r.pid != pid || !overlaps(&r, start, end) {
                kept.push(r);
                continue;
            }
            if r.start < start {
                kept.push(Record {
                    end: Some(start),
                    ..r
                });
            }
            if let Some(e) = end
                && r.end.is_none_or(|re| re > e)
            {
                kept.push(Record { start: e, ..r });
            }
        }
        if ty != F_UNLCK {
            kept.push(Record {
                pid,
                start,
                end,
                write,
            });
        }
        *recs = kept;
        self.event();
        Ok(0)
    }

    /// A descriptor of `ino` was closed by the current process: POSIX
    /// drops all of its record locks on that file.
    pub(crate) fn closed_file(&mut self, ino: Ino) {
        let pid = self.pid();
        if self.locks.release_records(pid, Some(ino)) {
            self.event();
        }
    }
}
