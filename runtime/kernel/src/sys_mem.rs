//! Memory system calls: brk, mmap (anonymous and file-backed), munmap,
//! mprotect, mremap, madvise and friends.

use crate::abi::{errno, mm, nr};
use crate::elf::TASK_SIZE;
use crate::fd::Object;
use crate::loader::MMAP_TOP;
use crate::{Kernel, SysResult, page_up};
use friscy_machine::{CodeImage, PAGE_SIZE, Perm, SharedPage};
use friscy_vfs::FileType;

/// Most bytes of shared anonymous memory one address space may map: its
/// pages are made when the process forks (so that both sides hold the same
/// ones), so this bounds what a fork can cost.
const MAX_SHARED_ANON: u64 = 256 << 20;
/// Bytes of a file copied into a private mapping at a time.
const MMAP_CHUNK: usize = 1 << 20;
/// Largest file whose mapped code is named for its module (a file's
/// content is hashed whole when it is mapped executable).
const MAX_KEYED_FILE: u64 = 512 << 20;
/// MADV_DONTNEED: anonymous private pages read back as zero afterwards.
const MADV_DONTNEED: u64 = 4;

pub(crate) fn prot_to_perm(prot: u64) -> Perm {
    let mut p = Perm::NONE;
    if prot & mm::PROT_READ != 0 {
        p = p | Perm::R;
    }
    if prot & mm::PROT_WRITE != 0 {
        p = p | Perm::W;
    }
    if prot & mm::PROT_EXEC != 0 {
        p = p | Perm::X;
    }
    p
}

impl Kernel {
    pub(crate) fn dispatch_mem(&mut self, n: u64, a: &[u64; 6]) -> Option<SysResult> {
        Some(match n {
            nr::BRK => Ok(self.brk(a[0])),
            nr::MMAP => self.mmap(a),
            nr::MUNMAP => {
                if !a[0].is_multiple_of(PAGE_SIZE) || a[1] == 0 {
                    return Some(Err(errno::EINVAL));
                }
                let Some(len) = page_up(a[1]) else {
                    return Some(Err(errno::EINVAL));
                };
                let mm = self.mm();
                let mut mm = mm.borrow_mut();
                if a[0].checked_add(len).is_none_or(|e| e > TASK_SIZE) {
                    return Some(Err(errno::EINVAL));
                }
                mm.mem.unmap(a[0], len);
                mm.name_range(a[0], a[0] + len, None);
                drop(mm);
                self.shm_gc();
                Ok(0)
            }
            nr::MPROTECT => {
                if !a[0].is_multiple_of(PAGE_SIZE) {
                    return Some(Err(errno::EINVAL));
                }
                let Some(len) = page_up(a[1]) else {
                    return Some(Err(errno::ENOMEM));
                };
                let mm = self.mm();
                let mut mm = mm.borrow_mut();
                if !mm.mem.is_mapped(a[0], len) {
                    return Some(Err(errno::ENOMEM));
                }
                mm.mem.protect(a[0], len, prot_to_perm(a[2]));
                Ok(0)
            }
            nr::MADVISE => {
                if a[2] == MADV_DONTNEED
                    && a[0].is_multiple_of(PAGE_SIZE)
                    && let Some(len) = page_up(a[1])
                {
                    // Drop the pages but keep the mapping: they read as zero.
                    let mm = self.mm();
                    let mut mm = mm.borrow_mut();
                    let regions: Vec<(u64, u64, Perm)> = mm
                        .mem
                        .regions()
                        .filter(|&(s, e, _)| s < a[0] + len && e > a[0])
                        .collect();
                    for (s, e, perm) in regions {
                        if mm.mem.is_shared(s) {
                            // shared pages keep their contents
                            continue;
                        }
                        let (s, e) = (s.max(a[0]), e.min(a[0] + len));
                        mm.mem.unmap(s, e - s);
                        mm.mem.map(s, e - s, perm);
                    }
                }
                Ok(0)
            }
            nr::MREMAP => self.mremap(a),
            nr::MSYNC | nr::MLOCK | nr::MUNLOCK | nr::MLOCKALL | nr::MUNLOCKALL | nr::MLOCK2 => {
                Ok(0)
            }
            _ => return None,
        })
    }

    /// brk: the heap grows up to the next mapping; a growth larger than the
    /// whole memory limit fails at once, as Linux's overcommit heuristic
    /// fails one larger than all memory.
    fn brk(&mut self, want: u64) -> u64 {
        let mm = self.mm();
        let mut mm = mm.borrow_mut();
        if want < mm.brk_start {
            return mm.brk;
        }
        let old_top = mm.brk.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let Some(new_top) = page_up(want) else {
            return mm.brk;
        };
        if new_top > old_top {
            let len = new_top - old_top;
            if exceeds_limit(len) {
                return mm.brk;
            }
            // The heap may not run into another mapping.
            if new_top > MMAP_TOP || mm.mem.find_free(old_top, len, new_top) != Some(old_top) {
                return mm.brk;
            }
            mm.mem.map(old_top, len, Perm::RW);
        } else if new_top < old_top {
            mm.mem.unmap(new_top, old_top - new_top);
        }
        mm.brk = want;
        want
    }

