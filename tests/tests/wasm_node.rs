//! friscy's wasm32 build, run by Node.js, behaves exactly as the native
//! build: the same guest programs print the same bytes and exit the same
//! way. (scripts/test builds the module; `FRISCY_WASM` may point elsewhere.)

use friscy_tests::{TempDir, bin, output_text, run, run_ok, unpack_fixture, workspace_root};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn wasm_module() -> PathBuf {
    let path = std::env::var_os("FRISCY_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            workspace_root().join("target/wasm32-unknown-unknown/release/friscy_web.wasm")
        });
    assert!(
        path.is_file(),
        "{} not found: cargo build --release --target wasm32-unknown-unknown -p friscy-web",
        path.display()
    );
    path
}

fn with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// A figure of run.mjs's `--stats` line.
fn stat(stderr: &str, name: &str) -> u64 {
    stderr
        .split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {stderr}"))
}

/// Translates `files` ahead of time (`friscy aot`) into `dir`.
fn aot(dir: &Path, files: &[&Path]) {
    run_ok(
        Command::new(bin("friscy"))
            .arg("aot")
            .arg("-o")
            .arg(dir)
            .args(files),
    );
}

/// Runs `program args` natively, under node on the interpreter, under node
/// with the program's module translated ahead of time (`friscy aot`), and
/// under node with every block translated to wasm first (docs/aot.md); all
/// must agree on stdout, exit status and, between the wasm runs,
/// instructions retired. Returns stdout.
fn same(program: &Path, args: &[&str], input: &[u8]) -> String {
    let mut native = Command::new(bin("friscy"));
    native.arg("exec").arg(program).args(args);
    let n = with_stdin(native, input);
    let modules = TempDir::new("aot");
    aot(modules.path(), &[program]);
    let mut retired = Vec::new();
    for tier in ["off", "modules", "force"] {
        let mut node = Command::new("node");
        node.arg(workspace_root().join("runtime/web/node/run.mjs"))
            .arg("--stats")
            .arg(program)
            .args(args)
            .env("FRISCY_WASM", wasm_module())
            .env("FRISCY_AOT", modules.path())
            .env("FRISCY_HOT", "1")
            .env("FRISCY_TRANSLATE", tier);
        let w = with_stdin(node, input);
        let stderr = String::from_utf8_lossy(&w.stderr);
        assert_eq!(
            String::from_utf8_lossy(&n.stdout),
            String::from_utf8_lossy(&w.stdout),
            "stdout differs for {} {args:?} (wasm, translation {tier}); wasm stderr: {stderr}",
            program.display(),
        );
        assert_eq!(
            n.status.code(),
            w.status.code(),
            "exit status differs (wasm, translation {tier}); {stderr}"
        );
        let (all, translated) = (
            stat(&stderr, "instret"),
            stat(&stderr, "translated-instret"),
        );
        if tier != "off" && all > 100_000 {
            assert!(
                translated * 2 > all,
                "only {translated} of {all} instructions ran translated ({tier})"
            );
        }
        if tier == "modules" {
            assert_eq!(stat(&stderr, "regions"), 0, "modules only: {stderr}");
            assert_eq!(
                stat(&stderr, "modules"),
                1,
                "the program's module: {stderr}"
            );
        }
        retired.push(all);
    }
    assert_eq!(
        retired[0], retired[1],
        "instructions retired differ (modules)"
    );
    assert_eq!(
        retired[0], retired[2],
        "instructions retired differ (force)"
    );
    String::from_utf8(n.stdout).unwrap()
}

/// Fixture `name` converted with its modules into `tmp`; its `DIR:NAME`.
fn converted_with_modules(tmp: &TempDir, name: &str) -> String {
    let image = tmp.path().join("image");
    let said = run(Command::new(bin("friscy")).args([
        "convert",
        &format!("oci:{}:{name}", friscy_tests::fixture(name).display()),
        &format!("oci:{}:{name}", image.display()),
    ]));
    let (stdout, stderr) = output_text(&said);
    assert!(said.status.success(), "{stderr}");
    assert!(stdout.contains("modules of translated code"), "{stdout}");
    format!("{}:{name}", image.display())
}

fn compile(tmp: &TempDir, source: &str, march: &str) -> PathBuf {
    let src = workspace_root().join("tests/guest/isa").join(source);
    let out = tmp.path().join(source.replace('.', "_"));
    run_ok(
        Command::new("riscv64-linux-gnu-gcc")
            .args(["-O1", "-static", &format!("-march={march}"), "-o"])
            .arg(&out)
            .arg(&src),
    );
    out
}

