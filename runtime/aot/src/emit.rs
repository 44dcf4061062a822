//! Emitting a region as a wasm module (see the crate docs and
//! `crate::abi`).
//!
//! The function is a loop around a `br_table` over the blocks it can be
//! entered at, laid out as [`crate::layout`] says:
//!
//! ```text
//! block $out                 ;; the epilogue follows it
//!   block $site              ;; decoding a site exit follows it
//!     loop $next
//!       block $bN-1 … block $b0
//!         br_table $b0 … $bN-1 (local.get $block)
//!       end  ;; block 0's code, ending in a branch
//!       …
//!       end  ;; a loop's header:
//!       loop $h
//!         block … (the loop's other blocks)
//!         ;; the header's code; going round is `br $h`
//!       end
//!       …
//!     end
//!   end
//! end
//! ;; write back the registers the region writes, the count; return $exit
//! ```

use friscy_isa::decode::{
    CSR_FCSR, CSR_FFLAGS, CSR_FRM, FFLAG_NX, FFLAGS_MASK, FRM_MASK, FRM_SHIFT, RM_DYN, RM_RNE,
};
use friscy_isa::table::{Ext, Format};
use friscy_isa::{Inst, Op};
use wasm_encoder::{
    BlockType, BranchHint, BranchHints, CodeSection, ConstExpr, CustomSection, ElementSection,
    Elements, EntityType, ExportKind, ExportSection, Function, FunctionSection, GlobalSection,
    GlobalType, ImportSection, InstructionSink, MemArg, MemoryType, Module, RefType, TableType,
    TypeSection, ValType,
};

use crate::abi::{self, Exit};

mod float;
mod memory;
use crate::layout::Layout;
use crate::region::{Block, Region, Term};

/// Whether `inst` is translated (into wasm of its own, or as a call of the
/// interpreter's `exec` helper: see [`helped`]).
pub fn supported(inst: &Inst) -> bool {
    native(inst.op) || helped(inst.op) || fp_csr(inst)
}

/// Whether `op` is translated as a call of the `exec` helper, which has
/// the interpreter run it for the translated code (its reservations and
/// memory order, its rounding, flags and NaNs are the interpreter's,
/// exactly): atomics, and floating point where [`Emitter::float`] has no
/// fast path or its fast path does not apply. A call costs far more than
/// the interpreter's own dispatch (nbody under node, every FP instruction
/// through the helper: 223 s; leaving translated code at each: 6.9 s;
/// interpreted: 4.9 s), so the common cases have fast paths.
pub fn helped(op: Op) -> bool {
    matches!(op.desc().ext, Ext::A | Ext::F | Ext::D)
}

/// A CSR instruction on `fflags`, `frm` or `fcsr` (the counters stay with
/// the interpreter, whose `instret` is exact).
fn fp_csr(inst: &Inst) -> bool {
    matches!(
        inst.op,
        Op::Csrrw | Op::Csrrs | Op::Csrrc | Op::Csrrwi | Op::Csrrsi | Op::Csrrci
    ) && matches!(inst.imm as u16 & 0xfff, CSR_FFLAGS | CSR_FRM | CSR_FCSR)
}

/// The integer registers a helped instruction reads (`rs1`, `rs2`) and
/// whether it writes `rd` as an integer register.
fn helped_operands(op: Op) -> (bool, bool, bool) {
    match op.format() {
        Format::FLoad | Format::FStore | Format::FUnaryFX | Format::FMvFX => (true, false, false),
        Format::FCmp | Format::FUnaryXF | Format::FMvXF => (false, false, true),
        Format::Amo => (true, true, true),
        Format::Lr => (true, false, true),
        _ => (false, false, false),
    }
}

/// Whether `op` is translated into wasm of its own.
fn native(op: Op) -> bool {
    use Op::*;
    matches!(
        op,
        Lui | Auipc
            | Jal
            | Jalr
            | Beq
            | Bne
            | Blt
            | Bge
            | Bltu
            | Bgeu
            | Lb
            | Lh
            | Lw
            | Ld
            | Lbu
            | Lhu
            | Lwu
            | Sb
            | Sh
            | Sw
            | Sd
            | Addi
            | Slti
            | Sltiu
            | Xori
            | Ori
            | Andi
            | Slli
            | Srli
            | Srai
            | Add
            | Sub
            | Sll
            | Slt
            | Sltu
            | Xor
            | Srl
            | Sra
            | Or
            | And
            | Addiw
            | Slliw
            | Srliw
            | Sraiw
            | Addw
            | Subw
            | Sllw
            | Srlw
            | Sraw
            | Fence
            | Mul
            | Mulh
            | Mulhsu
            | Mulhu
            | Div
            | Divu
            | Rem
            | Remu
            | Mulw
            | Divw
            | Divuw
            | Remw
            | Remuw
            | Sh1add
            | Sh2add
            | Sh3add
            | AddUw
            | Sh1addUw
            | Sh2addUw
            | Sh3addUw
            | SlliUw
            | Andn
            | Orn
            | Xnor
            | Clz
            | Ctz
            | Cpop
            | Clzw
            | Ctzw
            | Cpopw
            | Max
            | Maxu
            | Min
            | Minu
            | SextB
            | SextH
            | ZextH
            | Rol
            | Ror
            | Rolw
            | Rorw
            | Rori
            | Roriw
            | Rev8
            | Bclr
            | Bext
            | Binv
            | Bset
            | Bclri
            | Bexti
            | Binvi
            | Bseti
            | CzeroEqz
            | CzeroNez
    )
}

