//! What an fd is: the `ss` view of one descriptor.
//!
//! Used to show what a daemon holds and to compare a held fd with what a config declares,
//! so it reads only what the kernel says about the fd itself (fstat, getsockname, socket
//! options, the access mode, the `/proc/self/fd` link, and for a Unix socket what the
//! kernel's sock_diag interface tells of it) and never touches the path it names.

use crate::sockdiag::{
    NLM_F_DUMP, NLM_F_REQUEST, NLMSG_ERROR, NLMSG_HDR, SOCK_DIAG_BY_FAMILY, dump, errno_of, ne_u16,
    ne_u32, request_header, send_on,
};
use std::fmt;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, SockType, SockaddrLike, SockaddrStorage, sockopt,
};
use nix::sys::stat::{SFlag, fstat, makedev};

/// How an fd may be used, from its open flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only (the read end of a pipe).
    Read,
    /// Write only (the write end of a pipe).
    Write,
    /// Read and write.
    ReadWrite,
}

impl Access {
    /// Its name in reports: `read`, `write` or `read-write`.
    pub fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::ReadWrite => "read-write",
        }
    }
}

/// Where a socket is bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A Unix socket bound to a path.
    Path(PathBuf),
    /// A Unix socket in Linux's abstract namespace (the name without its leading NUL).
    Abstract(Vec<u8>),
    /// An IPv4 or IPv6 address and port.
    Ip(SocketAddr),
    /// Not bound, or a family this module does not read.
    None,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Path(p) => write!(f, "{}", p.display()),
            Address::Abstract(n) => write!(f, "@{}", String::from_utf8_lossy(n)),
            Address::Ip(a) => write!(f, "{a}"),
            Address::None => f.write_str("-"),
        }
    }
}

/// What the kernel says about a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    /// Its address family, `None` if nix does not know it.
    pub family: Option<AddressFamily>,
    /// Its type: stream, datagram, seqpacket.
    pub kind: SockType,
    /// Where it is bound.
    pub address: Address,
    /// Whether `listen(2)` was called on it.
    pub listening: bool,
    /// IPV6_V6ONLY, for IPv6 sockets.
    pub v6only: Option<bool>,
    /// SO_REUSEPORT.
    pub reuse_port: bool,
}

/// What kind of object an fd refers to, and its details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A socket.
    Socket(SocketInfo),
    /// An anonymous pipe end.
    Pipe(Access),
    /// A named FIFO, with the path it was opened by.
    Fifo(PathBuf, Access),
    /// A regular file, with its path.
    File(PathBuf, Access),
    /// Anything else (a terminal, a directory, an eventfd...), with its `/proc` link.
    Other(String),
}

impl Kind {
    /// Its name in reports: `socket`, `pipe`, `fifo`, `file` or `other`.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Socket(_) => "socket",
            Kind::Pipe(_) => "pipe",
            Kind::Fifo(..) => "fifo",
            Kind::File(..) => "file",
            Kind::Other(_) => "other",
        }
    }

    /// How a pipe, FIFO or file is open; `None` for sockets and other objects.
    pub fn access(&self) -> Option<Access> {
        match self {
            Kind::Pipe(a) | Kind::Fifo(_, a) | Kind::File(_, a) => Some(*a),
            Kind::Socket(_) | Kind::Other(_) => None,
        }
    }

    /// The path a FIFO or file was opened by, or what `/proc` links an other object to.
    pub fn path(&self) -> Option<String> {
        match self {
            Kind::Fifo(p, _) | Kind::File(p, _) => Some(p.to_string_lossy().into_owned()),
            Kind::Other(link) => Some(link.clone()),
            Kind::Socket(_) | Kind::Pipe(_) => None,
        }
    }
}

impl SocketInfo {
    /// The address family as `ss` names it: `unix`, `inet`, `inet6`, `netlink`...
    pub fn family_name(&self) -> &'static str {
        match self.family {
            Some(AddressFamily::Unix) => "unix",
            Some(AddressFamily::Inet) => "inet",
            Some(AddressFamily::Inet6) => "inet6",
            Some(AddressFamily::Netlink) => "netlink",
            Some(AddressFamily::Packet) => "packet",
            Some(AddressFamily::Vsock) => "vsock",
            _ => "other",
        }
    }

    /// The socket type's name: `stream`, `dgram`, `seqpacket`, `raw`, `rdm`, or `other`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            SockType::Stream => "stream",
            SockType::Datagram => "dgram",
            SockType::SeqPacket => "seqpacket",
            SockType::Raw => "raw",
            SockType::Rdm => "rdm",
            _ => "other",
        }
    }
}

