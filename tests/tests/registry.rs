//! friscy images through a real engine and a real registry (both started
//! here on 127.0.0.1 and stopped by PID): build with RUN steps, convert,
//! `docker push`, pull, skopeo, umoci, and `friscy run` from the registry,
//! lazily.

use friscy_tests::{
    Services, TempDir, bin, fixture, friscy_on_engine, output_text, push_fixture, registry_bytes,
    run, run_ok,
};
use std::process::Command;

#[test]
fn build_push_pull_and_run_from_the_registry() {
    let mut svc = Services::new();
    let reg = svc.registry();
    let host = svc.dockerd();
    let tmp = TempDir::new("reg");
    // the riscv64 base image, in the registry
    let base = format!("{reg}/src/base:1");
    push_fixture("base", &base);
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let dockerfile = |word: &str| {
        format!(
            "FROM {base}\nARG WORD=nothing\nRUN echo \"$WORD {word}\" > /made && uname -m >> /made\n\
             CMD [\"cat\", \"/made\"]\n"
        )
    };
    std::fs::write(ctx.join("Dockerfile"), dockerfile("one")).unwrap();
    let one = format!("{reg}/app:one");
    let out = run(friscy_on_engine(&host)
        .args([
            "build",
            "--network",
            "host",
            "--build-arg",
            "WORD=built",
            "-t",
            &one,
        ])
        .arg(&ctx));
    let (so, se) = output_text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    assert!(so.contains("loaded into the engine"), "{so}");

    // a plain docker push, a clean engine, a pull
    run_ok(svc.docker().args(["push", &one]));
    run_ok(svc.docker().args(["image", "rm", &one]));
    run_ok(svc.docker().args(["pull", &one]));
    let json = run_ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{one}"),
    ]));
    let info: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(info["Architecture"], "riscv64", "{json}");
    assert_eq!(info["Labels"]["dev.friscy.format"], "3", "{json}");
    let layout = tmp.path().join("layout");
    run_ok(Command::new("skopeo").args([
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{one}"),
        &format!("oci:{}:one", layout.display()),
    ]));
    run_ok(
        Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:one", layout.display()))
            .arg(tmp.path().join("bundle")),
    );
    assert!(tmp.path().join("bundle/rootfs/friscy/index").is_file());

    // friscy runs what the RUN step made, from the registry
    let out = run(friscy_on_engine(&host).args(["run", &format!("docker://{one}")]));
    let (so, se) = output_text(&out);
    assert_eq!(so, "built one\nriscv64\n", "{se}");
    assert!(se.contains("reading it whole"), "{se}");

    // friscy push makes it lazy again
    let lazy = format!("{reg}/app:lazy");
    let out = run(friscy_on_engine(&host).args(["push", &one, &format!("docker://{lazy}")]));
    let (so, se) = output_text(&out);
    assert!(out.status.success(), "{so}\n{se}");
    let out = run(friscy_on_engine(&host).args(["run", &format!("docker://{lazy}")]));
    let (so, se) = output_text(&out);
    assert_eq!(so, "built one\nriscv64\n", "{se}");
    assert!(!se.contains("reading it whole"), "{se}");

    // a second image on the same base: its push sends no base-layer blob
    std::fs::write(ctx.join("Dockerfile"), dockerfile("two")).unwrap();
    let two = format!("{reg}/app:two");
    run_ok(
        friscy_on_engine(&host)
            .args(["build", "--network", "host", "-t", &two])
            .arg(&ctx),
    );
    let pushed = run_ok(svc.docker().args(["push", &two]));
    let uploads = pushed.lines().filter(|l| l.ends_with(": Pushed")).count();
    assert_eq!(uploads, 1, "only the new layer: {pushed}");

    // a saved copy of an engine image in friscy's cache is used only while
    // it is the image the engine names: another image's archive in its
    // place is noticed, and the image saved again
    let cache = tmp.path().join("cache");
    let from_engine = |r: &str| {
        let out = run(friscy_on_engine(&host)
            .env("XDG_CACHE_HOME", &cache)
            .args(["run", &format!("docker-daemon:{r}")]));
        output_text(&out)
    };
    assert_eq!(from_engine(&one).0, "built one\nriscv64\n");
    assert_eq!(from_engine(&two).0, "nothing two\nriscv64\n");
    let mut saved = |r: &str| {
        let out = run_ok(
            svc.docker()
                .args(["image", "inspect", "--format", "{{.Id}}", r]),
        );
        let id = out.trim().trim_start_matches("sha256:").to_owned();
        cache.join("friscy/engine").join(format!("{id}.tar"))
    };
    let (from, to) = (saved(&two), saved(&one));
    std::fs::copy(from, to).unwrap();
    let (so, se) = from_engine(&one);
    assert_eq!(so, "built one\nriscv64\n", "{se}");

    // a broken Dockerfile fails with its step's error
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {base}\nRUN echo about to fail && false\n"),
    )
    .unwrap();
    let out = run(friscy_on_engine(&host)
        .args(["build", "--network", "host", "-t", &two])
        .arg(&ctx));
    let (so, se) = output_text(&out);
    assert_eq!(out.status.code(), Some(125), "{so}\n{se}");
    assert!(se.contains("echo about to fail && false"), "{se}");
}