// Function indices: the three imported helpers, then the regions.
const F_LOAD: u32 = 0;
const F_STORE: u32 = 1;
const F_EXEC: u32 = 2;
const F_RUN: u32 = 3;
/// The imported global: what to add to the region's addresses (the load
/// bias of a position-independent file; 0 for code translated in place).
const G_BASE: u32 = 0;
/// The type of `run` (and of every linked region in the table).
const T_RUN: u32 = 2;
/// The type of `install`.
const T_INSTALL: u32 = 4;
/// The module's own global: how many functions it holds.
const G_FUNCTIONS: u32 = 1;

// Locals: the parameter, x1..x31, then these.
const L_STATE: u32 = 0;
const L_BLOCK: u32 = 32;
const L_EXIT: u32 = 33;
const L_TLBR: u32 = 34;
const L_TLBW: u32 = 35;
const L_E: u32 = 36;
/// What is left of the budget (instructions the code may still retire;
/// each block takes its own off when it ends).
const L_LEFT: u32 = 37;
const L_ADDR: u32 = 38;
const L_T1: u32 = 39;
const L_T2: u32 = 40;
const L_T3: u32 = 41;
const L_T4: u32 = 42;
const L_LINKS: u32 = 43;
/// A site exit (see [`Emitter::leave`]): where, how many retired, why.
const L_SITE: u32 = 44;
/// The address of the hart's `fflags` (`abi::FFLAGS`).
const L_FFLAGS: u32 = 45;
/// The address of the hart's registers (`abi::REGS`).
const L_REGS: u32 = 46;
/// Floating-point temporaries.
const L_F1: u32 = 47;
const L_F2: u32 = 48;

/// A site exit packs the pc's offset from the function's first pc (signed,
/// in the bits above [`SITE_PC_SHIFT`]), the instructions of the block
/// retired before it (in the bits above [`SITE_DONE_SHIFT`], at most
/// [`SITE_DONE_MAX`]) and the [`Exit`] (the low bits) into one `i32`:
/// a few bytes a site instead of the two dozen that compute and store
/// the pc (module size is most of what translation costs: download,
/// compile time).
const SITE_PC_SHIFT: u32 = 16;
const SITE_DONE_SHIFT: u32 = 3;
const SITE_DONE_MAX: usize = (1 << (SITE_PC_SHIFT - SITE_DONE_SHIFT)) - 1;

fn mem(offset: u32, align: u32) -> MemArg {
    MemArg {
        offset: u64::from(offset),
        align,
        memory_index: 0,
    }
}

/// The module holding one function per region, each laid out as its
/// [`Layout`] says, `functions[k]` put at `slot + k` by the exported
/// `install(slot)` (see `abi`), and `map` (if any, with the functions'
/// sizes filled in) as its first section, the custom section named
/// [`abi::CUSTOM_SECTION`].
pub fn module(functions: &[(Region, Layout)], map: Option<&mut abi::CodeMap>) -> Vec<u8> {
    let bodies: Vec<(Vec<u8>, Vec<BranchHint>)> = functions
        .iter()
        .map(|(region, layout)| run_function(region, layout))
        .collect();
    let mut m = Module::new();
    if let Some(map) = map {
        map.sizes = bodies.iter().map(|(f, _)| f.len() as u32).collect();
        m.section(&CustomSection {
            name: abi::CUSTOM_SECTION.into(),
            data: map.encode().into(),
        });
    }
    let mut types = TypeSection::new();
    types
        .ty()
        .function([ValType::I32, ValType::I64, ValType::I32], [ValType::I64]);
    types
        .ty()
        .function([ValType::I32, ValType::I64, ValType::I64, ValType::I32], []);
    types.ty().function([ValType::I32], [ValType::I32]);
    types.ty().function([ValType::I32, ValType::I64], []);
    types.ty().function([ValType::I32], []);
    m.section(&types);
    let mut imports = ImportSection::new();
    imports.import(
        abi::IMPORT_MODULE,
        abi::IMPORT_MEMORY,
        EntityType::Memory(MemoryType {
            minimum: 0,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        }),
    );
    imports.import(
        abi::IMPORT_MODULE,
        abi::IMPORT_LOAD,
        EntityType::Function(0),
    );
    imports.import(
        abi::IMPORT_MODULE,
        abi::IMPORT_STORE,
        EntityType::Function(1),
    );
    imports.import(
        abi::IMPORT_MODULE,
        abi::IMPORT_EXEC,
        EntityType::Function(3),
    );
    imports.import(
        abi::IMPORT_MODULE,
        abi::IMPORT_TABLE,
        EntityType::Table(TableType {
            element_type: RefType::FUNCREF,
            table64: false,
            minimum: 0,
            maximum: None,
            shared: false,
        }),
    );
    imports.import(
        abi::IMPORT_MODULE,
        abi::IMPORT_BASE,
        EntityType::Global(GlobalType {
            val_type: ValType::I64,
            mutable: false,
            shared: false,
        }),
    );
    m.section(&imports);
    let n = functions.len() as u32;
    let mut funcs = FunctionSection::new();
    for _ in functions {
        funcs.function(T_RUN);
    }
    funcs.function(T_INSTALL);
    m.section(&funcs);
    let mut globals = GlobalSection::new();
    globals.global(
        GlobalType {
            val_type: ValType::I32,
            mutable: false,
            shared: false,
        },
        &ConstExpr::i32_const(n as i32),
    );
    m.section(&globals);
    // no function is exported (see `abi`): the count, and what installs them
    let mut exports = ExportSection::new();
    exports.export(abi::EXPORT_FUNCTIONS, ExportKind::Global, G_FUNCTIONS);
    exports.export(abi::EXPORT_INSTALL, ExportKind::Func, F_RUN + n);
    m.section(&exports);
    let all: Vec<u32> = (F_RUN..F_RUN + n).collect();
    let mut elements = ElementSection::new();
    elements.passive(Elements::Functions(all.into()));
    m.section(&elements);
    // V8 reads branch hints only before the code
    let mut hints = BranchHints::new();
    for (k, (_, h)) in bodies.iter().enumerate() {
        if !h.is_empty() {
            hints.function_hints(F_RUN + k as u32, h.iter().copied());
        }
    }
    if !hints.is_empty() {
        m.section(&hints);
    }
    let mut code = CodeSection::new();
    for (body, _) in &bodies {
        code.raw(body);
    }
    let mut install = Function::new([]);
    install
        .instructions()
        .local_get(0)
        .i32_const(0)
        .i32_const(n as i32)
        .table_init(0, 0)
        .end();
    code.function(&install);
    m.section(&code);
    m.finish()
}

