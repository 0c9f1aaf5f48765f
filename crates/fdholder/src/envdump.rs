//! The environment format of a dump: `S6_FD#`, `S6_FD_i`, `S6_FDID_i` and `S6_FDLIMIT_i`,
//! as `s6-fdholder-getdump` writes them and `s6-fdholder-setdump` reads them. Pure: it
//! reads and writes `(name, value)` pairs, never the process's environment.
//!
//! The variables are read in one pass into slots indexed by `i`, so the work grows
//! linearly with the number of fds; the C tool's getenv per variable is quadratic. Every
//! variable is checked, in the C tool's order, and the first error is the C tool's.

use crate::proto::MAX_ID_LEN;
use crate::tai64n::{LabelError, Tain};
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;

/// One fd as the environment describes it: its id owned ([`parse`]) or borrowed from the
/// environment ([`parse_in_place`], `EnvFd<&[u8]>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFd<Id = Vec<u8>> {
    /// The fd number (`S6_FD_i`).
    pub fd: i32,
    /// Its id (`S6_FDID_i`).
    pub id: Id,
    /// Its limit (`S6_FDLIMIT_i`); `None` when unset, meaning no limit.
    pub limit: Option<Tain>,
}

/// The three per-fd variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarKind {
    /// `S6_FD_i`: the fd number.
    Fd,
    /// `S6_FDID_i`: the id.
    Id,
    /// `S6_FDLIMIT_i`: the TAI64N limit.
    Limit,
}

/// The name of an environment variable, as messages print it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    /// `S6_FD#`.
    Count,
    /// A per-fd variable with its index.
    Fd(VarKind, u32),
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Var::Count => f.write_str("S6_FD#"),
            Var::Fd(VarKind::Fd, i) => write!(f, "S6_FD_{i}"),
            Var::Fd(VarKind::Id, i) => write!(f, "S6_FDID_{i}"),
            Var::Fd(VarKind::Limit, i) => write!(f, "S6_FDLIMIT_{i}"),
        }
    }
}

/// Why a variable's value is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Not a plain decimal number.
    NotNumber,
    /// A number too large for its use.
    TooLarge,
    /// An empty id.
    EmptyId,
    /// An id over 255 bytes.
    LongId(usize),
    /// A bad TAI64N label.
    Label(LabelError),
    /// The fd number is not open in this process.
    NotOpen(i32),
}

/// A bad environment: the C tool's two message forms, with a reason where it helps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvError {
    /// `VAR not set`.
    NotSet(Var),
    /// `invalid $VAR`, and why.
    Invalid(Var, Invalid),
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvError::NotSet(v) => write!(f, "{v} not set"),
            EnvError::Invalid(v, why) => {
                write!(f, "invalid ${v}: ")?;
                match why {
                    Invalid::NotNumber => f.write_str("not a decimal number"),
                    Invalid::TooLarge => f.write_str("number too large"),
                    Invalid::EmptyId => f.write_str("empty id"),
                    Invalid::LongId(n) => write!(f, "id of {n} bytes, the most is {MAX_ID_LEN}"),
                    Invalid::Label(e) => write!(f, "{e}"),
                    Invalid::NotOpen(fd) => write!(f, "fd {fd} is not open"),
                }
            }
        }
    }
}

impl std::error::Error for EnvError {}

/// Reads an unsigned decimal as skalibs' `uint0_scan` does: digits only, leading zeros
/// allowed, nothing else, no overflow.
pub fn scan_u32(s: &[u8]) -> Result<u32, Invalid> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err(Invalid::NotNumber);
    }
    s.iter().try_fold(0u32, |n, &d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u32::from(d - b'0')))
            .ok_or(Invalid::TooLarge)
    })
}

/// The index in a variable name's suffix, only in the form the C tool looks up (`uint_fmt`:
/// no sign, no leading zero), so `S6_FD_01` is not `S6_FD_1`.
fn name_index(digits: &[u8]) -> Option<u32> {
    match digits {
        [b'0'] => Some(0),
        [b'1'..=b'9', ..] => scan_u32(digits).ok(),
        _ => None,
    }
}

/// Sorts one environment variable into the count or a per-fd slot candidate.
fn classify(name: &[u8]) -> Option<Option<(VarKind, u32)>> {
    let rest = name.strip_prefix(b"S6_FD")?;
    if rest == b"#" {
        return Some(None);
    }
    let (kind, digits) = if let Some(d) = rest.strip_prefix(b"_") {
        (VarKind::Fd, d)
    } else if let Some(d) = rest.strip_prefix(b"ID_") {
        (VarKind::Id, d)
    } else if let Some(d) = rest.strip_prefix(b"LIMIT_") {
        (VarKind::Limit, d)
    } else {
        return None;
    };
    name_index(digits).map(|i| Some((kind, i)))
}

