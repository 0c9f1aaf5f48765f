//! The library's only `unsafe`: taking ownership of the fds the kernel installs when a
//! message arrives with `SCM_RIGHTS`, which nix hands out as integers.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Takes ownership of an fd that the kernel has just installed in this process through
/// `SCM_RIGHTS`, so that it is closed exactly once, even on error paths.
pub(crate) fn adopt_received_fd(raw: RawFd) -> OwnedFd {
    // SAFETY: `recvmsg` installed `raw` in our fd table for us and nothing else knows of it:
    // we are its only owner.
    unsafe { OwnedFd::from_raw_fd(raw) }
}
