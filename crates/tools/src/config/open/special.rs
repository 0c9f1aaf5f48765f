//! Special files (systemd's `ListenSpecial=`): a character device or regular file that
//! exists, opened through its directory's fd as systemd opens it: read-only or read-write,
//! non-blocking, never following a symlink, never becoming the controlling terminal.
//! Nothing is created, so nothing is undone.

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstat};

use super::at::*;
use super::opener::Opener;
use crate::config::diag::Diag;
use crate::config::model::Entry;

impl Opener<'_, '_> {
    /// Opens the special file at `path`.
    pub(super) fn special(
        &mut self,
        e: &Entry,
        path: &Path,
        writable: bool,
    ) -> Result<OwnedFd, Diag> {
        let shown = path.display();
        let (parent, name) = split(path);
        let dir = self.open_dir(e, parent, None)?;
        let access = if writable {
            OFlag::O_RDWR
        } else {
            OFlag::O_RDONLY
        };
        let flags =
            access | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
        let fd = openat(&*dir, name, flags, Mode::empty())
            .map_err(|errno| open_failure(e, &shown, errno))?;
        let st = fstat(&fd).map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
        match file_type(st.st_mode) {
            SFlag::S_IFCHR => Ok(fd),
            SFlag::S_IFREG => {
                let exposed = self.dir_exposed(parent);
                super::file::adoptable(e, (&dir, name), &st, (path, exposed))?;
                Ok(fd)
            }
            t => Err(refuse(
                e,
                format!(
                    "{shown} is {}, not a character device or regular file",
                    type_name(t)
                ),
            )),
        }
    }
}
