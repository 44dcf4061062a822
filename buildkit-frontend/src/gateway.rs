//! The frontend proper: a client of BuildKit's `LLBBridge` gRPC service,
//! spoken over this process's stdin and stdout (one HTTP/2 connection).
//! Nothing else may be written to stdout; stderr goes to BuildKit's log.
//!
//! 1. The options BuildKit gives (`BUILDKIT_FRONTEND_OPT_<n>=key=value`)
//!    go to the standard Dockerfile frontend (`dockerfile.v0`), with the
//!    platform set to linux/riscv64 and without `source` (this frontend's
//!    own image). `cmdline` is kept, which stops the Dockerfile frontend
//!    from handing the build back here. Build args, target, secrets, SSH
//!    and cache options pass through as they are.
//! 2. Its result gets the conversion step (`llb.rs`), which is solved.
//! 3. The converted result goes back with the friscy image config; an error
//!    (a failing RUN step, a Dockerfile syntax error) goes back unchanged,
//!    so the user sees BuildKit's message for the failing step.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow};
use bollard_buildkit_proto::google::rpc::Status as RpcStatus;
use bollard_buildkit_proto::moby::buildkit::v1::frontend::{
    InputsRequest, PingRequest, Ref, ResolveImageConfigRequest, Result as GwResult, ReturnRequest,
    SolveRequest, llb_bridge_client::LlbBridgeClient, result,
};
use bollard_buildkit_proto::pb;
use hyper_util::rt::TokioIo;
use prost::Message;
use serde_json::json;
use tonic::transport::{Channel, Endpoint, Uri};

type Client = LlbBridgeClient<Channel>;

/// gRPC's status code for a failed precondition, and for an internal error.
const FAILED_PRECONDITION: i32 = 9;
const INTERNAL: i32 = 13;
/// The largest message either way (BuildKit's own limit is larger than
/// gRPC's default 4 MiB).
const MAX_MESSAGE: usize = 64 << 20;

const OPT_PREFIX: &str = "BUILDKIT_FRONTEND_OPT_";
const RISCV64: &str = "linux/riscv64";

/// Whether BuildKit started this process as a frontend.
pub fn launched_by_buildkit() -> bool {
    std::env::vars().any(|(k, _)| k.starts_with(OPT_PREFIX) || k == "BUILDKIT_SESSION_ID")
}

/// `image` with `:latest` when it names neither a tag nor a digest (an
/// image source op needs one of them).
fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

/// `image` pinned to the digest BuildKit resolves it to now, so that the
/// conversion step runs the same frontend as this build even if the tag
/// moves meanwhile; by tag when BuildKit cannot say.
async fn pinned(client: &mut Client, image: &str) -> String {
    let image = with_tag(image);
    if image.contains('@') {
        return image;
    }
    let resolved = client
        .resolve_image_config(ResolveImageConfigRequest {
            r#ref: image.clone(),
            platform: Some(host_platform()),
            resolve_mode: "default".into(),
            ..Default::default()
        })
        .await;
    match resolved {
        Ok(r) if r.get_ref().digest.starts_with("sha256:") => {
            format!("{image}@{}", r.into_inner().digest)
        }
        _ => image,
    }
}

/// The frontend options BuildKit passed.
fn options() -> HashMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with(OPT_PREFIX))
        .map(|(_, v)| match v.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (v, String::new()),
        })
        .collect()
}

/// The platform this process runs on, as BuildKit names it.
fn host_platform() -> pb::Platform {
    pb::Platform {
        architecture: friscy_converter::host_architecture().into(),
        os: "linux".into(),
        ..Default::default()
    }
}

pub fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("friscy-frontend: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match rt.block_on(frontend()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("friscy-frontend: {e:#}");
            1
        }
    };
    // BuildKit waits for this process to end; a read of stdin blocked in
    // the runtime must not keep it alive
    std::process::exit(code)
}

