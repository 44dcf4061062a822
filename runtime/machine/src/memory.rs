//! Guest memory: a sparse 64-bit address space of 4 KiB pages.
//!
//! * Mappings are kept as regions (start, end, permissions) in a B-tree;
//!   pages are allocated only when first touched, so a large anonymous
//!   mapping costs nothing until used.
//! * Pages are reference-counted: [`Memory::fork`] shares every page and a
//!   write copies the page first (copy-on-write).
//! * Loads and stores go through two direct-mapped software TLBs (one for
//!   reads, one for writes) that map a virtual page number to the host
//!   address of the page: the fast path is a shift, a mask, a compare and
//!   the access itself. A miss takes the slow path, which checks the
//!   region's permissions, allocates or copies the page and refills the TLB.
//! * Pages holding decoded code are never entered into the write TLB, so a
//!   store to them reaches the slow path, which records that decoded blocks
//!   must be dropped (see [`Memory::take_code_dirty`]).

use std::collections::BTreeMap;

use crate::{AddrMap, AddrSet};
use std::ptr::NonNull;
use std::rc::Rc;

use crate::frames;

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
const PAGE_MASK: u64 = PAGE_SIZE - 1;

/// Page permissions (a bit set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Perm(pub u8);

impl Perm {
    pub const NONE: Perm = Perm(0);
    pub const R: Perm = Perm(1);
    pub const W: Perm = Perm(2);
    pub const X: Perm = Perm(4);
    pub const RW: Perm = Perm(3);
    pub const RX: Perm = Perm(5);
    pub const RWX: Perm = Perm(7);

    pub fn contains(self, other: Perm) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Perm {
    type Output = Perm;
    fn bitor(self, rhs: Perm) -> Perm {
        Perm(self.0 | rhs.0)
    }
}

/// What kind of access faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Load,
    Store,
    Fetch,
}

/// Why an access faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultCause {
    /// Nothing is mapped there (SIGSEGV, SEGV_MAPERR).
    Unmapped,
    /// Mapped without the needed permission (SIGSEGV, SEGV_ACCERR).
    Protection,
    /// An atomic access that is not naturally aligned (SIGBUS, BUS_ADRALN).
    Misaligned,
    /// The page it needs would take the thread past its memory budget
    /// (`friscy_budget`): the kernel's OOM kill, or ENOMEM for a system
    /// call.
    OutOfMemory,
}

/// A failed guest memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemFault {
    pub addr: u64,
    pub access: Access,
    pub cause: FaultCause,
}

/// One page of guest memory: a frame from [`crate::frames`]. Only ever
/// accessed through raw pointers, and written only while its `Rc` is unique
/// (see the copy-on-write rules in the module docs).
pub struct PageBuf(NonNull<u8>);

impl PageBuf {
    fn zeroed() -> Rc<PageBuf> {
        Rc::new(PageBuf(frames::alloc()))
    }

    /// A zeroed page, if the memory budget has room for it.
    fn try_zeroed() -> Option<Rc<PageBuf>> {
        frames::try_alloc().map(|f| Rc::new(PageBuf(f)))
    }

    fn ptr(&self) -> *mut u8 {
        self.0.as_ptr()
    }

    /// A copy of the page, if the memory budget has room for it.
    fn try_copy(&self) -> Option<Rc<PageBuf>> {
        let new = PageBuf::try_zeroed()?;
        // SAFETY: both pointers address distinct live pages of PAGE_SIZE
        // bytes; nothing else accesses them during the copy (single thread).
        unsafe { std::ptr::copy_nonoverlapping(self.ptr(), new.ptr(), PAGE_SIZE as usize) };
        Some(new)
    }
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        frames::release(self.0);
    }
}

/// A page that several address spaces (and the kernel) hold at once: the
/// memory behind a MAP_SHARED file mapping.
#[derive(Clone)]
pub struct SharedPage(Rc<PageBuf>);

impl std::fmt::Debug for SharedPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedPage")
    }
}

impl Default for SharedPage {
    fn default() -> Self {
        SharedPage::new()
    }
}

impl SharedPage {
    /// A zero-filled page.
    pub fn new() -> SharedPage {
        SharedPage(PageBuf::zeroed())
    }

    /// Copies bytes out of the page from `off` (as many as fit).
    pub fn read(&self, off: usize, buf: &mut [u8]) -> usize {
        let n = buf.len().min((PAGE_SIZE as usize).saturating_sub(off));
        // SAFETY: the page is PAGE_SIZE live bytes and off + n <= PAGE_SIZE;
        // guest memory is only used by this thread, which is here now.
        unsafe { std::ptr::copy_nonoverlapping(self.0.ptr().add(off), buf.as_mut_ptr(), n) };
        n
    }

    /// Copies bytes into the page at `off` (as many as fit).
    pub fn write(&self, off: usize, data: &[u8]) -> usize {
        let n = data.len().min((PAGE_SIZE as usize).saturating_sub(off));
        // SAFETY: as in `read`; the page is shared on purpose.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.0.ptr().add(off), n) };
        n
    }

