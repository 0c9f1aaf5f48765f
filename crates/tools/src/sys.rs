//! The tools' only `unsafe`: borrowing the fds a parent passed by number, reading the
//! environment and the C runtime's argv in place, and the process set-up the `#![no_main]`
//! binary does itself, placing fds at exact numbers for an exec, and the notify listener's
//! pidfd and fork. Everything else goes through nix's safe wrappers.

use std::ffi::{CStr, OsStr, OsString, c_char, c_int};
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
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

/// The environment's `(name, value)` pairs, borrowed in place; cheap to clone (a pointer),
/// so that a reader can go over it twice instead of keeping a list of what it found.
#[derive(Clone)]
pub struct Environ<'a> {
    p: *const *const c_char,
    _borrow: std::marker::PhantomData<&'a OsStr>,
}

impl<'a> Iterator for Environ<'a> {
    type Item = (&'a OsStr, &'a OsStr);

    fn next(&mut self) -> Option<Self::Item> {
        // SAFETY: `p` walks `environ`, a NULL-terminated array of NUL-terminated strings
        // that `with_environ`'s caller keeps unchanged for `'a`.
        while !self.p.is_null() && !unsafe { *self.p }.is_null() {
            let var = unsafe { CStr::from_ptr(*self.p) }.to_bytes();
            self.p = unsafe { self.p.add(1) };
            // As std: the name may start with '=', the value starts after the next one.
            if let Some(eq) = var.get(1..).and_then(find_equals) {
                let (name, value) = (&var[..=eq], &var[eq + 2..]);
                return Some((OsStr::from_bytes(name), OsStr::from_bytes(value)));
            }
        }
        None
    }
}

impl<'a> Environ<'a> {
    /// The value of the first variable named `name` (getenv's answer), and how many strings
    /// the environment holds: one walk that reads of each string only the bytes it shares
    /// with `name=`, where a pass of the iterator finds every string's length and its `=`
    /// (env mode made such a pass only to find `S6_FD#`: a twelfth of its instructions).
    /// `name` holds no NUL and no `=`.
    pub fn lookup(&self, name: &[u8]) -> (Option<&'a OsStr>, usize) {
        debug_assert!(!name.contains(&0) && !name.contains(&b'='));
        let (mut found, mut len) = (None, 0);
        let mut p = self.p;
        // SAFETY: as in `next`: `p` walks `environ`, a NULL-terminated array of
        // NUL-terminated strings kept unchanged for `'a`. Each string is read up to its
        // first byte that differs from `name=`, which its NUL does if nothing before it.
        while !p.is_null() && !unsafe { *p }.is_null() {
            let var = unsafe { *p }.cast::<u8>();
            if found.is_none()
                && (0..=name.len()).all(|i| unsafe { *var.add(i) } == *name.get(i).unwrap_or(&b'='))
            {
                let value = unsafe { CStr::from_ptr(var.add(name.len() + 1).cast()) };
                found = Some(OsStr::from_bytes(value.to_bytes()));
            }
            len += 1;
            p = unsafe { p.add(1) };
        }
        (found, len)
    }
}

/// Where the first `=` of `s` is: memchr's SSE2 search on x86_64, which every such CPU
/// has (memchr's own `memchr` would first ask the CPU for AVX2, with a `cpuid` that a VM
/// traps), 16 bytes at a time where a loop went one; env mode splits three variables an fd.
fn find_equals(s: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(one) = memchr::arch::x86_64::sse2::memchr::One::new(b'=') {
        return one.find(s);
    }
    s.iter().position(|&b| b == b'=')
}

/// Calls `f` with the environment's `(name, value)` pairs borrowed in place, where
/// `std::env::vars_os` copies each one: env mode reads thousands of variables, and those
/// copies were most of its own work. A string without `=` is skipped, as std does.
pub fn with_environ<R>(f: impl for<'a> FnOnce(Environ<'a>) -> R) -> R {
    // SAFETY: reading the pointer `environ` holds. It and the strings it points to stay valid
    // while no one changes the environment, which `std::env::set_var` already requires of any
    // other thread for as long as this one reads it; the borrows end when `f` returns.
    let p = unsafe { environ };
    f(Environ {
        p,
        _borrow: std::marker::PhantomData,
    })
}

