//! Hostile registries: a stand-in on loopback (`friscy_tests::standin`)
//! serves crafted manifests, configs, indexes and blobs — names that are
//! not digests, bytes that are not what their digests say, huge sizes,
//! truncated, slow and endless bodies, redirects and auth challenges that
//! point at another host — and `friscy run`, `convert`, `inspect`, `serve`
//! and `export` must each stop with an error naming the problem (exit
//! status 125, never a crash), touch no file outside their destination,
//! send no credentials to another host and stay within bounded memory
//! (every command runs under `ulimit -v`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use friscy_tests::standin::{Route, Send, StandIn, digest_of};
use friscy_tests::{TempDir, bin, fixture, member_of_len, output_text, run, run_ok, tar_entry};
use serde_json::{Value, json};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCTETS: &str = "application/octet-stream";
/// Address space each command may use: a hostile size that reached an
/// allocation would fail it (and the test) instead of the machine.
const ADDRESS_SPACE_KB: u64 = 4 << 20;

/// `friscy ARGS` with its own cache and Docker config under `home`,
/// bounded address space, and a short registry patience.
fn friscy(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(format!("ulimit -v {ADDRESS_SPACE_KB}; exec \"$@\""))
        .arg("friscy")
        .arg(bin("friscy"))
        .args(args)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("FRISCY_REGISTRY_TIMEOUT", "3");
    cmd
}

/// The command failed as friscy fails (125) with `needle` in its message.
#[track_caller]
fn refused(out: &Output, needle: &str) {
    let (stdout, stderr) = output_text(out);
    assert_eq!(
        out.status.code(),
        Some(125),
        "want friscy's error exit, got {:?}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    assert!(
        stderr.contains(needle),
        "want {needle:?} in the message:\n{stderr}"
    );
    for crash in ["panicked", "memory allocation", "overflow"] {
        assert!(!stderr.contains(crash), "{stderr}");
    }
}

/// The base fixture converted into a friscy image in an OCI layout.
fn friscy_layout(tmp: &Path) -> PathBuf {
    let out = tmp.join("friscy");
    run_ok(Command::new(bin("friscy")).args([
        "convert",
        &format!("oci:{}:base", fixture("base").display()),
        &format!("oci:{}:v1", out.display()),
    ]));
    out
}

