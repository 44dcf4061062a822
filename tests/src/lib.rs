//! Helpers for friscy's end-to-end suites.
//!
//! The suites drive the real binaries (built by `scripts/test`, found through
//! `FRISCY_BIN_DIR` or in `target/release`), real riscv64 images built from
//! Debian packages (`scripts/fixture`), and real services (`scripts/services`)
//! that each test starts on 127.0.0.1 and stops by PID.

pub mod fuzz;
pub mod standin;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The workspace's top folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// A script under `scripts/`.
pub fn script(name: &str) -> PathBuf {
    workspace_root().join("scripts").join(name)
}

/// Path of one of friscy's release binaries (`friscy`, `docker-friscy`).
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("FRISCY_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target").join("release"));
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} not found: run `cargo build --release` first (scripts/test does), \
         or set FRISCY_BIN_DIR",
        path.display()
    );
    path
}

/// Runs a command, returning its output; panics with the command's stderr
/// if it could not start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed and returns its stdout as text.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A finished command's stdout and stderr, as text.
pub fn output_text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `friscy` talking to the engine at `host` (a DOCKER_HOST) with the 20.10
/// client.
pub fn friscy_on_engine(host: &str) -> Command {
    let mut cmd = Command::new(bin("friscy"));
    cmd.env("DOCKER_HOST", host)
        .env("FRISCY_DOCKER", "/usr/bin/docker");
    cmd
}

/// The registry bytes `friscy run --stats` reported on stderr.
pub fn registry_bytes(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("friscy-stats: registry-bytes="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no registry-bytes in {stderr}"))
}

/// Copies fixture `name` into a registry on 127.0.0.1 as `reference`
/// (REGISTRY/REPO:TAG), with skopeo.
pub fn push_fixture(name: &str, reference: &str) {
    run_ok(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &format!("oci:{}:{name}", fixture(name).display()),
        &format!("docker://{reference}"),
    ]));
}

/// The OCI layout folder of a named fixture image (built once, cached under
/// `~/.cache/friscy/fixtures`); the image is `oci:DIR:NAME`.
pub fn fixture(name: &str) -> PathBuf {
    let out = run_ok(Command::new(script("fixture")).arg(name));
    PathBuf::from(out.trim())
}

/// Unpacks fixture `name` with `umoci` into `dir`/bundle; returns the
/// root file system folder.
pub fn unpack_fixture(name: &str, dir: &Path) -> PathBuf {
    let image = fixture(name);
    let bundle = dir.join("bundle");
    run_ok(
        Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:{name}", image.display()))
            .arg(&bundle),
    );
    bundle.join("rootfs")
}

/// A fresh folder under the system temp folder, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        // Short paths: dockerd's socket lives in here and unix socket paths
        // are limited to 108 bytes.
        let path = std::env::temp_dir().join(format!(
            "fy-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Services started by `scripts/services` in one state folder: stopped (by
/// PID) and their state removed when this is dropped, also when a test fails.
pub struct Services {
    // Declared before `dir` so the services stop before the folder goes.
    state: PathBuf,
    docker_host: Option<String>,
    registry: Option<String>,
    _dir: TempDir,
}

impl Services {
    pub fn new() -> Services {
        let dir = TempDir::new("svc");
        Services {
            state: dir.path().to_path_buf(),
            docker_host: None,
            registry: None,
            _dir: dir,
        }
    }

    fn start(&self, what: &str) -> String {
        self.start_env(what, &[])
    }

    fn start_env(&self, what: &str, env: &[(&str, &std::ffi::OsStr)]) -> String {
        let mut cmd = Command::new(script("services"));
        cmd.arg("start").arg(what).arg(&self.state);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = run_ok(&mut cmd);
        let line = out.trim();
        line.split_once('=')
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| panic!("unexpected output from services: {line}"))
    }

    /// Starts a private dockerd; returns its `DOCKER_HOST`.
    pub fn dockerd(&mut self) -> String {
        if self.docker_host.is_none() {
            self.docker_host = Some(self.start("dockerd"));
        }
        self.docker_host.clone().expect("set above")
    }

    /// Starts a registry on 127.0.0.1; returns its `HOST:PORT`.
    pub fn registry(&mut self) -> String {
        if self.registry.is_none() {
            self.registry = Some(self.start("registry"));
        }
        self.registry.clone().expect("set above")
    }

    /// Starts a registry on 127.0.0.1 that wants basic authentication
    /// with the users of `htpasswd` (bcrypt); returns its `HOST:PORT`.
    pub fn registry_with_auth(&mut self, htpasswd: &Path) -> String {
        if self.registry.is_none() {
            self.registry =
                Some(self.start_env("registry", &[("REGISTRY_HTPASSWD", htpasswd.as_os_str())]));
        }
        self.registry.clone().expect("set above")
    }

    /// The 20.10 docker client (it has BuildKit) talking to this dockerd.
    pub fn docker(&mut self) -> Command {
        let host = self.dockerd();
        let mut cmd = Command::new("/usr/bin/docker");
        cmd.env("DOCKER_HOST", host).env("DOCKER_BUILDKIT", "1");
        cmd
    }
}

impl Default for Services {
    fn default() -> Self {
        Services::new()
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        let _ = Command::new(script("services"))
            .arg("stop")
            .arg(&self.state)
            .status();
    }
}

/// One tar entry (a ustar header, the data, padding to a block) named
/// `name`, owned by root, mode 0644, time 0.
pub fn tar_entry(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name).expect("a short path");
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(512 + data.len().next_multiple_of(512), 0);
    out
}

/// A gzip member of `tar_bytes` exactly `len` bytes long (a gzip comment
/// pads it), if one fits: what a registry, CDN or cache that substitutes
/// bytes in place, keeping every offset, would serve.
pub fn member_of_len(tar_bytes: &[u8], len: usize) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let gz = |level: u32, comment: Option<usize>| {
        let mut b = flate2::GzBuilder::new().mtime(0);
        if let Some(n) = comment {
            b = b.comment(vec![b'x'; n]);
        }
        let mut enc = b.write(Vec::new(), flate2::Compression::new(level));
        enc.write_all(tar_bytes).expect("to a vector");
        enc.finish().expect("to a vector")
    };
    // the level whose output is shortest below `len`: gzip readers take
    // comments of a few KiB, not of any length
    (1..=9).find_map(|level| {
        let short = gz(level, None).len();
        // FCOMMENT adds the comment and its NUL
        let pad = len.checked_sub(short + 1).filter(|&p| p < 4096)?;
        let m = gz(level, Some(pad));
        (m.len() == len).then_some(m)
    })
}
