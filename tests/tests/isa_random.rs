//! Randomized instruction streams, run by friscy and by `qemu-riscv64`: the
//! final registers, fcsr and scratch memory must be identical.
//!
//! Each program sets every register to a random value (with a bias toward
//! edge values: 0, -1, extremes, special floats, badly NaN-boxed singles),
//! runs a random stream of valid encodings drawn from the instruction table
//! (32-bit rows with random operand bits, and random compressed encodings),
//! then writes all registers, fcsr and its 8 KiB scratch buffer to stdout.
//! Memory operands always address the scratch buffer: `s0` and `sp` point
//! into it and are never written by the stream; AMOs and LR/SC go through
//! `t6`, which the stream sets just before each use.
//!
//! `FRISCY_RANDOM_PROGRAMS` (default 150) and `FRISCY_RANDOM_SEED` choose
//! the batch; a failure names the seed of the program to replay.

use friscy_isa::table::{Desc, TABLE};
use friscy_isa::{Format, Op, decode};
use friscy_tests::{TempDir, bin};
use std::fmt::Write as _;
use std::process::Command;

const SCRATCH: usize = 8192;
/// Registers the stream may not write: sp, s0 (scratch base), t6 (AMO address).
const PROTECTED: [u8; 3] = [2, 8, 31];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn int_value(r: &mut Rng) -> u64 {
    match r.below(10) {
        0 => r.pick(&[
            0,
            1,
            u64::MAX,
            2,
            0x8000_0000_0000_0000,
            0x7fff_ffff_ffff_ffff,
        ]),
        1 => r.pick(&[0x8000_0000, 0x7fff_ffff, 0xffff_ffff, 0xffff_ffff_8000_0000]),
        2 => r.below(64),
        3 => (r.next() as i16) as i64 as u64,
        _ => r.next(),
    }
}

fn float_value(r: &mut Rng) -> u64 {
    const BOX: u64 = 0xffff_ffff_0000_0000;
    let singles: [u32; 14] = [
        0x0000_0000,
        0x8000_0000,
        0x7f80_0000,
        0xff80_0000,
        0x7fc0_0000,
        0x7fa0_0000, // signaling
        0x0000_0001, // smallest subnormal
        0x0080_0000, // smallest normal
        0x7f7f_ffff, // largest
        0x3f80_0000, // 1.0
        0xbf80_0000,
        0x4f00_0000, // 2^31
        0x5f80_0000, // 2^64
        0x3eaa_aaab,
    ];
    let doubles: [u64; 14] = [
        0,
        0x8000_0000_0000_0000,
        0x7ff0_0000_0000_0000,
        0xfff0_0000_0000_0000,
        0x7ff8_0000_0000_0000,
        0x7ff4_0000_0000_0000, // signaling
        1,
        0x0010_0000_0000_0000,
        0x7fef_ffff_ffff_ffff,
        0x3ff0_0000_0000_0000,
        0xbff0_0000_0000_0000,
        0x41e0_0000_0000_0000, // 2^31
        0x43f0_0000_0000_0000, // 2^64
        0x3fd5_5555_5555_5555,
    ];
    match r.below(8) {
        0 => BOX | u64::from(r.pick(&singles)),
        1 => r.pick(&doubles),
        2 => BOX | (r.next() & 0xffff_ffff),
        // a badly boxed single
        3 => r.next() & 0x0000_ffff_ffff_ffff,
        // moderate doubles and singles (exponent near 0)
        4 => (r.next() & 0x800f_ffff_ffff_ffff) | ((0x3f0 + r.below(32)) << 52),
        5 => BOX | ((r.next() & 0x807f_ffff) | ((0x70 + r.below(32)) << 23)),
        _ => r.next(),
    }
}

fn rd_ok(rd: u8) -> bool {
    !PROTECTED.contains(&rd)
}

/// Whether an op may appear in a random stream (no control flow, no
/// system calls, no counters that differ between emulators).
fn allowed(op: Op) -> bool {
    // auipc depends on where the code is; LR/SC come in generated pairs
    !op.ends_block() && !matches!(op, Op::Auipc | Op::LrW | Op::LrD | Op::ScW | Op::ScD)
}

