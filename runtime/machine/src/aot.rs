//! Running translated code (`friscy-aot`, docs/aot.md) from the
//! interpreter's run loop.
//!
//! [`CodeCache::run`](crate::CodeCache::run) asks the thread's [`Linker`]
//! (set by the embedder: the wasm runtime links modules through its host)
//! for translated code at each block it is about to run. Translation
//! happens when a block is first reached ([`Mode::Force`]: everything, for
//! tests) and is kept per address space until its code is dropped
//! (`fence.i`, a store into a code page, `munmap`). Translated code shares
//! the hart's registers and the memory's TLBs through a [`State`] block
//! laid out as `friscy_aot::abi` says, and calls back into [`load`] and
//! [`store`] for what the TLBs do not serve.

use std::cell::RefCell;
use std::collections::HashMap;

use friscy_aot::abi::{self, CodeMap};

use crate::AddrMap;
use crate::hart::Hart;
use crate::memory::{Access, FaultCause, MemFault, Memory};

/// When code is translated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Never: the interpreter runs everything.
    #[default]
    Off,
    /// Code of files whose modules were translated ahead of time (see
    /// [`CodeImage`](crate::CodeImage)) runs translated; the interpreter
    /// runs the rest.
    Modules,
    /// Those modules, and every other block translated the first time it
    /// runs (for tests and comparisons).
    Force,
}

/// A linked function, as the linker names it (a function table slot in
/// the wasm runtime).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linked(pub u32);

/// What makes translated modules callable in this host.
pub trait Linker {
    /// Instantiates `wasm` (a module friscy-aot made) against this
    /// runtime's memory and helpers with `base` as its base address (see
    /// `friscy_aot::abi::IMPORT_BASE`); its functions go in consecutive
    /// slots, the first returned. `None` if the host cannot.
    fn link(&mut self, wasm: &[u8], base: u64) -> Option<Linked>;
    /// The module translated ahead of time from the file whose content has
    /// sha256 `key` (by this translator version), if the host has one.
    fn module(&mut self, key: &[u8; 32]) -> Option<Vec<u8>>;
    /// Its first `len` bytes (fewer if it is shorter), read without the
    /// rest where the host can.
    fn module_head(&mut self, key: &[u8; 32], len: usize) -> Option<Vec<u8>> {
        let mut wasm = self.module(key)?;
        wasm.truncate(len);
        Some(wasm)
    }
    /// Runs a linked function with `state`; returns its `abi::Exit` code.
    fn call(&mut self, f: Linked, state: &mut State) -> i32;
}

/// A file's module: its code map, read first (a module starts with it),
/// and the rest once some of its code is linked.
struct FileModule {
    map: CodeMap,
    /// Its size: its functions' bodies, most of it.
    bytes: u64,
    wasm: Option<Vec<u8>>,
    /// Where it is linked, by base (one instance per load address).
    linked: HashMap<u64, Option<Linked>>,
}

thread_local! {
    static LINKER: RefCell<Option<Box<dyn Linker>>> = const { RefCell::new(None) };
    /// Files' modules by content key (`None`: the host has none, or it is
    /// not one).
    static MODULES: RefCell<HashMap<[u8; 32], Option<FileModule>>> = RefCell::new(HashMap::new());
    static MODE: std::cell::Cell<Mode> = const { std::cell::Cell::new(Mode::Off) };
    static STATS: std::cell::Cell<Stats> = const { std::cell::Cell::new(Stats::ZERO) };
}

/// Figures for `--stats` and the page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Regions translated and linked.
    pub regions: u64,
    /// Files' modules linked (once per load address).
    pub modules: u64,
    /// Guest instructions retired in translated code.
    pub instret: u64,
    /// Calls from the interpreter into translated code, and those that
    /// came back to have the interpreter run an instruction (an `Interpret`
    /// or `Fault` exit).
    pub entries: u64,
    pub to_interpreter: u64,
}

impl Stats {
    const ZERO: Stats = Stats {
        regions: 0,
        modules: 0,
        instret: 0,
        entries: 0,
        to_interpreter: 0,
    };
}

/// Sets how code is translated on this thread, and the linker that makes
/// translations callable.
pub fn configure(mode: Mode, linker: Option<Box<dyn Linker>>) {
    MODE.with(|m| m.set(mode));
    LINKER.with(|l| *l.borrow_mut() = linker);
}

/// The thread's figures so far.
pub fn stats() -> Stats {
    STATS.with(std::cell::Cell::get)
}

