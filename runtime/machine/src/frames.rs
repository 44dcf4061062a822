//! Host memory for guest pages: 4 KiB frames carved out of large chunks.
//!
//! Allocating each guest page on its own (a 4 KiB block from the general
//! allocator, behind a reference count header) scatters guest memory over
//! the host's address space and puts most pages across two host pages, so a
//! program that walks a few MiB of data misses the host's data TLB on
//! nearly every access. Frames instead come from chunks of [`CHUNK`] bytes
//! aligned to their size: pages the guest touches in sequence sit side by
//! side in host memory, each frame is exactly one host page, and on Linux
//! the chunk is offered to the kernel for transparent huge pages, so one
//! host TLB entry covers a whole chunk. (Measured with `scripts/bench
//! --kernel hashmap`: see docs/machine.md.)
//!
//! The pool is per thread (guest memory is used by one host thread). A
//! freed frame goes on a free list and is zeroed when handed out again;
//! fresh chunks come zeroed from the allocator. Chunks are kept for the
//! life of the thread (the pool is a high-water mark of guest memory).

use std::alloc::Layout;
use std::cell::RefCell;
use std::ptr::NonNull;

use crate::memory::PAGE_SIZE;

/// Bytes per chunk: one huge page on x86-64 and riscv64 hosts; less on
/// wasm32, where memory only grows and small programs should stay small.
#[cfg(not(target_arch = "wasm32"))]
const CHUNK: usize = 2 << 20;
#[cfg(target_arch = "wasm32")]
const CHUNK: usize = 256 << 10;

const FRAME: usize = PAGE_SIZE as usize;

struct Pool {
    free: Vec<NonNull<u8>>,
    /// The unused tail of the newest chunk.
    next: *mut u8,
    left: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const {
        RefCell::new(Pool {
            free: Vec::new(),
            next: std::ptr::null_mut(),
            left: 0,
        })
    };
}

impl Pool {
    fn take(&mut self) -> NonNull<u8> {
        if let Some(f) = self.free.pop() {
            // SAFETY: a frame on the free list is FRAME bytes of a live
            // chunk that nothing else references any more.
            unsafe { f.as_ptr().write_bytes(0, FRAME) };
            return f;
        }
        if self.left == 0 {
            let chunk = new_chunk();
            self.next = chunk.as_ptr();
            self.left = CHUNK;
        }
        let f = self.next;
        self.left -= FRAME;
        // SAFETY: `left` was at least FRAME, so the new `next` stays inside
        // (or one past the end of) the chunk.
        self.next = unsafe { f.add(FRAME) };
        // SAFETY: `f` points into a chunk, which is never null.
        unsafe { NonNull::new_unchecked(f) }
    }
}

/// A new zero-filled chunk of CHUNK bytes aligned to CHUNK.
#[cfg(target_os = "linux")]
fn new_chunk() -> NonNull<u8> {
    use rustix::mm::{Advice, MapFlags, ProtFlags, madvise, mmap_anonymous};
    // Twice the size, so an aligned chunk fits; the rest is never touched
    // (anonymous memory costs nothing until written).
    // SAFETY: a fresh private anonymous mapping aliases nothing.
    let raw = unsafe {
        mmap_anonymous(
            std::ptr::null_mut(),
            2 * CHUNK,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE | MapFlags::NORESERVE,
        )
    };
    let Ok(raw) = raw else {
        std::alloc::handle_alloc_error(Layout::from_size_align(CHUNK, CHUNK).expect("valid layout"))
    };
    let skip = (CHUNK - (raw as usize) % CHUNK) % CHUNK;
    // SAFETY: skip < CHUNK, so the aligned chunk lies inside the mapping.
    let p = unsafe { raw.cast::<u8>().add(skip) };
    // SAFETY: the range is inside the mapping just made, which nothing
    // else uses; the advice (back it with huge pages) never changes its
    // contents. Failure (a kernel without THP) is harmless.
    let _ = unsafe { madvise(p.cast(), CHUNK, Advice::LinuxHugepage) };
    // SAFETY: mmap never returns null on success.
    unsafe { NonNull::new_unchecked(p) }
}

/// A new zero-filled chunk of CHUNK bytes aligned to CHUNK.
#[cfg(not(target_os = "linux"))]
fn new_chunk() -> NonNull<u8> {
    let layout = Layout::from_size_align(CHUNK, CHUNK).expect("chunk layout is valid");
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    match NonNull::new(p) {
        Some(p) => p,
        None => std::alloc::handle_alloc_error(layout),
    }
}

/// A zero-filled frame of PAGE_SIZE bytes, aligned to PAGE_SIZE, owned by
/// the caller until it is given back with [`release`]; charged to the
/// thread's memory budget whatever its limit.
pub(crate) fn alloc() -> NonNull<u8> {
    friscy_budget::charge(FRAME as u64);
    POOL.with(|p| p.borrow_mut().take())
}

/// As [`alloc`], but `None` when the frame would take the thread past its
/// memory budget's limit.
pub(crate) fn try_alloc() -> Option<NonNull<u8>> {
    friscy_budget::try_charge(FRAME as u64).then(|| POOL.with(|p| p.borrow_mut().take()))
}

/// Gives a frame from [`alloc`] back to this thread's pool.
///
/// If the thread's pool is already gone (thread exit), the frame is simply
/// not reused.
pub(crate) fn release(frame: NonNull<u8>) {
    let _ = POOL.try_with(|p| p.borrow_mut().free.push(frame));
    friscy_budget::release(FRAME as u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_aligned_distinct_and_zeroed_when_reused() {
        let a = alloc();
        let b = alloc();
        assert_ne!(a, b);
        for f in [a, b] {
            assert_eq!(f.as_ptr() as usize % FRAME, 0);
        }
        // SAFETY: `a` is a live frame of FRAME bytes owned by this test.
        unsafe { a.as_ptr().write_bytes(0xa5, FRAME) };
        release(a);
        let c = alloc();
        assert_eq!(c, a, "a freed frame is reused first");
        // SAFETY: `c` is a live frame of FRAME bytes owned by this test.
        let bytes = unsafe { std::slice::from_raw_parts(c.as_ptr(), FRAME) };
        assert!(bytes.iter().all(|&x| x == 0));
        release(b);
        release(c);
    }
}