    /// How many holders the page has (this one included).
    pub fn holders(&self) -> usize {
        Rc::strong_count(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Region {
    end: u64,
    perm: Perm,
    /// MAP_SHARED: the pages stay shared with forked copies (no
    /// copy-on-write).
    shared: bool,
}

/// The layout translated code reads (`friscy_aot::abi`: the page number
/// at 0, the host address at `TLB_BASE`, and in the wasm build what to add
/// to a guest address in the page for its host address at `TLB_ADDEND`).
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct TlbEntry {
    vpn: u64,
    base: *mut u8,
    #[cfg(target_arch = "wasm32")]
    addend: u32,
}

impl TlbEntry {
    fn new(vpn: u64, base: *mut u8) -> TlbEntry {
        TlbEntry {
            vpn,
            base,
            // host = (guest address as u32) + addend, wrapping (wasm32
            // addresses are 32 bits)
            #[cfg(target_arch = "wasm32")]
            addend: (base as usize as u32).wrapping_sub((vpn << PAGE_SHIFT) as u32),
        }
    }
}

const TLB_BITS: u32 = 12;
const TLB_SIZE: usize = 1 << TLB_BITS;
const _: () = assert!(TLB_SIZE == friscy_aot::abi::TLB_SIZE as usize);
#[cfg(target_arch = "wasm32")]
const _: () = {
    assert!(std::mem::size_of::<TlbEntry>() == friscy_aot::abi::TLB_ENTRY as usize);
    assert!(std::mem::offset_of!(TlbEntry, base) == friscy_aot::abi::TLB_BASE as usize);
    assert!(std::mem::offset_of!(TlbEntry, addend) == friscy_aot::abi::TLB_ADDEND as usize);
};
const INVALID_VPN: u64 = u64::MAX;
const EMPTY: TlbEntry = TlbEntry {
    vpn: INVALID_VPN,
    base: std::ptr::null_mut(),
    #[cfg(target_arch = "wasm32")]
    addend: 0,
};

/// A guest address space.
pub struct Memory {
    regions: BTreeMap<u64, Region>,
    pages: AddrMap<u64, Rc<PageBuf>>,
    // The TLBs are kept inline (not boxed): one load less on the fast path.
    tlb_read: [TlbEntry; TLB_SIZE],
    tlb_write: [TlbEntry; TLB_SIZE],
    code_pages: AddrSet<u64>,
    code_dirty: bool,
    zero: Rc<PageBuf>,
    /// Files' code mapped here, unchanged since (see [`CodeImage`]).
    code_images: Vec<CodeImage>,
}

/// The code of a file mapped at [start, end) from `file_offset` on, whose
/// content is named by `key` (the sha256 of the whole file): where a
/// module translated ahead of time from that file may run (see
/// `crate::aot`). Its pages count as code: a store into one, an unmap or
/// losing X forgets the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeImage {
    pub start: u64,
    pub end: u64,
    pub file_offset: u64,
    pub key: [u8; 32],
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new()
    }
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory")
            .field("regions", &self.regions.len())
            .field("pages", &self.pages.len())
            .finish()
    }
}

#[inline(always)]
fn tlb_index(vpn: u64) -> usize {
    (vpn as usize) & (TLB_SIZE - 1)
}

macro_rules! access {
    ($read:ident, $write:ident, $try_read:ident, $try_write:ident, $ty:ty) => {
        /// The TLB-hit path of a load: None when the slow path is needed.
        #[inline(always)]
        pub fn $try_read(&self, addr: u64) -> Option<$ty> {
            const N: u64 = std::mem::size_of::<$ty>() as u64;
            let vpn = addr >> PAGE_SHIFT;
            let e = &self.tlb_read[tlb_index(vpn)];
            let off = addr & PAGE_MASK;
            if e.vpn == vpn && off <= PAGE_SIZE - N {
                // SAFETY: a read TLB entry points at a live page of PAGE_SIZE
                // bytes (entries are dropped whenever their page is unmapped,
                // replaced or copied) and off + N <= PAGE_SIZE.
                let v = unsafe { e.base.add(off as usize).cast::<$ty>().read_unaligned() };
                return Some(<$ty>::from_le(v));
            }
            None
        }

        /// The TLB-hit path of a store: false when the slow path is needed
        /// (nothing was written then).
        #[inline(always)]
        pub fn $try_write(&mut self, addr: u64, value: $ty) -> bool {
            const N: u64 = std::mem::size_of::<$ty>() as u64;
            let vpn = addr >> PAGE_SHIFT;
            let e = &self.tlb_write[tlb_index(vpn)];
            let off = addr & PAGE_MASK;
            if e.vpn == vpn && off <= PAGE_SIZE - N {
                // SAFETY: a write TLB entry points at a live page that this
                // address space owns alone (its Rc is unique) and that holds
                // no decoded code; off + N <= PAGE_SIZE.
                unsafe {
                    e.base
                        .add(off as usize)
                        .cast::<$ty>()
                        .write_unaligned(value.to_le())
                };
                return true;
            }
            false
        }

        /// Loads a little-endian value (any alignment).
        #[inline(always)]
        pub fn $read(&mut self, addr: u64) -> Result<$ty, MemFault> {
            if let Some(v) = self.$try_read(addr) {
                return Ok(v);
            }
            let mut buf = [0u8; std::mem::size_of::<$ty>()];
            self.read_slow(addr, &mut buf, Access::Load)?;
            Ok(<$ty>::from_le_bytes(buf))
        }

        /// Stores a little-endian value (any alignment).
        #[inline(always)]
        pub fn $write(&mut self, addr: u64, value: $ty) -> Result<(), MemFault> {
            if self.$try_write(addr, value) {
                return Ok(());
            }
            self.write_slow(addr, &value.to_le_bytes())
        }
    };
}

impl Memory {
    pub fn new() -> Memory {
        Memory {
            regions: BTreeMap::new(),
            pages: AddrMap::default(),
            tlb_read: [EMPTY; TLB_SIZE],
            tlb_write: [EMPTY; TLB_SIZE],
            code_pages: AddrSet::default(),
            code_dirty: false,
            zero: PageBuf::zeroed(),
            code_images: Vec::new(),
        }
    }

    access!(read_u8, write_u8, try_read_u8, try_write_u8, u8);
    access!(read_u16, write_u16, try_read_u16, try_write_u16, u16);
    access!(read_u32, write_u32, try_read_u32, try_write_u32, u32);
    access!(read_u64, write_u64, try_read_u64, try_write_u64, u64);

    fn flush_tlb(&mut self) {
        self.tlb_read.fill(EMPTY);
        self.tlb_write.fill(EMPTY);
    }

