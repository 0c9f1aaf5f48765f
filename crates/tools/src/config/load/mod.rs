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
pub mod value;

use std::path::Path;
use std::time::SystemTime;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

use crate::config::diag::{Diag, Places, count_byte};
use crate::config::model::{Config, Entry};
use crate::fatal::Fatal;
use parse::{RawConfig, RawEntry};
use plain::Table;

/// Reads `file` (trust checks as root, unless `allow_insecure`) and validates it with `now`
/// as the run's clock: where its entries are, for messages about them later, and the
/// config. The text itself is freed here, for later stages to use its memory.
pub fn read(file: &Path, allow_insecure: bool, now: SystemTime) -> Result<(Places, Config), Fatal> {
    let strict = !allow_insecure && nix::unistd::geteuid().is_root();
    let text = trust::read(file, strict)?;
    let config = load(&text, now)
        .map_err(|d| Fatal::Config(d.locate(&file.display().to_string(), &text)))?;
    let places = Places::new(&text, config.entries.iter().map(|e| e.span().start));
    Ok((places, config))
}

/// Reads and validates `file` as config mode does, for the tools that only read a config
/// file (s6-fdholder-activate).
pub fn read_config(file: &Path, allow_insecure: bool) -> Result<Config, Fatal> {
    read(file, allow_insecure, SystemTime::now()).map(|(_, config)| config)
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
    // Room for every entry at once: a vector grown by doubling copies and touches about
    // twice the entries' memory. Each `[[fd]]` header has two `[`, so half of
    // them bounds the entries. Counted as bytes ([`count_byte`]): a search for each header
    // cost ten times as much. A bound, not a count: brackets elsewhere (comments, strings)
    // raise it, so the room is only asked for ([`validate::room_for`]).
    let brackets = count_byte(text.as_bytes(), b'[');
    let mut entries = validate::room_for(brackets / 2);
    let mut keys = validate::Keys::with_capacity(brackets / 2);
    let mut invalid = false;
    let shared = validate::Shared::default();
    // The first valid table of `kind` and `path` alone of each kind, validated in full:
    // the others of that kind are made from it (`validate::like`).
    let mut templates: Vec<Entry> = Vec::new();
    let read = plain::read(text, |index, table| {
        let (r, defaults) = match table {
            Table::Short { span, kind, path } => {
                let like = templates
                    .iter()
                    .find(|t| t.spec.kind().name() == kind)
                    .and_then(|t| validate::like(t, index, span, path));
                let Some(e) = like else {
                    return Some(false);
                };
                keys.add(&e);
                entries.push(e);
                return Some(true);
            }
            Table::Raw(r, defaults) => (r, defaults),
        };
        let short = r
            .get_ref()
            .find_key(|k| k != "kind" && k != "path")
            .is_none();
        match validate::push_entry(&mut entries, index, r, defaults, now, &shared) {
            Ok(e) => {
                keys.add(e);
                if short
                    && validate::is_template(e)
                    && !templates.iter().any(|t| t.spec.kind() == e.spec.kind())
                {
                    templates.push(e.clone());
                }
                Some(false)
            }
            Err(_) => {
                invalid = true;
                None
            }
        }
    });
    match read {
        _ if invalid => return slow(),
        Some((fdholder, defaults)) => {
            let raw = RawConfig {
                fdholder,
                defaults,
                fd: Vec::new(),
            };
            return match validate::top(&raw) {
                Ok(fdholder) if keys.all_unique() => Ok(Config { fdholder, entries }),
                _ => slow(),
            };
        }
        None => {}
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
    let mut keys = validate::Keys::with_capacity(fds.len());
    for (index, v) in fds.into_iter().enumerate() {
        let Ok(mut r) = Spanned::<RawEntry>::deserialize(ValueDeserializer::from(v)) else {
            return slow();
        };
        match validate::push_entry(&mut entries, index, &mut r, defaults, now, &shared) {
            Ok(e) => keys.add(e),
            Err(_) => return slow(),
        }
    }
    if !keys.all_unique() {
        return slow();
    }
    Ok(Config { fdholder, entries })
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
            // A symlink at the entry's own path, however written, in the entry, in
            // `[defaults]`, and through toml (the fused path checks it before the path is
            // handed over).
            "[[fd]]\nkind = \"unix\"\npath = \"/a/s\"\nsymlinks = [\"/a/s\"]\n",
            "[[fd]]\nkind = \"fifo\"\npath = \"/a/f\"\nsymlinks = [\"/a/./f\"]\n",
            "[[fd]]\nkind = \"fifo\"\npath = \"/a\"\n[defaults]\nsymlinks = [\"/a\"]\n",
            "fd = [{ kind = \"unix\", path = \"/a//s\", symlinks = [\"/a/s\"] }]\n",
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
        }
        assert_eq!(valid, 6, "the first six texts are valid");
    }

    /// Tables of `kind` and `path` alone made from the first of their kind
    /// (`validate::like`) are what validating each gives, and every path `like` refuses
    /// still gets its own error.
    #[test]
    fn entries_made_alike_are_entries_validated() {
        let now = SystemTime::now();
        // Written as most files are (read by `Lines::quick`), and otherwise.
        let table =
            |kind: &str, path: &str| format!("[[fd]]\nkind = \"{kind}\"\npath = \"{path}\"\n");
        let other =
            |kind: &str, path: &str| format!("[[fd]]\npath = '{path}' # p\nkind = '{kind}'\n");
        let long = format!("/{}", "x".repeat(106));
        let longer = format!("/{}", "x".repeat(107));
        let longest = format!("/{}", "x".repeat(251));
        let heads = [
            "",
            "[defaults]\nlifetime = \"1h\"\nmode = \"0640\"\nowner = 0\nname = \"n\"\n",
            "[defaults]\nsocket = \"dgram\"\npass-credentials = true\ncreate = true\nopen = \"append\"\nwritable = true\n",
            "[defaults]\nsymlinks = [\"/l\"]\n",
        ];
        let paths = [
            "/a/b",
            "/a/c",
            "/a//d",
            "/a/./e",
            "/a/b",
            "a/rel",
            "/a/end/",
            "@abs",
            "@abs2",
            "/",
            &long,
            &longer,
            &longest,
            "/a/\u{e9}",
            "/a/\tb",
            "/a/\u{7f}",
            "/a/\\c",
            "/a/\\\\",
            "/a/\u{1}",
            // A byte that ends no string, then a newline, and more tables.
            "/a/b\u{1}\n[[fd]]\nkind = \"unix\"\npath = \"/c",
            "/a/b\\\n[[fd]]\nkind = \"unix\"\npath = \"/c",
        ];
        let mut valid = 0;
        for head in heads {
            for kind in ["unix", "fifo", "file", "special", "tcp", "pipe"] {
                for (i, p) in paths.iter().enumerate() {
                    // The first table of the kind, then each path after it, alone and
                    // after the others.
                    let first = table(kind, "/t/first");
                    let rest: String = paths[..=i].iter().map(|p| table(kind, p)).collect();
                    let mixed = table("fifo", "/t/f") + &other(kind, "/t/k") + &table(kind, p);
                    let unended = (head.to_string() + &first + &table(kind, p))
                        .replace(&format!("{p}\"\n"), &format!("{p}\""));
                    for text in [
                        head.to_string() + &first + &table(kind, p),
                        head.to_string() + &first + &rest,
                        head.to_string() + &mixed,
                        head.to_string() + &first + &other(kind, p),
                        unended,
                    ] {
                        let two =
                            parse::parse_str(&text).and_then(|raw| validate::validate(&raw, now));
                        let one = load(&text, now);
                        valid += usize::from(one.is_ok());
                        assert_eq!(format!("{one:?}"), format!("{two:?}"), "{text}");
                    }
                }
            }
        }
        assert!(valid > 50, "only {valid} valid texts");
    }

    /// Where each entry is said to start, counted once for the whole file
    /// ([`Places`]), is where `line_col` finds its span: headers indented or after
    /// comments and non-ASCII, CRLF, `[defaults]` anywhere, and the inline form with
    /// several entries on one line.
    #[test]
    fn places_are_where_the_entries_are() {
        use crate::config::diag::line_col;
        let now = SystemTime::now();
        let mut seed: u64 = 0x1234_5678;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut checked = 0;
        for _ in 0..3000 {
            let eol = ["\n", "\r\n"][rnd(2) as usize];
            let mut t = String::new();
            if rnd(2) == 0 {
                t.push_str(&format!("# é ü 日本{eol}"));
            }
            let n = 1 + rnd(5);
            let defaults_at = rnd(n + 1);
            if rnd(3) == 0 {
                let mut fd = String::from("fd = [");
                for i in 0..n {
                    if i > 0 {
                        fd.push(',');
                    }
                    if rnd(2) == 0 {
                        fd.push_str(eol);
                    }
                    fd.push_str(&" ".repeat(rnd(3) as usize));
                    fd.push_str(&format!("{{ kind = \"unix\", path = \"/é{i}\" }}"));
                }
                fd.push_str(&format!("]{eol}"));
                t.push_str(&fd);
                if defaults_at == 0 {
                    t.push_str(&format!("[defaults]{eol}mode = \"0600\"{eol}"));
                }
            } else {
                for i in 0..n {
                    if i == defaults_at {
                        t.push_str(&format!("[defaults]{eol}lifetime = \"1h\"{eol}"));
                    }
                    for _ in 0..rnd(3) {
                        t.push(if rnd(2) == 0 { ' ' } else { '\t' });
                    }
                    t.push_str("[[fd]]");
                    if rnd(2) == 0 {
                        t.push_str(" # ß");
                    }
                    t.push_str(eol);
                    if rnd(2) == 0 {
                        t.push_str(&format!("# x{eol}{eol}"));
                    }
                    t.push_str(&match rnd(3) {
                        0 => format!("kind = \"unix\"{eol}path = \"/s{i}\"{eol}"),
                        1 => format!("path = \"/é{i}\"{eol}kind = \"fifo\"{eol}"),
                        _ => format!(
                            "kind = \"pipe\"{eol}read-id = \"r{i}\"{eol}write-id = \"w{i}\"{eol}"
                        ),
                    });
                }
                if defaults_at == n {
                    t.push_str(&format!("[defaults]{eol}lifetime = \"2h\"{eol}"));
                }
            }
            let config = load(&t, now).unwrap_or_else(|d| panic!("{t:?}: {}", d.what));
            let places = Places::new(&t, config.entries.iter().map(|e| e.span().start));
            for (i, e) in config.entries.iter().enumerate() {
                assert_eq!(e.index(), i);
                let got = Diag::new(0..0, &e.place(), "x").locate_entry("f", &places);
                assert_eq!(
                    (got.line, got.col),
                    line_col(&t, e.span().start),
                    "{t:?} {i}"
                );
                checked += 1;
            }
        }
        assert!(checked > 6000, "{checked}");
    }
}