/// What std's runtime does before `fn main` that matters to a `#![no_main]` binary (see
/// src/bin/s6-fdholder-setdump.rs): fds 0, 1 and 2 open, on `/dev/null` where closed, so
/// that no socket of ours takes one of their numbers and receives what is printed. One
/// `poll(2)` looks at all three (a closed one comes back `POLLNVAL`), where std makes one
/// `fcntl(2)` each; SIGPIPE is left to [`ignore_sigpipe`], called only before printing.
pub fn prepare_process() {
    let mut std_fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `std_fds` is a valid array of 3 pollfds; a zero timeout never blocks.
    let r = unsafe { libc::poll(std_fds.as_mut_ptr(), 3, 0) };
    for p in std_fds {
        // Should poll fail (it cannot here), fall back to asking each fd.
        let closed = if r < 0 {
            !is_open(p.fd)
        } else {
            p.revents & libc::POLLNVAL != 0
        };
        if closed {
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
}

/// Ignores SIGPIPE, as std's runtime does, so that a closed stdout or stderr is an error
/// (EPIPE), not a death. Called before anything is printed rather than at start-up: a
/// successful env-mode run prints nothing, and the library's sends use `MSG_NOSIGNAL`.
pub fn ignore_sigpipe() {
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

/// Takes ownership of an fd that the kernel has just installed in this process through
/// `SCM_RIGHTS`, so that it is closed exactly once, even on error paths.
///
/// # Safety
/// `raw` must be a number `recvmsg` has just returned in an `SCM_RIGHTS` message, not yet
/// owned by anything else.
pub unsafe fn adopt_received_fd(raw: RawFd) -> OwnedFd {
    // SAFETY: `recvmsg` installed `raw` in our fd table for us and nothing else knows of it
    // (the caller's promise): we are its only owner.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// A pidfd of the process `pid` (close-on-exec, as the kernel makes them): readable once
/// that process has ended. nix has no `pidfd_open`.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, nix::errno::Errno> {
    // SAFETY: pidfd_open(2) takes a pid and flags, shares no memory with us, and returns a
    // new fd that nothing else owns, or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: as above: the fd is new and ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Runs `child` in a new child process, which exits when it returns; returns the child's
/// pid in the parent. Refused (EBUSY) while the process has more than one thread, when
/// code run after fork(2) could meet a lock another thread held.
pub fn fork_then(child: impl FnOnce()) -> Result<nix::unistd::Pid, nix::errno::Errno> {
    let threads = std::fs::read_dir("/proc/self/task").map(|d| d.count());
    if threads.map_or(true, |n| n != 1) {
        return Err(nix::errno::Errno::EBUSY);
    }
    // SAFETY: the process has one thread (checked above), so the child starts with every
    // lock free and may run any code.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(child),
        nix::unistd::ForkResult::Child => {
            // A panic must not unwind out of here into the parent's frames, which own fds
            // the child may have closed: it ends the child, with status 1.
            let status = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)) {
                Ok(()) => 0,
                Err(_) => 1,
            };
            // Without running the parent's exit handlers or flushing its buffered output
            // a second time.
            // SAFETY: _exit(2) ends the process at once; nothing runs after it.
            unsafe { libc::_exit(status) }
        }
    }
}

/// Makes the fds numbered 3, 4, ... copies of `fds`, in order, without close-on-exec, and
/// closes `fds`: how `s6-fdholder-activate` lays out the fds of the program it execs. The
/// copies are made first above the range, so that an fd of `fds` already in the range is
/// not overwritten before it is copied; those intermediate copies are close-on-exec.
///
/// # Safety
/// Nothing in the process but `fds` may own an fd numbered from 3 to `3 + fds.len() - 1`:
/// `dup2(2)` silently replaces whatever is open there.
pub unsafe fn place_from_3_unowned(fds: Vec<OwnedFd>) -> Result<Vec<OwnedFd>, Errno> {
    use std::os::fd::{AsRawFd, FromRawFd};
    let end = RawFd::try_from(fds.len())
        .ok()
        .and_then(|n| n.checked_add(3))
        .ok_or(Errno::EMFILE)?;
    let mut high = Vec::with_capacity(fds.len());
    for fd in &fds {
        let raw = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(end))?;
        // SAFETY: fcntl just returned this fd, and nothing else knows its number.
        high.push(unsafe { OwnedFd::from_raw_fd(raw) });
    }
    drop(fds);
    let mut placed = Vec::with_capacity(high.len());
    for (target, fd) in (3..).zip(&high) {
        // SAFETY: `target` is owned by nothing else (the caller's promise; `fds` are closed
        // and `high` lies above the range); dup2 leaves the new fd without close-on-exec.
        let raw = Errno::result(unsafe { libc::dup2(fd.as_raw_fd(), target) })?;
        placed.push(unsafe { OwnedFd::from_raw_fd(raw) });
    }
    Ok(placed)
}