fn blob_of(layout: &Path, digest: &str) -> Vec<u8> {
    std::fs::read(
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .expect("blob in the layout")
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// `what` in the stand-in's repository `repo`: `docker://HOST/repo:v1`.
fn image(reg: &StandIn, repo: &str) -> String {
    format!("docker://{}/{repo}:v1", reg.host())
}

/// Serves `manifest` with `config` in `repo` (the layers as `good` has
/// them, under the same digests).
fn variant(
    reg: &StandIn,
    layout: &Path,
    good: &Value,
    repo: &str,
    manifest: &Value,
    config: &[u8],
) {
    reg.blob(
        repo,
        manifest["config"]["digest"].as_str().unwrap_or_default(),
        config.to_vec(),
    );
    for l in good["layers"].as_array().unwrap() {
        let d = l["digest"].as_str().unwrap();
        reg.blob(repo, d, blob_of(layout, d));
    }
    reg.manifest(repo, "v1", &bytes(manifest), OCI_MANIFEST);
}

/// A manifest naming a new config (made by `edit` from the good one).
fn with_config(good: &Value, layout: &Path, edit: impl FnOnce(&mut Value)) -> (Value, Vec<u8>) {
    let cfg_digest = good["config"]["digest"].as_str().unwrap();
    let mut cfg: Value = serde_json::from_slice(&blob_of(layout, cfg_digest)).unwrap();
    edit(&mut cfg);
    let cfg = bytes(&cfg);
    let mut m = good.clone();
    m["config"]["digest"] = digest_of(&cfg).into();
    m["config"]["size"] = cfg.len().into();
    (m, cfg)
}

/// The friscy layers' label of a config: [{digest, index, index_digest}].
fn layer_infos(cfg: &Value) -> Vec<Value> {
    let raw = cfg["config"]["Labels"]["dev.friscy.layers"]
        .as_str()
        .unwrap();
    serde_json::from_str(raw).unwrap()
}

#[test]
fn names_that_are_not_digests_never_become_paths_or_urls() {
    let tmp = TempDir::new("hnames");
    let home = tmp.path();
    let layout = friscy_layout(home);
    let reg = StandIn::start("127.0.0.1");
    let good = reg.layout("good", &layout, "v1");
    // the good image runs from the stand-in: what follows fails for the
    // reasons it names, not for want of a working registry
    let out = run(&mut friscy(home, &["run", &image(&reg, "good"), "true"]));
    assert!(out.status.success(), "{:?}", output_text(&out));

    let cfg_digest = good["config"]["digest"].as_str().unwrap();
    let cfg = blob_of(&layout, cfg_digest);
    let mut trav = good.clone();
    trav["layers"][0]["digest"] = "../../escaped".into();
    variant(&reg, &layout, &good, "trav", &trav, &cfg);
    let mut trav_cfg = good.clone();
    trav_cfg["config"]["digest"] = "sha256:../../../../escaped".into();
    variant(&reg, &layout, &good, "travcfg", &trav_cfg, &cfg);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": "v1",
            "size": 1,
            "platform": {"os": "linux", "architecture": "riscv64"},
        }],
    });
    reg.manifest("child", "v1", &bytes(&index), OCI_INDEX);

    let site = home.join("out/site");
    let before: Vec<_> = std::fs::read_dir(home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    for repo in ["trav", "travcfg", "child"] {
        let r = image(&reg, repo);
        for args in [
            vec!["export", &r, site.to_str().unwrap()],
            vec!["run", &r, "true"],
            vec!["convert", &r, &format!("oci:{}/out/conv:x", home.display())],
            vec!["inspect", &r],
            vec!["serve", "--port", "0", &r],
        ] {
            refused(&run(&mut friscy(home, &args)), "digest");
        }
    }
    let after: Vec<_> = std::fs::read_dir(home)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let mut new: Vec<_> = after.iter().filter(|n| !before.contains(n)).collect();
    new.retain(|n| !["out", "cache", "docker"].iter().any(|ours| *n == *ours));
    assert!(
        new.is_empty(),
        "files appeared beside the destination: {new:?}"
    );
    assert!(!home.join("escaped").exists() && !home.parent().unwrap().join("escaped").exists());
    for s in reg.seen() {
        assert!(!s.path.contains(".."), "a name reached a URL: {}", s.path);
    }
    // references that would end up in URLs or on docker's command line
    for bad in [
        format!("docker://{}/a:t?x=1", reg.host()),
        format!("docker://{}/a#frag", reg.host()),
        format!("docker://{}/../v2/x", reg.host()),
        "docker-daemon:-x".to_owned(),
    ] {
        refused(&run(&mut friscy(home, &["run", &bad, "true"])), "reference");
    }
}

