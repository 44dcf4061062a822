//! `friscy build`: the engine builds the Dockerfile for linux/riscv64,
//! friscy converts the result.

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};

use anyhow::{Context, Result, bail};
use friscy_converter::daemon;

use crate::convert;

/// What `friscy build` was given.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub tag: Option<String>,
    pub file: Option<PathBuf>,
    pub build_args: Vec<String>,
    pub target: Option<String>,
    pub push: bool,
    pub network: Option<String>,
    /// Translate the image's ELF files (`--no-aot` turns it off).
    pub aot: bool,
    pub context: PathBuf,
}

/// Builds, converts, loads (and pushes).
pub fn build(o: &BuildOptions) -> Result<ExitCode> {
    if o.push && o.tag.is_none() {
        bail!("--push needs a name: add -t REGISTRY/REPO[:TAG]");
    }
    if !o.context.is_dir() {
        bail!("build context {} is not a folder", o.context.display());
    }
    let scratch_tag = format!("friscy-build-{}:source", std::process::id());
    let mut cmd = daemon::docker();
    cmd.env("DOCKER_BUILDKIT", "1").args([
        "build",
        "--platform",
        "linux/riscv64",
        "-t",
        &scratch_tag,
    ]);
    if let Some(f) = &o.file {
        cmd.arg("-f").arg(f);
    }
    for a in &o.build_args {
        cmd.args(["--build-arg", a]);
    }
    if let Some(t) = &o.target {
        cmd.args(["--target", t]);
    }
    if let Some(n) = &o.network {
        cmd.args(["--network", n]);
    }
    cmd.arg("--").arg(&o.context);
    // docker's own progress and errors (the failing step) reach the user
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .context("cannot run docker build (is docker installed? $FRISCY_DOCKER names it)")?;
    if !status.success() {
        bail!("docker build failed ({status})");
    }
    let source = format!("docker-daemon:{scratch_tag}");
    let result = match &o.tag {
        Some(tag) => {
            let r = convert::convert(&source, &format!("docker-daemon:{tag}"), o.aot);
            match r {
                Ok(_) if o.push => convert::push(&format!("docker-daemon:{tag}"), Some(tag)),
                other => other,
            }
        }
        None => convert::convert_untagged(&source, o.aot),
    };
    daemon::remove(&scratch_tag);
    result
}