/// Puts SIGPIPE back to its default action before an exec: std's runtime ignores it, and
/// an ignored signal stays ignored across `execve(2)`, which would make a `prog` run by a
/// chain-loading tool survive writes to a closed pipe that it expects to kill it.
pub fn default_sigpipe() -> Result<(), Errno> {
    // SAFETY: SIG_DFL runs no code of ours, so no handler can break any invariant.
    unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    }
    .map(drop)
}

/// Marks close-on-exec every fd numbered from `first` on, but those of `keep`: what
/// `s6-fdholder-activate` does so that `prog` inherits the passed fds and nothing else. A
/// flag on numbers, owned or not, breaks no one's ownership, hence a safe fn. Uses
/// `close_range(2)` (Linux 5.11), else sets the flag on each fd /proc/self/fd lists.
pub fn cloexec_from(first: RawFd, keep: &[RawFd]) -> Result<(), Errno> {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&k| k >= first).collect();
    keep.sort_unstable();
    let mut ranges = Vec::new();
    let mut from = first;
    for k in keep {
        if k > from {
            ranges.push((from, k - 1));
        }
        from = from.max(k + 1);
    }
    ranges.push((from, RawFd::MAX));
    for &(lo, hi) in &ranges {
        // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag, on numbers.
        let r = unsafe {
            libc::close_range(
                lo as libc::c_uint,
                hi as libc::c_uint,
                libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
            )
        };
        if r != 0 {
            return cloexec_listed(&ranges);
        }
    }
    Ok(())
}

/// [`cloexec_from`]'s way where `close_range(2)` is missing.
fn cloexec_listed(ranges: &[(RawFd, RawFd)]) -> Result<(), Errno> {
    let dir = std::fs::read_dir("/proc/self/fd").map_err(|e| fdholder::error::io_errno(&e))?;
    let fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(fd)))
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD only sets a flag; the listing's own fd, closed since, gives EBADF.
        let r = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        if r == -1 && Errno::last() != Errno::EBADF {
            return Err(Errno::last());
        }
    }
    Ok(())
}

/// Takes ownership of an fd inherited by number (`s6-fdholder-activate -3 notif`), or EBADF
/// when no fd of that number is open.
///
/// # Safety
/// Nothing else in the process may own `raw`: it must be an fd the process inherited and
/// has not wrapped in an owning value.
pub unsafe fn adopt_inherited_fd(raw: RawFd) -> Result<OwnedFd, Errno> {
    if !is_open(raw) {
        return Err(Errno::EBADF);
    }
    // SAFETY: open (checked), and owned by nothing else (the caller's promise).
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Closes every fd but 0, 1, 2 and those of `keep`: the notify listener, a forked child,
/// keeps only what it needs of all its parent had open.
///
/// # Safety
/// No value still in use may own an fd outside `keep` and 0 to 2: they are closed under it.
/// In a child just forked that will run only code that owns `keep`, none is.
pub unsafe fn close_all_but(keep: &[RawFd]) {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&k| k > 2).collect();
    keep.sort_unstable();
    let mut from: RawFd = 3;
    for k in keep.into_iter().chain(std::iter::once(RawFd::MAX)) {
        if k > from {
            let last = if k == RawFd::MAX { k } else { k - 1 };
            // SAFETY: closing numbers no live value owns (the caller's promise).
            let r = unsafe { libc::close_range(from as libc::c_uint, last as libc::c_uint, 0) };
            if r != 0 {
                for fd in from..=last.min(65535) {
                    // SAFETY: as above, one number at a time where close_range is missing.
                    unsafe { libc::close(fd) };
                }
            }
        }
        from = from.max(k.saturating_add(1));
    }
}

