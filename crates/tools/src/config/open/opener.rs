//! The state of one opening: the umask, the directories walked, what was created.

use foldhash::{HashMap, HashSet};
use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, umask};

use super::at::*;
use super::rollback::*;
use crate::config::plan::ItemIdx;

/// The process umask, changed only when a creation needs another one, and put back at the end.
#[derive(Debug, Default)]
pub(super) struct Umask {
    pub(super) original: Option<Mode>,
    pub(super) current: Option<Mode>,
}

impl Umask {
    pub(super) fn set(&mut self, mask: Mode) {
        if self.current != Some(mask) {
            let old = umask(mask);
            self.original.get_or_insert(old);
            self.current = Some(mask);
        }
    }

    /// Sets the umask for creating with `mode` (exactly, from 0777), or the process's own
    /// for no mode; returns the mode to pass to the creating call.
    pub(super) fn for_mode(&mut self, mode: Option<u32>, default: u32) -> Mode {
        match mode {
            Some(m) => {
                self.set(Mode::from_bits_truncate(!m & 0o777));
                Mode::from_bits_truncate(0o777)
            }
            None => {
                if let Some(o) = self.original {
                    self.set(o);
                }
                Mode::from_bits_truncate(default)
            }
        }
    }
}

impl Drop for Umask {
    fn drop(&mut self) {
        if let Some(o) = self.original {
            umask(o);
        }
    }
}

/// Opens the fds, recording what it creates; what it records borrows its paths from the
/// config (`'a`).
#[derive(Default)]
pub(super) struct Opener<'a, 'r> {
    pub(super) umask: Umask,
    pub(super) created: Vec<Created<'a>>,
    /// The socket files bound that sock_diag knows again (see [`BoundSockets`]).
    pub(super) bound: Vec<BoundSockets>,
    pub(super) asides: Vec<Aside>,
    /// Socket files (device, inode) that may be replaced.
    pub(super) replaceable: Option<&'r HashSet<(u64, u64)>>,
    /// The plan item being opened.
    pub(super) item: ItemIdx,
    /// Every directory opened so far, by its path as written.
    pub(super) dirs: HashMap<PathBuf, Dir>,
    /// The directories of `dirs` whose whole path another user could make resolve to
    /// another directory (see [`exposed`]): a socket there is bound through the fd.
    pub(super) exposed: HashSet<PathBuf>,
    /// Whether sock_diag says which file a socket is bound to, once asked: then a socket
    /// file made is known again by its socket ([`Identity::Socket`]), with no stat, and
    /// the sock_diag socket asked is kept here (`Some(Some)`), so that the rollback can
    /// ask again when no fd is left to make one (a run that failed with EMFILE).
    pub(super) sock_diag: Option<Option<OwnedFd>>,
    /// The directory opened last, and whether it is in `exposed`.
    pub(super) last_dir: Option<(PathBuf, Dir, bool)>,
}

/// Whether another user could change what the directory `st` contains under a name it
/// does not own: it is theirs, or they may write to it and it is not sticky. (In a
/// sticky one such as `/tmp`, they cannot rename or remove what is not theirs.)
pub(super) fn exposed(st: &nix::sys::stat::FileStat) -> bool {
    let writable_by_others = st.st_mode & 0o022 != 0 && st.st_mode & 0o1000 == 0;
    !trusted_owner(st.st_uid) || writable_by_others
}

/// Whether another user could put a name in the directory `st`, sticky or not: it is
/// theirs, or they may write to it. The sticky bit keeps them from renaming or removing
/// what is not theirs, not from adding: a symlink of root's, say, moved from a directory
/// of theirs into `/tmp`.
pub(super) fn others_may_add(st: &nix::sys::stat::FileStat) -> bool {
    !trusted_owner(st.st_uid) || st.st_mode & 0o022 != 0
}

/// Whether another user could have put what is in the directory `dir`: they may add a name
/// to it ([`others_may_add`]), or `way_exposed` says a directory on the way to it is
/// [`exposed`]. Yes when `dir` cannot be looked at.
pub(super) fn others_write_in(dir: &OwnedFd, way_exposed: bool) -> bool {
    way_exposed || nix::sys::stat::fstat(dir).map_or(true, |st| others_may_add(&st))
}

impl<'a> Opener<'a, '_> {
    /// Records `name` in `parent`, the file `id` this run has just made, to be removed
    /// on failure if it is still that file.
    pub(super) fn record(
        &mut self,
        parent: &Dir,
        name: &OsStr,
        path: impl Into<Cow<'a, Path>>,
        dir: bool,
        id: Identity,
        pin: Option<OwnedFd>,
    ) {
        let path = path.into();
        // The name is the path's last component, where a rollback finds it again.
        debug_assert_eq!(split(&path).1, name);
        self.created.push(Created {
            item: self.item,
            parent: parent.clone(),
            path,
            dir,
            id,
            _pin: pin,
        });
    }
}
