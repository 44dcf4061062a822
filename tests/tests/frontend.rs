//! The BuildKit frontend end to end: the engine's own BuildKit (docker
//! 20.10 with DOCKER_BUILDKIT=1), the frontend's image in a registry on
//! 127.0.0.1, binfmt for the riscv64 RUN steps. A Dockerfile starting
//! `# syntax=REF` (and an unchanged one with BUILDKIT_SYNTAX) builds to a
//! friscy image, which `docker push` publishes and `friscy run` runs.

use friscy_tests::{
    Services, TempDir, bin, friscy_on_engine, output_text, push_fixture, registry_bytes, run,
    run_ok, script,
};
use std::process::Command;

#[test]
fn a_dockerfile_builds_to_a_friscy_image_through_the_frontend() {
    let mut svc = Services::new();
    let reg = svc.registry();
    let _ = svc.dockerd();
    let tmp = TempDir::new("frontend");
    let base = format!("{reg}/src/base:1");
    push_fixture("base", &base);
    // the frontend's image
    let binary = run_ok(&mut Command::new(script("build-frontend")));
    let frontend = format!("{reg}/friscy/frontend:test");
    let said = run_ok(
        Command::new(bin("friscy"))
            .args(["frontend", "push", &frontend, "--binary"])
            .arg(binary.trim()),
    );
    assert!(said.contains(&format!("# syntax={frontend}")), "{said}");

    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let body = format!(
        "FROM {base}\nARG WORD=nothing\nRUN echo \"$WORD from the frontend\" > /made && uname -m >> /made\n\
         CMD [\"cat\", \"/made\"]\n"
    );
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("# syntax={frontend}\n{body}"),
    )
    .unwrap();
    let image = format!("{reg}/app:fe");
    let out = run(svc
        .docker()
        .args(["build", "--progress", "plain", "--network", "host"])
        .args(["--build-arg", "WORD=built", "-t", &image])
        .arg(&ctx));
    let (so, se) = output_text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    assert!(se.contains("[friscy] convert to a friscy image"), "{se}");
    // the step runs the frontend this build runs, pinned by digest
    assert!(se.contains(&format!("{frontend}@sha256:")), "{se}");

    // docker push, a clean engine, friscy runs it from the registry
    run_ok(svc.docker().args(["push", &image]));
    run_ok(svc.docker().args(["image", "rm", &image]));
    let json = run_ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]));
    let info: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(info["Architecture"], "riscv64", "{json}");
    assert_eq!(info["Labels"]["dev.friscy.format"], "3", "{json}");
    let out = run(Command::new(bin("friscy")).args(["run", &format!("docker://{image}")]));
    let (so, se) = output_text(&out);
    assert_eq!(so, "built from the frontend\nriscv64\n", "{se}");
    assert!(se.contains("written by BuildKit"), "{se}");

    // `friscy push` makes it lazily readable: a run reads part of it
    let lazy = format!("{reg}/app:lazy");
    run_ok(svc.docker().args(["pull", &image]));
    let out =
        run(friscy_on_engine(&svc.dockerd()).args(["push", &image, &format!("docker://{lazy}")]));
    let (so, se) = output_text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    let out =
        run(Command::new(bin("friscy")).args(["run", "--stats", &format!("docker://{lazy}")]));
    let (so, se) = output_text(&out);
    assert_eq!(so, "built from the frontend\nriscv64\n", "{se}");
    assert!(!se.contains("reading it whole"), "{se}");
    let fetched = registry_bytes(&se);
    let layer_size = info["LayersData"][0]["Size"].as_u64().unwrap_or(u64::MAX);
    assert!(
        fetched < 8 << 20,
        "{fetched} bytes fetched (layer: {layer_size})"
    );

    // an unchanged Dockerfile with BUILDKIT_SYNTAX
    std::fs::write(ctx.join("Dockerfile"), &body).unwrap();
    let plain = format!("{reg}/app:plain");
    run_ok(
        svc.docker()
            .args(["build", "-q", "--network", "host"])
            .args(["--build-arg", &format!("BUILDKIT_SYNTAX={frontend}")])
            .args(["--build-arg", "WORD=unchanged", "-t", &plain])
            .arg(&ctx),
    );
    run_ok(svc.docker().args(["push", &plain]));
    let out = run(Command::new(bin("friscy")).args(["run", &format!("docker://{plain}")]));
    assert_eq!(
        output_text(&out).0,
        "unchanged from the frontend\nriscv64\n"
    );

    // a broken Dockerfile fails with its step's error
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("# syntax={frontend}\nFROM {base}\nRUN echo about to fail && false\n"),
    )
    .unwrap();
    let out = run(svc
        .docker()
        .args([
            "build",
            "--progress",
            "plain",
            "--network",
            "host",
            "-t",
            &plain,
        ])
        .arg(&ctx));
    let (so, se) = output_text(&out);
    assert!(!out.status.success(), "{so}\n{se}");
    assert!(se.contains("about to fail"), "{se}");
    assert!(
        se.contains("executor failed running [/bin/sh -c echo about to fail && false]"),
        "{se}"
    );
    // and so does a Dockerfile that does not parse, with its line
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("# syntax={frontend}\nFROM {base}\nRUNN echo x\n"),
    )
    .unwrap();
    let out = run(svc.docker().args(["build", "-t", &plain]).arg(&ctx));
    let (so, se) = output_text(&out);
    assert!(!out.status.success(), "{so}\n{se}");
    assert!(se.contains("line 3: unknown instruction: RUNN"), "{se}");
}
