//! The fuzz targets' bodies (fuzz/bodies/*.rs) run over their committed seed corpora
//! (fuzz/corpus/<target>/), so that `cargo test` keeps every body compiling and every seed
//! passing without cargo-fuzz. The fuzzing itself is fuzz/run.sh.

use std::fs;
use std::path::Path;

#[path = "../fuzz/bodies/config.rs"]
mod config;
#[path = "../fuzz/bodies/env.rs"]
mod env;
#[path = "../fuzz/bodies/frame.rs"]
mod frame;
#[path = "../fuzz/bodies/tai64n.rs"]
mod tai64n;

/// Runs `body` on every file of fuzz/corpus/`target`, naming the seed that fails.
fn run_corpus(target: &str, body: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    let failed: Vec<String> = seeds
        .iter()
        .filter(|seed| {
            let data = fs::read(seed).unwrap();
            std::panic::catch_unwind(|| body(&data)).is_err()
        })
        .map(|seed| seed.display().to_string())
        .collect();
    assert!(failed.is_empty(), "fuzz body {target} fails on {failed:?}");
}

#[test]
fn env_corpus() {
    run_corpus("env", env::run);
}

#[test]
fn frame_corpus() {
    run_corpus("frame", frame::run);
}

#[test]
fn tai64n_corpus() {
    run_corpus("tai64n", tai64n::run);
}

#[test]
fn config_corpus() {
    run_corpus("config", config::run);
}
