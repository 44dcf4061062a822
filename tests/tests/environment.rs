//! The end-to-end environment itself: a private dockerd and registry on
//! 127.0.0.1, binfmt for riscv64, and fixture images that move between them.
//! Later suites build on exactly this.

use friscy_tests::{Services, TempDir, push_fixture, run_ok};
use std::process::Command;

#[test]
fn registry_engine_and_riscv64_build_work_together() {
    let mut svc = Services::new();
    let registry = svc.registry();
    assert!(registry.starts_with("127.0.0.1:"), "{registry}");

    // fixture -> registry
    let base = format!("{registry}/fixtures/base:1");
    push_fixture("base", &base);

    // registry -> engine: a Dockerfile with a RUN step, executed for riscv64
    // through binfmt, on the engine's BuildKit
    let ctx = TempDir::new("ctx");
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {base}\nRUN uname -m > /arch && echo built > /status\n"),
    )
    .unwrap();
    run_ok(svc.docker().args([
        "build",
        "--quiet",
        "--network",
        "none",
        "--platform",
        "linux/riscv64",
        "-t",
        "env-test:1",
        ctx.path().to_str().unwrap(),
    ]));
    let out = run_ok(svc.docker().args([
        "run",
        "--rm",
        "--network",
        "none",
        "env-test:1",
        "cat",
        "/arch",
        "/status",
    ]));
    assert_eq!(out, "riscv64\nbuilt\n");

    // engine -> registry -> engine
    let pushed = format!("{registry}/env-test:1");
    run_ok(svc.docker().args(["tag", "env-test:1", &pushed]));
    run_ok(svc.docker().args(["push", "--quiet", &pushed]));
    run_ok(svc.docker().args(["rmi", "env-test:1", &pushed]));
    run_ok(svc.docker().args(["pull", "--quiet", &pushed]));
    let inspect = run_ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{pushed}"),
    ]));
    let info: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(info["Architecture"], "riscv64", "{inspect}");
}
