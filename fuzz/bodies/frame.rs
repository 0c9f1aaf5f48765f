//! Fuzz body for the frame decoder: an arbitrary byte stream fed to
//! `fdholder::frame::Decoder` in arbitrary read sizes, checked against a plain reference
//! reading of the same stream after every call.
//!
//! Input layout: byte 0 says how many read sizes follow (1 to 8); each size byte gives a
//! read of `b & 0x7f` bytes, or 64 KiB when that is 0 (the connection's own read
//! size); the high bit chooses the `spare`/`commit` path (as the connection receives)
//! rather than `push_bytes`. The sizes repeat over the rest, which is the stream. No fds
//! are pushed (a fuzzer cannot make real ones cheaply): a frame that announces fds must be
//! refused as [`FrameError::MissingFds`] once it is complete.

use fdholder::frame::{Decoder, FrameError, HEADER_LEN, MAX_PAYLOAD, MAX_RECV_FDS};

/// What the decoder must answer when `consumed` bytes of `stream` were handed out and
/// `fed` bytes received.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// Not enough bytes yet.
    NeedMore,
    /// A frame with this payload.
    Frame(std::ops::Range<usize>),
    /// This error.
    Error(FrameError),
}

fn expect_at(stream: &[u8], consumed: usize, fed: usize) -> Expect {
    let avail = &stream[consumed..fed];
    let Some(header) = avail.first_chunk::<HEADER_LEN>() else {
        return Expect::NeedMore;
    };
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let nfds = u16::from_be_bytes([header[4], header[5]]);
    if len as usize > MAX_PAYLOAD {
        return Expect::Error(FrameError::PayloadTooLarge(len));
    }
    if usize::from(nfds) > MAX_RECV_FDS {
        return Expect::Error(FrameError::TooManyFds(nfds));
    }
    if avail.len() < HEADER_LEN + len as usize {
        return Expect::NeedMore;
    }
    if nfds > 0 {
        return Expect::Error(FrameError::MissingFds {
            announced: nfds,
            received: 0,
        });
    }
    let start = consumed + HEADER_LEN;
    Expect::Frame(start..start + len as usize)
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let k = usize::from(k % 8) + 1;
    if rest.len() < k {
        return;
    }
    let (sizes, stream) = rest.split_at(k);
    let mut decoder = Decoder::new();
    let (mut fed, mut consumed) = (0, 0);
    for &s in sizes.iter().cycle() {
        if fed == stream.len() {
            break;
        }
        let want = match s & 0x7f {
            0 => 64 * 1024,
            n => usize::from(n),
        };
        let n = want.min(stream.len() - fed);
        let chunk = &stream[fed..fed + n];
        if s & 0x80 != 0 {
            let spare = decoder.spare(want);
            assert!(spare.len() >= want, "spare gave less room than asked");
            spare[..n].copy_from_slice(chunk);
            decoder.commit(n);
        } else {
            decoder.push_bytes(chunk);
        }
        fed += n;
        loop {
            assert_eq!(decoder.pending_bytes(), fed - consumed);
            assert_eq!(decoder.pending_fds(), 0);
            let want = expect_at(stream, consumed, fed);
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    let Expect::Frame(range) = want else {
                        panic!("decoder gave a frame where {want:?} was due");
                    };
                    assert_eq!(frame.payload, stream[range.clone()]);
                    assert!(frame.fds.is_empty());
                    consumed = range.end;
                }
                Ok(None) => {
                    assert_eq!(want, Expect::NeedMore);
                    break;
                }
                Err(e) => {
                    assert_eq!(want, Expect::Error(e));
                    // An error is sticky: the decoder neither moves on nor changes its mind.
                    assert_eq!(decoder.next_frame().err(), Some(e));
                    assert_eq!(decoder.pending_bytes(), fed - consumed);
                    return;
                }
            }
        }
    }
}
