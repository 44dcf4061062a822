//! Differential ISA tests: friscy against qemu-riscv64.
//!
//! The oracle is qemu's user-mode emulator, an independent implementation
//! of the RISC-V ISA, configured as exactly the ISA friscy implements:
//! RV64GC + Zba/Zbb/Zbs/Zicond (`-cpu max` would add Zama16b, under which
//! misaligned AMOs do not trap). Each program in `tests/guest/isa/` (our own
//! C and assembly, see the comment at the top of each) exercises one area
//! and prints one line per case with hex values only; it is compiled once
//! with `riscv64-linux-gnu-gcc -O1 -static` (cached under
//! `target/guest-isa/`, rebuilt when the source or a shared header is
//! newer), run under both emulators, and the two runs must print the same
//! bytes and exit the same way. Nothing printed depends on addresses or
//! timing, so any difference is a difference in how an instruction behaves.
//!
//! Tags in a program's source: `isa-test-march: EXT` picks its `-march`
//! (default `rv64gc`); `isa-test-cases: N` runs it N times with the case
//! number as its argument, each run allowed to die of a signal (traps),
//! where programs without it must exit 0 under qemu.

use friscy_tests::{TempDir, bin, workspace_root};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output};
use std::time::SystemTime;

const CC: &str = "riscv64-linux-gnu-gcc";
const QEMU: &str = "qemu-riscv64";
/// qemu's CPU model: RV64GC (qemu's `rv64`) with the extensions friscy
/// adds, and nothing else.
const QEMU_CPU: &str = "rv64,zba=true,zbb=true,zbs=true,zicond=true";
const DEFAULT_MARCH: &str = "rv64gc";
const MARCH_TAG: &str = "isa-test-march:";
const CASES_TAG: &str = "isa-test-cases:";
/// Exit status of a process killed by a signal, as a shell reports it (and
/// as `friscy exec` exits when its guest dies of one).
const SIGNAL_EXIT_BASE: i32 = 128;

macro_rules! programs {
    ($($test:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check($file);
            }
        )*

        /// Every program, by file name under `tests/guest/isa/`.
        const PROGRAMS: &[&str] = &[$($file),*];
    };
}

programs! {
    rv64i => "rv64i.c",
    rv64m => "rv64m.c",
    rv64a => "rv64a.c",
    fp_arith => "fp_arith.c",
    fp_fma => "fp_fma.c",
    fp_convert => "fp_convert.c",
    fp_misc => "fp_misc.c",
    compressed => "compressed.S",
    zicsr => "zicsr.c",
    zifencei => "zifencei.c",
    bitmanip => "bitmanip.c",
    traps => "traps.c",
    loadstore => "loadstore.c",
}

fn guest_dir() -> PathBuf {
    workspace_root().join("tests").join("guest").join("isa")
}

fn is_program(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("c") | Some("S")
    )
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The first word after `tag` in a program's source.
fn tag<'a>(source: &'a str, tag: &str) -> Option<&'a str> {
    source
        .lines()
        .find_map(|l| l.split_once(tag))
        .and_then(|(_, rest)| rest.split_whitespace().next())
}

/// A program: its built ELF and how many cases it runs (None: one run
/// without arguments).
struct Program {
    elf: PathBuf,
    cases: Option<u32>,
}

/// Compiles `name` unless its cached ELF is newer than the source and every
/// shared header.
fn build(name: &str) -> Program {
    let dir = guest_dir();
    let src = dir.join(name);
    let out_dir = workspace_root().join("target").join("guest-isa");
    let elf = out_dir.join(format!("{name}.elf"));
    let text = std::fs::read_to_string(&src)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", src.display()));
    let cases = tag(&text, CASES_TAG).map(|n| {
        n.parse()
            .unwrap_or_else(|_| panic!("{name}: bad {CASES_TAG} {n}"))
    });
    let program = Program {
        elf: elf.clone(),
        cases,
    };
    let headers = std::fs::read_dir(&dir)
        .expect("tests/guest/isa")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "h"));
    let newest_input = std::iter::once(src.clone())
        .chain(headers)
        .filter_map(|p| modified(&p))
        .max();
    let fresh = match (modified(&elf), newest_input) {
        (Some(built), Some(input)) => built >= input,
        _ => false,
    };
    if fresh {
        return program;
    }
    std::fs::create_dir_all(&out_dir).expect("create target/guest-isa");
    // Build next to the target and rename, so that a concurrent or
    // interrupted build never leaves a half-written ELF behind.
    let tmp = out_dir.join(format!("{name}.{}.tmp", std::process::id()));
    let out = Command::new(CC)
        .args(["-O1", "-static", "-Wall"])
        .arg(format!(
            "-march={}",
            tag(&text, MARCH_TAG).unwrap_or(DEFAULT_MARCH)
        ))
        .arg("-I")
        .arg(&dir)
        .arg("-o")
        .arg(&tmp)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {CC} (gcc-riscv64-linux-gnu): {e}"));
    assert!(
        out.status.success(),
        "{CC} failed on {name}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&tmp, &elf).expect("move the built ELF into place");
    program
}