#[test]
fn bytes_are_checked_against_the_digests_that_name_them() {
    let tmp = TempDir::new("hbytes");
    let home = tmp.path();
    let layout = friscy_layout(home);
    let reg = StandIn::start("127.0.0.1");
    let good = reg.layout("good", &layout, "v1");
    let cfg_digest = good["config"]["digest"].as_str().unwrap().to_owned();
    let cfg_bytes = blob_of(&layout, &cfg_digest);
    let cfg: Value = serde_json::from_slice(&cfg_bytes).unwrap();

    // a config other than the one the manifest names
    let mut other: Value = cfg.clone();
    other["config"]["Cmd"] = json!(["/bin/evil"]);
    variant(&reg, &layout, &good, "badcfg", &good, &bytes(&other));
    refused(
        &run(&mut friscy(home, &["run", &image(&reg, "badcfg"), "true"])),
        &cfg_digest,
    );

    // a layer's index replaced in place by another valid index (the same
    // tree with a setuid shell), the blob otherwise intact
    let infos = layer_infos(&cfg);
    let last = infos.len() - 1;
    let layer_digest = infos[last]["digest"].as_str().unwrap();
    let [off, len] = [
        infos[last]["index"][0].as_u64().unwrap() as usize,
        infos[last]["index"][1].as_u64().unwrap() as usize,
    ];
    let blob = blob_of(&layout, layer_digest);
    let mut ix = friscy_vfs::image::read_index(&blob[off..off + len]).unwrap();
    for e in &mut ix.entries {
        e.mode |= 0o4000;
    }
    let member = member_of_len(&tar_entry("friscy/index", &ix.encode()), len)
        .expect("an index member of the same length");
    let mut swapped = blob.clone();
    swapped[off..off + len].copy_from_slice(&member);
    reg.blob("badindex", layer_digest, swapped);
    for l in good["layers"].as_array().unwrap() {
        let d = l["digest"].as_str().unwrap();
        if d != layer_digest {
            reg.blob("badindex", d, blob_of(&layout, d));
        }
    }
    reg.blob("badindex", &cfg_digest, cfg_bytes.clone());
    reg.manifest("badindex", "v1", &bytes(&good), OCI_MANIFEST);
    refused(
        &run(&mut friscy(
            home,
            &["run", &image(&reg, "badindex"), "true"],
        )),
        infos[last]["index_digest"].as_str().unwrap(),
    );

    // a file's chunk replaced in place by other bytes of the same length:
    // the program gets an I/O error and the user a message, never the
    // wrong bytes
    let (path, loc, layer) = infos
        .iter()
        .enumerate()
        .find_map(|(n, info)| {
            let d = info["digest"].as_str().unwrap();
            let [o, l] = [
                info["index"][0].as_u64().unwrap() as usize,
                info["index"][1].as_u64().unwrap() as usize,
            ];
            let b = blob_of(&layout, d);
            let ix = friscy_vfs::image::read_index(&b[o..o + l]).unwrap();
            ix.entries.iter().find_map(|e| match &e.kind {
                friscy_vfs::image::Kind::File { size, chunks }
                    if chunks.len() == 1 && (200..4000).contains(size) =>
                {
                    let loc = ix.chunks.iter().find(|c| c.digest == chunks[0])?;
                    Some((String::from_utf8_lossy(&e.path).into_owned(), *loc, n))
                }
                _ => None,
            })
        })
        .expect("a small file stored in its own layer");
    let d = infos[layer]["digest"].as_str().unwrap();
    let blob = blob_of(&layout, d);
    let (o, l) = (loc.offset as usize, loc.clen as usize);
    let data = friscy_vfs::image::member_data(&blob[o..o + l], loc.len as usize).unwrap();
    let mut evil = data.clone();
    evil[..8].copy_from_slice(b"TAMPERED");
    let name = format!("friscy/c/{}", loc.digest.hex());
    let member = member_of_len(&tar_entry(&name, &evil), l).expect("a member of the same length");
    let mut swapped = blob.clone();
    swapped[o..o + l].copy_from_slice(&member);
    for g in good["layers"].as_array().unwrap() {
        let gd = g["digest"].as_str().unwrap();
        let b = if gd == d {
            swapped.clone()
        } else {
            blob_of(&layout, gd)
        };
        reg.blob("badchunk", gd, b);
    }
    reg.blob("badchunk", &cfg_digest, cfg_bytes.clone());
    reg.manifest("badchunk", "v1", &bytes(&good), OCI_MANIFEST);
    let out = run(&mut friscy(
        home,
        &["run", &image(&reg, "badchunk"), "cat", &format!("/{path}")],
    ));
    let (stdout, stderr) = output_text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(!stdout.contains("TAMPERED"), "the wrong bytes were used");
    assert!(stderr.contains("does not match its digest"), "{stderr}");

    // a source (not friscy) image whose layer is not its digest's
    let src = fixture("base");
    let src_reg = StandIn::start("127.0.0.1");
    let m = src_reg.layout("src", &src, "base");
    let first = m["layers"][0]["digest"].as_str().unwrap();
    let mut b = blob_of(&src, first);
    let mid = b.len() / 2;
    b[mid] ^= 1;
    src_reg.blob("src", first, b);
    refused(
        &run(&mut friscy(
            home,
            &[
                "convert",
                &format!("docker://{}/src:base", src_reg.host()),
                &format!("oci:{}/out/c:x", home.display()),
            ],
        )),
        first,
    );
    assert!(
        !home.join("out/c/index.json").exists(),
        "a failed conversion left a tag"
    );
}