/// Registers written as integer destinations by this format.
fn int_dest(f: Format) -> bool {
    !matches!(
        f,
        Format::Store
            | Format::FStore
            | Format::Branch
            | Format::Fence
            | Format::None
            | Format::FLoad
            | Format::FR
            | Format::FRn
            | Format::FR4
            | Format::FUnaryFF
            | Format::FUnaryFX
            | Format::FMvFX
    )
}

/// A random 32-bit instruction from table row `d`, made safe to run.
fn instr32(r: &mut Rng, d: &Desc, out: &mut String) -> bool {
    let mut w = (r.next() as u32 & !d.mask) | d.bits;
    let f = d.format;
    // rounding modes: never the reserved 5/6
    if matches!(
        f,
        Format::FR | Format::FR4 | Format::FUnaryFF | Format::FUnaryXF | Format::FUnaryFX
    ) {
        let rm = r.pick(&[0u32, 1, 2, 3, 4, 7]);
        w = (w & !(7 << 12)) | (rm << 12);
    }
    match f {
        Format::Load | Format::Store | Format::FLoad | Format::FStore => {
            // base s0, any 12-bit offset: inside the scratch buffer
            w = (w & !(31 << 15)) | (8 << 15);
        }
        Format::Amo => {
            let size = if d.bits & 0x1000 != 0 { 8 } else { 4 };
            let off = (r.below(400) as i64 - 200) * size;
            let _ = writeln!(out, "\taddi t6, s0, {off}");
            w = (w & !(31 << 15)) | (31 << 15);
        }
        Format::Csr | Format::CsrI => {
            // fflags may be written; frm and fcsr only read
            let csr = r.pick(&[1u32, 1, 2, 3]);
            w = (w & 0x000f_ffff) | (csr << 20);
            if csr != 1 {
                w &= !(31 << 15);
                w = (w & !(7 << 12)) | (if r.below(2) == 0 { 2 } else { 6 } << 12);
            }
        }
        _ => {}
    }
    let Ok(inst) = decode(w) else {
        return false;
    };
    if int_dest(f) && !rd_ok(inst.rd) {
        return false;
    }
    let _ = writeln!(out, "\t.insn 4, {w:#010x}");
    true
}

/// A random compressed instruction that is safe to run.
fn instr16(r: &mut Rng, out: &mut String) -> bool {
    let h = r.next() as u16;
    if h & 3 == 3 {
        return false;
    }
    let Ok(inst) = decode(u32::from(h)) else {
        return false;
    };
    if !allowed(inst.op) {
        return false;
    }
    let f = inst.op.format();
    if matches!(
        f,
        Format::Load | Format::Store | Format::FLoad | Format::FStore
    ) && inst.rs1 != 8
        && inst.rs1 != 2
    {
        return false;
    }
    if int_dest(f) && !rd_ok(inst.rd) {
        return false;
    }
    let _ = writeln!(out, "\t.insn 2, {h:#06x}");
    true
}

