//! The socket options every socket kind takes ([`SocketOptions`]): set once the socket is
//! bound, before it is handed to the daemon; none of them matters to bind(2).

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::sys::socket::{getsockopt, setsockopt, sockopt};

use super::at::fail;
use crate::config::diag::Diag;
use crate::config::model::{Entry, FdSpec, SocketOptions, Timestamping};
use crate::sys::{NetlinkPktInfo, PassSec};

/// Sets the entry's [`SocketOptions`] on `fd`.
pub(super) fn set(e: &Entry, fd: &OwnedFd, o: &SocketOptions) -> Result<(), Diag> {
    let set = |name: &str, r: nix::Result<()>| {
        r.map_err(|errno| fail(e, format!("unable to set {name}"), errno))
    };
    if let Some(v) = o.pass_credentials {
        set("SO_PASSCRED", setsockopt(fd, sockopt::PassCred, &v))?;
    }
    if let Some(v) = o.pass_security {
        set("SO_PASSSEC", setsockopt(fd, PassSec, &v))?;
    }
    if let Some(v) = o.pass_packet_info {
        match &e.spec {
            FdSpec::Inet { options, .. } if options.address.is_ipv4() => {
                set("IP_PKTINFO", setsockopt(fd, sockopt::Ipv4PacketInfo, &v))?
            }
            FdSpec::Inet { .. } => set(
                "IPV6_RECVPKTINFO",
                setsockopt(fd, sockopt::Ipv6RecvPacketInfo, &v),
            )?,
            _ => set("NETLINK_PKTINFO", setsockopt(fd, NetlinkPktInfo, &v))?,
        }
    }
    if let Some(v) = o.ip_tos {
        set("IP_TOS", setsockopt(fd, sockopt::Ipv4Tos, &v))?;
    }
    if let Some(v) = o.ip_ttl {
        match &e.spec {
            FdSpec::Inet { options, .. } if options.address.is_ipv6() => {
                set("IPV6_UNICAST_HOPS", setsockopt(fd, sockopt::Ipv6Ttl, &v))?
            }
            _ => set("IP_TTL", setsockopt(fd, sockopt::Ipv4Ttl, &v))?,
        }
    }
    if let Some(v) = o.priority {
        set("SO_PRIORITY", setsockopt(fd, sockopt::Priority, &v))?;
    }
    if let Some(v) = o.mark {
        set("SO_MARK", setsockopt(fd, sockopt::Mark, &v))?;
    }
    match o.timestamping {
        None => {}
        Some(Timestamping::Off) => {
            set(
                "SO_TIMESTAMP",
                setsockopt(fd, sockopt::ReceiveTimestamp, &false),
            )?;
            set(
                "SO_TIMESTAMPNS",
                setsockopt(fd, sockopt::ReceiveTimestampns, &false),
            )?;
        }
        Some(Timestamping::Micro) => {
            set(
                "SO_TIMESTAMP",
                setsockopt(fd, sockopt::ReceiveTimestamp, &true),
            )?;
        }
        Some(Timestamping::Nano) => {
            set(
                "SO_TIMESTAMPNS",
                setsockopt(fd, sockopt::ReceiveTimestampns, &true),
            )?;
        }
    }
    buffers(e, fd, o.receive_buffer, o.send_buffer)
}

/// Sets SO_RCVBUF and SO_SNDBUF as systemd's `fd_set_rcvbuf` and `fd_set_sndbuf` do: past
/// the kernel's `rmem_max`/`wmem_max` with the FORCE variants when the plain ones fell
/// short (which needs CAP_NET_ADMIN; without it, the capped size stays, as in systemd).
pub(super) fn buffers(
    e: &Entry,
    fd: &OwnedFd,
    receive: Option<usize>,
    send: Option<usize>,
) -> Result<(), Diag> {
    let set = |name: &str, r: nix::Result<()>| {
        r.map_err(|errno| fail(e, format!("unable to set {name}"), errno))
    };
    // The kernel reports twice what is asked, for its bookkeeping.
    let short = |got: nix::Result<usize>, n: usize| got.is_ok_and(|g| g / 2 < n);
    let tolerate_eperm = |r: nix::Result<()>| match r {
        Err(Errno::EPERM) => Ok(()),
        r => r,
    };
    if let Some(n) = receive {
        set("SO_RCVBUF", setsockopt(fd, sockopt::RcvBuf, &n))?;
        if short(getsockopt(fd, sockopt::RcvBuf), n) {
            set(
                "SO_RCVBUFFORCE",
                tolerate_eperm(setsockopt(fd, sockopt::RcvBufForce, &n)),
            )?;
        }
    }
    if let Some(n) = send {
        set("SO_SNDBUF", setsockopt(fd, sockopt::SndBuf, &n))?;
        if short(getsockopt(fd, sockopt::SndBuf), n) {
            set(
                "SO_SNDBUFFORCE",
                tolerate_eperm(setsockopt(fd, sockopt::SndBufForce, &n)),
            )?;
        }
    }
    Ok(())
}
