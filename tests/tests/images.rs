//! The fixture builder makes real linux/riscv64 OCI images that the standard
//! tools accept.

use friscy_tests::{TempDir, fixture, run_ok, unpack_fixture};
use std::process::Command;

#[test]
fn fixture_is_a_multi_layer_riscv64_image() {
    let dir = fixture("python");
    let reference = format!("oci:{}:python", dir.display());
    let json = run_ok(Command::new("skopeo").args(["inspect", &reference]));
    let info: serde_json::Value = serde_json::from_str(&json).expect("skopeo prints JSON");
    assert_eq!(info["Architecture"], "riscv64", "{json}");
    assert_eq!(info["Os"], "linux", "{json}");
    assert_eq!(info["Layers"].as_array().map(Vec::len), Some(2), "{json}");
}

#[test]
fn fixture_unpacks_with_umoci_and_holds_riscv64_programs() {
    let tmp = TempDir::new("umoci");
    let rootfs = unpack_fixture("base", tmp.path());
    // merged /usr, and a shell where `RUN` expects one
    assert_eq!(
        std::fs::read_link(rootfs.join("bin")).unwrap().to_str(),
        Some("usr/bin")
    );
    assert!(rootfs.join("usr/bin/sh").exists());
    let bash = std::fs::read(rootfs.join("usr/bin/bash")).unwrap();
    assert_eq!(&bash[..4], b"\x7fELF");
    // e_machine 243 is EM_RISCV
    assert_eq!(u16::from_le_bytes([bash[18], bash[19]]), 243);
}

#[test]
fn fixture_builds_are_cached_and_reproducible() {
    let a = fixture("base");
    let b = fixture("base");
    assert_eq!(a, b);
    let index = std::fs::read_to_string(a.join("index.json")).unwrap();
    let again = std::fs::read_to_string(b.join("index.json")).unwrap();
    assert_eq!(index, again);
}

#[test]
fn unknown_fixture_is_a_clear_error() {
    let out = Command::new(friscy_tests::script("fixture"))
        .arg("no-such-fixture")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no fixture named"));
}
