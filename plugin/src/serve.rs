//! `friscy serve` and `friscy export`: the page that runs a friscy image in
//! a browser tab (`runtime/web/page`), the runtime (`friscy_web.wasm`),
//! xterm.js, the image's description (`image.json`) and its blobs, served
//! with the cross-origin isolation headers the page needs — or written out
//! as a static site.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use friscy_converter::friscy::{self, Quiet};
use friscy_converter::{ImageRef, SourceImage, open_image};
use friscy_vfs::image::{ChunkLoc, ChunkSource};
use serde_json::{Value, json};

use crate::http::{Request, Response};

/// The headers that make the page cross-origin isolated (so that it gets
/// SharedArrayBuffer), and let it load what it loads.
pub const ISOLATION_HEADERS: [(&str, &str); 3] = [
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
];

/// The files of the page: (URL path, file, content type).
struct Assets(Vec<(&'static str, PathBuf, &'static str)>);

/// Where the page and the runtime are: `$FRISCY_WEB_DIR` (a folder laid
/// out as `friscy export` writes it, or the repository's `runtime/web`),
/// else the repository this binary was built in.
fn assets() -> Result<Assets> {
    let exe = std::env::current_exe().context("cannot find the friscy binary")?;
    // target/<profile>/friscy -> the workspace
    let repo = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let web = std::env::var_os("FRISCY_WEB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("runtime/web"));
    let page = web.join("page");
    let wasm = std::env::var_os("FRISCY_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            exe.parent()
                .and_then(Path::parent)
                .map(|t| t.join("wasm32-unknown-unknown/release/friscy_web.wasm"))
                .unwrap_or_default()
        });
    let xterm = page.join("node_modules/@xterm");
    let list = vec![
        ("/", page.join("index.html"), "text/html; charset=utf-8"),
        (
            "/index.html",
            page.join("index.html"),
            "text/html; charset=utf-8",
        ),
        ("/main.js", page.join("main.js"), "text/javascript"),
        ("/worker.js", page.join("worker.js"), "text/javascript"),
        ("/friscy_web.wasm", wasm, "application/wasm"),
        (
            "/xterm/xterm.mjs",
            xterm.join("xterm/lib/xterm.mjs"),
            "text/javascript",
        ),
        (
            "/xterm/xterm.css",
            xterm.join("xterm/css/xterm.css"),
            "text/css",
        ),
        (
            "/xterm/addon-fit.mjs",
            xterm.join("addon-fit/lib/addon-fit.mjs"),
            "text/javascript",
        ),
    ];
    for (_, path, _) in &list {
        if !path.is_file() {
            let hint = if path.extension().is_some_and(|e| e == "wasm") {
                "build it: cargo build --release --target wasm32-unknown-unknown -p friscy-web"
            } else if path.to_string_lossy().contains("node_modules") {
                "install the page's npm packages: scripts/setup (npm ci in runtime/web/page)"
            } else {
                "set FRISCY_WEB_DIR to friscy's runtime/web folder"
            };
            bail!("the page needs {}: {hint}", path.display());
        }
    }
    Ok(Assets(list))
}

/// The image to serve: a friscy image whose layer blobs are its friscy
/// blobs (a source image is converted, a recompressed one rebuilt, into
/// `scratch`).
fn prepare(image: &str, scratch: &Path) -> Result<SourceImage> {
    let r: ImageRef = image
        .parse()
        .with_context(|| format!("bad image reference {image:?}"))?;
    let src = open_image(&r).with_context(|| format!("cannot open image {image}"))?;
    src.check_riscv64()?;
    let layout = |c: &friscy::Converted| -> Result<SourceImage> {
        friscy::tag_layout(
            scratch,
            "serve",
            &c.manifest_digest,
            c.manifest.len() as u64,
        )?;
        let r: ImageRef = format!("oci:{}:serve", scratch.display()).parse()?;
        Ok(open_image(&r)?)
    };
    let blobs = scratch.join("blobs/sha256");
    if !friscy::is_friscy(&src) {
        eprintln!("friscy: converting {image} into a friscy image");
        let c = friscy::convert(&src, &blobs, &mut Quiet)
            .with_context(|| format!("cannot convert {image}"))?;
        return layout(&c);
    }
    let infos = friscy::layer_infos(&src)?;
    if src
        .layers
        .iter()
        .zip(&infos)
        .any(|(l, i)| l.digest != i.digest)
    {
        if infos.iter().any(|i| i.digest.is_empty()) {
            eprintln!("friscy: {image} was built by the friscy frontend; writing its friscy blobs");
        } else {
            eprintln!("friscy: {image} was recompressed on the way; rebuilding its friscy blobs");
        }
        let c = friscy::rebuild(&src, &blobs).with_context(|| format!("cannot rebuild {image}"))?;
        return layout(&c);
    }
    Ok(src)
}

