//! The connection to the daemon, and what every operation's request and reply share: ids,
//! limits, the errno byte. The operations themselves are in the files beside this one.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

use crate::conn::{Connection, Deadline};
use crate::error::{Error, IdError, Op, ProtocolError};
use crate::frame::Frame;
use crate::tai64n::Tain;

/// The longest id the daemon accepts.
pub const MAX_ID_LEN: usize = 255;

/// Checks that `id` can name an fd: 1 to 255 bytes, no NUL.
pub fn check_id(id: &[u8]) -> Result<(), IdError> {
    match id.len() {
        0 => Err(IdError::Empty),
        n if n > MAX_ID_LEN => Err(IdError::TooLong(n)),
        // A look at every byte with no early exit, which the compiler does many bytes at a
        // time: `contains` went a byte or a word at a time, 100 instructions an id.
        _ if id.iter().fold(false, |nul, &b| nul | (b == 0)) => Err(IdError::Nul),
        _ => Ok(()),
    }
}

/// Checks that the daemon can keep `limit` as a deadline (the `i`-th of a request).
pub(crate) fn check_limit(i: usize, limit: Tain) -> Result<(), Error> {
    if limit.is_valid() {
        Ok(())
    } else {
        Err(Error::InvalidLimit(i, limit))
    }
}

/// Appends `idlen id NUL` to a request; the id must have passed [`check_id`].
pub(crate) fn put_id(buf: &mut Vec<u8>, id: &[u8]) {
    buf.push(id.len() as u8);
    buf.extend_from_slice(id);
    buf.push(0);
}

/// An fd to hand to the daemon in a setdump.
#[derive(Clone, Copy, Debug)]
pub struct DumpEntry<'a> {
    /// The fd; the daemon gets its own copy.
    pub fd: BorrowedFd<'a>,
    /// Its id, 1 to 255 bytes, no NUL.
    pub id: &'a [u8],
    /// When the daemon closes it.
    pub limit: Tain,
}

/// An fd the daemon holds, as getdump returns it.
#[derive(Debug)]
pub struct HeldFd {
    /// Our copy of the fd, close-on-exec.
    pub fd: OwnedFd,
    /// Its id.
    pub id: Vec<u8>,
    /// When the daemon closes it.
    pub limit: Tain,
}

/// A client connection to s6-fdholderd.
#[derive(Debug)]
pub struct Client {
    pub(super) conn: Connection,
}

impl Client {
    /// Connects to the daemon at `path`; `deadline` covers the connect and every operation.
    pub fn connect(path: &Path, deadline: Deadline) -> Result<Client, Error> {
        Connection::connect(path, deadline).map(Client::from_connection)
    }

    /// Connects to the daemon listening at `path` if it takes the connection at once
    /// ([`Connection::connect_now`]): `None` when its backlog is full.
    pub fn connect_now(path: &Path, deadline: Deadline) -> Result<Option<Client>, Error> {
        Connection::connect_now(path, deadline).map(|c| c.map(Client::from_connection))
    }

    /// A client over an existing connection.
    pub fn from_connection(conn: Connection) -> Client {
        Client { conn }
    }

    /// The underlying connection, e.g. to change its deadline.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Sends a request frame.
    pub(crate) fn send(&mut self, payload: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), Error> {
        self.conn.send(payload, fds)
    }

    /// Receives a reply that is one errno byte, and no fds.
    pub(crate) fn errno_reply(&mut self, op: Op) -> Result<Errno, Error> {
        let frame = self.conn.receive()?;
        expect_errno(op, &frame)
    }
}

/// `Ok` for errno 0, else the daemon's refusal.
pub(crate) fn daemon_result(op: Op, e: Errno) -> Result<(), Error> {
    if e as i32 == 0 {
        Ok(())
    } else {
        Err(Error::Daemon(op, e))
    }
}

/// Reads a one-byte errno reply that must carry no fds.
fn expect_errno(op: Op, frame: &Frame) -> Result<Errno, Error> {
    if !frame.fds.is_empty() {
        return Err(ProtocolError::BadReply(op, "unexpected fds in a reply").into());
    }
    match frame.payload[..] {
        [e] => errno_byte(op, e),
        _ => Err(ProtocolError::BadReply(op, "a reply of the wrong length").into()),
    }
}

/// The errno a reply's byte names. A byte the C library does not know is no answer at all:
/// nix would make it `UnknownErrno`, which equals 0 and so would read as success.
fn errno_byte(op: Op, byte: u8) -> Result<Errno, Error> {
    match Errno::from_raw(byte.into()) {
        Errno::UnknownErrno if byte != 0 => Err(ProtocolError::UnknownErrno(op, byte).into()),
        e => Ok(e),
    }
}

/// Splits a reply that starts with a status byte: `Ok(rest)` for 0, else the errno
/// (which must come alone and without fds).
pub(crate) fn status_reply(op: Op, frame: &Frame) -> Result<&[u8], Error> {
    match frame.payload.split_first() {
        None => Err(ProtocolError::BadReply(op, "an empty reply").into()),
        Some((0, rest)) => Ok(rest),
        Some(_) => daemon_result(op, expect_errno(op, frame)?).map(|()| &[][..]),
    }
}

/// Reads `tain(12) idlen(1) id NUL` from the front of `s`, returning the rest.
pub(crate) fn take_entry(s: &[u8]) -> Option<(Tain, &[u8], &[u8])> {
    let (tain, rest) = s.split_first_chunk::<{ Tain::PACKED_LEN }>()?;
    let (&idlen, rest) = rest.split_first()?;
    let idlen = usize::from(idlen);
    let id = rest.get(..idlen)?;
    match rest.get(idlen) {
        Some(0) if !id.is_empty() && !id.contains(&0) => {
            Some((Tain::unpack(tain), id, &rest[idlen + 1..]))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(check_id(b""), Err(IdError::Empty));
        assert_eq!(check_id(&[b'a'; 256]), Err(IdError::TooLong(256)));
        assert_eq!(check_id(b"a\0b"), Err(IdError::Nul));
        assert_eq!(check_id(&[b'a'; 255]), Ok(()));
    }

    #[test]
    fn entries() {
        let mut b = Tain::new(1, 2).pack().to_vec();
        put_id(&mut b, b"unix:/x");
        b.push(9);
        let (t, id, rest) = take_entry(&b).unwrap();
        assert_eq!(
            (t, id, rest),
            (Tain::new(1, 2), &b"unix:/x"[..], &[9u8][..])
        );
        b.truncate(b.len() - 2);
        assert!(take_entry(&b).is_none());
    }
}
