//! The kernel's sock_diag netlink interface, as [`crate::fdinfo`] (unix sockets: their file,
//! their backlog, whether a file is bound) and [`crate::inetdiag`] (a tcp socket's backlog)
//! ask it: the request header, one question sent, a multi-part dump walked.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

/// sock_diag's message type for a request by family (`SOCK_DIAG_BY_FAMILY`).
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// Netlink's error message type (`NLMSG_ERROR`).
pub const NLMSG_ERROR: u16 = 2;
/// The end of a netlink dump (`NLMSG_DONE`).
pub const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST`.
pub const NLM_F_REQUEST: u16 = 1;
/// `NLM_F_DUMP`: every socket of the family, not one.
pub const NLM_F_DUMP: u16 = 0x300;
/// `struct nlmsghdr`'s size.
pub const NLMSG_HDR: usize = 16;

/// The native-endian u16 at `at` in a netlink message, if the message is that long.
pub fn ne_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// The native-endian u32 at `at` in a netlink message, if the message is that long.
pub fn ne_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A request's `struct nlmsghdr` for a body of `body_len` bytes, with these flags, in native
/// byte order as netlink wants; the caller appends the body.
pub fn request_header(body_len: usize, flags: u16) -> Vec<u8> {
    let len = NLMSG_HDR + body_len;
    let mut req = Vec::with_capacity(len);
    req.extend((len as u32).to_ne_bytes());
    req.extend(SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend(flags.to_ne_bytes());
    req.extend(1u32.to_ne_bytes()); // sequence number
    req.extend(0u32.to_ne_bytes()); // the kernel's port id
    req
}

/// A new sock_diag socket, to send questions on one at a time ([`send_on`]).
pub fn open() -> Result<OwnedFd, Errno> {
    socket::socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )
}

/// Sends `request` to the kernel on the sock_diag socket `nl`, to read the answer from.
/// The kernel queues its answer before sendto returns.
pub fn send_on(nl: BorrowedFd<'_>, request: &[u8]) -> Result<(), Errno> {
    let to = NetlinkAddr::new(0, 0);
    socket::sendto(nl.as_raw_fd(), request, &to, MsgFlags::empty()).map(drop)
}

/// Sends `request` to the kernel on a new sock_diag socket, which is returned to read the
/// answer from.
pub fn send(request: &[u8]) -> Result<OwnedFd, Errno> {
    let nl = open()?;
    send_on(nl.as_fd(), request)?;
    Ok(nl)
}

/// Sends the dump `request` and calls `each` with the body of every message of the answer,
/// until the dump's end; an error message is the kernel's errno, anything else EPROTO.
pub fn dump(request: &[u8], mut each: impl FnMut(&[u8])) -> Result<(), Errno> {
    let nl = send(request)?;
    let bad = Errno::EPROTO;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // The kernel fills each datagram of the dump as it is read: no waiting needed
        // beyond the read itself.
        let n = socket::recv(nl.as_raw_fd(), &mut buf, MsgFlags::empty())?;
        if n == 0 {
            return Err(bad);
        }
        let mut at = 0;
        while at + NLMSG_HDR <= n {
            let len = ne_u32(&buf, at).ok_or(bad)? as usize;
            if len < NLMSG_HDR || at + len > n {
                return Err(bad);
            }
            let body = &buf[at + NLMSG_HDR..at + len];
            match ne_u16(&buf, at + 4).ok_or(bad)? {
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => return Err(errno_of(body)?),
                SOCK_DIAG_BY_FAMILY => each(body),
                _ => return Err(bad),
            }
            at += len.next_multiple_of(4);
        }
    }
}

/// The errno an `NLMSG_ERROR` message's body carries (negated, as netlink sends it).
pub fn errno_of(body: &[u8]) -> Result<Errno, Errno> {
    let e = ne_u32(body, 0).ok_or(Errno::EPROTO)? as i32;
    Ok(Errno::from_raw(-e))
}
