//! The memory budget of the thread that runs a container: the bytes its
//! guest memory pages (`friscy-machine`) and its in-memory files
//! (`friscy-vfs`) hold, counted against one limit (`friscy run -m`, the
//! page's limit). Both crates charge here, so one limit covers both, as a
//! cgroup's covers a container's anonymous memory and tmpfs.
//!
//! Per thread, because one host thread runs a whole container (its
//! memory and files are never shared with another thread); no limit is
//! set until [`set_limit`] is called, so tools that build file systems
//! (the converter, tests) are not bounded.

use std::cell::Cell;

thread_local! {
    static USED: Cell<u64> = const { Cell::new(0) };
    static LIMIT: Cell<u64> = const { Cell::new(u64::MAX) };
}

/// Sets this thread's limit in bytes (`None`: no limit).
pub fn set_limit(limit: Option<u64>) {
    LIMIT.with(|l| l.set(limit.unwrap_or(u64::MAX)));
}

/// This thread's limit, if one is set.
pub fn limit() -> Option<u64> {
    LIMIT.with(|l| Some(l.get()).filter(|&v| v != u64::MAX))
}

/// Bytes charged on this thread.
pub fn used() -> u64 {
    USED.with(Cell::get)
}

/// Bytes that may still be charged before the limit.
pub fn room() -> u64 {
    LIMIT.with(|l| l.get()).saturating_sub(used())
}

/// Charges `n` bytes if they fit under the limit; false (nothing
/// charged) if they do not.
pub fn try_charge(n: u64) -> bool {
    USED.with(|u| {
        let want = u.get().saturating_add(n);
        if want > LIMIT.with(|l| l.get()) {
            return false;
        }
        u.set(want);
        true
    })
}

/// Charges `n` bytes whatever the limit (memory that must exist: the next
/// fallible charge then fails).
pub fn charge(n: u64) {
    USED.with(|u| u.set(u.get().saturating_add(n)));
}

/// Gives back `n` charged bytes.
pub fn release(n: u64) {
    USED.with(|u| u.set(u.get().saturating_sub(n)));
}

/// `n` bytes for messages: `512 MiB`, `1.5 GiB`.
pub fn describe(n: u64) -> String {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    if n >= GIB && n.is_multiple_of(GIB) {
        format!("{} GiB", n / GIB)
    } else if n >= GIB {
        format!("{:.1} GiB", n as f64 / GIB as f64)
    } else if n >= MIB {
        format!("{} MiB", n / MIB)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_stop_at_the_limit_and_release_frees_room() {
        // a fresh thread: its own budget
        std::thread::spawn(|| {
            assert_eq!(limit(), None);
            assert!(try_charge(1 << 40));
            release(1 << 40);
            set_limit(Some(100));
            assert!(try_charge(60));
            assert!(!try_charge(41));
            assert_eq!(used(), 60);
            assert!(try_charge(40));
            assert_eq!(room(), 0);
            charge(10);
            assert_eq!(used(), 110);
            assert!(!try_charge(1));
            release(50);
            assert_eq!(room(), 40);
            release(1000);
            assert_eq!(used(), 0);
            set_limit(None);
            assert_eq!(limit(), None);
        })
        .join()
        .unwrap();
        assert_eq!(describe(512 << 20), "512 MiB");
        assert_eq!(describe(3 << 29), "1.5 GiB");
        assert_eq!(describe(2 << 30), "2 GiB");
    }
}
