//! The image configuration: the parts of it `friscy run` uses.

use serde::Deserialize;

use super::error::SourceError;
use super::{Platform, RunConfig};

/// An OCI image configuration or Docker image configuration, reduced to what
/// is read here. Unknown fields are ignored; every field may be absent or null.
#[derive(Debug, Default, Deserialize)]
struct ConfigJson {
    architecture: Option<String>,
    os: Option<String>,
    variant: Option<String>,
    config: Option<ContainerConfigJson>,
    rootfs: Option<RootfsJson>,
}

/// The `config` object of an image configuration.
#[derive(Debug, Default, Deserialize)]
struct ContainerConfigJson {
    #[serde(rename = "Entrypoint")]
    entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd")]
    cmd: Option<Vec<String>>,
    #[serde(rename = "Env")]
    env: Option<Vec<String>>,
    #[serde(rename = "WorkingDir")]
    working_dir: Option<String>,
    #[serde(rename = "User")]
    user: Option<String>,
    #[serde(rename = "Labels")]
    labels: Option<std::collections::BTreeMap<String, String>>,
}

/// The `rootfs` object of an image configuration.
#[derive(Debug, Default, Deserialize)]
struct RootfsJson {
    diff_ids: Option<Vec<String>>,
}

/// What an image configuration says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedConfig {
    /// `os`, `architecture` and `variant` (empty strings when absent).
    pub platform: Platform,
    /// The process settings.
    pub run: RunConfig,
    /// `rootfs.diff_ids`: digests of the uncompressed layers, in order.
    pub diff_ids: Vec<String>,
    /// `config.Labels`.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Parses an image configuration; `what` names it for errors.
pub fn parse_config(bytes: &[u8], what: &str) -> Result<ParsedConfig, SourceError> {
    let json: ConfigJson = serde_json::from_slice(bytes).map_err(|source| SourceError::Json {
        what: what.to_owned(),
        source,
    })?;
    let mut container = json.config.unwrap_or_default();
    let labels = container.labels.take().unwrap_or_default();
    Ok(ParsedConfig {
        platform: Platform {
            os: json.os.unwrap_or_default(),
            architecture: json.architecture.unwrap_or_default(),
            variant: json.variant.filter(|v| !v.is_empty()),
        },
        run: RunConfig {
            entrypoint: container.entrypoint.unwrap_or_default(),
            cmd: container.cmd.unwrap_or_default(),
            env: container.env.unwrap_or_default(),
            working_dir: container.working_dir.unwrap_or_default(),
            user: container.user.unwrap_or_default(),
        },
        diff_ids: json
            .rootfs
            .and_then(|rootfs| rootfs.diff_ids)
            .unwrap_or_default(),
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_all_fields() {
        let parsed = parse_config(
            br#"{"architecture":"riscv64","os":"linux","variant":"rva23",
                "config":{"Entrypoint":["/bin/sh","-c"],"Cmd":["echo hi"],
                "Env":["A=1","B=2"],"WorkingDir":"/w","User":"1000:1000","Labels":{"x":"y"}},
                "rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#,
            "cfg",
        )
        .unwrap();
        assert_eq!(parsed.platform.os, "linux");
        assert_eq!(parsed.platform.architecture, "riscv64");
        assert_eq!(parsed.platform.variant.as_deref(), Some("rva23"));
        assert_eq!(parsed.run.entrypoint, ["/bin/sh", "-c"]);
        assert_eq!(parsed.run.cmd, ["echo hi"]);
        assert_eq!(parsed.run.env, ["A=1", "B=2"]);
        assert_eq!(parsed.run.working_dir, "/w");
        assert_eq!(parsed.run.user, "1000:1000");
        assert_eq!(parsed.diff_ids, ["sha256:aa"]);
        assert_eq!(parsed.labels["x"], "y");
    }

    #[test]
    fn null_and_absent_fields_are_empty() {
        for json in [
            r#"{}"#,
            r#"{"config":null,"os":null,"architecture":null,"variant":null,"rootfs":null}"#,
            r#"{"config":{"Entrypoint":null,"Cmd":null,"Env":null,"WorkingDir":null,"User":null}}"#,
        ] {
            let parsed = parse_config(json.as_bytes(), "cfg").unwrap();
            assert_eq!(parsed, ParsedConfig::default(), "{json}");
        }
    }

    #[test]
    fn corrupt_json_names_the_document() {
        for json in [
            &b"{"[..],
            b"[]",
            br#"{"config":{"Cmd":"not a list"}}"#,
            b"\xff",
        ] {
            let err = parse_config(json, "config sha256:feed").unwrap_err();
            assert!(err.to_string().contains("config sha256:feed"), "{err}");
        }
    }
}