    /// Forgets the TLB entries of the pages of [addr, end): each can only
    /// sit at its own index, so a short range costs a look at a few
    /// entries instead of clearing both TLBs.
    fn flush_tlb_range(&mut self, addr: u64, end: u64) {
        let (lo, hi) = (addr >> PAGE_SHIFT, end.div_ceil(PAGE_SIZE));
        if hi.saturating_sub(lo) >= TLB_SIZE as u64 {
            self.flush_tlb();
            return;
        }
        for vpn in lo..hi {
            let i = tlb_index(vpn);
            for e in [&mut self.tlb_read[i], &mut self.tlb_write[i]] {
                if e.vpn == vpn {
                    *e = EMPTY;
                }
            }
        }
    }

    /// The region containing `addr`, if any.
    fn region(&self, addr: u64) -> Option<(u64, Region)> {
        let (&start, &r) = self.regions.range(..=addr).next_back()?;
        (addr < r.end).then_some((start, r))
    }

    /// Permissions at `addr`, or None if unmapped.
    pub fn perm_at(&self, addr: u64) -> Option<Perm> {
        self.region(addr).map(|(_, r)| r.perm)
    }

    /// Removes [start, end) from the region map, splitting regions that
    /// straddle the bounds. Returns whether anything was mapped there.
    fn carve(&mut self, start: u64, end: u64) -> bool {
        let mut touched = false;
        // A region starting before `start` that reaches into the range.
        if let Some((s, r)) = self.region(start) {
            if s < start {
                self.regions.insert(s, Region { end: start, ..r });
                if r.end > start {
                    self.regions.insert(start, Region { end: r.end, ..r });
                }
            }
        }
        let inside: Vec<u64> = self.regions.range(start..end).map(|(&s, _)| s).collect();
        for s in inside {
            let r = self.regions.remove(&s).expect("listed above");
            touched = true;
            if r.end > end {
                self.regions.insert(end, r);
            }
        }
        touched
    }

    /// Forgets the pages of [start, end) that hold data or decoded code;
    /// returns whether any held code. Costs the smaller of the range and the
    /// number of resident pages (a guest may unmap the whole address space).
    fn drop_pages(&mut self, start: u64, end: u64) -> bool {
        let (lo, hi) = (start >> PAGE_SHIFT, end.div_ceil(PAGE_SIZE));
        let span = hi.saturating_sub(lo);
        if span <= self.pages.len() as u64 {
            for vpn in lo..hi {
                self.pages.remove(&vpn);
            }
        } else {
            self.pages.retain(|&vpn, _| vpn < lo || vpn >= hi);
        }
        self.drop_code_pages(lo, hi)
    }

    /// Forgets which pages in [lo, hi) (page numbers) hold code; returns
    /// whether any did.
    fn drop_code_pages(&mut self, lo: u64, hi: u64) -> bool {
        self.drop_images(lo, hi);
        let before = self.code_pages.len();
        if hi.saturating_sub(lo) <= before as u64 {
            for vpn in lo..hi {
                self.code_pages.remove(&vpn);
            }
        } else {
            self.code_pages.retain(|&vpn| vpn < lo || vpn >= hi);
        }
        self.code_pages.len() != before
    }

    /// Maps [addr, addr+len) with `perm`, zero-filled, replacing whatever
    /// was mapped there. `addr` and `len` must be page-aligned.
    pub fn map(&mut self, addr: u64, len: u64, perm: Perm) {
        self.map_region(addr, len, perm, false);
    }

    /// Maps [addr, addr+len) like [`Memory::map`], but shared: a forked
    /// copy sees the same pages (MAP_SHARED). Never merged with private
    /// neighbours.
    pub fn map_shared(&mut self, addr: u64, len: u64, perm: Perm) {
        self.map_region(addr, len, perm, true);
    }

    fn map_region(&mut self, addr: u64, len: u64, perm: Perm, shared: bool) {
        assert!(
            addr.is_multiple_of(PAGE_SIZE) && len.is_multiple_of(PAGE_SIZE),
            "unaligned map"
        );
        if len == 0 {
            return;
        }
        let end = addr.saturating_add(len);
        self.unmap(addr, len);
        self.regions.insert(addr, Region { end, perm, shared });
        self.merge_around(addr, end);
    }

    /// Unmaps [addr, addr+len); unmapped parts are ignored.
    pub fn unmap(&mut self, addr: u64, len: u64) {
        if len == 0 {
            return;
        }
        let end = addr.saturating_add(len);
        self.carve(addr, end);
        if self.drop_pages(addr, end) {
            self.code_dirty = true;
        }
        self.flush_tlb_range(addr, end);
    }

    /// Changes the permissions of every mapped page in [addr, addr+len).
    pub fn protect(&mut self, addr: u64, len: u64, perm: Perm) {
        if len == 0 {
            return;
        }
        let end = addr.saturating_add(len);
        let mut parts = Vec::new();
        let mut cur = addr;
        while cur < end {
            match self.region(cur) {
                Some((_, r)) => {
                    let stop = r.end.min(end);
                    parts.push((cur, stop, r.shared));
                    cur = stop;
                }
                None => match self.regions.range(cur..end).next() {
                    Some((&s, _)) => cur = s,
                    None => break,
                },
            }
        }
        for (s, e, shared) in parts {
            self.carve(s, e);
            self.regions.insert(
                s,
                Region {
                    end: e,
                    perm,
                    shared,
                },
            );
        }
        self.merge_around(addr, end);
        if !perm.contains(Perm::X)
            && self.drop_code_pages(addr >> PAGE_SHIFT, end.div_ceil(PAGE_SIZE))
        {
            self.code_dirty = true;
        }
        self.flush_tlb_range(addr, end);
    }

