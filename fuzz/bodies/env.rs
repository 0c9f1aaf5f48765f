//! Fuzz body for env mode's parser: an arbitrary set of variables given to
//! `fdholder::envdump::parse`, whose answer must equal a plain reference that looks each
//! variable up by name the way the C tool's getenv does (first occurrence wins); and
//! `parse_in_place`, which env mode uses, must give the same answer.
//!
//! Input layout: one variable per line, `NAME=VALUE` split at the first `=`. To steer the
//! fuzzer toward names that matter, a name starting with byte 1, 2, 3 or 4 has it replaced
//! by `S6_FD#`, `S6_FD_`, `S6_FDID_` or `S6_FDLIMIT_`. Names and values may hold any other
//! byte, as `OsString`s can.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use fdholder::Tain;
use fdholder::envdump::{EnvError, EnvFd, Invalid, Var, VarKind};

/// The name prefixes that bytes 1 to 4 at the start of a name stand for.
const PREFIXES: [&[u8]; 4] = [b"S6_FD#", b"S6_FD_", b"S6_FDID_", b"S6_FDLIMIT_"];

/// The variables an input describes, in order.
pub fn vars(data: &[u8]) -> Vec<(OsString, OsString)> {
    data.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = match line.iter().position(|&b| b == b'=') {
                Some(i) => (&line[..i], &line[i + 1..]),
                None => (line, &[][..]),
            };
            let mut full = Vec::with_capacity(name.len() + 10);
            match name.split_first() {
                Some((&b @ 1..=4, rest)) => {
                    full.extend_from_slice(PREFIXES[usize::from(b - 1)]);
                    full.extend_from_slice(rest);
                }
                _ => full.extend_from_slice(name),
            }
            (OsString::from_vec(full), OsString::from_vec(value.to_vec()))
        })
        .collect()
}

/// A decimal number as the C tool reads it: digits only, at most `max`.
fn number(s: &[u8], max: u64) -> Result<u64, Invalid> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err(Invalid::NotNumber);
    }
    let mut n: u64 = 0;
    for &d in s {
        n = n * 10 + u64::from(d - b'0');
        if n > max {
            return Err(Invalid::TooLarge);
        }
    }
    Ok(n)
}

/// What env mode must make of `vars`, by looking every variable up by name.
pub fn reference(vars: &[(OsString, OsString)]) -> Result<Vec<EnvFd>, EnvError> {
    let mut env: HashMap<&[u8], &[u8]> = HashMap::new();
    for (name, value) in vars {
        env.entry(name.as_bytes()).or_insert(value.as_bytes());
    }
    let get = |name: String| env.get(name.as_bytes()).copied();
    let count = get("S6_FD#".into()).ok_or(EnvError::NotSet(Var::Count))?;
    let n = number(count, u32::MAX.into()).map_err(|e| EnvError::Invalid(Var::Count, e))?;
    let mut out = Vec::new();
    // Stops at the first variable not set, so this loop is bounded by the input's size.
    for i in 0..n as u32 {
        let var = |k| Var::Fd(k, i);
        let fd = get(format!("S6_FD_{i}")).ok_or(EnvError::NotSet(var(VarKind::Fd)))?;
        let fd =
            number(fd, i32::MAX as u64).map_err(|e| EnvError::Invalid(var(VarKind::Fd), e))? as i32;
        let id = get(format!("S6_FDID_{i}")).ok_or(EnvError::NotSet(var(VarKind::Id)))?;
        match id.len() {
            0 => return Err(EnvError::Invalid(var(VarKind::Id), Invalid::EmptyId)),
            l if l > 255 => return Err(EnvError::Invalid(var(VarKind::Id), Invalid::LongId(l))),
            _ => {}
        }
        let limit = get(format!("S6_FDLIMIT_{i}"))
            .map(Tain::parse_label_prefix)
            .transpose()
            .map_err(|e| EnvError::Invalid(var(VarKind::Limit), Invalid::Label(e)))?;
        out.push(EnvFd {
            fd,
            id: id.to_vec(),
            limit,
        });
    }
    Ok(out)
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let vars = vars(data);
    let got = fdholder::envdump::parse(vars.clone());
    assert_eq!(got, reference(&vars), "{vars:?}");
    // parse_in_place, and parse_counted as env mode calls it (S6_FD# as getenv finds it,
    // bounded by the number of variables): the same answer, ids borrowed.
    let pairs = || vars.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()));
    let in_place = fdholder::envdump::parse_in_place(pairs())
        .map(|fds| fds.iter().map(EnvFd::to_owned).collect::<Vec<_>>());
    assert_eq!(in_place, got, "{vars:?}");
    let count = pairs()
        .find(|(k, _)| k.as_bytes() == b"S6_FD#")
        .map(|(_, v)| v);
    let counted = fdholder::envdump::parse_counted(count, vars.len(), pairs())
        .map(|fds| fds.iter().map(EnvFd::to_owned).collect::<Vec<_>>());
    assert_eq!(counted, got, "{vars:?}");
    if let Err(e) = got {
        // Every error names a variable and can be printed.
        assert!(!e.to_string().is_empty());
    }
}
