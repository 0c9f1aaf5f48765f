//! The walk to a path's directory, one component at a time from `/`, creating what is
//! missing with the declared directory mode. A symlink on the way is followed only if
//! root's (or the user's), in a directory where no other user can put a name (sticky or
//! not), with no directory before it that another user can change; and then walked too,
//! one component of its target at a time: a directory is taken for one no other user can
//! change ([`exposed`]) only if every directory the way went through is.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat, readlinkat};
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
            let Some(name) = one_step(c) else { continue };
            here.push(name);
            if let Some(d) = self.dirs.get(&here) {
                cur = d.clone();
                open = self.exposed.contains(&here);
                continue;
            }
            let (next, through_exposed) =
                self.open_component(e, (&cur, open), name, &here, create)?;
            cur = Rc::new(next);
            self.dirs.insert(here.clone(), cur.clone());
            open = open || through_exposed || self.is_exposed(&cur, &here);
            if open {
                self.exposed.insert(here.clone());
            }
        }
        Ok(cur)
    }

    /// Whether the directory `dir` (at `here`) is [`exposed`], recording it if so; one
    /// that cannot be looked at counts as exposed.
    fn is_exposed(&mut self, dir: &Dir, here: &Path) -> bool {
        let e = fd_exposed(dir);
        if e {
            self.exposed.insert(here.to_path_buf());
        }
        e
    }

    /// One step of [`Opener::open_dir`]: `name` in `parent`, which is `here` (and whether
    /// `parent`, or a directory on the way to it, is [`exposed`]); and whether a directory
    /// on the way to it through a symlink is.
    pub(super) fn open_component(
        &mut self,
        e: &Entry,
        (parent, parent_exposed): (&Dir, bool),
        name: &OsStr,
        here: &Path,
        create: Option<u32>,
    ) -> Result<(OwnedFd, bool), Diag> {
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
            Err(Errno::ENOTDIR) => self.follow(e, (parent, parent_exposed), name, here, 0),
            r => r
                .map(|fd| (fd, false))
                .map_err(|errno| fail(e, format!("unable to open directory {shown}"), errno)),
        }
    }

    /// Opens the directory that `name` in `parent` (at `here`) points to, if it is a
    /// symlink that may be followed, walking its target one component at a time: the
    /// kernel, following it in one call, would go unseen through directories and symlinks
    /// of other users, and the directory found at the end, safe to look at, could be one
    /// another user chose; the socket then bound by its whole path, and chowned by its
    /// name, somewhere else. Whether a directory on the way is [`exposed`]. `depth` counts
    /// the symlinks followed, at most 40 as the kernel allows.
    ///
    /// A symlink is followed only if root's (or the user's), with one link, where no
    /// other user can put a name in `parent`, sticky or not ([`others_may_add`]), and no
    /// directory on the way to it is exposed (`parent_exposed`): another user can put any
    /// symlink of root's where they can add a name, moved from a directory of theirs. It is
    /// looked at and read through one `O_PATH` fd of it, so that what is read is what was
    /// looked at, not a symlink swapped in between.
    fn follow(
        &mut self,
        e: &Entry,
        (parent, parent_exposed): (&OwnedFd, bool),
        name: &OsStr,
        here: &Path,
        depth: u32,
    ) -> Result<(OwnedFd, bool), Diag> {
        let shown = here.display();
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let link = openat(parent, name, flags, Mode::empty())
            .map_err(|errno| fail(e, format!("unable to open {shown}"), errno))?;
        let st = nix::sys::stat::fstat(&link)
            .map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
        let t = file_type(st.st_mode);
        if t == SFlag::S_IFDIR {
            return Err(refuse(
                e,
                format!("{shown} changed while it was opened: it is left alone"),
            ));
        }
        if t != SFlag::S_IFLNK {
            return Err(refuse(
                e,
                format!("{shown} is {}, not a directory", type_name(t)),
            ));
        }
        // Who owns a symlink says nothing about who put it where it is.
        if others_write_in(parent, parent_exposed) {
            return Err(refuse(
                e,
                format!(
                    "{shown} is a symlink where another user can write: it is not followed \
                     (a symlink on the way is followed only where no one else can change it)"
                ),
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
        // A hard link to a symlink of root's is one that someone else may have made, in a
        // sticky directory say, where fs.protected_hardlinks is off.
        if st.st_nlink != 1 {
            return Err(refuse(
                e,
                format!(
                    "{shown} is a symlink with {} links: it is not followed",
                    st.st_nlink
                ),
            ));
        }
        let cannot = |errno| fail(e, format!("unable to open directory {shown}"), errno);
        if depth >= 40 {
            return Err(cannot(Errno::ELOOP));
        }
        let target = PathBuf::from(readlinkat(&link, "").map_err(cannot)?);
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        // From `/` for an absolute target, else from the symlink's own directory, whose
        // way the walk has looked at already.
        let (start, mut at) = match target.is_absolute() {
            true => (Path::new("/"), PathBuf::from("/")),
            false => (Path::new("."), here.parent().unwrap_or(here).to_path_buf()),
        };
        let mut cur = openat(parent, start, flags, Mode::empty()).map_err(cannot)?;
        let mut through_exposed = target.is_absolute() && fd_exposed(&cur);
        for c in target.components() {
            let Some(step) = one_step(c) else { continue };
            at.push(step);
            let next = match openat(&cur, step, flags | OFlag::O_NOFOLLOW, Mode::empty()) {
                Err(Errno::ENOTDIR) => {
                    let way = (&cur, through_exposed);
                    let (fd, through) = self.follow(e, way, step, &at, depth + 1)?;
                    through_exposed |= through;
                    fd
                }
                r => r.map_err(|errno| {
                    fail(
                        e,
                        format!("unable to open directory {}", at.display()),
                        errno,
                    )
                })?,
            };
            through_exposed |= fd_exposed(&next);
            cur = next;
        }
        Ok((cur, through_exposed))
    }
}

/// The name a walk opens for the path component `c`: `..` for a parent, `None` for the
/// root and `.`, which take no step.
fn one_step(c: Component<'_>) -> Option<&OsStr> {
    match c {
        Component::Normal(n) => Some(n),
        Component::ParentDir => Some(OsStr::new("..")),
        _ => None,
    }
}

/// Whether the directory `fd` is [`exposed`]; one that cannot be looked at counts as one.
fn fd_exposed(fd: &OwnedFd) -> bool {
    nix::sys::stat::fstat(fd).map_or(true, |st| exposed(&st))
}
