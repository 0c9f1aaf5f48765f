//! One `sd_notify` datagram, read as systemd reads it: newline-separated `KEY=VALUE`
//! assignments, of which this tool acts on `READY=1`, `FDSTORE=1`, `FDSTOREREMOVE=1`,
//! `FDNAME=` and `FDPOLL=0`. Pure: bytes in, a [`Message`] out.

use std::fmt;

use crate::fdname::{self, NAME_MAX as FDNAME_MAX};

/// The name systemd gives stored fds whose message has no `FDNAME=`.
pub const DEFAULT_FDNAME: &str = "stored";

/// What one datagram asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// `READY=1`: the service is ready.
    pub ready: bool,
    /// `FDSTORE=1`: keep the fds attached to this datagram.
    pub fdstore: bool,
    /// `FDSTOREREMOVE=1`: forget the stored fds named by `FDNAME=`.
    pub fdstore_remove: bool,
    /// `FDNAME=`: the name of the fds stored or removed.
    pub fdname: Option<String>,
    /// `FDPOLL=0`: do not drop the stored fds when they hang up.
    pub no_poll: bool,
    /// The keys of the assignments this tool does not act on (`STATUS`, `MAINPID`,
    /// `WATCHDOG`, `RELOADING`, `STOPPING`, `EXTEND_TIMEOUT_USEC`, unknown ones), in order.
    pub ignored: Vec<String>,
}

/// Why a datagram was dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// The datagram is empty.
    Empty,
    /// The datagram is not UTF-8 text.
    NotText,
    /// This line is not `KEY=VALUE`.
    NotAnAssignment(String),
    /// `FDNAME=` holds a name systemd would refuse.
    BadName(String),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Empty => f.write_str("an empty notification"),
            Malformed::NotText => f.write_str("a notification that is not UTF-8 text"),
            Malformed::NotAnAssignment(l) => {
                write!(f, "a notification line that is not KEY=VALUE: {l:?}")
            }
            Malformed::BadName(n) => write!(
                f,
                "FDNAME={n:?}: a name is 1 to {FDNAME_MAX} printable ASCII characters, no ':'"
            ),
        }
    }
}

impl std::error::Error for Malformed {}

/// Whether `name` can name stored fds, by the rules of [`fdname::check`].
pub fn valid_fdname(name: &str) -> bool {
    fdname::check(name).is_ok()
}

/// Reads one datagram. A boolean is set by its value `1` only, as systemd reads these
/// (`READY=0` says nothing); an empty line, and a trailing newline, are allowed.
pub fn parse(datagram: &[u8]) -> Result<Message, Malformed> {
    if datagram.is_empty() {
        return Err(Malformed::Empty);
    }
    let text = std::str::from_utf8(datagram).map_err(|_| Malformed::NotText)?;
    let mut m = Message::default();
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        let Some((key, value)) = line.split_once('=') else {
            return Err(Malformed::NotAnAssignment(line.to_string()));
        };
        match key {
            "READY" => m.ready |= value == "1",
            "FDSTORE" => m.fdstore |= value == "1",
            "FDSTOREREMOVE" => m.fdstore_remove |= value == "1",
            "FDPOLL" => m.no_poll |= value == "0",
            "FDNAME" => {
                if !valid_fdname(value) {
                    return Err(Malformed::BadName(value.to_string()));
                }
                m.fdname = Some(value.to_string());
            }
            _ => m.ignored.push(key.to_string()),
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_acted_on() {
        let m = parse(b"READY=1\nSTATUS=up and running\nMAINPID=4\n").unwrap();
        assert!(m.ready && !m.fdstore);
        assert_eq!(m.ignored, ["STATUS", "MAINPID"]);
        let m = parse(b"FDSTORE=1\nFDNAME=web\nFDPOLL=0").unwrap();
        assert!(m.fdstore && m.no_poll && !m.ready);
        assert_eq!(m.fdname.as_deref(), Some("web"));
        let m = parse(b"FDSTOREREMOVE=1\nFDNAME=web\n").unwrap();
        assert!(m.fdstore_remove);
        assert!(!parse(b"READY=0").unwrap().ready);
        assert!(!parse(b"FDPOLL=1").unwrap().no_poll);
    }

    #[test]
    fn what_is_dropped() {
        assert_eq!(parse(b""), Err(Malformed::Empty));
        assert_eq!(parse(b"READY=1\n\xff"), Err(Malformed::NotText));
        assert_eq!(
            parse(b"READY=1\nhello\n"),
            Err(Malformed::NotAnAssignment("hello".into()))
        );
        for bad in ["", "a:b", "tab\there", &"x".repeat(256), "é"] {
            let d = format!("FDSTORE=1\nFDNAME={bad}");
            assert_eq!(
                parse(d.as_bytes()),
                Err(Malformed::BadName(bad.into())),
                "{bad:?}"
            );
        }
        assert!(valid_fdname(&"x".repeat(255)));
        assert!(valid_fdname("with space"));
    }
}
