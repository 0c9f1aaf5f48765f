//! Stage 1 of config mode: from the file to a validated
//! [`Config`], or the first error, located at
//! `file:line:col`. [`trust`] reads the file (refusing, as root, one that others could have
//! written), [`parse`] makes raw structs with spans, [`validate`] makes the
//! [`crate::config::model`] types. [`load`] does all three in one pass over the entries.

pub mod parse;
pub mod plain;
pub mod scope;
pub mod trust;
pub mod validate;

use std::path::Path;
use std::time::SystemTime;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

use crate::config::diag::Diag;
use crate::config::model::Config;
use crate::fatal::Fatal;
use parse::{RawConfig, RawEntry};

/// From how large a file [`read`] validates its entries in two threads
/// ([`load_parallel`]): below, starting a thread costs more than it saves (measured here:
/// a thread costs some 50 µs, an entry some 0.7 µs, 16 KiB some 400 entries).
pub const PARALLEL_FROM: usize = 16 * 1024;

/// Reads `file` (trust checks as root, unless `allow_insecure`) and validates it with `now`
/// as the run's clock: its text, for messages about it later, and the config. For config
/// mode: a large file is validated in two threads, which are done when this returns.
pub fn read(file: &Path, allow_insecure: bool, now: SystemTime) -> Result<(String, Config), Fatal> {
    read_with(file, allow_insecure, |text| {
        load_parallel(text, now, PARALLEL_FROM)
    })
}

/// Reads and validates `file` as config mode does, for the tools that only read a config
/// file (s6-fdholder-activate), in this thread alone: a tool that forks wants no other.
pub fn read_config(file: &Path, allow_insecure: bool) -> Result<Config, Fatal> {
    let now = SystemTime::now();
    read_with(file, allow_insecure, |text| load(text, now)).map(|(_, config)| config)
}

/// [`read`] with `load` as the validation.
fn read_with(
    file: &Path,
    allow_insecure: bool,
    load: impl FnOnce(&str) -> Result<Config, Diag>,
) -> Result<(String, Config), Fatal> {
    let strict = !allow_insecure && nix::unistd::geteuid().is_root();
    let text = trust::read(file, strict)?;
    let config =
        load(&text).map_err(|d| Fatal::Config(d.locate(&file.display().to_string(), &text)))?;
    Ok((text, config))
}

/// Parses and validates config text in one pass: each `[[fd]]` table of toml's spanned
/// tree is deserialised and validated in turn, and its raw struct dropped at once, where
/// [`parse::parse_str`] then [`validate::validate`] keep every raw entry (~900 bytes each,
/// the most memory of a large run) until the last is validated. Ids and addresses are
/// checked for repeats once, with one hash set each.
///
/// Only the way to success is fused. On any error the text goes through `parse_str` and
/// `validate`, which find and word the first error exactly as they always have: an error
/// costs a second parse, and the two paths cannot disagree on what they report.
pub fn load(text: &str, now: SystemTime) -> Result<Config, Diag> {
    let slow = || parse::parse_str(text).and_then(|raw| validate::validate(&raw, now));
    // The plain subset of TOML most files are written in, read with no tree.
    let mut entries = Vec::new();
    let mut invalid = false;
    let read = plain::read(
        text,
        |index, r, defaults| match validate::entry(index, r, defaults, now) {
            Ok(e) => {
                entries.push(e);
                Some(())
            }
            Err(_) => {
                invalid = true;
                None
            }
        },
        |defaults| defaults,
    );
    match read {
        _ if invalid => return slow(),
        plain::Read::Done(fdholder, defaults) => {
            let raw = RawConfig {
                fdholder,
                defaults,
                fd: Vec::new(),
            };
            return match validate::top(&raw) {
                Ok(fdholder) if validate::all_unique(&entries) => Ok(Config { fdholder, entries }),
                _ => slow(),
            };
        }
        plain::Read::Unplain => {}
    }
    let (mut doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return slow();
    }
    let fds = match doc.get_mut().remove("fd").map(Spanned::into_inner) {
        None => DeArray::new(),
        Some(DeValue::Array(fds)) => fds,
        Some(_) => return slow(),
    };
    let Ok(raw) = RawConfig::deserialize(toml::de::Deserializer::from(doc)) else {
        return slow();
    };
    let Ok(fdholder) = validate::top(&raw) else {
        return slow();
    };
    let empty = RawEntry::default();
    let defaults = raw.defaults.as_ref().map_or(&empty, Spanned::get_ref);
    entries.clear();
    entries.reserve(fds.len());
    for (index, v) in fds.into_iter().enumerate() {
        let Ok(r) = Spanned::<RawEntry>::deserialize(ValueDeserializer::from(v)) else {
            return slow();
        };
        match validate::entry(index, &r, defaults, now) {
            Ok(e) => entries.push(e),
            Err(_) => return slow(),
        }
    }
    if !validate::all_unique(&entries) {
        return slow();
    }
    Ok(Config { fdholder, entries })
}

