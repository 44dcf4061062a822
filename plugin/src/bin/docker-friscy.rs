use clap::Parser;
use friscy_cli::docker::{Invocation, metadata, parse_invocation};
use friscy_cli::{Cli, report, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse_invocation(&args) {
        Ok(Invocation::Metadata) => {
            let json = serde_json::to_string_pretty(&metadata()).expect("metadata serializes");
            println!("{json}");
            ExitCode::SUCCESS
        }
        Ok(Invocation::Run { globals, args }) => {
            let argv = std::iter::once("docker friscy".to_string()).chain(args);
            let cli = Cli::parse_from(argv);
            run(cli, &globals).unwrap_or_else(|e| report(&e))
        }
        Err(e) => report(&e),
    }
}
