//! Guest input must never crash the host: `tests/guest/fuzz/syscalls.c`
//! makes thousands of raw system calls with hostile arguments (bad
//! pointers, huge lengths, odd descriptors, strange flags) and whatever
//! they are, friscy must answer with errnos or signals: never panic, abort,
//! overflow its stack, run out of memory or hang.
//!
//! Each seed is one run of the fuzzer under `friscy exec`; a few runs also
//! use `--trace`, whose argument printing reads guest memory too.
//! `FRISCY_FUZZ_SEEDS=N` (or `A..B`) and `FRISCY_FUZZ_CALLS=N` run more;
//! a failing seed is replayed with
//! `friscy exec PROGRAM SEED CALLS trace` (each call printed before it is
//! made) and narrowed down with `FUZZ_ONLY=...` (see the program).

use friscy_tests::{TempDir, bin, workspace_root};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Seeds and calls per run by default: about 0.1 s per run.
const SEEDS: u64 = 160;
const CALLS: u64 = 5000;
/// Seeds (of the above) also run with `--trace`.
const TRACED: u64 = 12;
/// A run that takes longer hangs.
const TIMEOUT: Duration = Duration::from_secs(20);
/// friscy's address space (KiB): a guest that makes the host allocate
/// without bound meets it instead of the machine's memory.
const ADDRESS_SPACE_KB: u64 = 4 << 20;
/// Bytes kept of the end of each output stream.
const KEEP: usize = 64 << 10;

fn compile(tmp: &TempDir) -> PathBuf {
    let src = workspace_root().join("tests/guest/fuzz/syscalls.c");
    let out = tmp.path().join("syscalls");
    let st = Command::new("riscv64-linux-gnu-gcc")
        .args(["-O1", "-static", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("riscv64-linux-gnu-gcc");
    assert!(st.success(), "cannot compile {}", src.display());
    out
}

/// What a run wrote on one stream: its end, and whether a Rust panic
/// message went by (a guest may write megabytes).
#[derive(Default)]
struct Stream {
    tail: Vec<u8>,
    panicked: bool,
}

impl Stream {
    fn read(mut r: impl Read) -> Stream {
        let mut s = Stream::default();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let keep_from = s.tail.len().saturating_sub(32);
            s.tail.extend_from_slice(&buf[..n]);
            // (with what came before, in case the words straddle reads)
            if !s.panicked && s.tail[keep_from..].windows(11).any(|w| w == b"panicked at") {
                s.panicked = true;
            }
            if s.tail.len() > 2 * KEEP {
                s.tail.drain(..s.tail.len() - KEEP);
            }
        }
        s
    }

    /// ("FILE:LINE:COL", message) of the panic at the end of the stream.
    fn panic(&self) -> Option<(String, String)> {
        if !self.panicked {
            return None;
        }
        let text = String::from_utf8_lossy(&self.tail);
        let Some(at) = text.rfind("panicked at ") else {
            return Some(("?".to_string(), "(message not kept)".to_string()));
        };
        let mut lines = text[at + "panicked at ".len()..].lines();
        let place = lines.next().unwrap_or("").trim_end_matches(':');
        Some((place.to_string(), lines.next().unwrap_or("").to_string()))
    }

    /// The lines of friscy's own messages and Rust's at the end of the
    /// stream (not the guest's bytes).
    fn last_host_lines(&self, n: usize) -> String {
        let text = String::from_utf8_lossy(&self.tail);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| {
                [
                    "fuzz:",
                    "killed by",
                    "waiting for something",
                    "memory allocation of",
                    "fatal runtime error",
                    "overflowed its stack",
                ]
                .iter()
                .any(|w| l.contains(w))
            })
            .collect();
        lines[lines.len().saturating_sub(n)..].join(" | ")
    }
}

/// A failed run: what kind of failure (failures of one kind are reported
/// together) and its details.
struct Failure {
    kind: String,
    detail: String,
}

