//! The crate's only `unsafe`: turning fd numbers that nix hands out as integers into owned
//! or borrowed fds. Everything else goes through nix's safe wrappers.

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Takes ownership of an fd that the kernel has just installed in this process through
/// `SCM_RIGHTS`, so that it is closed exactly once, even on error paths.
pub(crate) fn adopt_received_fd(raw: RawFd) -> OwnedFd {
    // SAFETY: `recvmsg` installed `raw` in our fd table for us and nothing else knows of it:
    // we are its only owner.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// Borrows an fd inherited from the parent process and named by number (env mode), or
/// `None` when no fd of that number is open.
pub fn inherited_fd(raw: RawFd) -> Option<BorrowedFd<'static>> {
    // SAFETY: F_GETFD reads a flag and has no effect; on a closed number it fails with EBADF.
    let open = raw >= 0 && unsafe { nix::libc::fcntl(raw, nix::libc::F_GETFD) } != -1;
    // SAFETY: the fd is open and inherited; this process never closes fds it did not open
    // itself, so it stays open for the life of the process ('static).
    open.then(|| unsafe { BorrowedFd::borrow_raw(raw) })
}
