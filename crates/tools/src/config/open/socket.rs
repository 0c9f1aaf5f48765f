//! Sockets: unix ones bound at a path (a stale file cleared first) or in the abstract
//! namespace, tcp and udp ones with their options; listening, and chowned as declared.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, openat};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, UnixAddr, bind, connect, listen,
    setsockopt, socket, sockopt,
};
use nix::sys::stat::{Mode, SFlag, fstat, lstat};
use nix::unistd::fchownat;

use super::at::*;
use super::opener::*;
use super::rollback::*;
use crate::config::diag::Diag;
use crate::config::model::{Entry, InetOptions, Perms, SocketType, Transport, UnixAddress};

/// What a connect says about a socket file.
pub(super) enum Probe {
    /// Something is bound to it.
    Live,
    /// Nothing is: ECONNREFUSED.
    Stale,
}

/// Connects to the socket at `addr` to learn whether it is in use, trying `first`'s type
/// and then the others (a connect of the wrong type fails with EPROTOTYPE).
pub(super) fn probe(addr: &UnixAddr, first: SockType) -> Result<Probe, Errno> {
    let mut types = vec![first];
    types.extend(
        [SockType::Stream, SockType::Datagram, SockType::SeqPacket]
            .into_iter()
            .filter(|&t| t != first),
    );
    for t in types {
        let s = socket(
            AddressFamily::Unix,
            t,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )?;
        match connect(s.as_raw_fd(), addr) {
            // A full backlog (EAGAIN) is still someone's backlog.
            Ok(()) | Err(Errno::EAGAIN | Errno::EINPROGRESS) => return Ok(Probe::Live),
            Err(Errno::ECONNREFUSED) => return Ok(Probe::Stale),
            Err(Errno::EPROTOTYPE) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Errno::EPROTOTYPE)
}

/// Clears the way for binding `path` (`name` in `dir`): a stale socket is unlinked; a live
/// socket or anything that is not a socket is left alone, and the entry fails. The file
/// removed is the one probed: a socket bound anew there meanwhile is left alone.
pub(super) fn clear_stale(
    e: &Entry,
    (dir, name): (&OwnedFd, &OsStr),
    path: &Path,
    addr: &UnixAddr,
    ty: SockType,
) -> Result<(), Diag> {
    let shown = path.display();
    let st = match stat_in(dir, name) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(errno) => return Err(fail(e, format!("unable to stat {shown}"), errno)),
    };
    let t = file_type(st.st_mode);
    if t != SFlag::S_IFSOCK {
        return Err(refuse(
            e,
            format!(
                "{shown} exists and is {}, not a socket: it is left alone",
                type_name(t)
            ),
        ));
    }
    match probe(addr, ty) {
        Ok(Probe::Stale) => match unlink_if_same(dir, name, file_id(&st)) {
            Ok(true) | Err(Errno::ENOENT) => Ok(()),
            Ok(false) => Err(refuse(
                e,
                format!("{shown} was replaced while it was probed: it is left alone"),
            )),
            Err(errno) => Err(fail(
                e,
                format!("unable to remove the stale socket {shown}"),
                errno,
            )),
        },
        Ok(Probe::Live) => Err(refuse(
            e,
            format!("{shown} is a live socket (a connect to it succeeds): it is left alone"),
        )),
        Err(errno) => Err(fail(
            e,
            format!("unable to probe the socket {shown}"),
            errno,
        )),
    }
}

