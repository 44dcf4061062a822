//! friscy's RISC-V instruction set: RV64GC with Zba, Zbb, Zbs, Zicond,
//! Zicsr and Zifencei.
//!
//! [`table`] is the single source of truth; [`decode`] turns encodings into
//! [`Inst`]s, [`disasm`] prints them. No I/O, no dependencies: this crate
//! builds for `wasm32-unknown-unknown` as well as natively.

pub mod compressed;
pub mod decode;
pub mod disasm;
pub mod table;

pub use compressed::COp;
pub use decode::{DecodeError, Inst, decode, length};
pub use disasm::disassemble;
pub use table::{Ext, Format, Op};