/// Reads the dump the environment describes, owning the ids: [`parse_in_place`] over
/// `vars`, collected first so that they can be read twice.
///
/// Where a name appears twice the first wins, as with getenv. The first error, in the C
/// tool's order (`S6_FD#`, then for each i: `S6_FD_i`, `S6_FDID_i`, `S6_FDLIMIT_i`), is
/// the one reported.
pub fn parse<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<Vec<EnvFd>, EnvError>
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let vars: Vec<(K, V)> = vars.into_iter().collect();
    let fds = parse_in_place(vars.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))?;
    Ok(fds.iter().map(EnvFd::to_owned).collect())
}

impl EnvFd<&[u8]> {
    /// The same fd with its id copied out of the environment.
    pub fn to_owned(&self) -> EnvFd {
        EnvFd {
            fd: self.fd,
            id: self.id.to_vec(),
            limit: self.limit,
        }
    }
}

/// Reads the dump the environment describes without copying anything: the ids are borrowed
/// from the values, as env mode reads them from the process's environment in place. Two
/// passes over `vars` (which must be cheap to clone, such as an iterator over `environ`)
/// instead of a list of the variables found: the first finds `S6_FD#`, the second fills one
/// slot per fd ([`parse_counted`]). Errors as [`parse`] says.
pub fn parse_in_place<'a, I>(vars: I) -> Result<Vec<EnvFd<&'a [u8]>>, EnvError>
where
    I: IntoIterator<Item = (&'a OsStr, &'a OsStr)>,
    I::IntoIter: Clone,
{
    let vars = vars.into_iter();
    let mut count = None;
    let mut prefixed = 0usize;
    for (name, value) in vars.clone() {
        let name = name.as_bytes();
        if name.starts_with(b"S6_FD") {
            if name == b"S6_FD#" {
                count.get_or_insert(value);
            } else {
                prefixed += 1;
            }
        }
    }
    parse_counted(count, prefixed, vars)
}

/// [`parse_in_place`] in one pass, for a caller that has found `S6_FD#`'s value itself
/// (`count`, the first such variable's, as getenv finds it; `None` when unset) and knows
/// that `vars` holds at most `per_fd` per-fd variables (or variables at all): env mode,
/// which finds both in a walk over `environ` that reads a few bytes of each string, where
/// a pass of [`parse_in_place`] splits every variable. Errors as [`parse`] says.
pub fn parse_counted<'a, I>(
    count: Option<&'a OsStr>,
    per_fd: usize,
    vars: I,
) -> Result<Vec<EnvFd<&'a [u8]>>, EnvError>
where
    I: IntoIterator<Item = (&'a OsStr, &'a OsStr)>,
{
    let count = count.ok_or(EnvError::NotSet(Var::Count))?;
    let n = scan_count(count)?;
    // Slots past the number of per-fd variables cannot all be filled: the first gap, and
    // so the first error, lies within them. This bounds memory whatever S6_FD# says.
    let mut slots = new_slots(n.min(per_fd + 1));
    for (name, value) in vars {
        if let Some(Some((kind, i))) = classify(name.as_bytes()) {
            if let Some(slot) = slots.get_mut(i as usize) {
                slot[kind as usize].get_or_insert(value);
            }
        }
    }
    // Same layout, so this reuses the vector rather than copying it.
    Ok(check(slots, n)?
        .into_iter()
        .map(|e| EnvFd {
            fd: e.fd,
            id: e.id.as_bytes(),
            limit: e.limit,
        })
        .collect())
}

/// `S6_FD#`'s value, as a number of fds.
fn scan_count(count: &OsStr) -> Result<usize, EnvError> {
    scan_u32(count.as_bytes())
        .map(|n| n as usize)
        .map_err(|e| EnvError::Invalid(Var::Count, e))
}

/// `len` empty slots, one per fd: its `S6_FD_i`, `S6_FDID_i` and `S6_FDLIMIT_i` values.
fn new_slots<V>(len: usize) -> Vec<[Option<V>; 3]> {
    let mut slots = Vec::with_capacity(len);
    slots.resize_with(len, || [None, None, None]);
    slots
}

