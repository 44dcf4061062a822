//! The container in a browser tab: Debian's chromium (headless, driven by
//! playwright-core from npm) against `friscy serve`, against `friscy
//! export` on a plain static server, and against a registry (`?image=`).
//! Screenshots of the terminal are kept in `target/test-artifacts`.

use friscy_tests::{
    Services, TempDir, bin, fixture, member_of_len, run_ok, tar_entry, workspace_root,
};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A server process that prints its URL first; killed on drop.
struct Server(Child, String);

impl Server {
    fn start(cmd: &mut Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        out.read_line(&mut line).expect("the server prints its URL");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_owned();
        Server(child, url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn artifacts() -> PathBuf {
    let dir = workspace_root().join("target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `tests/browser/session.mjs` on `url`; returns its JSON figures.
fn session(url: &str, shot: &str, mode: &[&str]) -> serde_json::Value {
    let shot = artifacts().join(shot);
    let out = run_ok(
        Command::new("node")
            .arg(workspace_root().join("tests/browser/session.mjs"))
            .arg(url)
            .arg(&shot)
            .args(mode),
    );
    assert!(shot.is_file(), "a screenshot at {}", shot.display());
    let line = out.lines().last().unwrap_or_default();
    println!("{url}: {line}");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn serve(image: &str) -> Server {
    Server::start(Command::new(bin("friscy")).args(["serve", "--port", "0", image]))
}

#[test]
fn a_debian_image_runs_in_the_browser() {
    let image = format!("oci:{}:tools", fixture("tools").display());
    let server = serve(&image);
    let f = session(&server.1, "browser-serve.png", &[]);
    // the figures of issue 6: warm <= 1 s, cold <= 3 s (printed, not
    // asserted: machines are noisy); the cache must serve the reload
    assert!(f["warm_cached"].as_u64().unwrap() > 0, "{f}");
    assert_eq!(f["warm_bytes"].as_u64(), Some(0), "{f}");
    let sizes = f["sizes"].as_array().unwrap();
    assert_ne!(sizes[0], sizes[1]);
}

fn static_server(dir: &Path, headers: bool) -> Server {
    let mut cmd = Command::new("python3");
    cmd.arg(workspace_root().join("tests/browser/static_server.py"))
        .arg(dir);
    if !headers {
        cmd.arg("--no-headers");
    }
    Server::start(&mut cmd)
}

#[test]
fn an_export_runs_from_a_plain_static_server() {
    let tmp = TempDir::new("export");
    let site = tmp.path().join("site");
    let image = format!("oci:{}:base", fixture("base").display());
    let said = run_ok(
        Command::new(bin("friscy"))
            .arg("export")
            .arg(&image)
            .arg(&site),
    );
    assert!(
        said.contains("Cross-Origin-Embedder-Policy: require-corp"),
        "{said}"
    );
    let server = static_server(&site, true);
    let off = format!("{}?translate=off", server.1);
    let f = session(&off, "browser-export.png", &["--quick"]);
    assert_eq!(f["translated"].as_u64(), Some(0), "{f}");
    // the image's own modules (export converts with them), used at once
    let url = format!("{}?hot=1", server.1);
    let f = session(&url, "browser-modules.png", &["--quick"]);
    assert!(f["translated"].as_u64().unwrap() > 1_000_000, "{f}");
    assert_eq!(f["regions"].as_u64(), Some(0), "modules only: {f}");
    // the same page with every block translated to wasm first
    let url = format!("{}?translate=force", server.1);
    let f = session(&url, "browser-translated.png", &["--quick"]);
    assert!(f["translated"].as_u64().unwrap() > 1_000_000, "{f}");
    // without the headers the page says what is missing
    let bare = static_server(&site, false);
    let f = session(
        &bare.1,
        "browser-no-headers.png",
        &["--expect-error", "Cross-Origin-Opener-Policy"],
    );
    assert!(
        f["error"].as_str().unwrap().contains("SharedArrayBuffer"),
        "{f}"
    );
}

/// What a tampered copy of an exported site has substituted.
enum Tamper {
    /// The first layer's index: another valid index (the same tree, every
    /// file setuid) in the same bytes.
    Index,
    /// The first chunk of bash: other bytes of the same length.
    BashChunk,
}

/// A copy of the exported `site` in `dst` whose blob has `what` replaced
/// in place (every offset kept, as a CDN or cache that lies would).
fn tampered_copy(site: &Path, dst: &Path, what: Tamper) {
    run_ok(Command::new("cp").arg("-a").arg(site).arg(dst));
    let desc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dst.join("image.json")).unwrap()).unwrap();
    let layers = desc["layers"].as_array().unwrap();
    let member = |l: &serde_json::Value| {
        let blob = std::fs::read(dst.join("blobs").join(l["digest"].as_str().unwrap())).unwrap();
        let (o, n) = (
            l["index"][0].as_u64().unwrap() as usize,
            l["index"][1].as_u64().unwrap() as usize,
        );
        (
            blob.clone(),
            o,
            n,
            friscy_vfs::image::read_index(&blob[o..o + n]).unwrap(),
        )
    };
    let (layer, blob, at, len, new) = match what {
        Tamper::Index => {
            let (blob, o, n, mut ix) = member(&layers[0]);
            for e in &mut ix.entries {
                e.mode |= 0o4000;
            }
            let m = member_of_len(&tar_entry("friscy/index", &ix.encode()), n).unwrap();
            (&layers[0], blob, o, n, m)
        }
        Tamper::BashChunk => {
            let indexes: Vec<_> = layers.iter().map(member).collect();
            let first = indexes
                .iter()
                .flat_map(|(_, _, _, ix)| &ix.entries)
                .find_map(|e| match &e.kind {
                    friscy_vfs::image::Kind::File { chunks, .. }
                        if e.path.ends_with(b"bin/bash") && !chunks.is_empty() =>
                    {
                        Some(chunks[0])
                    }
                    _ => None,
                })
                .expect("bash in the image");
            let (n, loc) = indexes
                .iter()
                .enumerate()
                .find_map(|(n, (_, _, _, ix))| {
                    ix.chunks
                        .iter()
                        .find(|c| c.digest == first)
                        .map(|c| (n, *c))
                })
                .expect("the layer that stores it");
            let blob = indexes[n].0.clone();
            let (o, l) = (loc.offset as usize, loc.clen as usize);
            let mut data =
                friscy_vfs::image::member_data(&blob[o..o + l], loc.len as usize).unwrap();
            data[64..72].copy_from_slice(b"TAMPERED");
            // and a stretch of zeros, so that the member comes out no
            // longer than the one it replaces
            let end = data.len().min(12288);
            data[4096.min(end)..end].fill(0);
            let name = format!("friscy/c/{}", loc.digest.hex());
            let m = member_of_len(&tar_entry(&name, &data), l).unwrap();
            (&layers[n], blob, o, l, m)
        }
    };
    let mut blob = blob;
    blob[at..at + len].copy_from_slice(&new);
    std::fs::write(
        dst.join("blobs").join(layer["digest"].as_str().unwrap()),
        blob,
    )
    .unwrap();
}

/// The page checks what it fetches: an index or a chunk that is not what
/// the image's digests say is an error on screen, never a wrong file.
#[test]
fn the_page_refuses_bytes_that_are_not_the_image_s() {
    let tmp = TempDir::new("tamper");
    let site = tmp.path().join("site");
    let image = format!("oci:{}:base", fixture("base").display());
    run_ok(
        Command::new(bin("friscy"))
            .arg("export")
            .arg(&image)
            .arg(&site),
    );
    let index = tmp.path().join("index");
    tampered_copy(&site, &index, Tamper::Index);
    let server = static_server(&index, true);
    session(
        &server.1,
        "browser-tampered-index.png",
        &["--expect-error", "does not match the digest the image pins"],
    );
    let chunk = tmp.path().join("chunk");
    tampered_copy(&site, &chunk, Tamper::BashChunk);
    let server = static_server(&chunk, true);
    let f = session(
        &server.1,
        "browser-tampered-chunk.png",
        &["--expect-terminal", "does not match its digest"],
    );
    assert!(!f["terminal"].as_str().unwrap().contains("TAMPERED"), "{f}");
}

#[test]
fn the_page_loads_a_friscy_image_from_a_registry() {
    let mut svc = Services::new();
    let reg = svc.registry();
    let base = format!("oci:{}:base", fixture("base").display());
    run_ok(Command::new(bin("friscy")).args([
        "convert",
        &base,
        &format!("docker://{reg}/web/base:1"),
    ]));
    // a page whose server has no runtime of its own: the image's is used
    let tmp = TempDir::new("brt");
    let site = tmp.path().join("site");
    run_ok(
        Command::new(bin("friscy"))
            .arg("export")
            .arg(&base)
            .arg(&site),
    );
    for f in ["friscy_web.wasm", "worker.js", "image.json"] {
        std::fs::remove_file(site.join(f)).unwrap();
    }
    std::fs::remove_dir_all(site.join("blobs")).unwrap();
    let server = static_server(&site, true);
    let url = format!("{}?image={reg}/web/base:1", server.1);
    let f = session(&url, "browser-registry.png", &["--quick"]);
    assert_eq!(f["runtime"], "image", "{f}");
    // a missing image is an error a person can act on
    let server = serve(&base);
    let url = format!("{}?image={reg}/web/nope:1", server.1);
    session(
        &url,
        "browser-missing.png",
        &["--expect-error", "not found"],
    );
}