    /// Picks where a new mapping of `len` bytes goes.
    fn place(&mut self, addr: u64, len: u64, flags: u64) -> SysResult {
        let mm = self.mm();
        let mm = mm.borrow();
        let fixed = flags & (mm::MAP_FIXED | mm::MAP_FIXED_NOREPLACE) != 0;
        if fixed {
            if addr.checked_add(len).is_none_or(|e| e > TASK_SIZE) || addr < PAGE_SIZE {
                return Err(errno::ENOMEM);
            }
            if flags & mm::MAP_FIXED_NOREPLACE != 0
                && mm.mem.find_free(addr, len, addr + len) != Some(addr)
            {
                return Err(errno::EEXIST);
            }
            return Ok(addr);
        }
        let hint_ok = addr >= PAGE_SIZE
            && addr.checked_add(len).is_some_and(|e| e <= MMAP_TOP)
            && mm.mem.find_free(addr, len, addr + len) == Some(addr);
        if hint_ok {
            return Ok(addr);
        }
        mm.mem
            .find_free_below(MMAP_TOP, len, mm.brk_start.saturating_add(1 << 30))
            .or_else(|| mm.mem.find_free_below(MMAP_TOP, len, PAGE_SIZE << 4))
            .ok_or(errno::ENOMEM)
    }

    fn mmap(&mut self, a: &[u64; 6]) -> SysResult {
        let (addr, len, prot, flags, fd, off) = (a[0], a[1], a[2], a[3], a[4] as i32, a[5]);
        if len == 0 || addr % PAGE_SIZE != 0 || off % PAGE_SIZE != 0 {
            return Err(errno::EINVAL);
        }
        let kind = flags & mm::MAP_TYPE;
        if kind != mm::MAP_SHARED && kind != mm::MAP_PRIVATE && kind != mm::MAP_SHARED_VALIDATE {
            return Err(errno::EINVAL);
        }
        let len = page_up(len).ok_or(errno::ENOMEM)?;
        let perm = prot_to_perm(prot);
        if prot & mm::PROT_WRITE != 0 && flags & mm::MAP_NORESERVE == 0 && exceeds_limit(len) {
            return Err(errno::ENOMEM);
        }
        if flags & mm::MAP_ANONYMOUS != 0 {
            if kind != mm::MAP_PRIVATE
                && self.mm().borrow().mem.shared_len().saturating_add(len) > MAX_SHARED_ANON
            {
                self.note_once(
                    "shared_cap",
                    "shared anonymous mappings beyond 256 MiB per process are refused (ENOMEM)",
                );
                return Err(errno::ENOMEM);
            }
            let start = self.place(addr, len, flags)?;
            let mm = self.mm();
            let mut mm = mm.borrow_mut();
            mm.name_range(start, start + len, None);
            if kind == mm::MAP_PRIVATE {
                mm.mem.map(start, len, perm);
            } else {
                // stays shared with children across fork
                mm.mem.map_shared(start, len, perm);
            }
            return Ok(start);
        }
        // A file mapping: its bytes are copied in (private), so it is only
        // honest for private mappings and read-only shared ones.
        let d = self.files().borrow().get(fd).ok_or(errno::EBADF)?;
        let ino = {
            let d = d.borrow();
            if !d.readable() {
                return Err(errno::EACCES);
            }
            if kind != mm::MAP_PRIVATE && prot & mm::PROT_WRITE != 0 && !d.writable() {
                return Err(errno::EACCES);
            }
            match d.obj {
                Object::Node(ino) => ino,
                Object::Dev(_, _) => {
                    // /dev/zero: anonymous memory
                    let start = self.place(addr, len, flags)?;
                    let mm = self.mm();
                    let mut mm = mm.borrow_mut();
                    mm.mem.map(start, len, perm);
                    mm.name_range(start, start + len, None);
                    return Ok(start);
                }
                _ => return Err(errno::ENODEV),
            }
        };
        let (size, is_reg) = {
            let fs = self.fs.borrow();
            let st = fs.stat(ino)?;
            (st.size, st.kind == FileType::Reg)
        };
        if !is_reg {
            return Err(errno::ENODEV);
        }
        let start = self.place(addr, len, flags)?;
        let name: Option<std::rc::Rc<[u8]>> = self.fs.borrow().path_of(ino).map(Into::into);
        self.mm()
            .borrow_mut()
            .name_range(start, start + len, name.map(|n| (n, off)));
        if kind != mm::MAP_PRIVATE {
            // The file's pages themselves: every process mapping them, and
            // read()/write() of the file, see the same bytes.
            self.shm_sync_to_fs(ino)?;
            // The file's pages; past its end (where Linux raises SIGBUS)
            // shared zero memory, made only when touched or forked.
            let file_pages = size.div_ceil(PAGE_SIZE).saturating_sub(off / PAGE_SIZE);
            let count = (len / PAGE_SIZE).min(file_pages);
            let rest = len - count * PAGE_SIZE;
            if rest > 0
                && self.mm().borrow().mem.shared_len().saturating_add(rest) > MAX_SHARED_ANON
            {
                return Err(errno::ENOMEM);
            }
            let pages = self.shm_pages(ino, off / PAGE_SIZE, count)?;
            let mm = self.mm();
            let mut mm = mm.borrow_mut();
            mm.mem.map_shared(start, len, perm);
            mm.mem.map_pages(start, perm, &pages);
            if perm.contains(Perm::X) {
                let m = &mut *mm;
                m.code.drop_code(&mut m.mem);
            }
            return Ok(start);
        }
        let n = size.saturating_sub(off).min(len);
        let mm = self.mm();
        let mut mm = mm.borrow_mut();
        mm.mem.map(start, len, perm);
        // Copy the file in chunks, skipping all-zero ones (the mapping is
        // zero already): a huge sparse file costs no host memory.
        let mut chunk = vec![0u8; MMAP_CHUNK.min(n as usize)];
        let mut done = 0u64;
        while done < n {
            let want = (n - done).min(MMAP_CHUNK as u64) as usize;
            let got = self
                .fs
                .borrow_mut()
                .read(ino, off + done, &mut chunk[..want])?;
            if got == 0 {
                break;
            }
            if chunk[..got].iter().any(|&b| b != 0) {
                mm.mem
                    .poke(start + done, &chunk[..got])
                    .map_err(|_| errno::ENOMEM)?;
            }
            done += got as u64;
        }
        if perm.contains(Perm::X) {
            // New code at an address that may have held other code.
            let m = &mut *mm;
            m.code.drop_code(&mut m.mem);
        }
        drop(mm);
        // the file's code, for its module (when files' modules are used)
        if perm.contains(Perm::X)
            && n > 0
            && friscy_machine::aot::active()
            && let Some(key) = self.file_key(ino, size)
        {
            self.mm().borrow_mut().mem.add_code_image(CodeImage {
                start,
                end: start + n.div_ceil(PAGE_SIZE) * PAGE_SIZE,
                file_offset: off,
                key,
            });
        }
        Ok(start)
    }

