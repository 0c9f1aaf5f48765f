//! What a run created, with what it needs to undo it: the fds to close, the names to remove
//! (through their directory fds), the files renamed aside to put back.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AT_FDCWD;
use nix::unistd::{UnlinkatFlags, ftruncate, unlink, unlinkat};

use super::at::*;
use crate::config::diag::Diag;
use crate::config::model::{Config, FdSpec};
use crate::config::plan::{ItemIdx, Plan};

/// Something this run created on disk.
#[derive(Debug)]
pub(super) struct Created {
    /// The plan item it was created for.
    pub(super) item: ItemIdx,
    /// The directory it was created in, and its name there: it is removed from there.
    pub(super) parent: Dir,
    pub(super) name: OsString,
    /// Its whole path, for messages.
    pub(super) path: PathBuf,
    pub(super) dir: bool,
}

impl Created {
    /// Removes it from its directory; a directory something else now lives in stays.
    pub(super) fn remove(&self) -> Result<(), Errno> {
        let flag = if self.dir {
            UnlinkatFlags::RemoveDir
        } else {
            UnlinkatFlags::NoRemoveDir
        };
        match unlinkat(&*self.parent, self.name.as_os_str(), flag) {
            Err(Errno::ENOTEMPTY | Errno::EEXIST) if self.dir => Ok(()),
            r => r,
        }
    }
}

/// A socket file renamed aside to bind a new socket in its place.
#[derive(Debug)]
pub(super) struct Aside {
    /// The plan item it was moved for.
    pub(super) item: ItemIdx,
    pub(super) path: PathBuf,
    pub(super) aside: PathBuf,
}

/// The fds of a plan, opened, and what was created on disk for them.
#[derive(Debug)]
pub struct Opened {
    /// One fd per plan item, in plan order.
    pub fds: Vec<OwnedFd>,
    pub(super) created: Vec<Created>,
    pub(super) asides: Vec<Aside>,
}

/// A path this run created and could not remove when undoing its work.
#[derive(Debug)]
pub struct Leftover {
    /// The path.
    pub path: PathBuf,
    /// Why it could not be removed.
    pub errno: Errno,
}

impl Opened {
    /// Closes every fd, and removes what this run created for plan items from `keep` on,
    /// newest first (so directories are empty when their turn comes). Items before `keep`
    /// are the ones a daemon has taken: their files stay.
    pub fn rollback(mut self, keep: usize) -> Vec<Leftover> {
        drop(std::mem::take(&mut self.fds));
        let mut left = Vec::new();
        let undo = self.created.iter().rev().filter(|c| c.item.0 >= keep);
        for c in undo.clone().filter(|c| !c.dir) {
            if let Err(errno) = c.remove() {
                left.push(Leftover {
                    path: c.path.clone(),
                    errno,
                });
            }
        }
        // The sockets moved aside for items the daemon did not take go back in place.
        let (back, taken): (Vec<Aside>, Vec<Aside>) =
            self.asides.drain(..).partition(|a| a.item.0 >= keep);
        for a in back.iter().rev() {
            if let Err(errno) = nix::fcntl::renameat(AT_FDCWD, &a.aside, AT_FDCWD, &a.path) {
                left.push(Leftover {
                    path: a.aside.clone(),
                    errno,
                });
            }
        }
        left.extend(remove_asides(taken));
        for c in undo.filter(|c| c.dir) {
            // (Something else now lives in it, or a kept item: not ours to remove.)
            if let Err(errno) = c.remove() {
                left.push(Leftover {
                    path: c.path.clone(),
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
    /// so that a failed run leaves their contents alone), then closes every fd.
    pub fn finish(self, config: &Config, plan: &Plan) -> Result<(), Diag> {
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
        Ok(())
    }
}

/// Unlinks the moved-aside socket files; returns what could not be.
pub(super) fn remove_asides(asides: Vec<Aside>) -> Vec<Leftover> {
    asides
        .into_iter()
        .filter_map(|a| {
            unlink(&a.aside).err().map(|errno| Leftover {
                path: a.aside,
                errno,
            })
        })
        .collect()
}

/// Where a socket file is moved aside: a hidden name in its own directory.
pub(super) fn aside_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".s6-fdholder-setdump-old.{}", std::process::id()));
    path.with_file_name(name)
}