#[test]
fn isa_programs_agree() {
    let tmp = TempDir::new("wasm");
    for (source, march) in [
        ("rv64i.c", "rv64gc"),
        ("rv64m.c", "rv64gc"),
        ("rv64a.c", "rv64gc"),
        ("fp_arith.c", "rv64gc"),
        ("fp_convert.c", "rv64gc"),
        ("bitmanip.c", "rv64gc_zba_zbb_zbs"),
        ("zifencei.c", "rv64gc"),
        ("zicsr.c", "rv64gc"),
        ("fp_fma.c", "rv64gc"),
        ("fp_misc.c", "rv64gc"),
        ("loadstore.c", "rv64gc"),
    ] {
        let elf = compile(&tmp, source, march);
        let out = same(&elf, &[], b"");
        assert!(out.lines().count() > 10, "{source} printed too little");
    }
}

#[test]
fn debian_busybox_agrees() {
    let tmp = TempDir::new("wbb");
    let busybox = unpack_fixture("base", tmp.path()).join("usr/bin/busybox");
    let out = same(
        &busybox,
        &["awk", "{ print toupper($0), 6 * 7 }"],
        b"riscv\n",
    );
    assert_eq!(out, "RISCV 42\n");
    let out = same(&busybox, &["sha256sum"], b"abc\n");
    assert!(out.starts_with("edeaaff3f1774ad2888673770c6d64097e391bc362d7d6fb34982ddf0efd18cb"));
    // a failing program exits the same way (status 1)
    let out = same(&busybox, &["false"], b"");
    assert_eq!(out, "");
}

/// A dynamically linked Debian program (bash: PIE, with ld.so, libc and
/// libtinfo mapped by the dynamic linker, and the programs it forks and
/// execs) of a friscy image converted with its modules runs from those
/// modules, read from the image when each file is first mapped and linked
/// where it is loaded, and gives the interpreter's answers exactly: at
/// once (FRISCY_HOT=1) and as hot code only (FRISCY_HOT=16: sixteen times
/// sooner than by default). By default a loop this short links nothing:
/// linking bash's module would cost more than interpreting it.
#[test]
fn dynamic_debian_programs_run_from_their_images_modules() {
    let tmp = TempDir::new("wdyn");
    let oci = converted_with_modules(&tmp, "base");
    let script = "for i in $(seq 1 2000); do x=$((x+i*i)); done; echo $x; echo ${BASH_VERSION%%.*}";
    let mut seen = Vec::new();
    for (tier, hot) in [
        ("off", "1"),
        ("modules", "1"),
        ("modules", "16"),
        ("modules", ""),
    ] {
        let out = run(Command::new("node")
            .arg(workspace_root().join("runtime/web/node/run.mjs"))
            .args(["--stats", "--oci", &oci, "bash", "-c", script])
            .env("FRISCY_WASM", wasm_module())
            .env("FRISCY_HOT", hot)
            .env("FRISCY_TRANSLATE", tier));
        let (stdout, stderr) = output_text(&out);
        assert!(out.status.success(), "{tier} {hot}: {stderr}");
        assert_eq!(stdout, "2668667000\n5\n", "{tier} {hot}");
        let all = stat(&stderr, "instret");
        let translated = stat(&stderr, "translated-instret");
        match (tier, hot) {
            ("off", _) => assert_eq!(translated, 0),
            (_, "1") => {
                assert!(
                    translated * 2 > all,
                    "only {translated} of {all} ran translated"
                );
                // bash, its libraries and ld.so, and seq's, in two processes
                assert!(stat(&stderr, "modules") >= 5, "{stderr}");
                assert_eq!(stat(&stderr, "regions"), 0, "modules only: {stderr}");
            }
            // only what ran often: bash's loop
            (_, "16") => assert!(translated > 0 && translated < all, "{stderr}"),
            _ => assert_eq!(stat(&stderr, "modules"), 0, "{stderr}"),
        }
        seen.push(all);
    }
    assert!(
        seen.iter().all(|&n| n == seen[0]),
        "instructions retired differ: {seen:?}"
    );
}

