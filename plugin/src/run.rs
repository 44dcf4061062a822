//! `friscy run`: run a container image's program, as `docker run` does.

use anyhow::{Context, Result, bail};
use friscy_converter::{ImageRef, RunConfig, open_image};
use friscy_kernel::native::NativeHost;
use friscy_kernel::{Creds, Kernel};
use friscy_vfs::{Fs, ROOT};
use std::process::ExitCode;

/// `friscy run` options (see `friscy run --help`).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub image: String,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub entrypoint: Option<String>,
    pub interactive: bool,
    pub tty: bool,
    pub trace: bool,
    pub stats: bool,
    /// The memory limit in bytes (`None`: none).
    pub memory: Option<u64>,
}

/// What the first process runs, from the image config and the options.
pub fn command_line(cfg: &RunConfig, opts: &RunOptions) -> Result<Vec<String>> {
    // docker: --entrypoint replaces the entrypoint and drops the image's
    // Cmd; arguments after the image replace Cmd.
    let entry: Vec<String> = match &opts.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => cfg.entrypoint.clone(),
    };
    let cmd: Vec<String> = if !opts.command.is_empty() {
        opts.command.clone()
    } else if opts.entrypoint.is_some() {
        Vec::new()
    } else {
        cfg.cmd.clone()
    };
    let mut argv = entry;
    argv.extend(cmd);
    if argv.is_empty() {
        bail!(
            "no command: the image has no Entrypoint or Cmd; give one after the image, e.g. `friscy run {} /bin/sh -c 'echo hi'`",
            opts.image
        );
    }
    Ok(argv)
}

/// The environment: the image's, then `-e` (K=V sets; K alone takes the
/// host's value, as docker does), with PATH and HOSTNAME defaults.
pub fn environment(cfg: &RunConfig, opts: &RunOptions, home: &str) -> Vec<String> {
    fn put(env: &mut Vec<String>, kv: String) {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    let mut env: Vec<String> = Vec::new();
    let mut set = |kv: String| put(&mut env, kv);
    set("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    set("HOSTNAME=friscy".into());
    for e in &cfg.env {
        set(e.clone());
    }
    for e in &opts.env {
        if e.contains('=') {
            set(e.clone());
        } else if let Ok(v) = std::env::var(e) {
            set(format!("{e}={v}"));
        }
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        put(&mut env, format!("HOME={home}"));
    }
    if opts.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        put(&mut env, "TERM=xterm".into());
    }
    env
}

/// Reads a small text file of the image (e.g. /etc/passwd).
fn read_small(fs: &mut Fs, path: &[u8]) -> Option<Vec<u8>> {
    let ino = fs.resolve(ROOT, path, true).ok()?;
    let size = fs.stat(ino).ok()?.size.min(1 << 20) as usize;
    let mut buf = vec![0u8; size];
    let n = fs.read(ino, 0, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Resolves `USER[:GROUP]` (names or numbers) against the image's
/// /etc/passwd and /etc/group; returns the credentials and home directory.
pub fn resolve_user(fs: &mut Fs, spec: &str) -> Result<(Creds, String)> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_small(fs, b"/etc/passwd").unwrap_or_default();
    let passwd = String::from_utf8_lossy(&passwd);
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let by_name = entries.iter().find(|f| f[0] == user);
    let (uid, mut gid, home) = if let Ok(uid) = user.parse::<u32>() {
        let e = entries.iter().find(|f| f[2] == user);
        let gid = e.and_then(|f| f[3].parse().ok()).unwrap_or(0);
        (uid, gid, e.map_or("/".to_string(), |f| f[5].to_string()))
    } else if let Some(f) = by_name {
        let uid = f[2]
            .parse()
            .with_context(|| format!("bad uid for {user} in /etc/passwd"))?;
        let gid = f[3].parse().unwrap_or(0);
        (uid, gid, f[5].to_string())
    } else {
        bail!("unable to find user {user}: no matching entries in the image's /etc/passwd");
    };
    if let Some(g) = group {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                let groups = read_small(fs, b"/etc/group").unwrap_or_default();
                let groups = String::from_utf8_lossy(&groups);
                groups
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() >= 3 && f[0] == g)
                    .and_then(|f| f[2].parse().ok())
                    .with_context(|| {
                        format!("unable to find group {g}: no matching entries in the image's /etc/group")
                    })?
            }
        };
    }
    Ok((
        Creds {
            uid,
            gid,
            groups: vec![gid],
        },
        home,
    ))
}

