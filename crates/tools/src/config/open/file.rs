//! FIFOs and regular files, made and opened relative to their directory's fd.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat};
use nix::unistd::{fchown, mkfifoat};

use super::at::*;
use super::opener::*;
use super::rollback::Identity;
use crate::config::diag::Diag;
use crate::config::model::{Entry, OpenMode, Perms};

/// The permission bits a FIFO or file gets when the config gives no `mode` (less the umask).
pub(super) const DEFAULT_FILE_MODE: u32 = 0o666;

impl<'a> Opener<'a, '_> {
    pub(super) fn fifo(
        &mut self,
        e: &Entry,
        path: &'a Path,
        perms: &Perms,
    ) -> Result<OwnedFd, Diag> {
        let shown = path.display();
        let (parent, name) = split(path);
        let dir = self.open_dir(e, parent, Some(perms.directory_mode))?;
        let m = self.umask.for_mode(perms.mode, DEFAULT_FILE_MODE);
        let not_fifo = |t| {
            let what = format!("{shown} exists and is {}, not a FIFO", type_name(t));
            Err(refuse(e, what))
        };
        let created = match mkfifoat(&*dir, name, m) {
            Ok(()) => {
                let st = stat_in(&dir, name)
                    .map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
                self.record(&dir, name, path, false, Identity::File(file_id(&st)), None);
                true
            }
            Err(Errno::EEXIST) => {
                // Looked at before it is opened: opening a device can have effects.
                let st = stat_in(&dir, name)
                    .map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
                match file_type(st.st_mode) {
                    SFlag::S_IFIFO => false,
                    t => return not_fifo(t),
                }
            }
            Err(errno) => return Err(fail(e, format!("unable to create the FIFO {shown}"), errno)),
        };
        // Read-write and non-blocking: holding it neither blocks nor ever sees end of file.
        let flags = OFlag::O_RDWR | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let fd = match openat(&*dir, name, flags, Mode::empty()) {
            Err(Errno::ELOOP) => return not_fifo(SFlag::S_IFLNK),
            r => r.map_err(|errno| fail(e, format!("unable to open {shown}"), errno))?,
        };
        // What was opened is what was looked at or made, not something swapped in since.
        let st = fstat(&fd).map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
        match file_type(st.st_mode) {
            SFlag::S_IFIFO => {}
            t => return not_fifo(t),
        }
        if created {
            ours(e, &st, path)?;
            chown_fd(e, &fd, path, perms)?;
        } else {
            adoptable(e, (&dir, name), &st, (path, self.dir_exposed(parent)))?;
        }
        Ok(fd)
    }

    pub(super) fn file(
        &mut self,
        e: &Entry,
        path: &'a Path,
        mode: OpenMode,
        create: bool,
        perms: &Perms,
    ) -> Result<OwnedFd, Diag> {
        let shown = path.display();
        let (parent, name) = split(path);
        let dir = self.open_dir(e, parent, create.then_some(perms.directory_mode))?;
        let access = match mode {
            OpenMode::Read => OFlag::O_RDONLY,
            OpenMode::Write => OFlag::O_WRONLY,
            OpenMode::Append => OFlag::O_WRONLY | OFlag::O_APPEND,
            OpenMode::ReadWrite => OFlag::O_RDWR,
        };
        // O_NONBLOCK: a FIFO or device at the path must not hang the run; it is refused below.
        let flags =
            access | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
        let mut created = false;
        let mut r = Err(Errno::EEXIST);
        if create {
            // O_EXCL: the fd is the file made here, whatever is swapped in afterwards.
            let m = self.umask.for_mode(perms.mode, DEFAULT_FILE_MODE);
            r = openat(&*dir, name, flags | OFlag::O_CREAT | OFlag::O_EXCL, m);
            if let Ok(fd) = &r {
                let st =
                    fstat(fd).map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
                self.record(&dir, name, path, false, Identity::File(file_id(&st)), None);
                created = true;
            }
        }
        if matches!(r, Err(Errno::EEXIST)) {
            r = openat(&*dir, name, flags, Mode::empty());
        }
        let fd = r.map_err(|errno| open_failure(e, &shown, errno))?;
        let st = fstat(&fd).map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
        let t = file_type(st.st_mode);
        if t != SFlag::S_IFREG {
            return Err(refuse(
                e,
                format!("{shown} is {}, not a regular file", type_name(t)),
            ));
        }
        fcntl(&fd, FcntlArg::F_SETFL(flags & OFlag::O_APPEND))
            .map_err(|errno| fail(e, format!("unable to set the flags of {shown}"), errno))?;
        if created {
            chown_fd(e, &fd, path, perms)?;
        } else {
            adoptable(e, (&dir, name), &st, (path, self.dir_exposed(parent)))?;
        }
        Ok(fd)
    }
}

/// Refuses a FIFO or regular file this run did not make (`st`, opened as `name` in `dir`,
/// at `path`) where another user can put a name in `dir` (sticky or not, or any directory
/// on the way is `exposed`): one with more than one link, or no longer at its name (a hard
/// link to someone else's file, which a user can make where fs.protected_hardlinks is off,
/// maybe removed again between the open and the look); and, in a sticky directory others
/// write in, one that is neither the user's nor the directory owner's, which the kernel
/// itself refuses to an `O_CREAT` open (fs.protected_regular, fs.protected_fifos): the
/// tool's `O_EXCL` open fails first, and the second open has no such guard.
pub(super) fn adoptable(
    e: &Entry,
    (dir, name): (&OwnedFd, &std::ffi::OsStr),
    st: &FileStat,
    (path, exposed): (&Path, bool),
) -> Result<(), Diag> {
    let d = fstat(dir).map_err(|errno| {
        fail(
            e,
            format!("unable to stat the directory of {}", path.display()),
            errno,
        )
    })?;
    if !exposed && !others_may_add(&d) {
        return Ok(());
    }
    let shown = path.display();
    if st.st_nlink != 1 {
        return Err(refuse(
            e,
            format!(
                "{shown} has {} links, in a directory another user can write in: it is left alone",
                st.st_nlink
            ),
        ));
    }
    // Opened by a second link, unlinked since: its count of one says nothing.
    let still = stat_in(dir, name)
        .is_ok_and(|now| (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino) && now.st_nlink == 1);
    if !still {
        return Err(refuse(
            e,
            format!("{shown} changed while it was opened: it is left alone"),
        ));
    }
    let shared_sticky = d.st_mode & 0o1000 != 0 && d.st_mode & 0o022 != 0;
    if shared_sticky && !trusted_owner(st.st_uid) && st.st_uid != d.st_uid {
        return Err(refuse(
            e,
            format!(
                "{shown} is uid {}'s, in a sticky directory others write in: it is left alone",
                st.st_uid
            ),
        ));
    }
    Ok(())
}

/// Gives what `fd` refers to its owner and group, if the entry names them.
pub(super) fn chown_fd(e: &Entry, fd: &OwnedFd, path: &Path, perms: &Perms) -> Result<(), Diag> {
    if perms.owner.is_none() && perms.group.is_none() {
        return Ok(());
    }
    fchown(fd, perms.owner, perms.group)
        .map_err(|errno| fail(e, format!("unable to chown {}", path.display()), errno))
}
