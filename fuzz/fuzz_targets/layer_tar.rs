#![no_main]
// the target: friscy_tests::fuzz::layer_tar
libfuzzer_sys::fuzz_target!(|data: &[u8]| friscy_tests::fuzz::layer_tar(data));