/// The assembly of one random program.
fn program(seed: u64, len: usize) -> String {
    let mut r = Rng(seed);
    let mut s = String::new();
    s.push_str("\t.option norvc\n\t.option norelax\n\t.text\n\t.globl _start\n_start:\n");
    s.push_str("\tlla s0, scratch + 4096\n\tmv sp, s0\n");
    // fp registers from the data table, then integer registers
    for i in 0..32 {
        let _ = writeln!(s, "\tlla t0, fvals\n\tfld f{i}, {}(t0)", i * 8);
    }
    let frm = r.below(5);
    let _ = writeln!(s, "\tfsrmi {frm}\n\tfsflags zero");
    for i in 1..32u8 {
        if PROTECTED.contains(&i) {
            continue;
        }
        let _ = writeln!(s, "\tli x{i}, {:#x}", int_value(&mut r));
    }
    s.push_str("\t.option rvc\n");
    let mut n = 0;
    while n < len {
        let roll = r.below(100);
        let ok = if roll < 20 {
            instr16(&mut r, &mut s)
        } else if roll < 23 {
            // an LR/SC pair on one address, maybe with work between
            let size = r.pick(&[4i64, 8]);
            let off = (r.below(400) as i64 - 200) * size;
            let suffix = if size == 4 { "w" } else { "d" };
            let rd = r.pick(&[5u8, 6, 7, 10, 11, 12]);
            let _ = writeln!(s, "\taddi t6, s0, {off}\n\tlr.{suffix} x{rd}, (t6)");
            if r.below(2) == 0 {
                let _ = writeln!(s, "\taddi x{rd}, x{rd}, 1");
            }
            let _ = writeln!(s, "\tsc.{suffix} x{rd}, x{}, (t6)", r.pick(&[9u8, 13, 14]));
            true
        } else {
            let d = &TABLE[r.below(TABLE.len() as u64) as usize];
            allowed(d.op) && instr32(&mut r, d, &mut s)
        };
        if ok {
            n += 1;
        }
    }
    s.push_str("\t.option norvc\n");
    // dump: x1..x31, f0..f31, fcsr
    s.push_str("\tlla t6, dump\n");
    for i in 1..31 {
        let _ = writeln!(s, "\tsd x{i}, {}(t6)", i * 8);
    }
    for i in 0..32 {
        let _ = writeln!(s, "\tfsd f{i}, {}(t6)", 256 + i * 8);
    }
    s.push_str("\tfrcsr t0\n\tsd t0, 512(t6)\n");
    s.push_str("\tli a0, 1\n\tlla a1, dump\n\tli a2, 520\n\tli a7, 64\n\tecall\n");
    let _ = writeln!(
        s,
        "\tli a0, 1\n\tlla a1, scratch\n\tli a2, {SCRATCH}\n\tli a7, 64\n\tecall"
    );
    s.push_str("\tli a0, 0\n\tli a7, 93\n\tecall\n");
    s.push_str("\t.data\n\t.balign 8\nfvals:\n");
    for _ in 0..32 {
        let _ = writeln!(s, "\t.dword {:#x}", float_value(&mut r));
    }
    s.push_str("\t.balign 16\nscratch:\n");
    for _ in 0..SCRATCH / 8 {
        let _ = writeln!(s, "\t.dword {:#x}", int_value(&mut r));
    }
    s.push_str("\t.balign 8\ndump:\n\t.zero 520\n");
    s
}

fn build(dir: &std::path::Path, seed: u64, len: usize) -> std::path::PathBuf {
    let src = dir.join(format!("r{seed:016x}.S"));
    let elf = dir.join(format!("r{seed:016x}"));
    std::fs::write(&src, program(seed, len)).unwrap();
    let out = Command::new("riscv64-linux-gnu-gcc")
        .args([
            "-nostdlib",
            "-static",
            "-march=rv64gc_zba_zbb_zbs",
            "-Wa,-march=rv64gc_zba_zbb_zbs",
            "-o",
        ])
        .arg(&elf)
        .arg(&src)
        .output()
        .expect("riscv64-linux-gnu-gcc is needed");
    assert!(
        out.status.success(),
        "seed {seed:#x}: assembler failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    elf
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| {
            let v = v.trim();
            v.strip_prefix("0x")
                .map_or_else(|| v.parse().ok(), |h| u64::from_str_radix(h, 16).ok())
        })
        .unwrap_or(default)
}