fn mode() -> Mode {
    MODE.with(std::cell::Cell::get)
}

/// Whether code is translated on this thread at all (and so whether the
/// kernel names the code it maps for files' modules:
/// [`Memory::add_code_image`]).
pub fn active() -> bool {
    mode() != Mode::Off
}

fn count(f: impl FnOnce(&mut Stats)) {
    STATS.with(|s| {
        let mut v = s.get();
        f(&mut v);
        s.set(v);
    });
}

/// How much of a module is read first for its code map: all of most
/// maps, and no more of an image than its first chunk (1 MiB, checked
/// against its digest once; a larger map is read again whole).
const MAP_FIRST_READ: usize = 1 << 20;
const _: () = assert!(MAP_FIRST_READ >= abi::CODE_MAP_HEAD);

/// Where a pc's code is in a file's module: the function and block that
/// start at it, for the file loaded at `base`.
#[derive(Clone, Copy, Debug)]
struct Place {
    key: [u8; 32],
    base: u64,
    function: u32,
    block: u32,
    /// The function's size in the module (what V8 compiles for it).
    size: u32,
}

impl Place {
    /// The function, as [`Regions`] counts visits to it.
    fn function_id(&self) -> (u64, u64, u32) {
        let key = u64::from_le_bytes(self.key[..8].try_into().unwrap_or_default());
        (key, self.base, self.function)
    }
}

/// The place in a file's module of the code at `pc`, if the code there is
/// an unchanged image of a file with a module (read once) and the whole
/// function lies in what is mapped of it.
fn locate(mem: &Memory, pc: u64) -> Option<Place> {
    let image = mem.code_image_at(pc)?.clone();
    MODULES.with(|m| {
        let mut modules = m.borrow_mut();
        let module = modules
            .entry(image.key)
            .or_insert_with(|| {
                let map = LINKER.with(|l| {
                    let mut l = l.borrow_mut();
                    let l = l.as_mut()?;
                    let mut head = l.module_head(&image.key, MAP_FIRST_READ)?;
                    let extent = abi::code_map_extent(&head)?;
                    if extent > head.len() {
                        head = l.module_head(&image.key, extent)?;
                    }
                    CodeMap::decode(abi::custom_section(head.get(..extent)?)?)
                })?;
                Some(FileModule {
                    bytes: map.sizes.iter().map(|&s| u64::from(s)).sum(),
                    map,
                    wasm: None,
                    linked: HashMap::new(),
                })
            })
            .as_mut()?;
        // where pc is in the file, and so in the module's addresses
        let offset = image.file_offset.checked_add(pc - image.start)?;
        let &(seg_off, seg_end, seg_addr) = module
            .map
            .segments
            .iter()
            .find(|&&(o, e, _)| offset >= o && offset < e)?;
        let vaddr = seg_addr.checked_add(offset - seg_off)?;
        let entry = module.map.find(vaddr)?;
        // the function runs only while all of its code is that of the
        // file, unchanged, in this one segment
        let (lo, hi) = *module.map.functions.get(entry.function as usize)?;
        let base = pc.wrapping_sub(vaddr);
        let seg_hi = seg_addr.checked_add(seg_end - seg_off)?;
        if lo < seg_addr
            || hi > seg_hi
            || lo.wrapping_add(base) < image.start
            || hi.wrapping_add(base) > image.end
        {
            return None;
        }
        Some(Place {
            key: image.key,
            base,
            function: entry.function,
            block: entry.block,
            size: *module.map.sizes.get(entry.function as usize)?,
        })
    })
}

/// Links the module of `place` at its base (once per base) and gives the
/// function and block to enter.
fn link(place: &Place) -> Option<(Linked, u32)> {
    MODULES.with(|m| {
        let mut modules = m.borrow_mut();
        let slot = modules.get_mut(&place.key)?;
        if slot.as_ref()?.wasm.is_none() {
            match LINKER.with(|l| l.borrow_mut().as_mut()?.module(&place.key)) {
                Some(wasm) => slot.as_mut()?.wasm = Some(wasm),
                None => {
                    // it cannot be read after all: its file is interpreted
                    *slot = None;
                    return None;
                }
            }
        }
        let module = slot.as_mut()?;
        let wasm = module.wasm.as_deref()?;
        let first = *module.linked.entry(place.base).or_insert_with(|| {
            let f = LINKER.with(|l| l.borrow_mut().as_mut()?.link(wasm, place.base));
            if f.is_some() {
                count(|s| s.modules += 1);
            }
            f
        });
        Some((Linked(first?.0.checked_add(place.function)?), place.block))
    })
}

