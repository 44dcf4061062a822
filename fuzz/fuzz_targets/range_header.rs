#![no_main]
// the target: friscy_tests::fuzz::range_header
libfuzzer_sys::fuzz_target!(|data: &[u8]| friscy_tests::fuzz::range_header(data));
