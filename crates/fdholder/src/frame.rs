//! The skalibs "unixmessage" frame codec, with no I/O.
//!
//! A frame is a 6-byte header (payload length, u32 big-endian; fd count, u16 big-endian)
//! then the payload. Its fds travel as `SCM_RIGHTS` on the `sendmsg` that carries the
//! header, so they reach the receiver no later than the header's first byte. The
//! [`Decoder`] is fed bytes and fds in arrival order and hands out whole frames; keeping it
//! free of syscalls lets it be tested and fuzzed on arbitrary chunkings.

use std::collections::VecDeque;
use std::fmt;
use std::os::fd::OwnedFd;

/// Size of a frame header.
pub const HEADER_LEN: usize = 6;
/// Largest payload skalibs accepts (2^28 bytes).
pub const MAX_PAYLOAD: usize = 1 << 28;
/// Most fds this crate sends in one frame: Linux's `SCM_MAX_FD`, skalibs 2.14's MAXFDS.
pub const MAX_SEND_FDS: usize = 253;
/// Most fds accepted in one received frame: older skalibs (2.13 and before) use 255.
pub const MAX_RECV_FDS: usize = 255;

/// A received frame: its payload and the fds that came with it (closed on drop).
#[derive(Debug, Default)]
pub struct Frame {
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The fds attached to the frame, close-on-exec.
    pub fds: Vec<OwnedFd>,
}

