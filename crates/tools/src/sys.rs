//! The tools' only `unsafe`: borrowing the fds a parent passed by number, reading the
//! environment and the C runtime's argv in place, and the process set-up the `#![no_main]`
//! binary does itself. Everything else goes through nix's safe wrappers.

use std::ffi::{CStr, OsStr, OsString, c_char, c_int};
use std::os::fd::{BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::libc;

/// Whether fd number `raw` is open in this process.
fn is_open(raw: RawFd) -> bool {
    // SAFETY: F_GETFD reads a flag and has no effect; on a closed number it fails with EBADF.
    raw >= 0 && unsafe { libc::fcntl(raw, libc::F_GETFD) } != -1
}

/// Borrows every fd of `raws`, fds inherited from the parent process and named by number
/// (env mode), checking them all in one `poll(2)` (a closed number comes back `POLLNVAL`)
/// instead of one `fcntl(2)` each: env mode checks thousands. `Err(i)`: `raws[i]` is the
/// first that is not open.
///
/// # Safety
/// Every fd of `raws` must stay open for as long as the borrows live: nothing in the
/// process may close it meanwhile. Numbers may repeat, since nothing here owns them.
pub unsafe fn inherited_fds<'a>(raws: &[RawFd]) -> Result<Vec<BorrowedFd<'a>>, usize> {
    let mut polled: Vec<libc::pollfd> = raws
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        })
        .collect();
    // SAFETY: `polled` is a valid array of `polled.len()` pollfds; a zero timeout never blocks.
    let r = loop {
        let r = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, 0) };
        if r >= 0 || nix::errno::Errno::last() != nix::errno::Errno::EINTR {
            break r;
        }
    };
    if r < 0 {
        // More entries than RLIMIT_NOFILE (EINVAL), say with an fd named twice: one at a time.
        return raws
            .iter()
            .enumerate()
            .map(|(i, &fd)| {
                // SAFETY: open, and kept open by the caller's promise.
                is_open(fd)
                    .then(|| unsafe { BorrowedFd::borrow_raw(fd) })
                    .ok_or(i)
            })
            .collect();
    }
    raws.iter()
        .zip(&polled)
        .enumerate()
        .map(|(i, (&fd, p))| {
            if fd < 0 || p.revents & libc::POLLNVAL != 0 {
                Err(i)
            } else {
                // SAFETY: open, and kept open by the caller's promise.
                Ok(unsafe { BorrowedFd::borrow_raw(fd) })
            }
        })
        .collect()
}

unsafe extern "C" {
    /// The process's environment, as the C library keeps it.
    static environ: *const *const c_char;
}

/// Calls `f` with the environment's `(name, value)` pairs borrowed in place, where
/// `std::env::vars_os` copies each one: env mode reads thousands of variables, and those
/// copies were most of its own work. A string without `=` is skipped, as std does.
pub fn with_environ<R>(f: impl FnOnce(&mut dyn Iterator<Item = (&OsStr, &OsStr)>) -> R) -> R {
    // SAFETY: reading the pointer `environ` holds. It and the strings it points to stay valid
    // while no one changes the environment, which `std::env::set_var` already requires of any
    // other thread for as long as this one reads it; the borrows end when `f` returns.
    let mut p = unsafe { environ };
    let mut vars = std::iter::from_fn(move || {
        // SAFETY: `environ` is a NULL-terminated array of NUL-terminated strings.
        while !p.is_null() && !unsafe { *p }.is_null() {
            let var = unsafe { CStr::from_ptr(*p) }.to_bytes();
            p = unsafe { p.add(1) };
            // As std: the name may start with '=', the value starts after the next one.
            if let Some(eq) = var.iter().skip(1).position(|&b| b == b'=') {
                let (name, value) = (&var[..=eq], &var[eq + 2..]);
                return Some((OsStr::from_bytes(name), OsStr::from_bytes(value)));
            }
        }
        None
    });
    f(&mut vars)
}

/// What std's runtime does before `fn main` that matters to a `#![no_main]` binary (see
/// src/main.rs): fds 0, 1 and 2 open, on `/dev/null` where closed, so that no socket of ours
/// takes one of their numbers and receives what is printed; and SIGPIPE ignored, so that a
/// closed stdout or stderr is an error (EPIPE), not a death.
pub fn prepare_process() {
    for fd in 0..=2 {
        if !is_open(fd) {
            // open(2) takes the lowest free number: this one. Kept for the process's life.
            // Nothing better to do without /dev/null than to go on, as std aborts instead.
            if let Ok(null) = nix::fcntl::open(
                "/dev/null",
                nix::fcntl::OFlag::O_RDWR,
                nix::sys::stat::Mode::empty(),
            ) {
                std::mem::forget(null);
            }
        }
    }
    // SAFETY: SIG_IGN runs no code of ours, so no handler can break any invariant.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
}

/// The arguments the C runtime passed to `main`, as `std::env::args_os` would give them: a
/// `#![no_main]` binary must not count on the C library handing argv to std as well.
///
/// # Safety
/// `argv` must point to `argc` valid NUL-terminated strings, as the C runtime's `main`
/// receives them, and they must not change while this runs.
pub unsafe fn args_from_c(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    let n = usize::try_from(argc).unwrap_or(0);
    (0..n)
        .map(|i| {
            // SAFETY: `i < argc`, and each entry is a valid C string by the precondition.
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            OsStr::from_bytes(arg.to_bytes()).to_owned()
        })
        .collect()
}

/// SO_PASSSEC, which nix does not name: SCM_SECURITY with every message received. (nix's
/// macro expands to the `unsafe` getsockopt and setsockopt calls, hence here.)
mod passsec {
    use nix::libc;
    use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};
    sockopt_impl!(
        /// SO_PASSSEC as a nix socket option, for `getsockopt` and `setsockopt`.
        PassSec,
        Both,
        libc::SOL_SOCKET,
        libc::SO_PASSSEC,
        bool
    );
}
pub use passsec::PassSec;

/// SO_PROTOCOL, which nix does not name: a socket's protocol number (a netlink socket's
/// family), read only.
mod protocol {
    use nix::libc;
    use nix::{getsockopt_impl, sockopt_impl};
    sockopt_impl!(
        /// SO_PROTOCOL as a nix socket option, for `getsockopt`.
        Protocol,
        GetOnly,
        libc::SOL_SOCKET,
        libc::SO_PROTOCOL,
        i32
    );
}
pub use protocol::Protocol;

/// NETLINK_PKTINFO, which nix does not name: a netlink socket's messages carry their
/// destination group.
mod netlink_pktinfo {
    use nix::libc;
    use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};
    sockopt_impl!(
        /// NETLINK_PKTINFO as a nix socket option, for `getsockopt` and `setsockopt`.
        NetlinkPktInfo,
        Both,
        libc::SOL_NETLINK,
        libc::NETLINK_PKTINFO,
        bool
    );
}
pub use netlink_pktinfo::NetlinkPktInfo;
