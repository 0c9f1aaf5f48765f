//! libFuzzer entry for the `tai64n` target; the body lives in fuzz/bodies/tai64n.rs, shared with
//! the top-level `cargo test` run over the seed corpus (tests/fuzz_corpus.rs).
#![no_main]

#[path = "../bodies/tai64n.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