/// A host for a start-up profile: a terminal nobody types on, output
/// dropped, the real clocks, randomness and network.
struct ProfileHost(friscy_kernel::native::NativeHost);

impl friscy_kernel::Host for ProfileHost {
    fn write(&mut self, _fd: i32, data: &[u8]) -> Result<usize, i64> {
        Ok(data.len())
    }
    fn read(&mut self, _fd: i32, _buf: &mut [u8]) -> Result<usize, i64> {
        Err(friscy_kernel::abi::errno::EAGAIN)
    }
    fn fstat(&mut self, _fd: i32) -> Result<friscy_kernel::HostStat, i64> {
        Ok(friscy_kernel::HostStat {
            mode: friscy_kernel::abi::S_IFCHR | 0o620,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        })
    }
    fn is_terminal(&mut self, _fd: i32) -> bool {
        true
    }
    fn seek(&mut self, _fd: i32, _offset: i64, _whence: u32) -> Result<u64, i64> {
        Err(friscy_kernel::abi::errno::ESPIPE)
    }
    fn now(&mut self, clock: friscy_kernel::Clock) -> u128 {
        self.0.now(clock)
    }
    fn sleep(&mut self, nanos: u128) {
        self.0.sleep(nanos)
    }
    fn random(&mut self, buf: &mut [u8]) -> Result<(), i64> {
        self.0.random(buf)
    }
    fn input_ready(&mut self, _fd: i32) -> bool {
        false
    }
    fn wait_input(&mut self, _fd: i32, timeout: Option<u128>) -> bool {
        self.0.sleep(timeout.unwrap_or(10_000_000).min(10_000_000));
        false
    }
    fn window_size(&mut self) -> Option<(u16, u16)> {
        Some((24, 80))
    }
    fn log(&mut self, _message: &str) {}
}

/// Records the chunks a run loads.
struct Recorder {
    inner: friscy::ImageChunks,
    seen: std::rc::Rc<std::cell::RefCell<Vec<(usize, ChunkLoc)>>>,
}

impl ChunkSource for Recorder {
    fn chunk(&self, layer: usize, loc: &ChunkLoc) -> std::io::Result<Vec<u8>> {
        self.seen.borrow_mut().push((layer, *loc));
        self.inner.chunk(layer, loc)
    }
}

/// How long a start-up profile may run.
const PROFILE_LIMIT_NS: u128 = 10_000_000_000;

/// What the image's program reads before it first waits for terminal input
/// (a shell's first prompt), as [layer, offset, length] member ranges in
/// the order read: the page fetches them all at once when it starts.
fn startup_ranges(src: &SourceImage) -> Result<Vec<[u64; 3]>> {
    let (indexes, chunks) = friscy::open_friscy(src, &mut |_| {})?;
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut fs = friscy_vfs::Fs::new();
    fs.apply_friscy_layers(
        &indexes,
        Box::new(Recorder {
            inner: chunks,
            seen: seen.clone(),
        }),
    )?;
    let p = crate::run::process(&mut fs, &src.config, &crate::run::RunOptions::default())?;
    let mut kernel = friscy_kernel::Kernel::new(
        fs,
        Box::new(ProfileHost(friscy_kernel::native::NativeHost::new())),
    );
    kernel.enable_tty();
    let bytes = |v: &[String]| v.iter().map(|a| a.as_bytes().to_vec()).collect::<Vec<_>>();
    kernel.spawn(
        p.argv[0].as_bytes(),
        &bytes(&p.argv),
        &bytes(&p.env),
        p.workdir.as_bytes(),
        &p.creds,
    )?;
    let _ = kernel.run_to_input(PROFILE_LIMIT_NS);
    let list = seen
        .borrow()
        .iter()
        .map(|(l, c)| [*l as u64, c.offset, c.clen])
        .collect();
    Ok(list)
}

