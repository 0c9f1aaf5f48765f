//! The listener: a small child that lives as long as the service, reads its `sd_notify`
//! datagrams, turns `READY=1` into s6's readiness newline and keeps the service's fd store
//! in the daemon.
//!
//! Only datagrams sent by the service's own process count: the socket passes credentials
//! (`SO_PASSCRED`) and a datagram from any other pid is dropped, its fds closed. Nothing a
//! datagram holds is fatal to the service: what cannot be understood or done is dropped
//! with a warning on stderr, and the listener goes on. It ends when the service does (its
//! pidfd becomes readable).

use std::io::{IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use fdholder::{Client, Deadline, Tain};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr, UnixCredentials,
    bind, recvmsg, setsockopt, socket, sockopt,
};
use nix::sys::stat::fstat;

use super::message::{self, DEFAULT_FDNAME, Message};
use super::store::{StoreId, store_id};
use crate::names::ACTIVATE as PROG;
use crate::sys::adopt_received_fd;
use crate::text::warn;

/// The longest datagram read whole; a longer one is dropped, as systemd drops it.
const DATAGRAM_MAX: usize = 4096;

/// How long one exchange with the daemon may take before the listener gives up on it.
const DAEMON_PATIENCE: Duration = Duration::from_secs(10);

/// The notify socket a service is told of by `NOTIFY_SOCKET`.
#[derive(Debug)]
pub struct NotifySocket {
    /// The bound datagram socket, close-on-exec, passing credentials.
    pub fd: OwnedFd,
    /// Its address as `NOTIFY_SOCKET` gives it: `@` and the abstract name.
    pub address: String,
}

/// Makes the service's notify socket: a datagram socket in the abstract namespace, with a
/// name no other run has (this pid and the clock), that passes senders' credentials.
pub fn notify_socket() -> Result<NotifySocket, Errno> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    setsockopt(&fd, sockopt::PassCred, &true)?;
    let name = format!(
        "s6-fdholder-activate/{}/{}",
        std::process::id(),
        Tain::now().nanos()
    );
    bind(fd.as_raw_fd(), &UnixAddr::new_abstract(name.as_bytes())?)?;
    Ok(NotifySocket {
        fd,
        address: format!("@{name}"),
    })
}

/// The fd store the listener keeps for the service.
#[derive(Debug)]
pub struct Store {
    /// The daemon's socket.
    pub daemon: PathBuf,
    /// Every id of the store starts with this.
    pub prefix: String,
    /// The most fds the store keeps (systemd's `FileDescriptorStoreMax=`).
    pub max: usize,
    /// What it holds: each fd's id, a copy of it (to see it hang up and to know it again),
    /// and whether `FDPOLL=0` asked to keep it when it does.
    pub held: Vec<Held>,
}

/// One fd of the store.
#[derive(Debug)]
pub struct Held {
    /// Its id in the daemon.
    pub id: StoreId,
    /// The listener's copy.
    pub fd: OwnedFd,
    /// `FDPOLL=0` was given: kept even once it hangs up.
    pub no_poll: bool,
}

/// Everything the listener needs, and nothing more.
#[derive(Debug)]
pub struct Listener {
    /// The socket the service sends to.
    pub socket: OwnedFd,
    /// The service's pid: only its datagrams count.
    pub service: i32,
    /// A pidfd of the service: readable once it has ended.
    pub pidfd: OwnedFd,
    /// `-3`: the fd to write the readiness newline to, once.
    pub notif: Option<OwnedFd>,
    /// `-s`: the fd store, if any.
    pub store: Option<Store>,
}

/// The identity of an open file: the same socket or pipe stored twice is one entry.
fn identity(fd: &impl AsFd) -> Option<(u64, u64)> {
    fstat(fd.as_fd()).ok().map(|st| (st.st_dev, st.st_ino))
}

