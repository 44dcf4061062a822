//! The `friscy` and `docker-friscy` command lines.
//!
//! Both binaries share one command tree; `docker-friscy` first strips the
//! docker CLI's plugin protocol (see [`docker`]).

pub mod aot;
pub mod build;
pub mod convert;
pub mod docker;
pub mod exec;
pub mod frontend;
pub mod http;
pub mod install;
pub mod memory;
pub mod run;
pub mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit status for friscy's own failures (bad arguments, unreadable input),
/// as `docker run` uses 125 for errors of the engine rather than the container.
pub const EXIT_FRISCY_ERROR: u8 = 125;

/// friscy runs Linux container images built for riscv64: natively, or in a
/// browser tab.
#[derive(Debug, Parser)]
#[command(name = "friscy", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Translate riscv64 ELF files to WebAssembly ahead of time.
    ///
    /// Each riscv64 ELF file (executables and shared libraries; a directory
    /// is searched for them) becomes one module in DIR, named by the
    /// sha256 of the file (`<hex>.wasm`). The wasm runtime runs a file's
    /// code from its module wherever the file is mapped: under Node.js,
    /// `FRISCY_AOT=DIR node runtime/web/node/run.mjs …` (docs/aot.md).
    Aot {
        /// Where the modules go (created if missing).
        #[arg(short = 'o', long = "out", value_name = "DIR")]
        out: PathBuf,
        /// ELF files, or directories to search.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Run a static riscv64 Linux program from a host path.
    ///
    /// The program gets this process's standard streams and environment,
    /// and an empty file system (only /dev); the exit status is the
    /// program's (128+N when signal N killed it). To run a container
    /// image's programs, use `friscy run`.
    Exec {
        /// Print every system call to stderr, as strace does.
        #[arg(long)]
        trace: bool,
        /// Print instructions retired, run time and MIPS to stderr at exit
        /// (one line starting `friscy-stats:`).
        #[arg(long)]
        stats: bool,
        /// How the interpreter dispatches instructions (for measurements).
        #[arg(long, value_enum, default_value_t = DispatchArg::Threaded, hide = true)]
        dispatch: DispatchArg,
        /// Memory limit (512m, 2g; 0: none) [default: half of this
        /// machine's memory], as for `friscy run`.
        #[arg(short = 'm', long = "memory", value_name = "SIZE", value_parser = memory::parse)]
        memory: Option<memory::Limit>,
        /// The riscv64 ELF executable (statically linked).
        program: PathBuf,
        /// Arguments for the program.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Run a command in a riscv64 container image, as `docker run` does.
    ///
    /// IMAGE is `oci:DIR[:TAG]` (an OCI image layout), `docker-archive:FILE`
    /// (`docker save` output), `dir:ROOTFS` (an unpacked tree),
    /// `docker://REF` (a registry), `docker-daemon:REF` (the engine) or a
    /// bare REF (the engine's image, else the registry's); a source image or
    /// a friscy image, whose files are read when first opened (from a
    /// registry, by range request). The image's Entrypoint, Cmd, Env, WorkingDir and User apply unless
    /// overridden. Writes go to memory: the image on disk is never changed.
    /// The exit status is the command's (128+N when signal N killed it);
    /// 125 means friscy itself failed.
    Run {
        /// Set an environment variable (K=V; K alone copies the host's).
        #[arg(short = 'e', long = "env", value_name = "K=V")]
        env: Vec<String>,
        /// Working directory inside the container.
        #[arg(short = 'w', long = "workdir", value_name = "DIR")]
        workdir: Option<String>,
        /// User to run as: NAME or UID, optionally :GROUP or :GID.
        #[arg(short = 'u', long = "user", value_name = "UID[:GID]")]
        user: Option<String>,
        /// Replace the image's entrypoint ("" clears it).
        #[arg(long, value_name = "CMD")]
        entrypoint: Option<String>,
        /// Keep standard input open (it always is: friscy passes its own).
        #[arg(short = 'i', long)]
        interactive: bool,
        /// Give the container a terminal: the host's, in raw mode, with
        /// friscy's line discipline (termios, window size, Ctrl-C/Z/\\).
        #[arg(short = 't', long)]
        tty: bool,
        /// Print every system call to stderr, as strace does.
        #[arg(long)]
        trace: bool,
        /// Print instructions retired, run time and MIPS to stderr at exit.
        #[arg(long)]
        stats: bool,
        /// Memory limit (512m, 2g; 0: none) for the container's processes
        /// and the files it holds in memory [default: half of this
        /// machine's memory]. Past it a process is killed as by the OOM
        /// killer (exit status 137), a write fails with ENOSPC.
        #[arg(short = 'm', long = "memory", value_name = "SIZE", value_parser = memory::parse)]
        memory: Option<memory::Limit>,
        /// The image.
        image: String,
        /// Command and arguments (replace the image's Cmd).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Build a Dockerfile for linux/riscv64 with the engine and convert the
    /// result into a friscy image.
    ///
    /// Runs `docker build --platform linux/riscv64` (BuildKit; RUN steps
    /// need binfmt for riscv64, e.g. Debian's qemu-user-static), converts
    /// the image and loads it into the engine as TAG, so that `docker push
    /// TAG` (or --push, which keeps friscy's byte ranges) publishes it. The
    /// engine is the one `docker` uses ($FRISCY_DOCKER names another docker
    /// command).
    Build {
        /// Name the friscy image (REPO[:TAG]).
        #[arg(short = 't', long = "tag", value_name = "REF")]
        tag: Option<String>,
        /// The Dockerfile (default: CONTEXT/Dockerfile).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<PathBuf>,
        /// A build argument (K=V), as docker build takes it.
        #[arg(long = "build-arg", value_name = "K=V")]
        build_arg: Vec<String>,
        /// The stage to build.
        #[arg(long, value_name = "STAGE")]
        target: Option<String>,
        /// Push the friscy image to its registry too (needs -t).
        #[arg(long)]
        push: bool,
        /// Networking for RUN steps (default, none or host), as docker
        /// build takes it.
        #[arg(long, value_name = "MODE")]
        network: Option<String>,
        /// Do not translate the image's riscv64 ELF files to wasm (by
        /// default their modules are stored in the friscy image, for the
        /// wasm runtime: docs/aot.md).
        #[arg(long = "no-aot")]
        no_aot: bool,
        /// The build context folder.
        context: PathBuf,
    },
    /// Convert a riscv64 container image into a friscy image.
    ///
    /// SOURCE is any image reference (linux/riscv64): `oci:DIR[:TAG]`,
    /// `docker-archive:FILE[:REF]`, `docker://REF` (a registry),
    /// `docker-daemon:REF` (the engine) or a bare REF (the engine's image,
    /// else the registry's). DEST is `oci:DIR[:TAG]` (the layout is created
    /// or a tag added; blobs first, index.json last, so a failed conversion
    /// leaves no tag), `docker://REF` (pushed; blobs the registry has are
    /// not sent) or `docker-daemon:REF` (loaded into the engine, so that a
    /// plain `docker push REF` publishes it). Each source
    /// layer becomes one friscy layer (docs/image-format.md): a normal
    /// tar+gzip layer whose files can be read one by one with HTTP range
    /// requests, with identical content stored once per image.
    Convert {
        /// The image to convert.
        source: String,
        /// Where to write the friscy image.
        dest: String,
        /// Do not translate the image's riscv64 ELF files to wasm (by
        /// default their modules are stored in the friscy image, for the
        /// wasm runtime: docs/aot.md).
        #[arg(long = "no-aot")]
        no_aot: bool,
    },
    /// Push a friscy image to a registry with its exact friscy blobs.
    ///
    /// IMAGE is the engine's image (as `docker push` takes it) or any
    /// reference to a friscy image; DEST (docker://REF) defaults to
    /// IMAGE's name. A plain `docker push` recompresses layers, which keeps
    /// the image valid but loses the byte ranges that let friscy read one
    /// file without the whole layer; this rebuilds the friscy blobs from
    /// the engine's copy and checks them against the image's config.
    Push {
        /// The friscy image.
        image: String,
        /// Where to push it (docker://REGISTRY/REPO[:TAG]).
        dest: Option<String>,
    },
    /// Serve a page that runs IMAGE in a browser tab, with a terminal.
    ///
    /// IMAGE is any image reference; a source image is converted first. The
    /// page (http://localhost:PORT/) loads the image's file system indexes,
    /// then file content on first use by range requests (kept in the
    /// browser's cache), and runs the image's Entrypoint/Cmd on friscy's
    /// WebAssembly build. The server sends the cross-origin isolation
    /// headers the page needs (docs/web.md).
    Serve {
        /// The image.
        image: String,
        /// Port to listen on (0: any free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        listen: String,
        /// Serve requests for this host name too (repeatable; `*` for
        /// any). Only IP addresses and localhost are served otherwise, so
        /// that another site cannot read the image by pointing its own
        /// name at this machine (DNS rebinding).
        #[arg(long = "allow-host", value_name = "NAME")]
        allow_host: Vec<String>,
        /// Do not translate the image's riscv64 ELF files to wasm (by
        /// default their modules are stored in the friscy image, for the
        /// wasm runtime: docs/aot.md).
        #[arg(long = "no-aot")]
        no_aot: bool,
    },
    /// Write the page, the runtime and IMAGE as a static site into DIR.
    ///
    /// Any static web server or CDN can serve DIR if it sends the headers
    /// in DIR/_headers (cross-origin isolation) on every file; range
    /// requests make the first start faster but are not required.
    Export {
        /// The image.
        image: String,
        /// The folder to write.
        dir: PathBuf,
        /// Do not translate the image's riscv64 ELF files to wasm (by
        /// default their modules are stored in the friscy image, for the
        /// wasm runtime: docs/aot.md).
        #[arg(long = "no-aot")]
        no_aot: bool,
    },
    /// Show what an image holds: platform, layers and, for a friscy
    /// image, files, bytes and deduplication per layer.
    Inspect {
        /// The image (any reference `friscy run` accepts).
        image: String,
    },
    /// The BuildKit frontend: a Dockerfile that starts `# syntax=REF`
    /// builds straight to a friscy image, with no plugin installed.
    Frontend {
        #[command(subcommand)]
        command: FrontendCommand,
    },
    /// Install `docker-friscy` as a docker CLI plugin, so that `docker friscy`
    /// works.
    ///
    /// Copies the `docker-friscy` binary that was built beside this `friscy`
    /// binary into docker's per-user plugin folder.
    InstallPlugin {
        /// Plugin folder [default: $DOCKER_CONFIG/cli-plugins or
        /// ~/.docker/cli-plugins]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FrontendCommand {
    /// Publish the frontend as an image in a registry.
    ///
    /// The image holds only the static `friscy-frontend` binary (built by
    /// scripts/build-frontend) for this machine's platform. Then a
    /// Dockerfile whose first line is `# syntax=REF` (or any Dockerfile,
    /// with `--build-arg BUILDKIT_SYNTAX=REF`) builds for linux/riscv64 and
    /// comes out as a friscy image: `DOCKER_BUILDKIT=1 docker build -t NAME
    /// .` then `docker push NAME`.
    Push {
        /// Where to push it (REGISTRY/REPO[:TAG]).
        reference: String,
        /// The static frontend binary [default: $FRISCY_FRONTEND, else
        /// the one scripts/build-frontend built].
        #[arg(long, value_name = "FILE")]
        binary: Option<PathBuf>,
    },
}

/// Interpreter dispatch, as `--dispatch` names it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DispatchArg {
    Threaded,
    Loop,
}

/// Runs a parsed command; returns the process exit status.
pub fn run(cli: Cli, globals: &docker::GlobalFlags) -> Result<ExitCode> {
    friscy_converter::daemon::set_engine_args(globals.engine_args());
    if let Some(dir) = &globals.config {
        friscy_converter::registry::set_config_dir(PathBuf::from(dir));
    }
    match cli.command {
        Command::Build {
            tag,
            file,
            build_arg,
            target,
            push,
            network,
            no_aot,
            context,
        } => build::build(&build::BuildOptions {
            tag,
            file,
            build_args: build_arg,
            target,
            push,
            network,
            aot: !no_aot,
            context,
        }),
        Command::Aot { out, inputs } => {
            aot::translate(&inputs, &out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Exec {
            trace,
            stats,
            dispatch,
            memory,
            program,
            args,
        } => {
            memory::apply(memory::resolve(memory))?;
            let dispatch = match dispatch {
                DispatchArg::Threaded => friscy_machine::Dispatch::Threaded,
                DispatchArg::Loop => friscy_machine::Dispatch::Loop,
            };
            exec::exec(
                &program,
                &args,
                exec::Options {
                    trace,
                    stats,
                    dispatch,
                },
            )
        }
        Command::Run {
            env,
            workdir,
            user,
            entrypoint,
            interactive,
            tty,
            trace,
            stats,
            memory,
            image,
            command,
        } => run::run(&run::RunOptions {
            image,
            command,
            env,
            workdir,
            user,
            entrypoint,
            interactive,
            tty,
            trace,
            stats,
            memory: memory::resolve(memory),
        }),
        Command::Convert {
            source,
            dest,
            no_aot,
        } => convert::convert(&source, &dest, !no_aot),
        Command::Inspect { image } => convert::inspect(&image),
        Command::Serve {
            image,
            port,
            listen,
            allow_host,
            no_aot,
        } => serve::serve(&image, &listen, port, &allow_host, !no_aot),
        Command::Export { image, dir, no_aot } => serve::export(&image, &dir, !no_aot),
        Command::Push { image, dest } => convert::push(&image, dest.as_deref()),
        Command::Frontend {
            command: FrontendCommand::Push { reference, binary },
        } => frontend::push(&reference, binary.as_deref()),
        Command::InstallPlugin { dir } => {
            let dir = match dir {
                Some(d) => d,
                None => install::default_plugin_dir()?,
            };
            let source = install::sibling_plugin_binary()?;
            let dest = install::install(&source, &dir)?;
            outln!("installed {}", dest.display());
            outln!("try: docker friscy --help");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A scratch folder under friscy's cache (`tmp/WHAT-PID-N`), removed on
/// drop. It holds a lock file, locked while the folder is in use, so that
/// folders left behind (by a `friscy serve` that was killed) are removed
/// when the next one is made, and folders in use — by this process or any
/// other sharing the cache — are not.
pub struct Scratch(pub PathBuf, Option<std::fs::File>);

/// The lock file in a scratch folder.
const SCRATCH_LOCK: &str = ".lock";

/// Takes the lock of the scratch folder `dir` without waiting; `None` when
/// another process holds it.
fn lock_scratch(dir: &Path, create: bool) -> Option<std::fs::File> {
    use rustix::fs::{FlockOperation, flock};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(dir.join(SCRATCH_LOCK))
        .ok()?;
    flock(&file, FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(file)
}

/// Removes the scratch folders in `tmp` that no process is using.
fn sweep_scratch(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let dir = e.path();
        if !dir.join(SCRATCH_LOCK).exists() {
            // made by an older friscy, without a lock: gone with its process
            let gone = e
                .file_name()
                .to_str()
                .and_then(|n| n.split('-').nth(1).map(str::to_owned))
                .filter(|pid| pid.parse::<u32>().is_ok())
                .is_some_and(|pid| {
                    Path::new("/proc/self").exists() && !Path::new("/proc").join(pid).exists()
                });
            if gone {
                let _ = std::fs::remove_dir_all(&dir);
            }
            continue;
        }
        if let Some(lock) = lock_scratch(&dir, false) {
            let _ = std::fs::remove_dir_all(&dir);
            drop(lock);
        }
    }
}

impl Scratch {
    pub fn new(what: &str) -> Result<Scratch> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = friscy_converter::cache_dir()?.join("tmp");
        if n == 0 {
            sweep_scratch(&tmp);
        }
        let dir = tmp.join(format!("{what}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let lock = lock_scratch(&dir, true);
        Ok(Scratch(dir, lock))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        // unlocked once the folder is gone
        drop(self.1.take());
    }
}

/// Writes a line to stdout; when the reader has gone (a pipe into `head`)
/// the process ends quietly with 141 (128 + SIGPIPE), as a tool killed by
/// SIGPIPE would.
pub fn out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_fmt(args).and_then(|_| o.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("friscy: writing to stdout: {e}");
        std::process::exit(i32::from(EXIT_FRISCY_ERROR));
    }
}

/// `println!` through [`out`].
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::out(format_args!($($t)*))
    };
}

/// Prints an error the way both binaries do and returns friscy's error status.
pub fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("friscy: {err:#}");
    ExitCode::from(EXIT_FRISCY_ERROR)
}
