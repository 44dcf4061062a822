#![no_main]
// the target: friscy_tests::fuzz::http_request
libfuzzer_sys::fuzz_target!(|data: &[u8]| friscy_tests::fuzz::http_request(data));