/// Which of `inst`'s register fields (`rs1`, `rs2`, `rd`) may name
/// integer registers (a field that is not a register at all counts: a
/// register loaded for nothing costs a load, never an answer).
fn integer_operands(inst: &Inst) -> (bool, bool, bool) {
    match inst.op.desc().ext {
        Ext::F | Ext::D => helped_operands(inst.op),
        _ if matches!(inst.op, Op::Csrrwi | Op::Csrrsi | Op::Csrrci) => (false, false, true),
        _ => (true, true, true),
    }
}

/// Which integer registers the region reads and writes.
fn registers(region: &Region) -> ([bool; 32], [bool; 32]) {
    let mut read = [false; 32];
    let mut written = [false; 32];
    for b in &region.blocks {
        for (_, i) in &b.insts {
            let (rs1, rs2, rd) = integer_operands(i);
            read[usize::from(i.rs1 & 31)] |= rs1;
            read[usize::from(i.rs2 & 31)] |= rs2;
            written[usize::from(i.rd & 31)] |= rd;
        }
    }
    read[0] = false;
    written[0] = false;
    (read, written)
}

/// A region's function body (its locals and code) and its branch hints.
fn run_function(region: &Region, layout: &Layout) -> (Vec<u8>, Vec<BranchHint>) {
    let mut body = Function::new([
        (31, ValType::I64),
        (5, ValType::I32),
        (6, ValType::I64),
        (4, ValType::I32),
        (2, ValType::F64),
    ])
    .into_raw_body();
    let (read, written) = registers(region);
    let mut s = InstructionSink::new(&mut body);
    // the registers the region uses, the TLBs, the budget
    s.local_get(L_STATE)
        .i32_load(mem(abi::REGS, 2))
        .local_set(L_REGS);
    for r in 1..32u32 {
        if read[r as usize] || written[r as usize] {
            s.local_get(L_REGS).i64_load(mem(r * 8, 3)).local_set(r);
        }
    }
    s.local_get(L_STATE)
        .i32_load(mem(abi::TLB_READ, 2))
        .local_set(L_TLBR)
        .local_get(L_STATE)
        .i32_load(mem(abi::TLB_WRITE, 2))
        .local_set(L_TLBW)
        .local_get(L_STATE)
        .i64_load(mem(abi::BUDGET, 3))
        .local_set(L_LEFT)
        .local_get(L_STATE)
        .i32_load(mem(abi::LINK_TABLE, 2))
        .local_set(L_LINKS)
        .local_get(L_STATE)
        .i32_load(mem(abi::BLOCK, 2))
        .local_set(L_BLOCK)
        .local_get(L_STATE)
        .i32_load(mem(abi::FFLAGS, 2))
        .local_set(L_FFLAGS);
    let first = region.blocks[0].start;
    let mut e = Emitter {
        body: &mut body,
        hints: Vec::new(),
        region,
        layout,
        labels: Vec::new(),
        first,
    };
    // $out, $site, then the dispatch loop around the blocks
    e.open(Label::Out, Open::Block);
    e.open(Label::Site, Open::Block);
    e.open(Label::Dispatch, Open::Loop);
    // a label for each entry: its code starts where the label ends
    let entries: Vec<usize> = (layout.order.iter().copied())
        .filter(|&k| layout.entries[k].is_some())
        .collect();
    for &k in entries.iter().rev() {
        e.open(Label::Start(k), Open::Block);
    }
    e.s()
        .local_get(L_BLOCK)
        .br_table(0..layout.entry_count(), 0);
    for (at, &k) in layout.order.iter().enumerate() {
        e.close(Label::Start(k));
        if let Some(last) = layout.loop_at(at) {
            e.open(Label::Loop(k), Open::Loop);
            for &j in layout.order[at + 1..=last].iter().rev() {
                e.open(Label::Start(j), Open::Block);
            }
        }
        e.block(&region.blocks[k]);
        if let Some(&(h, _)) = layout.loops.iter().find(|(_, t)| *t == at) {
            e.close(Label::Loop(layout.order[h]));
        }
    }
    // the last block's code ends the dispatch loop and $site
    e.close(Label::Dispatch);
    e.close(Label::Site);
    debug_assert_eq!(e.labels, [Label::Out]);
    // a site exit: the pc from the function's first one, the instructions
    // retired, the exit
    e.s()
        .local_get(L_STATE)
        .i64_const(first as i64)
        .global_get(G_BASE)
        .i64_add()
        .local_get(L_SITE)
        .i32_const(SITE_PC_SHIFT as i32)
        .i32_shr_s()
        .i64_extend_i32_s()
        .i64_add()
        .i64_store(mem(abi::PC, 3))
        .local_get(L_LEFT)
        .local_get(L_SITE)
        .i32_const(SITE_DONE_SHIFT as i32)
        .i32_shr_u()
        .i32_const(SITE_DONE_MAX as i32)
        .i32_and()
        .i64_extend_i32_u()
        .i64_sub()
        .local_set(L_LEFT)
        .local_get(L_SITE)
        .i32_const((1 << SITE_DONE_SHIFT) - 1)
        .i32_and()
        .local_set(L_EXIT);
    e.close(Label::Out);
    // the epilogue
    for r in 1..32u32 {
        if written[r as usize] {
            e.s()
                .local_get(L_REGS)
                .local_get(r)
                .i64_store(mem(r * 8, 3));
        }
    }
    // retired: the budget it was given less what is left
    e.s()
        .local_get(L_STATE)
        .local_get(L_STATE)
        .i64_load(mem(abi::EXECUTED, 3))
        .local_get(L_STATE)
        .i64_load(mem(abi::BUDGET, 3))
        .local_get(L_LEFT)
        .i64_sub()
        .i64_add()
        .i64_store(mem(abi::EXECUTED, 3));
    // going on at a pc another linked region starts at: go there directly
    // (a tail call), with what is left of the budget, if any is
    e.s()
        .local_get(L_EXIT)
        .i32_eqz()
        .local_get(L_LEFT)
        .i64_const(0)
        .i64_gt_s()
        .i32_and();
    e.if_likely(BlockType::Empty, true);
    e.s()
        .local_get(L_STATE)
        .i64_load(mem(abi::PC, 3))
        .local_tee(L_T1)
        .i64_const(1)
        .i64_shr_u()
        .i32_wrap_i64()
        .i32_const((abi::LINKS - 1) as i32)
        .i32_and()
        .i32_const(abi::LINK_ENTRY.trailing_zeros() as i32)
        .i32_shl()
        .local_get(L_LINKS)
        .i32_add()
        .local_tee(L_E)
        .i64_load(mem(0, 3))
        .local_get(L_T1)
        .i64_eq();
    e.if_likely(BlockType::Empty, true);
    e.s()
        .local_get(L_STATE)
        .local_get(L_LEFT)
        .i64_store(mem(abi::BUDGET, 3))
        .local_get(L_STATE)
        .local_get(L_E)
        .i32_load(mem(abi::LINK_BLOCK, 2))
        .i32_store(mem(abi::BLOCK, 2))
        .local_get(L_STATE)
        .local_get(L_E)
        .i32_load(mem(abi::LINK_SLOT, 2))
        .return_call_indirect(0, T_RUN);
    e.end_if();
    e.end_if();
    debug_assert!(e.labels.is_empty());
    e.s().local_get(L_EXIT).end();
    let hints = e.hints;
    (body, hints)
}

