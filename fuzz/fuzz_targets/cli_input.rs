#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dd0c_fuzz_targets::cli_input(data));