impl Opener<'_> {
    /// Binds `fd` to the socket path, creating parents and replacing a stale socket.
    pub(super) fn bind_path(
        &mut self,
        e: &Entry,
        fd: &OwnedFd,
        path: &Path,
        ty: SockType,
        perms: &Perms,
    ) -> Result<(), Diag> {
        let addr = UnixAddr::new(path).map_err(|errno| fail(e, "bad socket path".into(), errno))?;
        let (parent, name) = split(path);
        let dir = self.open_dir(e, parent, Some(perms.directory_mode))?;
        // bind(2) takes no directory fd: the path is looked up again, through `dir` unless
        // a directory on the way was swapped meanwhile, which the chown below detects.
        let try_bind = |me: &mut Opener| {
            me.umask.for_mode(perms.mode, 0);
            bind(fd.as_raw_fd(), &addr)
        };
        let mut r = try_bind(self);
        if r == Err(Errno::EADDRINUSE) {
            if !self.move_aside(e, path)? {
                clear_stale(e, (&dir, name), path, &addr, ty)?;
            }
            r = try_bind(self);
        }
        r.map_err(|errno| fail(e, format!("unable to bind to {}", path.display()), errno))?;
        self.record(&dir, name, path, false);
        if perms.owner.is_some() || perms.group.is_some() {
            chown_socket(e, &dir, name, path, perms)?;
        }
        Ok(())
    }

    /// Renames the socket file at `path` aside if it is a replaceable one; false if not.
    pub(super) fn move_aside(&mut self, e: &Entry, path: &Path) -> Result<bool, Diag> {
        let ours = match lstat(path) {
            Ok(st) => self
                .replaceable
                .is_some_and(|r| r.contains(&(st.st_dev, st.st_ino))),
            Err(_) => false,
        };
        if !ours {
            return Ok(false);
        }
        let aside = aside_path(path);
        nix::fcntl::renameat(AT_FDCWD, path, AT_FDCWD, &aside).map_err(|errno| {
            fail(
                e,
                format!("unable to move the held socket {} aside", path.display()),
                errno,
            )
        })?;
        self.asides.push(Aside {
            item: self.item,
            path: path.to_path_buf(),
            aside,
        });
        Ok(true)
    }

    pub(super) fn unix(
        &mut self,
        e: &Entry,
        address: &UnixAddress,
        socket_type: SocketType,
        backlog: i32,
        perms: &Perms,
    ) -> Result<OwnedFd, Diag> {
        let ty = match socket_type {
            SocketType::Stream => SockType::Stream,
            SocketType::Dgram => SockType::Datagram,
            SocketType::Seqpacket => SockType::SeqPacket,
        };
        let fd = socket(AddressFamily::Unix, ty, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|errno| fail(e, "unable to create a socket".into(), errno))?;
        match address {
            UnixAddress::Path(path) => self.bind_path(e, &fd, path, ty, perms)?,
            UnixAddress::Abstract(name) => {
                let addr = UnixAddr::new_abstract(name)
                    .map_err(|errno| fail(e, "bad abstract socket name".into(), errno))?;
                bind(fd.as_raw_fd(), &addr)
                    .map_err(|errno| fail(e, "unable to bind".into(), errno))?;
            }
        }
        if ty != SockType::Datagram {
            listen_on(e, &fd, backlog)?;
        }
        Ok(fd)
    }

    pub(super) fn inet(
        &mut self,
        e: &Entry,
        transport: Transport,
        address: std::net::SocketAddr,
        backlog: i32,
        o: &InetOptions,
    ) -> Result<OwnedFd, Diag> {
        let family = if address.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        let ty = match transport {
            Transport::Tcp => SockType::Stream,
            Transport::Udp => SockType::Datagram,
        };
        let fd = socket(family, ty, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|errno| fail(e, "unable to create a socket".into(), errno))?;
        set_options(e, &fd, o)?;
        bind(fd.as_raw_fd(), &SockaddrStorage::from(address))
            .map_err(|errno| fail(e, format!("unable to bind to {address}"), errno))?;
        if transport == Transport::Tcp {
            listen_on(e, &fd, backlog)?;
        }
        Ok(fd)
    }
}

/// listen(2) with the entry's backlog.
pub(super) fn listen_on(e: &Entry, fd: &OwnedFd, backlog: i32) -> Result<(), Diag> {
    let backlog = Backlog::new(backlog).unwrap_or(Backlog::MAXCONN);
    listen(fd, backlog).map_err(|errno| fail(e, "unable to listen".into(), errno))
}

/// Gives the socket file `name` in `dir` the entry's owner and group: through an `O_PATH`
/// fd of the file, once that is a socket of this run's ([`ours`]), so that nothing
/// swapped in at the name is chowned.
pub(super) fn chown_socket(
    e: &Entry,
    dir: &OwnedFd,
    name: &OsStr,
    path: &Path,
    perms: &Perms,
) -> Result<(), Diag> {
    let shown = path.display();
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(dir, name, flags, Mode::empty())
        .map_err(|errno| fail(e, format!("unable to open {shown} to chown it"), errno))?;
    let st = fstat(&fd).map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
    let t = file_type(st.st_mode);
    if t != SFlag::S_IFSOCK {
        return Err(refuse(
            e,
            format!(
                "{shown} is {} since it was bound: it is not chowned",
                type_name(t)
            ),
        ));
    }
    ours(e, &st, path)?;
    fchownat(&fd, "", perms.owner, perms.group, AtFlags::AT_EMPTY_PATH)
        .map_err(|errno| fail(e, format!("unable to chown {shown}"), errno))
}

/// Sets a tcp or udp entry's socket options; all of them matter before bind.
pub(super) fn set_options(e: &Entry, fd: &OwnedFd, o: &InetOptions) -> Result<(), Diag> {
    let set = |name: &str, r: nix::Result<()>| {
        r.map_err(|errno| fail(e, format!("unable to set {name}"), errno))
    };
    if o.reuse_address {
        set("SO_REUSEADDR", setsockopt(fd, sockopt::ReuseAddr, &true))?;
    }
    if let Some(v) = o.reuse_port {
        set("SO_REUSEPORT", setsockopt(fd, sockopt::ReusePort, &v))?;
    }
    if let Some(v) = o.ipv6_only {
        set("IPV6_V6ONLY", setsockopt(fd, sockopt::Ipv6V6Only, &v))?;
    }
    if let Some(v) = o.freebind {
        set("IP_FREEBIND", setsockopt(fd, sockopt::IpFreebind, &v))?;
    }
    if let Some(dev) = &o.bind_to_device {
        set(
            "SO_BINDTODEVICE",
            setsockopt(fd, sockopt::BindToDevice, &dev.into()),
        )?;
    }
    super::sockopts::buffers(e, fd, o.receive_buffer, o.send_buffer)?;
    if let Some(v) = o.keepalive {
        set("SO_KEEPALIVE", setsockopt(fd, sockopt::KeepAlive, &v))?;
    }
    if let Some(v) = o.nodelay {
        set("TCP_NODELAY", setsockopt(fd, sockopt::TcpNoDelay, &v))?;
    }
    if let Some(v) = o.broadcast {
        set("SO_BROADCAST", setsockopt(fd, sockopt::Broadcast, &v))?;
    }
    Ok(())
}
