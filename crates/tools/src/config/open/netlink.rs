//! Netlink sockets: raw, bound to their multicast groups with port id 0 (the kernel
//! picks one), as systemd's `ListenNetlink=` opens them. Nothing on disk, nothing to undo.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, socket,
};

use super::at::{fail, refuse};
use crate::config::diag::Diag;
use crate::config::model::Entry;

/// nix's name for netlink protocol `n`, for the families of
/// [`crate::config::model::NETLINK_FAMILIES`].
fn protocol(n: i32) -> Option<SockProtocol> {
    use SockProtocol::*;
    [
        NetlinkRoute,
        NetlinkUserSock,
        NetlinkSockDiag,
        NetlinkNFLOG,
        NetlinkSELinux,
        NetlinkISCSI,
        NetlinkAudit,
        NetlinkFIBLookup,
        NetlinkNetFilter,
        NetlinkIPv6Firewall,
        NetlinkDECNetRoutingMessage,
        NetlinkKObjectUEvent,
        NetlinkGeneric,
        NetlinkSCSITransport,
        NetlinkRDMA,
        NetlinkCrypto,
    ]
    .into_iter()
    .find(|p| *p as i32 == n)
}

/// Opens and binds a netlink socket of `protocol`, joined to `groups`.
pub(super) fn open(e: &Entry, protocol_number: i32, groups: u32) -> Result<OwnedFd, Diag> {
    let Some(p) = protocol(protocol_number) else {
        return Err(refuse(
            e,
            format!("netlink protocol {protocol_number} is not one this tool opens"),
        ));
    };
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        Some(p),
    )
    .map_err(|errno: Errno| fail(e, "unable to create a netlink socket".into(), errno))?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups))
        .map_err(|errno| fail(e, format!("unable to bind to groups {groups:#x}"), errno))?;
    Ok(fd)
}