    /// Joins adjacent regions with equal permissions around [start, end).
    fn merge_around(&mut self, start: u64, end: u64) {
        let lo = self
            .regions
            .range(..start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        let keys: Vec<u64> = self.regions.range(lo..=end).map(|(&s, _)| s).collect();
        let mut prev: Option<u64> = None;
        for s in keys {
            if let Some(p) = prev {
                let pr = self.regions[&p];
                let r = self.regions[&s];
                if pr.end == s && pr.perm == r.perm && pr.shared == r.shared {
                    self.regions.remove(&s);
                    self.regions.insert(p, Region { end: r.end, ..r });
                    continue;
                }
            }
            prev = Some(s);
        }
    }

    /// Maps `pages` at `addr` (page-aligned), shared: every address space
    /// mapping the same pages sees the same bytes.
    pub fn map_pages(&mut self, addr: u64, perm: Perm, pages: &[SharedPage]) {
        let len = pages.len() as u64 * PAGE_SIZE;
        self.map_shared(addr, len, perm);
        for (i, p) in pages.iter().enumerate() {
            self.pages
                .insert((addr >> PAGE_SHIFT) + i as u64, p.0.clone());
        }
        self.flush_tlb_range(addr, addr + len);
    }

    /// For an address in a shared mapping whose page exists: an identity
    /// of that page, the same in every address space that shares it (what
    /// a process-shared futex is keyed on).
    pub fn shared_page_id(&self, addr: u64) -> Option<usize> {
        if !self.is_shared(addr) {
            return None;
        }
        self.pages
            .get(&(addr >> PAGE_SHIFT))
            .map(|p| Rc::as_ptr(p) as usize)
    }

    /// Moves the mapping [from, from+len) to [to, to+len) with its pages
    /// (mremap): no bytes are copied. The target range is replaced; the
    /// moved mapping keeps the permissions it had at `from` and becomes
    /// private. All addresses and `len` must be page-aligned.
    pub fn move_range(&mut self, from: u64, to: u64, len: u64) {
        let perm = self.perm_at(from).unwrap_or(Perm::NONE);
        let (lo, hi) = (from >> PAGE_SHIFT, (from + len) >> PAGE_SHIFT);
        let moved: Vec<(u64, Rc<PageBuf>)> = if hi - lo <= self.pages.len() as u64 {
            (lo..hi)
                .filter_map(|v| self.pages.remove(&v).map(|p| (v, p)))
                .collect()
        } else {
            let keys: Vec<u64> = self
                .pages
                .keys()
                .copied()
                .filter(|&v| v >= lo && v < hi)
                .collect();
            keys.into_iter()
                .filter_map(|v| self.pages.remove(&v).map(|p| (v, p)))
                .collect()
        };
        self.unmap(from, len);
        self.map(to, len, perm);
        let delta = (to >> PAGE_SHIFT).wrapping_sub(lo);
        for (v, p) in moved {
            self.pages.insert(v.wrapping_add(delta), p);
        }
        // (unmap and map forgot both ranges' TLB entries)
        self.code_dirty = true;
    }

    /// Bytes mapped shared (MAP_SHARED) in this address space.
    pub fn shared_len(&self) -> u64 {
        self.regions
            .iter()
            .filter(|(_, r)| r.shared)
            .map(|(&s, r)| r.end - s)
            .sum()
    }

    /// Whether the mapping at `addr` is shared (MAP_SHARED).
    pub fn is_shared(&self, addr: u64) -> bool {
        self.region(addr).is_some_and(|(_, r)| r.shared)
    }

    /// Whether every page of [addr, addr+len) is mapped.
    pub fn is_mapped(&self, addr: u64, len: u64) -> bool {
        let end = addr.saturating_add(len);
        let mut cur = addr;
        while cur < end {
            match self.region(cur) {
                Some((_, r)) => cur = r.end,
                None => return false,
            }
        }
        true
    }

    /// The mapped regions, in address order: (start, end, perm).
    pub fn regions(&self) -> impl Iterator<Item = (u64, u64, Perm)> + '_ {
        self.regions.iter().map(|(&s, r)| (s, r.end, r.perm))
    }

    /// The lowest gap of `len` bytes at or above `hint` and below `limit`.
    pub fn find_free(&self, hint: u64, len: u64, limit: u64) -> Option<u64> {
        let mut cur = hint;
        if let Some((_, r)) = self.region(cur) {
            cur = r.end;
        }
        for (&s, r) in self.regions.range(cur..) {
            if s >= cur.checked_add(len)? {
                break;
            }
            cur = cur.max(r.end);
        }
        (cur.checked_add(len)? <= limit).then_some(cur)
    }

    /// The highest gap of `len` bytes that ends at or below `top` and starts
    /// at or above `floor` (top-down placement, as Linux places mmaps).
    pub fn find_free_below(&self, top: u64, len: u64, floor: u64) -> Option<u64> {
        let mut end = top;
        for (&s, r) in self.regions.range(..top).rev() {
            if r.end <= end.checked_sub(len)? {
                break;
            }
            end = end.min(s);
        }
        let start = end.checked_sub(len)?;
        (start >= floor).then_some(start)
    }

    /// Number of pages that hold data (for accounting).
    pub fn resident_pages(&self) -> usize {
        self.pages.len()
    }

    /// A copy of this address space that shares every page until either
    /// side writes it.
    pub fn fork(&mut self) -> Memory {
        // Shared mappings: every page must exist now, so that both sides
        // hold the same one.
        let shared: Vec<(u64, u64)> = self
            .regions
            .iter()
            .filter(|(_, r)| r.shared)
            .map(|(&s, r)| (s, r.end))
            .collect();
        for (s, e) in shared {
            for vpn in (s >> PAGE_SHIFT)..(e >> PAGE_SHIFT) {
                self.pages.entry(vpn).or_insert_with(PageBuf::zeroed);
            }
        }
        // Pages become shared: no write may go through the old entries.
        self.tlb_write.fill(EMPTY);
        let mut m = Memory {
            regions: self.regions.clone(),
            pages: self.pages.clone(),
            tlb_read: [EMPTY; TLB_SIZE],
            tlb_write: [EMPTY; TLB_SIZE],
            code_pages: AddrSet::default(),
            code_dirty: false,
            zero: self.zero.clone(),
            code_images: self.code_images.clone(),
        };
        m.mark_image_pages();
        m
    }

