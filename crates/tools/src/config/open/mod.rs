//! Stage 5 of config mode: opens every fd of the plan, all or none.
//!
//! One file per concern, each using only those before it: `at` (operations on a name
//! through its directory's fd), `rollback` (what was created, and undoing it), `opener`
//! (the state of one opening: umask, directories, what was created), then `dirs` (the walk
//! to a path's directory), `socket`, `file` (FIFOs and files) and `pipe`.
//!
//! Everything this run creates on disk (sockets, FIFOs, files, parent directories) is
//! recorded as it is created, with its device and inode, so that a failure, here or later
//! in the setdump, can close every fd and remove exactly what this run made, and nothing
//! else: a name is looked at through its directory fd before it is removed, and one that
//! is no longer the run's file (someone replaced it) is left alone, with a warning.
//!
//! Permissions are set by the umask at creation: with `mode` M the umask is `~M`, so a
//! socket, FIFO, file or directory is born with exactly M and is never more open than
//! asked, with no chmod afterwards (modes are at most 0777, which a umask can express). The
//! owner and group follow, without following a symlink. A symlink as the last component of
//! a path is never followed: bind(2) and mkfifo(2) refuse an existing one, files are opened
//! with `O_NOFOLLOW`, and chown is `fchown` on the fd, or for a socket `fchownat` on its
//! name (`AT_SYMLINK_NOFOLLOW`) where no other user can write in its directory, elsewhere
//! on an `O_PATH` fd of its file once that is known to be a socket of ours with one link
//! (so that a file swapped in, or a hard link to someone else's, is never chowned).
//!
//! The directory of every path is opened first, one component at a time from `/`
//! (`Opener::open_dir`), creating what is missing; FIFOs and files are then made and
//! opened relative to that fd, and everything is removed relative to it, so a symlink
//! swapped in on the way later cannot send a creation or a removal elsewhere. A symlink met
//! on the way is followed only when root (or the user running the tool) owns it, as
//! `/var/run` is: one planted by another user, in `/tmp` say, is refused.
//!
//! A unix socket path is bound first and looked at only if bind says it is in use, so the
//! common case costs socket, bind, listen and close. bind(2) takes no directory fd: it is
//! given the whole path (which becomes the socket's address) only where no other user can
//! change what that path resolves to, and `/proc/self/fd/N/name` elsewhere. A socket file
//! in the way is stale only if no socket in the system is bound to it (sock_diag), whether
//! or not one listens. A socket file the caller names as replaceable (the daemon's own
//! socket, being replaced) is renamed aside (`renameat2`, `RENAME_NOREPLACE`, to a random
//! hidden name) rather than unlinked, so that a failure can put it back: the rollback
//! renames it back, a finished run removes it, each only if it is still the file moved.

mod at;
mod dirs;
mod file;
mod netlink;
mod opener;
mod pipe;
mod rollback;
mod socket;
mod sockopts;
mod special;
mod symlinks;

use foldhash::HashSet;
use std::os::fd::OwnedFd;

use self::at::*;
use self::opener::*;
use crate::config::diag::Diag;
use crate::config::model::{Config, FdSpec};
use crate::config::plan::{Item, ItemIdx, Plan};

pub use self::rollback::{Leftover, Opened};

/// Whether another user could put a name in the directory at `dir`, sticky or not, as
/// the walk judges it; yes when it cannot be looked at.
pub fn others_may_add_in(dir: &std::path::Path) -> bool {
    nix::sys::stat::stat(dir).map_or(true, |st| others_may_add(&st))
}

/// The directory `dir` (absolute) of entry `e`, opened as a run opens it: by the walk
/// from `/`, with its rules on symlinks, creating nothing. For what looks at a held
/// socket's file by its declared path (the comparison, the fixes in place), which must
/// look where a run would bind, not wherever another user's symlink on the way leads.
pub fn open_dir_as_run(
    e: &crate::config::model::Entry,
    dir: &std::path::Path,
) -> Result<std::rc::Rc<OwnedFd>, Diag> {
    Opener::default().open_dir(e, dir, None)
}

/// An fd that could not be opened: the message, and what could not be undone.
#[derive(Debug)]
pub struct OpenFailure {
    /// What went wrong, for which entry.
    pub diag: Diag,
    /// What this run created and could not remove.
    pub leftovers: Vec<Leftover>,
}