#[test]
fn sizes_from_a_registry_are_bounded() {
    let tmp = TempDir::new("hsizes");
    let home = tmp.path();
    let layout = friscy_layout(home);
    let reg = StandIn::start("127.0.0.1");
    let good = reg.layout("good", &layout, "v1");

    // an index said to take a terabyte
    let (m, cfg) = with_config(&good, &layout, |cfg| {
        let mut infos = layer_infos(cfg);
        infos[0]["index"] = json!([0, 1u64 << 40]);
        cfg["config"]["Labels"]["dev.friscy.layers"] =
            serde_json::to_string(&infos).unwrap().into();
    });
    variant(&reg, &layout, &good, "hugeindex", &m, &cfg);
    refused(
        &run(&mut friscy(
            home,
            &["run", &image(&reg, "hugeindex"), "true"],
        )),
        "more than an index can",
    );

    // a manifest of 20 MiB
    let mut huge = bytes(&good);
    huge.extend(std::iter::repeat_n(b' ', 20 << 20));
    reg.route(
        "GET",
        "/v2/hugemanifest/manifests/v1",
        Route::ok(huge, OCI_MANIFEST),
    );
    refused(
        &run(&mut friscy(
            home,
            &["inspect", &image(&reg, "hugemanifest")],
        )),
        "16 MiB",
    );

    // a config that never ends
    let cfg_digest = good["config"]["digest"].as_str().unwrap();
    reg.route(
        "GET",
        &format!("/v2/endless/blobs/{cfg_digest}"),
        Route::ok(b"{\"a\":".to_vec(), OCTETS).sent(Send::Endless),
    );
    reg.manifest("endless", "v1", &bytes(&good), OCI_MANIFEST);
    refused(
        &run(&mut friscy(home, &["run", &image(&reg, "endless"), "true"])),
        cfg_digest,
    );

    // a source layer longer than its descriptor says, without end
    let src = fixture("base");
    let m = reg.layout("src", &src, "base");
    let first = m["layers"][0]["digest"].as_str().unwrap();
    let mut lie = m.clone();
    lie["layers"][0]["size"] = 1000.into();
    reg.manifest("src", "lie", &bytes(&lie), OCI_MANIFEST);
    reg.route(
        "GET",
        &format!("/v2/src/blobs/{first}"),
        Route::ok(blob_of(&src, first), OCTETS).sent(Send::Endless),
    );
    refused(
        &run(&mut friscy(
            home,
            &[
                "convert",
                &format!("docker://{}/src:lie", reg.host()),
                &format!("oci:{}/out/c:x", home.display()),
            ],
        )),
        "1000 bytes were expected",
    );

    // a layer of a gigabyte of one byte, a megabyte or so compressed:
    // refused under the memory limit, in bounded memory
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut h = tar::Header::new_ustar();
    h.set_path("bomb").unwrap();
    h.set_size(1 << 30);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    gz.write_all(h.as_bytes()).unwrap();
    let piece = vec![b'a'; 1 << 20];
    for _ in 0..1024 {
        gz.write_all(&piece).unwrap();
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    let layer = gz.finish().unwrap();
    let mut plain = flate2::read::GzDecoder::new(&layer[..]);
    let mut hash = sha2::Sha256::default();
    std::io::copy(&mut plain, &mut hash).unwrap();
    let diff_id = format!(
        "sha256:{}",
        sha2::Digest::finalize(hash)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let cfg = bytes(&json!({
        "architecture": "riscv64",
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }));
    let bomb = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(&cfg), "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest_of(&layer), "size": layer.len()}],
    });
    reg.blob("bomb", &digest_of(&cfg), cfg.clone());
    reg.blob("bomb", &digest_of(&layer), layer);
    reg.manifest("bomb", "v1", &bytes(&bomb), OCI_MANIFEST);
    refused(
        &run(&mut friscy(
            home,
            &["run", "-m", "256m", &image(&reg, "bomb"), "true"],
        )),
        "memory than the limit of 256 MiB",
    );
}

#[test]
fn truncated_and_slow_bodies_fail_clearly() {
    let tmp = TempDir::new("hslow");
    let home = tmp.path();
    let src = fixture("base");
    let reg = StandIn::start("127.0.0.1");
    let m = reg.layout("src", &src, "base");
    let first = m["layers"][0]["digest"].as_str().unwrap();
    let b = blob_of(&src, first);
    let half = b.len() / 2;
    reg.route(
        "GET",
        &format!("/v2/src/blobs/{first}"),
        Route::ok(b, OCTETS).sent(Send::Truncated(half)),
    );
    let out = run(&mut friscy(
        home,
        &[
            "convert",
            &format!("docker://{}/src:base", reg.host()),
            &format!("oci:{}/out/c:x", home.display()),
        ],
    ));
    refused(&out, first);

    reg.route(
        "GET",
        "/v2/slow/manifests/v1",
        Route::ok(bytes(&m), OCI_MANIFEST).sent(Send::Slow(Duration::from_millis(300))),
    );
    let t = Instant::now();
    let out = run(&mut friscy(home, &["inspect", &image(&reg, "slow")]));
    refused(&out, "too slow");
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
}

