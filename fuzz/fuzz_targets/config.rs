//! libFuzzer entry for the `config` target; the body lives in fuzz/bodies/config.rs, shared
//! with the top-level `cargo test` run over the seed corpus (tests/fuzz_corpus.rs).
#![no_main]

#[path = "../bodies/config.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
