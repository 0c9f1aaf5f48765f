//! The inspect tool, `s6-fdholder-inspect`: the `ss` of an fd-holder. It shows what a
//! daemon holds, one row per fd, from a getdump whose fds it describes with
//! [`crate::fdinfo`]; and it converts systemd socket units ([`crate::systemd`]).
//!
//! When getdump cannot be had, the ids from list still answer "what is held": the rules may
//! deny getdump (EPERM), and Debian's s6 2.11 daemon drops the connection on a getdump of
//! more than 253 fds (PROTOCOL.md). Both fall back to list, and say so on stderr.

pub mod cli;
pub mod report;

use std::io::Write;
use std::path::Path;

use nix::errno::Errno;

use crate::conn::Deadline;
use crate::error::{Error, Fatal, Op, io_errno, strerror, warn};
use crate::frame::MAX_SEND_FDS;
use crate::proto::{Client, HeldFd};
use crate::tai64n::Tain;
use cli::{InspectOptions, PROG};
use report::{Report, show_id};

/// Why the tool showed ids from list instead of a getdump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// The daemon's rules do not grant getdump.
    Denied,
    /// The daemon dropped the connection during getdump; it holds this many fds, more
    /// than one message can carry.
    TooMany(usize),
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fallback::Denied => {
                write!(f, "the daemon's rules do not grant {}", Op::Getdump.right())
            }
            Fallback::TooMany(n) => write!(
                f,
                "the daemon dropped the connection during getdump: it holds {n} fds, more \
                 than the {MAX_SEND_FDS} one message can carry (a daemon built on skalibs \
                 before 2.14 cannot send them)"
            ),
        }
    }
}

/// What the daemon said it holds.
#[derive(Debug)]
pub enum Holdings {
    /// Every fd, from getdump.
    Dump(Vec<HeldFd>),
    /// Only the ids, from list, and why.
    Ids(Vec<Vec<u8>>, Fallback),
}

/// Asks the daemon at `socket` what it holds: getdump, or list when getdump is denied or
/// breaks on a large dump. `deadline` covers everything, a second connection included.
pub fn fetch(socket: &Path, deadline: Deadline) -> Result<Holdings, Fatal> {
    let connect =
        || Client::connect(socket, deadline).map_err(|e| Fatal::Connect(socket.to_path_buf(), e));
    let list = |c: &mut Client| c.list().map_err(|e| Fatal::Request(Op::List, e));
    let mut client = connect()?;
    match client.getdump() {
        Ok(dump) => Ok(Holdings::Dump(dump)),
        Err(Error::Daemon(Op::Getdump, Errno::EPERM)) => {
            Ok(Holdings::Ids(list(&mut client)?, Fallback::Denied))
        }
        // The connection is gone: ask again on a new one, and blame the size only if it
        // is the cause.
        Err(Error::Closed) => match list(&mut connect()?)? {
            ids if ids.len() > MAX_SEND_FDS => {
                let n = ids.len();
                Ok(Holdings::Ids(ids, Fallback::TooMany(n)))
            }
            _ => Err(Fatal::Request(Op::Getdump, Error::Closed)),
        },
        Err(e) => Err(Fatal::Request(Op::Getdump, e)),
    }
}

/// The failure to write the output.
fn write_error(e: std::io::Error) -> Fatal {
    Fatal::Write(io_errno(&e))
}

/// Writes `text` to stdout.
pub fn print(text: &str) -> Result<(), Fatal> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(write_error)
}

/// Runs the inspect tool against a daemon.
pub fn run(opts: &InspectOptions) -> Result<(), Fatal> {
    let report = match fetch(&opts.socket, Deadline::from_millis(opts.timeout_ms))? {
        Holdings::Dump(dump) => {
            let (report, failed) = Report::from_dump(&dump, Tain::now());
            for f in failed {
                warn(
                    PROG,
                    format_args!(
                        "unable to describe the fd held as {}: {}",
                        show_id(&f.id),
                        strerror(f.errno)
                    ),
                );
            }
            report
        }
        Holdings::Ids(ids, why) => {
            warn(PROG, format_args!("{why}: showing ids only, from list"));
            Report::from_ids(&ids)
        }
    };
    if opts.json {
        print(&report.to_json().map_err(|e| write_error(e.into()))?)
    } else {
        print(&report.to_table())
    }
}