/// Debian's riscv64 nodejs, a JIT in the guest: V8 writes riscv64 code at
/// run time, runs it, and rewrites it. The script runs a function until
/// V8 optimizes it (TurboFan, so code is written and run) and prints the
/// function's optimization status with its result; natively, in wasm
/// interpreted and in wasm with the image's modules (some of the image's
/// code translated, the code V8 writes interpreted) print the same. (The
/// instructions retired differ from run to run: V8 seeds its hashes from
/// the guest's random numbers.)
#[test]
fn debian_nodejs_jit_agrees() {
    let tmp = TempDir::new("wnodejs");
    let oci = converted_with_modules(&tmp, "node");
    // single-threaded: V8 compiles on the thread that runs the script, so
    // what it has compiled when the script asks is the same every run
    let script = "function f(n) { let s = 0; for (let i = 0; i < n; i++) s = (s + i * i) % 1000003; return s; }\
        let r = 0; for (let k = 0; k < 2000; k++) r += f(500 + k % 7);\
        console.log(r, %GetOptimizationStatus(f));";
    let args = [
        "node",
        "--single-threaded",
        "--allow-natives-syntax",
        "-e",
        script,
    ];
    let native = run(Command::new(bin("friscy"))
        .arg("run")
        .arg(format!("oci:{oci}"))
        .args(args));
    let (expected, stderr) = output_text(&native);
    assert!(native.status.success(), "{stderr}");
    // V8's status bits: a function, optimized, by TurboFan
    const OPTIMIZED_BY_TURBOFAN: u64 = 1 | 1 << 4 | 1 << 6;
    let status: u64 = expected
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {expected:?}"));
    assert_eq!(
        status & OPTIMIZED_BY_TURBOFAN,
        OPTIMIZED_BY_TURBOFAN,
        "{expected}"
    );
    // modules sooner than by default (libnode's module, 540 MB of wasm,
    // is not worth linking for a run this short; smaller ones are), so
    // that code runs translated beside the code V8 writes
    for (tier, hot) in [("off", ""), ("modules", "16")] {
        let out = run(Command::new("node")
            .arg(workspace_root().join("runtime/web/node/run.mjs"))
            .args(["--stats", "--oci", &oci])
            .args(args)
            .env("FRISCY_WASM", wasm_module())
            .env("FRISCY_HOT", hot)
            .env("FRISCY_TRANSLATE", tier));
        let (stdout, stderr) = output_text(&out);
        assert!(out.status.success(), "{tier}: {stderr}");
        assert_eq!(stdout, expected, "{tier}: {stderr}");
        let translated = stat(&stderr, "translated-instret");
        match tier {
            "off" => assert_eq!(translated, 0),
            _ => assert!(translated > 1_000_000, "{stderr}"),
        }
    }
}

/// Every trap case (a fault, a misaligned atomic, ebreak, illegal and
/// reserved encodings, code run after its page was unmapped or lost X)
/// ends the same way interpreted, from its module and translated at run
/// time: the same signal after the same output.
#[test]
fn traps_agree() {
    let tmp = TempDir::new("wtrap");
    let elf = compile(&tmp, "traps.c", "rv64gc");
    for case in 0..24 {
        same(&elf, &[&case.to_string()], b"");
    }
}

/// `friscy aot` translates the riscv64 ELF files it finds in a directory
/// (skipping everything else), names each module by its file's sha256,
/// and refuses a file named on its command line that is not one.
#[test]
fn aot_translates_what_it_finds_and_refuses_what_it_cannot() {
    let tmp = TempDir::new("waot");
    let root = unpack_fixture("base", tmp.path());
    let dir = tmp.path().join("in");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(root.join("usr/bin/busybox"), dir.join("busybox")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a program\n").unwrap();
    let out = tmp.path().join("modules");
    let o = run(Command::new(bin("friscy"))
        .arg("aot")
        .arg("-o")
        .arg(&out)
        .arg(&dir));
    let (_, stderr) = output_text(&o);
    assert!(o.status.success(), "{stderr}");
    let sha = run_ok(Command::new("sha256sum").arg(dir.join("busybox")));
    let name = format!("{}.wasm", &sha[..64]);
    let made: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(made, vec![name.clone()], "{stderr}");
    assert!(stderr.contains("1 files"), "{stderr}");
    let o = run(Command::new(bin("friscy"))
        .arg("aot")
        .arg("-o")
        .arg(&out)
        .arg(dir.join("notes.txt")));
    let (_, stderr) = output_text(&o);
    assert_eq!(o.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("is not a riscv64 ELF file"), "{stderr}");

    // a module that names another translator version is said so and not
    // used: the program runs interpreted, with the same answer
    let module = out.join(&name);
    let mut wasm = std::fs::read(&module).unwrap();
    let at = wasm
        .windows(4)
        .position(|w| w == b"FRA1")
        .expect("the code map's magic");
    let version = u32::from_le_bytes(wasm[at + 4..at + 8].try_into().unwrap());
    wasm[at + 4..at + 8].copy_from_slice(&(version + 1).to_le_bytes());
    std::fs::write(&module, wasm).unwrap();
    let o = run(Command::new("node")
        .arg(workspace_root().join("runtime/web/node/run.mjs"))
        .arg("--stats")
        .arg(dir.join("busybox"))
        .args(["echo", "still here"])
        .env("FRISCY_WASM", wasm_module())
        .env("FRISCY_AOT", &out)
        .env("FRISCY_HOT", "1")
        .env("FRISCY_TRANSLATE", "modules"));
    let (stdout, stderr) = output_text(&o);
    assert_eq!(stdout, "still here\n", "{stderr}");
    assert!(
        stderr.contains(&format!(
            "made by translator version {}, this runtime runs version {version}",
            version + 1
        )),
        "{stderr}"
    );
    assert_eq!(stat(&stderr, "modules"), 0, "{stderr}");
}
