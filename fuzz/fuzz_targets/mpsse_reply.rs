//! Coverage-guided fuzzing of the MPSSE reply decoder with arbitrary replies and plans from arbitrary shifts; the checks live in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| xvc_agent_fuzz::mpsse_reply(data));