/// One fd, described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdInfo {
    /// Device and inode: the identity of the object, the same in every process.
    pub inode: (u64, u64),
    /// What it is.
    pub kind: Kind,
}

fn access(fd: BorrowedFd<'_>) -> Result<Access, Errno> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    Ok(match flags & OFlag::O_ACCMODE {
        OFlag::O_RDONLY => Access::Read,
        OFlag::O_WRONLY => Access::Write,
        _ => Access::ReadWrite,
    })
}

/// The path `/proc/self/fd/N` links to: the file's path, or `pipe:[ino]` and the like.
fn proc_link(fd: BorrowedFd<'_>) -> Result<PathBuf, Errno> {
    nix::fcntl::readlink(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str()).map(PathBuf::from)
}

fn address(fd: BorrowedFd<'_>) -> Result<(Option<AddressFamily>, Address), Errno> {
    let sa: SockaddrStorage = socket::getsockname(fd.as_raw_fd())?;
    let addr = if let Some(u) = sa.as_unix_addr() {
        match (u.path(), u.as_abstract()) {
            (Some(p), _) => Address::Path(p.to_path_buf()),
            (None, Some(a)) => Address::Abstract(a.to_vec()),
            _ => Address::None,
        }
    } else if let Some(v4) = sa.as_sockaddr_in() {
        Address::Ip(SocketAddrV4::new(v4.ip(), v4.port()).into())
    } else if let Some(v6) = sa.as_sockaddr_in6() {
        Address::Ip(SocketAddrV6::new(v6.ip(), v6.port(), v6.flowinfo(), v6.scope_id()).into())
    } else {
        Address::None
    };
    Ok((sa.family(), addr))
}

fn socket_info(fd: BorrowedFd<'_>) -> Result<SocketInfo, Errno> {
    let (family, address) = address(fd)?;
    let v6only = match family {
        Some(AddressFamily::Inet6) => Some(socket::getsockopt(&fd, sockopt::Ipv6V6Only)?),
        _ => None,
    };
    let reuse_port = match family {
        Some(AddressFamily::Inet | AddressFamily::Inet6) => {
            socket::getsockopt(&fd, sockopt::ReusePort)?
        }
        _ => false,
    };
    Ok(SocketInfo {
        family,
        kind: socket::getsockopt(&fd, sockopt::SockType)?,
        address,
        listening: socket::getsockopt(&fd, sockopt::AcceptConn)?,
        v6only,
        reuse_port,
    })
}

/// Describes an fd open in this process.
pub fn describe(fd: BorrowedFd<'_>) -> Result<FdInfo, Errno> {
    let st = fstat(fd)?;
    let inode = (st.st_dev, st.st_ino);
    let kind = match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFSOCK => Kind::Socket(socket_info(fd)?),
        SFlag::S_IFIFO => {
            let link = proc_link(fd)?;
            if link.as_os_str().as_bytes().starts_with(b"/") {
                Kind::Fifo(link, access(fd)?)
            } else {
                Kind::Pipe(access(fd)?)
            }
        }
        SFlag::S_IFREG => Kind::File(proc_link(fd)?, access(fd)?),
        _ => Kind::Other(proc_link(fd)?.to_string_lossy().into_owned()),
    };
    Ok(FdInfo { inode, kind })
}

/// What sock_diag says of a Unix socket that fstat and getsockopt cannot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnixDiag {
    /// A listening socket's backlog (the most connections it queues), as the kernel
    /// clamped it.
    pub backlog: Option<u32>,
    /// The socket file a socket bound to a path created: its device, as `st_dev` gives it,
    /// and the low 32 bits of its inode (all sock_diag reports). It is not the socket's own
    /// inode, which fstat gives.
    pub file: Option<(u64, u32)>,
}

/// `UDIAG_SHOW_VFS | UDIAG_SHOW_RQLEN`: the socket file, and the queue lengths.
const UDIAG_SHOW: u32 = 0x02 | 0x10;
/// The attribute types of the reply: `UNIX_DIAG_VFS`, `UNIX_DIAG_RQLEN`.
const UNIX_DIAG_VFS: u16 = 1;
const UNIX_DIAG_RQLEN: u16 = 4;
/// A socket's state when it listens (`TCP_LISTEN`, which Unix sockets use too).
const STATE_LISTEN: u8 = 10;
/// `struct unix_diag_msg`'s size.
const UNIX_DIAG_MSG: usize = 16;

