//! `friscy run -m`: a container that needs more memory than its limit is
//! stopped by friscy with a message naming the limit — the OOM kill (exit
//! status 137), ENOMEM for an allocation larger than the limit, ENOSPC
//! for files written past it — never by the host running out. Real
//! Debian programs (python3, coreutils) on the `python` fixture, made a
//! friscy image so that only what the programs touch is in memory.

use std::process::Command;

use friscy_tests::{TempDir, bin, fixture, output_text, run, run_ok};

fn friscy_image(tmp: &TempDir) -> String {
    let out = tmp.path().join("img");
    run_ok(Command::new(bin("friscy")).args([
        "convert",
        &format!("oci:{}:python", fixture("python").display()),
        &format!("oci:{}:p", out.display()),
    ]));
    format!("oci:{}:p", out.display())
}

#[test]
fn a_container_past_its_memory_limit_is_stopped_with_a_message() {
    let tmp = TempDir::new("limits");
    let image = friscy_image(&tmp);
    let friscy = |args: &[&str]| {
        let mut c = Command::new("bash");
        // the host side stays small whatever the guest does
        c.arg("-c")
            .arg("ulimit -v 4194304; exec \"$@\"")
            .arg("friscy")
            .arg(bin("friscy"))
            .args(args);
        run(&mut c)
    };

    // pages touched one megabyte at a time: the OOM kill
    let out = friscy(&[
        "run",
        "-m",
        "64m",
        &image,
        "python3",
        "-c",
        "x = [bytearray(1 << 20) for _ in range(200)]; print('survived')",
    ]);
    let (stdout, stderr) = output_text(&out);
    assert_eq!(out.status.code(), Some(137), "{stdout}\n{stderr}");
    assert!(!stdout.contains("survived"));
    assert!(
        stderr.contains("memory limit of 64 MiB") && stderr.contains("python3"),
        "{stderr}"
    );

    // one allocation larger than the limit: ENOMEM, which python raises
    let out = friscy(&[
        "run",
        "-m",
        "64m",
        &image,
        "python3",
        "-c",
        "try:\n  bytearray(200 << 20)\nexcept MemoryError:\n  print('MemoryError')",
    ]);
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "MemoryError\n");

    // files are memory too: writing past the limit is ENOSPC
    let out = friscy(&[
        "run",
        "-m",
        "64m",
        &image,
        "python3",
        "-c",
        "import errno\nb = b'x' * (1 << 20)\nn = 0\ntry:\n  with open('/tmp/big', 'wb', buffering=0) as f:\n    while True:\n      f.write(b)\n      n += 1\nexcept OSError as e:\n  print(errno.errorcode[e.errno], n > 10)",
    ]);
    let (stdout, stderr) = output_text(&out);
    assert_eq!(stdout, "ENOSPC True\n", "{stderr}");

    // the guest sees its limit as its memory
    let out = friscy(&["run", "-m", "96m", &image, "head", "-n1", "/proc/meminfo"]);
    let (stdout, _) = output_text(&out);
    assert_eq!(stdout.split_whitespace().nth(1), Some("98304"), "{stdout}");

    // and within the limit the same programs just run
    let out = friscy(&[
        "run",
        "-m",
        "256m",
        &image,
        "python3",
        "-c",
        "x = [bytearray(1 << 20) for _ in range(100)]; print(len(x))",
    ]);
    let (stdout, stderr) = output_text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "100\n");

    // bad sizes are refused by the command line
    let out = friscy(&["run", "-m", "lots", &image, "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(output_text(&out).1.contains("not a size"));
}
