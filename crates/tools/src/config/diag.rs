//! Messages about a config file: a [`Diag`] keeps the byte span of what is wrong, and
//! becomes a [`Located`] with line and column only once the file's text is at hand to count
//! them.
//!
//! Every stage of the pipeline reports through [`Diag`], a bad value as much as an fd that
//! could not be opened, so every message has one form:
//! `FILE:LINE:COL: fd[I] (KIND:ADDRESS): what is wrong`.

use std::fmt;
use std::ops::Range;

use crate::text::one_line;

/// The part of the file an error is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// The top level (`fdholder`, or the file as a whole).
    Top,
    /// The `[defaults]` table.
    Defaults,
    /// The `index`-th `[[fd]]` table (from 0), with its kind and address as written.
    Fd {
        /// The entry's index in the file.
        index: usize,
        /// `KIND:ADDRESS` as written, e.g. `unix:/run/web/http.sock`.
        label: String,
    },
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Top => Ok(()),
            Place::Defaults => f.write_str("defaults: "),
            Place::Fd { index, label } => write!(f, "fd[{index}] ({label}): "),
        }
    }
}

/// How an entry is named in messages: its kind and address as written, before validation.
pub fn entry_label(kind: Option<&str>, address: Option<&str>) -> String {
    match (kind, address) {
        (Some(k), Some(a)) => format!("{k}:{a}"),
        (Some(k), None) => k.to_string(),
        (None, Some(a)) => a.to_string(),
        (None, None) => "no kind".to_string(),
    }
}

/// A config error before it is located: the span of the offending text and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diag {
    /// Bytes of the file the error points at.
    pub span: Range<usize>,
    /// The part of the file.
    pub place: Place,
    /// What is wrong.
    pub what: String,
}

impl Diag {
    /// A diagnostic at `span` in `place`.
    pub fn new(span: Range<usize>, place: &Place, what: impl Into<String>) -> Diag {
        Diag {
            span,
            place: place.clone(),
            what: what.into(),
        }
    }

    /// Gives the error about an entry its file name, and the line and column where the
    /// entry starts (0 and 0 for an error that is not about an entry, which no stage after
    /// validation makes).
    pub fn locate_entry(self, file: &str, places: &Places) -> Located {
        let at = match &self.place {
            Place::Fd { index, .. } => places.at.get(*index).copied(),
            Place::Top | Place::Defaults => None,
        };
        let at = at.map_or((0, 0), |(l, c)| (l as usize, c as usize));
        self.at(file, at)
    }

    /// Gives the error its file name, line and column, counted in `text`.
    pub fn locate(self, file: &str, text: &str) -> Located {
        let at = line_col(text, self.span.start);
        self.at(file, at)
    }

    /// The error in `file` at (line, column).
    fn at(self, file: &str, (line, col): (usize, usize)) -> Located {
        Located {
            file: file.to_string(),
            line,
            col,
            place: self.place,
            what: self.what,
        }
    }
}

/// Where each entry of a config file starts (its `[[fd]]` header), as messages name it:
/// kept in place of the file's text once the file is validated. The stages after that
/// (opening, fixing, the setdump) name only entries, and a text kept to the end of a run
/// was about 55 bytes an entry, of which each page costs a run about as much as binding a
/// socket.
#[derive(Clone, Debug, Default)]
pub struct Places {
    /// The line and column of each entry, by its index in the file.
    at: Vec<(u32, u32)>,
}

impl Places {
    /// The places in `text` of the entries that start at the byte offsets `starts`, in
    /// file order, counted in one pass.
    pub fn new(text: &str, starts: impl Iterator<Item = usize>) -> Places {
        // Where the last entry started, its line, and its column (in characters): each
        // byte is looked at a bounded number of times, however many entries share a line
        // (`fd = [{ ... }, { ... }]`).
        let (mut from, mut line, mut col) = (0, 1, 1);
        let at = starts
            .map(|start| {
                let mut start = start.clamp(from, text.len());
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                let between = &text[from..start];
                let starts_line = start == 0 || text.as_bytes()[start - 1] == b'\n';
                let lines = count_byte(between.as_bytes(), b'\n');
                line += lines;
                col = if starts_line {
                    // Most headers start a line: no character to count.
                    1
                } else if lines > 0 {
                    let line_start = between.rfind('\n').map_or(0, |last| last + 1);
                    between[line_start..].chars().count() + 1
                } else {
                    col + between.chars().count()
                };
                from = start;
                // No file read whole into memory has 2^32 lines, nor a line 2^32 characters.
                let fit = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
                (fit(line), fit(col))
            })
            .collect();
        Places { at }
    }
}

