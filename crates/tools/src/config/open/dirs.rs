//! The walk to a path's directory, one component at a time from `/`, creating what is
//! missing with the declared directory mode.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Component, Path};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::{Mode, SFlag, mkdirat};

use super::at::*;
use super::opener::*;
use super::rollback::Identity;
use crate::config::diag::Diag;
use crate::config::model::Entry;

impl Opener<'_, '_> {
    /// Opens the directory `dir` (absolute) for entry `e`, one component at a time from
    /// `/`, never through another user's symlink; with `create`, a missing one is made with
    /// those permission bits and recorded.
    pub(super) fn open_dir(
        &mut self,
        e: &Entry,
        dir: &Path,
        create: Option<u32>,
    ) -> Result<Dir, Diag> {
        // Most entries are in the directory of the one before: a comparison, not a lookup.
        if let Some((last, d, _)) = &self.last_dir
            && last.as_os_str() == dir.as_os_str()
        {
            return Ok(d.clone());
        }
        let d = match self.dirs.get(dir) {
            Some(d) => d.clone(),
            None => self.walk(e, dir, create)?,
        };
        let exposed = self.exposed.contains(dir);
        self.last_dir = Some((dir.to_path_buf(), d.clone(), exposed));
        Ok(d)
    }

    /// Whether the directory `dir`, opened by [`Opener::open_dir`], is [`exposed`].
    pub(super) fn dir_exposed(&self, dir: &Path) -> bool {
        match &self.last_dir {
            Some((last, _, exposed)) if last.as_os_str() == dir.as_os_str() => *exposed,
            _ => self.exposed.contains(dir),
        }
    }

    /// [`Opener::open_dir`] for a directory not opened yet.
    fn walk(&mut self, e: &Entry, dir: &Path, create: Option<u32>) -> Result<Dir, Diag> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let root = Path::new("/");
        let mut cur = match self.dirs.get(root) {
            Some(d) => d.clone(),
            None => Rc::new(
                open(root, flags, Mode::empty())
                    .map_err(|errno| fail(e, "unable to open directory /".into(), errno))?,
            ),
        };
        self.dirs.insert(root.to_path_buf(), cur.clone());
        let mut here = root.to_path_buf();
        let mut open = self.exposed.contains(root) || self.is_exposed(&cur, root);
        for c in dir.components() {
            let name = match c {
                Component::Normal(n) => n,
                Component::ParentDir => OsStr::new(".."),
                _ => continue,
            };
            here.push(name);
            if let Some(d) = self.dirs.get(&here) {
                cur = d.clone();
                open = self.exposed.contains(&here);
                continue;
            }
            let next = self.open_component(e, &cur, name, &here, create)?;
            cur = Rc::new(next);
            self.dirs.insert(here.clone(), cur.clone());
            open = open || self.is_exposed(&cur, &here);
            if open {
                self.exposed.insert(here.clone());
            }
        }
        Ok(cur)
    }

    /// Whether the directory `dir` (at `here`) is [`exposed`], recording it if so; one
    /// that cannot be looked at counts as exposed.
    fn is_exposed(&mut self, dir: &Dir, here: &Path) -> bool {
        let e = nix::sys::stat::fstat(&**dir).map_or(true, |st| exposed(&st));
        if e {
            self.exposed.insert(here.to_path_buf());
        }
        e
    }

    /// One step of [`Opener::open_dir`]: `name` in `parent`, which is `here`.
    pub(super) fn open_component(
        &mut self,
        e: &Entry,
        parent: &Dir,
        name: &OsStr,
        here: &Path,
        create: Option<u32>,
    ) -> Result<OwnedFd, Diag> {
        let shown = here.display();
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let mut r = openat(&**parent, name, flags | OFlag::O_NOFOLLOW, Mode::empty());
        if let (Err(Errno::ENOENT), Some(mode)) = (&r, create) {
            let m = self.umask.for_mode(Some(mode), 0);
            match mkdirat(&**parent, name, m) {
                Ok(()) => {
                    // Its identity is taken at once, so that the rollback removes this
                    // directory and no other put at its name later.
                    let st = stat_in(parent, name)
                        .map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
                    let id = Identity::File(file_id(&st));
                    self.record(parent, name, here.to_path_buf(), true, id, None);
                }
                // Made meanwhile by someone else: looked at below like any other.
                Err(Errno::EEXIST) => {}
                Err(errno) => {
                    return Err(fail(
                        e,
                        format!("unable to create directory {shown}"),
                        errno,
                    ));
                }
            }
            r = openat(&**parent, name, flags | OFlag::O_NOFOLLOW, Mode::empty());
        }
        match r {
            // A symlink (O_NOFOLLOW with O_DIRECTORY), or not a directory at all.
            Err(Errno::ENOTDIR) => {
                let st = stat_in(parent, name)
                    .map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
                let t = file_type(st.st_mode);
                if t != SFlag::S_IFLNK {
                    return Err(refuse(
                        e,
                        format!("{shown} is {}, not a directory", type_name(t)),
                    ));
                }
                if !trusted_owner(st.st_uid) {
                    return Err(refuse(
                        e,
                        format!(
                            "{shown} is a symlink owned by uid {}: it is not followed \
                             (only root's are, on the way to what the run creates)",
                            st.st_uid
                        ),
                    ));
                }
                openat(&**parent, name, flags, Mode::empty())
                    .map_err(|errno| fail(e, format!("unable to open directory {shown}"), errno))
            }
            r => r.map_err(|errno| fail(e, format!("unable to open directory {shown}"), errno)),
        }
    }
}
