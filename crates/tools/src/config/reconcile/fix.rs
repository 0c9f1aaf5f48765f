//! Which differences a run fixes on the held fd itself, and which take a new one.
//!
//! Getdump hands the tool a copy of each held fd: the same open file description, the same
//! socket. What can be changed on an open socket, or on its socket file through a
//! directory fd, is changed there, and the daemon keeps holding what it held (same inode,
//! same listening socket, no connection lost): the mode, owner and group of a unix
//! socket's own file; the backlog, by calling `listen` again; the options `setsockopt`
//! can change after bind (SO_REUSEADDR, IP_FREEBIND, SO_KEEPALIVE, TCP_NODELAY,
//! SO_BROADCAST, SO_BINDTODEVICE, SO_RCVBUF, SO_SNDBUF); a pipe's capacity. Only a
//! change of what the fd is (kind, address, type, listening, access, path, the file it
//! leads to, a pipe's other end) or of what only binding decides (SO_REUSEPORT, whose
//! group is joined at bind; IPV6_V6ONLY, refused after bind) opens a new fd.

use super::compare::Field;

/// Whether a difference in `what` is fixed on the held fd rather than by replacing it.
/// The expiry is neither: the held fd is sent again with its new limit.
pub fn in_place(what: Field) -> bool {
    match what {
        Field::Mode
        | Field::Owner
        | Field::Group
        | Field::Backlog
        | Field::ReuseAddress
        | Field::Freebind
        | Field::Keepalive
        | Field::Nodelay
        | Field::Broadcast
        | Field::BindToDevice
        | Field::ReceiveBuffer
        | Field::SendBuffer
        | Field::BufferSize => true,
        Field::Kind
        | Field::Address
        | Field::Listening
        | Field::Access
        | Field::Open
        | Field::Path
        | Field::File
        | Field::ReusePort
        | Field::Ipv6Only
        | Field::Expiry
        | Field::Pipe
        // Settable after bind too, but not yet by the fixing code: a new fd, which is
        // right if slower.
        | Field::PassCredentials
        | Field::PassSecurity
        | Field::Priority
        | Field::PassPacketInfo
        | Field::Mark
        | Field::IpTos
        | Field::IpTtl
        | Field::Timestamping
        | Field::Symlinks => false,
    }
}
