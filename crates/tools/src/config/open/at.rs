//! Names looked at, compared and removed through their directory's fd, and the messages
//! of a failed opening.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{FileStat, SFlag, fstatat};
use nix::unistd::{UnlinkatFlags, geteuid, unlinkat};

use crate::config::diag::Diag;
use crate::config::model::Entry;
use fdholder::error::strerror;

/// A directory opened by [`Opener::open_dir`] (`O_PATH`), shared by what is made in it.
pub(super) type Dir = Rc<OwnedFd>;

/// A failure for `e`: what was being done, and why, in the C library's words.
pub(super) fn fail(e: &Entry, doing: String, errno: Errno) -> Diag {
    Diag::new(
        e.span(),
        &e.place(),
        format!("{doing}: {}", strerror(errno)),
    )
}

/// A failure for `e` that no errno describes.
pub(super) fn refuse(e: &Entry, what: String) -> Diag {
    Diag::new(e.span(), &e.place(), what)
}

/// The file type bits of a mode.
pub(super) fn file_type(mode: u32) -> SFlag {
    SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits())
}

/// How messages name a file type.
pub(super) fn type_name(t: SFlag) -> &'static str {
    match t {
        SFlag::S_IFREG => "a regular file",
        SFlag::S_IFDIR => "a directory",
        SFlag::S_IFLNK => "a symlink",
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFSOCK => "a socket",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        _ => "a file of unknown type",
    }
}

/// `(device, inode)` of a file.
pub(super) fn file_id(st: &FileStat) -> (u64, u64) {
    (st.st_dev, st.st_ino)
}

/// The file `name` in `dir`, not following a symlink.
pub(super) fn stat_in(dir: &OwnedFd, name: &OsStr) -> Result<FileStat, Errno> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
}

/// Unlinks `name` from `dir` if it is still the file `id`: true if it was. What was looked
/// at and what is removed can then differ only by a swap in the instant between two calls.
pub(super) fn unlink_if_same(dir: &OwnedFd, name: &OsStr, id: (u64, u64)) -> Result<bool, Errno> {
    if file_id(&stat_in(dir, name)?) != id {
        return Ok(false);
    }
    unlinkat(dir, name, UnlinkatFlags::NoRemoveDir).map(|()| true)
}

/// The effective uid, asked once: no tool of this package changes it, and [`ours`] asks
/// for it at every chowned socket (a system call each, glibc keeps no copy).
fn euid() -> u32 {
    static EUID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *EUID.get_or_init(|| geteuid().as_raw())
}

/// Whether a symlink owned by `uid` may be followed on the way to what the run creates:
/// root's and the running user's are; another user's could point anywhere.
pub(super) fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == euid()
}

/// The directory and the last component of a path that validation made absolute and not
/// ending in `/`.
pub(super) fn split(path: &Path) -> (&Path, &OsStr) {
    use std::os::unix::ffi::OsStrExt;
    // The common case by its bytes (`Path::parent` parses components): `/dir/name`, with
    // no `.`, `..` or empty component at the end.
    let b = path.as_os_str().as_bytes();
    if let Some(slash) = b.iter().rposition(|&c| c == b'/')
        && slash > 0
        && b[slash - 1] != b'/'
        && !b[..slash].ends_with(b"/.")
        && !matches!(&b[slash + 1..], b"" | b"." | b"..")
    {
        return (
            Path::new(OsStr::from_bytes(&b[..slash])),
            OsStr::from_bytes(&b[slash + 1..]),
        );
    }
    (
        path.parent().unwrap_or(Path::new("/")),
        path.file_name().unwrap_or(path.as_os_str()),
    )
}

/// Checks that a file this run has just made is still its own: owned by the user running
/// the tool, with one link. A hard link to someone else's file, swapped in at its name
/// between its creation and its opening, is neither.
pub(super) fn ours(e: &Entry, st: &FileStat, path: &Path) -> Result<(), Diag> {
    if st.st_uid == euid() && st.st_nlink == 1 {
        return Ok(());
    }
    Err(refuse(
        e,
        format!(
            "{} was replaced after it was made (owner uid {}, {} links): it is not chowned",
            path.display(),
            st.st_uid,
            st.st_nlink
        ),
    ))
}

/// A file of `e` that could not be opened: why, saying so when it is a symlink, which is
/// never followed.
pub(super) fn open_failure(e: &Entry, shown: &dyn std::fmt::Display, errno: Errno) -> Diag {
    let why = if errno == Errno::ELOOP {
        " (a symlink is not followed)"
    } else {
        ""
    };
    fail(e, format!("unable to open {shown}{why}"), errno)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;
    use std::ffi::OsStr;

    /// The split by bytes is what `Path::parent` and `Path::file_name` say.
    #[test]
    fn split_is_parent_and_file_name() {
        let paths = [
            "/a/b",
            "/a",
            "/",
            "/a/b/c.sock",
            "/a//b",
            "/a/./b",
            "/a/b/.",
            "/a/b/..",
            "/./b",
            "/a/../b",
            "//b",
            "/a/.b",
            "/a/b.",
            "/.a/b",
        ];
        for p in paths {
            let p = Path::new(p);
            let want = (
                p.parent().unwrap_or(Path::new("/")),
                p.file_name().unwrap_or(p.as_os_str()),
            );
            assert_eq!(split(p), want, "{p:?}");
        }
    }

    #[test]
    fn a_file_replaced_since_it_was_looked_at_is_not_unlinked() {
        // What clear_stale does between its probe and the unlink: the name is unlinked only
        // if it is still the file probed. A live server that has bound anew there meanwhile
        // keeps its socket.
        let tmp = tempfile::tempdir().unwrap();
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let dir = open(tmp.path(), flags, Mode::empty()).unwrap();
        let (s, keep) = (tmp.path().join("s"), tmp.path().join("keep"));
        std::fs::write(&s, "probed").unwrap();
        let probed = file_id(&stat_in(&dir, OsStr::new("s")).unwrap());
        // Replaced, the probed file still alive under another name (so that its inode
        // number cannot be reused for the new one).
        std::fs::hard_link(&s, &keep).unwrap();
        std::fs::write(tmp.path().join("new"), "bound anew").unwrap();
        std::fs::rename(tmp.path().join("new"), &s).unwrap();
        assert_eq!(unlink_if_same(&dir, OsStr::new("s"), probed), Ok(false));
        assert_eq!(std::fs::read_to_string(&s).unwrap(), "bound anew");
        let now = file_id(&stat_in(&dir, OsStr::new("s")).unwrap());
        assert_eq!(unlink_if_same(&dir, OsStr::new("s"), now), Ok(true));
        assert!(!s.exists());
        assert_eq!(
            unlink_if_same(&dir, OsStr::new("s"), now),
            Err(Errno::ENOENT)
        );
    }
}