/// [`load`], the entries of a text of at least `min_len` bytes validated in two threads,
/// half of them each: what config mode does beyond its system calls is mostly reading its
/// file, and the machine has a core to spare meanwhile (the daemon is waiting). Gives
/// exactly what `load` gives (the `config` fuzz target checks it): anything but a plain
/// file read without error goes to `load`.
pub fn load_parallel(text: &str, now: SystemTime, min_len: usize) -> Result<Config, Diag> {
    let whole = || load(text, now);
    if text.len() < min_len {
        return whole();
    }
    let Some(outline) = plain::outline(text) else {
        return whole();
    };
    let Some((cut, before)) = plain::halves(text, outline.first) else {
        return whole();
    };
    let empty = RawEntry::default();
    let shared = outline.defaults.as_ref().map_or(&empty, Spanned::get_ref);
    let half = |range: std::ops::Range<usize>, index| {
        let mut entries = Vec::new();
        plain::tables(text, range, index, shared, |i, r, defaults| {
            entries.push(validate::entry(i, r, defaults, now).ok()?);
            Some(())
        })
        .map(|()| entries)
    };
    let (first, second) = std::thread::scope(|s| {
        let second = s.spawn(|| half(cut..text.len(), before));
        (half(outline.first..cut, 0), second.join().ok().flatten())
    });
    let (Some(mut entries), Some(rest)) = (first, second) else {
        return whole();
    };
    entries.extend(rest);
    let raw = RawConfig {
        fdholder: outline.fdholder,
        defaults: outline.defaults,
        fd: Vec::new(),
    };
    match validate::top(&raw) {
        Ok(fdholder) if validate::all_unique(&entries) => Ok(Config { fdholder, entries }),
        _ => whole(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused pass gives what the two stages give, on success and on every error.
    #[test]
    fn load_is_parse_then_validate() {
        let now = SystemTime::now();
        let texts = [
            "",
            "fdholder = \"/run/s\"\n",
            "[[fd]]\nkind = \"unix\"\npath = \"/run/a.sock\"\n",
            "[defaults]\nlifetime = \"1h\"\n[[fd]]\nkind = \"unix\"\npath = \"/run/a\"\nmode = \"0600\"\n\n[[fd]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:80\"\nbacklog = 5\n[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n",
            "[[fd]]\nkind = \"file\"\npath = \"/tmp/x\"\nopen = \"append\"\nexpires = 2100-01-01T00:00:00Z\n[defaults]\nlifetime = \"infinite\"\n",
            "fd = [{ kind = \"unix\", path = \"/a\" }, { kind = \"unix\", path = \"/b\" }]\n",
            // Errors: syntax, an unknown key, a bad value, a repeated id, a repeated path,
            // `fd` not an array, `[defaults]` with an entry-only key.
            "[[fd]\n",
            "[[fd]]\nkind = \"unix\"\npath = \"/a\"\ncolour = 1\n",
            "[[fd]]\nkind = \"unix\"\npath = \"a\"\n",
            "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"r\"\n",
            "[[fd]]\nkind = \"unix\"\npath = \"/a\"\n[[fd]]\nkind = \"unix\"\npath = \"/a\"\n",
            "[[fd]]\nkind = \"unix\"\npath = \"/a\"\n[[fd]]\nkind = \"unix\"\npath = \"/b\"\nid = \"unix:/a\"\n",
            "fd = 3\n",
            "[defaults]\npath = \"/a\"\n",
            "fdholder = \"s\"\n",
            "[[fd]]\nkind = \"unix\"\npath = \"/a\"\n[[fd]]\nkind = \"unix\"\n",
        ];
        let mut valid = 0;
        for text in texts {
            let two = parse::parse_str(text).and_then(|raw| validate::validate(&raw, now));
            let one = load(text, now);
            valid += usize::from(one.is_ok());
            assert_eq!(format!("{one:?}"), format!("{two:?}"), "{text}");
            let halves = load_parallel(text, now, 0);
            assert_eq!(format!("{halves:?}"), format!("{one:?}"), "{text}");
        }
        assert_eq!(valid, 6, "the first six texts are valid");
    }

    /// Two threads give what one gives, on large files too: the second half's indices,
    /// defaults in the middle, an error or a repeat in either half, a line toml must read.
    #[test]
    fn load_parallel_is_load() {
        let now = SystemTime::now();
        let entries = |from: usize, to: usize| -> String {
            (from..to)
                .map(|i| format!("[[fd]]\nkind = \"unix\"\npath = \"/run/é/{i}.sock\"\n"))
                .collect()
        };
        let (a, b) = (entries(0, 600), entries(600, 1200));
        let texts = [
            format!("{a}{b}"),
            format!("fdholder = \"/run/s\"\n{a}[defaults]\nmode = \"0600\"\n{b}"),
            format!("{a}[[fd]]\nkind = \"unix\"\npath = \"/run/é/3.sock\"\n{b}"),
            format!("{a}{b}[[fd]]\nkind = \"unix\"\npath = \"relative\"\n"),
            format!("[[fd]]\nkind = \"unix\"\npath = \"x\"\n{a}{b}"),
            format!(
                "{a}{b}[[fd]]\nkind = \"file\"\npath = \"/x\"\nexpires = 2100-01-01T00:00:00Z\n"
            ),
            format!("{a}[[fd]]\nkind = \"unix\"\npath = \"/run/é/0.sock\"\n"),
        ];
        for text in &texts {
            let one = load(text, now);
            let halves = load_parallel(text, now, 0);
            assert_eq!(format!("{halves:?}"), format!("{one:?}"));
        }
        let Ok(c) = load_parallel(&texts[1], now, 0) else {
            panic!("the second text is valid");
        };
        assert_eq!(c.entries.len(), 1200);
        let (cut, before) = plain::halves(&texts[1], 20).expect("a cut");
        assert_eq!(texts[1][..cut].matches("[[fd]]").count(), before);
        assert!(before > 500 && before < 700, "{before}");
        assert!(c.entries.iter().enumerate().all(|(i, e)| e.index == i));
    }
}