impl Listener {
    /// The fds the listener needs: every other one a forked child inherited is closed.
    pub fn fds(&self) -> Vec<RawFd> {
        let mut v = vec![self.socket.as_raw_fd(), self.pidfd.as_raw_fd()];
        v.extend(self.notif.as_ref().map(|n| n.as_raw_fd()));
        if let Some(s) = &self.store {
            v.extend(s.held.iter().map(|h| h.fd.as_raw_fd()));
        }
        v
    }

    /// Serves the service until it ends.
    pub fn run(mut self) {
        loop {
            let hung = match self.wait() {
                Ok(Some(hung)) => hung,
                Ok(None) => return,
                Err(e) => {
                    warn(PROG, format_args!("notify listener: unable to poll: {e}"));
                    return;
                }
            };
            for id in hung {
                self.forget(&id);
            }
        }
    }

    /// Waits for a datagram or the service's end, reads the datagram, and returns the ids
    /// of the stored fds that hung up (`None` once the service has ended). By id, not by
    /// place in the store: the datagram read meanwhile may have removed some.
    fn wait(&mut self) -> Result<Option<Vec<String>>, Errno> {
        let watched: Vec<(usize, RawFd)> = self.store.as_ref().map_or(Vec::new(), |s| {
            s.held
                .iter()
                .enumerate()
                .filter(|(_, h)| !h.no_poll)
                .map(|(i, h)| (i, h.fd.as_raw_fd()))
                .collect()
        });
        let (socket_ready, ended, hung) = {
            let mut fds = vec![
                PollFd::new(self.socket.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN),
            ];
            let held = self.store.as_ref().map(|s| &s.held[..]).unwrap_or(&[]);
            fds.extend(
                watched
                    .iter()
                    .map(|&(i, _)| PollFd::new(held[i].fd.as_fd(), PollFlags::empty())),
            );
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => return Ok(Some(Vec::new())),
                Err(e) => return Err(e),
            }
            let rev = |p: &PollFd<'_>| p.revents().unwrap_or(PollFlags::empty());
            let gone = PollFlags::POLLHUP | PollFlags::POLLERR;
            let hung: Vec<String> = watched
                .iter()
                .zip(&fds[2..])
                .filter(|(_, p)| rev(p).intersects(gone))
                .map(|(&(i, _), _)| held[i].id.id.clone())
                .collect();
            (!rev(&fds[0]).is_empty(), !rev(&fds[1]).is_empty(), hung)
        };
        if ended {
            return Ok(None);
        }
        if socket_ready {
            self.receive();
        }
        Ok(Some(hung))
    }

    /// Reads one datagram and does what it asks.
    fn receive(&mut self) {
        let mut buf = vec![0u8; DATAGRAM_MAX];
        let mut cmsg = nix::cmsg_space!(UnixCredentials, [RawFd; 253]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
        let msg = match recvmsg::<()>(self.socket.as_raw_fd(), &mut iov, Some(&mut cmsg), flags) {
            Ok(msg) => msg,
            Err(Errno::EAGAIN | Errno::EINTR) => return,
            Err(e) => {
                warn(
                    PROG,
                    format_args!("notify listener: unable to receive: {e}"),
                );
                return;
            }
        };
        let (len, truncated) = (msg.bytes, msg.flags.contains(MsgFlags::MSG_TRUNC));
        let mut fds: Vec<OwnedFd> = Vec::new();
        let mut sender = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::ScmRights(raw) => {
                        // SAFETY: recvmsg has just installed these, and nothing else has them.
                        fds.extend(raw.into_iter().map(|fd| unsafe { adopt_received_fd(fd) }))
                    }
                    ControlMessageOwned::ScmCredentials(c) => sender = Some(c.pid()),
                    _ => {}
                }
            }
        }
        if sender != Some(self.service) {
            let who = sender.map_or("an unknown process".into(), |p| format!("pid {p}"));
            warn(
                PROG,
                format_args!(
                    "notification from {who} dropped: only the service's own (pid {}) count",
                    self.service
                ),
            );
            return;
        }
        if truncated {
            warn(
                PROG,
                format_args!("notification dropped: longer than {DATAGRAM_MAX} bytes"),
            );
            return;
        }
        match message::parse(&buf[..len]) {
            Ok(m) => self.act(&m, fds),
            Err(e) => warn(PROG, format_args!("{e} dropped")),
        }
    }

    /// Does what a well-formed message asks; `fds` came with it.
    fn act(&mut self, m: &Message, fds: Vec<OwnedFd>) {
        if m.ready
            && let Some(notif) = self.notif.take()
        {
            // s6's readiness protocol: one newline, then the fd is closed.
            let mut f = std::fs::File::from(notif);
            if let Err(e) = f.write_all(b"\n") {
                warn(
                    PROG,
                    format_args!("unable to write the readiness newline: {e}"),
                );
            }
        }
        if m.fdstore_remove {
            self.remove(m.fdname.as_deref().unwrap_or(DEFAULT_FDNAME));
        }
        if fds.is_empty() {
            return;
        }
        if !m.fdstore {
            warn(
                PROG,
                format_args!("{} fds sent without FDSTORE=1 closed", fds.len()),
            );
            return;
        }
        let name = m.fdname.as_deref().unwrap_or(DEFAULT_FDNAME);
        for fd in fds {
            self.keep(fd, name, m.no_poll);
        }
    }

    /// Stores one fd under `name`, unless it is stored already or the store is full.
    fn keep(&mut self, fd: OwnedFd, name: &str, no_poll: bool) {
        let Some(store) = self.store.as_mut() else {
            warn(
                PROG,
                "FDSTORE=1 without an fd store (-s prefix): the fds are closed",
            );
            return;
        };
        let id = identity(&fd);
        if id.is_some() && store.held.iter().any(|h| identity(&h.fd) == id) {
            return;
        }
        if store.held.len() >= store.max {
            warn(
                PROG,
                format_args!(
                    "the fd store is full ({} fds): an fd named {name} is closed",
                    store.max
                ),
            );
            return;
        }
        let last = store.held.iter().map(|h| h.id.seq).max().unwrap_or(0);
        let Some(seq) = last.checked_add(1) else {
            warn(
                PROG,
                format_args!("{}: no sequence number left after {last}", store.prefix),
            );
            return;
        };
        let Some(sid) = store_id(&store.prefix, name, seq) else {
            warn(PROG, format_args!("{}{name}: too long an id", store.prefix));
            return;
        };
        let stored = Client::connect(&store.daemon, Deadline::after(DAEMON_PATIENCE))
            .and_then(|mut c| c.store(&fd, sid.id.as_bytes(), Tain::no_limit_from(Tain::now())));
        match stored {
            Ok(()) => store.held.push(Held {
                id: sid,
                fd,
                no_poll,
            }),
            Err(e) => warn(PROG, format_args!("unable to store {}: {e}", sid.id)),
        }
    }

    /// Deletes every stored fd named `name`.
    fn remove(&mut self, name: &str) {
        let Some(store) = self.store.as_ref() else {
            return;
        };
        let named: Vec<String> = store
            .held
            .iter()
            .filter(|h| h.id.name == name)
            .map(|h| h.id.id.clone())
            .collect();
        for id in named {
            self.forget(&id);
        }
    }

    /// Deletes the stored fd `id` from the daemon and from the store, if it is still there.
    fn forget(&mut self, id: &str) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        let Some(at) = store.held.iter().position(|h| h.id.id == id) else {
            return;
        };
        let held = store.held.remove(at);
        let deleted = Client::connect(&store.daemon, Deadline::after(DAEMON_PATIENCE))
            .and_then(|mut c| c.delete(held.id.id.as_bytes()));
        match deleted {
            Ok(()) | Err(fdholder::Error::Daemon(_, Errno::ENOENT)) => {}
            Err(e) => warn(PROG, format_args!("unable to delete {}: {e}", held.id.id)),
        }
    }
}
