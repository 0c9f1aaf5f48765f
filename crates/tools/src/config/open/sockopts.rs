//! The socket options every socket kind takes ([`SocketOptions`]): set once the socket is
//! bound, before it is handed to the daemon; none of them matters to bind(2).

use std::os::fd::OwnedFd;

use nix::sys::socket::{setsockopt, sockopt};

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
            FdSpec::Inet { address, .. } if address.is_ipv4() => {
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
            FdSpec::Inet { address, .. } if address.is_ipv6() => {
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
    if let Some(n) = o.receive_buffer {
        set("SO_RCVBUF", setsockopt(fd, sockopt::RcvBuf, &n))?;
    }
    if let Some(n) = o.send_buffer {
        set("SO_SNDBUF", setsockopt(fd, sockopt::SndBuf, &n))?;
    }
    Ok(())
}
