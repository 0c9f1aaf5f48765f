//! Why a systemd unit cannot be converted at all: below everything that reports it.

use std::fmt;
use std::path::PathBuf;

use super::specifiers::InstanceError;

/// Why a unit cannot be converted at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitError {
    /// The file is not UTF-8 text; the line of the first bad byte.
    NotUtf8(PathBuf, usize),
    /// Nothing in it is a socket or FIFO config mode can open.
    Nothing(PathBuf),
    /// The TOML could not be written.
    Toml(String),
    /// A carried-over value has a specifier that cannot be resolved: the line, and
    /// `Key=value: why`.
    Specifier(PathBuf, usize, String),
    /// `--instance` does not go with this unit, or is no instance name.
    Instance(PathBuf, InstanceError),
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitError::NotUtf8(p, line) => write!(f, "{}:{line}: not UTF-8 text", p.display()),
            UnitError::Nothing(p) => write!(
                f,
                "{}: no ListenStream, ListenDatagram, ListenSequentialPacket, ListenFIFO, ListenNetlink or \
                 ListenSpecial \
                 that can be carried over",
                p.display()
            ),
            UnitError::Toml(e) => write!(f, "unable to write TOML: {e}"),
            UnitError::Specifier(p, line, why) => write!(f, "{}:{line}: {why}", p.display()),
            UnitError::Instance(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for UnitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UnitError::Instance(_, e) => Some(e),
            _ => None,
        }
    }
}