/// Opens every fd of `plan`, calling `opened` for each (an `Err` from it stops the run:
/// the reason why, such as a signal); on the first failure, closes them all and undoes what
/// this run did on disk. A unix socket file whose device and inode are
/// in `replaceable` may be replaced (it is moved aside, and back on failure).
pub fn open_all<'a>(
    config: &'a Config,
    plan: &Plan,
    replaceable: &HashSet<(u64, u64)>,
    opened: &mut dyn FnMut(&Item) -> Result<(), String>,
) -> Result<Opened<'a>, OpenFailure> {
    let mut op = Opener {
        replaceable: Some(replaceable),
        // Room for a record an entry (the most a FIFO entry makes, beside a directory made
        // on the way): a vector grown by doubling copied and touched twice the records'
        // memory, a tenth of a large run's. What is not written is not touched: a file of
        // sockets records them in `bound`, a few runs of them.
        created: Vec::with_capacity(config.entries.len()),
        ..Opener::default()
    };
    let mut fds = Vec::with_capacity(plan.items.len());
    let mut result = Ok(());
    for e in &config.entries {
        op.item = ItemIdx(fds.len());
        // An entry's fds: one, or a pipe's two (`None`, then, is the second).
        let one = |fd: Result<OwnedFd, Diag>| fd.map(|fd| [Some(fd), None]);
        let r = match &e.spec {
            FdSpec::Unix {
                address,
                socket,
                backlog,
                perms,
                ..
            } => one(op.unix(e, address, *socket, *backlog, perms)),
            FdSpec::Inet {
                transport,
                backlog,
                options,
                ..
            } => one(op.inet(e, *transport, *backlog, options)),
            FdSpec::Fifo { path, perms, .. } => one(op.fifo(e, path, perms)),
            FdSpec::File {
                path,
                open,
                create,
                perms,
                ..
            } => one(op.file(e, path, *open, *create, perms)),
            FdSpec::Pipe { buffer_size, .. } => {
                pipe::pipe(e, *buffer_size).map(|[r, w]| [Some(r), Some(w)])
            }
            FdSpec::Special { path, writable, .. } => one(op.special(e, path, *writable)),
            FdSpec::Netlink {
                protocol, groups, ..
            } => one(netlink::open(e, *protocol, *groups)),
        };
        let new = match r {
            Ok(new) => new,
            Err(d) => {
                result = Err(d);
                break;
            }
        };
        // The entry's fds join the run's before its socket options, its symlinks or a
        // stop can fail: undoing the run then finds its socket's file by the socket, which
        // sock_diag can tell only while the socket is open.
        let first = fds.len();
        fds.extend(new.into_iter().flatten());
        let mut finish = |op: &mut Opener<'a, '_>, fds: &[OwnedFd]| {
            if matches!(
                e.spec,
                FdSpec::Unix { .. } | FdSpec::Inet { .. } | FdSpec::Netlink { .. }
            ) && let Some(fd) = fds.get(first)
                // An entry that sets none has nothing to set (a look at each of its options
                // was 70 instructions an entry).
                && let Some(o) = e.set_sockopts()
            {
                sockopts::set(e, fd, o)?;
            }
            if let Some((target, perms)) = e.spec.linked() {
                op.symlinks(e, target, e.symlinks(), Some(perms.directory_mode))?;
            }
            (first..fds.len())
                .try_for_each(|i| opened(&plan.items[i]).map_err(|why| refuse(e, why)))
        };
        if let Err(d) = finish(&mut op, &fds) {
            result = Err(d);
            break;
        }
    }
    let created = std::mem::take(&mut op.created);
    let bound = std::mem::take(&mut op.bound);
    let sock_diag = op.sock_diag.take().flatten();
    let asides = std::mem::take(&mut op.asides);
    drop(op);
    let opened = Opened {
        fds,
        created,
        bound,
        sock_diag,
        asides,
    };
    match result {
        Ok(()) => Ok(opened),
        Err(diag) => Err(OpenFailure {
            diag,
            leftovers: opened.rollback(config, plan, 0),
        }),
    }
}