/// The function and block of a file's module that start at `pc` (see
/// [`locate`]), linked.
fn from_module(mem: &Memory, pc: u64) -> Option<(Linked, u32)> {
    link(&locate(mem, pc)?)
}

/// The block of memory translated code and the runtime share (see
/// `friscy_aot::abi`; the layout is checked below).
#[repr(C)]
pub struct State {
    regs: u32,
    tlb_read: u32,
    tlb_write: u32,
    mem: u32,
    pub pc: u64,
    budget: i64,
    pub executed: u64,
    status: i32,
    fault_access: u8,
    fault_cause: u8,
    _pad: [u8; 2],
    links: u32,
    block: u32,
    fault_addr: u64,
    hart: u32,
    fflags: u32,
}

// The offsets translated code uses (wasm32 is where it runs).
#[cfg(target_arch = "wasm32")]
const _: () = {
    assert!(std::mem::offset_of!(State, regs) == abi::REGS as usize);
    assert!(std::mem::offset_of!(State, tlb_read) == abi::TLB_READ as usize);
    assert!(std::mem::offset_of!(State, tlb_write) == abi::TLB_WRITE as usize);
    assert!(std::mem::offset_of!(State, mem) == abi::MEM as usize);
    assert!(std::mem::offset_of!(State, pc) == abi::PC as usize);
    assert!(std::mem::offset_of!(State, budget) == abi::BUDGET as usize);
    assert!(std::mem::offset_of!(State, executed) == abi::EXECUTED as usize);
    assert!(std::mem::offset_of!(State, status) == abi::STATUS as usize);
    assert!(std::mem::offset_of!(State, links) == abi::LINK_TABLE as usize);
    assert!(std::mem::offset_of!(State, block) == abi::BLOCK as usize);
    assert!(std::mem::offset_of!(State, hart) == abi::HART as usize);
    assert!(std::mem::offset_of!(State, fflags) == abi::FFLAGS as usize);
    assert!(std::mem::offset_of!(Hart, frm) == std::mem::offset_of!(Hart, fflags) + 1);
    assert!(std::mem::offset_of!(LinkEntry, block) == abi::LINK_BLOCK as usize);
    assert!(std::mem::size_of::<LinkEntry>() == abi::LINK_ENTRY as usize);
    assert!(std::mem::offset_of!(LinkEntry, slot) == abi::LINK_SLOT as usize);
    assert!(std::mem::size_of::<State>() == abi::STATE_SIZE as usize);
};

/// The address of `p` as the wasm32 runtime's memory sees it (pointers
/// are 32-bit there; elsewhere translated code is not run and the value
/// is not used).
fn addr<T>(p: *const T) -> u32 {
    p as usize as u32
}

impl State {
    /// A state for running `hart` on `mem` with `budget` instructions,
    /// with the link table `links`.
    fn new(
        hart: &mut Hart,
        mem: &mut Memory,
        budget: i64,
        links: &[LinkEntry],
        block: u32,
    ) -> State {
        let (tlb_read, tlb_write) = mem.tlb_addresses();
        State {
            regs: addr(hart.regs.as_ptr()),
            tlb_read: addr(tlb_read),
            tlb_write: addr(tlb_write),
            mem: addr(std::ptr::from_mut(mem)),
            pc: hart.pc,
            budget,
            executed: 0,
            status: abi::STATUS_OK,
            fault_access: 0,
            fault_cause: 0,
            _pad: [0; 2],
            links: addr(links.as_ptr()),
            block,
            fault_addr: 0,
            fflags: addr(&raw const hart.fflags),
            hart: addr(std::ptr::from_mut(hart)),
        }
    }

    fn memory(&mut self) -> &mut Memory {
        // SAFETY: `mem` was set from a `&mut Memory` that outlives the
        // call into translated code, which is the only thing that calls
        // the helpers with this state; nothing else touches that memory
        // object meanwhile (one thread runs a guest).
        unsafe { &mut *(self.mem as usize as *mut Memory) }
    }

    fn hart(&mut self) -> &mut Hart {
        // SAFETY: `hart` was set from a `&mut Hart` that outlives the call
        // into translated code (as for `memory`); translated code keeps
        // the integer registers it holds in locals written back to it
        // before it calls `exec`, and reloads what `exec` wrote.
        unsafe { &mut *(self.hart as usize as *mut Hart) }
    }

