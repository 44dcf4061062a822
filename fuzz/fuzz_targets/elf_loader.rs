#![no_main]
// the target: friscy_tests::fuzz::elf_loader
libfuzzer_sys::fuzz_target!(|data: &[u8]| friscy_tests::fuzz::elf_loader(data));
