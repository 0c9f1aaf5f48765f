//! The plain subset of TOML that config files are almost always written in, read straight
//! into [`RawEntry`]s with no document tree: toml's spanned tree and its deserializer cost
//! about 5 µs an entry, which was most of a config run beyond the system calls.
//!
//! The subset, one item a line, anywhere space or tab around it and a `#` comment after it:
//! the headers `[[fd]]` and `[defaults]` written exactly so, `fdholder` before the first
//! header, and `key = value` with a bare key and a value that is a one-line string (`"…"`
//! with no backslash, or `'…'`), a decimal integer with no `_`, `true`, `false`, or a
//! one-line array of such strings. Anything else (a date, a float, an escape, a dotted or
//! quoted key, an inline table, a repeated key, a key or a value the structs do not take)
//! makes [`read`] answer `None`, and the file goes to toml: this reader never
//! words an error. What it accepts it reads as toml does, spans included; the `config`
//! fuzz target and the tests below hold it to that.

use std::ops::Range;

use toml::Spanned;

use super::parse::RawEntry;
use super::value::Plain;

/// What [`read`] made of a text in the subset: the top level's `fdholder`, and
/// `[defaults]`.
pub type Top = (Option<Spanned<String>>, Option<Spanned<RawEntry>>);

/// One line of the subset.
enum Line<'a> {
    /// Blank, or only a comment.
    Empty,
    /// `[[fd]]`, at this span.
    Fd(Range<usize>),
    /// `[defaults]`, at this span.
    Defaults(Range<usize>),
    /// `key = value`, the value at this span.
    Pair(&'a str, Range<usize>, Plain<'a>),
}

/// The lines of a text, from a byte offset.
struct Lines<'a> {
    text: &'a str,
    pos: usize,
}

/// Whether `b` may be written in a string or a comment: TOML allows no control character
/// there but tab.
const fn printable(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// The bytes that end a one-line string quoted by `quote`, or put it outside the subset:
/// the quote, a control character but tab, and with `"` the backslash (an escape).
const fn stops(quote: u8) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b == quote || !printable(b) || (quote == b'"' && b == b'\\');
        c += 1;
    }
    t
}

/// [`stops`] of `"` and of `'`.
static BASIC_STOPS: [bool; 256] = stops(b'"');
static LITERAL_STOPS: [bool; 256] = stops(b'\'');

impl<'a> Lines<'a> {
    fn skip_blanks(&mut self) {
        let b = self.text.as_bytes();
        while self.pos < b.len() && matches!(b[self.pos], b' ' | b'\t') {
            self.pos += 1;
        }
    }

    /// The end of a line: an optional comment, then a newline or the end of the text.
    fn end_of_line(&mut self) -> Option<()> {
        self.skip_blanks();
        let b = self.text.as_bytes();
        if b.get(self.pos) == Some(&b'#') {
            while self.pos < b.len() && b[self.pos] != b'\n' && b[self.pos] != b'\r' {
                if !printable(b[self.pos]) {
                    return None;
                }
                self.pos += 1;
            }
        }
        match (b.get(self.pos), b.get(self.pos + 1)) {
            (None, _) => {}
            (Some(b'\n'), _) => self.pos += 1,
            (Some(b'\r'), Some(b'\n')) => self.pos += 2,
            _ => return None,
        }
        Some(())
    }

    /// A one-line string, `"…"` without a backslash or `'…'` (not `"""` nor `'''`).
    fn string(&mut self) -> Option<(&'a str, Range<usize>)> {
        let b = self.text.as_bytes();
        let start = self.pos;
        let quote = b[start];
        // The first byte that ends the string or puts it outside the subset, by a table.
        let stops = if quote == b'"' {
            &BASIC_STOPS
        } else {
            &LITERAL_STOPS
        };
        let i = start + 1 + b[start + 1..].iter().position(|&c| stops[usize::from(c)])?;
        // An empty string followed by a quote opens a multi-line one.
        if b[i] != quote || (i == start + 1 && b.get(i + 1) == Some(&quote)) {
            return None;
        }
        self.pos = i + 1;
        Some((&self.text[start + 1..i], start..i + 1))
    }

