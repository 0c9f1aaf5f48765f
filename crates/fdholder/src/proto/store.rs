//! store: `S` tain(12) idlen(1) id NUL, one fd attached; the reply is an errno.

use std::os::fd::AsFd;

use super::client::{Client, check_id, check_limit, daemon_result, put_id};
use crate::error::{Error, Op};
use crate::tai64n::Tain;

/// Packs a store request.
pub fn encode_store(id: &[u8], limit: Tain) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + id.len());
    b.push(b'S');
    b.extend_from_slice(&limit.pack());
    put_id(&mut b, id);
    b
}

impl Client {
    /// Stores `fd` under `id` until `limit`.
    pub fn store(&mut self, fd: impl AsFd, id: &[u8], limit: Tain) -> Result<(), Error> {
        check_id(id).map_err(|e| Error::InvalidId(0, e))?;
        check_limit(0, limit)?;
        let req = encode_store(id, limit);
        self.send(&req, &[fd.as_fd()])?;
        daemon_result(Op::Store, self.errno_reply(Op::Store)?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout() {
        let b = super::encode_store(b"ab", crate::tai64n::Tain::new(0x0102, 3));
        assert_eq!(b, b"S\0\0\0\0\0\0\x01\x02\0\0\0\x03\x02ab\0");
    }
}
