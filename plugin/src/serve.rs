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

/// The runtime files a friscy image carries (`friscy_web.wasm`,
/// `worker.js`), from where the page's are; `None` when they are not
/// there (an installed `friscy` without the wasm build), with why.
pub fn runtime_files() -> Result<Vec<(String, Vec<u8>)>> {
    let assets = assets()?;
    ["/friscy_web.wasm", "/worker.js"]
        .iter()
        .map(|url| {
            let (_, path, _) = assets
                .0
                .iter()
                .find(|(u, _, _)| u == url)
                .context("the page lists no such file")?;
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok((url.trim_start_matches('/').to_owned(), bytes))
        })
        .collect()
}

/// Conversion options: with `aot`, modules of translated code; the runtime
/// files when this friscy has them (else a note says the image has none).
pub fn convert_options(
    aot: bool,
    runtime: &mut Option<Vec<(String, Vec<u8>)>>,
) -> friscy::Options<'_> {
    match runtime_files() {
        Ok(files) => *runtime = Some(files),
        Err(e) => eprintln!("friscy: the image gets no wasm runtime ({e:#})"),
    }
    friscy::Options {
        aot,
        runtime: runtime.as_deref(),
    }
}

/// The image to serve: a friscy image whose layer blobs are its friscy
/// blobs (a source image is converted, a recompressed one rebuilt, into
/// `scratch`).
fn prepare(image: &str, scratch: &Path, aot: bool) -> Result<SourceImage> {
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
        let mut files = None;
        let c = friscy::convert(&src, &blobs, convert_options(aot, &mut files), &mut Quiet)
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
    // the image is untrusted: its start-up runs under the default limit
    let before = friscy_kernel::budget::limit();
    friscy_kernel::budget::set_limit(Some(crate::memory::default_limit()));
    let _ = kernel.run_to_input(PROFILE_LIMIT_NS);
    friscy_kernel::budget::set_limit(before);
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

/// What a request's `Range` asks of a representation of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Ranged {
    /// The whole thing: no Range, or one to ignore (RFC 9110 §14.2: a
    /// malformed one, another unit, several ranges, or an `If-Range` that
    /// does not match).
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// A well-formed range that selects nothing: 416.
    Unsatisfiable,
}

/// Reads `Range` (and `If-Range`, against `etag`) for a representation of
/// `size` bytes. Written here rather than taken from a crate because the
/// Range crates answer a malformed or multi-range header with 416, where
/// the RFC says to ignore it; serving one range is all the page needs.
pub fn ranged(range: Option<&str>, if_range: Option<&str>, etag: &str, size: u64) -> Ranged {
    let Some(range) = range else {
        return Ranged::Whole;
    };
    // If-Range holds a validator: only our (strong) entity tag matches; a
    // date never does, as nothing here has a Last-Modified
    if if_range.is_some_and(|v| v.trim() != etag) {
        return Ranged::Whole;
    }
    let Some((unit, set)) = range.trim().split_once('=') else {
        return Ranged::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let number = |t: &str| -> Option<u64> {
        let t = t.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // a number too large for u64 is still a number: past any end
        Some(t.parse::<u64>().unwrap_or(u64::MAX))
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // bytes=-N: the last N bytes
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part(size.saturating_sub(n), size - 1)
            }
        }
        // bytes=A- and bytes=A-B
        (false, Some(a), b) if last.trim().is_empty() || b.is_some() => {
            let b = b.unwrap_or(u64::MAX);
            if b < a {
                Ranged::Whole
            } else if a >= size {
                Ranged::Unsatisfiable
            } else {
                Ranged::Part(a, b.min(size - 1))
            }
        }
        _ => Ranged::Whole,
    }
}

struct Site {
    assets: Assets,
    image_json: Vec<u8>,
    image: SourceImage,
}

/// A response with the isolation headers.
fn respond(status: u16, body: Vec<u8>, headers: &[(&str, &str)]) -> Response {
    with_headers(Response::new(status, body), headers)
}

/// `r` with the isolation headers and `headers`.
fn with_headers(r: Response, headers: &[(&str, &str)]) -> Response {
    ISOLATION_HEADERS
        .iter()
        .chain(headers)
        .fold(r, |r, (k, v)| r.header(k, v))
}

/// A file of the page, streamed.
fn asset(file: &Path, ty: &str) -> Response {
    let len = match std::fs::metadata(file) {
        Ok(m) => m.len(),
        Err(e) => return respond(500, format!("{e}\n").into_bytes(), &[]),
    };
    let file = file.to_owned();
    let open: crate::http::Opener = Box::new(move || {
        std::fs::File::open(&file).map(|f| Box::new(f) as Box<dyn std::io::Read + Send>)
    });
    with_headers(
        Response::stream(200, len, open),
        &[("Content-Type", ty), ("Cache-Control", "no-cache")],
    )
}

