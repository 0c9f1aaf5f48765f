//! Fixing in place what [`crate::config::reconcile::fix`] says can be fixed in place: on the
//! copy of the held fd getdump gave (the same socket, pipe or FIFO the daemon holds: a
//! FIFO's mode, owner and group are changed with fchmod and fchown on it), and on a unix
//! socket's own file through its directory fd.
//!
//! Fixes are made before anything is opened, each recorded with the value it replaced, so
//! that a run that fails later (an fd that cannot be opened, a refused setdump, a signal)
//! puts every one back ([`Fixed::undo`]): a run still changes all or nothing.
//!
//! A socket file is reached as the open/ code reaches one: its directory opened `O_PATH`,
//! then the file itself `O_PATH | O_NOFOLLOW` by its single name, checked to be a socket
//! and the held socket's own file (sock_diag's device and inode); its owner and group are
//! changed with `fchownat(fd, "", AT_EMPTY_PATH)`, its mode with `chmod` of
//! `/proc/self/fd/N` (there is no `fchmodat` with `AT_EMPTY_PATH` before Linux 6.6, and
//! `fchmod` refuses an `O_PATH` fd), which leads to that very inode.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{AT_FDCWD, FcntlArg, OFlag, fcntl, openat};
use nix::sys::socket::{Backlog, getsockopt, listen, setsockopt, sockopt};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmod, fchmodat, fstat};
use nix::unistd::{Gid, Uid, fchown, fchownat};

use crate::config::diag::Diag;
use crate::config::model::{Config, Entry, FdSpec, UnixAddress};
use crate::config::plan::Plan;
use crate::config::reconcile::Report;
use crate::config::reconcile::compare::{Difference, Field};
use crate::fdinfo;
use fdholder::HeldFd;
use fdholder::error::strerror;

/// What one fix changes, and to what.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    /// A socket file's permission bits.
    Mode(u32),
    /// A socket file's owner.
    Owner(Uid),
    /// A socket file's group.
    Group(Gid),
    /// A listening socket's backlog.
    Backlog(i32),
    /// A boolean socket option, by its field.
    Flag(Field, bool),
    /// SO_BINDTODEVICE; empty for none.
    Device(String),
    /// A pipe's capacity.
    PipeSize(i32),
    /// SO_RCVBUF, as set (before the kernel doubles it).
    ReceiveBuffer(usize),
    /// SO_SNDBUF, as set.
    SendBuffer(usize),
}

/// What a fix is made on.
enum Target<'a> {
    /// The held socket or pipe itself.
    Fd(BorrowedFd<'a>),
    /// A socket file, as an `O_PATH` fd of it.
    File(OwnedFd),
}

/// One fix made: where, and the value it replaced.
struct Step<'a> {
    target: Target<'a>,
    before: Value,
}

/// The fixes a run made, to be undone if the run fails.
#[derive(Default)]
pub struct Fixed<'a> {
    steps: Vec<Step<'a>>,
}

impl Fixed<'_> {
    /// How many values were changed.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Puts every changed value back, last first; best effort (what cannot be put back
    /// stays as the file declares it).
    pub fn undo(self) {
        for step in self.steps.into_iter().rev() {
            let _ = set(&step.target, &step.before);
        }
    }
}