/// The exit status as a number: the code, or 128 + the signal.
fn status_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| SIGNAL_EXIT_BASE + s))
        .unwrap_or(-1)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// A unified-style diff of the first differing lines of `expected` (qemu)
/// and `actual` (friscy), or None if they are equal.
fn first_difference(expected: &str, actual: &str) -> Option<String> {
    const CONTEXT: usize = 3;
    const SHOWN: usize = 12;
    if expected == actual {
        return None;
    }
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let differs = |i: usize| e.get(i) != a.get(i);
    let longest = e.len().max(a.len());
    let first = (0..longest).find(|&i| differs(i)).unwrap_or(longest);
    let total = (0..longest).filter(|&i| differs(i)).count();
    let mut out = format!(
        "--- qemu-riscv64 ({} lines)\n+++ friscy ({} lines)\n@@ line {} @@\n",
        e.len(),
        a.len(),
        first + 1
    );
    for line in &e[first.saturating_sub(CONTEXT)..first.min(e.len())] {
        out += &format!(" {line}\n");
    }
    // One hunk: differing lines from `first` on, until CONTEXT equal lines
    // in a row (shown as trailing context) or SHOWN differences.
    let (mut shown, mut equal_run) = (0, 0);
    for i in first..longest {
        if differs(i) {
            if shown == SHOWN {
                out += "...\n";
                break;
            }
            if let Some(line) = e.get(i) {
                out += &format!("-{line}\n");
            }
            if let Some(line) = a.get(i) {
                out += &format!("+{line}\n");
            }
            shown += 1;
            equal_run = 0;
        } else {
            if equal_run == CONTEXT {
                break;
            }
            out += &format!(" {}\n", e[i]);
            equal_run += 1;
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out += "\\ the outputs differ in their final newline\n";
    }
    out += &format!("({total} line positions differ)\n");
    Some(out)
}

/// Builds `name`, runs it (each of its cases) under qemu and friscy, and
/// compares.
fn check(name: &str) {
    let program = build(name);
    match program.cases {
        None => compare(name, &program.elf, None),
        Some(n) => {
            for case in 0..n {
                compare(name, &program.elf, Some(case));
            }
        }
    }
}

/// Runs one case under both emulators and panics on any difference.
fn compare(name: &str, elf: &Path, case: Option<u32>) {
    let args: Vec<String> = case.iter().map(u32::to_string).collect();
    let label = match case {
        Some(n) => format!("{name} case {n}"),
        None => name.to_string(),
    };
    // qemu writes a core file into its working folder when its guest dies
    // of a signal: keep those out of the tree.
    let cwd = TempDir::new("isa");
    let qemu = run(Command::new(QEMU)
        .args(["-cpu", QEMU_CPU])
        .arg(elf)
        .args(&args)
        .current_dir(cwd.path()));
    let qemu_status = status_code(qemu.status);
    // Programs without cases exit 0: anything else means the test program
    // (or the oracle) is broken, not friscy.
    if case.is_none() {
        assert_eq!(
            qemu_status,
            0,
            "{label} fails under qemu-riscv64 itself\nstderr:\n{}",
            String::from_utf8_lossy(&qemu.stderr)
        );
    }
    let ours = run(Command::new(bin("friscy"))
        .arg("exec")
        .arg(elf)
        .args(&args)
        .current_dir(cwd.path()));
    let ours_status = status_code(ours.status);
    let expected = String::from_utf8_lossy(&qemu.stdout);
    let actual = String::from_utf8_lossy(&ours.stdout);
    let diff = first_difference(&expected, &actual);
    if diff.is_some() || ours_status != qemu_status {
        panic!(
            "{label}: friscy differs from qemu-riscv64\n\
             exit status: qemu {qemu_status}, friscy {ours_status}\n\
             {}friscy stderr:\n{}",
            diff.unwrap_or_else(|| "stdout is identical\n".to_string()),
            String::from_utf8_lossy(&ours.stderr)
        );
    }
    assert!(!expected.is_empty(), "{label} printed nothing");
}

#[test]
fn every_program_has_a_test() {
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(guest_dir()).expect("tests/guest/isa") {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if is_program(&path) && !PROGRAMS.contains(&name) {
            missing.push(name.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "add these to `programs!` in {}: {missing:?}",
        file!()
    );
}

#[test]
fn diff_shows_the_first_differing_lines() {
    assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
    let d = first_difference("1\n2\n3\n4\n5\n", "1\n2\n3\n4\nX\n").unwrap();
    assert!(d.contains("@@ line 5 @@"), "{d}");
    assert!(d.contains(" 4\n-5\n+X\n"), "{d}");
    assert!(d.contains("(1 line positions differ)"), "{d}");
    let d = first_difference("1\n2\n", "1\n").unwrap();
    assert!(d.contains("-2\n"), "{d}");
}
