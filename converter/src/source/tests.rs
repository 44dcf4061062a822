//! End-to-end tests on small images made in temporary directories.

use std::io::Read;
use std::path::Path;

use serde_json::json;

use super::digest::sha256_of;
use super::media::{
    DOCKER_MANIFEST_LIST, OCI_IMAGE_INDEX, OCI_LAYER_TAR, OCI_LAYER_TAR_GZIP, OCI_LAYER_TAR_ZSTD,
};
use super::testutil::{
    Member, OciLayout, TempDir, archive_of, config_json, gzip, named, tar_of, with_platform,
};
use super::*;

/// Opens `reference` (a string) as an image.
fn open(reference: &str) -> Result<SourceImage, SourceError> {
    open_image(&reference.parse()?)
}

/// Reads a layer's uncompressed stream to its end.
fn read_layer(layer: &Layer) -> Result<Vec<u8>, SourceError> {
    let mut out = Vec::new();
    layer
        .open()?
        .read_to_end(&mut out)
        .map_err(|e| SourceError::from_io(e, "layer stream"))?;
    Ok(out)
}

/// The file names in a tar stream.
fn tar_names(tar: &[u8]) -> Vec<String> {
    tar::Archive::new(tar)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

/// An OCI layout at `dir` with one riscv64 image named `base` of two layers
/// (gzip, plain); returns the layer tars.
fn simple_layout(dir: &Path) -> (OciLayout, Vec<Vec<u8>>) {
    let layout = OciLayout::new(dir.to_owned());
    let lower = tar_of(&[("bin/sh", b"#!shell"), ("etc/os-release", b"ID=test")]);
    let upper = tar_of(&[("app/run", b"run")]);
    let diff_ids = [sha256_of(&lower), sha256_of(&upper)];
    let manifest = layout.image(
        &config_json("riscv64", "/bin/sh", &diff_ids),
        &[
            (OCI_LAYER_TAR_GZIP, gzip(&lower)),
            (OCI_LAYER_TAR, upper.clone()),
        ],
    );
    layout.write_index(vec![named(manifest, "base")]);
    (layout, vec![lower, upper])
}

#[test]
fn oci_image_is_read_and_layers_decompress() {
    let tmp = TempDir::new();
    let (layout, tars) = simple_layout(&tmp.path().join("img"));
    let image = open(&format!("oci:{}:base", layout.dir.display())).unwrap();
    assert_eq!(image.platform, Platform::linux_riscv64());
    image.check_riscv64().unwrap();
    assert_eq!(image.config.cmd, ["/bin/sh"]);
    assert_eq!(image.config.env, ["PATH=/bin", "X=1"]);
    assert_eq!(image.config.working_dir, "/work");
    assert_eq!(image.config.user, "1000");
    assert!(image.config.entrypoint.is_empty());
    assert!(image.config_digest.is_some());
    assert_eq!(image.rootfs, None);
    assert_eq!(image.layers.len(), 2);
    assert_eq!(image.layers[0].media_type, OCI_LAYER_TAR_GZIP);
    for (layer, tar) in image.layers.iter().zip(&tars) {
        assert_eq!(&read_layer(layer).unwrap(), tar);
        layer.verify().unwrap();
    }
    assert_eq!(
        tar_names(&read_layer(&image.layers[0]).unwrap()),
        ["bin/sh", "etc/os-release"]
    );
    // Without a tag, the only image is taken.
    let untagged = open(&format!("oci:{}", layout.dir.display())).unwrap();
    assert_eq!(untagged.layers, image.layers);
}

#[test]
fn oci_tag_selects_the_image() {
    let tmp = TempDir::new();
    let layout = OciLayout::new(tmp.path().join("img"));
    let layer = tar_of(&[("f", b"x")]);
    let a = layout.image(
        &config_json("riscv64", "cmd-a", &[]),
        &[(OCI_LAYER_TAR, layer.clone())],
    );
    let b = layout.image(&config_json("riscv64", "cmd-b", &[]), &[]);
    layout.write_index(vec![named(a, "a"), named(b, "b")]);
    let dir = layout.dir.display();

    assert_eq!(open(&format!("oci:{dir}:a")).unwrap().config.cmd, ["cmd-a"]);
    let b = open(&format!("oci:{dir}:b")).unwrap();
    assert_eq!(b.config.cmd, ["cmd-b"]);
    assert!(b.layers.is_empty());

    let err = open(&format!("oci:{dir}:c")).unwrap_err();
    match &err {
        SourceError::TagNotFound { tag, available, .. } => {
            assert_eq!(tag, "c");
            assert_eq!(available, &["a", "b"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("a, b"), "{err}");

    let err = open(&format!("oci:{dir}")).unwrap_err();
    match &err {
        SourceError::AmbiguousImage { available, .. } => assert_eq!(available, &["a", "b"]),
        other => panic!("{other:?}"),
    }
}

/// An index blob listing per-platform manifests; the riscv64 one (if any)
/// has `Cmd` `riscv`.
fn multi_platform_layout(dir: &Path, platforms: &[(&str, Option<&str>)], index_type: &str) {
    let layout = OciLayout::new(dir.to_owned());
    let manifests: Vec<_> = platforms
        .iter()
        .map(|(arch, variant)| {
            let cmd = if *arch == "riscv64" { "riscv" } else { "other" };
            let desc = layout.image(&config_json(arch, cmd, &[]), &[]);
            with_platform(desc, "linux", arch, *variant)
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": index_type,
        "manifests": manifests,
    });
    let desc = layout.blob(index_type, &serde_json::to_vec(&index).unwrap());
    layout.write_index(vec![named(desc, "multi")]);
}

#[test]
fn index_picks_riscv64() {
    for index_type in [OCI_IMAGE_INDEX, DOCKER_MANIFEST_LIST] {
        let tmp = TempDir::new();
        let dir = tmp.path().join("img");
        multi_platform_layout(
            &dir,
            &[("amd64", None), ("riscv64", None), ("arm64", Some("v8"))],
            index_type,
        );
        let image = open(&format!("oci:{}:multi", dir.display())).unwrap();
        assert_eq!(image.config.cmd, ["riscv"], "{index_type}");
        assert_eq!(image.platform.architecture, "riscv64");
    }
}

#[test]
fn index_without_riscv64_lists_platforms() {
    let tmp = TempDir::new();
    let dir = tmp.path().join("img");
    multi_platform_layout(
        &dir,
        &[("amd64", None), ("arm", Some("v7"))],
        OCI_IMAGE_INDEX,
    );
    let err = open(&format!("oci:{}", dir.display())).unwrap_err();
    match &err {
        SourceError::NoRiscv64Manifest { platforms, .. } => {
            assert_eq!(platforms, &["linux/amd64", "linux/arm/v7"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("linux/arm/v7"), "{err}");
}

#[test]
fn top_level_platform_descriptors_pick_riscv64() {
    // Some tools list per-platform manifests directly in index.json.
    let tmp = TempDir::new();
    let layout = OciLayout::new(tmp.path().join("img"));
    let x86 = layout.image(&config_json("amd64", "other", &[]), &[]);
    let rv = layout.image(&config_json("riscv64", "riscv", &[]), &[]);
    layout.write_index(vec![
        with_platform(x86, "linux", "amd64", None),
        with_platform(rv, "linux", "riscv64", None),
    ]);
    let image = open(&format!("oci:{}", layout.dir.display())).unwrap();
    assert_eq!(image.config.cmd, ["riscv"]);
}

/// Flips the last byte of a file.
fn corrupt(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let last = bytes.last_mut().unwrap();
    *last ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn config_digest_mismatch_is_detected() {
    let tmp = TempDir::new();
    let (layout, _) = simple_layout(&tmp.path().join("img"));
    let reference = format!("oci:{}:base", layout.dir.display());
    let config_digest = open(&reference).unwrap().config_digest.unwrap();
    corrupt(&layout.blob_path(&config_digest));
    let err = open(&reference).unwrap_err();
    match &err {
        SourceError::DigestMismatch { expected, .. } => assert_eq!(expected, &config_digest),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains(&config_digest), "{err}");
}

#[test]
fn manifest_digest_mismatch_is_detected() {
    let tmp = TempDir::new();
    let layout = OciLayout::new(tmp.path().join("img"));
    let manifest = layout.image(&config_json("riscv64", "x", &[]), &[]);
    let digest = manifest["digest"].as_str().unwrap().to_owned();
    layout.write_index(vec![manifest]);
    // Same length, different content: only the digest tells.
    let path = layout.blob_path(&digest);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"layers\"", "\"lAyers\"")).unwrap();
    let err = open(&format!("oci:{}", layout.dir.display())).unwrap_err();
    assert!(
        matches!(&err, SourceError::DigestMismatch { expected, .. } if *expected == digest),
        "{err:?}"
    );
}

#[test]
fn layer_digest_mismatch_surfaces_from_the_stream() {
    let tmp = TempDir::new();
    let (layout, _) = simple_layout(&tmp.path().join("img"));
    let image = open(&format!("oci:{}", layout.dir.display())).unwrap();
    // The plain layer: flip a byte of padding, which a tar reader would not
    // notice.
    let plain = &image.layers[1];
    corrupt(&layout.blob_path(&plain.digest));
    let err = read_layer(plain).unwrap_err();
    match &err {
        SourceError::DigestMismatch { expected, what, .. } => {
            assert_eq!(expected, &plain.digest);
            assert!(what.contains(&plain.digest), "{what}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        plain.verify(),
        Err(SourceError::DigestMismatch { .. })
    ));
    // The gzip layer: flip a byte of the gzip trailer, which decompression
    // notices first; the blob's digest error is reported in its place.
    let gzipped = &image.layers[0];
    corrupt(&layout.blob_path(&gzipped.digest));
    let err = read_layer(gzipped).unwrap_err();
    assert!(
        matches!(&err, SourceError::DigestMismatch { expected, .. } if *expected == gzipped.digest),
        "{err:?}"
    );
}

#[test]
fn io_error_from_stream_carries_source_error() {
    let tmp = TempDir::new();
    let (layout, _) = simple_layout(&tmp.path().join("img"));
    let image = open(&format!("oci:{}", layout.dir.display())).unwrap();
    let plain = &image.layers[1];
    corrupt(&layout.blob_path(&plain.digest));
    let mut stream = plain.open().unwrap();
    let err = std::io::copy(&mut stream, &mut std::io::sink()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains(&plain.digest), "{err}");
    // Reading again keeps failing.
    let mut buf = [0u8; 16];
    assert!(stream.read(&mut buf).is_err());
}

#[test]
fn layer_size_change_is_detected() {
    let tmp = TempDir::new();
    let (layout, tars) = simple_layout(&tmp.path().join("img"));
    let image = open(&format!("oci:{}", layout.dir.display())).unwrap();
    let plain = &image.layers[1];
    let path = layout.blob_path(&plain.digest);
    // Shorter than declared.
    std::fs::write(&path, &tars[1][..tars[1].len() - 512]).unwrap();
    assert!(matches!(
        read_layer(plain),
        Err(SourceError::SizeMismatch { .. })
    ));
    // Longer than declared.
    let mut longer = tars[1].clone();
    longer.extend_from_slice(&[0; 512]);
    std::fs::write(&path, &longer).unwrap();
    assert!(matches!(
        read_layer(plain),
        Err(SourceError::SizeMismatch { .. })
    ));
    // And open_image itself notices the wrong size.
    assert!(matches!(
        open(&format!("oci:{}", layout.dir.display())),
        Err(SourceError::SizeMismatch { .. })
    ));
}

#[test]
fn truncated_gzip_is_an_error() {
    let tmp = TempDir::new();
    let layout = OciLayout::new(tmp.path().join("img"));
    let tar = tar_of(&[("big", &[7u8; 20_000])]);
    let gz = gzip(&tar);
    let truncated = gz[..gz.len() / 2].to_vec();
    // The descriptor matches the truncated blob: only decompression can tell.
    let manifest = layout.image(
        &config_json("riscv64", "x", &[]),
        &[(OCI_LAYER_TAR_GZIP, truncated)],
    );
    layout.write_index(vec![manifest]);
    let image = open(&format!("oci:{}", layout.dir.display())).unwrap();
    let layer = &image.layers[0];
    let err = read_layer(layer).unwrap_err();
    match &err {
        SourceError::Decompress { digest, .. } => assert_eq!(digest, &layer.digest),
        other => panic!("{other:?}"),
    }
}

#[test]
fn gzip_is_detected_by_magic_too() {
    let tmp = TempDir::new();
    let layout = OciLayout::new(tmp.path().join("img"));
    let tar = tar_of(&[("f", b"data")]);
    // Labelled plain, but gzip inside.
    let manifest = layout.image(
        &config_json("riscv64", "x", &[]),
        &[(OCI_LAYER_TAR, gzip(&tar))],
    );
    layout.write_index(vec![manifest]);
    let image = open(&format!("oci:{}", layout.dir.display())).unwrap();
    assert_eq!(read_layer(&image.layers[0]).unwrap(), tar);
}

#[test]
fn zstd_layers_are_refused_clearly() {
    let tmp = TempDir::new();
    let layout = OciLayout::new(tmp.path().join("img"));
    let manifest = layout.image(
        &config_json("riscv64", "x", &[]),
        &[(OCI_LAYER_TAR_ZSTD, vec![0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0])],
    );
    layout.write_index(vec![manifest]);
    let image = open(&format!("oci:{}", layout.dir.display())).unwrap();
    let err = image.layers[0].open().err().unwrap();
    assert!(
        matches!(&err, SourceError::ZstdNotSupported { digest } if *digest == image.layers[0].digest)
    );
    assert!(
        err.to_string()
            .contains("zstd layers are not supported yet")
    );
}

#[test]
fn hostile_digests_are_refused() {
    let tmp = TempDir::new();
    let layout = OciLayout::new(tmp.path().join("img"));
    for digest in [
        "sha256:../../../../etc/passwd".to_owned(),
        format!("sha256:{}", "A".repeat(64)),
        format!("sha512:{}", "a".repeat(128)),
    ] {
        layout.write_index(vec![json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": 10,
        })]);
        let err = open(&format!("oci:{}", layout.dir.display())).unwrap_err();
        assert!(
            matches!(&err, SourceError::InvalidDigest { digest: d, .. } if *d == digest),
            "{err:?}"
        );
    }
}

#[test]
fn missing_blob_is_named() {
    let tmp = TempDir::new();
    let (layout, _) = simple_layout(&tmp.path().join("img"));
    let image = open(&format!("oci:{}", layout.dir.display())).unwrap();
    std::fs::remove_file(layout.blob_path(&image.layers[0].digest)).unwrap();
    let err = open(&format!("oci:{}", layout.dir.display())).unwrap_err();
    assert!(
        matches!(&err, SourceError::BlobMissing { digest, .. } if *digest == image.layers[0].digest),
        "{err:?}"
    );
}

#[test]
fn bad_layouts_are_reported() {
    let tmp = TempDir::new();
    let (layout, _) = simple_layout(&tmp.path().join("img"));
    let reference = format!("oci:{}", layout.dir.display());

    std::fs::write(layout.dir.join("index.json"), b"{\"manifests\": [").unwrap();
    let err = open(&reference).unwrap_err();
    assert!(
        matches!(&err, SourceError::Json { what, .. } if what.ends_with("index.json")),
        "{err:?}"
    );

    std::fs::write(layout.dir.join("oci-layout"), b"{}").unwrap();
    assert!(matches!(
        open(&reference),
        Err(SourceError::NotOciLayout { .. })
    ));
    std::fs::remove_file(layout.dir.join("oci-layout")).unwrap();
    let err = open(&reference).unwrap_err();
    assert!(err.to_string().contains("oci-layout"), "{err}");

    assert!(matches!(
        open(&format!("oci:{}", tmp.path().join("nonexistent").display())),
        Err(SourceError::NotOciLayout { .. })
    ));
}

#[test]
fn path_with_colon() {
    let tmp = TempDir::new();
    let dir = tmp.path().join("a:b").join("img");
    simple_layout(&dir);
    for reference in [
        format!("oci:{}", dir.display()),
        format!("oci:{}:base", dir.display()),
    ] {
        let image = open(&reference).unwrap();
        assert_eq!(image.layers.len(), 2);
        assert_eq!(image.reference, reference);
    }
}

#[test]
fn wrong_platform_explains_how_to_build() {
    let tmp = TempDir::new();
    let layout = OciLayout::new(tmp.path().join("img"));
    let manifest = layout.image(&config_json("amd64", "x", &[]), &[]);
    layout.write_index(vec![manifest]);
    let image = open(&format!("oci:{}", layout.dir.display())).unwrap();
    let err = image.check_riscv64().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("linux/amd64"), "{msg}");
    assert!(
        msg.contains("docker build --platform linux/riscv64"),
        "{msg}"
    );
}

#[test]
fn dir_transport() {
    let tmp = TempDir::new();
    let image = open(&format!("dir:{}", tmp.path().display())).unwrap();
    assert_eq!(image.rootfs.as_deref(), Some(tmp.path()));
    assert!(image.layers.is_empty());
    assert_eq!(image.config, RunConfig::default());
    image.check_riscv64().unwrap();

    let file = tmp.path().join("file");
    std::fs::write(&file, b"").unwrap();
    assert!(matches!(
        open(&format!("dir:{}", file.display())),
        Err(SourceError::NotADirectory { .. })
    ));
    assert!(matches!(
        open(&format!("dir:{}", tmp.path().join("missing").display())),
        Err(SourceError::Io { .. })
    ));
}

/// A legacy `docker save` archive with one image tagged `foo:1`: config
/// `<hex>.json`, layers `aaa/layer.tar` and `bbb/layer.tar`, plus `ccc/layer.tar`
/// a symlink to the first. Returns the archive and the layer tars.
fn legacy_archive() -> (Vec<u8>, Vec<Vec<u8>>) {
    let lower = tar_of(&[("bin/sh", b"shell")]);
    let upper = tar_of(&[("etc/hostname", b"box")]);
    let diff_ids = vec![sha256_of(&lower), sha256_of(&upper), sha256_of(&lower)];
    let config = config_json("riscv64", "/bin/sh", &diff_ids);
    let config_name = format!("{}.json", &sha256_of(&config)["sha256:".len()..]);
    let manifest = serde_json::to_vec(&json!([{
        "Config": config_name,
        "RepoTags": ["foo:1"],
        "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"],
    }]))
    .unwrap();
    let archive = archive_of(&[
        Member::File("aaa/layer.tar", lower.clone()),
        Member::File("bbb/layer.tar", upper.clone()),
        Member::Symlink("ccc/layer.tar", "../aaa/layer.tar"),
        Member::File(&config_name, config),
        Member::File("manifest.json", manifest),
        Member::File("repositories", b"{}".to_vec()),
    ]);
    (archive, vec![lower.clone(), upper, lower])
}

#[test]
fn docker_archive_legacy_layout() {
    let tmp = TempDir::new();
    let (archive, tars) = legacy_archive();
    let file = tmp.path().join("image.tar");
    std::fs::write(&file, archive).unwrap();
    for reference in [
        format!("docker-archive:{}", file.display()),
        format!("docker-archive:{}:foo:1", file.display()),
        format!("docker-archive:{}:docker.io/library/foo:1", file.display()),
        format!("docker-archive:{}:@0", file.display()),
    ] {
        let image = open(&reference).unwrap();
        assert_eq!(image.config.cmd, ["/bin/sh"], "{reference}");
        image.check_riscv64().unwrap();
        assert_eq!(image.layers.len(), 3);
        for (layer, tar) in image.layers.iter().zip(&tars) {
            assert_eq!(layer.digest, sha256_of(tar));
            assert_eq!(layer.media_type, OCI_LAYER_TAR);
            assert_eq!(&read_layer(layer).unwrap(), tar);
        }
    }
    let err = open(&format!("docker-archive:{}:foo:2", file.display())).unwrap_err();
    match &err {
        SourceError::TagNotFound { available, .. } => assert_eq!(available, &["foo:1"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn docker_archive_gzip_layer_and_hard_link() {
    // A legacy-named gzip layer: its digest is not in its name nor a diff_id,
    // so it is computed; a hard link to it is followed.
    let tmp = TempDir::new();
    let tar = tar_of(&[("x", b"y")]);
    let gz = gzip(&tar);
    let config = config_json("riscv64", "c", &[sha256_of(&tar), sha256_of(&tar)]);
    let manifest = serde_json::to_vec(&json!([{
        "Config": "cfg.json",
        "RepoTags": ["a:b"],
        "Layers": ["l1/layer.tar", "./l2//layer.tar"],
    }]))
    .unwrap();
    let file = tmp.path().join("gz.tar");
    std::fs::write(
        &file,
        archive_of(&[
            Member::File("l1/layer.tar", gz.clone()),
            Member::HardLink("l2/layer.tar", "l1/layer.tar"),
            Member::File("cfg.json", config.clone()),
            Member::File("manifest.json", manifest),
        ]),
    )
    .unwrap();
    let image = open(&format!("docker-archive:{}", file.display())).unwrap();
    // No digest in the config's name: computed.
    assert_eq!(image.config_digest, Some(sha256_of(&config)));
    assert_eq!(image.layers.len(), 2);
    for layer in &image.layers {
        assert_eq!(layer.digest, sha256_of(&gz));
        assert_eq!(layer.media_type, OCI_LAYER_TAR_GZIP);
        assert_eq!(read_layer(layer).unwrap(), tar);
    }
}

#[test]
fn docker_archive_config_digest_is_checked() {
    let tmp = TempDir::new();
    let config = config_json("riscv64", "c", &[]);
    let wrong_name = format!("{}.json", "0".repeat(64));
    let manifest = serde_json::to_vec(&json!([
        {"Config": wrong_name, "RepoTags": null, "Layers": []},
    ]))
    .unwrap();
    let file = tmp.path().join("cfg.tar");
    std::fs::write(
        &file,
        archive_of(&[
            Member::File(&wrong_name, config),
            Member::File("manifest.json", manifest),
        ]),
    )
    .unwrap();
    let err = open(&format!("docker-archive:{}", file.display())).unwrap_err();
    assert!(
        matches!(&err, SourceError::DigestMismatch { what, .. } if what.contains(&wrong_name)),
        "{err:?}"
    );
}

#[test]
fn docker_archive_layer_corruption_is_detected() {
    let tmp = TempDir::new();
    let (mut archive, tars) = legacy_archive();
    let file = tmp.path().join("image.tar");
    // Change a byte of the first layer's end-of-archive padding inside the
    // outer archive: the first member's data starts after one 512-byte header.
    let at = 512 + tars[0].len() - 1;
    archive[at] ^= 1;
    std::fs::write(&file, archive).unwrap();
    let image = open(&format!("docker-archive:{}", file.display())).unwrap();
    assert!(matches!(
        read_layer(&image.layers[0]),
        Err(SourceError::DigestMismatch { .. })
    ));
    assert_eq!(read_layer(&image.layers[1]).unwrap(), tars[1]);
}

#[test]
fn docker_archive_oci_style_with_gzip_layer() {
    let tmp = TempDir::new();
    let tar = tar_of(&[("hello", b"world")]);
    let gz = gzip(&tar);
    let config = config_json("riscv64", "hi", &[sha256_of(&tar)]);
    let blob = |bytes: &[u8]| format!("blobs/sha256/{}", &sha256_of(bytes)["sha256:".len()..]);
    let manifest = serde_json::to_vec(&json!([
        {"Config": blob(&config), "RepoTags": ["docker.io/x/y:1"], "Layers": [blob(&gz)]},
        {"Config": blob(&config), "RepoTags": null, "Layers": []},
    ]))
    .unwrap();
    let archive = archive_of(&[
        Member::File("manifest.json", manifest),
        Member::File(&blob(&config), config.clone()),
        Member::File(&blob(&gz), gz.clone()),
    ]);
    let file = tmp.path().join("oci-style.tar");
    std::fs::write(&file, archive).unwrap();

    let image = open(&format!("docker-archive:{}:x/y:1", file.display())).unwrap();
    // skopeo writes fully qualified RepoTags; short ones match them too.
    let long = open(&format!(
        "docker-archive:{}:docker.io/x/y:1",
        file.display()
    ))
    .unwrap();
    assert_eq!(long.layers, image.layers);
    assert_eq!(image.config_digest, Some(sha256_of(&config)));
    assert_eq!(image.layers[0].digest, sha256_of(&gz));
    assert_eq!(image.layers[0].media_type, OCI_LAYER_TAR_GZIP);
    assert_eq!(read_layer(&image.layers[0]).unwrap(), tar);

    let untagged = open(&format!("docker-archive:{}:@1", file.display())).unwrap();
    assert!(untagged.layers.is_empty());

    let err = open(&format!("docker-archive:{}", file.display())).unwrap_err();
    match &err {
        SourceError::AmbiguousImage { available, .. } => {
            assert_eq!(available, &["docker.io/x/y:1", "@1"])
        }
        other => panic!("{other:?}"),
    }
}

/// An archive's `manifest.json` is not content-addressed: a layer member
/// that is self-consistent (named by its own digest) but is not the layer
/// the config lists must still be refused, by its diff id.
#[test]
fn docker_archive_layers_chain_up_to_the_config() {
    let tmp = TempDir::new();
    let tar = tar_of(&[("hello", b"world")]);
    let other = tar_of(&[("hello", b"evil!")]);
    let config = config_json("riscv64", "hi", &[sha256_of(&tar)]);
    let blob = |bytes: &[u8]| format!("blobs/sha256/{}", &sha256_of(bytes)["sha256:".len()..]);
    for layer in [gzip(&other), other.clone()] {
        let manifest = serde_json::to_vec(&json!([
            {"Config": blob(&config), "RepoTags": ["x:1"], "Layers": [blob(&layer)]},
        ]))
        .unwrap();
        let archive = archive_of(&[
            Member::File("manifest.json", manifest),
            Member::File(&blob(&config), config.clone()),
            Member::File(&blob(&layer), layer.clone()),
        ]);
        let file = tmp.path().join("swapped.tar");
        std::fs::write(&file, archive).unwrap();
        let image = open(&format!("docker-archive:{}", file.display())).unwrap();
        assert_eq!(image.layers[0].diff_id, Some(sha256_of(&tar)));
        let err = read_layer(&image.layers[0]).unwrap_err();
        assert!(
            matches!(&err, SourceError::DigestMismatch { what, .. } if what.contains("uncompressed")),
            "{err}"
        );
    }
}

#[test]
fn docker_archive_hostile_paths_are_refused() {
    let tmp = TempDir::new();
    let config = config_json("riscv64", "x", &[]);
    for (layers, links) in [
        (vec!["../../etc/passwd"], vec![]),
        (vec!["/etc/passwd"], vec![]),
        (
            vec!["evil/layer.tar"],
            vec![("evil/layer.tar", "../../etc/passwd")],
        ),
        (
            vec!["evil/layer.tar"],
            vec![("evil/layer.tar", "/etc/passwd")],
        ),
        (vec!["loop/a"], vec![("loop/a", "b"), ("loop/b", "a")]),
    ] {
        let manifest = serde_json::to_vec(&json!([
            {"Config": "config.json", "RepoTags": [], "Layers": layers},
        ]))
        .unwrap();
        let mut members = vec![
            Member::File("manifest.json", manifest),
            Member::File("config.json", config.clone()),
        ];
        members.extend(
            links
                .iter()
                .map(|(name, target)| Member::Symlink(name, target)),
        );
        let file = tmp.path().join("evil.tar");
        std::fs::write(&file, archive_of(&members)).unwrap();
        let err = open(&format!("docker-archive:{}", file.display())).unwrap_err();
        assert!(
            matches!(err, SourceError::HostilePath { .. }),
            "{layers:?}: {err:?}"
        );
    }
}

#[test]
fn docker_archive_broken_inputs_are_errors() {
    let tmp = TempDir::new();
    let file = tmp.path().join("broken.tar");
    let reference = format!("docker-archive:{}", file.display());

    std::fs::write(
        &file,
        archive_of(&[Member::File("manifest.json", b"[{".to_vec())]),
    )
    .unwrap();
    assert!(matches!(open(&reference), Err(SourceError::Json { .. })));

    std::fs::write(&file, archive_of(&[Member::File("other", b"x".to_vec())])).unwrap();
    assert!(matches!(
        open(&reference),
        Err(SourceError::MissingMember { member, .. }) if member == "manifest.json"
    ));

    std::fs::write(&file, gzip(&legacy_archive().0)).unwrap();
    let err = open(&reference).unwrap_err();
    assert!(err.to_string().contains("decompress it first"), "{err}");

    let missing = tmp.path().join("missing.tar");
    assert!(matches!(
        open(&format!("docker-archive:{}", missing.display())),
        Err(SourceError::Io { path, .. }) if path == missing
    ));
}

#[test]
fn truncated_and_garbled_archives_never_panic() {
    let tmp = TempDir::new();
    let (archive, _) = legacy_archive();
    let file = tmp.path().join("cut.tar");
    let reference = format!("docker-archive:{}", file.display());
    for cut in (0..archive.len()).step_by(97) {
        let mut bytes = archive[..cut].to_vec();
        if cut % 2 == 1 {
            // Garble a byte as well.
            bytes[cut / 2] ^= 0x5a;
        }
        std::fs::write(&file, &bytes).unwrap();
        if let Ok(image) = open(&reference) {
            for layer in &image.layers {
                let _ = read_layer(layer);
            }
        }
    }
    // The full archive does open (sanity check that the loop tests something).
    std::fs::write(&file, &archive).unwrap();
    assert!(open(&reference).is_ok());
}