    fn fault(&mut self, f: MemFault) {
        self.status = abi::STATUS_FAULT;
        self.fault_addr = f.addr;
        self.fault_access = f.access as u8;
        self.fault_cause = f.cause as u8;
    }

    /// The fault a helper recorded.
    fn recorded_fault(&self) -> MemFault {
        let access = [Access::Load, Access::Store, Access::Fetch]
            .into_iter()
            .find(|a| *a as u8 == self.fault_access)
            .unwrap_or(Access::Load);
        let cause = [
            FaultCause::Unmapped,
            FaultCause::Protection,
            FaultCause::Misaligned,
            FaultCause::OutOfMemory,
        ]
        .into_iter()
        .find(|c| *c as u8 == self.fault_cause)
        .unwrap_or(FaultCause::Unmapped);
        MemFault {
            addr: self.fault_addr,
            access,
            cause,
        }
    }
}

/// The load helper: `size` bytes at `addr`, zero-extended (translated
/// code sign-extends); on a fault, the state says so.
pub fn load(state: &mut State, addr: u64, size: u32) -> u64 {
    state.status = abi::STATUS_OK;
    let mem = state.memory();
    let r = match size {
        1 => mem.read_u8(addr).map(u64::from),
        2 => mem.read_u16(addr).map(u64::from),
        4 => mem.read_u32(addr).map(u64::from),
        _ => mem.read_u64(addr),
    };
    r.unwrap_or_else(|f| {
        state.fault(f);
        0
    })
}

/// The store helper; on a fault, or a write into a page of code, the
/// state says so.
pub fn store(state: &mut State, addr: u64, value: u64, size: u32) {
    state.status = abi::STATUS_OK;
    let mem = state.memory();
    let r = match size {
        1 => mem.write_u8(addr, value as u8),
        2 => mem.write_u16(addr, value as u16),
        4 => mem.write_u32(addr, value as u32),
        _ => mem.write_u64(addr, value),
    };
    match r {
        Ok(()) if mem.code_dirty() => state.status = abi::STATUS_CODE,
        Ok(()) => {}
        Err(f) => state.fault(f),
    }
}

/// The `exec` helper: the instruction at `pc`, run by the interpreter on
/// the hart and memory (see `abi::IMPORT_EXEC`).
pub fn exec(state: &mut State, pc: u64) {
    let mem: *mut Memory = state.memory();
    let hart = state.hart();
    let saved = hart.pc;
    hart.pc = pc;
    // SAFETY: `mem` and the hart are distinct objects (see `memory` and
    // `hart`); nothing else uses either during the call.
    let exit = crate::interp::step_one(hart, unsafe { &mut *mem });
    hart.pc = saved;
    // SAFETY: as above.
    let dirty = unsafe { (*mem).code_dirty() };
    state.status = match exit {
        Some(_) => abi::STATUS_INTERPRET,
        None if dirty => abi::STATUS_CODE,
        None => abi::STATUS_OK,
    };
}

/// Code as the translator reads it: fetches through the memory, which
/// marks the pages as code (so that a store to them is noticed).
struct Fetcher<'a>(&'a mut Memory);

impl friscy_aot::Code for Fetcher<'_> {
    fn fetch_u16(&mut self, pc: u64) -> Option<u16> {
        self.0.fetch_u16(pc).ok()
    }
}

/// An entry of the link table translated code reads (see
/// `abi::LINK_TABLE`).
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct LinkEntry {
    pc: u64,
    slot: u32,
    block: u32,
}

const NO_LINK: LinkEntry = LinkEntry {
    pc: u64::MAX,
    slot: 0,
    block: 0,
};

/// Translated regions of one address space, by entry pc (`None`: the
/// region there could not be translated; the interpreter runs it), and
/// the link table through which they go on to one another.
pub(crate) struct Regions {
    /// By pc: the function and the block to start at.
    map: AddrMap<u64, Option<(Linked, u32)>>,
    /// How many times each pc not in `map` was reached (see [`HOT`]).
    seen: AddrMap<u64, u32>,
    /// Pcs that got hot whose functions are not yet worth compiling (see
    /// [`worth`]), and the instructions interpreted in each such function
    /// (its blocks' visits counted there, times their instructions).
    waiting: AddrMap<u64, Place>,
    warmth: AddrMap<(u64, u64, u32), u64>,
    /// A pc whose translation was linked since the interpreter last asked
    /// (so that it stops running that pc's block itself).
    pub(crate) linked: Option<u64>,
    /// Whether any pc runs translated here yet.
    linked_any: bool,
    links: Box<[LinkEntry]>,
}

