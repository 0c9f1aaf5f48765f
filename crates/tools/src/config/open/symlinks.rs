//! `symlinks`: symbolic links to a unix socket's path or a FIFO, made beside it once it
//! is created (systemd's `Symlinks=`), through the fd of each link's directory, and
//! recorded so that a rollback removes those this run made. A link that already points at
//! the path is left as it is, but for one of another user's where another user can put a
//! name (which they could repoint at a socket of theirs); anything else at a link's name
//! is an error, as in systemd.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, readlinkat};
use nix::sys::stat::{Mode, fstat};
use nix::unistd::symlinkat;

use super::at::*;
use super::opener::{Opener, others_write_in};
use super::rollback::Identity;
use crate::config::diag::Diag;
use crate::config::model::{DEFAULT_DIRECTORY_MODE, Entry};

impl<'a> Opener<'a, '_> {
    /// Makes every link of `links` point at `target`.
    pub(super) fn symlinks(
        &mut self,
        e: &Entry,
        target: &Path,
        links: &'a [PathBuf],
        directory_mode: Option<u32>,
    ) -> Result<(), Diag> {
        for link in links {
            let shown = link.display();
            let (parent, name) = split(link);
            let dir = self.open_dir(
                e,
                parent,
                Some(directory_mode.unwrap_or(DEFAULT_DIRECTORY_MODE)),
            )?;
            match symlinkat(target, &*dir, name) {
                Ok(()) => {
                    // What this run made, by identity, so that a rollback removes only it;
                    // held by an O_PATH fd meanwhile, so that its inode is not reused.
                    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                    let pin = openat(&*dir, name, flags, Mode::empty())
                        .map_err(|errno| fail(e, format!("unable to open {shown}"), errno))?;
                    let st = fstat(&pin)
                        .map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
                    let id = Identity::File(file_id(&st));
                    self.record(&dir, name, link, false, id, Some(pin));
                }
                Err(Errno::EEXIST) => {
                    let exposed = self.dir_exposed(parent);
                    self.existing_link(e, (&dir, name), (link, exposed), target)?;
                }
                Err(errno) => {
                    return Err(fail(
                        e,
                        format!("unable to create the symlink {shown}"),
                        errno,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks the link that exists at `name` in `dir` (at `link`; `exposed` if a directory
    /// on the way is): a symlink pointing at `target`, looked at and read through one
    /// `O_PATH` fd of it, and not another user's where another user can put a name in
    /// `dir`, sticky or not.
    fn existing_link(
        &self,
        e: &Entry,
        (dir, name): (&Dir, &std::ffi::OsStr),
        (link, exposed): (&Path, bool),
        target: &Path,
    ) -> Result<(), Diag> {
        let shown = link.display();
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&**dir, name, flags, Mode::empty())
            .map_err(|errno| fail(e, format!("unable to open {shown}"), errno))?;
        let st = fstat(&fd).map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
        if file_type(st.st_mode) != nix::sys::stat::SFlag::S_IFLNK {
            return Err(refuse(e, format!("{shown} exists and is not a symlink")));
        }
        let t = readlinkat(&fd, "")
            .map_err(|errno| fail(e, format!("unable to read the symlink {shown}"), errno))?;
        if Path::new(&t) != target {
            return Err(refuse(
                e,
                format!(
                    "the symlink {shown} points at {}, not {}",
                    Path::new(&t).display(),
                    target.display()
                ),
            ));
        }
        if others_write_in(dir, exposed) && !trusted_owner(st.st_uid) {
            return Err(refuse(
                e,
                format!(
                    "the symlink {shown} is uid {}'s, where another user can put a name: it \
                     is left alone",
                    st.st_uid
                ),
            ));
        }
        Ok(())
    }
}
