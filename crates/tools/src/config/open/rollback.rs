//! What a run created, with what it needs to undo it: the fds to close, the names to remove
//! (through their directory fds), the files renamed aside to put back.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{RenameFlags, renameat2};
use nix::unistd::{UnlinkatFlags, ftruncate, unlinkat};

use super::at::*;
use crate::config::diag::Diag;
use crate::config::model::{Config, FdSpec};
use crate::config::plan::{ItemIdx, Plan};

/// Something this run created on disk.
#[derive(Debug)]
pub(super) struct Created<'a> {
    /// The plan item it was created for.
    pub(super) item: ItemIdx,
    /// The directory it was created in: it is removed from there.
    pub(super) parent: Dir,
    /// Its whole path, for messages; its last component is its name in `parent`. Borrowed
    /// from the config, but for a directory made on the way: a copy per socket was an
    /// allocation per entry.
    pub(super) path: Cow<'a, Path>,
    pub(super) dir: bool,
    /// Which file it is: only that file is ever removed under its name.
    pub(super) id: Identity,
    /// An `O_PATH` fd of it, for a file no other fd of the run holds (a symlink), kept
    /// while it is recorded: its inode cannot be freed and its number given to a file put
    /// in its place, which would then pass for ours.
    pub(super) _pin: Option<OwnedFd>,
}

/// The socket files this run bound, one for each of a run of plan items in one directory,
/// where sock_diag tells which file a socket is bound to: what a [`Created`] of
/// [`Identity::Socket`] would say of each, in 24 bytes for the run (most files bind their
/// sockets in a few directories) instead of 72 a socket. Their paths are their entries',
/// found again through their plan items.
#[derive(Debug)]
pub(super) struct BoundSockets {
    /// The plan item of the first.
    pub(super) first: ItemIdx,
    /// How many, of the items from `first` on.
    pub(super) count: usize,
    /// The directory they were bound in: they are removed from there.
    pub(super) parent: Dir,
}

impl BoundSockets {
    /// Records the socket of `item`, bound in `parent`, in the last run of `runs`, or in a
    /// run of its own.
    pub(super) fn push(runs: &mut Vec<BoundSockets>, item: ItemIdx, parent: &Dir) {
        match runs.last_mut() {
            Some(r) if r.first.0 + r.count == item.0 && Rc::ptr_eq(&r.parent, parent) => {
                r.count += 1;
            }
            _ => runs.push(BoundSockets {
                first: item,
                count: 1,
                parent: parent.clone(),
            }),
        }
    }

    /// Takes the socket of `item` out of `runs` if it is the last recorded: the directory
    /// it was bound in.
    pub(super) fn pop(runs: &mut Vec<BoundSockets>, item: ItemIdx) -> Option<Dir> {
        let r = runs.last_mut()?;
        if r.first.0 + r.count != item.0 + 1 {
            return None;
        }
        r.count -= 1;
        let parent = r.parent.clone();
        if r.count == 0 {
            runs.pop();
        }
        Some(parent)
    }

    /// Each plan item of the run, with the directory.
    fn each(&self) -> impl Iterator<Item = (ItemIdx, &Dir)> {
        (self.first.0..self.first.0 + self.count).map(|i| (ItemIdx(i), &self.parent))
    }
}

/// The record of the socket file of `item` in `parent`, at `path`, known by `id`.
pub(super) fn socket_record(item: ItemIdx, parent: Dir, path: &Path, id: Identity) -> Created<'_> {
    Created {
        item,
        parent,
        path: Cow::Borrowed(path),
        dir: false,
        id,
        _pin: None,
    }
}

/// How a run knows a file it made again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Identity {
    /// Its `(device, inode)`, as stat gave it once made.
    File((u64, u64)),
    /// The socket file its item's socket is bound to, asked of the kernel (sock_diag) only
    /// when the run is undone: a stat per socket was a tenth of a run's time, for a
    /// failure that seldom comes.
    Socket,
    /// That socket file, once asked: its device and the low 32 bits of its inode (all
    /// sock_diag says); `None` when the kernel could not say.
    Bound(Option<(u64, u32)>),
}

impl Identity {
    /// Whether the file `st` is the one identified.
    fn is(self, st: &nix::sys::stat::FileStat) -> bool {
        match self {
            Identity::File(id) => file_id(st) == id,
            Identity::Bound(Some((dev, ino))) => {
                file_type(st.st_mode) == nix::sys::stat::SFlag::S_IFSOCK
                    && st.st_dev == dev
                    && st.st_ino as u32 == ino
            }
            Identity::Socket | Identity::Bound(None) => false,
        }
    }
}

