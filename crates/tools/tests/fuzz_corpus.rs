//! The fuzz targets' bodies (fuzz/bodies/*.rs) run over their committed seed corpora
//! (fuzz/corpus/<target>/, and for config the examples and fixtures), so that `cargo test` keeps every body compiling and every seed
//! passing without cargo-fuzz. The fuzzing itself is fuzz/run.sh.

use std::fs;
use std::path::Path;

#[path = "../../../fuzz/bodies/config.rs"]
mod config;
#[path = "../../../fuzz/bodies/env.rs"]
mod env;
#[path = "../../../fuzz/bodies/frame.rs"]
mod frame;
#[path = "../../../fuzz/bodies/systemd.rs"]
mod systemd;
#[path = "../../../fuzz/bodies/tai64n.rs"]
mod tai64n;

/// Runs `body` on every file of fuzz/corpus/`target` and of the `extra` directories (paths
/// from the repository's root), naming the seed that fails.
fn run_corpus(target: &str, extra: &[&str], body: fn(&[u8])) {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let own = format!("fuzz/corpus/{target}");
    let mut seeds = Vec::new();
    for dir in std::iter::once(own.as_str()).chain(extra.iter().copied()) {
        let dir = root.join(dir);
        let before = seeds.len();
        for e in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = e.unwrap().path();
            if path.is_file() {
                seeds.push(path);
            }
        }
        assert!(seeds.len() > before, "no seeds in {}", dir.display());
    }
    seeds.sort();
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

/// The config target's seeds beyond its own corpus, as fuzz/run.sh gives them.
const CONFIG_SEEDS: &[&str] = &[
    "examples",
    "examples/systemd",
    "crates/tools/tests/fixtures/valid",
    "crates/tools/tests/fixtures/invalid",
];

#[test]
fn env_corpus() {
    run_corpus("env", &[], env::run);
}

#[test]
fn frame_corpus() {
    run_corpus("frame", &[], frame::run);
}

#[test]
fn tai64n_corpus() {
    run_corpus("tai64n", &[], tai64n::run);
}

#[test]
fn config_corpus() {
    run_corpus("config", CONFIG_SEEDS, config::run);
}

#[test]
fn systemd_corpus() {
    run_corpus("systemd", &["examples/systemd"], systemd::run);
}