async fn connect() -> Result<Client> {
    let stdio = Mutex::new(Some(tokio::io::join(
        tokio::io::stdin(),
        tokio::io::stdout(),
    )));
    let channel = Endpoint::from_static("http://buildkit")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let io = stdio.lock().ok().and_then(|mut s| s.take());
            async move {
                io.map(TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("the stdio connection is in use"))
            }
        }))
        .await
        .context("connecting to BuildKit over stdin/stdout")?;
    Ok(LlbBridgeClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

/// A gRPC error as the `google.rpc.Status` to return: BuildKit's own
/// status (with its details: the failing step, the Dockerfile lines) when
/// it sent one.
fn status_of(st: &tonic::Status) -> RpcStatus {
    if !st.details().is_empty()
        && let Ok(s) = RpcStatus::decode(st.details())
    {
        return s;
    }
    RpcStatus {
        code: st.code() as i32,
        message: st.message().to_owned(),
        details: Vec::new(),
    }
}

/// An error of this frontend's own, said as such.
fn error(code: i32, message: impl std::fmt::Display) -> RpcStatus {
    RpcStatus {
        code,
        message: format!("{message}"),
        details: Vec::new(),
    }
}

/// Solves `request` with the result returned (as array refs, evaluated:
/// build errors surface here); the result, or BuildKit's error as it said it.
async fn solve(client: &mut Client, request: SolveRequest) -> Result<GwResult, RpcStatus> {
    client
        .solve(SolveRequest {
            allow_result_return: true,
            allow_result_array_ref: true,
            evaluate: true,
            ..request
        })
        .await
        .map_err(|s| status_of(&s))?
        .into_inner()
        .result
        .ok_or_else(|| error(INTERNAL, "BuildKit returned no result"))
}

async fn frontend() -> Result<()> {
    let mut client = connect().await?;
    let outcome = build(&mut client).await;
    let request = match outcome {
        Ok(result) => ReturnRequest {
            result: Some(result),
            error: None,
        },
        Err(status) => ReturnRequest {
            result: None,
            error: Some(status),
        },
    };
    client
        .r#return(request)
        .await
        .map_err(|s| anyhow!("returning the result to BuildKit: {}", s.message()))?;
    Ok(())
}

async fn build(client: &mut Client) -> Result<GwResult, RpcStatus> {
    client
        .ping(PingRequest {})
        .await
        .map_err(|s| status_of(&s))?;
    let mut opts = options();
    let image = opts.remove("source").ok_or_else(|| {
        error(
            FAILED_PRECONDITION,
            "BuildKit did not say which image it ran (no `source` option)",
        )
    })?;
    match opts.get("platform").map(String::as_str) {
        None | Some("") | Some(RISCV64) => {}
        Some(other) => {
            return Err(error(
                FAILED_PRECONDITION,
                format!(
                    "friscy images are built for {RISCV64}, not {other} \
                     (leave out --platform)"
                ),
            ));
        }
    }
    opts.insert("platform".into(), RISCV64.into());
    // `--build-arg FRISCY_AOT=0`: no modules of translated code
    let aot = opts.get("build-arg:FRISCY_AOT").map(String::as_str) != Some("0");
    // keeps the Dockerfile frontend from forwarding to us again
    opts.entry("cmdline".into()).or_default();
    // the build's inputs (context, Dockerfile) when the client gave them
    // that way; a BuildKit without the call has none to give
    let inputs = match client.inputs(InputsRequest {}).await {
        Ok(r) => r.into_inner().definitions,
        Err(s) if s.code() == tonic::Code::Unimplemented => Default::default(),
        Err(s) => return Err(status_of(&s)),
    };
    let built = solve(
        client,
        SolveRequest {
            frontend: "dockerfile.v0".into(),
            frontend_opt: opts,
            frontend_inputs: inputs,
            ..Default::default()
        },
    )
    .await?;
    let config_key = |platform: Option<&str>| match platform {
        Some(p) => format!("containerimage.config/{p}"),
        None => "containerimage.config".to_owned(),
    };
    let (def, config) = match built.result {
        Some(result::Result::Ref(Ref { def: Some(def), .. })) => {
            (def, built.metadata.get(&config_key(None)).cloned())
        }
        Some(result::Result::Refs(map)) => {
            let (key, r) = map
                .refs
                .into_iter()
                .find(|(k, _)| k.starts_with(RISCV64))
                .ok_or_else(|| {
                    error(INTERNAL, format!("the Dockerfile built no {RISCV64} image"))
                })?;
            let def = r
                .def
                .ok_or_else(|| error(INTERNAL, "the Dockerfile's result has no definition"))?;
            (def, built.metadata.get(&config_key(Some(&key))).cloned())
        }
        _ => {
            return Err(error(
                INTERNAL,
                "the Dockerfile's result has no definition (BuildKit too old?)",
            ));
        }
    };
    let source_config = config.unwrap_or_else(|| {
        serde_json::to_vec(&json!({"architecture": "riscv64", "os": "linux", "config": {}}))
            .unwrap_or_default()
    });
    let friscy_config = friscy_converter::friscy::frontend_config(&source_config)
        .map_err(|e| error(INTERNAL, e))?;
    let image = pinned(client, &image).await;
    let def = crate::llb::with_conversion(&def, &image, &host_platform(), aot)
        .map_err(|e| error(INTERNAL, e))?;
    let converted = solve(
        client,
        SolveRequest {
            definition: Some(def),
            ..Default::default()
        },
    )
    .await?
    .result
    .ok_or_else(|| error(INTERNAL, "the conversion step returned no result"))?;
    let id = match converted {
        result::Result::Ref(Ref { id, .. }) | result::Result::RefDeprecated(id) => id,
        _ => {
            return Err(error(
                INTERNAL,
                "the conversion step returned no single result",
            ));
        }
    };
    Ok(GwResult {
        metadata: [("containerimage.config".to_string(), friscy_config)]
            .into_iter()
            .collect(),
        result: Some(result::Result::Ref(Ref { id, def: None })),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_get_a_tag() {
        assert_eq!(with_tag("127.0.0.1:5000/fe"), "127.0.0.1:5000/fe:latest");
        assert_eq!(with_tag("127.0.0.1:5000/fe:1"), "127.0.0.1:5000/fe:1");
        assert_eq!(with_tag("fe"), "fe:latest");
        let pinned = format!("r/fe@sha256:{}", "a".repeat(64));
        assert_eq!(with_tag(&pinned), pinned);
    }
}