    /// The sha256 of the content of file `ino` (`size` bytes), or `None`
    /// if it cannot be read whole.
    fn file_key(&mut self, ino: friscy_vfs::Ino, size: u64) -> Option<[u8; 32]> {
        use sha2::{Digest, Sha256};
        if size > MAX_KEYED_FILE {
            return None;
        }
        let mut h = Sha256::new();
        let mut buf = vec![0u8; MMAP_CHUNK.min(size as usize)];
        let mut done = 0u64;
        while done < size {
            let want = (size - done).min(MMAP_CHUNK as u64) as usize;
            let got = self
                .fs
                .borrow_mut()
                .read(ino, done, &mut buf[..want])
                .ok()?;
            if got == 0 {
                return None;
            }
            friscy_vfs::image::hash_in_pieces(&mut h, &buf[..got]);
            done += got as u64;
        }
        Some(h.finalize().into())
    }

    fn mremap(&mut self, a: &[u64; 6]) -> SysResult {
        let (old, old_len, new_len, flags, new_addr) = (a[0], a[1], a[2], a[3], a[4]);
        if old % PAGE_SIZE != 0 || flags & !(mm::MREMAP_MAYMOVE | mm::MREMAP_FIXED) != 0 {
            return Err(errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(errno::EINVAL)?;
        if new_len == 0 || flags & mm::MREMAP_FIXED != 0 {
            return Err(errno::EINVAL);
        }
        let mm = self.mm();
        let mut mm = mm.borrow_mut();
        if !mm.mem.is_mapped(old, old_len.max(PAGE_SIZE)) {
            return Err(errno::EFAULT);
        }
        let perm = mm.mem.perm_at(old).ok_or(errno::EFAULT)?;
        if new_len <= old_len {
            mm.mem.unmap(old + new_len, old_len - new_len);
            return Ok(old);
        }
        let grow = new_len - old_len;
        if mm.mem.find_free(old + old_len, grow, old + new_len) == Some(old + old_len) {
            mm.mem.map(old + old_len, grow, perm);
            return Ok(old);
        }
        if flags & mm::MREMAP_MAYMOVE == 0 {
            return Err(errno::ENOMEM);
        }
        let _ = new_addr;
        let to = mm
            .mem
            .find_free_below(MMAP_TOP, new_len, mm.brk_start.saturating_add(1 << 30))
            .ok_or(errno::ENOMEM)?;
        // The pages move; the grown part is fresh zero memory.
        mm.mem.move_range(old, to, old_len);
        let name = mm
            .name_at(old)
            .map(|(p, off)| (std::rc::Rc::<[u8]>::from(p), off));
        mm.name_range(old, old + old_len, None);
        mm.name_range(to, to + new_len, name);
        mm.mem.map(to + old_len, new_len - old_len, perm);
        let m = &mut *mm;
        m.code.drop_code(&mut m.mem);
        Ok(to)
    }

    /// The shared pages of file `ino` for pages [first, first+count),
    /// made (from the file's bytes) where missing.
    fn shm_pages(
        &mut self,
        ino: friscy_vfs::Ino,
        first: u64,
        count: u64,
    ) -> Result<Vec<SharedPage>, i64> {
        let mut out = Vec::with_capacity(count as usize);
        if !self.shm.contains_key(&ino) {
            // A mapping keeps its file alive (and its inode number taken)
            // as an open descriptor does.
            self.fs.borrow_mut().hold(ino);
            self.shm.insert(ino, Default::default());
        }
        for pg in first..first + count {
            if let Some(p) = self.shm.get(&ino).and_then(|m| m.get(&pg)) {
                out.push(p.clone());
                continue;
            }
            let page = SharedPage::new();
            let mut buf = vec![0u8; PAGE_SIZE as usize];
            let n = self.fs.borrow_mut().read(ino, pg * PAGE_SIZE, &mut buf)?;
            page.write(0, &buf[..n]);
            self.shm.entry(ino).or_default().insert(pg, page.clone());
            out.push(page);
        }
        Ok(out)
    }

    /// Writes the shared pages of `ino` back into the file (before the
    /// file is read, truncated or mapped) and forgets pages no mapping
    /// holds any more.
    pub(crate) fn shm_sync_to_fs(&mut self, ino: friscy_vfs::Ino) -> Result<(), i64> {
        let Some(pages) = self.shm.get(&ino) else {
            return Ok(());
        };
        let size = self.fs.borrow().stat(ino)?.size;
        let mut fs = self.fs.borrow_mut();
        let mut buf = vec![0u8; PAGE_SIZE as usize];
        for (&pg, page) in pages {
            let at = pg * PAGE_SIZE;
            if at >= size {
                continue;
            }
            let n = page.read(0, &mut buf).min((size - at) as usize);
            fs.write(ino, at, &buf[..n])?;
        }
        drop(fs);
        if let Some(pages) = self.shm.get_mut(&ino) {
            pages.retain(|_, p| p.holders() > 1);
            if pages.is_empty() {
                self.shm.remove(&ino);
                self.fs.borrow_mut().release(ino);
            }
        }
        Ok(())
    }

    /// After a write(2) to `ino`: the same bytes into its shared pages.
    pub(crate) fn shm_written(&mut self, ino: friscy_vfs::Ino, at: u64, data: &[u8]) {
        let Some(pages) = self.shm.get(&ino) else {
            return;
        };
        let end = at + data.len() as u64;
        for (&pg, page) in pages.range(at / PAGE_SIZE..end.div_ceil(PAGE_SIZE)) {
            let ps = pg * PAGE_SIZE;
            let from = at.max(ps);
            let to = end.min(ps + PAGE_SIZE);
            page.write(
                (from - ps) as usize,
                &data[(from - at) as usize..(to - at) as usize],
            );
        }
    }

    /// Writes back and forgets shared pages no mapping holds any more.
    pub(crate) fn shm_gc(&mut self) {
        let inos: Vec<friscy_vfs::Ino> = self
            .shm
            .iter()
            .filter(|(_, m)| m.values().any(|p| p.holders() == 1))
            .map(|(&i, _)| i)
            .collect();
        for ino in inos {
            let _ = self.shm_sync_to_fs(ino);
        }
    }

    /// Tells the person running friscy once about a limitation the guest
    /// just hit.
    pub(crate) fn note_once(&mut self, key: &'static str, msg: &str) {
        let h = key.bytes().fold(1u64 << 40, |acc, b| {
            acc.wrapping_mul(31).wrapping_add(u64::from(b))
        });
        if self.reported_insert(h) {
            self.host().log(msg);
        }
    }
}

/// Whether one writable mapping of `len` bytes could never fit the memory
/// limit (`friscy run -m`): refused with ENOMEM at once, as Linux's
/// overcommit heuristic refuses one larger than all memory. Smaller ones
/// succeed and are charged page by page as they are touched.
fn exceeds_limit(len: u64) -> bool {
    friscy_budget::limit().is_some_and(|limit| len > limit)
}
