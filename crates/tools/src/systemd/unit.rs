//! The unit file syntax, as systemd's own parser reads it (systemd.syntax(7)): `[Section]`
//! headers, `Key=value` assignments, whole-line comments starting with `#` or `;`, and lines
//! ended by a backslash continued on the next line (the backslash becomes a space; comment
//! lines inside a continuation are skipped). Pure: text in, assignments and remarks out.

/// One `Key=value` of a unit, where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The section it is in, without brackets.
    pub section: String,
    /// The key, as written (keys are case-sensitive).
    pub key: String,
    /// The value, stripped of surrounding whitespace; empty for a reset.
    pub value: String,
    /// The line it starts on, from 1.
    pub line: usize,
}

/// A line the parser skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The line it starts on, from 1.
    pub line: usize,
    /// The line's text, as read.
    pub text: String,
    /// Why it was skipped.
    pub why: &'static str,
}

/// What a unit file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unit {
    /// Every assignment, in file order.
    pub assignments: Vec<Assignment>,
    /// Lines that are neither assignments, headers, comments nor blank.
    pub skipped: Vec<Skipped>,
}

/// Whether `s` ends with a backslash that is not itself escaped.
fn ends_continued(s: &str) -> bool {
    s.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

fn is_comment(s: &str) -> bool {
    s.starts_with('#') || s.starts_with(';')
}

/// Reads a unit file's text.
pub fn parse(text: &str) -> Unit {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut unit = Unit::default();
    let mut section: Option<String> = None;
    // The logical line being continued, and the line it started on.
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if is_comment(trimmed) {
            continue;
        }
        let (start, mut logical) = pending.take().unwrap_or((i + 1, String::new()));
        if ends_continued(raw) {
            logical.push_str(&raw[..raw.len() - 1]);
            logical.push(' ');
            pending = Some((start, logical));
            continue;
        }
        logical.push_str(raw);
        line(&mut unit, &mut section, start, &logical);
    }
    if let Some((start, logical)) = pending {
        line(&mut unit, &mut section, start, &logical);
    }
    unit
}

/// Takes one logical line.
fn line(unit: &mut Unit, section: &mut Option<String>, n: usize, text: &str) {
    let l = text.trim();
    if l.is_empty() || is_comment(l) {
        return;
    }
    let skip = |why| Skipped {
        line: n,
        text: l.to_string(),
        why,
    };
    if let Some(rest) = l.strip_prefix('[') {
        match rest.strip_suffix(']') {
            Some(name) if !name.is_empty() => *section = Some(name.to_string()),
            _ => unit.skipped.push(skip("not a valid [Section] header")),
        }
        return;
    }
    let Some((key, value)) = l.split_once('=') else {
        unit.skipped.push(skip("not a Key=value assignment"));
        return;
    };
    let Some(s) = section else {
        unit.skipped
            .push(skip("an assignment before any [Section]"));
        return;
    };
    unit.assignments.push(Assignment {
        section: s.clone(),
        key: key.trim().to_string(),
        value: value.trim().to_string(),
        line: n,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(section: &str, key: &str, value: &str, line: usize) -> Assignment {
        Assignment {
            section: section.into(),
            key: key.into(),
            value: value.into(),
            line,
        }
    }

    #[test]
    fn sections_comments_and_continuations() {
        let u = parse(
            "\u{feff}# a comment\n\
             [Unit]\n\
             Description = Web  \n\
             ; another\n\
             [Socket]\n\
             ListenStream=/run/a \\\n\
             # skipped inside a continuation\n\
             \x20 and more\n\
             Backlog=\n\
             Path=C:\\\\\n\
             Next=1\n\
             Last=x\\",
        );
        assert_eq!(
            u.assignments,
            vec![
                a("Unit", "Description", "Web", 3),
                a("Socket", "ListenStream", "/run/a    and more", 6),
                a("Socket", "Backlog", "", 9),
                a("Socket", "Path", "C:\\\\", 10),
                a("Socket", "Next", "1", 11),
                a("Socket", "Last", "x", 12),
            ]
        );
        assert!(u.skipped.is_empty(), "{:?}", u.skipped);
    }

    #[test]
    fn skipped_lines() {
        let u = parse("Early=1\n[Socket\n[Socket]\njunk\n[]\n");
        let got: Vec<(usize, &str)> = u.skipped.iter().map(|s| (s.line, s.why)).collect();
        assert_eq!(
            got,
            [
                (1, "an assignment before any [Section]"),
                (2, "not a valid [Section] header"),
                (4, "not a Key=value assignment"),
                (5, "not a valid [Section] header"),
            ]
        );
    }
}