/// Why a byte stream is not a valid sequence of frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The header announces a payload larger than [`MAX_PAYLOAD`].
    PayloadTooLarge(u32),
    /// The header announces more fds than [`MAX_RECV_FDS`].
    TooManyFds(u16),
    /// The frame is complete but fewer fds than announced arrived with it.
    MissingFds {
        /// Fds the header announced.
        announced: u16,
        /// Fds that had arrived.
        received: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::PayloadTooLarge(n) => write!(f, "frame announces {n} bytes of payload"),
            FrameError::TooManyFds(n) => write!(f, "frame announces {n} fds"),
            FrameError::MissingFds {
                announced,
                received,
            } => write!(
                f,
                "frame announced {announced} fds but {received} came with it"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Encodes the header of a frame with `payload_len` bytes and `nfds` fds.
///
/// Callers keep `payload_len <= MAX_PAYLOAD` and `nfds <= MAX_SEND_FDS`; this is checked
/// in debug builds only, as every caller in this crate builds payloads it has bounded.
pub fn encode_header(payload_len: usize, nfds: usize) -> [u8; HEADER_LEN] {
    debug_assert!(payload_len <= MAX_PAYLOAD && nfds <= MAX_SEND_FDS);
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&(payload_len as u32).to_be_bytes());
    h[4..].copy_from_slice(&(nfds as u16).to_be_bytes());
    h
}

/// Reassembles frames from bytes and fds received in any chunking.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Received bytes live in `buf[start..filled]`; the rest of `buf` is room for more.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    fds: VecDeque<OwnedFd>,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Room for at least `min` more bytes: receive into it, then call [`Decoder::commit`].
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.start > 0 {
            // Move what is left to the front so the buffer never grows past one frame.
            self.buf.copy_within(self.start..self.filled, 0);
            self.filled -= self.start;
            self.start = 0;
        }
        if self.buf.len() < self.filled + min {
            self.buf.resize(self.filled + min, 0);
        }
        &mut self.buf[self.filled..]
    }

    /// Keeps `n` bytes just written at the start of [`Decoder::spare`].
    pub fn commit(&mut self, n: usize) {
        self.filled = (self.filled + n).min(self.buf.len());
    }

    /// Appends received bytes.
    pub fn push_bytes(&mut self, bytes: &[u8]) {
        self.spare(bytes.len())[..bytes.len()].copy_from_slice(bytes);
        self.commit(bytes.len());
    }

    /// Appends received fds; they belong to the next frame header not yet decoded.
    pub fn push_fds(&mut self, fds: impl IntoIterator<Item = OwnedFd>) {
        self.fds.extend(fds);
    }

    /// Bytes received and not yet handed out in a frame.
    pub fn pending_bytes(&self) -> usize {
        self.filled - self.start
    }

    /// Bytes still missing from the frame at the front: the rest of its header, or once the
    /// header is in, the rest of its payload.
    pub fn needed(&self) -> usize {
        let avail = &self.buf[self.start..self.filled];
        match avail.first_chunk::<4>() {
            Some(len) if avail.len() >= HEADER_LEN => {
                let end = HEADER_LEN.saturating_add(u32::from_be_bytes(*len) as usize);
                end.saturating_sub(avail.len())
            }
            _ => HEADER_LEN - avail.len(),
        }
    }

    /// Fds received and not yet handed out in a frame.
    pub fn pending_fds(&self) -> usize {
        self.fds.len()
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let avail = &self.buf[self.start..self.filled];
        if avail.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]);
        let nfds = u16::from_be_bytes([avail[4], avail[5]]);
        if len as usize > MAX_PAYLOAD {
            return Err(FrameError::PayloadTooLarge(len));
        }
        if usize::from(nfds) > MAX_RECV_FDS {
            return Err(FrameError::TooManyFds(nfds));
        }
        let end = HEADER_LEN + len as usize;
        if avail.len() < end {
            return Ok(None);
        }
        if self.fds.len() < usize::from(nfds) {
            return Err(FrameError::MissingFds {
                announced: nfds,
                received: self.fds.len(),
            });
        }
        let payload = avail[HEADER_LEN..end].to_vec();
        self.start += end;
        let fds = self.fds.drain(..usize::from(nfds)).collect();
        Ok(Some(Frame { payload, fds }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_bytes(payload: &[u8], nfds: usize) -> Vec<u8> {
        let mut v = encode_header(payload.len(), nfds).to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn header_layout() {
        assert_eq!(encode_header(0x01020304, 253), [1, 2, 3, 4, 0, 253]);
    }

    #[test]
    fn decodes_any_chunking() {
        let mut stream = frame_bytes(b"hello", 0);
        stream.extend(frame_bytes(b"", 0));
        stream.extend(frame_bytes(&[7u8; 5000], 0));
        for chunk in [1, 2, 5, 6, 7, 4096, 10000] {
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for c in stream.chunks(chunk) {
                d.push_bytes(c);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f.payload);
                }
            }
            assert_eq!(got, vec![b"hello".to_vec(), vec![], vec![7u8; 5000]]);
            assert_eq!(d.pending_bytes(), 0);
        }
    }

    #[test]
    fn needed_bytes() {
        let mut d = Decoder::new();
        assert_eq!(d.needed(), HEADER_LEN);
        let bytes = frame_bytes(&[1u8; 100], 0);
        d.push_bytes(&bytes[..4]);
        assert_eq!(d.needed(), 2);
        d.push_bytes(&bytes[4..50]);
        assert_eq!(d.needed(), 56);
        d.push_bytes(&bytes[50..]);
        assert_eq!(d.needed(), 0);
    }

    #[test]
    fn spare_and_commit() {
        let mut d = Decoder::new();
        let bytes = frame_bytes(b"abc", 0);
        let spare = d.spare(16);
        assert!(spare.len() >= 16);
        spare[..bytes.len()].copy_from_slice(&bytes);
        d.commit(bytes.len());
        assert_eq!(d.next_frame().unwrap().unwrap().payload, b"abc");
    }

    #[test]
    fn rejects_bad_headers() {
        let mut d = Decoder::new();
        d.push_bytes(&[0x10, 0, 0, 1, 0, 0]);
        assert_eq!(
            d.next_frame().unwrap_err(),
            FrameError::PayloadTooLarge(0x1000_0001)
        );
        let mut d = Decoder::new();
        d.push_bytes(&[0, 0, 0, 0, 1, 0]);
        assert_eq!(d.next_frame().unwrap_err(), FrameError::TooManyFds(256));
        let mut d = Decoder::new();
        d.push_bytes(&frame_bytes(b"x", 2));
        assert_eq!(
            d.next_frame().unwrap_err(),
            FrameError::MissingFds {
                announced: 2,
                received: 0
            }
        );
    }
}
