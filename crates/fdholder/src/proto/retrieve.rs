//! retrieve: `R` delete-flag(1) idlen(1) id NUL; the reply is `\0` with the fd attached,
//! or an errno.

use std::os::fd::OwnedFd;

use super::client::{Client, check_id, put_id, status_reply};
use crate::error::{Error, Op, ProtocolError};

/// Packs a retrieve request; `delete` also removes the fd from the daemon.
pub fn encode_retrieve(id: &[u8], delete: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(4 + id.len());
    b.push(b'R');
    b.push(u8::from(delete));
    put_id(&mut b, id);
    b
}

impl Client {
    /// Gets a copy of the fd held under `id`; with `delete`, the daemon lets go of it.
    pub fn retrieve(&mut self, id: &[u8], delete: bool) -> Result<OwnedFd, Error> {
        check_id(id).map_err(|e| Error::InvalidId(0, e))?;
        self.send(&encode_retrieve(id, delete), &[])?;
        let mut frame = self.conn.receive()?;
        let rest = status_reply(Op::Retrieve, &frame)?;
        if !rest.is_empty() || frame.fds.len() != 1 {
            return Err(ProtocolError::BadReply(Op::Retrieve, "a malformed retrieve reply").into());
        }
        frame
            .fds
            .pop()
            .ok_or(ProtocolError::BadReply(Op::Retrieve, "no fd in the reply").into())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout() {
        assert_eq!(super::encode_retrieve(b"xy", true), b"R\x01\x02xy\0");
        assert_eq!(super::encode_retrieve(b"z", false), b"R\0\x01z\0");
    }
}
