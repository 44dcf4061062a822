//! The decoder agrees with binutils' `objdump` on which encodings are
//! instructions and what they are called: all 16-bit encodings, and a large
//! sample of 32-bit ones.
//!
//! Where binutils 2.40 (Debian 12) and the RISC-V specification disagree,
//! friscy follows the specification (and qemu); each such case is listed in
//! `known_difference` with its reason.

use friscy_isa::{Ext, decode, disasm::mnemonic, table::TABLE};
use friscy_tests::TempDir;
use std::collections::HashMap;
use std::process::Command;

/// Disassembles `words` (each `width` bytes) and returns, per word, objdump's
/// mnemonic or None where objdump prints it as data.
fn objdump(words: &[u32], width: usize) -> Vec<Option<String>> {
    // Assembled with `.insn` so that the object's RISC-V attributes name the
    // extensions: objdump then decodes Zba/Zbb/Zbs, which it does not do
    // for raw binary input.
    let tmp = TempDir::new("objdump");
    let src = tmp.path().join("code.s");
    let obj = tmp.path().join("code.o");
    let mut text = String::with_capacity(words.len() * 24);
    for w in words {
        text.push_str(&format!(".insn {width}, {w:#x}\n"));
    }
    std::fs::write(&src, text).unwrap();
    let status = Command::new("riscv64-linux-gnu-as")
        .args(["-march=rv64gc_zba_zbb_zbs", "-o"])
        .arg(&obj)
        .arg(&src)
        .status()
        .expect("riscv64-linux-gnu-as (binutils-riscv64-linux-gnu) is needed");
    assert!(status.success());
    let out = Command::new("riscv64-linux-gnu-objdump")
        .args(["-d", "-M", "no-aliases"])
        .arg(&obj)
        .output()
        .expect("riscv64-linux-gnu-objdump (binutils-riscv64-linux-gnu) is needed");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut by_addr = HashMap::new();
    for line in text.lines() {
        let mut parts = line.split('\t');
        let (Some(addr), Some(_hex), Some(mnem)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(addr) = addr.trim().strip_suffix(':') else {
            continue;
        };
        let Ok(addr) = usize::from_str_radix(addr, 16) else {
            continue;
        };
        let mnem = mnem.trim().to_string();
        let valid = !mnem.starts_with(".2byte") && !mnem.starts_with(".4byte");
        by_addr.insert(addr, valid.then_some(mnem));
    }
    (0..words.len())
        .map(|i| {
            by_addr
                .get(&(i * width))
                .cloned()
                .unwrap_or_else(|| panic!("objdump printed nothing at word {i}"))
        })
        .collect()
}

/// Encodings where friscy deliberately differs from binutils 2.40.
fn known_difference(raw: u32, ours: Option<&str>, theirs: Option<&str>) -> Option<&'static str> {
    let c = raw as u16;
    match (ours, theirs) {
        // The spec reserves c.addi16sp with a zero immediate; 2.40 prints it.
        (None, Some("c.addi16sp")) if c & 0xef83 == 0x6101 && c & 0x107c == 0 => {
            Some("c.addi16sp with nzimm=0 is reserved")
        }
        // 0x0000 is the defined-illegal instruction: binutils names it, but it
        // is no instruction (executing it traps).
        (None, Some("c.unimp")) if raw == 0 => Some("0x0000 is defined illegal"),
        // "Base implementations shall ignore" fence's rd, rs1 and unknown fm
        // bits (unprivileged spec, FENCE); binutils wants them zero.
        (Some("fence"), None) if raw & 0x707f == 0x000f => Some("fence ignores rd/rs1/fm"),
        // Likewise fence.i's imm, rs1 and rd (Zifencei chapter).
        (Some("fence.i"), None) if raw & 0x707f == 0x100f => Some("fence.i ignores its fields"),
        // Reserved rounding modes (5, 6) make an instruction illegal
        // (unprivileged spec, "F" chapter); binutils prints them.
        (None, Some(_)) if width_is_4(raw) && rm_field_reserved(raw) => {
            Some("rounding modes 5 and 6 are reserved")
        }
        // fcvt.d.s, fcvt.d.w and fcvt.d.wu are exact: binutils 2.40 only
        // accepts rm=rne for them; the spec and qemu take any valid rm.
        (Some("fcvt.d.s" | "fcvt.d.w" | "fcvt.d.wu"), None) => {
            Some("exact conversions with any rounding mode")
        }
        // Zicond is newer than binutils 2.40.
        (Some("czero.eqz" | "czero.nez"), None) => Some("binutils 2.40 predates Zicond"),
        _ => None,
    }
}

