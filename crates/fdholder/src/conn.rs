//! A connection to s6-fdholderd: frames with fds over a Unix stream socket, under one
//! deadline that covers the connect, every send and every reply.
//!
//! The socket is blocking. With no deadline and no interrupt fd, a reply is read by one
//! blocking `recvmsg`; otherwise `poll` waits for it (bounded by the time left, or ended by
//! the interrupt fd) before the `recvmsg`, never after one that found nothing: each batch
//! of a setdump costs two system calls, or three under a deadline. Sends go out with
//! `MSG_DONTWAIT` and wait in `poll` only when the socket buffer is full.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr,
    connect, recvmsg, sendmsg, setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;

use crate::error::{Error, ProtocolError};
use crate::frame::{self, Decoder, Frame, HEADER_LEN};
use crate::sys::adopt_received_fd;

/// Bytes asked of each `recvmsg` at the least; more when the frame being received needs it.
/// Small, because every page of a fresh buffer costs a page fault, and setdump's replies are
/// a few bytes: a 64 KiB buffer was a measurable part of a one-fd run.
const RECV_CHUNK: usize = 4096;

/// The instant an exchange must be over by, or none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline: wait as long as it takes.
    pub const NEVER: Deadline = Deadline(None);

    /// A deadline `d` from now.
    pub fn after(d: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(d))
    }

    /// The deadline as `s6-fdholder-*` tools read `-t`: milliseconds, 0 meaning none.
    pub fn from_millis(ms: u32) -> Deadline {
        if ms == 0 {
            Deadline::NEVER
        } else {
            Deadline::after(Duration::from_millis(ms.into()))
        }
    }

    /// The earlier of two deadlines.
    pub fn min(self, other: Deadline) -> Deadline {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Deadline(Some(a.min(b))),
            (a, b) => Deadline(a.or(b)),
        }
    }

    /// Time left, `None` for no deadline, or [`Error::Timeout`] once it has passed.
    pub fn remaining(&self) -> Result<Option<Duration>, Error> {
        match self.0 {
            None => Ok(None),
            Some(t) => match t.checked_duration_since(Instant::now()) {
                Some(d) if !d.is_zero() => Ok(Some(d)),
                _ => Err(Error::Timeout),
            },
        }
    }

    /// Time left as a poll(2) timeout, rounded up so a wait never ends just short of it.
    fn poll_timeout(&self) -> Result<PollTimeout, Error> {
        Ok(match self.remaining()? {
            None => PollTimeout::NONE,
            Some(d) => {
                let ms = d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128);
                PollTimeout::try_from(ms as i32).unwrap_or(PollTimeout::MAX)
            }
        })
    }
}

