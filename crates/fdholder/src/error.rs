//! What can go wrong in an exchange with s6-fdholderd.
//!
//! [`Error`] has one value per way an operation can fail; [`SetdumpError`] adds how far a
//! setdump got. They carry what the library knows, and no exit code: what a failure means
//! to a program is the program's to decide.

use std::fmt;

use nix::errno::Errno;

use crate::frame::FrameError;
use crate::tai64n::Tain;

/// The protocol operation an error belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Store one fd.
    Store,
    /// Delete one id.
    Delete,
    /// Retrieve one fd.
    Retrieve,
    /// List held ids.
    List,
    /// Get every held fd.
    Getdump,
    /// Set many fds at once.
    Setdump,
}

impl Op {
    /// The part of the daemon's rules that grants this operation.
    pub fn right(self) -> &'static str {
        match self {
            Op::Store | Op::Delete => "S6_FDHOLDER_STORE_REGEX",
            Op::Retrieve => "S6_FDHOLDER_RETRIEVE_REGEX",
            Op::List => "S6_FDHOLDER_LIST",
            Op::Getdump => "S6_FDHOLDER_GETDUMP",
            Op::Setdump => "S6_FDHOLDER_SETDUMP",
        }
    }
}

impl Op {
    /// What the operation does, as the C tools' `unable to ...` messages say it.
    pub fn task(self) -> &'static str {
        match self {
            Op::Store => "store fd",
            Op::Delete => "delete fd",
            Op::Retrieve => "retrieve fd",
            Op::List => "get fd list",
            Op::Getdump => "get dump",
            Op::Setdump => "set dump",
        }
    }
}

/// How the peer broke the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// The byte stream is not a sequence of frames.
    Frame(FrameError),
    /// The kernel truncated the fds of a message (`MSG_CTRUNC`); they were closed.
    ControlTruncated,
    /// A control message other than `SCM_RIGHTS` arrived.
    UnexpectedControl,
    /// A reply of the wrong shape for the operation.
    BadReply(Op, &'static str),
    /// A reply whose errno byte is no errno this system knows.
    UnknownErrno(Op, u8),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Frame(e) => write!(f, "{e}"),
            ProtocolError::ControlTruncated => f.write_str("fds were truncated in transit"),
            ProtocolError::UnexpectedControl => f.write_str("unexpected control message"),
            ProtocolError::BadReply(_, what) => f.write_str(what),
            ProtocolError::UnknownErrno(_, byte) => {
                write!(f, "a reply whose errno byte {byte} is not an errno")
            }
        }
    }
}

impl std::error::Error for ProtocolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProtocolError::Frame(e) => Some(e),
            _ => None,
        }
    }
}

/// Why an fd id is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdError {
    /// The id is empty.
    Empty,
    /// The id is longer than 255 bytes.
    TooLong(usize),
    /// The id contains a NUL byte.
    Nul,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Empty => f.write_str("the id is empty"),
            IdError::TooLong(n) => write!(f, "the id is {n} bytes long, the most is 255"),
            IdError::Nul => f.write_str("the id contains a NUL byte"),
        }
    }
}

impl std::error::Error for IdError {}

/// A failed exchange with s6-fdholderd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// `connect(2)` to the daemon's socket failed.
    Connect(Errno),
    /// The deadline passed before the exchange was over.
    Timeout,
    /// The caller's interrupt fd became readable (a signal asked it to stop) while it
    /// waited for the daemon.
    Interrupted,
    /// The daemon answered the operation with this errno.
    Daemon(Op, Errno),
    /// The daemon closed the connection before answering anything: its rules do not let
    /// this client connect.
    NotAllowed,
    /// The connection closed after the daemon had answered at least once.
    Closed,
    /// A system call on the connection failed.
    Sys(Errno),
    /// The peer does not speak the protocol.
    Protocol(ProtocolError),
    /// An id given by the caller is not valid; nothing was sent.
    InvalidId(usize, IdError),
    /// A limit given by the caller has a second or more of nanoseconds, which would make
    /// the daemon die; nothing was sent.
    InvalidLimit(usize, Tain),
    /// More fds than one setdump can announce (2^32 - 1).
    TooMany(usize),
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Error {
        Error::Protocol(e)
    }
}

impl From<FrameError> for Error {
    fn from(e: FrameError) -> Error {
        Error::Protocol(ProtocolError::Frame(e))
    }
}

/// The C library's text for `e`, as the C tools print it with `strerror`. nix's own table
/// (`Errno::desc`) words several errnos differently, e.g. ENFILE and EBADF.
pub fn strerror(e: Errno) -> String {
    let code = e as i32;
    let text = std::io::Error::from_raw_os_error(code).to_string();
    // std appends the number to the C library's text; the C tools do not.
    match text.strip_suffix(&format!(" (os error {code})")) {
        Some(t) => t.to_owned(),
        None => text,
    }
}