fn run_one(prog: &Path, seed: u64, calls: u64, trace: bool) -> Result<(), Failure> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -v {ADDRESS_SPACE_KB} && exec \"$0\" \"$@\""
        ))
        .arg(bin("friscy"))
        .arg("exec");
    if trace {
        cmd.arg("--trace");
    }
    cmd.arg(prog)
        .arg(seed.to_string())
        .arg(calls.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run friscy");
    let out = child.stdout.take().expect("piped");
    let err = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || Stream::read(out));
    let err = std::thread::spawn(move || Stream::read(err));
    let started = Instant::now();
    let mut hung = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for friscy") {
            break st;
        }
        if started.elapsed() > TIMEOUT {
            hung = true;
            let _ = child.kill();
            break child.wait().expect("wait for friscy");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = out.join().expect("stdout reader");
    let err = err.join().expect("stderr reader");
    let host = err.last_host_lines(3);
    let fail = |kind: String, detail: String| Failure { kind, detail };
    if let Some((place, message)) = err.panic() {
        return Err(fail(format!("host panic at {place}"), message));
    }
    if hung {
        return Err(fail(
            "hang".to_string(),
            format!("still running after {TIMEOUT:?}; {host}"),
        ));
    }
    if let Some(sig) = status.signal() {
        return Err(fail(
            format!("friscy killed by host signal {sig}"),
            host.to_string(),
        ));
    }
    let code = status.code().unwrap_or(-1);
    let done = format!("fuzz done {calls}");
    if code == 0 && String::from_utf8_lossy(&out.tail).contains(&done) {
        return Ok(());
    }
    let kind = match code {
        134 => "exit status 134 (abort)".to_string(),
        3 => "the fuzzer lost the descriptor it writes its result to (exit 3)".to_string(),
        97 => "a real fault in the guest, signal over and over (exit 97)".to_string(),
        c if c > 128 => format!("guest killed by signal {}", c - 128),
        c => format!("guest did not finish (exit {c})"),
    };
    Err(fail(kind, host))
}

/// The seeds to run: `FRISCY_FUZZ_SEEDS` as `N` (0..N) or `A..B`.
fn seeds() -> std::ops::Range<u64> {
    match std::env::var("FRISCY_FUZZ_SEEDS") {
        Err(_) => 0..SEEDS,
        Ok(s) => match s.split_once("..") {
            Some((a, b)) => a.parse().expect("seed")..b.parse().expect("seed"),
            None => 0..s.parse().expect("seed count"),
        },
    }
}

#[test]
fn random_system_calls_never_crash_the_host() {
    let tmp = TempDir::new("fuzz");
    let prog = compile(&tmp);
    let calls: u64 = std::env::var("FRISCY_FUZZ_CALLS")
        .map(|c| c.parse().expect("FRISCY_FUZZ_CALLS"))
        .unwrap_or(CALLS);
    let seeds = seeds();
    let mut jobs: Vec<(u64, bool)> = seeds.clone().map(|s| (s, false)).collect();
    jobs.extend(seeds.take(TRACED as usize).map(|s| (s, true)));
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<(u64, bool, Failure)>> = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(seed, trace)) = jobs.get(i) else {
                        break;
                    };
                    if let Err(f) = run_one(&prog, seed, calls, trace) {
                        failures.lock().expect("lock").push((seed, trace, f));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    eprintln!(
        "{} runs of {calls} calls in {:.1} s, {} failed",
        jobs.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    if failures.is_empty() {
        return;
    }
    let mut by_kind: BTreeMap<String, Vec<(u64, bool, String)>> = BTreeMap::new();
    for (seed, trace, f) in failures {
        by_kind
            .entry(f.kind)
            .or_default()
            .push((seed, trace, f.detail));
    }
    let mut report = String::new();
    for (kind, runs) in &by_kind {
        let seeds: Vec<String> = runs
            .iter()
            .map(|(s, t, _)| {
                if *t {
                    format!("{s} (--trace)")
                } else {
                    s.to_string()
                }
            })
            .collect();
        report += &format!("\n- {kind}\n  seeds: {}\n", seeds.join(", "));
        let mut details: Vec<&str> = runs.iter().map(|(_, _, d)| d.as_str()).collect();
        details.sort_unstable();
        details.dedup();
        for d in details.iter().filter(|d| !d.is_empty()).take(3) {
            report += &format!("  {d}\n");
        }
    }
    panic!(
        "{} kinds of failure; replay one with `{} exec [--trace] PROGRAM SEED {calls} trace` \
         (PROGRAM: riscv64-linux-gnu-gcc -O1 -static tests/guest/fuzz/syscalls.c; \
         FUZZ_ONLY and FUZZ_AVOID there narrow it down):{report}",
        by_kind.len(),
        bin("friscy").display()
    );
}
