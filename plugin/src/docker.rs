//! The Docker CLI plugin protocol.
//!
//! Docker runs a plugin as `docker-friscy [GLOBAL FLAGS...] friscy [ARGS...]`:
//! the plugin receives the user's whole command line, including the docker
//! CLI's own global flags that came before the word `friscy`. It also runs
//! `docker-friscy docker-cli-plugin-metadata` to learn what the plugin is.

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// The plugin's name: the word after `docker`.
pub const PLUGIN_NAME: &str = "friscy";
/// The argument with which the docker CLI asks a plugin for its metadata.
pub const METADATA_SUBCOMMAND: &str = "docker-cli-plugin-metadata";

/// What `docker-friscy docker-cli-plugin-metadata` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    pub schema_version: &'static str,
    pub vendor: &'static str,
    pub version: &'static str,
    pub short_description: &'static str,
    #[serde(rename = "URL")]
    pub url: &'static str,
}

/// The plugin's metadata, as the docker CLI (schema 0.1.0) expects it.
pub fn metadata() -> Metadata {
    Metadata {
        schema_version: "0.1.0",
        vendor: "friscy",
        version: env!("CARGO_PKG_VERSION"),
        short_description: "Run riscv64 containers natively or in a browser tab",
        url: env!("CARGO_PKG_REPOSITORY"),
    }
}

/// The docker CLI's global flags that the user gave before `friscy`.
///
/// They tell the plugin which engine to use (`--host`, `--context`, TLS) and
/// where the user's docker configuration (credentials) lives (`--config`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GlobalFlags {
    pub config: Option<String>,
    pub context: Option<String>,
    pub debug: bool,
    pub hosts: Vec<String>,
    pub log_level: Option<String>,
    pub tls: bool,
    pub tls_verify: bool,
    pub tls_ca_cert: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
}

impl GlobalFlags {
    /// The flags again, for the `docker` commands friscy runs.
    pub fn engine_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(c) = &self.config {
            v.extend(["--config".to_owned(), c.clone()]);
        }
        if let Some(c) = &self.context {
            v.extend(["--context".to_owned(), c.clone()]);
        }
        for h in &self.hosts {
            v.extend(["--host".to_owned(), h.clone()]);
        }
        if self.tls {
            v.push("--tls".to_owned());
        }
        if self.tls_verify {
            v.push("--tlsverify".to_owned());
        }
        for (flag, value) in [
            ("--tlscacert", &self.tls_ca_cert),
            ("--tlscert", &self.tls_cert),
            ("--tlskey", &self.tls_key),
        ] {
            if let Some(x) = value {
                v.extend([flag.to_owned(), x.clone()]);
            }
        }
        v
    }
}

/// What the plugin was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Print the plugin metadata.
    Metadata,
    /// Run `friscy ARGS` with the docker CLI's global flags.
    Run {
        globals: GlobalFlags,
        args: Vec<String>,
    },
}

/// Splits the plugin's command line (without `argv[0]`) into docker's global
/// flags and the arguments that follow the word `friscy`.
pub fn parse_invocation(args: &[String]) -> Result<Invocation> {
    if args.first().map(String::as_str) == Some(METADATA_SUBCOMMAND) {
        return Ok(Invocation::Metadata);
    }
    let mut globals = GlobalFlags::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == PLUGIN_NAME {
            return Ok(Invocation::Run {
                globals,
                args: args[i + 1..].to_vec(),
            });
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || -> Result<String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            i += 1;
            args.get(i)
                .cloned()
                .with_context(|| format!("docker flag {flag} needs a value"))
        };
        match flag {
            "--config" => globals.config = Some(value()?),
            "-c" | "--context" => globals.context = Some(value()?),
            "-H" | "--host" => globals.hosts.push(value()?),
            "-l" | "--log-level" => globals.log_level = Some(value()?),
            "--tlscacert" => globals.tls_ca_cert = Some(value()?),
            "--tlscert" => globals.tls_cert = Some(value()?),
            "--tlskey" => globals.tls_key = Some(value()?),
            "-D" | "--debug" => globals.debug = bool_flag(inline.as_deref(), flag)?,
            "--tls" => globals.tls = bool_flag(inline.as_deref(), flag)?,
            "--tlsverify" => globals.tls_verify = bool_flag(inline.as_deref(), flag)?,
            _ => bail!(
                "unexpected argument {arg:?} before `{PLUGIN_NAME}`: \
                 docker-friscy is a docker CLI plugin; run it as `docker {PLUGIN_NAME} ...`"
            ),
        }
        i += 1;
    }
    bail!(
        "docker-friscy is a docker CLI plugin: run it as `docker {PLUGIN_NAME} ...` \
         (or use the standalone `friscy` binary)"
    )
}

fn bool_flag(inline: Option<&str>, flag: &str) -> Result<bool> {
    match inline {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => bail!("docker flag {flag} takes true or false, not {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn metadata_is_the_documented_json() {
        let inv = parse_invocation(&strings(&["docker-cli-plugin-metadata"])).unwrap();
        assert_eq!(inv, Invocation::Metadata);
        let json: serde_json::Value = serde_json::to_value(metadata()).unwrap();
        assert_eq!(json["SchemaVersion"], "0.1.0");
        assert_eq!(json["Vendor"], "friscy");
        assert_eq!(json["Version"], env!("CARGO_PKG_VERSION"));
        assert!(json["ShortDescription"].as_str().unwrap().len() > 10);
        assert!(json["URL"].as_str().unwrap().starts_with("https://"));
    }

    #[test]
    fn global_flags_before_the_plugin_name() {
        let inv = parse_invocation(&strings(&[
            "-H",
            "unix:///run/a.sock",
            "--config=/tmp/cfg",
            "-D",
            "--tlsverify=false",
            "--context",
            "ctx",
            "friscy",
            "run",
            "-H",
            "img",
        ]))
        .unwrap();
        let Invocation::Run { globals, args } = inv else {
            panic!("expected a run")
        };
        assert_eq!(globals.hosts, vec!["unix:///run/a.sock"]);
        assert_eq!(globals.config.as_deref(), Some("/tmp/cfg"));
        assert_eq!(globals.context.as_deref(), Some("ctx"));
        assert!(globals.debug);
        assert!(!globals.tls_verify);
        // Everything after `friscy` belongs to friscy, even docker-like flags.
        assert_eq!(args, strings(&["run", "-H", "img"]));
    }

    #[test]
    fn plain_invocation() {
        let inv = parse_invocation(&strings(&["friscy", "--help"])).unwrap();
        assert_eq!(
            inv,
            Invocation::Run {
                globals: GlobalFlags::default(),
                args: strings(&["--help"])
            }
        );
    }

    #[test]
    fn bad_invocations_are_errors() {
        assert!(parse_invocation(&strings(&[])).is_err());
        assert!(parse_invocation(&strings(&["run"])).is_err());
        assert!(parse_invocation(&strings(&["-H"])).is_err());
        assert!(parse_invocation(&strings(&["--bogus", "friscy"])).is_err());
        assert!(parse_invocation(&strings(&["--debug=maybe", "friscy"])).is_err());
    }
}
