//! friscy's RV64GC machine: hart state, guest memory, and an interpreter
//! over decoded blocks. It knows nothing of Linux: [`CodeCache::run`]
//! returns to its caller on `ecall`, on a fault, on an illegal instruction
//! and when its instruction budget runs out.
//!
//! Builds for `wasm32-unknown-unknown` as well as natively.

pub mod aot;
pub mod fp;
mod frames;
pub mod hart;
pub mod interp;
pub mod memory;

/// Maps and sets keyed by guest addresses and page numbers, which the
/// run loop and a TLB miss look up: hashed with foldhash's fast fixed
/// hasher, not std's SipHash (a guest that makes its own addresses collide
/// slows only itself).
pub(crate) type AddrMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
pub(crate) type AddrSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;

pub use hart::{Exit, Hart, TIMEBASE_HZ};
pub use interp::{CodeCache, Dispatch};
pub use memory::{Access, CodeImage, FaultCause, MemFault, Memory, PAGE_SIZE, Perm, SharedPage};
