//! Coverage-guided fuzzing of the config loader on arbitrary text; the checks live in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xvc_agent_fuzz::config(data));
