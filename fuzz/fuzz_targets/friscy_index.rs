#![no_main]
// the target: friscy_tests::fuzz::friscy_index
libfuzzer_sys::fuzz_target!(|data: &[u8]| friscy_tests::fuzz::friscy_index(data));
