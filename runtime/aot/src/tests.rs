use super::*;
use friscy_isa::Op;
use friscy_isa::table::TABLE;

/// Guest code in a vector at `base`.
struct Bytes {
    base: u64,
    code: Vec<u8>,
}

impl Code for Bytes {
    fn fetch_u16(&mut self, pc: u64) -> Option<u16> {
        let at = usize::try_from(pc.checked_sub(self.base)?).ok()?;
        let b = self.code.get(at..at + 2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }
}

fn words(base: u64, w: &[u32]) -> Bytes {
    Bytes {
        base,
        code: w.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

// a few encodings
fn i_type(op: u32, f3: u32, rd: u32, rs1: u32, imm: i32) -> u32 {
    ((imm as u32 & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op
}
fn r_type(op: u32, f3: u32, f7: u32, rd: u32, rs1: u32, rs2: u32) -> u32 {
    (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op
}
fn b_type(f3: u32, rs1: u32, rs2: u32, off: i32) -> u32 {
    let o = off as u32;
    (((o >> 12) & 1) << 31)
        | (((o >> 5) & 0x3f) << 25)
        | (rs2 << 20)
        | (rs1 << 15)
        | (f3 << 12)
        | (((o >> 1) & 0xf) << 8)
        | (((o >> 11) & 1) << 7)
        | 0x63
}
fn jal(rd: u32, off: i32) -> u32 {
    let o = off as u32;
    (((o >> 20) & 1) << 31)
        | (((o >> 1) & 0x3ff) << 21)
        | (((o >> 11) & 1) << 20)
        | (((o >> 12) & 0xff) << 12)
        | (rd << 7)
        | 0x6f
}
const ADDI: (u32, u32) = (0x13, 0);
const ECALL: u32 = 0x73;

/// Valid wasm, whose branch hints (if any) each name an `if` of their
/// function, in order: V8 ignores a hint that does not, so a wrong offset
/// would cost speed without a word.
fn validate(wasm: &[u8]) {
    wasmparser::Validator::new()
        .validate_all(wasm)
        .unwrap_or_else(|e| panic!("invalid module: {e}"));
    let (mut imported, mut bodies, mut hinted) = (0, Vec::new(), Vec::new());
    for p in wasmparser::Parser::new(0).parse_all(wasm) {
        match p.expect("parses") {
            wasmparser::Payload::ImportSection(r) => {
                imported = (r.into_iter())
                    .filter(|i| matches!(i.as_ref().unwrap().ty, wasmparser::TypeRef::Func(_)))
                    .count() as u32;
            }
            wasmparser::Payload::CodeSectionEntry(body) => bodies.push(body.range()),
            wasmparser::Payload::CustomSection(c) => {
                if let wasmparser::KnownCustom::BranchHints(r) = c.as_known() {
                    assert!(bodies.is_empty(), "branch hints come before the code");
                    for f in r {
                        let f = f.expect("a function's hints");
                        let offsets: Vec<u32> = (f.hints.into_iter())
                            .map(|h| h.expect("a hint").func_offset)
                            .collect();
                        hinted.push((f.func, offsets));
                    }
                }
            }
            _ => {}
        }
    }
    let mut last = None;
    for (func, offsets) in hinted {
        assert!(last < Some(func), "functions in order");
        last = Some(func);
        let body = &bodies[(func - imported) as usize];
        assert!(offsets.is_sorted_by(|a, b| a < b), "hints in order");
        for o in offsets {
            let at = body.start + o as usize;
            assert!(at < body.end, "hint {o} past function {func}");
            assert_eq!(
                wasm[at], 0x04,
                "hint {o} of function {func} is not at an if"
            );
        }
    }
}

/// A loop (a backward branch), a forward branch, loads and stores, a call
/// and an indirect return: one region, valid wasm.
#[test]
fn a_function_with_loops_and_memory_is_one_valid_module() {
    let base = 0x1_0000;
    let code = words(
        base,
        &[
            i_type(ADDI.0, ADDI.1, 10, 0, 100),       // 0: li a0, 100
            i_type(ADDI.0, ADDI.1, 11, 0, 0),         // 4: li a1, 0
            r_type(0x33, 0, 0, 11, 11, 10),           // 8: add a1, a1, a0
            i_type(ADDI.0, ADDI.1, 10, 10, -1),       // c: addi a0, a0, -1
            b_type(1, 10, 0, -8),                     // 10: bnez a0, 8
            i_type(0x03, 3, 12, 2, 8),                // 14: ld a2, 8(sp)
            r_type(0x23, 3, 0, 0, 2, 11) | (16 << 7), // 18: sd a1, 16(sp)
            b_type(0, 12, 0, 8),                      // 1c: beqz a2, 24
            jal(1, 16),                               // 20: call 30
            r_type(0x33, 4, 1, 13, 11, 10),           // 24: div a3, a1, a0
            i_type(0x67, 0, 0, 1, 0),                 // 28: ret
            ECALL,                                    // 2c
            ECALL,                                    // 30
        ],
    );
    let mut code = code;
    let t = translate(&mut code, base, Limits::default()).expect("translated");
    validate(&t.wasm);
    assert_eq!(t.insts, 11, "the callee's ecall is the interpreter's");
    assert!(t.blocks >= 4, "{}", t.blocks);
    assert_eq!(t.pages, vec![base >> 12]);
    // an entry on an untranslated instruction is the interpreter's
    assert!(translate(&mut code, base + 0x2c, Limits::default()).is_none());
    // the limits cut regions
    let small = translate(
        &mut code,
        base,
        Limits {
            max_insts: 3,
            max_blocks: 8,
        },
    )
    .expect("translated");
    validate(&small.wasm);
    assert!(small.insts <= 3, "{}", small.insts);
}

/// Every op this tier translates, alone in a region, makes a valid module
/// (the encodings come from the table, with operands filled in).
#[test]
fn every_translated_op_emits_valid_wasm() {
    let mut n = 0;
    for d in TABLE {
        // rd=a0, rs1=a1, rs2=a2 where the format has them; immediates 0
        // (a CSR number of 0 is not a CSR: those get fflags, 1)
        let csr = if d.format == friscy_isa::Format::Csr || d.format == friscy_isa::Format::CsrI {
            1 << 20
        } else {
            0
        };
        let raw = d.bits | (10 << 7) | (11 << 15) | (12 << 20);
        let raw = if (raw & d.mask) == d.bits {
            raw | csr
        } else {
            d.bits | csr
        };
        let Ok(inst) = friscy_isa::decode(raw) else {
            panic!("{} does not decode", d.name)
        };
        assert_eq!(inst.op, d.op, "{}", d.name);
        if !translates(&inst) {
            continue;
        }
        let mut code = words(0x2000, &[raw, ECALL]);
        let t = translate(&mut code, 0x2000, Limits::default())
            .unwrap_or_else(|| panic!("{} was not translated", d.name));
        validate(&t.wasm);
        n += 1;
    }
    assert!(n > 100, "{n} ops");
    let inst = |raw: u32| friscy_isa::decode(raw).expect("decodes");
    // ecall, ebreak, fence.i, rdcycle a0, rdinstret a0
    for raw in [
        0x0000_0073,
        0x0010_0073,
        0x0000_100f,
        0xc000_2573,
        0xc020_2573,
    ] {
        assert!(!translates(&inst(raw)), "{raw:#x}");
    }
    // lr.d, sc.w, amoadd.d (through the interpreter's helper), fadd.d,
    // fsd, fmadd.d (fast paths, or the helper), frflags a0, fsrm a1
    for raw in [
        0x1005_b52f,
        0x18c5_a52f,
        0x00c5_b52f,
        0x02c5_8553,
        0x00a5_b027,
        0x6ac5_8543,
        0x0010_2573,
        0x0025_95f3,
    ] {
        assert!(translates(&inst(raw)), "{raw:#x}");
    }
    assert_eq!(inst(0x0010_2573).op, Op::Csrrs);
}

/// Compressed instructions go through the same decoder.
#[test]
fn compressed_code_is_translated() {
    // c.li a0, 5; c.addi a0, 1; c.mv a1, a0; c.jr ra
    let halves: [u16; 4] = [0x4515, 0x0505, 0x85aa, 0x8082];
    let mut code = Bytes {
        base: 0x3000,
        code: halves.iter().flat_map(|h| h.to_le_bytes()).collect(),
    };
    let t = translate(&mut code, 0x3000, Limits::default()).expect("translated");
    validate(&t.wasm);
    assert_eq!(t.insts, 4);
}

/// The dynamic linker Debian's riscv64 libc ships (scripts/setup installs
/// it): a real position-independent ELF file.
const LD_SO: &str = "/usr/riscv64-linux-gnu/lib/ld-linux-riscv64-lp64d.so.1";

/// A whole ELF file becomes one valid module whose custom section says
/// what it covers: every function's entries lie in the file's code, each
/// instruction is translated about once, and the ELF entry is enterable.
#[test]
fn a_whole_elf_file_is_one_module_with_its_code_map() {
    let data = std::fs::read(LD_SO).unwrap_or_else(|e| panic!("{LD_SO}: {e} (scripts/setup)"));
    assert!(is_riscv64_elf(&data));
    let m = translate_elf(&data, Limits::default()).expect("translated");
    validate(&m.wasm);
    let section = abi::custom_section(&m.wasm).expect("the code map section");
    let map = abi::CodeMap::decode(section).expect("a code map");
    assert_eq!(map, m.map);
    assert!(!map.segments.is_empty());
    let in_code = |pc: u64| {
        map.segments
            .iter()
            .any(|&(off, end, addr)| pc >= addr && pc < addr + (end - off))
    };
    assert!(map.entries.iter().all(|e| in_code(e.pc)));
    let entry = u64::from_le_bytes(data[24..32].try_into().unwrap());
    assert!(map.find(entry).is_some(), "the ELF entry {entry:#x}");
    // one function per function of the map (and `install`), none of them
    // exported (a large library would pass V8's limit on exports)
    let (mut defined, mut exports, mut bodies) = (0, Vec::new(), Vec::new());
    for p in wasmparser::Parser::new(0).parse_all(&m.wasm) {
        match p.expect("parses") {
            wasmparser::Payload::FunctionSection(r) => defined = r.count(),
            wasmparser::Payload::CodeSectionEntry(body) => {
                bodies.push(body.range().len() as u32);
            }
            wasmparser::Payload::ExportSection(r) => {
                exports = r.into_iter().map(|e| e.expect("export").name).collect();
            }
            _ => {}
        }
    }
    assert_eq!(defined as usize, map.functions.len() + 1);
    assert_eq!(exports, [abi::EXPORT_FUNCTIONS, abi::EXPORT_INSTALL]);
    // the map says each function's size, and comes first, so that its
    // extent is known from the module's first bytes
    assert_eq!(map.sizes, bodies[..bodies.len() - 1], "install's is last");
    let extent = abi::code_map_extent(&m.wasm[..abi::CODE_MAP_HEAD]).expect("map first");
    assert_eq!(abi::custom_section(&m.wasm[..extent]), Some(section));
    assert_eq!(abi::code_map_extent(&m.wasm[..8]), None);
    // code is translated about once (functions stop where others start),
    // not once per region that reaches it
    let insts_in_file = m.code_bytes / 2;
    assert!(
        (m.insts as u64) < insts_in_file,
        "{} instructions translated from {} bytes of code",
        m.insts,
        m.code_bytes
    );
}

/// What is not a riscv64 ELF file, or is cut short, is refused, never a
/// panic; so is a code map that is not one.
#[test]
fn bad_files_and_code_maps_are_refused() {
    let data = std::fs::read(LD_SO).unwrap_or_else(|e| panic!("{LD_SO}: {e} (scripts/setup)"));
    for cut in [0, 4, 20, 63, 64, 200, 4096] {
        let _ = translate_elf(&data[..cut], Limits::default());
    }
    let mut other = data.clone();
    other[18] = 62; // EM_X86_64
    assert!(translate_elf(&other, Limits::default()).is_none());
    assert!(translate_elf(b"#!/bin/sh\n", Limits::default()).is_none());

    let map = abi::CodeMap {
        segments: vec![(0, 0x100, 0x1000)],
        functions: vec![(0x1000, 0x1010), (0x1010, 0x1020)],
        sizes: vec![100, 200],
        entries: vec![
            abi::Entry {
                pc: 0x1000,
                function: 0,
                block: 0,
            },
            abi::Entry {
                pc: 0x1010,
                function: 1,
                block: 0,
            },
        ],
    };
    let b = map.encode();
    assert_eq!(abi::CodeMap::decode(&b), Some(map.clone()));
    for cut in 0..b.len() {
        assert_eq!(abi::CodeMap::decode(&b[..cut]), None, "cut at {cut}");
    }
    // numbers as large as they come (LEB128 of 64 bits)
    let top = u64::MAX - 0x20;
    let high = abi::CodeMap {
        segments: vec![(u64::MAX - 1, u64::MAX, top)],
        functions: vec![(top, u64::MAX)],
        sizes: vec![u32::MAX],
        entries: vec![abi::Entry {
            pc: top + 2,
            function: 0,
            block: u32::MAX,
        }],
    };
    assert_eq!(abi::CodeMap::decode(&high.encode()), Some(high));
    // a count larger than the bytes that follow could hold
    let mut huge = b[..8].to_vec();
    huge.extend([0x00, 0xff, 0xff, 0xff, 0x7f]);
    assert_eq!(abi::CodeMap::decode(&huge), None);
    // an entry outside its function, entries out of order
    let mut bad = map.clone();
    bad.entries[1].function = 0;
    assert_eq!(abi::CodeMap::decode(&bad.encode()), None);
    let mut bad = map;
    bad.entries.swap(0, 1);
    assert_eq!(abi::CodeMap::decode(&bad.encode()), None);
    assert_eq!(abi::custom_section(b"\0asm\x01\0\0\0\0\xff"), None);
    // a module that does not start with its map
    assert_eq!(abi::code_map_extent(b"\0asm\x01\0\0\0\x01\x01\x00"), None);
}

/// The layout of the function `code` makes from `base` ahead of time (not
/// following calls), and its module validated.
fn laid_out(code: &mut Bytes) -> (region::Region, layout::Layout) {
    let base = code.base;
    let r = region::discover_in(
        code,
        base,
        Limits::AHEAD_OF_TIME,
        false,
        &Default::default(),
        &[],
    )
    .expect("a function");
    let l = layout::layout(&r);
    validate(&emit::module(&[(r.clone(), l.clone())], None));
    (r, l)
}

/// A loop whose test is at the top of its code is a wasm loop as it
/// stands; every block is an entry (only a loop's inner blocks are not,
/// and this one has one block).
#[test]
fn a_loop_entered_at_its_top_is_a_wasm_loop() {
    let mut code = words(
        0x1000,
        &[
            i_type(ADDI.0, ADDI.1, 10, 0, 100), // 0: li a0, 100
            r_type(0x33, 0, 0, 11, 11, 10),     // 4: add a1, a1, a0
            i_type(ADDI.0, ADDI.1, 10, 10, -1), // 8: addi a0, a0, -1
            b_type(1, 10, 0, -8),               // c: bnez a0, 4
            i_type(0x67, 0, 0, 1, 0),           // 10: ret
        ],
    );
    let (r, l) = laid_out(&mut code);
    let starts: Vec<u64> = r.blocks.iter().map(|b| b.start).collect();
    assert_eq!(starts, [0x1000, 0x1004, 0x1010]);
    assert_eq!(l.order, [0, 1, 2]);
    assert_eq!(l.loops, [(1, 1)]);
    assert_eq!(l.entries, [Some(0), Some(1), Some(2)]);
}

/// A loop laid out with its test at the bottom and entered there (a jump
/// over its body, as compilers lay out `while` loops) is turned round:
/// the block it is entered at heads the wasm loop, and the body it jumps
/// back to, now inside the loop, is not an entry.
#[test]
fn a_loop_entered_at_its_test_is_turned_round() {
    let mut code = words(
        0x1000,
        &[
            i_type(ADDI.0, ADDI.1, 10, 0, 10),  // 0: li a0, 10
            jal(0, 8),                          // 4: j c
            i_type(ADDI.0, ADDI.1, 11, 11, 1),  // 8: addi a1, a1, 1
            i_type(ADDI.0, ADDI.1, 10, 10, -1), // c: addi a0, a0, -1
            b_type(1, 10, 0, -8),               // 10: bnez a0, 8
            i_type(0x67, 0, 0, 1, 0),           // 14: ret
        ],
    );
    let (r, l) = laid_out(&mut code);
    let starts: Vec<u64> = r.blocks.iter().map(|b| b.start).collect();
    assert_eq!(starts, [0x1000, 0x1008, 0x100c, 0x1014]);
    assert_eq!(l.order, [0, 2, 1, 3]);
    assert_eq!(l.loops, [(1, 2)]);
    assert_eq!(l.entries, [Some(0), None, Some(1), Some(2)]);
}

/// Code a callee returns to is entered from outside the function, so a
/// loop around a call keeps its blocks as entries and goes round through
/// the dispatch; so does a loop with another loop inside (the inner one
/// is a wasm loop).
#[test]
fn loops_entered_from_outside_or_holding_loops_go_through_the_dispatch() {
    let mut code = words(
        0x1000,
        &[
            i_type(ADDI.0, ADDI.1, 10, 0, 10),  // 0: li a0, 10
            jal(1, 0x100),                      // 4: call 104
            i_type(ADDI.0, ADDI.1, 10, 10, -1), // 8: addi a0, a0, -1
            b_type(1, 10, 0, -8),               // c: bnez a0, 4
            i_type(0x67, 0, 0, 1, 0),           // 10: ret
        ],
    );
    let (_, l) = laid_out(&mut code);
    assert!(l.loops.is_empty(), "{l:?}");
    assert!(l.entries.iter().all(Option::is_some), "{l:?}");

    let mut code = words(
        0x1000,
        &[
            i_type(ADDI.0, ADDI.1, 10, 0, 10),  // 0: li a0, 10
            i_type(ADDI.0, ADDI.1, 11, 0, 10),  // 4: li a1, 10
            i_type(ADDI.0, ADDI.1, 11, 11, -1), // 8: addi a1, a1, -1
            b_type(1, 11, 0, -4),               // c: bnez a1, 8
            i_type(ADDI.0, ADDI.1, 10, 10, -1), // 10: addi a0, a0, -1
            b_type(1, 10, 0, -16),              // 14: bnez a0, 4
            i_type(0x67, 0, 0, 1, 0),           // 18: ret
        ],
    );
    let (r, l) = laid_out(&mut code);
    let starts: Vec<u64> = r.blocks.iter().map(|b| b.start).collect();
    assert_eq!(starts, [0x1000, 0x1004, 0x1008, 0x1010, 0x1018]);
    assert_eq!(l.loops, [(2, 2)]);
    assert!(l.entries.iter().all(Option::is_some), "{l:?}");
}

/// Ahead of time, a function's return stays in it when the function
/// called itself (the return point is one of its own calls of its own
/// code); a call of other code keeps its return a way out.
#[test]
fn a_recursive_functions_returns_stay_in_it() {
    let base = 0x1_0000;
    let ret = i_type(0x67, 0, 0, 1, 0);
    let mut code = words(
        base,
        &[
            b_type(0, 10, 0, 16),               // 0: beqz a0, 10
            i_type(ADDI.0, ADDI.1, 10, 10, -1), // 4: addi a0, a0, -1
            jal(1, -8),                         // 8: call 0 (itself)
            ret,                                // c: ret (to c, or out)
            ret,                                // 10: ret
        ],
    );
    let (r, _) = laid_out(&mut code);
    assert_eq!(r.returns, [base + 0xc]);
    let b = r
        .blocks
        .iter()
        .find(|b| b.start == base + 0x10)
        .expect("the ret");
    assert_eq!(r.indirect_targets(b), [base + 0xc]);
    // the same code calling elsewhere (0x20, not its own)
    let mut code = words(
        base,
        &[
            b_type(0, 10, 0, 16),
            i_type(ADDI.0, ADDI.1, 10, 10, -1),
            jal(1, 0x18),
            ret,
            ret,
        ],
    );
    let (r, _) = laid_out(&mut code);
    assert!(r.returns.is_empty(), "{:x?}", r.returns);
}
