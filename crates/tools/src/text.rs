//! Text for messages and reports: warnings, plurals, escaping what would break a line or
//! a field.

use std::borrow::Cow;
use std::fmt;

use fdholder::held::Source;

/// Prints `PROG: warning: MESSAGE` on stderr: something was left out, the run goes on.
pub fn warn(prog: &str, message: impl fmt::Display) {
    eprintln!("{prog}: warning: {message}");
}

/// Serialises which request answered ([`Source`], or `None`) by its name, `getdump` or
/// `list`, for the tools' JSON documents.
pub fn serialize_source<T, S>(source: &T, s: S) -> Result<S::Ok, S::Error>
where
    T: Into<Option<Source>> + Copy,
    S: serde::Serializer,
{
    match (*source).into() {
        Some(source) => s.serialize_str(source.name()),
        None => s.serialize_none(),
    }
}

/// `n fd` or `n fds`.
pub fn fds(n: usize) -> String {
    format!("{n} fd{}", if n == 1 { "" } else { "s" })
}

/// An id on one line: invalid UTF-8 replaced, control characters escaped.
pub fn show_id(id: &[u8]) -> String {
    crate::text::one_line(&String::from_utf8_lossy(id)).into_owned()
}

/// `s` with its control characters escaped (`\n`, `\t`, `\r`, `\u{..}`), so that a
/// message that shows it stays on one line. Backslashes are left as they are: a message is
/// read, not parsed back.
pub fn one_line(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// `s` as one field of a tab-separated line that can be read back: control characters and
/// backslashes escaped (`\\`, `\n`, `\t`, `\r`, `\u{..}`).
pub fn field(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, backslash: bool) -> Cow<'_, str> {
    let special = |c: char| c.is_control() || (backslash && c == '\\');
    if !s.contains(special) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' if backslash => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_escape_what_would_cut_them() {
        assert!(matches!(field("tcp:[::1]:80"), Cow::Borrowed(_)));
        assert_eq!(field("a\tb\\n\nc\u{7f}"), "a\\tb\\\\n\\nc\\u{7f}");
        assert_eq!(one_line("a\tb\\n"), "a\\tb\\n");
    }
}
