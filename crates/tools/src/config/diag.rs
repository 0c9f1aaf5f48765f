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

    /// Gives the error its file name, line and column, counted in `text`.
    pub fn locate(self, file: &str, text: &str) -> Located {
        let (line, col) = line_col(text, self.span.start);
        Located {
            file: file.to_string(),
            line,
            col,
            place: self.place,
            what: self.what,
        }
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
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
