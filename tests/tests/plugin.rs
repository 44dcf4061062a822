//! `docker friscy` works through the real docker CLI once installed.

use friscy_tests::{TempDir, bin, run, run_ok};
use std::process::Command;

/// Installs the plugin into a private docker config folder.
fn installed() -> TempDir {
    let cfg = TempDir::new("dcfg");
    let out = run_ok(
        Command::new(bin("friscy"))
            .arg("install-plugin")
            .env("DOCKER_CONFIG", cfg.path()),
    );
    assert!(out.contains("cli-plugins/docker-friscy"), "{out}");
    assert!(cfg.path().join("cli-plugins/docker-friscy").is_file());
    cfg
}

#[test]
fn metadata_is_valid_json() {
    let out = run_ok(Command::new(bin("docker-friscy")).arg("docker-cli-plugin-metadata"));
    let meta: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(meta["SchemaVersion"], "0.1.0");
    for key in ["Vendor", "Version", "ShortDescription", "URL"] {
        assert!(
            meta[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key}: {out}"
        );
    }
}

#[test]
fn docker_friscy_help_through_both_docker_clients() {
    let cfg = installed();
    for docker in ["/usr/bin/docker", "/usr/local/bin/docker", "docker"] {
        if docker.starts_with('/') && !std::path::Path::new(docker).exists() {
            continue;
        }
        let out = run_ok(
            Command::new(docker)
                .args(["friscy", "--help"])
                .env("DOCKER_CONFIG", cfg.path()),
        );
        assert!(out.contains("Usage: docker friscy"), "{docker}: {out}");
        // docker lists the plugin among its commands
        let help = run_ok(
            Command::new(docker)
                .arg("--help")
                .env("DOCKER_CONFIG", cfg.path()),
        );
        assert!(help.contains("friscy*"), "{docker}: {help}");
    }
}

#[test]
fn docker_global_flags_before_friscy_are_accepted() {
    let cfg = installed();
    let out = run_ok(
        Command::new("/usr/bin/docker")
            .args([
                "-H",
                "unix:///nonexistent.sock",
                "--debug",
                "friscy",
                "--version",
            ])
            .env("DOCKER_CONFIG", cfg.path()),
    );
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
}

#[test]
fn running_the_plugin_binary_directly_explains_itself() {
    let out = run(Command::new(bin("docker-friscy")).arg("run"));
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("docker friscy"), "{err}");
}