/// How many of `hay`'s bytes are `b`: counted 255 at a time in bytes, so that the count
/// vectorises 16 bytes at once (a count by words, or memchr's, took more instructions
/// for the few lines of an entry too).
pub fn count_byte(hay: &[u8], b: u8) -> usize {
    (hay.chunks(255))
        .map(|c| usize::from(c.iter().map(|&x| u8::from(x == b)).sum::<u8>()))
        .sum()
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = count_byte(before.as_bytes(), b'\n') + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A message about a config file, located: it names the file, line, column and entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The file name as given on the command line.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// The part of the file.
    pub place: Place,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names and paths come from the file and may hold any character: the message stays
        // one line whatever they hold.
        let place = self.place.to_string();
        write!(
            f,
            "{}:{}:{}: {}{}",
            one_line(&self.file),
            self.line,
            self.col,
            one_line(&place),
            one_line(&self.what)
        )
    }
}

impl std::error::Error for Located {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 9), (2, 3));
        assert_eq!(line_col(t, 8), (2, 2), "inside a character");
        assert_eq!(line_col(t, 100), (3, 1));
    }

    /// Bytes are counted in short texts and long ones, wherever they are.
    #[test]
    fn count_byte_counts() {
        for len in [0, 1, 7, 8, 9, 63, 255, 256, 300, 1000] {
            for step in [1, 2, 3, 7, 8, 255] {
                let hay: Vec<u8> = (0..len)
                    .map(|i| if i % step == 0 { b'\n' } else { 0x8a })
                    .collect();
                let want = hay.iter().filter(|&&x| x == b'\n').count();
                assert_eq!(count_byte(&hay, b'\n'), want, "{len} {step}");
                assert_eq!(count_byte(&hay, 0x8a), len - want, "{len} {step}");
            }
        }
    }

    /// Where the entries start, counted in one pass, is where `line_col` finds them.
    #[test]
    fn places_are_where_line_col_finds_them() {
        let text =
            "[[fd]]\nkind = \"unix\"\n\n  [[fd]]\n# é\n\t[[fd]]\nfd = [{ a = \"é\" }, { b = 1 }]\n";
        let starts: Vec<usize> = text
            .match_indices("[[fd]]")
            .map(|(i, _)| i)
            .chain(text.match_indices("{ ").map(|(i, _)| i))
            .chain([text.len()])
            .collect();
        let places = Places::new(text, starts.iter().copied());
        for (i, &start) in starts.iter().enumerate() {
            let place = Place::Fd {
                index: i,
                label: String::new(),
            };
            let got = Diag::new(0..0, &place, "x").locate_entry("f", &places);
            assert_eq!((got.line, got.col), line_col(text, start), "{start}");
        }
        let top = Diag::new(0..0, &Place::Top, "x").locate_entry("f", &places);
        assert_eq!((top.line, top.col), (0, 0));
    }

    #[test]
    fn message_form() {
        let place = Place::Fd {
            index: 2,
            label: entry_label(Some("unix"), Some("/run/web/http.sock")),
        };
        let e = Diag::new(11..12, &place, "bad").locate("web.toml", "x\n\n\n\n\n\nabcd");
        assert_eq!(
            e.to_string(),
            "web.toml:7:5: fd[2] (unix:/run/web/http.sock): bad"
        );
        let e = Diag::new(0..1, &Place::Top, "bad").locate("w", "x");
        assert_eq!(e.to_string(), "w:1:1: bad");
        let place = Place::Fd {
            index: 0,
            label: entry_label(Some("unix"), Some("/a\nb\u{0}")),
        };
        let e = Diag::new(0..1, &place, "bad \"x\\ny\"\r").locate("f\tg", "x");
        assert_eq!(
            e.to_string(),
            "f\\tg:1:1: fd[0] (unix:/a\\nb\\u{0}): bad \"x\\ny\"\\r"
        );
    }
}
