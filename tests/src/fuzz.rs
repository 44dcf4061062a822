//! The fuzz targets: each takes arbitrary bytes and feeds them to a part
//! of friscy that reads input it does not control. A target returns
//! normally for every input; a panic, an abort or a runaway allocation is
//! a bug. They run three ways:
//!
//! - coverage-guided, under libFuzzer (`fuzz/`, built by `scripts/fuzz`
//!   with stable Rust's coverage instrumentation; `scripts/test fuzz` runs
//!   each for a bounded time in CI);
//! - `cargo fuzz run TARGET` on a nightly toolchain, for long local runs;
//! - replayed over the seed corpus and every input a fuzzer ever found
//!   (`fuzz/corpus/TARGET`, `fuzz/regressions/TARGET`) by the integration
//!   suite `tests/tests/fuzz_regressions.rs`, on stable, in CI.
//!
//! [`TARGETS`] lists them; each target's limits keep one input's work
//! small (a memory budget for file systems, a short deadline for servers).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// A fuzz target: any bytes in, nothing out; a panic is a bug.
pub type Target = fn(&[u8]);

/// Every target, by name.
pub const TARGETS: &[(&str, Target)] = &[
    ("layer_tar", layer_tar),
    ("friscy_index", friscy_index),
    ("elf_loader", elf_loader),
    ("image_metadata", image_metadata),
    ("docker_archive", docker_archive),
    ("docker_config", docker_config),
    ("range_header", range_header),
    ("http_request", http_request),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Memory an input may make a file system hold.
const BUDGET: u64 = 256 << 20;

/// Runs `f` with this thread's memory budget limited to [`BUDGET`] more
/// than it holds now.
fn bounded<T>(f: impl FnOnce() -> T) -> T {
    use friscy_kernel::budget;
    let before = budget::limit();
    budget::set_limit(Some(budget::used() + BUDGET));
    let out = f();
    budget::set_limit(before);
    out
}

/// A layer tar: applied to a file system as `friscy run` applies source
/// layers, and converted into a friscy layer as `friscy convert` does.
pub fn layer_tar(data: &[u8]) {
    bounded(|| {
        let mut fs = friscy_vfs::Fs::new();
        let _ = fs.apply_layer(data);
        let mut seen = friscy_vfs::image::Seen::new();
        let _ = friscy_vfs::image::write_layer(data, std::io::sink(), &mut seen, &mut |_| {});
        let _ = friscy_vfs::image::recompress(data, std::io::sink());
    });
}

/// A friscy layer's index member (and, in its own bytes, the chunks it
/// names): decoded, applied, and every file read.
pub fn friscy_index(data: &[u8]) {
    use friscy_vfs::image::{BlobChunks, Index, read_index};
    let _ = Index::decode(data);
    let Ok(ix) = read_index(data) else {
        return;
    };
    bounded(|| {
        let mut fs = friscy_vfs::Fs::new();
        let paths: Vec<Vec<u8>> = ix.entries.iter().map(|e| e.path.clone()).collect();
        if fs
            .apply_friscy_layers(&[ix], Box::new(BlobChunks(vec![data.to_vec()])))
            .is_err()
        {
            return;
        }
        let mut buf = vec![0u8; 1 << 16];
        for p in paths {
            if let Ok(ino) = fs.resolve(friscy_vfs::ROOT, &p, false) {
                let _ = fs.read(ino, 0, &mut buf);
            }
        }
    });
}

/// A host that does nothing: the loader never gets as far as running.
struct NullHost;

impl friscy_kernel::Host for NullHost {
    fn write(&mut self, _fd: i32, data: &[u8]) -> Result<usize, i64> {
        Ok(data.len())
    }
    fn read(&mut self, _fd: i32, _buf: &mut [u8]) -> Result<usize, i64> {
        Ok(0)
    }
    fn fstat(&mut self, _fd: i32) -> Result<friscy_kernel::HostStat, i64> {
        Ok(friscy_kernel::HostStat::default())
    }
    fn is_terminal(&mut self, _fd: i32) -> bool {
        false
    }
    fn seek(&mut self, _fd: i32, _offset: i64, _whence: u32) -> Result<u64, i64> {
        Err(friscy_kernel::abi::errno::ESPIPE)
    }
    fn now(&mut self, _clock: friscy_kernel::Clock) -> u128 {
        0
    }
    fn sleep(&mut self, _nanos: u128) {}
    fn random(&mut self, buf: &mut [u8]) -> Result<(), i64> {
        buf.fill(4);
        Ok(())
    }
}

/// The bytes that split an ELF input into a program and its interpreter.
pub const ELF_SPLIT: &[u8] = b"\n--interp--\n";

/// An ELF program (and, after [`ELF_SPLIT`], the interpreter it may name
/// as `/lib/ld`): loaded as `execve` loads it, not run.
pub fn elf_loader(data: &[u8]) {
    let (prog, interp) = match data.windows(ELF_SPLIT.len()).position(|w| w == ELF_SPLIT) {
        Some(at) => (&data[..at], &data[at + ELF_SPLIT.len()..]),
        None => (data, &[][..]),
    };
    if let Ok(elf) = friscy_kernel::elf::Elf::parse(prog) {
        let _ = elf.interp();
        let _ = elf.span();
    }
    bounded(|| {
        let mut fs = friscy_vfs::Fs::new();
        let mode = 0o755;
        let put = |fs: &mut friscy_vfs::Fs, dir: &[u8], name: &[u8], bytes: &[u8]| {
            let d = fs
                .create(friscy_vfs::ROOT, dir, friscy_vfs::NewNode::Dir, mode, 0, 0)
                .or_else(|_| fs.resolve(friscy_vfs::ROOT, dir, true));
            if let Ok(d) = d
                && let Ok(f) = fs.create(d, name, friscy_vfs::NewNode::Reg, mode, 0, 0)
            {
                let _ = fs.write(f, 0, bytes);
            }
        };
        put(&mut fs, b"bin", b"prog", prog);
        put(&mut fs, b"lib", b"ld", interp);
        let mut k = friscy_kernel::Kernel::new(fs, Box::new(NullHost));
        let argv = [b"/bin/prog".to_vec()];
        let _ = k.spawn(
            b"/bin/prog",
            &argv,
            &[],
            b"/",
            &friscy_kernel::Creds::default(),
        );
        let mut k = friscy_kernel::Kernel::new(friscy_vfs::Fs::new(), Box::new(NullHost));
        let _ = k.spawn_image(prog, b"/prog", &argv, &[]);
    });
}

/// A folder of this process's own for targets that need files.
fn scratch(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("friscy-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d
    });
    let t = format!("{:?}", std::thread::current().id());
    let d = dir.join(format!(
        "{name}-{}",
        t.trim_matches(|c: char| !c.is_ascii_digit())
    ));
    let _ = std::fs::remove_dir_all(&d);
    let _ = std::fs::create_dir_all(&d);
    d
}

