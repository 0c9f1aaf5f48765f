//! getdump: `?`; the reply is `\0` trips(u32) total(u32), then messages carrying the fds,
//! each with `tain(12) idlen(1) id NUL` per fd; or an errno.

use super::client::{Client, HeldFd, status_reply, take_entry};
use crate::error::{Error, Op, ProtocolError};

/// Packs a getdump request.
pub fn encode_getdump() -> Vec<u8> {
    vec![b'?']
}

impl Client {
    /// Copies of every fd the daemon holds, with their ids and limits.
    ///
    /// On any error, every fd received so far is closed.
    pub fn getdump(&mut self) -> Result<Vec<HeldFd>, Error> {
        self.getdump_request()?;
        self.getdump_reply()
    }

    /// The first half of [`Client::getdump`]: sends the request and returns, so that the
    /// daemon prepares its answer while the caller does other work.
    pub fn getdump_request(&mut self) -> Result<(), Error> {
        self.send(&encode_getdump(), &[])
    }

    /// The second half of [`Client::getdump`]: reads the answer to
    /// [`Client::getdump_request`].
    ///
    /// On any error, every fd received so far is closed.
    pub fn getdump_reply(&mut self) -> Result<Vec<HeldFd>, Error> {
        let bad = |what| Error::Protocol(ProtocolError::BadReply(Op::Getdump, what));
        let frame = self.conn.receive()?;
        if !frame.fds.is_empty() {
            return Err(bad("unexpected fds in a reply"));
        }
        let body = status_reply(Op::Getdump, &frame)?;
        let [t0, t1, t2, t3, n0, n1, n2, n3] = body[..] else {
            return Err(bad("a getdump header of the wrong length"));
        };
        let trips = u32::from_be_bytes([t0, t1, t2, t3]);
        let total = u32::from_be_bytes([n0, n1, n2, n3]) as usize;
        if (trips == 0) != (total == 0) {
            return Err(bad("a getdump header with an impossible trip count"));
        }
        // The trip count depends on the daemon's MAXFDS; the fd total is what we read to.
        let mut out = Vec::with_capacity(total.min(1 << 16));
        while out.len() < total {
            let frame = self.conn.receive()?;
            if frame.fds.is_empty() || frame.fds.len() > total - out.len() {
                return Err(bad("a getdump message with the wrong number of fds"));
            }
            let mut rest = &frame.payload[..];
            for fd in frame.fds {
                let (limit, id, tail) =
                    take_entry(rest).ok_or(bad("a malformed entry in a getdump message"))?;
                out.push(HeldFd {
                    fd,
                    id: id.to_vec(),
                    limit,
                });
                rest = tail;
            }
            if !rest.is_empty() {
                return Err(bad("trailing bytes in a getdump message"));
            }
        }
        Ok(out)
    }
}
