//! list: `L`; the reply is `\0` count(u32) then each id NUL-terminated, or an errno.

use super::client::{Client, status_reply};
use crate::error::{Error, Op, ProtocolError};

/// Packs a list request.
pub fn encode_list() -> Vec<u8> {
    vec![b'L']
}

/// Reads the ids out of a list reply's body (after the status byte).
pub fn decode_list(body: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let bad = |what| ProtocolError::BadReply(Op::List, what);
    let (count, ids) = body
        .split_first_chunk::<4>()
        .ok_or(bad("a short list reply"))?;
    let count = u32::from_be_bytes(*count) as usize;
    if ids.last().is_some_and(|&b| b != 0) {
        return Err(bad("an unterminated id in the list reply"));
    }
    let out: Vec<Vec<u8>> = match ids.split_last() {
        None => Vec::new(),
        Some((_, ids)) => ids.split(|&b| b == 0).map(<[u8]>::to_vec).collect(),
    };
    if out.len() != count || out.iter().any(Vec::is_empty) {
        return Err(bad("the list reply's count does not match its ids"));
    }
    Ok(out)
}

impl Client {
    /// The ids of every fd the daemon holds.
    ///
    /// Debian's s6 2.11 daemon sends a reply larger than the socket's buffer (about 200 KB
    /// of ids) again and again until the client hangs up: after such a list, ask nothing
    /// else on this connection ([`crate::held::fetch`] opens a new one).
    pub fn list(&mut self) -> Result<Vec<Vec<u8>>, Error> {
        self.send(&encode_list(), &[])?;
        let frame = self.conn.receive()?;
        if !frame.fds.is_empty() {
            return Err(ProtocolError::BadReply(Op::List, "unexpected fds in a reply").into());
        }
        Ok(decode_list(status_reply(Op::List, &frame)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(decode_list(b"\0\0\0\0").unwrap(), Vec::<Vec<u8>>::new());
        assert_eq!(
            decode_list(b"\0\0\0\x02ab\0c\0").unwrap(),
            vec![b"ab".to_vec(), b"c".to_vec()]
        );
        assert!(decode_list(b"\0\0\0\x02ab\0").is_err());
        assert!(decode_list(b"\0\0\0\x01ab").is_err());
        assert!(decode_list(b"\0\0\0\x02\0\0").is_err());
        assert!(decode_list(b"\0\0").is_err());
    }
}
