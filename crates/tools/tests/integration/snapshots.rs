//! Every valid fixture (`tests/fixtures/valid/NAME.toml`) has its `--check` plan text
//! (`NAME.plan`) and its `--json` plan (`NAME.json`) as snapshots beside it, so that an
//! output cannot drift unseen. The plan is made with a fixed clock, so that limits and
//! expiry dates are the same on every run, through the functions `--check` itself calls.
//!
//! When a change of output is meant, rewrite the snapshots and review the diff:
//!
//!     BLESS=1 cargo test -p s6-fdholder-tools --test integration snapshots

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fdtools::config::load::{parse::parse_str, validate::validate};
use fdtools::config::plan::plan;
use fdtools::config::reconcile::Report;
use fdtools::config::render::{to_json, write_plan};

/// The clock every snapshot is made with: 2026-01-01T00:00:00Z.
const NOW: Duration = Duration::from_secs(1_767_225_600);

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

/// The plan text and the JSON plan of one fixture, as `--check` without a daemon prints them.
fn outputs(text: &str, now: SystemTime) -> (String, String) {
    let raw = parse_str(text).unwrap_or_else(|d| panic!("{d:?}"));
    let config = validate(&raw, now).unwrap_or_else(|d| panic!("{d:?}"));
    let p = plan(&config, now);
    let mut out = Vec::new();
    write_plan(&mut out, &config, &p).unwrap();
    let mut report = Report::new(&config, &p, None, None);
    report.decide(&p, false, false);
    (
        String::from_utf8(out).unwrap(),
        to_json(&mut report, &config, &p).unwrap(),
    )
}

/// Compares `got` with the snapshot at `path`, or rewrites it under `BLESS=1`. Returns a
/// description of the mismatch, if any.
fn check(path: &Path, got: &str) -> Option<String> {
    if std::env::var_os("BLESS").is_some() {
        fs::write(path, got).unwrap();
        return None;
    }
    match fs::read_to_string(path) {
        Ok(want) if want == got => None,
        Ok(want) => Some(format!(
            "{} differs:\n--- snapshot\n{want}\n--- now\n{got}",
            path.display()
        )),
        Err(e) => Some(format!("{}: {e} (BLESS=1 writes it)", path.display())),
    }
}

#[test]
fn every_valid_fixture_matches_its_snapshots() {
    let now = UNIX_EPOCH + NOW;
    let all = fixtures();
    assert!(all.len() >= 4, "{all:?}");
    let mut failed = Vec::new();
    for toml in &all {
        let (plan_text, json) = outputs(&fs::read_to_string(toml).unwrap(), now);
        failed.extend(check(&toml.with_extension("plan"), &plan_text));
        failed.extend(check(&toml.with_extension("json"), &json));
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[test]
fn a_changed_output_fails_the_check() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.plan");
    fs::write(&path, "a\tb\n").unwrap();
    if std::env::var_os("BLESS").is_none() {
        assert!(check(&path, "a\tb\n").is_none());
        assert!(check(&path, "a\tc\n").is_some());
        assert!(check(&tmp.path().join("missing.plan"), "").is_some());
    }
}

#[test]
fn the_snapshots_do_not_depend_on_the_clock_beyond_now() {
    // Made an hour later, every limit moves by an hour and nothing else changes: the
    // snapshots hold what the file means, not when the test ran.
    let toml = &fixtures()[0];
    let text = fs::read_to_string(toml).unwrap();
    let (a, _) = outputs(&text, UNIX_EPOCH + NOW);
    let (b, _) = outputs(&text, UNIX_EPOCH + NOW + Duration::from_secs(3600));
    assert_eq!(a.lines().count(), b.lines().count());
    for (x, y) in a.lines().zip(b.lines()) {
        let (fx, fy): (Vec<&str>, Vec<&str>) = (x.split('\t').collect(), y.split('\t').collect());
        assert_eq!(fx[..3], fy[..3], "id, kind and address stay");
    }
}