    /// A decimal integer with no `_` and no leading zero, that fits an i64.
    fn integer(&mut self) -> Option<i64> {
        let b = self.text.as_bytes();
        let start = self.pos;
        let mut i = start;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let digits = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == digits || (b[digits] == b'0' && i > digits + 1) {
            return None;
        }
        self.pos = i;
        self.text[start..i].trim_start_matches('+').parse().ok()
    }

    /// A value, and its span; what follows it must end the line.
    fn value(&mut self) -> Option<(Plain<'a>, Range<usize>)> {
        let b = self.text.as_bytes();
        let start = self.pos;
        let v = match b.get(start)? {
            b'"' | b'\'' => {
                let (s, span) = self.string()?;
                return Some((Plain::Str(s), span));
            }
            b'[' => {
                self.pos += 1;
                let mut strs = Vec::new();
                loop {
                    self.skip_blanks();
                    match b.get(self.pos)? {
                        b']' if strs.is_empty() => break,
                        b'"' | b'\'' => strs.push(self.string()?.0),
                        _ => return None,
                    }
                    self.skip_blanks();
                    match b.get(self.pos)? {
                        b',' => self.pos += 1,
                        b']' => break,
                        _ => return None,
                    }
                    // A trailing comma.
                    self.skip_blanks();
                    if b.get(self.pos) == Some(&b']') {
                        break;
                    }
                }
                self.pos += 1;
                Plain::Strs(strs)
            }
            b't' if self.text[start..].starts_with("true") => {
                self.pos += 4;
                Plain::Bool(true)
            }
            b'f' if self.text[start..].starts_with("false") => {
                self.pos += 5;
                Plain::Bool(false)
            }
            _ => Plain::Int(self.integer()?),
        };
        Some((v, start..self.pos))
    }

    /// The next line, `Some(None)` at the end of the text, `None` outside the subset.
    fn next(&mut self) -> Option<Option<Line<'a>>> {
        self.skip_blanks();
        let b = self.text.as_bytes();
        let start = self.pos;
        let line = match b.get(start) {
            None => return Some(None),
            Some(b'\n' | b'\r' | b'#') => Line::Empty,
            Some(b'[') => {
                let rest = &self.text[start..];
                if rest.starts_with("[[fd]]") {
                    self.pos += 6;
                    Line::Fd(start..self.pos)
                } else if rest.starts_with("[defaults]") {
                    self.pos += 10;
                    Line::Defaults(start..self.pos)
                } else {
                    return None;
                }
            }
            Some(_) => {
                let mut i = start;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b'_')) {
                    i += 1;
                }
                if i == start {
                    return None;
                }
                let key = &self.text[start..i];
                self.pos = i;
                self.skip_blanks();
                if b.get(self.pos) != Some(&b'=') {
                    return None;
                }
                self.pos += 1;
                self.skip_blanks();
                let (v, span) = self.value()?;
                Line::Pair(key, span, v)
            }
        };
        self.end_of_line()?;
        Some(Some(line))
    }

    /// The first lines of the table whose header ends here, up to the first that shows it
    /// is not a table of `kind` and `path` alone ([`Table::Short`]), or to its end: read
    /// once either way, the pairs of another table put in `pairs`. A table written as most
    /// are, `kind = "…"` then `path = "…"` on the lines after its header, each ending in a
    /// newline, then the next `[[fd]]` header alone on its line or the end of the text, is
    /// read without [`Lines::next`]. `None` outside the subset.
    fn begin(&mut self, pairs: &mut [Option<Pair<'a>>; 3]) -> Option<Begun<'a>> {
        let mut n = 0;
        if let Some((kind, kind_span)) = self.quoted(b"kind = \"") {
            if let Some((path, path_span)) = self.quoted(b"path = \"") {
                let (b, at) = (self.text.as_bytes(), self.pos);
                let end = match &b[at..] {
                    [] => Some(None),
                    [b'[', b'[', b'f', b'd', b']', b']', b'\n', ..] => {
                        self.pos += 7;
                        Some(Some(Line::Fd(at..at + 6)))
                    }
                    _ => None,
                };
                if let Some(end) = end {
                    let (kind, path) = ((kind, kind_span), (path, path_span));
                    return Some(Begun::Short { kind, path, end });
                }
                pairs[1] = Some(("path", path_span, Plain::Str(path)));
                n = 1;
            }
            pairs[0] = Some(("kind", kind_span, Plain::Str(kind)));
            n += 1;
        }
        loop {
            match self.next()? {
                Some(Line::Empty) => {}
                Some(Line::Pair(key, span, v)) => {
                    let again = pairs[..n].iter().flatten().any(|p| p.0 == key);
                    let short = matches!(key, "kind" | "path") && matches!(v, Plain::Str(_));
                    pairs[n] = Some((key, span, v));
                    n += 1;
                    if !short || again || n == pairs.len() {
                        return Some(Begun::Other { read: n, end: None });
                    }
                }
                end => {
                    // `kind` and `path` alone, written otherwise than most are.
                    if let [
                        Some((k1, s1, Plain::Str(v1))),
                        Some((_, s2, Plain::Str(v2))),
                        None,
                    ] = &*pairs
                    {
                        let (one, two) = ((*v1, s1.clone()), (*v2, s2.clone()));
                        let (kind, path) = if *k1 == "kind" {
                            (one, two)
                        } else {
                            (two, one)
                        };
                        *pairs = [None, None, None];
                        return Some(Begun::Short { kind, path, end });
                    }
                    return Some(Begun::Other {
                        read: n,
                        end: Some(end),
                    });
                }
            }
        }
    }

    /// The value of a line `PREFIX…"` and a newline, `prefix` ending in the opening
    /// quote, and its span (quotes included); the value a one-line basic string, as
    /// [`Lines::string`] reads one. `None`, where it started, for any other line.
    fn quoted(&mut self, prefix: &[u8]) -> Option<(&'a str, Range<usize>)> {
        let b = self.text.as_bytes();
        let from = self.pos + prefix.len();
        if !b[self.pos..].starts_with(prefix) {
            return None;
        }
        let end = from + (b[from..].iter()).position(|&c| BASIC_STOPS[usize::from(c)])?;
        if b[end] != b'"' || b.get(end + 1) != Some(&b'\n') {
            return None;
        }
        self.pos = end + 2;
        Some((&self.text[from..end], from - 1..end + 1))
    }

    /// The pairs of the table whose header ends here, into `table`; stops before the next
    /// header, which it returns (`None` at the end of the text). `None` outside the subset.
    fn table(&mut self, table: &mut RawEntry) -> Option<Option<Line<'a>>> {
        loop {
            match self.next()? {
                Some(Line::Empty) => {}
                Some(Line::Pair(key, span, v)) => table.set_plain(key, span, v)?,
                other => return Some(other),
            }
        }
    }
}