/// Sets `value` on `target`.
fn set(target: &Target<'_>, value: &Value) -> nix::Result<()> {
    match (target, value) {
        (Target::File(fd), Value::Mode(m)) => {
            let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
            fchmodat(
                AT_FDCWD,
                link.as_str(),
                Mode::from_bits_truncate(*m),
                FchmodatFlags::FollowSymlink,
            )
        }
        (Target::File(fd), Value::Owner(u)) => {
            fchownat(fd, "", Some(*u), None, AtFlags::AT_EMPTY_PATH)
        }
        (Target::File(fd), Value::Group(g)) => {
            fchownat(fd, "", None, Some(*g), AtFlags::AT_EMPTY_PATH)
        }
        (Target::Fd(fd), Value::Mode(m)) => fchmod(fd, Mode::from_bits_truncate(*m)),
        (Target::Fd(fd), Value::Owner(u)) => fchown(fd, Some(*u), None),
        (Target::Fd(fd), Value::Group(g)) => fchown(fd, None, Some(*g)),
        (Target::Fd(fd), Value::Backlog(n)) => {
            listen(fd, Backlog::new(*n).unwrap_or(Backlog::MAXCONN))
        }
        (Target::Fd(fd), Value::Flag(what, on)) => match what {
            Field::ReuseAddress => setsockopt(fd, sockopt::ReuseAddr, on),
            Field::Freebind => setsockopt(fd, sockopt::IpFreebind, on),
            Field::Keepalive => setsockopt(fd, sockopt::KeepAlive, on),
            Field::Nodelay => setsockopt(fd, sockopt::TcpNoDelay, on),
            Field::Broadcast => setsockopt(fd, sockopt::Broadcast, on),
            _ => Err(Errno::EINVAL),
        },
        (Target::Fd(fd), Value::Device(dev)) => {
            setsockopt(fd, sockopt::BindToDevice, &std::ffi::OsString::from(dev))
        }
        (Target::Fd(fd), Value::PipeSize(n)) => fcntl(fd, FcntlArg::F_SETPIPE_SZ(*n)).map(drop),
        (Target::Fd(fd), Value::ReceiveBuffer(n)) => setsockopt(fd, sockopt::RcvBuf, n),
        (Target::Fd(fd), Value::SendBuffer(n)) => setsockopt(fd, sockopt::SndBuf, n),
        _ => Err(Errno::EINVAL),
    }
}

/// The `O_PATH` fd of the held unix socket `held`'s own file at `path`, checked to be it.
fn socket_file(e: &Entry, path: &Path, held: BorrowedFd<'_>) -> Result<OwnedFd, Diag> {
    let shown = path.display();
    let fail = |doing: String, errno: Errno| {
        Diag::new(
            e.span(),
            &e.place(),
            format!("{doing}: {}", strerror(errno)),
        )
    };
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(fail(
            format!("unable to fix {shown} in place"),
            Errno::EINVAL,
        ));
    };
    // Where a run would bind: another user's symlink on the way is not followed.
    let dir = crate::config::open::open_dir_as_run(e, dir)?;
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(&*dir, name, flags, Mode::empty())
        .map_err(|errno| fail(format!("unable to open {shown}"), errno))?;
    let st = fstat(&fd).map_err(|errno| fail(format!("unable to stat {shown}"), errno))?;
    let own = fdinfo::bound_file(held);
    let is_socket = st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFSOCK.bits();
    if !is_socket || own != Some((st.st_dev, st.st_ino as u32)) {
        return Err(Diag::new(
            e.span(),
            &e.place(),
            format!("{shown} is no longer the held socket's file: it is not changed"),
        ));
    }
    Ok(fd)
}

