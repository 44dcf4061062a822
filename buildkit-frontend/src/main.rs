//! friscy's BuildKit frontend. A Dockerfile whose first line is
//! `# syntax=REF` (REF: this program's image, see `friscy frontend push`)
//! builds straight to a friscy image on any BuildKit.
//!
//! BuildKit runs this program in two ways:
//!
//! * as the frontend (no arguments): a gRPC client of BuildKit's gateway
//!   over stdin and stdout. It has the standard Dockerfile frontend build
//!   the Dockerfile for linux/riscv64, then adds one step that converts
//!   the result, and returns that with the friscy image config
//!   (`gateway.rs`);
//! * as that step (`convert IN OUT`): inside BuildKit, in a container of
//!   this image, with the Dockerfile's result mounted at IN and the friscy
//!   layer's files written to OUT (`convert.rs`).

use std::process::ExitCode;

mod convert;
mod gateway;
mod llb;

const HELP: &str = "\
friscy-frontend: friscy's BuildKit frontend (a Dockerfile to a friscy image)

BuildKit runs this program; people use it from a Dockerfile:

    # syntax=REGISTRY/friscy/frontend
    FROM riscv64/debian
    RUN ...

or, with an unchanged Dockerfile:

    docker build --build-arg BUILDKIT_SYNTAX=REGISTRY/friscy/frontend .

Publish the frontend's image with `docker friscy frontend push REF`.

Usage (by BuildKit):
    friscy-frontend              the gateway frontend (gRPC on stdin/stdout)
    friscy-frontend convert [--no-aot] IN OUT
                                 converts the tree IN into a friscy layer's
                                 files under OUT, with modules of translated
                                 code for its riscv64 ELF files unless
                                 --no-aot (a build sets it with
                                 --build-arg FRISCY_AOT=0)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["convert", rest @ ..] => {
            let (aot, paths) = match rest {
                ["--no-aot", paths @ ..] => (false, paths),
                paths => (true, paths),
            };
            let [input, output] = paths else {
                eprint!("{HELP}");
                return ExitCode::from(2);
            };
            match convert::run(input.as_ref(), output.as_ref(), aot) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("friscy-frontend: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        ["--help" | "-h" | "help"] => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        ["--version" | "-V"] => {
            println!("friscy-frontend {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        [] if gateway::launched_by_buildkit() => gateway::main(),
        [] => {
            eprint!("{HELP}");
            eprintln!("\nfriscy-frontend: not started by BuildKit (no BUILDKIT_* environment)");
            ExitCode::from(2)
        }
        _ => {
            eprint!("{HELP}");
            eprintln!("\nfriscy-frontend: unknown arguments {args:?}");
            ExitCode::from(2)
        }
    }
}
