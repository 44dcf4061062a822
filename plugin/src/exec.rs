//! `friscy exec`: run a static riscv64 ELF from a host path.

use anyhow::{Context, Result};
use friscy_kernel::native::NativeHost;
use friscy_kernel::{KillReason, Process, Termination};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitCode;

/// How to run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// strace-like log on stderr
    pub trace: bool,
    /// instructions, time and MIPS on stderr at exit
    pub stats: bool,
    pub dispatch: friscy_machine::Dispatch,
}

/// Runs `program` with `args`; returns the guest's exit status.
pub fn exec(program: &Path, args: &[OsString], opts: Options) -> Result<ExitCode> {
    let Options {
        trace,
        stats,
        dispatch,
    } = opts;
    let image =
        std::fs::read(program).with_context(|| format!("cannot read {}", program.display()))?;
    let exe = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    let mut argv = vec![program.as_os_str().as_bytes().to_vec()];
    argv.extend(args.iter().map(|a| a.as_bytes().to_vec()));
    let envp: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k.as_bytes().to_vec();
            e.push(b'=');
            e.extend_from_slice(v.as_bytes());
            e
        })
        .collect();
    let mut host = NativeHost::new();
    let mut process = Process::exec(&image, &exe.to_string_lossy(), &argv, &envp, &mut host)
        .with_context(|| format!("cannot run {}", program.display()))?;
    process.code.set_dispatch(dispatch);
    if trace {
        process.set_trace(Box::new(std::io::stderr()));
    }
    let started = std::time::Instant::now();
    let end = process.run(&mut host);
    if stats {
        let secs = started.elapsed().as_secs_f64();
        let n = process.hart.instret;
        eprintln!(
            "friscy-stats: instret={n} seconds={secs:.6} mips={:.1}",
            n as f64 / secs.max(1e-9) / 1e6
        );
    }
    if let Termination::Killed { signal, reason } = end {
        let what = match reason {
            KillReason::Fault(f) => {
                format!("{:?} fault ({:?}) at {:#x}", f.access, f.cause, f.addr)
            }
            KillReason::Illegal(raw) => format!("illegal instruction {raw:#010x}"),
            KillReason::Breakpoint => "breakpoint".to_string(),
        };
        eprintln!(
            "friscy: {} killed by signal {signal}: {what}, pc {:#x}",
            program.display(),
            process.hart.pc
        );
    }
    Ok(ExitCode::from(end.status() as u8))
}