/// The value the entry declares for `what`, and the held one, read now (to put back).
fn values(
    e: &Entry,
    what: Field,
    fd: BorrowedFd<'_>,
    file: Option<&OwnedFd>,
) -> nix::Result<Option<(Value, Value)>> {
    let flag = |declared: Option<bool>, now: nix::Result<bool>| -> nix::Result<_> {
        Ok(declared.map(|d| (d, now)))
    };
    let pair = match (&e.spec, what) {
        (
            FdSpec::Unix { perms, .. } | FdSpec::Fifo { perms, .. },
            Field::Mode | Field::Owner | Field::Group,
        ) => {
            // A socket file through its O_PATH fd; a FIFO through the held fd itself, which
            // is open on the very inode its path leads to (compare checked it).
            let st = match file {
                Some(f) => fstat(f)?,
                None => fstat(fd)?,
            };
            match what {
                Field::Mode => perms
                    .mode
                    .map(|m| (Value::Mode(m), Value::Mode(st.st_mode & 0o7777))),
                Field::Owner => perms
                    .owner
                    .map(|u| (Value::Owner(u), Value::Owner(Uid::from_raw(st.st_uid)))),
                _ => perms
                    .group
                    .map(|g| (Value::Group(g), Value::Group(Gid::from_raw(st.st_gid)))),
            }
        }
        (FdSpec::Unix { backlog, .. } | FdSpec::Inet { backlog, .. }, Field::Backlog) => {
            let before = crate::config::reconcile::compare::held_backlog(fd)
                .and_then(|b| i32::try_from(b).ok())
                .unwrap_or(*backlog);
            Some((Value::Backlog(*backlog), Value::Backlog(before)))
        }
        (FdSpec::Inet { options: o, .. }, _) => {
            let b = |what, declared: Option<bool>, now| {
                flag(declared, now).map(|p| {
                    p.map(|(d, now)| (Value::Flag(what, d), Value::Flag(what, now.unwrap_or(!d))))
                })
            };
            match what {
                Field::ReuseAddress => b(
                    what,
                    Some(o.reuse_address),
                    getsockopt(&fd, sockopt::ReuseAddr),
                )?,
                Field::Freebind => b(what, o.freebind, getsockopt(&fd, sockopt::IpFreebind))?,
                Field::Keepalive => b(what, o.keepalive, getsockopt(&fd, sockopt::KeepAlive))?,
                Field::Nodelay => b(what, o.nodelay, getsockopt(&fd, sockopt::TcpNoDelay))?,
                Field::Broadcast => b(what, o.broadcast, getsockopt(&fd, sockopt::Broadcast))?,
                // getsockopt reports twice what was set: half of it is what to set back.
                Field::ReceiveBuffer => o.receive_buffer.map(|n| {
                    let now = getsockopt(&fd, sockopt::RcvBuf).unwrap_or(2 * n) / 2;
                    (Value::ReceiveBuffer(n), Value::ReceiveBuffer(now))
                }),
                Field::SendBuffer => o.send_buffer.map(|n| {
                    let now = getsockopt(&fd, sockopt::SndBuf).unwrap_or(2 * n) / 2;
                    (Value::SendBuffer(n), Value::SendBuffer(now))
                }),
                Field::BindToDevice => o.bind_to_device.as_ref().map(|want| {
                    let now = getsockopt(&fd, sockopt::BindToDevice)
                        .map(|d| d.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    (Value::Device(want.clone()), Value::Device(now))
                }),
                _ => None,
            }
        }
        (FdSpec::Pipe { buffer_size, .. }, Field::BufferSize) => {
            let now = fcntl(fd, FcntlArg::F_GETPIPE_SZ)?;
            buffer_size.map(|n| (Value::PipeSize(n), Value::PipeSize(now)))
        }
        _ => None,
    };
    Ok(pair)
}

/// Fixes, on the held fds of `dump`, every row `report` says to fix in place. On a
/// failure, what was fixed is put back and the error names the entry.
pub fn fix_all<'a>(
    config: &Config,
    plan: &Plan,
    report: &Report,
    dump: &'a [HeldFd],
) -> Result<Fixed<'a>, Diag> {
    let mut fixed = Fixed::default();
    for (item, at, differs) in report.to_fix() {
        let e = &config.entries[plan.items[item].entry];
        if let Err(d) = fix_one(e, dump[at.0].fd.as_fd(), differs, &mut fixed) {
            fixed.undo();
            return Err(d);
        }
    }
    Ok(fixed)
}

/// Fixes one held fd, `fd` of entry `e`, for `differs`.
fn fix_one<'a>(
    e: &Entry,
    fd: BorrowedFd<'a>,
    differs: &[Difference],
    fixed: &mut Fixed<'a>,
) -> Result<(), Diag> {
    let fail = |what: Field, errno: Errno| {
        Diag::new(
            e.span(),
            &e.place(),
            format!("unable to change {what} in place: {}", strerror(errno)),
        )
    };
    let on_file = |d: &&Difference| matches!(d.what, Field::Mode | Field::Owner | Field::Group);
    let file = match (&e.spec, differs.iter().any(|d| on_file(&d))) {
        (
            FdSpec::Unix {
                address: UnixAddress::Path(path),
                ..
            },
            true,
        ) => Some(socket_file(e, path, fd)?),
        _ => None,
    };
    for d in differs.iter().filter(|d| d.what != Field::Expiry) {
        let Some((after, before)) =
            values(e, d.what, fd, file.as_ref()).map_err(|errno| fail(d.what, errno))?
        else {
            continue;
        };
        let target = match (&file, on_file(&d)) {
            (Some(f), true) => Target::File(
                f.try_clone()
                    .map_err(|e2| fail(d.what, fdholder::error::io_errno(&e2)))?,
            ),
            _ => Target::Fd(fd),
        };
        set(&target, &after).map_err(|errno| fail(d.what, errno))?;
        fixed.steps.push(Step { target, before });
    }
    Ok(())
}
