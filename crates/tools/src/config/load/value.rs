//! The values of the plain subset of TOML ([`super::plain`]), and how each type of a raw
//! entry's fields is made from one as toml would make it (the raw structs' own types in
//! [`super::parse`]). Below the reader and the raw structs: both use it, it uses neither.

/// A value of the subset, borrowed from the text.
#[derive(Debug)]
pub enum Plain<'a> {
    /// A string.
    Str(&'a str),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// An array of strings.
    Strs(Vec<&'a str>),
}

/// A [`RawEntry`](super::parse::RawEntry) field's type, made from a [`Plain`] value as toml would make it.
pub trait FromPlain: Sized {
    /// The value, or `None` where toml would refuse or read it otherwise.
    fn from_plain(v: Plain<'_>) -> Option<Self>;
}

impl FromPlain for String {
    fn from_plain(v: Plain<'_>) -> Option<String> {
        match v {
            Plain::Str(s) => Some(s.to_string()),
            _ => None,
        }
    }
}

impl FromPlain for i64 {
    fn from_plain(v: Plain<'_>) -> Option<i64> {
        match v {
            Plain::Int(n) => Some(n),
            _ => None,
        }
    }
}

impl FromPlain for bool {
    fn from_plain(v: Plain<'_>) -> Option<bool> {
        match v {
            Plain::Bool(b) => Some(b),
            _ => None,
        }
    }
}

impl FromPlain for Vec<String> {
    fn from_plain(v: Plain<'_>) -> Option<Vec<String>> {
        match v {
            Plain::Strs(v) => Some(v.into_iter().map(str::to_string).collect()),
            _ => None,
        }
    }
}
