//! `friscy convert` and `friscy inspect`: friscy images are valid OCI
//! images to the standard tools, deterministic, deduplicated, run as their
//! source does, and bad input gets a clear error with nothing half-written.

use friscy_tests::{TempDir, bin, fixture, run, run_ok};
use std::path::Path;
use std::process::Command;

fn friscy() -> Command {
    Command::new(bin("friscy"))
}

fn convert(src: &str, dest: &str) -> String {
    run_ok(friscy().args(["convert", src, dest]))
}

fn manifest_digest(layout: &Path, tag: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .map(|m| m["digest"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no tag {tag} in {}", layout.display()))
}

#[test]
fn friscy_images_are_oci_images_the_tools_accept() {
    let tmp = TempDir::new("conv");
    let src = format!("oci:{}:python", fixture("python").display());
    let out = tmp.path().join("out");
    let said = convert(&src, &format!("oci:{}:py", out.display()));
    // the source's two layers, and the runtime's
    assert!(said.contains("3 layers"), "{said}");
    assert!(said.contains("modules of translated code"), "{said}");
    let reference = format!("oci:{}:py", out.display());

    let json = run_ok(Command::new("skopeo").args(["inspect", &reference]));
    let info: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(info["Architecture"], "riscv64", "{json}");
    assert_eq!(info["Os"], "linux", "{json}");
    assert_eq!(info["Labels"]["dev.friscy.format"], "3", "{json}");
    assert_eq!(info["Layers"].as_array().map(Vec::len), Some(3), "{json}");

    // umoci unpacks it: the friscy data is plain files
    let bundle = tmp.path().join("bundle");
    run_ok(
        Command::new("umoci")
            .arg("unpack")
            .arg("--image")
            .arg(format!("{}:py", out.display()))
            .arg(&bundle),
    );
    assert!(bundle.join("rootfs/friscy/index").is_file());

    // skopeo copies it blob for blob, and the copy runs
    let copy = tmp.path().join("copy");
    run_ok(Command::new("skopeo").args([
        "copy",
        &reference,
        &format!("oci:{}:py", copy.display()),
    ]));
    assert_eq!(manifest_digest(&copy, "py"), manifest_digest(&out, "py"));
    let hello = run_ok(friscy().args([
        "run",
        &format!("oci:{}:py", copy.display()),
        "python3",
        "-c",
        "print(6*7)",
    ]));
    assert_eq!(hello, "42\n");

    let shown = run_ok(friscy().args(["inspect", &reference]));
    assert!(shown.contains("format    friscy 3"), "{shown}");
    assert!(shown.contains("layer 2"), "{shown}");
    assert!(
        shown.contains("runtime   layer 3: friscy_web.wasm"),
        "{shown}"
    );
    assert!(shown.contains("(this friscy's)"), "{shown}");
}

#[test]
fn conversion_is_deterministic_and_shares_base_layers() {
    let tmp = TempDir::new("conv");
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let base = format!("oci:{}:base", fixture("base").display());
    let tools = format!("oci:{}:tools", fixture("tools").display());
    // the same source (its ELF files translated too) gives the same bytes
    convert(&base, &format!("oci:{}:base", a.display()));
    convert(&base, &format!("oci:{}:base", b.display()));
    assert_eq!(manifest_digest(&a, "base"), manifest_digest(&b, "base"));
    // the base image's one layer is the tools image's first layer
    convert(&tools, &format!("oci:{}:t", a.display()));
    let layers = |tag: &str| -> Vec<String> {
        let m = manifest_digest(&a, tag);
        let m: serde_json::Value = serde_json::from_slice(
            &std::fs::read(a.join("blobs/sha256").join(m.trim_start_matches("sha256:"))).unwrap(),
        )
        .unwrap();
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_owned())
            .collect()
    };
    let (base_layers, tool_layers) = (layers("base"), layers("t"));
    // the base's layer, then the runtime's
    assert_eq!(base_layers.len(), 2);
    assert_eq!(tool_layers[0], base_layers[0]);
    // the same runtime layer on any image
    assert_eq!(tool_layers.last(), base_layers.last());
    // both tags live in one layout
    assert_ne!(manifest_digest(&a, "t"), manifest_digest(&a, "base"));
}

#[test]
fn bad_input_gets_clear_errors_and_no_tag() {
    let tmp = TempDir::new("conv");
    let out = tmp.path().join("out");
    // no such image
    let r = run(friscy().args([
        "convert",
        "oci:/nonexistent/layout:x",
        &format!("oci:{}:x", out.display()),
    ]));
    assert_eq!(r.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("/nonexistent/layout"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(!out.join("index.json").exists());

    // a corrupt layer: named by digest, and no tag written
    let broken = tmp.path().join("broken");
    run_ok(
        Command::new("cp")
            .arg("-r")
            .arg(fixture("base"))
            .arg(&broken),
    );
    let blobs = broken.join("blobs/sha256");
    let manifest = manifest_digest(&broken, "base");
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blobs.join(manifest.trim_start_matches("sha256:"))).unwrap(),
    )
    .unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap().to_owned();
    let path = blobs.join(layer.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let r = run(friscy().args([
        "convert",
        &format!("oci:{}:base", broken.display()),
        &format!("oci:{}:x", out.display()),
    ]));
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(125), "{err}");
    assert!(err.contains(&layer), "{err}");
    assert!(!out.join("index.json").exists(), "no tag after a failure");

    // a friscy image is not converted again
    let good = tmp.path().join("good");
    convert(
        &format!("oci:{}:base", fixture("base").display()),
        &format!("oci:{}:b", good.display()),
    );
    let r = run(friscy().args([
        "convert",
        &format!("oci:{}:b", good.display()),
        &format!("oci:{}:c", good.display()),
    ]));
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("friscy image already"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}

/// Re-tars (with Python's tarfile) and recompresses the first layer of the
/// friscy image `tag` in `layout`, updating the config's diff id, the
/// manifest and the tag, as another tool (BuildKit's exporter) would.
const RETAR: &str = r#"
import gzip, hashlib, io, json, os, sys, tarfile
d, tag = sys.argv[1], sys.argv[2]
blobs = os.path.join(d, "blobs", "sha256")
def read(dg): return open(os.path.join(blobs, dg.split(":")[1]), "rb").read()
def write(b):
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(blobs, h), "wb").write(b)
    return "sha256:" + h
index = json.load(open(os.path.join(d, "index.json")))
desc = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag][0]
man = json.loads(read(desc["digest"]))
cfg = json.loads(read(man["config"]["digest"]))
src = tarfile.open(fileobj=io.BytesIO(gzip.decompress(read(man["layers"][0]["digest"]))))
out = io.BytesIO()
dst = tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT)
members = sorted(src.getmembers(), key=lambda m: m.name, reverse=True)
for m in members:
    m.mtime, m.uid, m.gid, m.uname, m.gname = 12345, 1, 1, "x", "x"
    dst.addfile(m, src.extractfile(m) if m.isfile() else None)
