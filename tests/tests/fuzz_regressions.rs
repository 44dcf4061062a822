//! The fuzz targets (`friscy_tests::fuzz`) on stable Rust, in CI: every
//! seed in `fuzz/corpus/TARGET` and every input a fuzzer ever found in
//! `fuzz/regressions/TARGET` is run through its target and must pass.
//! `cargo test --test fuzz_regressions -- --ignored write_seeds` writes
//! the seeds again.

use std::path::PathBuf;

use friscy_tests::fuzz::{TARGETS, seeds};
use friscy_tests::workspace_root;

fn dir(kind: &str, target: &str) -> PathBuf {
    workspace_root().join("fuzz").join(kind).join(target)
}

#[test]
fn every_seed_and_every_input_fuzzers_found_still_passes() {
    let mut ran = 0;
    for (name, target) in TARGETS {
        let mut files = Vec::new();
        for kind in ["corpus", "regressions"] {
            if let Ok(entries) = std::fs::read_dir(dir(kind, name)) {
                files.extend(entries.flatten().map(|e| e.path()));
            }
        }
        assert!(
            files.iter().any(|f| f.starts_with(dir("corpus", name))),
            "{name} has no seeds in fuzz/corpus/{name}"
        );
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            println!("{name}: {}", f.display());
            target(&data);
            ran += 1;
        }
    }
    println!("{ran} inputs");
}

#[test]
#[ignore = "writes fuzz/corpus: run by hand when the seeds change"]
fn write_seeds() {
    for (name, _) in TARGETS {
        let d = dir("corpus", name);
        std::fs::create_dir_all(&d).unwrap();
        for (i, s) in seeds(name).iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i}")), s).unwrap();
        }
    }
}