    /// Looks up `vpn` for an access, checking permissions and allocating
    /// or copying the page as needed; refills the TLB. Returns the page's
    /// host base address.
    fn page_for(&mut self, addr: u64, access: Access) -> Result<*mut u8, MemFault> {
        let vpn = addr >> PAGE_SHIFT;
        let fault = |cause| MemFault {
            addr,
            access,
            cause,
        };
        let (_, region) = self.region(addr).ok_or(fault(FaultCause::Unmapped))?;
        let need = match access {
            Access::Load => Perm::R,
            Access::Store => Perm::W,
            Access::Fetch => Perm::X,
        };
        if !region.perm.contains(need) {
            return Err(fault(FaultCause::Protection));
        }
        if access != Access::Store {
            let base = match self.pages.get(&vpn) {
                Some(p) => p.ptr(),
                None => self.zero.ptr(),
            };
            if access == Access::Load {
                self.tlb_read[tlb_index(vpn)] = TlbEntry::new(vpn, base);
            }
            return Ok(base);
        }
        let base = self
            .writable_page(vpn, region.shared)
            .ok_or(fault(FaultCause::OutOfMemory))?;
        // The page may have moved (first touch or copy): refresh reads too.
        self.tlb_read[tlb_index(vpn)] = if region.perm.contains(Perm::R) {
            TlbEntry::new(vpn, base)
        } else {
            EMPTY
        };
        if self.code_pages.remove(&vpn) {
            // A store into decoded code: the blocks must go.
            self.code_dirty = true;
            self.drop_images(vpn, vpn + 1);
        }
        self.tlb_write[tlb_index(vpn)] = TlbEntry::new(vpn, base);
        Ok(base)
    }

