//! delete: `D` idlen(1) id NUL; the reply is an errno.

use super::client::{Client, check_id, daemon_result, put_id};
use crate::error::{Error, Op};

/// Packs a delete request.
pub fn encode_delete(id: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(3 + id.len());
    b.push(b'D');
    put_id(&mut b, id);
    b
}

impl Client {
    /// Deletes (and so closes) the fd held under `id`.
    pub fn delete(&mut self, id: &[u8]) -> Result<(), Error> {
        check_id(id).map_err(|e| Error::InvalidId(0, e))?;
        self.send(&encode_delete(id), &[])?;
        daemon_result(Op::Delete, self.errno_reply(Op::Delete)?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout() {
        assert_eq!(super::encode_delete(b"xy"), b"D\x02xy\0");
    }
}
