//! What ends a tool, and the exit code it ends with: decided in [`Fatal::exit_code`] (a
//! failure) and [`Outcome::exit_code`] (a success), and nowhere else.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (with `--exit-code`: and nothing changed, or would change) |
//! | 1 | the daemon refused: an errno reply, or a connection closed before any reply |
//! | 2 | with `--exit-code`: success, and the daemon's holdings changed (or would change) |
//! | 100 | bad command line, environment or configuration |
//! | 111 | a system call failed: connect, open, timeout, connection lost after a reply |

use std::fmt;
use std::path::PathBuf;

use fdholder::envdump::EnvError;
use fdholder::error::{Error, Op, SetdumpError, strerror};
use fdholder::held::FetchError;
use nix::errno::Errno;

use crate::config::diag::Located;
use crate::systemd::error::UnitError;
use crate::text::one_line;

/// Exit code: the daemon refused (an errno reply, or a connection it closed unanswered).
pub const EXIT_REFUSED: u8 = 1;
/// Exit code: bad command line, environment or configuration.
pub const EXIT_USAGE: u8 = 100;
/// Exit code: a system call failed (connect, open, timeout, connection lost).
pub const EXIT_SYSTEM: u8 = 111;

/// Exit code, with `--exit-code` only: the run changed what the daemon holds, or with
/// `--check` would change it.
pub const EXIT_CHANGED: u8 = 2;

/// How a successful run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Success, with no promise about changes: exit 0.
    Done,
    /// `--exit-code`: the daemon's holdings were left (or would be left) as they were.
    Unchanged,
    /// `--exit-code`: the daemon's holdings changed (or would change).
    Changed,
}

impl Outcome {
    /// The exit code of a success: 0, or [`EXIT_CHANGED`] for [`Outcome::Changed`].
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Done | Outcome::Unchanged => 0,
            Outcome::Changed => EXIT_CHANGED,
        }
    }
}