#[test]
fn friscy_images_in_a_registry_are_read_lazily() {
    let mut svc = Services::new();
    let reg = svc.registry();
    let host = "unix:///nonexistent";
    let base = format!("oci:{}:base", fixture("base").display());
    let tools = format!("oci:{}:tools", fixture("tools").display());
    let out =
        run_ok(friscy_on_engine(host).args(["convert", &base, &format!("docker://{reg}/py:base")]));
    assert!(out.contains("0 already there"), "{out}");
    // the tools image shares the base layer (with its modules) and the
    // runtime layer: the registry has both
    let out = run_ok(friscy_on_engine(host).args([
        "convert",
        &tools,
        &format!("docker://{reg}/py:tools"),
    ]));
    assert!(out.contains("2 already there"), "{out}");
    let stored: u64 = {
        let shown =
            run_ok(friscy_on_engine(host).args(["inspect", &format!("docker://{reg}/py:tools")]));
        assert!(shown.contains("format    friscy 3"), "{shown}");
        let manifest = run_ok(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{reg}/py:tools"),
        ]));
        let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["size"].as_u64().unwrap())
            .sum()
    };
    let out = run(friscy_on_engine(host).args([
        "run",
        "--stats",
        &format!("docker://{reg}/py:tools"),
        "python3",
        "-c",
        "print(sum(range(10)))",
    ]));
    let (so, se) = output_text(&out);
    assert_eq!(so, "45\n", "{se}");
    let got = registry_bytes(&se);
    println!(
        "python3 -c print from the registry: {got} of {stored} bytes ({:.1}%)",
        got as f64 * 100.0 / stored as f64
    );
    assert!(got * 5 < stored, "lazy: {got} of {stored} bytes");

    // errors name what is wrong
    let out = run(friscy_on_engine(host).args(["run", &format!("docker://{reg}/py:nope")]));
    let (_, se) = output_text(&out);
    assert_eq!(out.status.code(), Some(125));
    assert!(se.contains("not found"), "{se}");
    let out = run(friscy_on_engine(host).args(["run", "docker://127.0.0.1:1/x:y"]));
    let (_, se) = output_text(&out);
    assert_eq!(out.status.code(), Some(125));
    assert!(se.contains("cannot reach"), "{se}");
}

#[test]
fn registry_credentials_come_from_the_docker_config() {
    let tmp = TempDir::new("auth");
    let htpasswd = tmp.path().join("htpasswd");
    run_ok(
        Command::new("htpasswd")
            .args(["-Bbc"])
            .arg(&htpasswd)
            .args(["friscy", "s3cret"]),
    );
    let mut svc = Services::new();
    let reg = svc.registry_with_auth(&htpasswd);
    // what `docker login` writes
    let config = tmp.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"auths":{{"{reg}":{{"auth":"ZnJpc2N5OnMzY3JldA=="}}}}}}"#),
    )
    .unwrap();
    let empty = tmp.path().join("no-login");
    std::fs::create_dir_all(&empty).unwrap();
    let base = format!("oci:{}:base", fixture("base").display());
    let dest = format!("docker://{reg}/private/base:1");

    let out = run(friscy_on_engine("unix:///nonexistent")
        .env("DOCKER_CONFIG", &empty)
        .args(["convert", &base, &dest]));
    let (_, se) = output_text(&out);
    assert_eq!(out.status.code(), Some(125), "{se}");
    assert!(
        se.contains("authentication failed") && se.contains("docker login"),
        "{se}"
    );

    run_ok(
        friscy_on_engine("unix:///nonexistent")
            .env("DOCKER_CONFIG", &config)
            .args(["convert", &base, &dest]),
    );
    let out = run(friscy_on_engine("unix:///nonexistent")
        .env("DOCKER_CONFIG", &config)
        .args(["run", &dest, "cat", "/etc/debian_version"]));
    let (so, se) = output_text(&out);
    assert!(out.status.success(), "{se}");
    assert!(!so.trim().is_empty());
    // `docker --config DIR friscy ...` passes DIR on: the plugin takes it
    let out = run(Command::new(bin("docker-friscy"))
        .arg("--config")
        .arg(&config)
        .args(["friscy", "run", &dest, "true"]));
    let (_, se) = output_text(&out);
    assert!(out.status.success(), "{se}");
}
