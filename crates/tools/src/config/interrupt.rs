//! SIGTERM, SIGINT and SIGHUP while a run holds things it must undo.
//!
//! From the first fd opened until the daemon has answered, a signal's default action (death
//! on the spot) would leave sockets, FIFOs, files and directories on disk that nothing
//! holds. So for that stretch the three signals are blocked and read from a signalfd
//! instead: the opening looks at it between fds (every 64 fds or 5 ms, whichever comes
//! first: a read per fd would be a system call per fd, and the floor is four), and the
//! connection to the daemon waits on
//! it beside the socket ([`fdholder::Connection::set_interrupt`]). A run that sees one stops,
//! undoes what it did, and exits 111 with a message. nix's sigprocmask and signalfd are
//! safe: no handler runs, so nothing here needs `unsafe`.

use std::cell::Cell;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// How often [`Interrupt::now_and_then`] reads the signalfd: after this long, or this many
/// calls, since the last read.
const LOOK_EVERY: (Duration, u32) = (Duration::from_millis(5), 64);

/// The signals that ask a run to stop.
const STOP: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

/// The stop signals blocked and readable; the signal mask is put back when dropped.
#[derive(Debug)]
pub struct Interrupt {
    fd: SignalFd,
    old: SigSet,
    /// When the signalfd was last read, and calls to [`Interrupt::now_and_then`] since.
    looked: Cell<(Instant, u32)>,
}

impl Interrupt {
    /// Blocks the stop signals and opens a signalfd for them.
    pub fn block() -> nix::Result<Interrupt> {
        let mut set = SigSet::empty();
        for s in STOP {
            set.add(s);
        }
        let old = set.thread_swap_mask(SigmaskHow::SIG_BLOCK)?;
        match SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
            Ok(fd) => Ok(Interrupt {
                fd,
                old,
                looked: Cell::new((Instant::now(), 0)),
            }),
            Err(e) => {
                // Nothing to read them from: let them act as before.
                let _ = old.thread_set_mask();
                Err(e)
            }
        }
    }

    /// The stop signal that has arrived since the last call, if any (it is consumed).
    pub fn pending(&self) -> Option<Signal> {
        self.looked.set((Instant::now(), 0));
        let info = self.fd.read_signal().ok()??;
        Signal::try_from(info.ssi_signo as i32).ok()
    }

    /// [`Interrupt::pending`], once every 64 calls or 5 ms (the clock read every 8th
    /// call): cheap enough to call after every fd.
    pub fn now_and_then(&self) -> Option<Signal> {
        let (at, calls) = self.looked.get();
        let n = calls + 1;
        if n < LOOK_EVERY.1 && (n % 8 != 0 || at.elapsed() < LOOK_EVERY.0) {
            self.looked.set((at, calls + 1));
            return None;
        }
        self.pending()
    }

    /// A copy of the signalfd, for a connection to wait on: readable once a signal is pending.
    pub fn watch(&self) -> std::io::Result<OwnedFd> {
        self.fd.as_fd().try_clone_to_owned()
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        // The run has stopped for a signal and undone its work, or it has finished: either
        // way the signal has been answered, and left pending it would kill the process as
        // soon as it is unblocked, before the run's message is printed.
        while self.pending().is_some() {}
        let _ = self.old.thread_set_mask();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::raise;

    #[test]
    fn a_blocked_signal_is_read_and_the_mask_restored() {
        let before = SigSet::thread_get_mask().unwrap();
        let i = Interrupt::block().unwrap();
        assert!(SigSet::thread_get_mask().unwrap().contains(Signal::SIGHUP));
        assert_eq!(i.pending(), None);
        // Raised in this thread, where it is blocked: pending, not acted on.
        raise(Signal::SIGHUP).unwrap();
        assert_eq!(i.pending(), Some(Signal::SIGHUP));
        assert_eq!(i.pending(), None, "consumed");
        raise(Signal::SIGINT).unwrap();
        let seen = (0..64).find_map(|_| i.now_and_then());
        assert_eq!(seen, Some(Signal::SIGINT), "seen within 64 calls");
        raise(Signal::SIGTERM).unwrap();
        drop(i); // consumed here, or the test process would die of it
        let after = SigSet::thread_get_mask().unwrap();
        assert_eq!(
            after.contains(Signal::SIGHUP),
            before.contains(Signal::SIGHUP)
        );
    }
}
