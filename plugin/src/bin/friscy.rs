use clap::Parser;
use friscy_cli::{Cli, docker::GlobalFlags, report, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(cli, &GlobalFlags::default()).unwrap_or_else(|e| report(&e))
}
