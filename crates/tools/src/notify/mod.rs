//! sd_notify on s6: what a service written for systemd says on `$NOTIFY_SOCKET` (`READY=1`,
//! `FDSTORE=1`...), heard by a small listener child and turned into s6's terms: the
//! readiness newline on a notification fd, and an fd store in s6-fdholderd.
//!
//! [`message`] reads a datagram, [`store`] names the store's ids, [`listener`] is the
//! child's loop. [`spawn`] starts the listener; the caller then execs the service, whose
//! pid is the caller's own.

pub mod listener;
pub mod message;
pub mod store;

use nix::errno::Errno;

use self::listener::Listener;
use crate::sys::{close_all_but, fork_then};

/// Starts `listener` in a child process. In the caller, what only the child needs (the
/// socket, the notification fd, the store's copies) is closed when `fork_then` drops the
/// closure that owns it.
pub fn spawn(listener: Listener) -> Result<(), Errno> {
    fork_then(move || {
        let keep = listener.fds();
        // SAFETY: in the child just forked nothing but `listener` is used from here on, and
        // it owns exactly `keep`: the parent's other fds are closed under values that this
        // process will never touch again.
        unsafe { close_all_but(&keep) };
        listener.run();
    })
    .map(drop)
}