/// Builds the image's file system: every layer applied in order (or the
/// tree of a `dir:` image).
pub fn build_fs(image: &str) -> Result<(Fs, RunConfig)> {
    let r: ImageRef = image
        .parse()
        .with_context(|| format!("bad image reference {image:?}"))?;
    let src = open_image(&r).with_context(|| format!("cannot open image {image}"))?;
    src.check_riscv64()?;
    let mut fs = Fs::new();
    if friscy_converter::friscy::is_friscy(&src) {
        let (indexes, chunks) =
            friscy_converter::friscy::open_friscy(&src, &mut |m| eprintln!("friscy: {m}"))
                .with_context(|| format!("cannot read friscy image {image}"))?;
        fs.apply_friscy_layers(&indexes, Box::new(chunks))
            .with_context(|| format!("friscy image {image} is corrupt"))?;
        return Ok((fs, src.config));
    }
    if let Some(root) = &src.rootfs {
        fs.import_host_dir(root)
            .with_context(|| format!("cannot read {}", root.display()))?;
    }
    for (i, layer) in src.layers.iter().enumerate() {
        let mut stream = layer
            .open()
            .with_context(|| format!("cannot open layer {} ({})", i + 1, layer.digest))?;
        if let Err(e) = fs.apply_layer(&mut stream) {
            if let friscy_vfs::LayerError::Io(io) = &e
                && io.kind() == std::io::ErrorKind::OutOfMemory
            {
                bail!(
                    "the files of {image} need more memory than the limit of {} (friscy run -m sets it)",
                    friscy_kernel::budget::describe(
                        friscy_kernel::budget::limit().unwrap_or(u64::MAX)
                    )
                );
            }
            return Err(e).with_context(|| {
                format!("layer {} ({}) is not a valid layer", i + 1, layer.digest)
            });
        }
        // The digest is checked at the end of the stream: read what the tar
        // reader left (end-of-archive padding).
        std::io::copy(&mut stream, &mut std::io::sink())
            .with_context(|| format!("layer {} ({}) is corrupt", i + 1, layer.digest))?;
    }
    Ok((fs, src.config))
}

/// The host terminal in raw mode for as long as it lives; restored on drop
/// (every return path, errors included).
struct RawMode {
    saved: rustix::termios::Termios,
}

impl RawMode {
    fn enter() -> Result<RawMode> {
        let stdin = rustix::stdio::stdin();
        if !rustix::termios::isatty(stdin) {
            bail!(
                "the input device is not a TTY: -t needs friscy's standard input to be a terminal"
            );
        }
        let saved =
            rustix::termios::tcgetattr(stdin).context("cannot read the terminal settings")?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(stdin, rustix::termios::OptionalActions::Flush, &raw)
            .context("cannot put the terminal in raw mode")?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            rustix::stdio::stdin(),
            rustix::termios::OptionalActions::Flush,
            &self.saved,
        );
    }
}

/// What the container's first process is.
pub struct Process {
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub workdir: String,
    pub creds: Creds,
}

/// The first process from the image config and the options, as docker
/// makes it (a missing working directory is created).
pub fn process(fs: &mut Fs, cfg: &RunConfig, opts: &RunOptions) -> Result<Process> {
    let argv = command_line(cfg, opts)?;
    let user = opts
        .user
        .clone()
        .or_else(|| (!cfg.user.is_empty()).then(|| cfg.user.clone()))
        .unwrap_or_else(|| "0".into());
    let (creds, home) = resolve_user(fs, &user)?;
    let workdir = opts
        .workdir
        .clone()
        .or_else(|| (!cfg.working_dir.is_empty()).then(|| cfg.working_dir.clone()))
        .unwrap_or_else(|| "/".into());
    if !workdir.starts_with('/') {
        bail!("the working directory {workdir:?} is not an absolute path");
    }
    // docker creates a missing working directory
    mkdir_p(fs, workdir.as_bytes(), creds.uid, creds.gid);
    let env = environment(cfg, opts, &home);
    Ok(Process {
        argv,
        env,
        workdir,
        creds,
    })
}

