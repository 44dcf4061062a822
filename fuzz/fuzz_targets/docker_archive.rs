#![no_main]
// the target: friscy_tests::fuzz::docker_archive
libfuzzer_sys::fuzz_target!(|data: &[u8]| friscy_tests::fuzz::docker_archive(data));
