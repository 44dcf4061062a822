//! `friscy exec` as a user meets it: arguments, environment, stdin, exit
//! statuses, signals, clocks, errors for bad input, and the trace.

use friscy_tests::{TempDir, bin, run, workspace_root};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn guest(tmp: &TempDir, name: &str) -> PathBuf {
    let src = workspace_root()
        .join("tests/guest/exec")
        .join(format!("{name}.c"));
    let out = tmp.path().join(name);
    let st = Command::new("riscv64-linux-gnu-gcc")
        .args(["-O1", "-static", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("riscv64-linux-gnu-gcc");
    assert!(st.success());
    out
}

fn friscy() -> Command {
    let mut c = Command::new(bin("friscy"));
    c.arg("exec");
    c
}

#[test]
fn arguments_environment_and_stdin_pass_through() {
    let tmp = TempDir::new("exec");
    let p = guest(&tmp, "status");
    let out = run(friscy()
        .arg(&p)
        .args(["args", "a b", "-x"])
        .env("FRISCY_TEST", "yes"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("[{}][args][a b][-x] env FRISCY_TEST=yes\n", p.display())
    );
    let mut child = friscy()
        .arg(&p)
        .arg("stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"12345").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "read 5\n");
}

#[test]
fn exit_statuses_and_signals() {
    let tmp = TempDir::new("exec");
    let p = guest(&tmp, "status");
    assert_eq!(
        run(friscy().arg(&p).args(["exit", "7"])).status.code(),
        Some(7)
    );
    assert_eq!(
        run(friscy().arg(&p).args(["exit", "300"])).status.code(),
        Some(300 & 0xff)
    );
    let segv = run(friscy().arg(&p).arg("segv"));
    assert_eq!(segv.status.code(), Some(128 + 11));
    let err = String::from_utf8_lossy(&segv.stderr);
    assert!(err.contains("signal 11") && err.contains("0x10"), "{err}");
    assert_eq!(
        run(friscy().arg(&p).arg("ebreak")).status.code(),
        Some(128 + 5)
    );
}

#[test]
fn hostile_lengths_cost_nothing() {
    let tmp = TempDir::new("exec");
    let p = guest(&tmp, "status");
    let out = run(friscy().arg(&p).arg("writev-huge"));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("writev"));
}

#[test]
fn rdtime_follows_real_time_at_10_mhz() {
    let tmp = TempDir::new("exec");
    let p = guest(&tmp, "rdtime");
    let out = run(friscy().arg(&p));
    let ticks: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    // the program slept 50 ms between the two reads
    assert!(ticks >= 500_000, "{ticks} ticks");
    assert!(ticks < 100_000_000, "{ticks} ticks");
}

#[test]
fn bad_programs_are_clear_errors() {
    let tmp = TempDir::new("exec");
    let missing = run(friscy().arg(tmp.path().join("nope")));
    assert_eq!(missing.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));

    // a host (x86-64) program
    let host = run(friscy().arg("/bin/true"));
    assert_eq!(host.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&host.stderr).contains("not riscv64"),
        "{}",
        String::from_utf8_lossy(&host.stderr)
    );

    // a script and a truncated ELF
    let script = tmp.path().join("script");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    assert!(String::from_utf8_lossy(&run(friscy().arg(&script)).stderr).contains("not an ELF"));
    let p = guest(&tmp, "status");
    let bytes = std::fs::read(&p).unwrap();
    let cut = tmp.path().join("cut");
    std::fs::write(&cut, &bytes[..200]).unwrap();
    let out = run(friscy().arg(&cut));
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed"));
    // random garbage after a valid header must not crash the host
    let mut junk = bytes.clone();
    for (i, b) in junk.iter_mut().enumerate().skip(64) {
        *b = (i as u8).wrapping_mul(151).wrapping_add(7);
    }
    let junk_path = tmp.path().join("junk");
    std::fs::write(&junk_path, &junk).unwrap();
    let out = run(friscy().arg(&junk_path));
    let code = out.status.code();
    assert!(
        matches!(code, Some(125) | Some(132) | Some(139) | Some(135)),
        "{code:?}"
    );
}

#[test]
fn trace_shows_system_calls() {
    let tmp = TempDir::new("exec");
    let p = guest(&tmp, "status");
    let out = run(Command::new(bin("friscy"))
        .args(["exec", "--trace"])
        .arg(&p)
        .args(["exit", "3"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("set_tid_address("), "{err}");
    assert!(err.contains("exit_group(3) = ?"), "{err}");
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn event_descriptors_and_timers_match_qemu() {
    let tmp = TempDir::new("exec");
    let p = guest(&tmp, "events");
    let want = run(Command::new("qemu-riscv64").arg(&p));
    let got = run(friscy().arg(&p));
    assert!(
        want.status.success(),
        "{}",
        String::from_utf8_lossy(&want.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        String::from_utf8_lossy(&want.stdout),
        "stderr: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(got.status.code(), Some(0));
}

#[test]
fn robust_mutexes_outlive_their_owners() {
    // qemu-user answers set_robust_list with ENOSYS, so it cannot be the
    // oracle here: the expected lines are what Linux documents
    // (pthread_mutexattr_setrobust(3), get_robust_list(2)).
    let tmp = TempDir::new("exec");
    let p = guest(&tmp, "robust");
    let out = run(Command::new("timeout")
        .arg("60")
        .arg(bin("friscy"))
        .arg("exec")
        .arg(&p));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "thread died holding it: EOWNERDEAD\nconsistent: 0\nrelock: 0\n\
         waiter: EOWNERDEAD\nchild exit 0\nlock after recovery: 0\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
}