/// The exit code of a failed exchange with the daemon.
fn error_code(e: &Error) -> u8 {
    match e {
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

/// What ends the tool: one value per message it can die with.
#[derive(Debug)]
pub enum Fatal {
    /// The command line is wrong; the text says how.
    Usage(String),
    /// The environment is wrong (env mode).
    Env(EnvError),
    /// Connecting to the daemon failed.
    Connect(PathBuf, Error),
    /// The setdump failed.
    Setdump(SetdumpError),
    /// Another request to the daemon failed (the inspect tool's getdump or list).
    Request(Op, Error),
    /// Config mode could not learn what the daemon holds, to compare it with the file.
    Compare(Op, Error),
    /// A file named on the command line could not be read.
    Read(PathBuf, Errno),
    /// A systemd unit cannot be converted at all.
    Unit(UnitError),
    /// The output could not be written.
    Write(Errno),
    /// The config file is wrong; nothing was opened.
    Config(Located),
    /// Run as root, the config file (or a directory above it) could have been written by
    /// someone else: the file, and who.
    Untrusted(PathBuf, String),
    /// An fd of the config file could not be opened; what this run created was removed.
    Open(Located),
    /// `--replace-all` without `--force` would replace a pipe the daemon holds both ends
    /// of: its read id and its write id. Nothing was opened or sent.
    HeldPipe(String, String),
    /// A signal asked a config run to stop once everything was opened, before the setdump;
    /// what it opened and created was undone.
    Signalled(nix::sys::signal::Signal),
    /// s6-fdholder-activate could not retrieve this id; nothing was executed.
    Retrieve(String, Error),
    /// s6-fdholder-activate's selector matches no entry of the config file.
    Select(PathBuf, String),
    /// The retrieved fds could not be placed at 3, 4, ... or given their flags.
    Pass(Errno),
    /// The program to chain-load could not be executed.
    Exec(String, Errno),
    /// s6-fdholder-activate could not set up the sd_notify listener (`-3`, `-s`).
    Notify(Errno),
}

impl Fatal {
    /// The exit code for this failure: the one place where exit codes are decided.
    pub fn exit_code(&self) -> u8 {
        match self {
            Fatal::Usage(_)
            | Fatal::Env(_)
            | Fatal::Unit(_)
            | Fatal::Config(_)
            | Fatal::Untrusted(..)
            | Fatal::Select(..)
            | Fatal::HeldPipe(..) => EXIT_USAGE,
            Fatal::Read(..)
            | Fatal::Write(_)
            | Fatal::Open(_)
            | Fatal::Signalled(_)
            | Fatal::Pass(_)
            | Fatal::Exec(..)
            | Fatal::Notify(_) => EXIT_SYSTEM,
            Fatal::Retrieve(_, e) => error_code(e),
            Fatal::Connect(..) => EXIT_SYSTEM,
            Fatal::Request(_, e) | Fatal::Compare(_, e) => error_code(e),
            // A close after part of the dump was taken is `Error::Closed`, not a refusal: the
            // connection counts as answered from the first reply on.
            Fatal::Setdump(e) => error_code(&e.error),
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
            Fatal::HeldPipe(read, write) => write!(
                f,
                "refusing to replace the pipe held as {} and {}: the daemon holds both its \
                 ends, which a running pipeline may be using (--replace-all --force \
                 replaces it)",
                one_line(read),
                one_line(write)
            ),
            Fatal::Signalled(signal) => write!(
                f,
                "interrupted by {signal} before the setdump; everything this run opened and \
                 created is undone"
            ),
            Fatal::Retrieve(id, e) => {
                write!(f, "unable to retrieve fd for id {}: {e}", one_line(id))
            }
            Fatal::Select(file, sel) => write!(
                f,
                "{} declares no fd named {} or with that id",
                one_line(&file.to_string_lossy()),
                one_line(sel)
            ),
            Fatal::Pass(e) => write!(f, "unable to pass the fds: {}", strerror(*e)),
            Fatal::Notify(e) => write!(f, "unable to start the notify listener: {}", strerror(*e)),
            Fatal::Exec(prog, e) => {
                write!(f, "unable to exec {}: {}", one_line(prog), strerror(*e))
            }
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

impl From<EnvError> for Fatal {
    fn from(e: EnvError) -> Fatal {
        Fatal::Env(e)
    }
}

impl From<SetdumpError> for Fatal {
    fn from(e: SetdumpError) -> Fatal {
        Fatal::Setdump(e)
    }
}

impl std::error::Error for Fatal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Fatal::Env(e) => Some(e),
            Fatal::Connect(_, e) | Fatal::Request(_, e) | Fatal::Compare(_, e) => Some(e),
            Fatal::Setdump(e) => Some(e),
            Fatal::Read(_, e) | Fatal::Write(e) | Fatal::Pass(e) | Fatal::Exec(_, e) => Some(e),
            Fatal::Notify(e) => Some(e),
            Fatal::Retrieve(_, e) => Some(e),
            Fatal::Unit(e) => Some(e),
            Fatal::Config(e) | Fatal::Open(e) => Some(e),
            Fatal::Usage(_)
            | Fatal::Untrusted(..)
            | Fatal::HeldPipe(..)
            | Fatal::Signalled(_)
            | Fatal::Select(..) => None,
        }
    }
}

impl Fatal {
    /// What [`fdholder::held::fetch`]'s failure means to the tool asking `socket`.
    pub fn fetch(socket: &std::path::Path, e: FetchError) -> Fatal {
        match e {
            FetchError::Connect(e) => Fatal::Connect(socket.to_path_buf(), e),
            FetchError::Request(op, e) => Fatal::Request(op, e),
        }
    }
}

#[cfg(test)]
mod outcome_tests {
    use super::*;

    #[test]
    fn a_change_is_2_only_when_asked_for() {
        assert_eq!(Outcome::Done.exit_code(), 0);
        assert_eq!(Outcome::Unchanged.exit_code(), 0);
        assert_eq!(Outcome::Changed.exit_code(), EXIT_CHANGED);
        // A failure keeps its own code, whatever --exit-code says.
        let refused = Fatal::HeldPipe("r".into(), "w".into());
        assert_eq!(refused.exit_code(), EXIT_USAGE);
        assert_ne!(EXIT_CHANGED, EXIT_REFUSED);
    }
}