/// `image.json`: what the page needs to know of the image.
fn describe(image: &str, src: &SourceImage) -> Result<Value> {
    let cfg: Value = serde_json::from_slice(&src.config_json).context("the image config")?;
    let infos = friscy::layer_infos(src)?;
    // a digest names a URL here and a file in an export: nothing else may
    if let Some(l) = src
        .layers
        .iter()
        .find(|l| !friscy_converter::registry::is_digest(&l.digest))
    {
        bail!(
            "{image}: layer digest {:?} is not a sha256 digest",
            l.digest
        );
    }
    let layers: Vec<Value> = src
        .layers
        .iter()
        .zip(&infos)
        .map(|(l, i)| {
            json!({
                "digest": l.digest,
                "size": l.size,
                "url": format!("blobs/{}", l.digest),
                "index": i.index,
                "index_digest": i.index_digest,
            })
        })
        .collect();
    let prefetch = match startup_ranges(src) {
        Ok(list) => list,
        Err(e) => {
            eprintln!("friscy: no start-up prefetch list ({e:#})");
            Vec::new()
        }
    };
    Ok(json!({
        "name": image,
        "config": cfg.get("config").cloned().unwrap_or_else(|| json!({})),
        "layers": layers,
        "prefetch": prefetch,
    }))
}

/// Parses `bytes=A-B` (one range, either end open) against `size`.
fn parse_range(h: &str, size: u64) -> Option<(u64, u64)> {
    let spec = h.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (size.saturating_sub(n), size - 1)
    } else {
        let s: u64 = a.parse().ok()?;
        let e: u64 = if b.is_empty() {
            size - 1
        } else {
            b.parse().ok()?
        };
        (s, e.min(size - 1))
    };
    (start <= end && start < size).then_some((start, end))
}

struct Site {
    assets: Assets,
    image_json: Vec<u8>,
    image: SourceImage,
}

fn respond(status: u16, body: Vec<u8>, headers: &[(&str, &str)]) -> Response {
    ISOLATION_HEADERS
        .iter()
        .chain(headers)
        .fold(Response::new(status, body), |r, (k, v)| r.header(k, v))
}

fn handle(site: &Site, req: &Request) -> Response {
    let path = req.path();
    if req.method != "GET" && req.method != "HEAD" {
        return respond(
            405,
            b"only GET and HEAD\n".to_vec(),
            &[("Allow", "GET, HEAD")],
        );
    }
    if path == "/image.json" {
        return respond(
            200,
            site.image_json.clone(),
            &[
                ("Content-Type", "application/json"),
                ("Cache-Control", "no-cache"),
            ],
        );
    }
    if let Some((_, file, ty)) = site.assets.0.iter().find(|(p, _, _)| *p == path) {
        return match std::fs::read(file) {
            Ok(b) => respond(
                200,
                b,
                &[("Content-Type", ty), ("Cache-Control", "no-cache")],
            ),
            Err(e) => respond(500, format!("{e}\n").into_bytes(), &[]),
        };
    }
    if let Some(digest) = path.strip_prefix("/blobs/") {
        let Some(layer) = site.image.layers.iter().find(|l| l.digest == digest) else {
            return respond(404, b"no such blob\n".to_vec(), &[]);
        };
        let (status, start, end) = match req.header("Range").map(|r| parse_range(r, layer.size)) {
            Some(Some((s, e))) => (206, s, e),
            Some(None) => {
                let cr = format!("bytes */{}", layer.size);
                return respond(416, Vec::new(), &[("Content-Range", &cr)]);
            }
            None => (200, 0, layer.size.saturating_sub(1)),
        };
        let len = if layer.size == 0 { 0 } else { end - start + 1 };
        return match layer.read_range(start, len) {
            Ok(b) => {
                let cr = format!("bytes {start}-{end}/{}", layer.size);
                let mut h = vec![
                    ("Content-Type", "application/octet-stream"),
                    ("Accept-Ranges", "bytes"),
                    ("Cache-Control", "public, max-age=31536000, immutable"),
                ];
                if status == 206 {
                    h.push(("Content-Range", &cr));
                }
                respond(status, b, &h)
            }
            Err(e) => respond(502, format!("{e}\n").into_bytes(), &[]),
        };
    }
    respond(404, b"not found\n".to_vec(), &[])
}

