//! delete: `D` idlen(1) id NUL; the reply is an errno.

use super::put_id;

/// Packs a delete request.
pub fn encode_delete(id: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(3 + id.len());
    b.push(b'D');
    put_id(&mut b, id);
    b
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout() {
        assert_eq!(super::encode_delete(b"xy"), b"D\x02xy\0");
    }
}
