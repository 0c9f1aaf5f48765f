//! Fuzz body for config mode's front end: arbitrary text through parse, validate and plan,
//! as `--check` runs them (the one-pass `load`, checked against parse then validate). Nothing may panic; an error must render as the one line the
//! tool prints, `f.toml:LINE:COL: ...`, pointing inside the file; a plan must have one item
//! per fd, distinct ids, valid limits, and print as one tab-separated line of five fields
//! per item (so that `--check`'s output can be read back, whatever the ids and paths hold).

use std::collections::HashSet;
use std::time::{Duration, UNIX_EPOCH};

use fdtools::config::diag::Diag;
use fdtools::config::load::load;
use fdtools::config::load::parse::parse_str;
use fdtools::config::load::validate::validate;
use fdtools::config::model::FdSpec;
use fdtools::config::plan::plan;
use fdtools::config::render::write_plan;

/// The name the messages give the file.
const FILE: &str = "f.toml";

/// Checks that an error renders as one located line that points inside `text`.
fn check_message(d: Diag, text: &str) {
    assert!(d.span.start <= text.len(), "{d:?} points past the end");
    let shown = d.locate(FILE, text).to_string();
    assert!(
        !shown.contains(['\n', '\r']),
        "a message of more than one line: {shown:?}"
    );
    let rest = shown.strip_prefix("f.toml:").expect("the file name first");
    let mut parts = rest.splitn(3, ':');
    let line: usize = parts.next().unwrap().parse().expect("a line number");
    let col: usize = parts.next().unwrap().parse().expect("a column number");
    let what = parts.next().expect("a message after the column");
    assert!(line >= 1 && line <= text.lines().count() + 1, "{shown:?}");
    assert!(col >= 1, "{shown:?}");
    assert!(what.len() > 1 && what.starts_with(' '), "{shown:?}");
}

/// Runs one input.
pub fn run(data: &[u8]) {
    // A file that is not UTF-8 is refused before parsing (as a read error).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A fixed clock, so that a finding replays: 2026-01-01T00:00:00Z.
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let two = parse_str(text).and_then(|raw| validate(&raw, now));
    // Every run reads the file with the one-pass `load`: it must give the same config, or
    // the same error, as the two stages.
    let one = load(text, now);
    assert_eq!(format!("{one:?}"), format!("{two:?}"), "{text:?}");
    let config = match one {
        Ok(c) => c,
        Err(d) => return check_message(d, text),
    };
    let p = plan(&config, now);
    let fds: usize = config
        .entries
        .iter()
        .map(|e| match e.spec {
            FdSpec::Pipe { .. } => 2,
            _ => 1,
        })
        .sum();
    assert_eq!(p.items.len(), fds);
    let mut ids = HashSet::new();
    for item in &p.items {
        let id = item.id(&config);
        assert!(ids.insert(id), "the id {id:?} twice");
        let limit = p.limit(&config.entries[item.entry]);
        assert!(limit.is_valid(), "{limit:?}");
        assert!(limit > p.now, "{item:?} expires at once");
    }
    let mut out = Vec::new();
    write_plan(&mut out, &config, &p).unwrap();
    let out = String::from_utf8(out).expect("the plan is UTF-8");
    assert_eq!(out.lines().count(), p.items.len(), "{out:?}");
    for line in out.lines() {
        assert_eq!(line.split('\t').count(), 5, "{line:?}");
    }
}
