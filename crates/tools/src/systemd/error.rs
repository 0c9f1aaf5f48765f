//! Why a systemd unit cannot be converted at all: below everything that reports it.

use std::fmt;
use std::path::PathBuf;

/// Why a unit cannot be converted at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitError {
    /// The file is not UTF-8 text; the line of the first bad byte.
    NotUtf8(PathBuf, usize),
    /// Nothing in it is a socket or FIFO config mode can open.
    Nothing(PathBuf),
    /// The TOML could not be written.
    Toml(String),
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitError::NotUtf8(p, line) => write!(f, "{}:{line}: not UTF-8 text", p.display()),
            UnitError::Nothing(p) => write!(
                f,
                "{}: no ListenStream, ListenDatagram, ListenSequentialPacket or ListenFIFO \
                 that can be carried over",
                p.display()
            ),
            UnitError::Toml(e) => write!(f, "unable to write TOML: {e}"),
        }
    }
}

impl std::error::Error for UnitError {}