/// `friscy serve IMAGE`: serves until interrupted.
pub fn serve(image: &str, listen: &str, port: u16) -> Result<ExitCode> {
    let assets = assets()?;
    let scratch = crate::Scratch::new("serve")?;
    let src = prepare(image, &scratch.0)?;
    let image_json = serde_json::to_vec_pretty(&describe(image, &src)?)?;
    let addr: SocketAddr = format!("{listen}:{port}")
        .parse()
        .with_context(|| format!("bad address {listen}:{port}"))?;
    let listener = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr().unwrap_or(addr).to_string();
    let host = if listen == "127.0.0.1" || listen == "0.0.0.0" {
        bound
            .replacen("127.0.0.1", "localhost", 1)
            .replacen("0.0.0.0", "localhost", 1)
    } else {
        bound
    };
    crate::outln!("serving {image} at http://{host}/ (Ctrl-C stops)");
    let site = Site {
        assets,
        image_json,
        image: src,
    };
    crate::http::serve(listener, Arc::new(move |req: &Request| handle(&site, req)));
    drop(scratch);
    Ok(ExitCode::SUCCESS)
}

/// `friscy export IMAGE DIR`: the page, the runtime and the image as files.
pub fn export(image: &str, dir: &Path) -> Result<ExitCode> {
    let assets = assets()?;
    let scratch = crate::Scratch::new("export")?;
    let src = prepare(image, &scratch.0)?;
    let desc = describe(image, &src)?;
    std::fs::create_dir_all(dir.join("blobs"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::create_dir_all(dir.join("xterm"))?;
    for (url, file, _) in &assets.0 {
        if *url == "/" {
            continue;
        }
        let to = dir.join(url.trim_start_matches('/'));
        std::fs::copy(file, &to).with_context(|| format!("cannot write {}", to.display()))?;
    }
    let mut total = 0u64;
    for l in &src.layers {
        let to = dir.join("blobs").join(&l.digest);
        if to.metadata().is_ok_and(|m| m.len() == l.size) {
            continue;
        }
        let tmp = to.with_extension("part");
        let mut out = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        let mut at = 0u64;
        while at < l.size {
            let n = (l.size - at).min(8 << 20);
            let b = l.read_range(at, n)?;
            std::io::Write::write_all(&mut out, &b)?;
            at += n;
        }
        std::fs::rename(&tmp, &to)?;
        total += l.size;
    }
    std::fs::write(dir.join("image.json"), serde_json::to_vec_pretty(&desc)?)?;
    let headers: String = ISOLATION_HEADERS
        .iter()
        .map(|(k, v)| format!("  {k}: {v}\n"))
        .collect();
    std::fs::write(dir.join("_headers"), format!("/*\n{headers}"))?;
    crate::outln!(
        "exported {image} to {} ({:.1} MB of blobs written)\nserve it with these headers on every file (docs/web.md):\n{headers}",
        dir.display(),
        total as f64 / 1e6
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 99)));
        assert_eq!(parse_range("bytes=100-101", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,4-5", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