impl Created<'_> {
    /// Removes it from its directory if the name is still the file this run made; a
    /// directory something else now lives in stays. `Err(None)`: the name is no longer
    /// this run's (someone replaced it), and it is left alone.
    pub(super) fn remove(&self) -> Result<(), Option<Errno>> {
        let name = split(&self.path).1;
        match stat_in(&self.parent, name) {
            Ok(st) if self.id.is(&st) => {}
            // The kernel could not say which file the socket is bound to.
            Ok(_) if self.id == Identity::Bound(None) => return Err(Some(Errno::ENODATA)),
            Ok(_) => return Err(None),
            // Gone already: nothing of ours to remove.
            Err(Errno::ENOENT) => return Ok(()),
            Err(errno) => return Err(Some(errno)),
        }
        let flag = if self.dir {
            UnlinkatFlags::RemoveDir
        } else {
            UnlinkatFlags::NoRemoveDir
        };
        match unlinkat(&*self.parent, name, flag) {
            Err(Errno::ENOTEMPTY | Errno::EEXIST) if self.dir => Ok(()),
            r => r.map_err(Some),
        }
    }
}

/// A socket file renamed aside to bind a new socket in its place.
#[derive(Debug)]
pub(super) struct Aside {
    /// The plan item it was moved for.
    pub(super) item: ItemIdx,
    /// The directory both names are in.
    pub(super) dir: Dir,
    /// Its name, and the unguessable one it was moved to.
    pub(super) name: OsString,
    pub(super) aside: OsString,
    /// The socket file's `(device, inode)`: only that file is moved back or removed.
    pub(super) id: (u64, u64),
    /// Its whole path, for messages.
    pub(super) path: PathBuf,
}

impl Aside {
    /// The aside name's whole path, for messages.
    fn aside_path(&self) -> PathBuf {
        self.path.with_file_name(&self.aside)
    }
}

/// The fds of a plan, opened, and what was created on disk for them.
#[derive(Debug)]
pub struct Opened<'a> {
    /// One fd per plan item, in plan order.
    pub fds: Vec<OwnedFd>,
    pub(super) created: Vec<Created<'a>>,
    /// The socket files bound, as runs of plan items, in the order they were bound.
    pub(super) bound: Vec<BoundSockets>,
    pub(super) asides: Vec<Aside>,
    /// The sock_diag socket that knows `bound` again, kept from the opening.
    pub(super) sock_diag: Option<OwnedFd>,
}

/// A path this run created and could not remove when undoing its work.
#[derive(Debug)]
pub struct Leftover {
    /// The path.
    pub path: PathBuf,
    /// Why it could not be removed: `None` when it is no longer this run's file (someone
    /// replaced it), which is then left alone.
    pub errno: Option<Errno>,
}

impl<'a> Opened<'a> {
    /// Removes what this run created for the items of `plan` (of `config`, as opened)
    /// from `keep` on, newest first (so directories are empty when their turn comes),
    /// then closes every fd. Items before `keep` are the ones a daemon has taken: their
    /// files stay. The fds stay open until then so that their files' inodes do: a file of
    /// ours unlinked by someone else cannot have its inode number reused, meanwhile, by a
    /// file that would pass for ours.
    pub fn rollback(mut self, config: &'a Config, plan: &Plan, keep: usize) -> Vec<Leftover> {
        // The bound sockets' records, with their entries' paths.
        let runs = std::mem::take(&mut self.bound);
        let bound = runs
            .iter()
            .flat_map(BoundSockets::each)
            .filter_map(|(item, parent)| {
                let e = &config.entries[plan.items.get(item.0)?.entry];
                let path = e.spec.unix_path()?;
                Some(socket_record(item, parent.clone(), path, Identity::Socket))
            });
        let mut sockets: Vec<Created<'a>> = bound.filter(|c| c.item.0 >= keep).collect();
        // The sockets' files, asked before their fds close, on the sock_diag socket of the
        // opening: a run that failed for want of fds has none left to make another.
        let created = self.created.iter_mut().filter(|c| c.item.0 >= keep);
        for c in created.chain(&mut sockets) {
            if c.id == Identity::Socket {
                let file = self.fds.get(c.item.0).and_then(|fd| {
                    crate::fdinfo::bound_file_on(self.sock_diag.as_ref()?.as_fd(), fd.as_fd())
                });
                c.id = Identity::Bound(file);
            }
        }
        let mut left = Vec::new();
        let undo = self.created.iter().rev().filter(|c| c.item.0 >= keep);
        for c in sockets.iter().rev().chain(undo.clone().filter(|c| !c.dir)) {
            if let Err(errno) = c.remove() {
                left.push(Leftover {
                    path: c.path.to_path_buf(),
                    errno,
                });
            }
        }
        // The sockets moved aside for items the daemon did not take go back in place.
        let (back, taken): (Vec<Aside>, Vec<Aside>) =
            self.asides.drain(..).partition(|a| a.item.0 >= keep);
        for a in back.iter().rev() {
            if let Err(errno) = put_back(a) {
                left.push(Leftover {
                    path: a.aside_path(),
                    errno,
                });
            }
        }
        left.extend(remove_asides(taken));
        for c in undo.filter(|c| c.dir) {
            // (Something else now lives in it, or a kept item: not ours to remove.)
            if let Err(errno) = c.remove() {
                left.push(Leftover {
                    path: c.path.to_path_buf(),
                    errno,
                });
            }
        }
        left
    }