/// Describes where two dumps differ (registers by name).
fn describe(a: &[u8], b: &[u8]) -> String {
    let mut out = String::new();
    let word = |d: &[u8], i: usize| {
        d.get(i * 8..i * 8 + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    for i in 0..65 {
        let (x, y) = (word(a, i), word(b, i));
        if x != y {
            let name = match i {
                0 => "(unused)".to_string(),
                1..=31 => format!("x{i}"),
                32..=63 => format!("f{}", i - 32),
                _ => "fcsr".to_string(),
            };
            let _ = writeln!(out, "  {name}: qemu {x:x?} friscy {y:x?}");
        }
    }
    if a.len() != b.len() {
        let _ = writeln!(out, "  output length: qemu {} friscy {}", a.len(), b.len());
    } else if let Some(p) = (520..a.len()).find(|&p| a[p] != b[p]) {
        let _ = writeln!(out, "  scratch differs first at byte {}", p - 520);
    }
    out
}

/// Runs a batch of random programs with `run` and with qemu: every one
/// must print the same registers, fcsr and memory and exit the same way.
fn batch(what: &str, count: u64, run: &dyn Fn(&std::path::Path) -> std::process::Output) {
    let base = env_u64("FRISCY_RANDOM_SEED", 0x000f_0000_5eed_0000);
    let len = env_u64("FRISCY_RANDOM_LENGTH", 400) as usize;
    let tmp = TempDir::new("rand");
    let mut failures = Vec::new();
    for k in 0..count {
        let seed = base + k;
        let elf = build(tmp.path(), seed, len);
        let q = Command::new("qemu-riscv64").arg(&elf).output().unwrap();
        let f = run(&elf);
        if q.stdout != f.stdout || q.status.code() != f.status.code() {
            failures.push(format!(
                "seed {seed:#x} (replay: FRISCY_RANDOM_SEED={seed:#x} FRISCY_RANDOM_PROGRAMS=1): \
                 status qemu {:?} {what} {:?}\n{}{}",
                q.status.code(),
                f.status.code(),
                describe(&q.stdout, &f.stdout),
                String::from_utf8_lossy(&f.stderr)
            ));
            if std::env::var_os("FRISCY_KEEP").is_some() {
                let keep = std::env::temp_dir().join(format!("friscy-r{seed:016x}.S"));
                let _ = std::fs::copy(tmp.path().join(format!("r{seed:016x}.S")), keep);
            }
        }
        // Each program must really have run to its dump.
        assert!(
            q.stdout.len() == 520 + SCRATCH,
            "seed {seed:#x}: qemu printed {} bytes, stderr {}",
            q.stdout.len(),
            String::from_utf8_lossy(&q.stderr)
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {count} random programs differ ({what}):\n{}",
        failures.len(),
        failures[..failures.len().min(10)].join("\n")
    );
}

#[test]
fn random_streams_match_qemu() {
    let friscy = bin("friscy");
    batch("friscy", env_u64("FRISCY_RANDOM_PROGRAMS", 150), &|elf| {
        Command::new(&friscy).arg("exec").arg(elf).output().unwrap()
    });
}

/// The same streams with every block translated to wasm (friscy's wasm32
/// build under node, `FRISCY_TRANSLATE=force`): the translation tier gives
/// qemu's answers too, or leaves what it does not translate to the
/// interpreter.
#[test]
fn random_streams_match_qemu_when_translated() {
    let wasm = friscy_tests::workspace_root()
        .join("target/wasm32-unknown-unknown/release/friscy_web.wasm");
    let wasm = std::env::var_os("FRISCY_WASM").map_or(wasm, std::path::PathBuf::from);
    let runner = friscy_tests::workspace_root().join("runtime/web/node/run.mjs");
    batch(
        "friscy wasm, translated",
        env_u64("FRISCY_RANDOM_PROGRAMS", 60),
        &|elf| {
            Command::new("node")
                .arg(&runner)
                .arg(elf)
                .env("FRISCY_WASM", &wasm)
                .env("FRISCY_TRANSLATE", "force")
                .output()
                .unwrap()
        },
    );
}

/// The same streams from modules translated ahead of time (`friscy aot`,
/// then the wasm32 build under node with `FRISCY_AOT`, modules only): each
/// program's module gives qemu's answers, and runs most of it.
#[test]
fn random_streams_match_qemu_from_modules() {
    let wasm = friscy_tests::workspace_root()
        .join("target/wasm32-unknown-unknown/release/friscy_web.wasm");
    let wasm = std::env::var_os("FRISCY_WASM").map_or(wasm, std::path::PathBuf::from);
    let runner = friscy_tests::workspace_root().join("runtime/web/node/run.mjs");
    let friscy = bin("friscy");
    batch(
        "friscy wasm, from modules",
        env_u64("FRISCY_RANDOM_PROGRAMS", 40),
        &|elf| {
            let modules = TempDir::new("raot");
            friscy_tests::run_ok(
                Command::new(&friscy)
                    .arg("aot")
                    .arg("-o")
                    .arg(modules.path())
                    .arg(elf),
            );
            let out = Command::new("node")
                .arg(&runner)
                .arg("--stats")
                .arg(elf)
                .env("FRISCY_WASM", &wasm)
                .env("FRISCY_AOT", modules.path())
                .env("FRISCY_HOT", "1")
                .env("FRISCY_TRANSLATE", "modules")
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(" modules=1 "),
                "{}: the module was not used: {stderr}",
                elf.display()
            );
            out
        },
    );
}
