//! Sockets: unix ones bound at a path (a stale file cleared first) or in the abstract
//! namespace, tcp and udp ones with their options; listening, and chowned as declared.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, RenameFlags, open, openat, renameat2};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, UnixAddr, bind, connect, listen,
    setsockopt, socket, sockopt,
};
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::unistd::{fchdir, fchownat};

use super::at::*;
use super::opener::*;
use super::rollback::*;
use crate::config::diag::Diag;
use crate::config::model::{Entry, InetOptions, Perms, SocketType, Transport, UnixAddress};
use crate::fdinfo::{bound_file_on, unix_file_bound};

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
    // Stale only if no socket in the system is bound to the file, listening or not (a
    // service between its bind and its listen refuses a connect, and so does one whose
    // backlog is full); the connect is asked only where sock_diag cannot answer.
    let said = match unix_file_bound(st.st_dev, st.st_ino) {
        Ok(true) => Ok(Probe::Live),
        Ok(false) => Ok(Probe::Stale),
        Err(_) => probe(addr, ty),
    };
    match said {
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
            format!("{shown} is a live socket (a socket is bound to it): it is left alone"),
        )),
        Err(errno) => Err(fail(
            e,
            format!("unable to probe the socket {shown}"),
            errno,
        )),
    }
}

impl<'a> Opener<'a, '_> {
    /// Binds `fd` to the socket path, creating parents and replacing a stale socket.
    pub(super) fn bind_path(
        &mut self,
        e: &Entry,
        fd: &OwnedFd,
        path: &'a Path,
        ty: SockType,
        perms: &Perms,
    ) -> Result<(), Diag> {
        let addr = UnixAddr::new(path).map_err(|errno| fail(e, "bad socket path".into(), errno))?;
        let (parent, name) = split(path);
        let dir = self.open_dir(e, parent, Some(perms.directory_mode))?;
        // bind(2) takes no directory fd. The whole path, which is what the socket's address
        // then says (to getsockname, to inspect, to clients), is given only where no other
        // user can change what it resolves to; elsewhere the name is given through `dir`
        // itself, and the address says `/proc/self/fd/N/name`.
        let through_fd = self.dir_exposed(parent);
        let try_bind = |me: &mut Opener| {
            me.umask.for_mode(perms.mode, 0);
            if through_fd {
                bind_at(fd, &dir, name)
            } else {
                bind(fd.as_raw_fd(), &addr)
            }
        };
        let mut r = try_bind(self);
        if r == Err(Errno::EADDRINUSE) {
            if !self.move_aside(e, &dir, name, path)? {
                clear_stale(e, (&dir, name), path, &addr, ty)?;
            }
            r = try_bind(self);
        }
        r.map_err(|errno| fail(e, format!("unable to bind to {}", path.display()), errno))?;
        if self.knows_sockets(fd) {
            debug_assert_eq!(e.spec.unix_path(), Some(path));
            BoundSockets::push(&mut self.bound, self.item, &dir);
        } else {
            let st = stat_in(&dir, name)
                .map_err(|errno| fail(e, format!("unable to stat {}", path.display()), errno))?;
            self.record(&dir, name, path, false, Identity::File(file_id(&st)), None);
        }
        if perms.owner.is_some() || perms.group.is_some() {
            chown_socket(e, (&dir, through_fd), (fd, name), path, perms)?;
        }
        Ok(())
    }

    /// Whether sock_diag tells which file a bound socket such as `fd` is bound to; asked of
    /// the first socket bound, for the whole run, on a sock_diag socket kept for it.
    fn knows_sockets(&mut self, fd: &OwnedFd) -> bool {
        let ask = || {
            let nl = crate::sockdiag::open().ok()?;
            bound_file_on(nl.as_fd(), fd.as_fd())?;
            Some(nl)
        };
        self.sock_diag.get_or_insert_with(ask).is_some()
    }

    /// The socket `fd` of the item being opened closes, its entry failed, before the run
    /// holds it: the socket file bound for it, which [`BoundSockets`] knows again only
    /// through that socket, is asked of sock_diag now and recorded with the answer, so
    /// that the rollback removes it (a chown or a listen failed after the bind).
    fn settle(&mut self, fd: &OwnedFd, path: &'a Path) {
        let Some(parent) = BoundSockets::pop(&mut self.bound, self.item) else {
            return;
        };
        let nl = self.sock_diag.as_ref().and_then(Option::as_ref);
        let file = nl.and_then(|nl| bound_file_on(nl.as_fd(), fd.as_fd()));
        let record = socket_record(self.item, parent, path, Identity::Bound(file));
        self.created.push(record);
    }

    /// Renames the socket file `name` in `dir` (`path`) aside if it is a replaceable one;
    /// false if not.
    pub(super) fn move_aside(
        &mut self,
        e: &Entry,
        dir: &Dir,
        name: &OsStr,
        path: &Path,
    ) -> Result<bool, Diag> {
        let id = match stat_in(dir, name) {
            Ok(st) if file_type(st.st_mode) == SFlag::S_IFSOCK => file_id(&st),
            _ => return Ok(false),
        };
        if !self.replaceable.is_some_and(|r| r.contains(&id)) {
            return Ok(false);
        }
        let cannot = |errno| {
            let what = format!("unable to move the held socket {} aside", path.display());
            fail(e, what, errno)
        };
        let aside = aside_name(name).map_err(cannot)?;
        let flags = RenameFlags::RENAME_NOREPLACE;
        renameat2(&**dir, name, &**dir, aside.as_os_str(), flags).map_err(cannot)?;
        let moved = Aside {
            item: self.item,
            dir: dir.clone(),
            name: name.to_os_string(),
            aside,
            id,
            path: path.to_path_buf(),
        };
        // Swapped between the look and the rename: not the held socket; it goes back.
        let same = stat_in(dir, &moved.aside).is_ok_and(|st| file_id(&st) == id);
        self.asides.push(moved);
        if !same {
            return Err(refuse(
                e,
                format!("{} was replaced while it was moved aside", path.display()),
            ));
        }
        Ok(true)
    }

    pub(super) fn unix(
        &mut self,
        e: &Entry,
        address: &'a UnixAddress,
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
            UnixAddress::Path(path) => {
                let r = self.bind_path(e, &fd, path, ty, perms);
                let r = r.and_then(|()| listen_unless_datagram(e, &fd, ty, backlog));
                if r.is_err() {
                    self.settle(&fd, path);
                }
                r?;
            }
            UnixAddress::Abstract(name) => {
                let addr = UnixAddr::new_abstract(name)
                    .map_err(|errno| fail(e, "bad abstract socket name".into(), errno))?;
                bind(fd.as_raw_fd(), &addr)
                    .map_err(|errno| fail(e, "unable to bind".into(), errno))?;
                listen_unless_datagram(e, &fd, ty, backlog)?;
            }
        }
        Ok(fd)
    }

    pub(super) fn inet(
        &mut self,
        e: &Entry,
        transport: Transport,
        backlog: i32,
        o: &InetOptions,
    ) -> Result<OwnedFd, Diag> {
        let address = o.address;
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

/// listen(2) with the entry's backlog, but for a datagram socket, which takes none.
fn listen_unless_datagram(e: &Entry, fd: &OwnedFd, ty: SockType, backlog: i32) -> Result<(), Diag> {
    match ty {
        SockType::Datagram => Ok(()),
        _ => listen_on(e, fd, backlog),
    }
}

/// Binds `fd` to `name` in `dir`, a name resolved through the directory fd and never
/// through the whole path again: `/proc/self/fd/N/name`, or where that is too long for a
/// socket address, `name` alone after an `fchdir` to `dir` (and back).
pub(super) fn bind_at(fd: &OwnedFd, dir: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
    let mut through = std::ffi::OsString::from(format!("/proc/self/fd/{}/", dir.as_raw_fd()));
    through.push(name);
    if let Ok(addr) = UnixAddr::new(Path::new(&through)) {
        match bind(fd.as_raw_fd(), &addr) {
            // No /proc: the other way.
            Err(Errno::ENOENT) if !Path::new("/proc/self/fd").exists() => {}
            r => return r,
        }
    }
    let addr = UnixAddr::new(Path::new(name))?;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let back = open(".", flags, Mode::empty())?;
    fchdir(dir)?;
    let r = bind(fd.as_raw_fd(), &addr);
    fchdir(&back)?;
    r
}

/// listen(2) with the entry's backlog.
pub(super) fn listen_on(e: &Entry, fd: &OwnedFd, backlog: i32) -> Result<(), Diag> {
    let backlog = Backlog::new(backlog).unwrap_or(Backlog::MAXCONN);
    listen(fd, backlog).map_err(|errno| fail(e, "unable to listen".into(), errno))
}

/// Gives the file `name` in `dir`, which `socket` is bound to, the entry's owner and group.
/// In an `exposed` directory ([`super::opener::exposed`]), through an `O_PATH` fd of the
/// file, once that is a socket of this run's ([`ours`]) and the very file `socket` is
/// bound to (sock_diag, where the kernel can say), so that nothing swapped in at the name
/// is chowned, not even another socket of root's moved there. Elsewhere no other user can
/// put anything at the name, as no other user can change what the path that `bind` was
/// given resolves to: the name itself, not followed if a symlink, in one call where the
/// other way takes four (a deployment's sockets usually all have an owner).
pub(super) fn chown_socket(
    e: &Entry,
    (dir, exposed): (&OwnedFd, bool),
    (socket, name): (&OwnedFd, &OsStr),
    path: &Path,
    perms: &Perms,
) -> Result<(), Diag> {
    let shown = path.display();
    if !exposed {
        return fchownat(
            dir,
            name,
            perms.owner,
            perms.group,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|errno| fail(e, format!("unable to chown {shown}"), errno));
    }
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
    let bound = crate::fdinfo::bound_file(socket.as_fd());
    if bound.is_some_and(|(dev, ino)| (dev, ino) != (st.st_dev, st.st_ino as u32)) {
        return Err(refuse(
            e,
            format!("{shown} is another socket than the one bound there: it is not chowned"),
        ));
    }
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