dst.close()
raw = out.getvalue()
cfg["rootfs"]["diff_ids"][0] = "sha256:" + hashlib.sha256(raw).hexdigest()
z = gzip.compress(raw, mtime=0)
man["layers"][0]["digest"], man["layers"][0]["size"] = write(z), len(z)
c = json.dumps(cfg).encode()
man["config"]["digest"], man["config"]["size"] = write(c), len(c)
m = json.dumps(man).encode()
desc["digest"], desc["size"] = write(m), len(m)
json.dump(index, open(os.path.join(d, "index.json"), "w"))
"#;

#[test]
fn friscy_layers_written_again_by_another_tar_still_run() {
    let tmp = TempDir::new("conv");
    let out = tmp.path().join("out");
    convert(
        &format!("oci:{}:base", fixture("base").display()),
        &format!("oci:{}:b", out.display()),
    );
    run_ok(
        Command::new("python3")
            .arg("-c")
            .arg(RETAR)
            .arg(&out)
            .arg("b"),
    );
    let r = run(friscy().args([
        "run",
        &format!("oci:{}:b", out.display()),
        "sh",
        "-c",
        "echo $((6*7)); cat /etc/debian_version >/dev/null && echo read",
    ]));
    let (so, se) = (
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr),
    );
    assert_eq!(so, "42\nread\n", "{se}");
    assert!(se.contains("reading it whole"), "{se}");
}
