#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tests::fuzz::tables::arp_cache(data));