/// The request for the Unix socket whose own inode is `ino`: a `struct nlmsghdr` and a
/// `struct unix_diag_req` (no cookie), in native byte order as netlink wants.
fn unix_diag_request(ino: u32, flags: u16) -> Vec<u8> {
    let mut req = request_header(24, flags);
    req.push(nix::libc::AF_UNIX as u8);
    req.extend([0, 0, 0]); // protocol and padding
    req.extend(u32::MAX.to_ne_bytes()); // every state
    req.extend(ino.to_ne_bytes());
    req.extend(UDIAG_SHOW.to_ne_bytes());
    req.extend([0xff; 8]); // INET_DIAG_NOCOOKIE
    req
}

/// Reads sock_diag's reply about the socket of inode `ino`.
fn parse_unix_diag(reply: &[u8], ino: u32) -> Result<UnixDiag, Errno> {
    let bad = Errno::EPROTO;
    let len = ne_u32(reply, 0).ok_or(bad)? as usize;
    let body = reply.get(NLMSG_HDR..len).ok_or(bad)?;
    match ne_u16(reply, 4).ok_or(bad)? {
        NLMSG_ERROR => return Err(errno_of(body)?),
        SOCK_DIAG_BY_FAMILY => {}
        _ => return Err(bad),
    }
    let state = *body.get(2).ok_or(bad)?;
    if ne_u32(body, 4) != Some(ino) {
        return Err(bad);
    }
    let mut diag = UnixDiag::default();
    let mut at = UNIX_DIAG_MSG;
    while let (Some(alen), Some(atype)) = (ne_u16(body, at), ne_u16(body, at + 2)) {
        let alen = usize::from(alen);
        let data = body.get(at + 4..at + alen).ok_or(bad)?;
        match atype {
            UNIX_DIAG_VFS => {
                let (file_ino, dev) = (ne_u32(data, 0).ok_or(bad)?, ne_u32(data, 4).ok_or(bad)?);
                // The kernel's own dev_t: 12 bits of major, 20 of minor.
                let dev = makedev(u64::from(dev >> 20), u64::from(dev & 0xf_ffff));
                diag.file = Some((dev, file_ino));
            }
            UNIX_DIAG_RQLEN if state == STATE_LISTEN => {
                diag.backlog = Some(ne_u32(data, 4).ok_or(bad)?);
            }
            _ => {}
        }
        at += alen.max(4).next_multiple_of(4);
    }
    Ok(diag)
}

/// Asks the kernel (sock_diag) about the Unix socket whose own inode, as fstat gives it,
/// is `socket_inode`: its socket file and its backlog.
pub fn unix_diag(socket_inode: u64) -> Result<UnixDiag, Errno> {
    unix_diag_on(crate::sockdiag::open()?.as_fd(), socket_inode)
}

/// [`unix_diag`], asked on the sock_diag socket `nl` ([`crate::sockdiag::open`]): one kept
/// by a run, which then needs no free fd to ask.
pub fn unix_diag_on(nl: BorrowedFd<'_>, socket_inode: u64) -> Result<UnixDiag, Errno> {
    let ino = u32::try_from(socket_inode).map_err(|_| Errno::EOVERFLOW)?;
    send_on(nl, &unix_diag_request(ino, NLM_F_REQUEST))?;
    // The kernel queues its answer before sendto returns.
    let mut buf = [0u8; 1024];
    let n = socket::recv(nl.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT)?;
    parse_unix_diag(&buf[..n], ino)
}