    /// The page `vpn`, made this address space's own to write (allocated
    /// on first touch, copied if a fork shares it and the region is not
    /// MAP_SHARED); `None` when the memory budget has no room for that.
    fn writable_page(&mut self, vpn: u64, shared: bool) -> Option<*mut u8> {
        let page = match self.pages.entry(vpn) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(PageBuf::try_zeroed()?),
        };
        if Rc::strong_count(page) > 1 && !shared {
            *page = page.try_copy()?;
        }
        Some(page.ptr())
    }

    #[inline(never)]
    fn read_slow(&mut self, addr: u64, buf: &mut [u8], access: Access) -> Result<(), MemFault> {
        let mut done = 0;
        while done < buf.len() {
            let a = addr.wrapping_add(done as u64);
            let base = self.page_for(a, access)?;
            let off = (a & PAGE_MASK) as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - done);
            // SAFETY: `base` is a live page; off + n <= PAGE_SIZE.
            unsafe { std::ptr::copy_nonoverlapping(base.add(off), buf[done..].as_mut_ptr(), n) };
            done += n;
        }
        Ok(())
    }

    #[inline(never)]
    fn write_slow(&mut self, addr: u64, data: &[u8]) -> Result<(), MemFault> {
        // Check every page first, so a faulting store writes nothing.
        let end = addr.wrapping_add(data.len() as u64 - 1);
        if end >> PAGE_SHIFT != addr >> PAGE_SHIFT {
            self.check(end, Access::Store)?;
        }
        let mut done = 0;
        while done < data.len() {
            let a = addr.wrapping_add(done as u64);
            let base = self.page_for(a, Access::Store)?;
            let off = (a & PAGE_MASK) as usize;
            let n = (PAGE_SIZE as usize - off).min(data.len() - done);
            // SAFETY: `base` is a live page (owned alone, or shared on
            // purpose by a MAP_SHARED region; one thread runs at a time);
            // off + n <= PAGE_SIZE.
            unsafe { std::ptr::copy_nonoverlapping(data[done..].as_ptr(), base.add(off), n) };
            done += n;
        }
        Ok(())
    }

    /// Checks that `addr` may be accessed, without touching memory.
    pub fn check(&self, addr: u64, access: Access) -> Result<(), MemFault> {
        let fault = |cause| MemFault {
            addr,
            access,
            cause,
        };
        let (_, r) = self.region(addr).ok_or(fault(FaultCause::Unmapped))?;
        let need = match access {
            Access::Load => Perm::R,
            Access::Store => Perm::W,
            Access::Fetch => Perm::X,
        };
        if r.perm.contains(need) {
            Ok(())
        } else {
            Err(fault(FaultCause::Protection))
        }
    }

    /// Reads guest memory into `buf` as the guest would (needs R).
    pub fn read_bytes(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), MemFault> {
        if buf.is_empty() {
            return Ok(());
        }
        self.read_slow(addr, buf, Access::Load)
    }

    /// Writes `data` into guest memory as the guest would (needs W).
    pub fn write_bytes(&mut self, addr: u64, data: &[u8]) -> Result<(), MemFault> {
        if data.is_empty() {
            return Ok(());
        }
        // Check the whole range first so that a fault writes nothing.
        let mut a = addr & !PAGE_MASK;
        let end = addr.wrapping_add(data.len() as u64);
        while a < end {
            self.check(a.max(addr), Access::Store)?;
            a += PAGE_SIZE;
        }
        self.write_slow(addr, data)
    }

    /// Writes `data` ignoring page permissions (for loaders: filling a
    /// read-only or execute-only mapping). The range must be mapped.
    pub fn poke(&mut self, addr: u64, data: &[u8]) -> Result<(), MemFault> {
        let mut done = 0;
        while done < data.len() {
            let a = addr.wrapping_add(done as u64);
            let Some((_, region)) = self.region(a) else {
                return Err(MemFault {
                    addr: a,
                    access: Access::Store,
                    cause: FaultCause::Unmapped,
                });
            };
            let vpn = a >> PAGE_SHIFT;
            let base = self.writable_page(vpn, region.shared).ok_or(MemFault {
                addr: a,
                access: Access::Store,
                cause: FaultCause::OutOfMemory,
            })?;
            if self.code_pages.remove(&vpn) {
                self.code_dirty = true;
                self.drop_images(vpn, vpn + 1);
            }
            let off = (a & PAGE_MASK) as usize;
            let n = (PAGE_SIZE as usize - off).min(data.len() - done);
            // SAFETY: `base` is a live page (owned alone, or shared on
            // purpose by a MAP_SHARED region; one thread runs at a time);
            // off + n <= PAGE_SIZE.
            unsafe { std::ptr::copy_nonoverlapping(data[done..].as_ptr(), base.add(off), n) };
            done += n;
        }
        let end = addr.wrapping_add(data.len() as u64);
        self.flush_tlb_range(addr, end);
        Ok(())
    }

    /// Reads a NUL-terminated string of at most `max` bytes.
    pub fn read_cstr(&mut self, addr: u64, max: usize) -> Result<Option<Vec<u8>>, MemFault> {
        let mut out = Vec::new();
        let mut a = addr;
        while out.len() < max {
            let b = self.read_u8(a)?;
            if b == 0 {
                return Ok(Some(out));
            }
            out.push(b);
            a = a.wrapping_add(1);
        }
        Ok(None)
    }

    /// Fetches an instruction halfword for decoding (needs X). Marks the
    /// page as holding code, so that stores to it are noticed.
    pub fn fetch_u16(&mut self, addr: u64) -> Result<u16, MemFault> {
        let base = self.page_for(addr, Access::Fetch)?;
        let vpn = addr >> PAGE_SHIFT;
        if self.code_pages.insert(vpn) {
            self.tlb_write[tlb_index(vpn)] = EMPTY;
        }
        let off = (addr & PAGE_MASK) as usize;
        let mut b = [0u8; 2];
        // SAFETY: `base` is a live page; fetches are 2-byte aligned so
        // off + 2 <= PAGE_SIZE.
        unsafe { std::ptr::copy_nonoverlapping(base.add(off & !1), b.as_mut_ptr(), 2) };
        Ok(u16::from_le_bytes(b))
    }

    /// Whether a store hit a page holding decoded code since the last call
    /// (or code pages were unmapped or lost X); clears the flag.
    /// Where the read and write TLBs are (for translated code).
    pub(crate) fn tlb_addresses(&self) -> (*const TlbEntry, *const TlbEntry) {
        (self.tlb_read.as_ptr(), self.tlb_write.as_ptr())
    }

    pub fn take_code_dirty(&mut self) -> bool {
        std::mem::take(&mut self.code_dirty)
    }

    /// Whether decoded blocks must be dropped before running on.
    #[inline(always)]
    pub fn code_dirty(&self) -> bool {
        self.code_dirty
    }

    /// Requests that decoded blocks be dropped (fence.i).
    pub fn mark_code_dirty(&mut self) {
        self.code_dirty = true;
    }

    /// Forgets which pages hold code (after the decoded blocks were
    /// dropped).
    pub fn clear_code_pages(&mut self) {
        self.code_pages.clear();
        // an image is unchanged while it is here (a store would have
        // forgotten it): its pages stay code
        self.mark_image_pages();
    }

    /// Records that [`CodeImage::start`, `end`) holds a file's code,
    /// replacing any image it overlaps.
    pub fn add_code_image(&mut self, image: CodeImage) {
        if image.start >= image.end {
            return;
        }
        self.drop_images(image.start >> PAGE_SHIFT, image.end.div_ceil(PAGE_SIZE));
        self.code_images.push(image);
        self.mark_image_pages();
    }

    /// The image that holds `pc`, if any.
    pub fn code_image_at(&self, pc: u64) -> Option<&CodeImage> {
        self.code_images
            .iter()
            .find(|i| pc >= i.start && pc < i.end)
    }

    /// Cuts pages [lo, hi) out of the images (what is left of an image
    /// is still the file's code).
    fn drop_images(&mut self, lo: u64, hi: u64) {
        if self.code_images.is_empty() {
            return;
        }
        let (cut_lo, cut_hi) = (lo << PAGE_SHIFT, hi.saturating_mul(PAGE_SIZE));
        let mut kept = Vec::with_capacity(self.code_images.len());
        for i in self.code_images.drain(..) {
            if i.end <= cut_lo || i.start >= cut_hi {
                kept.push(i);
                continue;
            }
            if i.start < cut_lo {
                kept.push(CodeImage {
                    end: cut_lo,
                    ..i.clone()
                });
            }
            if i.end > cut_hi {
                kept.push(CodeImage {
                    start: cut_hi,
                    file_offset: i.file_offset + (cut_hi - i.start),
                    ..i
                });
            }
        }
        self.code_images = kept;
    }

    /// Marks the images' pages as code (so that stores to them are seen).
    fn mark_image_pages(&mut self) {
        let mut fresh = false;
        for i in &self.code_images {
            for vpn in (i.start >> PAGE_SHIFT)..i.end.div_ceil(PAGE_SIZE) {
                fresh |= self.code_pages.insert(vpn);
            }
        }
        if fresh {
            self.tlb_write.fill(EMPTY);
        }
    }

    /// Checks a naturally aligned atomic access and returns a fault for a
    /// misaligned one (Linux delivers SIGBUS).
    pub fn check_aligned(addr: u64, size: u64, access: Access) -> Result<(), MemFault> {
        if addr.is_multiple_of(size) {
            Ok(())
        } else {
            Err(MemFault {
                addr,
                access,
                cause: FaultCause::Misaligned,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_zero_pages_and_permissions() {
        let mut m = Memory::new();
        m.map(0x10000, 0x4000, Perm::RW);
        assert_eq!(m.read_u64(0x10008).unwrap(), 0);
        assert_eq!(
            m.resident_pages(),
            0,
            "reads of untouched pages allocate nothing"
        );
        m.write_u32(0x10ffe, 0xdead_beef).unwrap(); // crosses a page boundary
        assert_eq!(m.read_u32(0x10ffe).unwrap(), 0xdead_beef);
        assert_eq!(m.read_u16(0x11000).unwrap(), 0xdead);
        assert_eq!(m.resident_pages(), 2);
        let f = m.read_u8(0x14000).unwrap_err();
        assert_eq!(
            (f.addr, f.access, f.cause),
            (0x14000, Access::Load, FaultCause::Unmapped)
        );
        m.protect(0x10000, 0x1000, Perm::R);
        let f = m.write_u8(0x10000, 1).unwrap_err();
        assert_eq!(f.cause, FaultCause::Protection);
        // a store that straddles into a read-only page writes nothing
        m.protect(0x11000, 0x1000, Perm::R);
        m.protect(0x10000, 0x1000, Perm::RW);
        assert!(m.write_u32(0x10ffe, 0x1111_1111).is_err());
        assert_eq!(m.read_u32(0x10ffe).unwrap(), 0xdead_beef);
    }

    #[test]
    fn changing_a_range_forgets_its_tlb_entries_and_only_those() {
        let mut m = Memory::new();
        let a = 0x10000;
        let b = a + TLB_SIZE as u64 * PAGE_SIZE; // the same TLB index as `a`
        m.map(a, PAGE_SIZE, Perm::RW);
        m.map(b, PAGE_SIZE, Perm::RW);
        m.map(a + PAGE_SIZE, PAGE_SIZE, Perm::RW);
        m.write_u64(a, 1).unwrap(); // `a` in the write TLB
        m.write_u64(a + PAGE_SIZE, 3).unwrap();
        assert_eq!(m.read_u64(b).unwrap(), 0); // `b` in the read TLB
        m.unmap(b, PAGE_SIZE);
        assert!(m.read_u64(b).is_err());
        m.write_u64(a, 2).unwrap();
        assert_eq!(m.read_u64(a).unwrap(), 2);
        m.protect(a, PAGE_SIZE, Perm::R);
        assert_eq!(m.write_u8(a, 0).unwrap_err().cause, FaultCause::Protection);
        m.write_u64(a + PAGE_SIZE, 4).unwrap();
        // more pages than the TLB holds: every entry goes
        m.map(b, PAGE_SIZE * (TLB_SIZE as u64 + 1), Perm::R);
        m.unmap(a, b - a + PAGE_SIZE * (TLB_SIZE as u64 + 1));
        assert!(m.read_u64(a + PAGE_SIZE).is_err());
        assert!(m.read_u64(b).is_err());
    }

    #[test]
    fn unmap_and_regions_split_and_merge() {
        let mut m = Memory::new();
        m.map(0x10000, 0x10000, Perm::RW);
        m.write_u64(0x12000, 7).unwrap();
        m.unmap(0x12000, 0x1000);
        assert!(m.read_u8(0x12000).is_err());
        assert_eq!(m.regions().count(), 2);
        m.map(0x12000, 0x1000, Perm::RW);
        assert_eq!(m.read_u64(0x12000).unwrap(), 0, "remapped memory is zero");
        assert_eq!(m.regions().count(), 1, "equal neighbours merge");
        m.protect(0x13000, 0x2000, Perm::R);
        assert_eq!(
            m.regions().collect::<Vec<_>>(),
            vec![
                (0x10000, 0x13000, Perm::RW),
                (0x13000, 0x15000, Perm::R),
                (0x15000, 0x20000, Perm::RW)
            ]
        );
        assert_eq!(m.find_free(0x10000, 0x1000, 1 << 40), Some(0x20000));
        assert_eq!(m.find_free_below(0x20000, 0x1000, 0), Some(0xf000));
        assert_eq!(m.find_free_below(0x30000, 0x1000, 0), Some(0x2f000));
        m.unmap(0x11000, 0x1000);
        assert_eq!(m.find_free_below(0x20000, 0x1000, 0), Some(0x11000));
        assert_eq!(m.find_free_below(0x20000, 0x2000, 0x10000), None);
        assert_eq!(m.find_free(0x10000, 0x1000, 1 << 40), Some(0x11000));
        assert_eq!(m.find_free(0x10000, 0x2000, 1 << 40), Some(0x20000));
    }

    #[test]
    fn fork_is_copy_on_write() {
        let mut a = Memory::new();
        a.map(0x1000, 0x2000, Perm::RW);
        a.write_u64(0x1000, 1).unwrap();
        let mut b = a.fork();
        assert_eq!(b.read_u64(0x1000).unwrap(), 1);
        b.write_u64(0x1000, 2).unwrap();
        a.write_u64(0x1008, 3).unwrap();
        assert_eq!(a.read_u64(0x1000).unwrap(), 1);
        assert_eq!(b.read_u64(0x1000).unwrap(), 2);
        assert_eq!(b.read_u64(0x1008).unwrap(), 0);
        assert_eq!(a.read_u64(0x1008).unwrap(), 3);
    }

    #[test]
    fn huge_ranges_cost_what_is_resident() {
        let mut m = Memory::new();
        // a quarter of the address space: nothing is allocated, and
        // unmapping it again does not walk 64 Mi pages
        m.map(0x1000, 1 << 38, Perm::RW);
        m.write_u64(0x2000, 5).unwrap();
        m.protect(0x1000, 1 << 38, Perm::R);
        assert_eq!(m.read_u64(0x2000).unwrap(), 5);
        m.unmap(0, 1 << 39);
        assert_eq!(m.resident_pages(), 0);
        assert_eq!(m.regions().count(), 0);
    }

    #[test]
    fn unmapping_untouched_code_drops_it() {
        let mut m = Memory::new();
        m.map(0x1000, 0x2000, Perm::RX);
        m.fetch_u16(0x1000).unwrap(); // code on the (shared) zero page
        m.fetch_u16(0x2000).unwrap();
        m.unmap(0x1000, 0x1000);
        assert!(m.take_code_dirty());
        // and losing X drops every code page, not just the first
        m.protect(0x2000, 0x1000, Perm::R);
        assert!(m.take_code_dirty());
    }

    #[test]
    fn code_images_last_while_their_pages_hold_the_file_s_code() {
        let key = [7u8; 32];
        let image = |start, end, file_offset| CodeImage {
            start,
            end,
            file_offset,
            key,
        };
        let mut m = Memory::new();
        m.map(0x10000, 0x4000, Perm::RWX);
        m.add_code_image(image(0x10000, 0x14000, 0));
        assert_eq!(m.code_image_at(0x12345), Some(&image(0x10000, 0x14000, 0)));
        assert_eq!(m.code_image_at(0x14000), None);
        // fence.i forgets decoded code, not the image (nothing wrote it)
        m.clear_code_pages();
        assert!(m.code_image_at(0x10000).is_some());
        // a store into one page cuts that page out, and is noticed
        m.write_u8(0x11008, 1).unwrap();
        assert!(m.take_code_dirty());
        assert_eq!(m.code_image_at(0x11000), None);
        assert_eq!(m.code_image_at(0x10000), Some(&image(0x10000, 0x11000, 0)));
        assert_eq!(
            m.code_image_at(0x13000),
            Some(&image(0x12000, 0x14000, 0x2000))
        );
        // a fork keeps the images, and stores in the child are seen there
        let mut child = m.fork();
        assert!(child.code_image_at(0x12000).is_some());
        child.write_u8(0x12000, 1).unwrap();
        assert!(child.take_code_dirty());
        assert_eq!(child.code_image_at(0x12000), None);
        assert!(m.code_image_at(0x12000).is_some());
        // losing X, or an unmap, forgets what it covers
        m.protect(0x13000, 0x1000, Perm::RW);
        assert_eq!(m.code_image_at(0x13000), None);
        assert!(m.code_image_at(0x12000).is_some());
        m.unmap(0x10000, 0x4000);
        assert_eq!(m.code_image_at(0x10000), None);
        assert_eq!(m.code_image_at(0x12000), None);
    }

    #[test]
    fn stores_to_code_pages_are_noticed() {
        let mut m = Memory::new();
        m.map(0x1000, 0x1000, Perm::RWX);
        m.write_u32(0x1000, 0x13).unwrap();
        assert_eq!(m.fetch_u16(0x1000).unwrap(), 0x13);
        assert!(!m.take_code_dirty());
        m.write_u32(0x1004, 0x13).unwrap();
        assert!(m.take_code_dirty());
        assert!(!m.take_code_dirty());
        // execute permission is checked on fetch
        m.protect(0x1000, 0x1000, Perm::RW);
        assert_eq!(
            m.fetch_u16(0x1000).unwrap_err().cause,
            FaultCause::Protection
        );
    }
}

#[cfg(test)]
mod shared_tests {
    use super::*;

    #[test]
    fn shared_mappings_stay_apart_from_private_neighbours() {
        let mut m = Memory::new();
        m.map(0x10000, 0x2000, Perm::RW);
        m.map_shared(0xe000, 0x2000, Perm::RW);
        m.map_shared(0x12000, 0x1000, Perm::RW);
        assert!(!m.is_shared(0x10000) && !m.is_shared(0x11000));
        assert!(m.is_shared(0xe000) && m.is_shared(0x12000));
        m.write_u32(0x10000, 1).unwrap();
        m.write_u32(0xe000, 2).unwrap();
        let mut child = m.fork();
        child.write_u32(0x10000, 10).unwrap();
        child.write_u32(0xe000, 20).unwrap();
        m.write_u32(0x12000, 30).unwrap();
        assert_eq!(m.read_u32(0x10000).unwrap(), 1, "private: copied on write");
        assert_eq!(
            m.read_u32(0xe000).unwrap(),
            20,
            "shared: the child's write shows"
        );
        assert_eq!(child.read_u32(0x12000).unwrap(), 30, "shared both ways");
    }
}

#[cfg(test)]
mod move_tests {
    use super::*;

    #[test]
    fn move_range_carries_pages_without_copying_the_span() {
        let mut m = Memory::new();
        // a huge mapping with two touched pages: moving it costs two pages
        m.map(0x1000_0000, 1 << 40, Perm::RW);
        m.write_u64(0x1000_0000, 7).unwrap();
        m.write_u64(0x1000_0000 + (1 << 39), 9).unwrap();
        m.move_range(0x1000_0000, 0x200_0000_0000, 1 << 40);
        assert!(m.read_u64(0x1000_0000).is_err());
        assert_eq!(m.read_u64(0x200_0000_0000).unwrap(), 7);
        assert_eq!(m.read_u64(0x200_0000_0000 + (1 << 39)).unwrap(), 9);
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    /// Pages are charged to the thread's memory budget as they are
    /// touched and copied, and a page past the limit is a fault naming
    /// it, not a host allocation.
    #[test]
    fn pages_past_the_memory_limit_fault() {
        std::thread::spawn(|| {
            let mut m = Memory::new();
            let base = friscy_budget::used();
            friscy_budget::set_limit(Some(base + 8 * PAGE_SIZE));
            m.map(0x10000, 64 * PAGE_SIZE, Perm::RW);
            // reads of untouched pages cost nothing
            for i in 0..64 {
                assert_eq!(m.read_u64(0x10000 + i * PAGE_SIZE).unwrap(), 0);
            }
            for i in 0..8 {
                m.write_u64(0x10000 + i * PAGE_SIZE, i).unwrap();
            }
            let f = m.write_u64(0x10000 + 8 * PAGE_SIZE, 1).unwrap_err();
            assert_eq!(f.cause, FaultCause::OutOfMemory);
            assert_eq!(f.addr, 0x10000 + 8 * PAGE_SIZE);
            // a multi-page write is refused before any of it is written
            let f = m
                .write_bytes(0x10000 + 7 * PAGE_SIZE, &[9u8; 8192])
                .unwrap_err();
            assert_eq!(f.cause, FaultCause::OutOfMemory);
            // a fork shares its pages; the first write to one copies it
            let mut child = m.fork();
            let f = child.write_u64(0x10000, 5).unwrap_err();
            assert_eq!(f.cause, FaultCause::OutOfMemory);
            drop(child);
            // unmapping gives the room back
            m.unmap(0x10000, 4 * PAGE_SIZE);
            m.write_u64(0x10000 + 8 * PAGE_SIZE, 1).unwrap();
            drop(m);
            assert_eq!(friscy_budget::used(), 0);
        })
        .join()
        .unwrap();
    }
}
