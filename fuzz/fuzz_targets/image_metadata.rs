#![no_main]
// the target: friscy_tests::fuzz::image_metadata
libfuzzer_sys::fuzz_target!(|data: &[u8]| friscy_tests::fuzz::image_metadata(data));