/// Checks every slot in the C tool's order, the first error winning; each fd's id is its
/// `S6_FDID_i` value, checked. Written as one `map` and `collect` over the slots so that the
/// result reuses their vector (std collects in place when the items fit): env mode's peak
/// memory is then one vector of n slots, not two.
fn check<V: AsRef<OsStr>>(slots: Vec<[Option<V>; 3]>, n: usize) -> Result<Vec<EnvFd<V>>, EnvError> {
    let out = slots
        .into_iter()
        .zip(0u32..)
        .map(|([fd, id, limit], i)| {
            let var = |k| Var::Fd(k, i);
            let fd = fd.ok_or(EnvError::NotSet(var(VarKind::Fd)))?;
            let fd = scan_u32(fd.as_ref().as_bytes())
                .and_then(|f| i32::try_from(f).map_err(|_| Invalid::TooLarge))
                .map_err(|e| EnvError::Invalid(var(VarKind::Fd), e))?;
            let id = id.ok_or(EnvError::NotSet(var(VarKind::Id)))?;
            match id.as_ref().len() {
                0 => return Err(EnvError::Invalid(var(VarKind::Id), Invalid::EmptyId)),
                l if l > MAX_ID_LEN => {
                    return Err(EnvError::Invalid(var(VarKind::Id), Invalid::LongId(l)));
                }
                _ => {}
            }
            let limit = limit
                .map(|l| Tain::parse_label_prefix(l.as_ref().as_bytes()))
                .transpose()
                .map_err(|e| EnvError::Invalid(var(VarKind::Limit), Invalid::Label(e)))?;
            Ok(EnvFd { fd, id, limit })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if out.len() < n {
        // Unreachable by the counting argument above, kept so no input can skip a check.
        return Err(EnvError::NotSet(Var::Fd(VarKind::Fd, out.len() as u32)));
    }
    Ok(out)
}

/// The variables that describe `fds`, in the order `s6-fdholder-getdump` sets them:
/// `S6_FD#` first, then for each fd its number, id and, unless it has none, its limit.
pub fn write<Id: AsRef<[u8]>>(fds: &[EnvFd<Id>]) -> Vec<(String, Vec<u8>)> {
    let mut vars = Vec::with_capacity(1 + 3 * fds.len());
    vars.push(("S6_FD#".to_owned(), fds.len().to_string().into_bytes()));
    for (i, e) in fds.iter().enumerate() {
        vars.push((format!("S6_FD_{i}"), e.fd.to_string().into_bytes()));
        vars.push((format!("S6_FDID_{i}"), e.id.as_ref().to_vec()));
        if let Some(limit) = e.limit {
            vars.push((format!("S6_FDLIMIT_{i}"), limit.to_string().into_bytes()));
        }
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    /// `super::parse`, checked against `parse_in_place` on the same variables: every test
    /// below runs both readers and they must agree, errors included.
    fn parse(v: Vec<(OsString, OsString)>) -> Result<Vec<EnvFd>, EnvError> {
        let pairs = || v.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()));
        let in_place =
            parse_in_place(pairs()).map(|fds| fds.iter().map(EnvFd::to_owned).collect::<Vec<_>>());
        // As env mode calls it: S6_FD# as getenv finds it, bounded by all the variables.
        let count = pairs()
            .find(|(k, _)| k.as_bytes() == b"S6_FD#")
            .map(|(_, v)| v);
        let counted = parse_counted(count, v.len(), pairs())
            .map(|fds| fds.iter().map(EnvFd::to_owned).collect::<Vec<_>>());
        let owned = super::parse(v);
        assert_eq!(in_place, owned);
        assert_eq!(counted, owned);
        owned
    }

    fn vars(v: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        v.iter().map(|(k, v)| (k.into(), v.into())).collect()
    }

    const LABEL: &str = "@400000006b04ee740abcdef0";

    #[test]
    fn reads_a_dump() {
        let got = parse(vars(&[
            ("PATH", "/bin"),
            ("S6_FDID_1", "b"),
            ("S6_FD_0", "007"),
            ("S6_FD#", "2"),
            ("S6_FDID_0", "a"),
            ("S6_FD_1", "8"),
            ("S6_FDLIMIT_1", LABEL),
            ("S6_FD_2", "99"),
        ]))
        .unwrap();
        assert_eq!(
            got,
            vec![
                EnvFd {
                    fd: 7,
                    id: b"a".to_vec(),
                    limit: None
                },
                EnvFd {
                    fd: 8,
                    id: b"b".to_vec(),
                    limit: Some(Tain::parse_label(LABEL.as_bytes()).unwrap())
                },
            ]
        );
    }

    #[test]
    fn c_order_of_errors() {
        use EnvError::*;
        let fd = |k, i| Var::Fd(k, i);
        let cases: &[(&[(&str, &str)], EnvError)] = &[
            (&[], NotSet(Var::Count)),
            (
                &[("S6_FD#", "")],
                Invalid(Var::Count, super::Invalid::NotNumber),
            ),
            (
                &[("S6_FD#", "+1")],
                Invalid(Var::Count, super::Invalid::NotNumber),
            ),
            (
                &[("S6_FD#", " 1")],
                Invalid(Var::Count, super::Invalid::NotNumber),
            ),
            (
                &[("S6_FD#", "4294967296")],
                Invalid(Var::Count, super::Invalid::TooLarge),
            ),
            (&[("S6_FD#", "4294967295")], NotSet(fd(VarKind::Fd, 0))),
            (
                &[("S6_FD#", "1"), ("S6_FD_0", "1")],
                NotSet(fd(VarKind::Id, 0)),
            ),
            (
                &[("S6_FD#", "1"), ("S6_FD_01", "1"), ("S6_FDID_0", "x")],
                NotSet(fd(VarKind::Fd, 0)),
            ),
            (
                &[("S6_FD#", "1"), ("S6_FD_0", "x"), ("S6_FDID_0", "")],
                Invalid(fd(VarKind::Fd, 0), super::Invalid::NotNumber),
            ),
            (
                &[
                    ("S6_FD#", "1"),
                    ("S6_FD_0", "2147483648"),
                    ("S6_FDID_0", "a"),
                ],
                Invalid(fd(VarKind::Fd, 0), super::Invalid::TooLarge),
            ),
            (
                &[("S6_FD#", "1"), ("S6_FD_0", "1"), ("S6_FDID_0", "")],
                Invalid(fd(VarKind::Id, 0), super::Invalid::EmptyId),
            ),
            (
                &[
                    ("S6_FD#", "1"),
                    ("S6_FD_0", "1"),
                    ("S6_FDID_0", "a"),
                    ("S6_FDLIMIT_0", ""),
                ],
                Invalid(
                    fd(VarKind::Limit, 0),
                    super::Invalid::Label(LabelError::NoAt),
                ),
            ),
            (
                &[
                    ("S6_FD#", "2"),
                    ("S6_FD_0", "1"),
                    ("S6_FDID_0", "a"),
                    ("S6_FDID_1", "b"),
                ],
                NotSet(fd(VarKind::Fd, 1)),
            ),
        ];
        for (v, want) in cases {
            assert_eq!(parse(vars(v)).unwrap_err(), *want, "{v:?}");
        }
        let long = "x".repeat(256);
        let v = vars(&[("S6_FD#", "1"), ("S6_FD_0", "1"), ("S6_FDID_0", &long)]);
        assert_eq!(
            parse(v).unwrap_err(),
            Invalid(fd(VarKind::Id, 0), super::Invalid::LongId(256))
        );
    }

    #[test]
    fn zero_and_first_duplicate_wins() {
        assert_eq!(parse(vars(&[("S6_FD#", "0")])).unwrap(), vec![]);
        let got = parse(vars(&[
            ("S6_FD#", "1"),
            ("S6_FD#", "x"),
            ("S6_FD_0", "3"),
            ("S6_FD_0", "4"),
            ("S6_FDID_0", "a"),
        ]))
        .unwrap();
        assert_eq!(got[0].fd, 3);
    }

    #[test]
    fn trailing_label_text_is_ignored_like_c() {
        let l = format!("{LABEL}zz");
        let got = parse(vars(&[
            ("S6_FD#", "1"),
            ("S6_FD_0", "1"),
            ("S6_FDID_0", "a"),
            ("S6_FDLIMIT_0", &l),
        ]))
        .unwrap();
        assert!(got[0].limit.is_some());
    }

    #[test]
    fn what_is_written_reads_back() {
        let fds = vec![
            EnvFd {
                fd: 3,
                id: b"unix:/run/a".to_vec(),
                limit: None,
            },
            EnvFd {
                fd: 40,
                id: b"b".to_vec(),
                limit: Some(Tain::parse_label(LABEL.as_bytes()).unwrap()),
            },
        ];
        let vars: Vec<(OsString, OsString)> = write(&fds)
            .into_iter()
            .map(|(k, v)| (k.into(), OsString::from_vec(v)))
            .collect();
        assert_eq!(vars[0], ("S6_FD#".into(), "2".into()));
        assert_eq!(parse(vars).unwrap(), fds);
    }

    #[test]
    fn messages() {
        assert_eq!(
            EnvError::NotSet(Var::Fd(VarKind::Id, 0)).to_string(),
            "S6_FDID_0 not set"
        );
        assert_eq!(
            EnvError::Invalid(Var::Count, super::Invalid::NotNumber).to_string(),
            "invalid $S6_FD#: not a decimal number"
        );
    }
}