/// A POSIX extended regular expression, compiled once by the C library's
/// `regcomp(REG_EXTENDED | REG_NOSUB)`: how s6-fdholderd matches ids against
/// `S6_FDHOLDER_*_REGEX`, so the same library gives the same answers.
pub struct PosixRegex(Box<libc::regex_t>);

impl PosixRegex {
    /// Compiles `pattern`; `None` when it does not compile (the daemon then refuses the
    /// client).
    pub fn new(pattern: &CStr) -> Option<PosixRegex> {
        let mut re = Box::new(std::mem::MaybeUninit::<libc::regex_t>::uninit());
        // SAFETY: regcomp initialises `re` when it returns 0; only then is it taken as a
        // regex_t, and freed once, by Drop. The pattern is NUL-terminated and outlives the
        // call. The regex_t stays in its box, never moved once compiled.
        unsafe {
            let flags = libc::REG_EXTENDED | libc::REG_NOSUB;
            if libc::regcomp(re.as_mut_ptr(), pattern.as_ptr(), flags) != 0 {
                return None;
            }
            Some(PosixRegex(Box::from_raw(
                Box::into_raw(re).cast::<libc::regex_t>(),
            )))
        }
    }

    /// Whether it matches somewhere in `s`.
    pub fn matches(&self, s: &CStr) -> bool {
        // SAFETY: a compiled regex_t, no match array (REG_NOSUB), `s` NUL-terminated.
        unsafe { libc::regexec(&*self.0, s.as_ptr(), 0, std::ptr::null_mut(), 0) == 0 }
    }
}

impl Drop for PosixRegex {
    fn drop(&mut self) {
        // SAFETY: compiled by regcomp in `new`, freed here once.
        unsafe { libc::regfree(&mut *self.0) }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `lookup` answers as getenv and the iterator do, over an environment of its own: the
    /// first `S6_FD#=` wins; a name that only starts like it, a string without `=`, or one
    /// that starts with `=` is not it; and every string is counted.
    #[test]
    fn lookup_finds_what_the_iterator_finds() {
        let cases: [&[&str]; 6] = [
            &[],
            &["A=1", "S6_FD#=2", "S6_FD#=3"],
            &["S6_FD", "S6_FD#", "S6_FD#x=1", "=S6_FD#=4", "S6_FD#="],
            &["S6_FD_0=1", "S", "", "S6_FD=#"],
            &["S6_FD#==5"],
            &["PATH=/bin", "S6_FD#=07"],
        ];
        for case in cases {
            let strings: Vec<std::ffi::CString> = case
                .iter()
                .map(|v| std::ffi::CString::new(*v).unwrap())
                .collect();
            let mut ptrs: Vec<*const c_char> = strings.iter().map(|c| c.as_ptr()).collect();
            ptrs.push(std::ptr::null());
            let env = Environ {
                p: ptrs.as_ptr(),
                _borrow: std::marker::PhantomData,
            };
            let first = env
                .clone()
                .find(|(k, _)| k.as_bytes() == b"S6_FD#")
                .map(|(_, v)| v);
            assert_eq!(env.lookup(b"S6_FD#"), (first, case.len()), "{case:?}");
        }
    }

    /// The SSE2 search finds the first `=` as a loop does, in strings shorter and longer
    /// than a vector, at every place.
    #[test]
    fn find_equals_finds_the_first() {
        for len in 0..40 {
            for at in 0..=len {
                let mut s = vec![b'x'; len];
                if at < len {
                    s[at] = b'=';
                }
                s.extend_from_slice(b"=y=");
                let want = s.iter().position(|&b| b == b'=');
                assert_eq!(find_equals(&s), want, "{len} {at}");
            }
        }
        assert_eq!(find_equals(b""), None);
    }
}