/// The socket file `(device, low 32 bits of the inode)` the Unix socket `fd` is bound to,
/// asked of sock_diag on `nl`; `None` where it is bound to none, or the kernel cannot say.
pub fn bound_file_on(nl: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> Option<(u64, u32)> {
    unix_diag_on(nl, fstat(fd).ok()?.st_ino).ok()?.file
}

/// [`bound_file_on`], asked on a sock_diag socket of its own.
pub fn bound_file(fd: BorrowedFd<'_>) -> Option<(u64, u32)> {
    bound_file_on(crate::sockdiag::open().ok()?.as_fd(), fd)
}

/// The socket file `(device, low 32 bits of the inode)` of one `unix_diag_msg` of a dump.
fn dump_entry_file(body: &[u8]) -> Option<(u64, u32)> {
    let mut at = UNIX_DIAG_MSG;
    while let (Some(alen), Some(atype)) = (ne_u16(body, at), ne_u16(body, at + 2)) {
        let alen = usize::from(alen);
        let data = body.get(at + 4..at + alen)?;
        if atype == UNIX_DIAG_VFS {
            let (file_ino, dev) = (ne_u32(data, 0)?, ne_u32(data, 4)?);
            return Some((
                makedev(u64::from(dev >> 20), u64::from(dev & 0xf_ffff)),
                file_ino,
            ));
        }
        at += alen.max(4).next_multiple_of(4);
    }
    None
}

/// Whether some Unix socket in the system is bound to the socket file of device `dev`
/// and inode `ino`, listening or not: sock_diag lists every bound socket with its file,
/// where a connect tells only whether one listens and has room in its backlog.
pub fn unix_file_bound(dev: u64, ino: u64) -> Result<bool, Errno> {
    let mut req = unix_diag_request(0, NLM_F_REQUEST | NLM_F_DUMP);
    // Every socket of the dump with its socket file (UDIAG_SHOW_VFS).
    req[NLMSG_HDR + 12..NLMSG_HDR + 16].copy_from_slice(&0x02u32.to_ne_bytes());
    let want = (dev, ino as u32);
    let mut found = false;
    dump(&req, |body| found |= dump_entry_file(body) == Some(want))?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::net::{UnixDatagram, UnixListener};

    #[test]
    fn unix_sockets_file_and_backlog() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let l = UnixListener::bind(&path).unwrap();
        socket::listen(&l, socket::Backlog::new(7).unwrap()).unwrap();
        let st = std::fs::symlink_metadata(&path).unwrap();
        let diag = unix_diag(describe(l.as_fd()).unwrap().inode.1).unwrap();
        assert_eq!(diag.backlog, Some(7));
        assert_eq!(diag.file, Some((st.dev(), st.ino() as u32)));
        assert_ne!(st.ino(), describe(l.as_fd()).unwrap().inode.1);
        let d = UnixDatagram::unbound().unwrap();
        let diag = unix_diag(describe(d.as_fd()).unwrap().inode.1).unwrap();
        assert_eq!(diag, UnixDiag::default());
        assert_eq!(unix_diag(u64::from(u32::MAX - 1)), Err(Errno::ENOENT));
    }

    #[test]
    fn bound_socket_files_listening_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        let s = nix::sys::socket::socket(
            AddressFamily::Unix,
            SockType::Stream,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        let addr = nix::sys::socket::UnixAddr::new(&path).unwrap();
        nix::sys::socket::bind(s.as_raw_fd(), &addr).unwrap();
        let st = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(unix_file_bound(st.dev(), st.ino()), Ok(true));
        drop(s);
        assert_eq!(unix_file_bound(st.dev(), st.ino()), Ok(false));
    }

    #[test]
    fn pipes_and_files() {
        let (r, w) = nix::unistd::pipe().unwrap();
        assert_eq!(describe(r.as_fd()).unwrap().kind, Kind::Pipe(Access::Read));
        assert_eq!(describe(w.as_fd()).unwrap().kind, Kind::Pipe(Access::Write));
        let f = tempfile::NamedTempFile::new().unwrap();
        match describe(f.as_file().as_fd()).unwrap().kind {
            Kind::File(p, Access::ReadWrite) => assert_eq!(p, f.path()),
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let l = UnixListener::bind(&path).unwrap();
        let info = describe(l.as_fd()).unwrap();
        let Kind::Socket(s) = info.kind else { panic!() };
        assert_eq!(
            (s.family, s.kind, s.listening),
            (Some(AddressFamily::Unix), SockType::Stream, true)
        );
        assert_eq!(s.address, Address::Path(path));
        let d = UnixDatagram::unbound().unwrap();
        let Kind::Socket(s) = describe(d.as_fd()).unwrap().kind else {
            panic!()
        };
        assert_eq!(
            (s.kind, s.listening, s.address),
            (SockType::Datagram, false, Address::None)
        );
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let Kind::Socket(s) = describe(t.as_fd()).unwrap().kind else {
            panic!()
        };
        assert_eq!(s.address, Address::Ip(t.local_addr().unwrap()));
        assert_eq!(
            (s.family, s.listening, s.v6only),
            (Some(AddressFamily::Inet), true, None)
        );
    }
}
