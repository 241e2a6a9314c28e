//! Coverage-guided fuzzing of the XVC command decoder over arbitrary chunked streams; the checks live in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xvc_agent_fuzz::xvc_codec(data));