/// Runs the image; returns the container's exit status.
pub fn run(opts: &RunOptions) -> Result<ExitCode> {
    if opts.tty && !rustix::termios::isatty(rustix::stdio::stdin()) {
        bail!("the input device is not a TTY: -t needs friscy's standard input to be a terminal");
    }
    // set first: the image's files count against it as they are read
    crate::memory::apply(opts.memory)?;
    let (mut fs, cfg) = build_fs(&opts.image)?;
    let p = process(&mut fs, &cfg, opts)?;
    let (argv, env, workdir, creds) = (p.argv, p.env, p.workdir, p.creds);
    let mut kernel = Kernel::new(fs, Box::new(NativeHost::new()));
    if opts.trace {
        kernel.set_trace(Box::new(std::io::stderr()));
    }
    let _raw = if opts.tty {
        let raw = RawMode::enter()?;
        kernel.enable_tty();
        Some(raw)
    } else {
        None
    };
    let argv_b: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
    let env_b: Vec<Vec<u8>> = env.iter().map(|e| e.as_bytes().to_vec()).collect();
    kernel
        .spawn(
            argv[0].as_bytes(),
            &argv_b,
            &env_b,
            workdir.as_bytes(),
            &creds,
        )
        .with_context(|| format!("cannot start {}", argv[0]))?;
    let end = crate::exec::finish(&mut kernel, opts.stats, &argv[0]);
    if opts.stats {
        let fetched =
            friscy_converter::registry::FETCHED.load(std::sync::atomic::Ordering::Relaxed);
        eprintln!("friscy-stats: registry-bytes={fetched}");
    }
    Ok(ExitCode::from(end.status() as u8))
}

fn mkdir_p(fs: &mut Fs, path: &[u8], uid: u32, gid: u32) {
    let mut cur = ROOT;
    for part in path.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
        cur = match fs.lookup(cur, part) {
            Ok(i) => match fs.resolve(cur, part, true) {
                Ok(r) => r,
                Err(_) => i,
            },
            Err(_) => match fs.create(cur, part, friscy_vfs::NewNode::Dir, 0o755, uid, gid) {
                Ok(i) => i,
                Err(_) => return,
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(entry: &[&str], cmd: &[&str]) -> RunConfig {
        RunConfig {
            entrypoint: entry.iter().map(|s| s.to_string()).collect(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            ..RunConfig::default()
        }
    }

    #[test]
    fn command_line_follows_docker() {
        let o = |cmd: &[&str], ep: Option<&str>| RunOptions {
            image: "x".into(),
            command: cmd.iter().map(|s| s.to_string()).collect(),
            entrypoint: ep.map(String::from),
            ..RunOptions::default()
        };
        let c = cfg(&["/bin/ep"], &["a", "b"]);
        assert_eq!(
            command_line(&c, &o(&[], None)).unwrap(),
            ["/bin/ep", "a", "b"]
        );
        assert_eq!(
            command_line(&c, &o(&["z"], None)).unwrap(),
            ["/bin/ep", "z"]
        );
        assert_eq!(command_line(&c, &o(&[], Some("/x"))).unwrap(), ["/x"]);
        assert_eq!(command_line(&c, &o(&["y"], Some(""))).unwrap(), ["y"]);
        assert!(command_line(&cfg(&[], &[]), &o(&[], None)).is_err());
    }

    #[test]
    fn environment_overrides() {
        let c = RunConfig {
            env: vec!["PATH=/img".into(), "A=1".into()],
            ..RunConfig::default()
        };
        let o = RunOptions {
            env: vec!["A=2".into(), "B=3".into()],
            ..RunOptions::default()
        };
        let env = environment(&c, &o, "/root");
        assert!(env.contains(&"PATH=/img".to_string()));
        assert!(env.contains(&"A=2".to_string()));
        assert!(!env.contains(&"A=1".to_string()));
        assert!(env.contains(&"B=3".to_string()));
        assert!(env.contains(&"HOME=/root".to_string()));
    }
}
