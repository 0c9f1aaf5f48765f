//! store: `S` tain(12) idlen(1) id NUL, one fd attached; the reply is an errno.

use super::put_id;
use crate::tai64n::Tain;

/// Packs a store request.
pub fn encode_store(id: &[u8], limit: Tain) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + id.len());
    b.push(b'S');
    b.extend_from_slice(&limit.pack());
    put_id(&mut b, id);
    b
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout() {
        let b = super::encode_store(b"ab", crate::tai64n::Tain::new(0x0102, 3));
        assert_eq!(b, b"S\0\0\0\0\0\0\x01\x02\0\0\0\x03\x02ab\0");
    }
}
