//! `friscy exec`: run a static riscv64 ELF from a host path.

use anyhow::{Context, Result};
use friscy_kernel::native::NativeHost;
use friscy_kernel::{Fatal, Kernel, Termination};
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
    let image =
        std::fs::read(program).with_context(|| format!("cannot read {}", program.display()))?;
    let exe = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    let mut argv = vec![program.as_os_str().as_bytes().to_vec()];
    argv.extend(args.iter().map(|a| a.as_bytes().to_vec()));
    let envp = host_env();
    let mut kernel = Kernel::new(friscy_vfs::Fs::new(), Box::new(NativeHost::new()));
    kernel.set_dispatch(opts.dispatch);
    if opts.trace {
        kernel.set_trace(Box::new(std::io::stderr()));
    }
    kernel
        .spawn_image(&image, exe.as_os_str().as_bytes(), &argv, &envp)
        .with_context(|| format!("cannot run {}", program.display()))?;
    let end = finish(&mut kernel, opts.stats, &program.display().to_string());
    Ok(ExitCode::from(end.status() as u8))
}

/// The host's environment as KEY=VALUE strings.
fn host_env() -> Vec<Vec<u8>> {
    std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k.as_bytes().to_vec();
            e.push(b'=');
            e.extend_from_slice(v.as_bytes());
            e
        })
        .collect()
}

/// Runs the kernel to the end; prints statistics and, for a program the
/// machine killed, what happened.
pub fn finish(kernel: &mut Kernel, stats: bool, what: &str) -> Termination {
    let started = std::time::Instant::now();
    let end = kernel.run();
    if stats {
        let secs = started.elapsed().as_secs_f64();
        let n = kernel.instret();
        eprintln!(
            "friscy-stats: instret={n} seconds={secs:.6} mips={:.1}",
            n as f64 / secs.max(1e-9) / 1e6
        );
    }
    if let Termination::Killed { signal, .. } = end
        && let Some(fatal) = kernel.last_fatal
        && matches!(signal, 4 | 7 | 11)
    {
        let detail = match fatal {
            Fatal::Fault { addr, pc } => format!("bad memory access at {addr:#x}, pc {pc:#x}"),
            Fatal::Illegal { raw, pc } => format!("illegal instruction {raw:#010x} at pc {pc:#x}"),
            Fatal::OutOfMemory { limit } => format!(
                "out of memory (the limit is {})",
                friscy_kernel::budget::describe(limit)
            ),
        };
        eprintln!("friscy: {what} killed by signal {signal}: {detail}");
    }
    end
}