/// The errno behind an I/O error; EIO when it has none.
pub fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EIO as i32))
}

/// Why the daemon's errno happened, in the terms of the s6-fdholder error-codes page.
fn daemon_meaning(op: Op, e: Errno) -> Option<String> {
    Some(match e {
        Errno::EPERM => format!(
            "the daemon's rules do not grant {} to this client",
            op.right()
        ),
        Errno::ENFILE => "the daemon is full: it would hold more fds than its -n maximum".into(),
        Errno::EBUSY => "the id is already in use".into(),
        Errno::ENOENT => "the daemon holds no fd under that id".into(),
        Errno::ENAMETOOLONG => "the id is too long".into(),
        Errno::EBADF => "an fd could not be passed to the daemon".into(),
        Errno::EPROTO => "the daemon did not understand the request".into(),
        _ => return None,
    })
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(e) | Error::Sys(e) => f.write_str(&strerror(*e)),
            Error::Timeout => f.write_str(&strerror(Errno::ETIMEDOUT)),
            Error::Interrupted => write!(
                f,
                "{} (a signal asked the run to stop)",
                strerror(Errno::EINTR)
            ),
            Error::Daemon(op, e) => match daemon_meaning(*op, *e) {
                Some(m) => write!(f, "{} ({m})", strerror(*e)),
                None => f.write_str(&strerror(*e)),
            },
            Error::NotAllowed => write!(
                f,
                "{} (the daemon closed the connection without answering: \
                 its rules do not allow this client to connect)",
                strerror(Errno::EPIPE)
            ),
            Error::Closed => write!(
                f,
                "{} (the daemon closed the connection)",
                strerror(Errno::EPIPE)
            ),
            Error::Protocol(p) => write!(f, "{} ({p})", strerror(Errno::EPROTO)),
            Error::InvalidId(i, e) => write!(f, "invalid id for fd {i}: {e}"),
            Error::InvalidLimit(i, t) => write!(
                f,
                "invalid limit for fd {i}: {t} has {} nanoseconds, a second or more",
                t.nanos()
            ),
            Error::TooMany(n) => write!(f, "{n} fds are more than one dump can carry"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect(e) | Error::Sys(e) | Error::Daemon(_, e) => Some(e),
            Error::Protocol(p) => Some(p),
            Error::InvalidId(_, e) => Some(e),
            _ => None,
        }
    }
}

/// A setdump that failed, with how far it got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetdumpError {
    /// What went wrong.
    pub error: Error,
    /// Fds the daemon had acknowledged, and so holds, when it went wrong.
    pub committed: usize,
    /// Fds in the dump.
    pub total: usize,
    /// When the daemon refused the dump as too large (ENFILE), how many fds it held, if
    /// its rules let this client list them.
    pub held: Option<usize>,
}

/// `n fd` or `n fds`.
fn fds(n: usize) -> String {
    format!("{n} fd{}", if n == 1 { "" } else { "s" })
}

impl fmt::Display for SetdumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.error, self.held) {
            // The daemon answers ENFILE when what it holds plus the dump exceeds its -n
            // maximum, which is therefore below their sum.
            (Error::Daemon(Op::Setdump, Errno::ENFILE), Some(held)) => write!(
                f,
                "{} (the daemon is full: it holds {} and cannot take {} more; \
                 its -n maximum is below {})",
                strerror(Errno::ENFILE),
                fds(held),
                self.total,
                held + self.total
            )?,
            _ => write!(f, "{}", self.error)?,
        }
        if self.committed > 0 {
            write!(
                f,
                "; the daemon had already taken {} of the {} fds",
                self.committed, self.total
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for SetdumpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts_are_the_c_librarys() {
        assert_eq!(strerror(Errno::ENFILE), "Too many open files in system");
        assert_eq!(strerror(Errno::EBADF), "Bad file descriptor");
        assert_eq!(strerror(Errno::ETIMEDOUT), "Connection timed out");
        assert_eq!(
            Error::Daemon(Op::Setdump, Errno::EBADF).to_string(),
            "Bad file descriptor (an fd could not be passed to the daemon)"
        );
    }

    #[test]
    fn a_full_daemon_says_what_it_holds_when_it_can() {
        let full = |held| SetdumpError {
            error: Error::Daemon(Op::Setdump, Errno::ENFILE),
            committed: 0,
            total: 3,
            held,
        };
        assert_eq!(
            full(Some(1)).to_string(),
            "Too many open files in system (the daemon is full: it holds 1 fd and cannot \
             take 3 more; its -n maximum is below 4)"
        );
        assert_eq!(
            full(None).to_string(),
            "Too many open files in system \
             (the daemon is full: it would hold more fds than its -n maximum)"
        );
    }
}