fn handle(site: &Site, req: &Request) -> Response {
    let path = req.path.as_str();
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
        return asset(file, ty);
    }
    if let Some(digest) = path.strip_prefix("/blobs/") {
        let Some(layer) = site.image.layers.iter().find(|l| l.digest == digest) else {
            return respond(404, b"no such blob\n".to_vec(), &[]);
        };
        // a blob's digest names its bytes for good: a strong validator
        let etag = format!("\"{}\"", layer.digest);
        let range = (req.method == hyper::Method::GET)
            .then(|| req.header("Range"))
            .flatten();
        let size = layer.size;
        let (status, start, len) = match ranged(range, req.header("If-Range"), &etag, size) {
            Ranged::Whole => (200, 0, size),
            Ranged::Part(start, end) => (206, start, end - start + 1),
            Ranged::Unsatisfiable => {
                let cr = format!("bytes */{size}");
                return respond(416, Vec::new(), &[("Content-Range", &cr)]);
            }
        };
        let source = layer.clone();
        let open: crate::http::Opener = Box::new(move || {
            source
                .open_range(start, len)
                .map(|r| r as Box<dyn std::io::Read + Send>)
                .map_err(std::io::Error::other)
        });
        let mut h = vec![
            ("Content-Type", "application/octet-stream"),
            ("Accept-Ranges", "bytes"),
            ("Cache-Control", "public, max-age=31536000, immutable"),
            ("ETag", etag.as_str()),
        ];
        let cr = format!("bytes {start}-{}/{size}", (start + len).saturating_sub(1));
        if status == 206 {
            h.push(("Content-Range", &cr));
        }
        return with_headers(Response::stream(status, len, open), &h);
    }
    respond(404, b"not found\n".to_vec(), &[])
}

/// `friscy serve IMAGE`: serves until interrupted. Requests naming a host
/// other than an IP address, localhost or one of `allow_hosts` are
/// refused (DNS rebinding).
pub fn serve(
    image: &str,
    listen: &str,
    port: u16,
    allow_hosts: &[String],
    aot: bool,
) -> Result<ExitCode> {
    let assets = assets()?;
    let scratch = crate::Scratch::new("serve")?;
    let src = prepare(image, &scratch.0, aot)?;
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
    let hosts = crate::http::Hosts {
        allowed: allow_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
    };
    crate::http::serve(
        listener,
        hosts,
        crate::http::Limits::default(),
        Arc::new(move |req: &Request| handle(&site, req)),
    )
    .context("serving failed")?;
    drop(scratch);
    Ok(ExitCode::SUCCESS)
}

/// `friscy export IMAGE DIR`: the page, the runtime and the image as files.
pub fn export(image: &str, dir: &Path, aot: bool) -> Result<ExitCode> {
    let assets = assets()?;
    let scratch = crate::Scratch::new("export")?;
    let src = prepare(image, &scratch.0, aot)?;
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
    fn ranges_follow_rfc_9110() {
        let r = |h: &str, size| ranged(Some(h), None, "\"e\"", size);
        assert_eq!(r("bytes=0-9", 100), Ranged::Part(0, 9));
        assert_eq!(r("bytes=90-", 100), Ranged::Part(90, 99));
        assert_eq!(r("bytes=-10", 100), Ranged::Part(90, 99));
        assert_eq!(r("bytes=-1000", 100), Ranged::Part(0, 99));
        assert_eq!(r("bytes=95-200", 100), Ranged::Part(95, 99));
        assert_eq!(r("Bytes = 1-2", 100), Ranged::Part(1, 2));
        assert_eq!(
            r("bytes=0-99999999999999999999999", 100),
            Ranged::Part(0, 99)
        );
        // well-formed, but nothing in it: 416
        assert_eq!(r("bytes=100-101", 100), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=-0", 100), Ranged::Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Ranged::Unsatisfiable);
        assert_eq!(
            r("bytes=99999999999999999999999-", 100),
            Ranged::Unsatisfiable
        );
        // malformed, several ranges, another unit: ignored (the whole)
        for h in [
            "bytes=5-1",
            "bytes=0-1,4-5",
            "items=0-1",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes 0-1",
            "",
        ] {
            assert_eq!(r(h, 100), Ranged::Whole, "{h:?}");
        }
        assert_eq!(ranged(None, None, "\"e\"", 100), Ranged::Whole);
        // If-Range: our tag keeps the range, anything else drops it
        assert_eq!(
            ranged(Some("bytes=0-1"), Some("\"e\""), "\"e\"", 100),
            Ranged::Part(0, 1)
        );
        for v in ["\"other\"", "W/\"e\"", "Tue, 01 Dec 2026 00:00:00 GMT"] {
            assert_eq!(
                ranged(Some("bytes=0-1"), Some(v), "\"e\"", 100),
                Ranged::Whole,
                "{v}"
            );
        }
    }
}
