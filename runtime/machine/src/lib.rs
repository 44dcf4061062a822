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

pub use hart::{Exit, Hart, TIMEBASE_HZ};
pub use interp::{CodeCache, Dispatch};
pub use memory::{Access, CodeImage, FaultCause, MemFault, Memory, PAGE_SIZE, Perm, SharedPage};