impl Default for Regions {
    fn default() -> Regions {
        Regions {
            map: AddrMap::default(),
            seen: AddrMap::default(),
            waiting: AddrMap::default(),
            warmth: AddrMap::default(),
            linked: None,
            linked_any: false,
            links: vec![NO_LINK; abi::LINKS as usize].into_boxed_slice(),
        }
    }
}

/// How many times the interpreter reaches a pc, by default, before it
/// looks at what linking its code would cost (in [`Mode::Modules`]; see
/// [`worth`] and [`set_hot`]).
pub const HOT: u32 = 256;
/// Once some code of an address space runs translated, other code needs
/// only a `HOT_AGAIN`th of the visits (python3's bytecode loop has
/// thousands of pcs, each a return to the interpreter per visit until it
/// is hot).
const HOT_AGAIN: u32 = 16;

thread_local! {
    static HOT_AFTER: std::cell::Cell<u32> = const { std::cell::Cell::new(HOT) };
}

/// Sets how soon code is linked: the times a pc is reached before its
/// function's cost is looked at, and that cost scaled by `n / HOT` (1:
/// every reached function at once, as tests want; at least 1).
pub fn set_hot(n: u32) {
    HOT_AFTER.with(|h| h.set(n.max(1)));
}

/// How many times the interpreter runs a block within a round before it
/// stops there to ask for the block's translation (every time in
/// [`Mode::Force`], which translates each block first).
pub(crate) fn hot() -> u32 {
    match mode() {
        Mode::Off => 0,
        Mode::Force => 1,
        Mode::Modules => HOT_AFTER.with(std::cell::Cell::get),
    }
}

/// How many instructions the interpreter runs in the function of `place`
/// (counted at its waiting blocks) before it is linked, in
/// [`Mode::Modules`]: about as much interpreting as linking it costs, so
/// that code that runs for a short while is never linked and code that
/// runs long loses at most about that cost (measured: docs/aot.md):
/// - the function's compile: V8 compiles it first with its baseline
///   compiler, whose code for translated functions is no faster than the
///   interpreter, then with TurboFan;
/// - its module's, if the module is not linked yet at that base: read from
///   the image (every chunk checked against its digest), decoded and
///   instantiated by V8, for every byte of it.
///
/// Scaled with the hot threshold ([`set_hot`]; 1: at once).
fn worth(place: &Place) -> u64 {
    let hot = u64::from(HOT_AFTER.with(std::cell::Cell::get));
    if hot <= 1 {
        return 0;
    }
    let function = u64::from(place.size) * FUNCTION_INSTS_PER_BYTE;
    let module = unlinked_module_bytes(place) * MODULE_INSTS_PER_BYTE;
    (function + module).saturating_mul(hot) / u64::from(HOT)
}

/// See [`worth`]: instructions interpreted (hot, about 5 ns each under
/// V8) that a byte of a function's wasm costs (its baseline compile
/// and the slower baseline code until TurboFan's is ready) and a byte of
/// a module (about 8 ns: read, checked, decoded and instantiated).
const FUNCTION_INSTS_PER_BYTE: u64 = 10;
const MODULE_INSTS_PER_BYTE: u64 = 2;

/// The size of the module of `place` (see `FileModule::bytes`) if it is
/// not linked yet at the place's base, else 0.
fn unlinked_module_bytes(place: &Place) -> u64 {
    MODULES.with(|m| {
        m.borrow()
            .get(&place.key)
            .and_then(Option::as_ref)
            .filter(|module| !module.linked.contains_key(&place.base))
            .map_or(0, |module| module.bytes)
    })
}

/// The link table slot of `pc`.
fn link_index(pc: u64) -> usize {
    ((pc >> 1) as usize) & (abi::LINKS as usize - 1)
}

/// What running translated code at a pc did.
pub(crate) enum Ran {
    /// Nothing is translated there yet: interpret the block.
    Interpret,
    /// Nothing is translated there, and nothing will be (until code is
    /// dropped): interpret the block, and let rounds run it freely.
    Untranslated,
    /// It is not hot yet, or its function is not yet worth compiling:
    /// interpret the block, and let rounds run it freely until it is hot
    /// again.
    Wait,
    /// It ran `executed` instructions and returned `exit` (an
    /// `abi::Exit`), with the pc to go on at in the hart.
    Returned { executed: u64, exit: abi::Exit },
    /// It faulted at the hart's pc.
    Fault { executed: u64, fault: MemFault },
}