/// A pair of a table: its key, its value's span, its value.
type Pair<'a> = (&'a str, Range<usize>, Plain<'a>);

/// What [`Lines::begin`] read of a table.
enum Begun<'a> {
    /// A table of `kind` and `path` alone: each value with its span, and the line that
    /// ended it, the next header or `None` at the end of the text.
    Short {
        kind: (&'a str, Range<usize>),
        path: (&'a str, Range<usize>),
        end: Option<Line<'a>>,
    },
    /// Another table: how many of its pairs `begin` put in its buffer, and the line that
    /// ended it, where `begin` met it.
    Other {
        read: usize,
        end: Option<Option<Line<'a>>>,
    },
}

/// What [`read`]'s first pass finds: the top level's `fdholder`, the `[defaults]` table,
/// and where the first header is.
struct Outline {
    fdholder: Option<Spanned<String>>,
    defaults: Option<Spanned<RawEntry>>,
    first: usize,
}

/// A search for one needle of at least two bytes. memchr's SSE2 pair search on x86_64, where
/// every CPU has SSE2: memmem's own search first asks the CPU for AVX2, and the `cpuid`
/// instructions it runs for that trap to the hypervisor in a VM, about 0.1 ms a run here,
/// more than the search saves in a file of 10 000 entries.
struct Search {
    needle: &'static [u8],
    #[cfg(target_arch = "x86_64")]
    pair: Option<memchr::arch::x86_64::sse2::packedpair::Finder>,
}

impl Search {
    fn new(needle: &'static [u8]) -> Search {
        Search {
            needle,
            #[cfg(target_arch = "x86_64")]
            pair: Self::pair(needle),
        }
    }

    /// The pair of bytes looked for first: the first two, where memchr would guess at the
    /// rarest, and guess `[` and `]`, which stand in every `[[fd]]` header of a config file.
    #[cfg(target_arch = "x86_64")]
    fn pair(needle: &[u8]) -> Option<memchr::arch::x86_64::sse2::packedpair::Finder> {
        use memchr::arch::{all::packedpair::Pair, x86_64::sse2::packedpair::Finder};
        Finder::with_pair(needle, Pair::with_indices(needle, 0, 1)?)
    }

    /// Where `needle` first stands in `hay`.
    fn find(&self, hay: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(pair) = &self.pair {
            // The pair search reads whole vectors: a shorter text is looked through as is.
            return if hay.len() >= pair.min_haystack_len() {
                pair.find(hay, self.needle)
            } else {
                hay.windows(self.needle.len())
                    .position(|w| w == self.needle)
            };
        }
        memchr::memmem::find(hay, self.needle)
    }
}

/// [`read`]'s first pass; `None` outside the subset.
fn outline(text: &str) -> Option<Outline> {
    let mut lines = Lines { text, pos: 0 };
    let mut fdholder = None;
    // The top level: `fdholder` alone.
    let first = loop {
        let at = lines.pos;
        match lines.next()? {
            Some(Line::Empty) => {}
            Some(Line::Pair("fdholder", span, Plain::Str(s))) if fdholder.is_none() => {
                fdholder = Some(Spanned::new(span, s.to_string()));
            }
            Some(Line::Pair(..)) => return None,
            None => break text.len(),
            Some(Line::Fd(_) | Line::Defaults(_)) => break at,
        }
    };
    // The one `[defaults]` header: each `[defaults]` in the text that starts a line
    // (after blanks). A substring search, not a walk through every line nor a stop at
    // every `[` (two an entry).
    let mut defaults: Option<Spanned<RawEntry>> = None;
    let mut from = first;
    let defaults_header = Search::new(b"[defaults]");
    while let Some(n) = defaults_header.find(&text.as_bytes()[from..]) {
        let at = from + n;
        from = at + 1;
        let line = text[..at].trim_end_matches([' ', '\t']);
        if !(line.len() == first || line.ends_with('\n')) {
            continue;
        }
        if defaults.is_some() {
            return None;
        }
        let mut lines = Lines { text, pos: at };
        let Some(Line::Defaults(span)) = lines.next()? else {
            return None;
        };
        let mut table = RawEntry::default();
        lines.table(&mut table)?;
        defaults = Some(Spanned::new(span, table));
    }
    Some(Outline {
        fdholder,
        defaults,
        first,
    })
}

/// One `[[fd]]` table, as [`read`] hands it over.
pub enum Table<'t, 'a> {
    /// A table of `kind` and `path` alone, both strings: its header's span and the two
    /// values. Most tables of a large file are such; one not taken comes again as `Raw`.
    Short {
        /// The span of its `[[fd]]` header.
        span: Range<usize>,
        /// Its `kind`.
        kind: &'a str,
        /// Its `path`.
        path: &'a str,
    },
    /// Any table, with the `[defaults]` table (empty if there is none).
    Raw(&'t mut Spanned<RawEntry>, &'t RawEntry),
}

/// Reads `text` if it is in the subset, handing each `[[fd]]` table in file order to
/// `each` with its index, wherever in the file `[defaults]` is. `each` answers `None` to
/// stop, and whether it took the table: a [`Table::Short`] not taken is made into a raw
/// entry and handed over again (a raw entry is made field by field, then validated key by
/// key). `None` outside the subset, or when `each` stopped. The top level and the defaults
/// are read in a first pass, which skips the `[[fd]]` tables' lines.
pub fn read<'a>(
    text: &'a str,
    mut each: impl FnMut(usize, Table<'_, 'a>) -> Option<bool>,
) -> Option<Top> {
    let Outline {
        fdholder,
        defaults,
        first,
    } = outline(text)?;
    let empty = RawEntry::default();
    let shared = defaults.as_ref().map_or(&empty, Spanned::get_ref);
    let mut lines = Lines { text, pos: first };
    let mut index = 0;
    // `Lines::begin`'s buffer, kept from one table to the next.
    let mut pairs: [Option<Pair<'_>>; 3] = [None, None, None];
    let mut header = lines.next()?;
    loop {
        match header {
            None => break,
            Some(Line::Fd(span)) => {
                let begun = match lines.begin(&mut pairs)? {
                    Begun::Short { kind, path, end } => {
                        let short = Table::Short {
                            span: span.clone(),
                            kind: kind.0,
                            path: path.0,
                        };
                        if each(index, short)? {
                            index += 1;
                            header = end;
                            continue;
                        }
                        Begun::Short { kind, path, end }
                    }
                    other => other,
                };
                // Made where it stays: a RawEntry is over a kilobyte. What `begin` read goes
                // in first, then the rest of the table, if `begin` did not meet its end.
                let mut table = Spanned::new(span, RawEntry::default());
                let raw = table.get_mut();
                let next = match begun {
                    Begun::Short { kind, path, end } => {
                        raw.set_plain("kind", kind.1, Plain::Str(kind.0))?;
                        raw.set_plain("path", path.1, Plain::Str(path.0))?;
                        end
                    }
                    Begun::Other { read, end } => {
                        for (key, span, value) in pairs[..read].iter_mut().filter_map(Option::take)
                        {
                            raw.set_plain(key, span, value)?;
                        }
                        match end {
                            Some(end) => end,
                            None => lines.table(raw)?,
                        }
                    }
                };
                each(index, Table::Raw(&mut table, shared))?;
                index += 1;
                header = next;
            }
            // Read again, and dropped: the first pass has it.
            Some(Line::Defaults(_)) => header = lines.table(&mut RawEntry::default())?,
            Some(Line::Empty | Line::Pair(..)) => return None,
        }
    }
    Some((fdholder, defaults))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse::{RawConfig, parse_str};

    /// The subset's reading of `text` as a [`RawConfig`], if it takes it.
    fn plain(text: &str) -> Option<RawConfig> {
        let mut fd = Vec::new();
        let (fdholder, defaults) = read(text, |_, t| {
            if let Table::Raw(e, _) = t {
                fd.push(e.clone());
            }
            Some(false)
        })?;
        Some(RawConfig {
            fdholder,
            defaults,
            fd,
        })
    }

    /// Texts the subset takes: it must read them exactly as toml does.
    /// The pair search finds what `str::find` finds, in texts shorter and longer than a
    /// vector, at every place, and around the false starts of `[[fd]]` headers.
    #[test]
    fn search_finds_what_find_finds() {
        let search = Search::new(b"[defaults]");
        let entry = "[[fd]]\nkind = \"unix\"\npath = \"/run/a[d]\"\n";
        for n in 0..40 {
            let head = entry.repeat(n % 5) + &"x".repeat(n);
            for tail in ["", "[defaults]", "[defaults]\n[[fd]]\n", "[default]", "[d"] {
                let text = format!("{head}{tail}");
                assert_eq!(
                    search.find(text.as_bytes()),
                    text.find("[defaults]"),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn reads_as_toml_does() {
        let texts = [
            "",
            "\n\n# only a comment\n",
            "fdholder = \"/run/s\"\n",
            "fdholder = '/run/s' # c\r\n[[fd]]\r\nkind = \"unix\"\r\npath = \"/a\"\r\n",
            "[[fd]]\nkind = \"unix\"\npath = \"/run/a.sock\"\nbacklog = -0\nmode = \"0600\"\nowner = 0\ngroup = \"root\"\n",
            "  [[fd]]   # x\n\tkind\t=\t\"tcp\"\nlisten = \"127.0.0.1:80\"\nreuse-port = true\nnodelay = false\nbacklog = +17\n",
            "[[fd]]\nkind = \"unix\"\npath = \"/a\"\nsymlinks = [\"/b\", '/c',]\n[[fd]]\nkind = \"fifo\"\npath = \"/f\"\nsymlinks = []\n",
            "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n[defaults]\nlifetime = \"1h\"\n[[fd]]\nkind = \"file\"\npath = \"/x\"\nopen = \"read-write\"\nexpires = \"2030-01-01T00:00:00Z\"\n",
            "[defaults]\n[[fd]]\nkind = \"unix\"\npath = \"/é ü\"\nsocket = \"seqpacket\"\nname = \"\"\n",
            "[[fd]]\nkind = \"unix\"\npath = \"/a\"",
            "[[fd]]\nkind = \"unix\"\npath = \"/[defaults]\" # [defaults]\n \t[defaults] \nlifetime = \"1h\"\n[[fd]]\nkind = \"unix\"\npath = \"/b\"\n",
            // What `Lines::begin` reads of a table, then hands on: `kind` and `path` as
            // most write them and then another key, a blank line or a comment; one of
            // them only; written otherwise, in either order; and a table after each.
            "[[fd]]\nkind = \"unix\"\npath = \"/a\"\nmode = \"0600\"\n[[fd]]\nkind = \"unix\"\npath = \"/b\"\n",
            "[[fd]]\nkind = \"unix\"\npath = \"/a\"\n\n# c\n[[fd]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:1\"\n",
            "[[fd]]\nkind = \"unix\"\npath = '/a'\nbacklog = 1\n[defaults]\nlifetime = \"1h\"\n",
            "[[fd]]\nkind = \"fifo\"\n[[fd]]\npath = \"/a\"\n[[fd]]\n[[fd]]\nkind = \"file\"\npath = \"/f\"\ncreate = true\n",
            "[[fd]]\npath = \"/a\"\nkind = \"unix\"\n[[fd]]\n  kind = \"unix\"\n  path = \"/b\"  \n",
            "[[fd]]\nkind = \"unix\"\npath = \"/a\"\nsymlinks = [\"/b\"]\nname = \"n\"\n[[fd]]\nkind = \"unix\"\npath = \"/c\"",
        ];
        for text in texts {
            let ours = plain(text).unwrap_or_else(|| panic!("not plain: {text:?}"));
            let toml = parse_str(text).unwrap();
            assert_eq!(format!("{ours:?}"), format!("{toml:?}"), "{text:?}");
        }
    }

    /// Texts outside the subset, valid TOML or not: toml must have them.
    #[test]
    fn leaves_the_rest_to_toml() {
        let texts = [
            "[[fd]]\nkind = \"unix\"\npath = \"/a\\u0041\"\n",
            "[[fd]]\nkind = \"file\"\npath = \"/x\"\nexpires = 2030-01-01T00:00:00Z\n",
            "[[ fd ]]\nkind = \"unix\"\npath = \"/a\"\n",
            "[[fd]]\nkind = \"unix\"\nkind = \"unix\"\n",
            "[[fd]]\nkind = \"unix\"\npath = \"/a\"\nkind = \"unix\"\n",
            "[[fd]]\nkind = \"unix\"\npath = \"/a\"\npath = \"/b\"\n[[fd]]\n",
            "[[fd]]\npath = \"/a\"\nkind = 1\n",
            "[[fd]]\nkind = \"unix\"\npath = [\"/a\"]\n",
            "[[fd]]\nkind = \"sock\"\n",
            "[[fd]]\nbacklog = \"x\"\n",
            "[[fd]]\nbacklog = 1_000\n",
            "[[fd]]\nbacklog = 010\n",
            "[[fd]]\nbacklog = 99999999999999999999\n",
            "[[fd]]\nbacklog = 1.5\n",
            "[[fd]]\nbogus = 1\n",
            "[[fd]]\n\"kind\" = \"unix\"\n",
            "[[fd]]\nkind = \"\"\"unix\"\"\"\n",
            "[[fd]]\nkind = ''\n'",
            "[[fd]]\nkind = \"unix\" x\n",
            "[[fd]]\nkind = \"unix\"\rpath = \"/a\"\n",
            "[[fd]]\nkind = \"un\u{7f}ix\"\n",
            "[[fd]]\n# a \u{1} comment\n",
            "fd = []\n",
            "fdholder = \"/a\"\nfdholder = \"/b\"\n",
            "[[fd]]\nfdholder = \"/a\"\n",
            "[defaults]\n[defaults]\n",
            "[[fd]]\n[defaults]\n[[fd]]\n  [defaults]\n",
            "[defaults.x]\n",
            "[other]\n",
            "[[fd]]\nsymlinks = [\"/a\" \"/b\"]\n",
            "[[fd]]\nsymlinks = [,]\n",
            "[[fd]]\nsymlinks = [1]\n",
            "[[fd]]\ntrue = 1\n",
            "[[fd]]\ncreate = trueish\n",
            "[[fd]]\nkind =\n",
            "\u{feff}[[fd]]\n",
        ];
        for text in texts {
            assert!(plain(text).is_none(), "taken: {text:?}");
        }
    }
}
