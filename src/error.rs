//! Error kinds: what the client library reports, and what the tool dies of.
//!
//! [`Error`] is the library's: one value per way an exchange with s6-fdholderd can fail.
//! [`Fatal`] is the binary's: it adds the context of the message (`unable to set dump: …`)
//! and decides the exit code, in [`Fatal::exit_code`] and nowhere else.

use std::fmt;
use std::path::PathBuf;

use nix::errno::Errno;

use crate::config::diag::one_line;
use crate::frame::FrameError;
use crate::tai64n::Tain;

/// Exit code: the daemon refused (an errno reply, or a connection it closed unanswered).
pub const EXIT_REFUSED: u8 = 1;
/// Exit code: bad command line, environment or configuration.
pub const EXIT_USAGE: u8 = 100;
/// Exit code: a system call failed (connect, open, timeout, connection lost).
pub const EXIT_SYSTEM: u8 = 111;

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
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Frame(e) => write!(f, "{e}"),
            ProtocolError::ControlTruncated => f.write_str("fds were truncated in transit"),
            ProtocolError::UnexpectedControl => f.write_str("unexpected control message"),
            ProtocolError::BadReply(_, what) => f.write_str(what),
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

impl Error {
    /// The exit code this error maps to when it ends the tool.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Daemon(..) | Error::NotAllowed => EXIT_REFUSED,
            Error::InvalidId(..) | Error::InvalidLimit(..) | Error::TooMany(_) => EXIT_USAGE,
            Error::Connect(_)
            | Error::Timeout
            | Error::Interrupted
            | Error::Closed
            | Error::Sys(_)
            | Error::Protocol(_) => EXIT_SYSTEM,
        }
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

impl std::error::Error for Error {}

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

impl std::error::Error for SetdumpError {}

/// What ends the tool: one value per message it can die with.
#[derive(Debug)]
pub enum Fatal {
    /// The command line is wrong; the text says how.
    Usage(String),
    /// The environment is wrong (env mode).
    Env(crate::env::EnvError),
    /// Connecting to the daemon failed.
    Connect(PathBuf, Error),
    /// The setdump failed.
    Setdump(SetdumpError),
    /// Another request to the daemon failed (the inspect tool's getdump or list).
    Request(Op, Error),
    /// Config mode could not learn what the daemon holds, to compare it with the file.
    Compare(Op, Error),
    /// `--prune` could not delete this id; the file's fds were set.
    Prune(String, Error),
    /// A file named on the command line could not be read.
    Read(PathBuf, Errno),
    /// A systemd unit cannot be converted at all.
    Unit(crate::systemd::UnitError),
    /// The output could not be written.
    Write(Errno),
    /// The config file is wrong; nothing was opened.
    Config(crate::config::diag::Located),
    /// Run as root, the config file (or a directory above it) could have been written by
    /// someone else: the file, and who.
    Untrusted(PathBuf, String),
    /// An fd of the config file could not be opened; what this run created was removed.
    Open(crate::config::diag::Located),
    /// A signal asked a config run to stop once everything was opened, before the setdump;
    /// what it opened and created was undone.
    Interrupted(nix::sys::signal::Signal),
}

impl Fatal {
    /// The exit code for this failure: the one place where exit codes are decided.
    pub fn exit_code(&self) -> u8 {
        match self {
            Fatal::Usage(_)
            | Fatal::Env(_)
            | Fatal::Unit(_)
            | Fatal::Config(_)
            | Fatal::Untrusted(..) => EXIT_USAGE,
            Fatal::Connect(..)
            | Fatal::Read(..)
            | Fatal::Write(_)
            | Fatal::Open(_)
            | Fatal::Interrupted(_) => EXIT_SYSTEM,
            Fatal::Request(_, e) | Fatal::Compare(_, e) | Fatal::Prune(_, e) => e.exit_code(),
            // A close after part of the dump was taken is `Error::Closed`, not a refusal: the
            // connection counts as answered from the first reply on.
            Fatal::Setdump(e) => e.error.exit_code(),
        }
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fatal::Usage(s) => f.write_str(s),
            Fatal::Env(e) => write!(f, "{e}"),
            Fatal::Connect(path, e) => write!(
                f,
                "unable to connect to a fd-holder daemon at {}: {e}",
                path.display()
            ),
            Fatal::Setdump(e) => write!(f, "unable to set dump: {e}"),
            Fatal::Request(op, e) => write!(f, "unable to {}: {e}", op.task()),
            Fatal::Compare(op, e) => {
                write!(
                    f,
                    "unable to compare the file with what the daemon holds: unable to {}: {e}",
                    op.task()
                )?;
                if matches!(e, Error::Daemon(_, Errno::EPERM)) {
                    f.write_str(
                        "; it needs S6_FDHOLDER_GETDUMP or S6_FDHOLDER_LIST \
                         (--replace-all sets every fd without comparing)",
                    )?;
                }
                Ok(())
            }
            Fatal::Prune(id, e) => write!(
                f,
                "unable to delete {id}, held but not in the file: {e} \
                 (the file's fds were set)"
            ),
            Fatal::Read(path, e) => {
                write!(f, "unable to read {}: {}", path.display(), strerror(*e))
            }
            Fatal::Unit(e) => write!(f, "{e}"),
            Fatal::Write(e) => write!(f, "unable to write to stdout: {}", strerror(*e)),
            Fatal::Config(e) | Fatal::Open(e) => write!(f, "{e}"),
            Fatal::Untrusted(file, why) => write!(
                f,
                "refusing {}: {why}; run as root, a config file must be root's and writable \
                 by root alone, as must the directories above it \
                 (--allow-insecure-config takes it anyway)",
                one_line(&file.to_string_lossy())
            ),
            Fatal::Interrupted(signal) => write!(
                f,
                "interrupted by {signal} before the setdump; everything this run opened and \
                 created is undone"
            ),
        }
    }
}

impl Fatal {
    /// Prints `PROG: fatal: MESSAGE` (`usage:` for a bad command line) on stderr and returns
    /// the exit code: how every binary of the package ends on an error.
    pub fn report(&self, prog: &str) -> u8 {
        let kind = if matches!(self, Fatal::Usage(_)) {
            "usage"
        } else {
            "fatal"
        };
        eprintln!("{prog}: {kind}: {self}");
        self.exit_code()
    }
}

/// Prints `PROG: warning: MESSAGE` on stderr: something was left out, the run goes on.
pub fn warn(prog: &str, message: impl fmt::Display) {
    eprintln!("{prog}: warning: {message}");
}

impl From<crate::env::EnvError> for Fatal {
    fn from(e: crate::env::EnvError) -> Fatal {
        Fatal::Env(e)
    }
}

impl From<SetdumpError> for Fatal {
    fn from(e: SetdumpError) -> Fatal {
        Fatal::Setdump(e)
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
