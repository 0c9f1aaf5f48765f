//! Fuzz body for `--from-systemd`'s front end: arbitrary text through the unit parser and
//! the conversion. Nothing may panic; every warning is one line pointing at a line of the
//! unit; TOML that comes out parses as a config file (what the conversion writes, config
//! mode must read).

use fdtools::config::load::parse::parse_str;
use fdtools::systemd::{convert::convert, unit::parse};

/// Runs one input.
pub fn run(data: &[u8]) {
    // A unit that is not UTF-8 is refused before parsing (`UnitError::NotUtf8`).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let unit = parse(text);
    let Ok(done) = convert(&unit, "fuzz.socket") else {
        return;
    };
    let lines = text.lines().count().max(1);
    for w in &done.warnings {
        assert!(w.line >= 1 && w.line <= lines + 1, "{w:?} of {lines} lines");
        assert!(!w.message.contains(['\n', '\r']), "{w:?}");
    }
    if let Some(toml) = &done.toml {
        if let Err(d) = parse_str(toml) {
            panic!("the conversion's TOML does not parse: {d:?}\n{toml}");
        }
    }
}
