//! libFuzzer entry for the `systemd` target; the body lives in fuzz/bodies/systemd.rs,
//! shared with the top-level `cargo test` run over the seed corpus (tests/fuzz_corpus.rs).
#![no_main]

#[path = "../bodies/systemd.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
