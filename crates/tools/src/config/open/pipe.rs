//! Anonymous pipes: both ends, with the buffer size asked for.

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::unistd::pipe2;

use super::at::*;
use crate::config::diag::Diag;
use crate::config::model::Entry;

/// An anonymous pipe, read end first, with its buffer size if asked.
pub(super) fn pipe(e: &Entry, buffer_size: Option<i32>) -> Result<[OwnedFd; 2], Diag> {
    let (r, w) = pipe2(OFlag::O_CLOEXEC)
        .map_err(|errno| fail(e, "unable to create a pipe".into(), errno))?;
    if let Some(n) = buffer_size {
        fcntl(w.as_fd(), FcntlArg::F_SETPIPE_SZ(n))
            .map_err(|errno| fail(e, format!("unable to set the pipe's size to {n}"), errno))?;
    }
    Ok([r, w])
}
