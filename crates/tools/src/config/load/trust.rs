//! Reading the config file, and refusing, when run as root, one that someone else could
//! have written.
//!
//! The file says what root creates, chowns and hands to a daemon: whoever can write it, or
//! replace it, has root's hand. As sshd treats its files (StrictModes), the file and every
//! directory above it must belong to root and be writable by no group and by no one else,
//! with one exception sshd does not make: a directory with the sticky bit (`/tmp`), where
//! no one but root can rename or remove root's files. The checks are made on the file
//! opened (fstat) and on the directories of its real path, symlinks resolved. Run as
//! another user, a config can do no more than that user can, and is not checked.
//! `--allow-insecure-config` lifts the check.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::{Mode, fstat};

use crate::fatal::Fatal;
use fdholder::error::io_errno;

/// Permission bits: the sticky bit.
const STICKY: u32 = 0o1000;

/// Why a file or directory with this owner and mode could have been written by someone
/// other than root, or `None`.
pub fn why_untrusted(uid: u32, mode: u32, dir: bool) -> Option<String> {
    let bits = mode & 0o7777;
    if uid != 0 {
        return Some(format!("is owned by uid {uid}"));
    }
    if dir && bits & STICKY != 0 {
        return None;
    }
    if bits & 0o002 != 0 {
        return Some(format!("is writable by anyone (mode {bits:04o})"));
    }
    if bits & 0o020 != 0 {
        return Some(format!("is writable by its group (mode {bits:04o})"));
    }
    None
}

/// The error for an untrusted file: `what` (the file or one of its directories) and why.
fn refuse(file: &Path, what: &str, why: String) -> Fatal {
    Fatal::Untrusted(file.to_path_buf(), format!("{what} {why}"))
}

/// Checks the opened config file and the directories of its real path.
fn check(file: &Path, st: &nix::sys::stat::FileStat) -> Result<(), Fatal> {
    if let Some(why) = why_untrusted(st.st_uid, st.st_mode, false) {
        return Err(refuse(file, "it", why));
    }
    let real: PathBuf =
        std::fs::canonicalize(file).map_err(|e| Fatal::Read(file.into(), io_errno(&e)))?;
    for dir in real.ancestors().skip(1) {
        let m =
            std::fs::symlink_metadata(dir).map_err(|e| Fatal::Read(dir.into(), io_errno(&e)))?;
        if let Some(why) = why_untrusted(m.uid(), m.mode(), true) {
            return Err(refuse(
                file,
                &format!("its directory {}", dir.display()),
                why,
            ));
        }
    }
    Ok(())
}

/// Reads the config file at `path`; with `strict`, refuses it unless only root could have
/// written it (see the module's documentation).
pub fn read(path: &Path, strict: bool) -> Result<String, Fatal> {
    let read_err = |errno| Fatal::Read(path.to_path_buf(), errno);
    let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
    let fd = open(path, flags, Mode::empty()).map_err(read_err)?;
    if strict {
        let st = fstat(&fd).map_err(read_err)?;
        check(path, &st)?;
    }
    let mut file = std::fs::File::from(fd);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text).map_err(|e| {
        // The only error without an errno is text that is not UTF-8.
        read_err(Errno::from_raw(
            e.raw_os_error().unwrap_or(Errno::EILSEQ as i32),
        ))
    })?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_could_have_written_it() {
        assert_eq!(why_untrusted(0, 0o100644, false), None);
        assert_eq!(why_untrusted(0, 0o100600, false), None);
        assert_eq!(why_untrusted(0, 0o040755, true), None);
        assert_eq!(why_untrusted(0, 0o041777, true), None, "/tmp");
        assert_eq!(
            why_untrusted(1000, 0o100644, false).unwrap(),
            "is owned by uid 1000"
        );
        assert_eq!(
            why_untrusted(0, 0o100664, false).unwrap(),
            "is writable by its group (mode 0664)"
        );
        assert_eq!(
            why_untrusted(0, 0o100646, false).unwrap(),
            "is writable by anyone (mode 0646)"
        );
        assert!(why_untrusted(0, 0o101666, false).is_some(), "sticky file");
        assert!(why_untrusted(0, 0o040777, true).is_some());
        assert!(why_untrusted(1000, 0o041777, true).is_some());
    }
}
