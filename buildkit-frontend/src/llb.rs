//! The one LLB step the frontend adds to the Dockerfile's build: run this
//! image's `friscy-frontend convert /in /out` with the Dockerfile's result
//! at `/in`, keeping `/out`.
//!
//! A definition is a list of encoded ops; an op names its inputs by the
//! sha256 of their encoded bytes, and the last op is a bare terminal that
//! names the result. The Dockerfile's definition is kept op for op (so its
//! cache is shared), its terminal replaced by the new step and a new
//! terminal.

use std::collections::BTreeMap;

use bollard_buildkit_proto::pb;
use friscy_converter::sha256_of;
use prost::Message;

/// Where the frontend's own binary is in its image.
pub const BINARY: &str = "/friscy-frontend";

/// Why a definition could not be extended.
#[derive(Debug)]
pub struct BadDefinition(pub String);

impl std::fmt::Display for BadDefinition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the Dockerfile's build definition: {}", self.0)
    }
}

impl std::error::Error for BadDefinition {}

fn caps(names: &[&str]) -> pb::OpMetadata {
    pb::OpMetadata {
        caps: names.iter().map(|c| (c.to_string(), true)).collect(),
        ..Default::default()
    }
}

/// `def` (the Dockerfile's result) followed by the conversion step, run in
/// `image` (this frontend's image, for `platform`, the platform BuildKit
/// runs on).
pub fn with_conversion(
    def: &pb::Definition,
    image: &str,
    platform: &pb::Platform,
    aot: bool,
) -> Result<pb::Definition, BadDefinition> {
    let (terminal, ops) = def
        .def
        .split_last()
        .ok_or_else(|| BadDefinition("no ops".into()))?;
    let terminal = pb::Op::decode(terminal.as_slice())
        .map_err(|e| BadDefinition(format!("its last op: {e}")))?;
    let head = match terminal.inputs.as_slice() {
        [input] if terminal.op.is_none() => input.clone(),
        _ => return Err(BadDefinition("its last op is not a terminal".into())),
    };
    let mut ops: Vec<Vec<u8>> = ops.to_vec();
    let mut metadata: BTreeMap<String, pb::OpMetadata> = def.metadata.clone().into_iter().collect();

    let source = pb::Op {
        platform: Some(platform.clone()),
        constraints: Some(pb::WorkerConstraints::default()),
        op: Some(pb::op::Op::Source(pb::SourceOp {
            identifier: format!("docker-image://{image}"),
            attrs: Default::default(),
        })),
        ..Default::default()
    }
    .encode_to_vec();
    let source_digest = sha256_of(&source);
    ops.push(source);
    metadata.insert(source_digest.clone(), caps(&["source.image"]));

    let mount = |input: i64, dest: &str, output: i64, readonly: bool| pb::Mount {
        input,
        dest: dest.into(),
        output,
        readonly,
        ..Default::default()
    };
    let exec = pb::Op {
        inputs: vec![
            pb::Input {
                digest: source_digest,
                index: 0,
            },
            head,
        ],
        platform: Some(platform.clone()),
        constraints: Some(pb::WorkerConstraints::default()),
        op: Some(pb::op::Op::Exec(pb::ExecOp {
            meta: Some(pb::Meta {
                args: [BINARY, "convert"]
                    .into_iter()
                    .chain((!aot).then_some("--no-aot"))
                    .chain(["/in", "/out"])
                    .map(String::from)
                    .collect(),
                env: vec!["PATH=/".into()],
                cwd: "/".into(),
                ..Default::default()
            }),
            mounts: vec![
                mount(0, "/", -1, true),
                mount(1, "/in", -1, true),
                mount(-1, "/out", 0, false),
            ],
            network: pb::NetMode::None as i32,
            ..Default::default()
        })),
    }
    .encode_to_vec();
    let exec_digest = sha256_of(&exec);
    ops.push(exec);
    metadata.insert(
        exec_digest.clone(),
        pb::OpMetadata {
            description: [(
                "llb.customname".to_string(),
                "[friscy] convert to a friscy image".to_string(),
            )]
            .into_iter()
            .collect(),
            ..caps(&["exec.meta.base", "exec.mount.bind", "exec.meta.network"])
        },
    );
    ops.push(
        pb::Op {
            inputs: vec![pb::Input {
                digest: exec_digest,
                index: 0,
            }],
            ..Default::default()
        }
        .encode_to_vec(),
    );
    Ok(pb::Definition {
        def: ops,
        metadata: metadata.into_iter().collect(),
        source: def.source.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(op: pb::Op) -> (Vec<u8>, String) {
        let b = op.encode_to_vec();
        let d = sha256_of(&b);
        (b, d)
    }

    #[test]
    fn the_step_goes_on_the_dockerfiles_head() {
        let (base, base_d) = encoded(pb::Op {
            op: Some(pb::op::Op::Source(pb::SourceOp {
                identifier: "docker-image://docker.io/library/debian:latest".into(),
                attrs: Default::default(),
            })),
            ..Default::default()
        });
        let (term, _) = encoded(pb::Op {
            inputs: vec![pb::Input {
                digest: base_d.clone(),
                index: 0,
            }],
            ..Default::default()
        });
        let def = pb::Definition {
            def: vec![base.clone(), term],
            ..Default::default()
        };
        let amd64 = pb::Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            ..Default::default()
        };
        let out = with_conversion(&def, "127.0.0.1:5000/friscy/frontend", &amd64, true).unwrap();
        assert_eq!(out.def.len(), 4);
        assert_eq!(out.def[0], base);
        let exec = pb::Op::decode(out.def[2].as_slice()).unwrap();
        assert_eq!(exec.inputs[1].digest, base_d);
        assert_eq!(exec.inputs[0].digest, sha256_of(&out.def[1]));
        let Some(pb::op::Op::Exec(e)) = exec.op else {
            panic!("not an exec")
        };
        assert_eq!(e.mounts[2].output, 0);
        assert_eq!(e.mounts[1].dest, "/in");
        let term = pb::Op::decode(out.def[3].as_slice()).unwrap();
        assert_eq!(term.inputs[0].digest, sha256_of(&out.def[2]));
        assert!(out.metadata.contains_key(&sha256_of(&out.def[2])));
        // a definition without a terminal is refused
        let bad = pb::Definition {
            def: vec![base],
            ..Default::default()
        };
        assert!(with_conversion(&bad, "x", &amd64, true).is_err());
    }
}
