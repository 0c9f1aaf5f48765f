//! What a daemon holds: a getdump when it can be had, else the ids from list, and why.
//!
//! getdump can fail for two ordinary reasons, and list still answers "which ids": the rules may
//! deny getdump (EPERM), and Debian's s6 2.11 daemon drops the connection on a getdump of more
//! than 253 fds (docs/PROTOCOL.md, defect 3), after which a second connection asks list.

use std::path::Path;

use nix::errno::Errno;

use crate::conn::Deadline;
use crate::error::{Error, Op};
use crate::frame::MAX_SEND_FDS;
use crate::proto::{Client, HeldFd};

/// Where a report of what is held came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// getdump: every fd, described.
    Getdump,
    /// list: only the ids.
    List,
}

/// Why only the ids from list are known, not a getdump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// The daemon's rules do not grant getdump.
    Denied,
    /// The daemon dropped the connection during getdump; it holds this many fds, more
    /// than one message can carry.
    TooLarge(usize),
}

impl Fallback {
    /// A stable name for programs: `getdump-denied` or `getdump-too-large`.
    pub fn code(self) -> &'static str {
        match self {
            Fallback::Denied => "getdump-denied",
            Fallback::TooLarge(_) => "getdump-too-large",
        }
    }
}

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fallback::Denied => {
                write!(f, "the daemon's rules do not grant {}", Op::Getdump.right())
            }
            Fallback::TooLarge(n) => write!(
                f,
                "the daemon dropped the connection during getdump: it holds {n} fds, more \
                 than the {MAX_SEND_FDS} one message can carry (a daemon built on skalibs \
                 before 2.14 cannot send them)"
            ),
        }
    }
}

impl Source {
    /// The request's name: `getdump` or `list`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Getdump => "getdump",
            Source::List => "list",
        }
    }
}

/// Why [`fetch`] could not learn what the daemon holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchError {
    /// Connecting to the daemon failed.
    Connect(Error),
    /// This request failed.
    Request(Op, Error),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Connect(e) => write!(f, "unable to connect: {e}"),
            FetchError::Request(op, e) => write!(f, "unable to {}: {e}", op.task()),
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Connect(e) | FetchError::Request(_, e) => Some(e),
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

impl Holdings {
    /// Which request answered.
    pub fn source(&self) -> Source {
        match self {
            Holdings::Dump(_) => Source::Getdump,
            Holdings::Ids(..) => Source::List,
        }
    }
}

/// Connects to the daemon at `socket` and asks what it holds: getdump, or list when
/// getdump is denied or breaks on a large dump. `deadline` covers everything, a second
/// connection included. Returns the connection still open, for more requests.
pub fn fetch(socket: &Path, deadline: Deadline) -> Result<(Client, Holdings), FetchError> {
    Pending::start(socket, deadline).finish(deadline)
}

/// A [`fetch`] begun: connected and the getdump sent, its answer not read yet, so that the
/// daemon prepares it while the caller does other work (config mode reads its file).
/// Whatever failed is told by [`Pending::finish`], not before: a caller can still give an
/// error of its own first. Nothing here waits: a daemon whose backlog is full is connected
/// to by `finish`, within its deadline.
#[derive(Debug)]
pub struct Pending {
    socket: std::path::PathBuf,
    sent: Sent,
}

/// How far [`Pending::start`] got.
#[derive(Debug)]
enum Sent {
    /// Connected, the getdump sent.
    Asked(Client),
    /// The daemon's backlog is full: connecting is left to [`Pending::finish`].
    Later,
    /// Connecting or sending failed.
    Failed(FetchError),
}

/// Sends the getdump on `client`.
fn ask(mut client: Client) -> Result<Client, FetchError> {
    match client.getdump_request() {
        Ok(()) => Ok(client),
        Err(e) => Err(FetchError::Request(Op::Getdump, e)),
    }
}

impl Pending {
    /// Connects to the daemon at `socket` and sends the getdump, if the daemon takes the
    /// connection at once.
    pub fn start(socket: &Path, deadline: Deadline) -> Pending {
        let sent = match Client::connect_now(socket, deadline) {
            Ok(Some(client)) => ask(client).map_or_else(Sent::Failed, Sent::Asked),
            Ok(None) => Sent::Later,
            Err(e) => Sent::Failed(FetchError::Connect(e)),
        };
        Pending {
            socket: socket.to_path_buf(),
            sent,
        }
    }

    /// The daemon's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Reads the answer, falling back to list as [`fetch`] does; `deadline` covers the
    /// rest of the exchange, a second connection included.
    pub fn finish(self, deadline: Deadline) -> Result<(Client, Holdings), FetchError> {
        let socket = &self.socket;
        let connect = || Client::connect(socket, deadline).map_err(FetchError::Connect);
        // The ids, and a new connection for the caller's next requests: Debian's s6 2.11
        // daemon sends a list reply larger than the socket's buffer again and again until
        // the client hangs up (docs/PROTOCOL.md, defect 7), so the connection that asked
        // list would answer the next request with a list reply.
        let list = |mut c: Client| {
            let ids = c.list().map_err(|e| FetchError::Request(Op::List, e))?;
            drop(c);
            Ok((connect()?, ids))
        };
        // The connection is gone: ask again on a new one, and blame the size only if it is
        // the cause.
        let closed = || match list(connect()?)? {
            (client, ids) if ids.len() > MAX_SEND_FDS => {
                let n = ids.len();
                Ok((client, Holdings::Ids(ids, Fallback::TooLarge(n))))
            }
            _ => Err(FetchError::Request(Op::Getdump, Error::Closed)),
        };
        let sent = match self.sent {
            Sent::Asked(client) => Ok(client),
            Sent::Later => connect().and_then(ask),
            Sent::Failed(e) => Err(e),
        };
        let mut client = match sent {
            Ok(client) => client,
            Err(FetchError::Request(_, Error::Closed)) => return closed(),
            Err(e) => return Err(e),
        };
        client.connection().set_deadline(deadline);
        match client.getdump_reply() {
            Ok(dump) => Ok((client, Holdings::Dump(dump))),
            Err(Error::Daemon(Op::Getdump, Errno::EPERM)) => {
                let (client, ids) = list(client)?;
                Ok((client, Holdings::Ids(ids, Fallback::Denied)))
            }
            Err(Error::Closed) => closed(),
            Err(e) => Err(FetchError::Request(Op::Getdump, e)),
        }
    }
}