/// Retries a system call that was interrupted by a signal.
fn retry<T>(mut f: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// A connection to the daemon, speaking frames.
#[derive(Debug)]
pub struct Connection {
    sock: OwnedFd,
    decoder: Decoder,
    /// Whether a whole frame has been received: a close before that is a refusal.
    answered: bool,
    deadline: Deadline,
    cmsg: Vec<u8>,
    /// An fd that, once readable, ends every wait with [`Error::Interrupted`].
    interrupt: Option<OwnedFd>,
}

impl Connection {
    /// Connects to the daemon listening at `path`, within `deadline`.
    pub fn connect(path: &Path, deadline: Deadline) -> Result<Connection, Error> {
        let addr = UnixAddr::new(path).map_err(Error::Connect)?;
        let sock = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(Error::Sys)?;
        // A blocking connect waits for room in a full backlog; SO_SNDTIMEO bounds that wait.
        if let Some(left) = deadline.remaining()? {
            // A zero timeval means "forever": never round a short wait down to it.
            let tv = TimeVal::new(left.as_secs() as _, left.subsec_micros().max(1) as _);
            setsockopt(&sock, sockopt::SendTimeout, &tv).map_err(Error::Sys)?;
        }
        match retry(|| connect(sock.as_raw_fd(), &addr)) {
            Ok(()) => {}
            Err(Errno::EAGAIN | Errno::EINPROGRESS) => return Err(Error::Timeout),
            Err(e) => return Err(Error::Connect(e)),
        }
        // Left blocking: every wait under a deadline is a poll bounded by the time left,
        // and without one a blocking recvmsg saves the poll.
        Ok(Connection::from_socket(sock, deadline))
    }

    /// Connects to the daemon listening at `path` if it takes the connection at once:
    /// `None` when its backlog is full, where [`Connection::connect`] would wait.
    pub fn connect_now(path: &Path, deadline: Deadline) -> Result<Option<Connection>, Error> {
        let addr = UnixAddr::new(path).map_err(Error::Connect)?;
        let sock = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(Error::Sys)?;
        match retry(|| connect(sock.as_raw_fd(), &addr)) {
            Ok(()) => {}
            Err(Errno::EAGAIN | Errno::EINPROGRESS) => return Ok(None),
            Err(e) => return Err(Error::Connect(e)),
        }
        // Blocking from here on, as a connection from `connect` is.
        let flags = fcntl(&sock, FcntlArg::F_GETFL).map_err(Error::Sys)?;
        let flags = OFlag::from_bits_truncate(flags) & !OFlag::O_NONBLOCK;
        fcntl(&sock, FcntlArg::F_SETFL(flags)).map_err(Error::Sys)?;
        Ok(Some(Connection::from_socket(sock, deadline)))
    }

    /// Wraps a connected Unix stream socket, blocking or not (e.g. one end of a socketpair).
    pub fn from_socket(sock: OwnedFd, deadline: Deadline) -> Connection {
        Connection {
            sock,
            decoder: Decoder::new(),
            answered: false,
            deadline,
            cmsg: nix::cmsg_space!([RawFd; frame::MAX_RECV_FDS]),
            interrupt: None,
        }
    }

    /// Makes every wait for the daemon end with [`Error::Interrupted`] as soon as `fd` is
    /// readable (a signalfd: a signal asked the caller to stop); `None` for no such fd.
    pub fn set_interrupt(&mut self, fd: Option<OwnedFd>) {
        self.interrupt = fd;
    }

    /// Takes back the fd [`Connection::set_interrupt`] gave: waits are no longer ended by it.
    pub fn take_interrupt(&mut self) -> Option<OwnedFd> {
        self.interrupt.take()
    }

    /// Replaces the deadline for the rest of the exchange.
    pub fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = deadline;
    }

    /// The deadline the exchange must be over by.
    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// Limits how many fds one received message may carry; more is a protocol error
    /// (`MSG_CTRUNC`) and the fds that did arrive are closed. The default is 255.
    pub fn set_receive_fd_capacity(&mut self, n: usize) {
        self.cmsg = vec![0u8; nix::sys::socket::cmsg_space::<RawFd>() * n.max(1)];
    }

    /// The error for a connection that ended: a refusal if the daemon never answered.
    fn ended(&self) -> Error {
        if self.answered {
            Error::Closed
        } else {
            Error::NotAllowed
        }
    }

    /// Whether a blocking call may wait as long as it takes: no deadline, no interrupt fd.
    fn may_block(&self) -> bool {
        self.deadline == Deadline::NEVER && self.interrupt.is_none()
    }

    fn wait(&self, events: PollFlags) -> Result<(), Error> {
        let timeout = self.deadline.poll_timeout()?;
        let sock = PollFd::new(self.sock.as_fd(), events);
        let mut both;
        let mut one;
        let fds: &mut [PollFd<'_>] = match &self.interrupt {
            Some(i) => {
                both = [sock, PollFd::new(i.as_fd(), PollFlags::POLLIN)];
                &mut both
            }
            None => {
                one = [sock];
                &mut one
            }
        };
        match retry(|| poll(fds, timeout)) {
            Ok(0) => Err(Error::Timeout),
            Ok(_)
                if fds
                    .get(1)
                    .and_then(PollFd::revents)
                    .is_some_and(|r| !r.is_empty()) =>
            {
                Err(Error::Interrupted)
            }
            Ok(_) => Ok(()),
            Err(e) => Err(Error::Sys(e)),
        }
    }

    /// Sends one frame: `payload` with `fds` attached to its header.
    pub fn send(&mut self, payload: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), Error> {
        debug_assert!(fds.len() <= frame::MAX_SEND_FDS && payload.len() <= frame::MAX_PAYLOAD);
        let header = frame::encode_header(payload.len(), fds.len());
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let total = HEADER_LEN + payload.len();
        let mut sent = 0;
        while sent < total {
            let (h, p) = if sent < HEADER_LEN {
                (&header[sent..], payload)
            } else {
                (&header[..0], &payload[sent - HEADER_LEN..])
            };
            let iov = [IoSlice::new(h), IoSlice::new(p)];
            let rights = [ControlMessage::ScmRights(&raw)];
            // The fds ride on the first sendmsg only: once any byte has gone, they have too.
            let cmsgs: &[ControlMessage] = if sent == 0 && !raw.is_empty() {
                &rights
            } else {
                &[]
            };
            match retry(|| {
                sendmsg::<()>(
                    self.sock.as_raw_fd(),
                    &iov,
                    cmsgs,
                    MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
                    None,
                )
            }) {
                Ok(n) => sent += n,
                Err(Errno::EAGAIN) => self.wait(PollFlags::POLLOUT)?,
                Err(Errno::EPIPE | Errno::ECONNRESET) => return Err(self.ended()),
                Err(e) => return Err(Error::Sys(e)),
            }
        }
        Ok(())
    }

    /// Receives the next frame, waiting for it until the deadline.
    pub fn receive(&mut self) -> Result<Frame, Error> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                self.answered = true;
                return Ok(frame);
            }
            if self.fill()? == 0 {
                return Err(if self.decoder.pending_bytes() > 0 {
                    Error::Closed
                } else {
                    self.ended()
                });
            }
        }
    }

    /// Reads what the socket has into the decoder, waiting for it until the deadline;
    /// `Ok(0)` at end of stream.
    fn fill(&mut self) -> Result<usize, Error> {
        let block = self.may_block();
        if !block {
            self.wait(PollFlags::POLLIN)?;
        }
        loop {
            self.cmsg.fill(0);
            let want = RECV_CHUNK.max(self.decoder.needed());
            let mut iov = [IoSliceMut::new(self.decoder.spare(want))];
            let mut flags = MsgFlags::MSG_CMSG_CLOEXEC;
            if !block {
                // poll said readable; should that not hold, wait again rather than block.
                flags |= MsgFlags::MSG_DONTWAIT;
            }
            let r = recvmsg::<()>(self.sock.as_raw_fd(), &mut iov, Some(&mut self.cmsg), flags);
            let msg = match r {
                Ok(msg) => msg,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {
                    self.wait(PollFlags::POLLIN)?;
                    continue;
                }
                Err(Errno::ECONNRESET) => return Ok(0),
                Err(e) => return Err(Error::Sys(e)),
            };
            let n = msg.bytes;
            let mut fds = Vec::new();
            let mut unexpected = false;
            match msg.cmsgs() {
                Ok(cmsgs) => {
                    for c in cmsgs {
                        match c {
                            ControlMessageOwned::ScmRights(raw) => {
                                fds.extend(raw.into_iter().map(adopt_received_fd))
                            }
                            _ => unexpected = true,
                        }
                    }
                }
                Err(_) => {
                    // nix will not walk a truncated buffer; close what the kernel installed.
                    drop(truncated_rights(&self.cmsg));
                    return Err(ProtocolError::ControlTruncated.into());
                }
            }
            if unexpected {
                return Err(ProtocolError::UnexpectedControl.into());
            }
            self.decoder.commit(n);
            self.decoder.push_fds(fds);
            return Ok(n);
        }
    }
}

