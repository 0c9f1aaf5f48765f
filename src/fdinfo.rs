//! What an fd is: the `ss` view of one descriptor.
//!
//! Used to show what a daemon holds and to compare a held fd with what a config declares,
//! so it reads only what the kernel says about the fd itself (fstat, getsockname, socket
//! options, the access mode, the `/proc/self/fd` link) and never touches the path it names.

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{self, AddressFamily, SockType, SockaddrLike, SockaddrStorage, sockopt};
use nix::sys::stat::{SFlag, fstat};

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::{UnixDatagram, UnixListener};

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
