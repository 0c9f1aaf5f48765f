//! What sock_diag says of a listening TCP socket that getsockopt cannot: its backlog (the
//! kernel's `sk_max_ack_backlog`, reported as `idiag_wqueue` for a listening socket), so
//! that a changed `backlog` of a tcp entry is seen and can be fixed by calling `listen`
//! again.
//!
//! The kernel looks a socket up by its addresses only, not by inode, so the request is a
//! dump of the family's listening TCP sockets, and the socket is found in it by inode.

use nix::errno::Errno;
use nix::sys::socket::AddressFamily;

use crate::sockdiag::{NLM_F_DUMP, NLM_F_REQUEST, dump, ne_u32, request_header};

/// `1 << TCP_LISTEN`.
const LISTEN_STATES: u32 = 1 << 10;
/// Where `idiag_wqueue` and `idiag_inode` are in a `struct inet_diag_msg`: after family,
/// state, timer, retrans (4 bytes), the socket id (48), expires and rqueue (8).
const WQUEUE_AT: usize = 60;
const INODE_AT: usize = 68;

/// The dump request: a `struct nlmsghdr` and a `struct inet_diag_req_v2` for the
/// listening TCP sockets of `family`.
fn request(family: AddressFamily) -> Vec<u8> {
    let mut req = request_header(56, NLM_F_REQUEST | NLM_F_DUMP);
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
    let mut found = None;
    dump(&request(family), |body| {
        if ne_u32(body, INODE_AT) == Some(ino) {
            found = ne_u32(body, WQUEUE_AT);
        }
    })?;
    Ok(found)
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
