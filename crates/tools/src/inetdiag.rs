//! What sock_diag says of a listening TCP socket that getsockopt cannot: its backlog (the
//! kernel's `sk_max_ack_backlog`, reported as `idiag_wqueue` for a listening socket), so
//! that a changed `backlog` of a tcp entry is seen and can be fixed by calling `listen`
//! again.
//!
//! The kernel looks a socket up by its addresses only, not by inode, so the request is a
//! dump of the family's listening TCP sockets, and the socket is found in it by inode.

use crate::fdinfo::{ne_u16, ne_u32};
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

/// sock_diag's request by family (`SOCK_DIAG_BY_FAMILY`).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// Netlink's `NLMSG_DONE` and `NLMSG_ERROR`.
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const NLM_F_REQUEST_DUMP: u16 = 1 | 0x300;
/// `struct nlmsghdr`'s size.
const NLMSG_HDR: usize = 16;
/// `1 << TCP_LISTEN`.
const LISTEN_STATES: u32 = 1 << 10;
/// Where `idiag_wqueue` and `idiag_inode` are in a `struct inet_diag_msg`: after family,
/// state, timer, retrans (4 bytes), the socket id (48), expires and rqueue (8).
const WQUEUE_AT: usize = 60;
const INODE_AT: usize = 68;

/// The dump request: a `struct nlmsghdr` and a `struct inet_diag_req_v2` for the
/// listening TCP sockets of `family`.
fn request(family: AddressFamily) -> Vec<u8> {
    let len = NLMSG_HDR + 56;
    let mut req = Vec::with_capacity(len);
    req.extend((len as u32).to_ne_bytes());
    req.extend(SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend(NLM_F_REQUEST_DUMP.to_ne_bytes());
    req.extend(1u32.to_ne_bytes()); // sequence number
    req.extend(0u32.to_ne_bytes()); // the kernel's port id
    req.push(family as i32 as u8);
    req.push(nix::libc::IPPROTO_TCP as u8);
    req.extend([0, 0]); // no extensions, padding
    req.extend(LISTEN_STATES.to_ne_bytes());
    req.extend([0u8; 40]); // the socket id: any
    req.extend([0xff; 8]); // INET_DIAG_NOCOOKIE
    req
}

/// The backlog of the listening TCP socket of `family` whose inode is `inode`; `None` if
/// no listening socket of that family has it.
pub fn tcp_backlog(family: AddressFamily, inode: u64) -> Result<Option<u32>, Errno> {
    let ino = u32::try_from(inode).map_err(|_| Errno::EOVERFLOW)?;
    let nl = socket::socket(
        AddressFamily::Netlink,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkSockDiag,
    )?;
    socket::sendto(
        nl.as_raw_fd(),
        &request(family),
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )?;
    let bad = Errno::EPROTO;
    let mut buf = vec![0u8; 32 * 1024];
    let mut found = None;
    loop {
        // The kernel fills each datagram of the dump as it is read: no waiting needed
        // beyond the read itself.
        let n = socket::recv(nl.as_raw_fd(), &mut buf, MsgFlags::empty())?;
        let mut at = 0;
        while at + NLMSG_HDR <= n {
            let len = ne_u32(&buf, at).ok_or(bad)? as usize;
            if len < NLMSG_HDR || at + len > n {
                return Err(bad);
            }
            let body = &buf[at + NLMSG_HDR..at + len];
            match ne_u16(&buf, at + 4).ok_or(bad)? {
                NLMSG_DONE => return Ok(found),
                NLMSG_ERROR => {
                    let e = ne_u32(body, 0).ok_or(bad)? as i32;
                    return Err(Errno::from_raw(-e));
                }
                SOCK_DIAG_BY_FAMILY => {
                    if ne_u32(body, INODE_AT) == Some(ino) {
                        found = ne_u32(body, WQUEUE_AT);
                    }
                }
                _ => return Err(bad),
            }
            at += len.next_multiple_of(4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::fd::AsFd;

    #[test]
    fn a_listening_sockets_backlog() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let ino = nix::sys::stat::fstat(l.as_fd()).unwrap().st_ino;
        nix::sys::socket::listen(&l, nix::sys::socket::Backlog::new(9).unwrap()).unwrap();
        assert_eq!(tcp_backlog(AddressFamily::Inet, ino), Ok(Some(9)));
        assert_eq!(tcp_backlog(AddressFamily::Inet6, ino), Ok(None));
    }
}