/// Groups mismatch lines ("RAW: friscy A, objdump B") by their pair of
/// names, with a count and an example each.
fn summary(mismatches: &[String]) -> String {
    let mut groups: HashMap<&str, (usize, &str)> = HashMap::new();
    for m in mismatches {
        let key = m.split_once(": ").map_or(m.as_str(), |(_, k)| k);
        groups.entry(key).or_insert((0, m)).0 += 1;
    }
    let mut rows: Vec<_> = groups.into_iter().collect();
    rows.sort_by_key(|b| std::cmp::Reverse(b.1.0));
    rows.iter()
        .take(60)
        .map(|(_, (n, example))| format!("{n:6} like {example}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn width_is_4(raw: u32) -> bool {
    raw & 3 == 3
}

/// Whether `raw` is an F/D instruction with a reserved rm field.
fn rm_field_reserved(raw: u32) -> bool {
    let opcode = raw & 0x7f;
    let fp = matches!(opcode, 0x43 | 0x47 | 0x4b | 0x4f | 0x53);
    fp && matches!((raw >> 12) & 7, 5 | 6)
}

fn compare(words: &[u32], width: usize) -> (usize, Vec<String>) {
    let theirs = objdump(words, width);
    let mut mismatches = Vec::new();
    let mut valid = 0;
    for (&raw, theirs) in words.iter().zip(&theirs) {
        let ours = decode(raw).ok();
        let ours_name = ours.as_ref().map(mnemonic);
        if ours.is_some() {
            valid += 1;
        }
        // objdump writes AMO ordering into the mnemonic (amoadd.w.aq)
        let theirs_base = theirs.as_deref().map(|m| {
            m.trim_end_matches(".aqrl")
                .trim_end_matches(".aq")
                .trim_end_matches(".rl")
        });
        if ours_name == theirs_base {
            continue;
        }
        if known_difference(raw, ours_name, theirs_base).is_some() {
            continue;
        }
        mismatches.push(format!(
            "{raw:#0width$x}: friscy {:?}, objdump {:?}",
            ours_name,
            theirs,
            width = width * 2 + 2
        ));
    }
    (valid, mismatches)
}

#[test]
fn all_16_bit_encodings_match_objdump() {
    let words: Vec<u32> = (0..=0xffffu32).filter(|w| w & 3 != 3).collect();
    let (valid, mismatches) = compare(&words, 2);
    assert!(valid > 40_000, "only {valid} valid compressed encodings");
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        summary(&mismatches)
    );
}

/// xorshift: a fixed seed keeps the sample the same from run to run.
fn rng(seed: u64) -> impl FnMut() -> u32 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 16) as u32
    }
}

#[test]
fn sampled_32_bit_encodings_match_objdump() {
    let mut next = rng(0x5eed_1234_abcd_0001);
    let mut words = Vec::new();
    // every row with random operand bits
    for d in TABLE {
        for _ in 0..400 {
            words.push((next() & !d.mask) | d.bits);
        }
    }
    // random words in the 32-bit opcode space
    for _ in 0..150_000 {
        let w = next() | 3;
        if w & 0x1c != 0x1c {
            words.push(w);
        }
    }
    let (valid, mismatches) = compare(&words, 4);
    assert!(valid > TABLE.len() * 300, "only {valid} valid");
    assert!(
        mismatches.is_empty(),
        "{} mismatches of {}:\n{}",
        mismatches.len(),
        words.len(),
        summary(&mismatches)
    );
    // The sample covers every extension.
    for ext in [
        Ext::I,
        Ext::M,
        Ext::A,
        Ext::F,
        Ext::D,
        Ext::Zba,
        Ext::Zbb,
        Ext::Zbs,
    ] {
        assert!(TABLE.iter().any(|d| d.ext == ext));
    }
}