impl Regions {
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.seen.clear();
        self.waiting.clear();
        self.warmth.clear();
        self.links.fill(NO_LINK);
    }

    /// Records what runs at `pc` from now on (`None`: the interpreter).
    fn enter(&mut self, pc: u64, f: Option<(Linked, u32)>) -> Option<(Linked, u32)> {
        if let Some((Linked(slot), block)) = f {
            self.links[link_index(pc)] = LinkEntry { pc, slot, block };
            self.linked = Some(pc);
            self.linked_any = true;
        }
        self.map.insert(pc, f);
        f
    }

    /// Counts `insts` more instructions interpreted in the function of
    /// `place`; whether it is worth compiling now.
    fn warm(&mut self, place: &Place, insts: u64) -> bool {
        let w = self.warmth.entry(place.function_id()).or_insert(0);
        *w += insts;
        *w >= worth(place)
    }

    /// Runs the translation at `hart.pc`, translating it first if the mode
    /// says so. `visits` says how many visits of the block there the call
    /// stands for (more than one when a round stopped before it because it
    /// was hot: see `Block::heat`) and how many instructions the block has.
    pub(crate) fn run(
        &mut self,
        hart: &mut Hart,
        mem: &mut Memory,
        budget: i64,
        visits: impl FnOnce() -> (u32, u32),
    ) -> Ran {
        if mode() == Mode::Off {
            return Ran::Interpret;
        }
        let pc = hart.pc;
        let f = match self.map.get(&pc) {
            Some(f) => {
                // back in the link table if another pc took its place there
                if let Some((Linked(slot), block)) = *f {
                    self.links[link_index(pc)] = LinkEntry { pc, slot, block };
                }
                *f
            }
            None if mode() == Mode::Modules => {
                let place = if let Some(&place) = self.waiting.get(&pc) {
                    let (n, insts) = visits();
                    if !self.warm(&place, u64::from(n) * u64::from(insts)) {
                        return Ran::Wait;
                    }
                    self.waiting.remove(&pc);
                    Some(place)
                } else {
                    let (visits, insts) = visits();
                    let n = self.seen.entry(pc).or_insert(0);
                    *n = n.saturating_add(visits);
                    // once some code of this address space runs translated
                    // (it has run long enough to get hot), the rest gets
                    // there sooner: each pc waiting costs a return to the
                    // interpreter at each visit
                    let hot = HOT_AFTER.with(std::cell::Cell::get);
                    let hot = if self.linked_any {
                        hot.div_ceil(HOT_AGAIN)
                    } else {
                        hot
                    };
                    if *n < hot {
                        return Ran::Wait;
                    }
                    let n = u64::from(*n);
                    self.seen.remove(&pc);
                    let place = locate(mem, pc);
                    if let Some(place) = place
                        && !self.warm(&place, n * u64::from(insts))
                    {
                        self.waiting.insert(pc, place);
                        return Ran::Wait;
                    }
                    place
                };
                self.enter(pc, place.as_ref().and_then(link))
            }
            None => {
                let f = from_module(mem, pc).or_else(|| {
                    let t = friscy_aot::translate(
                        &mut Fetcher(mem),
                        pc,
                        friscy_aot::Limits::default(),
                    )?;
                    let f = LINKER.with(|l| l.borrow_mut().as_mut()?.link(&t.wasm, 0))?;
                    count(|s| s.regions += 1);
                    Some((f, 0))
                });
                self.enter(pc, f)
            }
        };
        let Some((f, block)) = f else {
            return Ran::Untranslated;
        };
        let mut state = State::new(hart, mem, budget, &self.links, block);
        let code = LINKER.with(|l| {
            l.borrow_mut()
                .as_mut()
                .map(|l| l.call(f, &mut state))
                .unwrap_or(abi::Exit::Interpret as i32)
        });
        let exit = abi::Exit::from_i32(code).unwrap_or(abi::Exit::Interpret);
        hart.pc = state.pc;
        count(|s| {
            s.instret += state.executed;
            s.entries += 1;
            s.to_interpreter += u64::from(matches!(exit, abi::Exit::Interpret | abi::Exit::Fault));
        });
        if exit == abi::Exit::Fault {
            return Ran::Fault {
                executed: state.executed,
                fault: state.recorded_fault(),
            };
        }
        Ran::Returned {
            executed: state.executed,
            exit,
        }
    }
}