impl AsFd for Connection {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// The fds of the `SCM_RIGHTS` message at the start of a control buffer that the kernel
/// marked truncated, adopted so that dropping them closes them.
fn truncated_rights(cmsg: &[u8]) -> Vec<OwnedFd> {
    use nix::libc::{SCM_RIGHTS, SOL_SOCKET, cmsghdr};
    use std::mem::{offset_of, size_of};
    let hdr = size_of::<cmsghdr>();
    let field = |off: usize, len: usize| cmsg.get(off..off + len);
    let (Some(len), Some(level), Some(kind)) = (
        field(offset_of!(cmsghdr, cmsg_len), size_of::<usize>()),
        field(offset_of!(cmsghdr, cmsg_level), 4),
        field(offset_of!(cmsghdr, cmsg_type), 4),
    ) else {
        return Vec::new();
    };
    let int = |b: &[u8]| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    let mut lenb = [0u8; size_of::<usize>()];
    lenb.copy_from_slice(len);
    let len = usize::from_ne_bytes(lenb).min(cmsg.len());
    if int(level) != SOL_SOCKET || int(kind) != SCM_RIGHTS || len < hdr {
        return Vec::new();
    }
    cmsg[hdr..len]
        .chunks_exact(4)
        .map(|b| adopt_received_fd(int(b)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earlier_deadline() {
        let soon = Deadline::after(Duration::from_secs(1));
        let late = Deadline::after(Duration::from_secs(60));
        assert_eq!(soon.min(late), soon);
        assert_eq!(late.min(soon), soon);
        assert_eq!(Deadline::NEVER.min(soon), soon);
        assert_eq!(late.min(Deadline::NEVER), late);
        assert_eq!(Deadline::NEVER.min(Deadline::NEVER), Deadline::NEVER);
    }
}