#[test]
fn credentials_go_only_to_the_registry_they_are_for() {
    use base64_like::encode;
    let tmp = TempDir::new("hcreds");
    let home = tmp.path();
    let layout = friscy_layout(home);
    let other = StandIn::start("127.0.0.2");
    let basic = format!("Basic {}", encode(b"ann:s3cret"));

    // a registry that wants a password, and sends blob reads elsewhere
    let reg = StandIn::start("127.0.0.1");
    reg.require_auth(&basic, "Basic realm=\"stand-in\"");
    let good = reg.layout("app", &layout, "v1");
    for l in good["layers"].as_array().unwrap() {
        let d = l["digest"].as_str().unwrap();
        let path = format!("/cdn/{d}");
        reg.route(
            "GET",
            &format!("/v2/app/blobs/{d}"),
            Route::redirect(&format!("http://{}{path}", other.host())),
        );
        other.route("GET", &path, Route::ok(blob_of(&layout, d), OCTETS));
    }
    // a registry whose token server is another host, over plain HTTP
    let tokened = StandIn::start("127.0.0.1");
    tokened.require_auth(
        "Bearer tok",
        &format!(
            "Bearer realm=\"http://{}/token\",service=\"stand-in\"",
            other.host()
        ),
    );
    tokened.layout("app", &layout, "v1");
    other.route(
        "GET",
        "/token",
        Route::ok(br#"{"token":"tok"}"#.to_vec(), "application/json"),
    );
    // a local registry with its token server on its own host: the
    // password may go there (so the rule is not "never")
    let local = StandIn::start("127.0.0.1");
    local.require_auth(
        "Bearer tok2",
        &format!(
            "Bearer realm=\"http://{}/token\",service=\"stand-in\"",
            local.host()
        ),
    );
    local.layout("app", &layout, "v1");
    local.route(
        "GET",
        "/token",
        Route::ok(br#"{"token":"tok2"}"#.to_vec(), "application/json"),
    );

    let auth = encode(b"ann:s3cret");
    let config = json!({"auths": {
        reg.host(): {"auth": auth},
        tokened.host(): {"auth": auth},
        local.host(): {"auth": auth},
    }});
    std::fs::create_dir_all(home.join("docker")).unwrap();
    std::fs::write(home.join("docker/config.json"), bytes(&config)).unwrap();

    for r in [&reg, &tokened, &local] {
        let out = run(&mut friscy(home, &["run", &image(r, "app"), "true"]));
        assert!(
            out.status.success(),
            "{}: {:?}",
            r.host(),
            output_text(&out)
        );
    }
    let token_asks: Vec<_> = local
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/token"))
        .collect();
    assert!(!token_asks.is_empty());
    assert!(
        token_asks
            .iter()
            .all(|s| s.header("Authorization") == Some(basic.as_str()))
    );

    // a push whose upload location is another host
    reg.route(
        "POST",
        "/v2/pushed/blobs/uploads/",
        Route {
            status: 202,
            headers: vec![(
                "Location".into(),
                format!("http://{}/upload/1", other.host()),
            )],
            body: Vec::new(),
            send: Send::Whole,
        },
    );
    other.route(
        "PUT",
        "/upload/1",
        Route {
            status: 201,
            headers: vec![],
            body: vec![],
            send: Send::Whole,
        },
    );
    reg.route(
        "PUT",
        "/v2/pushed/manifests/v1",
        Route {
            status: 201,
            headers: vec![],
            body: vec![],
            send: Send::Whole,
        },
    );
    let out = run(&mut friscy(
        home,
        &[
            "push",
            &format!("oci:{}:v1", layout.display()),
            &format!("docker://{}/pushed:v1", reg.host()),
        ],
    ));
    assert!(out.status.success(), "{:?}", output_text(&out));
    let manifest_put = reg
        .seen()
        .into_iter()
        .find(|s| s.method == "PUT" && s.path == "/v2/pushed/manifests/v1");
    assert_eq!(
        manifest_put.and_then(|s| s.header("Authorization").map(str::to_owned)),
        Some(basic.clone())
    );

    let elsewhere = other.seen();
    assert!(
        elsewhere.iter().any(|s| s.path.starts_with("/cdn/")),
        "the redirect was followed"
    );
    assert!(
        elsewhere.iter().any(|s| s.path.starts_with("/token")),
        "the token server was asked"
    );
    assert!(
        elsewhere.iter().any(|s| s.path.starts_with("/upload/")),
        "the upload went there"
    );
    for s in &elsewhere {
        assert_eq!(
            s.header("Authorization"),
            None,
            "credentials reached another host: {} {}",
            s.method,
            s.path
        );
    }
}

/// Base64 for the test's Docker config (the tests crate has no base64).
mod base64_like {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(data: &[u8]) -> String {
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}