/// A wasm label the emitter branches to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    /// Around everything: the epilogue follows it.
    Out,
    /// Around the dispatch: the code that decodes a site exit follows it.
    Site,
    /// The loop around the blocks: a branch here dispatches on `L_BLOCK`.
    Dispatch,
    /// Ends where block `k`'s code starts.
    Start(usize),
    /// The wasm loop whose header is block `k`: a branch goes round.
    Loop(usize),
    /// An `if` inside a block's code.
    If,
}

/// How a label opens.
enum Open {
    Block,
    Loop,
}

struct Emitter<'a> {
    /// The function's body so far (its locals, then its code).
    body: &'a mut Vec<u8>,
    /// Which way its `if`s usually go, for V8 (see [`Emitter::if_likely`]).
    hints: Vec<BranchHint>,
    region: &'a Region,
    layout: &'a Layout,
    /// The labels open at this point, innermost last.
    labels: Vec<Label>,
    /// The function's first pc (site exits are relative to it).
    first: u64,
}

impl Emitter<'_> {
    /// Appends to the body.
    fn s(&mut self) -> InstructionSink<'_> {
        InstructionSink::new(self.body)
    }

    fn open(&mut self, label: Label, how: Open) {
        match how {
            Open::Block => self.s().block(BlockType::Empty),
            Open::Loop => self.s().loop_(BlockType::Empty),
        };
        self.labels.push(label);
    }

    /// Ends `label`, the innermost one open.
    fn close(&mut self, label: Label) {
        let top = self.labels.pop();
        debug_assert_eq!(top, Some(label), "labels close innermost first");
        self.s().end();
    }

    /// Opens an `if` (on the condition on the stack).
    fn if_(&mut self) {
        self.s().if_(BlockType::Empty);
        self.labels.push(Label::If);
    }

    /// Opens an `if` of type `ty` whose condition is almost always `taken`
    /// (a TLB hit, a fast path) or almost never (a fault, the budget run
    /// out): a branch hint, by which TurboFan lays the other arm out of
    /// line and keeps spills and moves for the helper call there, off the
    /// path taken.
    fn if_likely(&mut self, ty: BlockType, taken: bool) {
        self.hints.push(BranchHint {
            branch_func_offset: self.body.len() as u32,
            branch_hint_value: u32::from(taken),
        });
        self.s().if_(ty);
        self.labels.push(Label::If);
    }

    /// Ends the innermost `if`.
    fn end_if(&mut self) {
        self.close(Label::If);
    }

    /// The depth of `label` from here, if it is open.
    fn depth(&self, label: Label) -> Option<u32> {
        let at = self.labels.iter().rposition(|l| *l == label)?;
        Some((self.labels.len() - 1 - at) as u32)
    }

    fn br(&mut self, label: Label) {
        let depth = self
            .depth(label)
            .expect("the function's own labels are always open");
        self.s().br(depth);
    }

    fn br_next(&mut self) {
        self.br(Label::Dispatch);
    }

    fn br_out(&mut self) {
        self.br(Label::Out);
    }

    fn br_site(&mut self) {
        self.br(Label::Site);
    }

    /// Leaves the region with `exit`, going on at `pc`, `done` more
    /// instructions retired: as a site exit if it packs into one (see
    /// [`SITE_PC_SHIFT`]).
    fn leave(&mut self, exit: Exit, pc: u64, done: usize) {
        let offset = pc.wrapping_sub(self.first) as i64;
        let fits = i16::try_from(offset).is_ok() && done <= SITE_DONE_MAX;
        if fits {
            let site = ((offset as i32) << SITE_PC_SHIFT)
                | ((done as i32) << SITE_DONE_SHIFT)
                | exit as i32;
            self.s().i32_const(site).local_set(L_SITE);
            self.br_site();
            return;
        }
        self.retire(done);
        self.s().local_get(L_STATE);
        self.address(pc);
        self.s()
            .i64_store(mem(abi::PC, 3))
            .i32_const(exit as i32)
            .local_set(L_EXIT);
        self.br_out();
    }

    /// Pushes the guest address of `pc` (translated addresses are relative
    /// to the imported base).
    fn address(&mut self, pc: u64) {
        self.s().i64_const(pc as i64).global_get(G_BASE).i64_add();
    }

    fn retire(&mut self, done: usize) {
        if done > 0 {
            self.s()
                .local_get(L_LEFT)
                .i64_const(done as i64)
                .i64_sub()
                .local_set(L_LEFT);
        }
    }

    /// Goes to the block at `target` (in the region) or leaves for it.
    fn goto(&mut self, target: u64, done: usize) {
        match self.region.block_at(target) {
            Some(j) => {
                self.retire(done);
                self.enter_block(j);
            }
            None => self.leave(Exit::Continue, target, done),
        }
    }

    /// Goes to block `j`: a later block is the end of one of the labels
    /// around this code (its code starts right after), so a plain branch
    /// gets there; a jump back to the header of the wasm loop this code is
    /// in goes round it; any other jump back goes through the dispatch.
    /// Only a loop can run forever inside a function, so the budget
    /// (instructions retired against what the runtime allowed) is checked
    /// before going round again.
    fn enter_block(&mut self, j: usize) {
        if let Some(depth) = self.depth(Label::Start(j)) {
            self.s().br(depth);
            return;
        }
        let round = self.depth(Label::Loop(j)).is_some();
        let entry = self.layout.entries[j];
        if !round && entry.is_none() {
            // inside a loop this code is not in: not reachable from here
            // by a branch (the layout keeps this from happening); leaving
            // for its pc is still exact
            self.leave(Exit::Continue, self.region.blocks[j].start, 0);
            return;
        }
        self.s().local_get(L_LEFT).i64_const(0).i64_le_s();
        self.if_likely(BlockType::Empty, false);
        self.leave(Exit::Budget, self.region.blocks[j].start, 0);
        self.end_if();
        match entry {
            Some(d) if !round => {
                self.s().i32_const(d as i32).local_set(L_BLOCK);
                self.br_next();
            }
            _ => self.br(Label::Loop(j)),
        }
    }

    fn block(&mut self, b: &Block) {
        let n = b.insts.len();
        for (i, (pc, inst)) in b.insts.iter().enumerate() {
            let next = pc.wrapping_add(u64::from(inst.len));
            let last = i + 1 == n;
            match inst.op {
                Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu if last => {
                    let Term::Branch { taken, fall } = b.term else {
                        unreachable!("a block that ends in a branch has a branch end")
                    };
                    self.get(inst.rs1);
                    self.get(inst.rs2);
                    match inst.op {
                        Op::Beq => self.s().i64_eq(),
                        Op::Bne => self.s().i64_ne(),
                        Op::Blt => self.s().i64_lt_s(),
                        Op::Bge => self.s().i64_ge_s(),
                        Op::Bltu => self.s().i64_lt_u(),
                        _ => self.s().i64_ge_u(),
                    };
                    self.if_();
                    self.goto(taken, n);
                    self.s().else_();
                    self.goto(fall, n);
                    self.end_if();
                    return;
                }
                Op::Jal if last => {
                    self.set_address(inst.rd, next);
                    let Term::Jump { target } = b.term else {
                        unreachable!("a block that ends in jal has a jump end")
                    };
                    self.goto(target, n);
                    return;
                }
                Op::Jalr if last => {
                    // the target first: rd may be rs1
                    self.get(inst.rs1);
                    self.s()
                        .i64_const(inst.imm)
                        .i64_add()
                        .i64_const(!1)
                        .i64_and()
                        .local_set(L_T1);
                    self.set_address(inst.rd, next);
                    self.retire(n);
                    // a return to a call of this region, or a jump through
                    // one of its jump tables, stays in it
                    let mut targets: Vec<(u64, usize)> = (self.region.indirect_targets(b))
                        .iter()
                        .filter_map(|&pc| Some((pc, self.region.block_at(pc)?)))
                        .collect();
                    targets.sort_unstable();
                    self.indirect(&targets);
                    self.s()
                        .local_get(L_STATE)
                        .local_get(L_T1)
                        .i64_store(mem(abi::PC, 3))
                        .i32_const(Exit::Continue as i32)
                        .local_set(L_EXIT);
                    self.br_out();
                    return;
                }
                op if memory::access(op).is_some() => self.memory(inst, *pc, next, i),
                op if matches!(op.desc().ext, Ext::F | Ext::D) => {
                    self.float(inst, *pc, next, i);
                }
                op if helped(op) => self.exec(inst, *pc, next, i),
                _ if fp_csr(inst) => self.fp_csr(inst),
                _ => self.alu(inst, *pc),
            }
        }
        match b.term {
            Term::Jump { target } => self.goto(target, n),
            Term::Interpret { pc, .. } => self.leave(Exit::Interpret, pc, n),
            Term::Branch { .. } | Term::Indirect => {
                unreachable!("branch and indirect ends are the block's last instruction")
            }
        }
    }

    /// Goes to the block of `targets` (sorted by pc) whose pc the target
    /// in `L_T1` is, if any, else on to what follows: a search tree of
    /// compares, a few at its leaves.
    fn indirect(&mut self, targets: &[(u64, usize)]) {
        const LEAF: usize = 4;
        if targets.len() <= LEAF {
            for &(pc, k) in targets {
                self.s().local_get(L_T1);
                self.address(pc);
                self.s().i64_eq();
                self.if_();
                self.enter_block(k);
                self.end_if();
            }
            return;
        }
        let (low, high) = targets.split_at(targets.len() / 2);
        self.s().local_get(L_T1);
        self.address(high[0].0);
        self.s().i64_lt_u();
        self.if_();
        self.indirect(low);
        self.s().else_();
        self.indirect(high);
        self.end_if();
    }

    /// Pushes register `r` (x0 reads zero).
    fn get(&mut self, r: u8) {
        if r & 31 == 0 {
            self.s().i64_const(0);
        } else {
            self.s().local_get(u32::from(r & 31));
        }
    }

    /// Pops into register `r` (a write to x0 is dropped).
    fn set(&mut self, r: u8) {
        if r & 31 == 0 {
            self.s().drop();
        } else {
            self.s().local_set(u32::from(r & 31));
        }
    }

    /// Sets `r` to the guest address of `pc` (a link).
    fn set_address(&mut self, r: u8, pc: u64) {
        if r & 31 != 0 {
            self.address(pc);
            self.s().local_set(u32::from(r & 31));
        }
    }

    /// The interpreter runs the instruction at `pc` on the registers in
    /// memory: the integer sources it reads are written there first, an
    /// integer destination is read back after it. If it trapped or faulted
    /// (nothing changed), the interpreter runs it again, for real.
    fn exec(&mut self, inst: &Inst, pc: u64, next: u64, i: usize) {
        let (rs1, rs2, rd) = helped_operands(inst.op);
        for (used, r) in [(rs1, inst.rs1), (rs2, inst.rs2)] {
            if used && r & 31 != 0 {
                self.s()
                    .local_get(L_REGS)
                    .local_get(u32::from(r & 31))
                    .i64_store(mem(u32::from(r & 31) * 8, 3));
            }
        }
        self.s().local_get(L_STATE);
        self.address(pc);
        self.s()
            .call(F_EXEC)
            .local_get(L_STATE)
            .i32_load(mem(abi::STATUS, 2))
            .local_tee(L_E)
            .i32_const(abi::STATUS_INTERPRET)
            .i32_eq();
        self.if_likely(BlockType::Empty, false);
        self.leave(Exit::Interpret, pc, i);
        self.end_if();
        if rd && inst.rd & 31 != 0 {
            let r = u32::from(inst.rd & 31);
            self.s()
                .local_get(L_REGS)
                .i64_load(mem(r * 8, 3))
                .local_set(r);
        }
        // it wrote a page of code
        self.s().local_get(L_E);
        self.if_likely(BlockType::Empty, false);
        self.leave(Exit::CodeWritten, next, i + 1);
        self.end_if();
    }

    /// `a op b` into rd for the register-register form (`b` from rs2) or
    /// the immediate form.
    fn alu(&mut self, inst: &Inst, pc: u64) {
        use Op::*;
        let imm = inst.imm;
        let s = &mut *self;
        match inst.op {
            Lui => {
                s.s().i64_const(imm);
                s.set(inst.rd);
            }
            Auipc => {
                s.address(pc.wrapping_add(imm as u64));
                s.set(inst.rd);
            }
            Fence => {}
            Addi | Slti | Sltiu | Xori | Ori | Andi | Slli | Srli | Srai | Rori | Bclri | Bexti
            | Binvi | Bseti => {
                s.get(inst.rs1);
                s.s().i64_const(imm);
                s.binary(inst.op);
                s.set(inst.rd);
            }
            Addiw | Slliw | Srliw | Sraiw | Roriw => {
                s.get(inst.rs1);
                s.s().i32_wrap_i64().i32_const(imm as i32);
                s.word_binary(inst.op);
                s.s().i64_extend_i32_s();
                s.set(inst.rd);
            }
            SlliUw => {
                s.get(inst.rs1);
                s.s()
                    .i64_const(0xffff_ffff)
                    .i64_and()
                    .i64_const(imm)
                    .i64_shl();
                s.set(inst.rd);
            }
            Addw | Subw | Sllw | Srlw | Sraw | Mulw | Rolw | Rorw => {
                s.get(inst.rs1);
                s.s().i32_wrap_i64();
                s.get(inst.rs2);
                s.s().i32_wrap_i64();
                s.word_binary(inst.op);
                s.s().i64_extend_i32_s();
                s.set(inst.rd);
            }
            Clz | Ctz | Cpop | SextB | SextH | ZextH | Rev8 => {
                s.get(inst.rs1);
                match inst.op {
                    Clz => _ = s.s().i64_clz(),
                    Ctz => _ = s.s().i64_ctz(),
                    Cpop => _ = s.s().i64_popcnt(),
                    SextB => _ = s.s().i64_extend8_s(),
                    SextH => _ = s.s().i64_extend16_s(),
                    ZextH => _ = s.s().i64_const(0xffff).i64_and(),
                    _ => s.rev8(),
                }
                s.set(inst.rd);
            }
            Clzw | Ctzw | Cpopw => {
                s.get(inst.rs1);
                s.s().i32_wrap_i64();
                match inst.op {
                    Clzw => s.s().i32_clz(),
                    Ctzw => s.s().i32_ctz(),
                    _ => s.s().i32_popcnt(),
                };
                s.s().i64_extend_i32_u();
                s.set(inst.rd);
            }
            Div | Divu | Rem | Remu => s.divide(inst, false),
            Divw | Divuw | Remw | Remuw => s.divide(inst, true),
            Mulh | Mulhsu | Mulhu => s.mul_high(inst),
            _ => {
                s.get(inst.rs1);
                s.get(inst.rs2);
                s.binary(inst.op);
                s.set(inst.rd);
            }
        }
    }

    /// `a op b` on the stack, 64-bit, for ops whose immediate and register
    /// forms differ only in where `b` comes from.
    fn binary(&mut self, op: Op) {
        use Op::*;
        let mut sink = self.s();
        let s = &mut sink;
        match op {
            Add | Addi => s.i64_add(),
            Sub => s.i64_sub(),
            Xor | Xori => s.i64_xor(),
            Or | Ori => s.i64_or(),
            And | Andi => s.i64_and(),
            Sll | Slli => s.i64_shl(),
            Srl | Srli => s.i64_shr_u(),
            Sra | Srai => s.i64_shr_s(),
            Slt | Slti => s.i64_lt_s().i64_extend_i32_u(),
            Sltu | Sltiu => s.i64_lt_u().i64_extend_i32_u(),
            Mul => s.i64_mul(),
            Rol => s.i64_rotl(),
            Ror | Rori => s.i64_rotr(),
            Andn => s.i64_const(-1).i64_xor().i64_and(),
            Orn => s.i64_const(-1).i64_xor().i64_or(),
            Xnor => s.i64_xor().i64_const(-1).i64_xor(),
            Sh1add | Sh2add | Sh3add => {
                let k = match op {
                    Sh1add => 1,
                    Sh2add => 2,
                    _ => 3,
                };
                // (a << k) + b: b is on top
                s.local_set(L_T2)
                    .i64_const(k)
                    .i64_shl()
                    .local_get(L_T2)
                    .i64_add()
            }
            AddUw | Sh1addUw | Sh2addUw | Sh3addUw => {
                let k = match op {
                    AddUw => 0,
                    Sh1addUw => 1,
                    Sh2addUw => 2,
                    _ => 3,
                };
                s.local_set(L_T2)
                    .i64_const(0xffff_ffff)
                    .i64_and()
                    .i64_const(k)
                    .i64_shl()
                    .local_get(L_T2)
                    .i64_add()
            }
            Max | Min | Maxu | Minu => {
                s.local_set(L_T2).local_tee(L_T1).local_get(L_T2);
                s.local_get(L_T1).local_get(L_T2);
                match op {
                    Max => s.i64_gt_s(),
                    Min => s.i64_lt_s(),
                    Maxu => s.i64_gt_u(),
                    _ => s.i64_lt_u(),
                };
                s.select()
            }
            Bclr | Bclri => s
                .i64_const(63)
                .i64_and()
                .local_set(L_T2)
                .i64_const(1)
                .local_get(L_T2)
                .i64_shl()
                .i64_const(-1)
                .i64_xor()
                .i64_and(),
            Bset | Bseti => s
                .i64_const(63)
                .i64_and()
                .local_set(L_T2)
                .i64_const(1)
                .local_get(L_T2)
                .i64_shl()
                .i64_or(),
            Binv | Binvi => s
                .i64_const(63)
                .i64_and()
                .local_set(L_T2)
                .i64_const(1)
                .local_get(L_T2)
                .i64_shl()
                .i64_xor(),
            Bext | Bexti => s.i64_shr_u().i64_const(1).i64_and(),
            CzeroEqz | CzeroNez => {
                // rd = (rs2 == 0) == (op is eqz) ? 0 : rs1
                s.local_set(L_T2)
                    .local_set(L_T1)
                    .i64_const(0)
                    .local_get(L_T1);
                s.local_get(L_T2).i64_eqz();
                if op == CzeroNez {
                    s.i32_eqz();
                }
                // select(0, rs1, cond): cond ? 0 : rs1
                s.select()
            }
            other => unreachable!("{other:?} is not a binary op here"),
        };
    }

    /// `a op b` on the stack, 32-bit, for the word ops (`*w`) whose
    /// immediate and register forms differ only in where `b` comes from.
    fn word_binary(&mut self, op: Op) {
        use Op::*;
        let mut sink = self.s();
        match op {
            Addw | Addiw => sink.i32_add(),
            Subw => sink.i32_sub(),
            Sllw | Slliw => sink.i32_shl(),
            Srlw | Srliw => sink.i32_shr_u(),
            Sraw | Sraiw => sink.i32_shr_s(),
            Mulw => sink.i32_mul(),
            Rolw => sink.i32_rotl(),
            Rorw | Roriw => sink.i32_rotr(),
            other => unreachable!("{other:?} is not a word op here"),
        };
    }

    /// Reverses the bytes of the i64 on the stack.
    fn rev8(&mut self) {
        let mut sink = self.s();
        let s = &mut sink;
        // swap bytes, then 16-bit halves, then 32-bit halves
        for (mask, shift) in [(0x00ff_00ff_00ff_00ff_u64, 8), (0x0000_ffff_0000_ffff, 16)] {
            s.local_tee(L_T2)
                .i64_const(shift)
                .i64_shr_u()
                .i64_const(mask as i64)
                .i64_and()
                .local_get(L_T2)
                .i64_const(mask as i64)
                .i64_and()
                .i64_const(shift)
                .i64_shl()
                .i64_or();
        }
        s.i64_const(32).i64_rotl();
    }

    /// Division and remainder with RISC-V's answers for a zero divisor and
    /// for overflow (wasm would trap on both).
    fn divide(&mut self, inst: &Inst, word: bool) {
        use Op::*;
        let s = &mut *self;
        // a in T1, b in T2 (as i64; words sign- or zero-extended)
        let signed = matches!(inst.op, Div | Rem | Divw | Remw);
        for (r, l) in [(inst.rs1, L_T1), (inst.rs2, L_T2)] {
            s.get(r);
            if word {
                s.s().i32_wrap_i64();
                if signed {
                    s.s().i64_extend_i32_s();
                } else {
                    s.s().i64_extend_i32_u();
                }
            }
            s.s().local_set(l);
        }
        let is_div = matches!(inst.op, Div | Divu | Divw | Divuw);
        // b == 0: quotient all ones, remainder a
        s.s()
            .local_get(L_T2)
            .i64_eqz()
            .if_(BlockType::Result(ValType::I64));
        if is_div {
            s.s().i64_const(-1);
        } else {
            s.s().local_get(L_T1);
        }
        s.s().else_();
        if signed && !word {
            // MIN / -1 = MIN, MIN % -1 = 0 (div_s would trap)
            s.s()
                .local_get(L_T1)
                .i64_const(i64::MIN)
                .i64_eq()
                .local_get(L_T2)
                .i64_const(-1)
                .i64_eq()
                .i32_and()
                .if_(BlockType::Result(ValType::I64));
            if is_div {
                s.s().i64_const(i64::MIN);
            } else {
                s.s().i64_const(0);
            }
            s.s().else_();
            s.s().local_get(L_T1).local_get(L_T2);
            if is_div {
                s.s().i64_div_s();
            } else {
                s.s().i64_rem_s();
            }
            s.s().end();
        } else {
            // words: 64-bit division of the extended values cannot
            // overflow, and its low 32 bits are the 32-bit answer
            s.s().local_get(L_T1).local_get(L_T2);
            match (is_div, signed) {
                (true, true) => s.s().i64_div_s(),
                (true, false) => s.s().i64_div_u(),
                (false, true) => s.s().i64_rem_s(),
                (false, false) => s.s().i64_rem_u(),
            };
        }
        s.s().end();
        if word {
            s.s().i32_wrap_i64().i64_extend_i32_s();
        }
        s.set(inst.rd);
    }

    /// The high 64 bits of a 128-bit product, from four 32x32 products.
    fn mul_high(&mut self, inst: &Inst) {
        let s = &mut *self;
        s.get(inst.rs1);
        s.s().local_set(L_T1);
        s.get(inst.rs2);
        s.s().local_set(L_T2);
        let lo = |s: &mut InstructionSink<'_>, l: u32| {
            s.local_get(l).i64_const(0xffff_ffff).i64_and();
        };
        let hi = |s: &mut InstructionSink<'_>, l: u32| {
            s.local_get(l).i64_const(32).i64_shr_u();
        };
        // T3 = al*bl >> 32 + lo(al*bh) + lo(ah*bl)   (the middle column)
        lo(&mut s.s(), L_T1);
        lo(&mut s.s(), L_T2);
        s.s().i64_mul().i64_const(32).i64_shr_u();
        lo(&mut s.s(), L_T1);
        hi(&mut s.s(), L_T2);
        s.s()
            .i64_mul()
            .local_tee(L_T4)
            .i64_const(0xffff_ffff)
            .i64_and()
            .i64_add();
        hi(&mut s.s(), L_T1);
        lo(&mut s.s(), L_T2);
        s.s()
            .i64_mul()
            .local_tee(L_T3)
            .i64_const(0xffff_ffff)
            .i64_and()
            .i64_add();
        // high = ah*bh + (al*bh >> 32) + (ah*bl >> 32) + (middle >> 32)
        s.s().i64_const(32).i64_shr_u();
        hi(&mut s.s(), L_T1);
        hi(&mut s.s(), L_T2);
        s.s().i64_mul().i64_add();
        s.s().local_get(L_T4).i64_const(32).i64_shr_u().i64_add();
        s.s().local_get(L_T3).i64_const(32).i64_shr_u().i64_add();
        // signed corrections: a < 0 takes b off; for mulh, b < 0 takes a
        if matches!(inst.op, Op::Mulh | Op::Mulhsu) {
            s.s()
                .local_get(L_T2)
                .i64_const(0)
                .local_get(L_T1)
                .i64_const(0)
                .i64_lt_s()
                .select()
                .i64_sub();
        }
        if inst.op == Op::Mulh {
            s.s()
                .local_get(L_T1)
                .i64_const(0)
                .local_get(L_T2)
                .i64_const(0)
                .i64_lt_s()
                .select()
                .i64_sub();
        }
        s.set(inst.rd);
    }
}