/// Splits `data` into documents at form feeds (`\x0c`).
fn documents(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == 0x0c).collect()
}

/// An image's metadata, as an OCI layout: `index.json`, then a manifest
/// and a config (form feeds split the input), each stored under its
/// digest so that parsing goes as deep as the documents allow; then the
/// friscy labels of whatever opened.
pub fn image_metadata(data: &[u8]) {
    let docs = documents(data);
    let dir = scratch("layout");
    let blobs = dir.join("blobs/sha256");
    let _ = std::fs::create_dir_all(&blobs);
    let _ = std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#);
    let _ = std::fs::write(dir.join("index.json"), docs[0]);
    for d in docs.iter().skip(1) {
        let digest = friscy_converter::sha256_of(d);
        let _ = std::fs::write(blobs.join(digest.trim_start_matches("sha256:")), d);
    }
    for r in [
        format!("oci:{}", dir.display()),
        format!("oci:{}:v1", dir.display()),
    ] {
        let Ok(r) = r.parse::<friscy_converter::ImageRef>() else {
            continue;
        };
        if let Ok(img) = friscy_converter::open_image(&r) {
            let _ = img.check_riscv64();
            let _ = friscy_converter::friscy::layer_infos(&img);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `docker save` archive: opened, and its layers read (digest-checked,
/// decompressed) to the end.
pub fn docker_archive(data: &[u8]) {
    let dir = scratch("archive");
    let file = dir.join("image.tar");
    if std::fs::write(&file, data).is_ok()
        && let Ok(r) =
            format!("docker-archive:{}", file.display()).parse::<friscy_converter::ImageRef>()
        && let Ok(img) = friscy_converter::open_image(&r)
    {
        for l in &img.layers {
            if let Ok(mut s) = l.open() {
                let mut buf = vec![0u8; 1 << 16];
                let mut total = 0usize;
                while let Ok(n) = s.read(&mut buf) {
                    total += n;
                    if n == 0 || total > 64 << 20 {
                        break;
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Docker config (`~/.docker/config.json`): credentials looked up as a
/// registry client does, with helpers answered here (never run).
pub fn docker_config(data: &[u8]) {
    let helper = |name: &str, _server: &str| {
        assert!(
            !name.contains('/'),
            "a helper name that is a path reached the helper: {name}"
        );
        None
    };
    for r in ["docker.io", "127.0.0.1:5000", "r.example"] {
        let _ = friscy_converter::registry::credentials_with(data, r, &helper);
    }
}

/// A `Range` header (and an `If-Range`, after a newline) against sizes:
/// the part served is always inside the blob.
pub fn range_header(data: &[u8]) {
    use friscy_cli::serve::{Ranged, ranged};
    let text = String::from_utf8_lossy(data);
    let (range, if_range) = match text.split_once('\n') {
        Some((r, i)) => (r, Some(i)),
        None => (&*text, None),
    };
    for size in [0u64, 1, 100, u64::MAX] {
        match ranged(Some(range), if_range, "\"sha256:x\"", size) {
            Ranged::Part(a, b) => assert!(a <= b && b < size, "{range:?} of {size}: {a}-{b}"),
            Ranged::Whole | Ranged::Unsatisfiable => {}
        }
    }
    let _ = friscy_cli::http::Hosts::default().allows(&text);
}

/// The address of one `friscy serve` HTTP stack, started once per process
/// (the real server, with a handler that streams what it is asked for).
fn server() -> std::net::SocketAddr {
    static ADDR: OnceLock<std::net::SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        use friscy_cli::http::{Hosts, Limits, Request, Response, serve};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handler = std::sync::Arc::new(|r: &Request| {
            let len = r.header("Range").map_or(10, |h| h.len() as u64);
            Response::stream(
                200,
                len,
                Box::new(
                    move || Ok(Box::new(std::io::repeat(1).take(len)) as Box<dyn Read + Send>),
                ),
            )
        });
        let limits = Limits {
            head_timeout: Duration::from_secs(1),
            idle: Duration::from_secs(1),
            ..Limits::default()
        };
        std::thread::spawn(move || serve(listener, Hosts::default(), limits, handler));
        addr
    })
}

/// Raw bytes sent to the HTTP server behind `friscy serve` as one
/// connection; whatever it answers, it must answer (or close) promptly
/// and stay up for the next connection.
pub fn http_request(data: &[u8]) {
    let addr = server();
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        panic!("the server is gone");
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(data);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = s.take(1 << 20).read_to_end(&mut answer);
    if !answer.is_empty() {
        assert!(
            answer.starts_with(b"HTTP/1."),
            "not an HTTP answer: {answer:?}"
        );
    }
}

/// Seed inputs for `target`: small valid examples for a fuzzer to start
/// from (written into `fuzz/corpus` by the ignored test `write_seeds`).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "layer_tar" => vec![seed_tar()],
        "friscy_index" => vec![seed_index()],
        "elf_loader" => {
            let mut dynamic = tiny_elf(3, Some(b"/lib/ld\0"));
            dynamic.extend_from_slice(ELF_SPLIT);
            dynamic.extend(tiny_elf(3, None));
            vec![tiny_elf(2, None), dynamic]
        }
        "image_metadata" => vec![seed_layout_documents()],
        "docker_archive" => vec![seed_archive()],
        "docker_config" => vec![
            br#"{"auths":{"https://index.docker.io/v1/":{"auth":"YW5uOnMzY3JldA=="},"127.0.0.1:5000":{"username":"u","password":"p"},"r.example":{"identitytoken":"t"}},"credHelpers":{"r.example":"pass"},"credsStore":"desktop"}"#.to_vec(),
        ],
        "range_header" => vec![
            b"bytes=0-9".to_vec(),
            b"bytes=-5\n\"sha256:x\"".to_vec(),
            b"bytes=1-2,3-4".to_vec(),
            b"bytes=10-\n\"other\"".to_vec(),
        ],
        "http_request" => vec![
            b"GET /x HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-3\r\n\r\n".to_vec(),
            b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\nGET /a HTTP/1.1\r\nHost: [::1]\r\n\r\n".to_vec(),
            b"GET / HTTP/1.0\r\n\r\n".to_vec(),
        ],
        _ => Vec::new(),
    }
}

/// A tar holding one of each kind of entry a layer may have.
fn seed_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        h.set_device_major(1).expect("ustar");
        h.set_device_minor(3).expect("ustar");
        if let Some(l) = link {
            h.set_link_name(l).expect("short link");
        }
        h.set_path(path).expect("short path");
        h.set_cksum();
        b.append(&h, data).expect("to a vector");
    };
    add("etc/", tar::EntryType::Directory, b"", None);
    add(
        "etc/passwd",
        tar::EntryType::Regular,
        b"root:x:0:0::/root:/bin/sh\n",
        None,
    );
    add("etc/link", tar::EntryType::Symlink, b"", Some("passwd"));
    add("etc/hard", tar::EntryType::Link, b"", Some("etc/passwd"));
    add("dev/null", tar::EntryType::Char, b"", None);
    add("gone/.wh..wh..opq", tar::EntryType::Regular, b"", None);
    add(".wh.old", tar::EntryType::Regular, b"", None);
    b.into_inner().expect("to a vector")
}

/// An index member followed by the chunk members it names, with chunk
/// offsets counted from the start of the input (as the target reads it).
fn seed_index() -> Vec<u8> {
    use friscy_vfs::image::{Index, compress_member, read_index, write_layer};
    let mut blob = Vec::new();
    let out = write_layer(
        &seed_tar()[..],
        &mut blob,
        &mut Default::default(),
        &mut |_| {},
    )
    .expect("a layer");
    let (o, l) = (out.index_offset as usize, out.index_len as usize);
    let ix: Index = read_index(&blob[o..o + l]).expect("its index");
    let chunks: Vec<Vec<u8>> = ix
        .chunks
        .iter()
        .map(|c| blob[c.offset as usize..(c.offset + c.clen) as usize].to_vec())
        .collect();
    // the member's length depends on the offsets in it: settle them
    let mut at = l;
    let mut member = Vec::new();
    for _ in 0..4 {
        let mut moved = ix.clone();
        let mut next = at as u64;
        for (c, bytes) in moved.chunks.iter_mut().zip(&chunks) {
            c.offset = next;
            next += bytes.len() as u64;
        }
        member = compress_member(&crate::tar_entry("friscy/index", &moved.encode()));
        if member.len() == at {
            break;
        }
        at = member.len();
    }
    let mut out = member;
    for c in chunks {
        out.extend(c);
    }
    out
}

/// A minimal riscv64 ELF of type `kind` (2 exec, 3 dyn) with one RX
/// segment, and a PT_INTERP naming `interp` if given.
fn tiny_elf(kind: u8, interp: Option<&[u8]>) -> Vec<u8> {
    let nph = if interp.is_some() { 2 } else { 1 };
    let body = 64 + 56 * nph;
    let mut f = vec![0u8; body + 8 + interp.map_or(0, <[u8]>::len)];
    let total = f.len() as u64;
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2;
    f[5] = 1;
    f[6] = 1;
    f[16] = kind;
    f[18] = 243;
    f[24..32].copy_from_slice(&(0x10000u64 + body as u64).to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[54] = 56;
    f[56] = nph as u8;
    let load = 64;
    f[load..load + 4].copy_from_slice(&1u32.to_le_bytes());
    f[load + 4..load + 8].copy_from_slice(&5u32.to_le_bytes());
    f[load + 16..load + 24].copy_from_slice(&0x10000u64.to_le_bytes());
    f[load + 32..load + 40].copy_from_slice(&total.to_le_bytes());
    f[load + 40..load + 48].copy_from_slice(&total.to_le_bytes());
    f[body..body + 4].copy_from_slice(&0x0000_0073u32.to_le_bytes());
    if let Some(name) = interp {
        let ph = 64 + 56;
        let at = (body + 8) as u64;
        f[ph..ph + 4].copy_from_slice(&3u32.to_le_bytes());
        f[ph + 8..ph + 16].copy_from_slice(&at.to_le_bytes());
        f[ph + 32..ph + 40].copy_from_slice(&(name.len() as u64).to_le_bytes());
        f[body + 8..].copy_from_slice(name);
    }
    f
}

/// `index.json`, a manifest and a config of a friscy image, split by
/// form feeds.
fn seed_layout_documents() -> Vec<u8> {
    let infos = r#"[{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","index":[0,10],"index_digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"}]"#;
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "riscv64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Labels": {"dev.friscy.format": "3", "dev.friscy.layers": infos}},
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .expect("json");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": friscy_converter::sha256_of(&config), "size": config.len()},
        "layers": [],
    }))
    .expect("json");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": friscy_converter::sha256_of(&manifest),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
            "platform": {"os": "linux", "architecture": "riscv64"},
        }],
    }))
    .expect("json");
    [index, manifest, config].join(&b'\x0c')
}

/// A `docker save` archive of one image with one layer.
fn seed_archive() -> Vec<u8> {
    let layer = seed_tar();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "riscv64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [friscy_converter::sha256_of(&layer)]},
    }))
    .expect("json");
    let cfg_name = format!("{}.json", &friscy_converter::sha256_of(&config)[7..]);
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": cfg_name, "RepoTags": ["x:1"], "Layers": ["l/layer.tar"],
    }]))
    .expect("json");
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("l/layer.tar", &layer[..]),
        (cfg_name.as_str(), &config[..]),
        ("manifest.json", &manifest[..]),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_path(name).expect("short");
        h.set_cksum();
        b.append(&h, data).expect("to a vector");
    }
    b.into_inner().expect("to a vector")
}