    /// Removes the sockets moved aside: the daemon took what replaced them. Returns what
    /// could not be removed.
    pub fn drop_asides(&mut self) -> Vec<Leftover> {
        remove_asides(std::mem::take(&mut self.asides))
    }

    /// Finishes a run the daemon accepted: truncates the files that ask for it (only now,
    /// so that a failed run leaves their contents alone). Returns the run, its fds (the
    /// daemon has its own copies) and its records of what it created (moot now), for the
    /// caller to drop, or to leave to the process's end: a close each was a tenth of the
    /// system time of a large run, and freeing the records a thirtieth of its own work.
    pub fn finish(self, config: &Config, plan: &Plan) -> Result<Self, Diag> {
        for (item, fd) in plan.items.iter().zip(&self.fds) {
            let e = &config.entries[item.entry];
            if let FdSpec::File {
                truncate: true,
                path,
                ..
            } = &e.spec
            {
                ftruncate(fd, 0).map_err(|errno| {
                    fail(e, format!("unable to truncate {}", path.display()), errno)
                })?;
            }
        }
        Ok(self)
    }
}

/// Renames a socket file moved aside back to its name, if the aside name is still that
/// file and nothing took its name meanwhile.
fn put_back(a: &Aside) -> Result<(), Option<Errno>> {
    match stat_in(&a.dir, &a.aside) {
        Ok(st) if file_id(&st) == a.id => {}
        Ok(_) => return Err(None),
        Err(errno) => return Err(Some(errno)),
    }
    let (dir, flags) = (&*a.dir, RenameFlags::RENAME_NOREPLACE);
    renameat2(dir, a.aside.as_os_str(), dir, a.name.as_os_str(), flags).map_err(Some)
}

/// Unlinks the moved-aside socket files that are still the files moved; returns what
/// could not be removed or is no longer this run's.
pub(super) fn remove_asides(asides: Vec<Aside>) -> Vec<Leftover> {
    asides
        .into_iter()
        .filter_map(|a| {
            let r = match unlink_if_same(&a.dir, &a.aside, a.id) {
                Ok(true) => Ok(()),
                Ok(false) => Err(None),
                Err(errno) => Err(Some(errno)),
            };
            r.err().map(|errno| Leftover {
                path: a.aside_path(),
                errno,
            })
        })
        .collect()
}

/// A name to move `name` aside to, in its own directory: hidden, and unguessable (16
/// random bytes from the kernel), so that no one can prepare anything under it; the
/// rename is `RENAME_NOREPLACE` anyway.
pub(super) fn aside_name(name: &OsStr) -> Result<OsString, Errno> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| e.raw_os_error().map_or(Errno::EIO, Errno::from_raw))?;
    let mut aside = OsString::from(".");
    aside.push(name);
    aside.push(".s6-fdholder-setdump-old.");
    for b in bytes {
        aside.push(format!("{b:02x}"));
    }
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sockets bound one after the other in one directory make one run; another
    /// directory or a gap in the items starts another; only the last socket is taken out.
    #[test]
    fn bound_sockets_run_by_directory() {
        let dir = |p: &str| -> Dir {
            Rc::new(
                nix::fcntl::open(p, nix::fcntl::OFlag::O_PATH, nix::sys::stat::Mode::empty())
                    .unwrap(),
            )
        };
        let (a, b) = (dir("/"), dir("/tmp"));
        let mut runs = Vec::new();
        for (item, parent) in [(0, &a), (1, &a), (2, &a), (3, &b), (5, &b), (6, &a)] {
            BoundSockets::push(&mut runs, ItemIdx(item), parent);
        }
        let each: Vec<(usize, bool)> = (runs.iter().flat_map(BoundSockets::each))
            .map(|(i, p)| (i.0, Rc::ptr_eq(p, &a)))
            .collect();
        let want = [
            (0, true),
            (1, true),
            (2, true),
            (3, false),
            (5, false),
            (6, true),
        ];
        assert_eq!(each, want);
        assert_eq!(runs.len(), 4);
        assert!(
            BoundSockets::pop(&mut runs, ItemIdx(5)).is_none(),
            "not the last"
        );
        assert!(BoundSockets::pop(&mut runs, ItemIdx(6)).is_some_and(|p| Rc::ptr_eq(&p, &a)));
        assert_eq!(runs.len(), 3);
        assert!(BoundSockets::pop(&mut runs, ItemIdx(5)).is_some_and(|p| Rc::ptr_eq(&p, &b)));
        assert_eq!(runs.last().map(|r| (r.first.0, r.count)), Some((3, 1)));
    }
}
