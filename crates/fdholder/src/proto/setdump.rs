//! setdump: `!` total(u32), answered by `\0` trips(u32) or an errno; then data messages
//! `.` + `tain(12) idlen(1) id NUL` per fd, at most 253 fds each, each answered by EAGAIN
//! while fds are still expected and by 0 once the announced total is reached.
//!
//! Batches are sized by this client, never by the announced trip count: daemons built on
//! skalibs 2.13 announce trips of 255 fds, which Linux refuses to pass in one message.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use nix::errno::Errno;

use super::client::{Client, DumpEntry, check_id, check_limit, put_id, status_reply};
use crate::conn::Deadline;
use crate::error::{Error, Op, ProtocolError, SetdumpError};
use crate::frame::MAX_SEND_FDS;
use crate::tai64n::Tain;

/// How much longer a setdump awaits the answer to a batch sent when a stop comes.
pub const STOP_GRACE: Duration = Duration::from_secs(1);

/// Packs the request that opens a setdump of `total` fds.
pub fn encode_setdump_start(total: u32) -> [u8; 5] {
    let t = total.to_be_bytes();
    [b'!', t[0], t[1], t[2], t[3]]
}

/// Packs one data message into `buf` (cleared first): `entries` with their `limits`.
pub fn encode_setdump_batch(buf: &mut Vec<u8>, entries: &[DumpEntry<'_>], limits: &[Tain]) {
    let ids = entries.iter().map(|e| e.id.len()).sum();
    start_batch(buf, entries.len(), ids);
    for (e, &limit) in entries.iter().zip(limits) {
        put_entry(buf, e.id, limit);
    }
}

/// Starts in `buf` (cleared first) a data message of `n` entries whose ids are `ids` bytes
/// long in all: room for it, exactly, where the buffer has less (grown by doubling, the
/// first batch's buffer was a dozen allocations, and a later batch a few bytes longer
/// doubled it), and its `.`.
fn start_batch(buf: &mut Vec<u8>, n: usize, ids: usize) {
    buf.clear();
    buf.reserve_exact(1 + 14 * n + ids);
    buf.push(b'.');
}

/// One entry of a data message: its limit, its id's length, its id, a NUL.
fn put_entry(buf: &mut Vec<u8>, id: &[u8], limit: Tain) {
    buf.extend_from_slice(&limit.pack());
    put_id(buf, id);
}

/// The i-th entry's limit moved i ns later: what [`distinct_limits_beside`] gives when no
/// two of these meet and nothing is held, as for every dump of s6-fdholder-getdump.
fn moved(limit: Tain, i: usize) -> Tain {
    limit.add_nanos(i as u64)
}

/// Whether the [`moved`] limits of the `i-1`-th and `i`-th entries, `a` and `b`, increase,
/// so that (if all do) they are the distinct limits as they stand. Limits that never
/// decrease do, moved by fewer than 2^32 ns (a dump's size is a u32), less than 5 s, where
/// no limit short of the last seconds saturates: the moved ones are worked out only where
/// two limits go down.
fn moved_in_order(a: Tain, b: Tain, i: usize) -> bool {
    (a <= b && b.secs() < u64::MAX - 5) || moved(a, i - 1) < moved(b, i)
}

/// The entries' limits, made pairwise distinct: the i-th is moved i ns later, then on
/// past any limit already taken. The daemon indexes fds by deadline and its setdump,
/// unlike its store, does not cope with equal keys (docs/PROTOCOL.md, defect 1).
pub fn distinct_limits(entries: &[DumpEntry<'_>]) -> Vec<Tain> {
    distinct_limits_beside(entries, &[])
}

/// [`distinct_limits`], also kept apart from `held`: the limits of fds the daemon already
/// holds and keeps, which the same corruption threatens.
///
/// Where two moved limits meet, the one of the earlier fd in (limit, index) order keeps its
/// place and the other moves on to the next free nanosecond. Done with one sort and one
/// sweep (O(n log n), no hashing): a hash set was seeded from getrandom at every run and
/// cost more than the rest for large dumps.
pub fn distinct_limits_beside(entries: &[DumpEntry<'_>], held: &[Tain]) -> Vec<Tain> {
    distinct_from(entries.len(), |i| entries[i].limit, held)
}

/// [`distinct_limits_beside`] of `total` limits, the i-th `limit(i)`.
fn distinct_from(total: usize, limit: impl Fn(usize) -> Tain, held: &[Tain]) -> Vec<Tain> {
    let mut out: Vec<Tain> = (0..total).map(|i| moved(limit(i), i)).collect();
    // The common case, limits already increasing past every held one, costs one pass.
    let increasing = out.windows(2).all(|w| w[0] < w[1]);
    if increasing && held.is_empty() {
        return out;
    }
    let mut order: Vec<u32> = (0..out.len() as u32).collect();
    if !increasing {
        order.sort_unstable_by_key(|&i| (out[i as usize], i));
    }
    let mut taken: Vec<Tain> = held.to_vec();
    taken.sort_unstable();
    let mut taken = taken.into_iter().peekable();
    let mut last: Option<Tain> = None;
    for i in order {
        let slot = &mut out[i as usize];
        let mut t = match last {
            Some(l) if *slot <= l => l.add_nanos(1),
            _ => *slot,
        };
        // Past every held limit below t, and on past those equal to it.
        while let Some(&h) = taken.peek() {
            if h < t {
                taken.next();
            } else if h == t {
                taken.next();
                t = t.add_nanos(1);
            } else {
                break;
            }
        }
        *slot = t;
        last = Some(t);
    }
    out
}

impl Client {
    /// Hands every entry's fd to the daemon in one setdump. An empty dump sends nothing.
    ///
    /// The daemon commits each batch as it arrives, so a failure can leave it holding part
    /// of the dump: [`SetdumpError::committed`] says how much it acknowledged.
    pub fn setdump(&mut self, entries: &[DumpEntry<'_>]) -> Result<(), SetdumpError> {
        self.setdump_beside(entries, &[])
    }

    /// [`Client::setdump`] to a daemon that holds fds with the limits `held` and keeps
    /// them: the dump's limits are kept apart from those too.
    pub fn setdump_beside(
        &mut self,
        entries: &[DumpEntry<'_>],
        held: &[Tain],
    ) -> Result<(), SetdumpError> {
        self.setdump_with(entries.len(), |i| entries[i], held)
    }

    /// [`Client::setdump_beside`] of `total` entries, the i-th made by `entry(i)` each time
    /// it is needed (a few times): a caller that keeps its fds, ids and limits apart need
    /// not copy them into a vector of entries, 40 bytes an fd, for one setdump.
    pub fn setdump_with<'a>(
        &mut self,
        total: usize,
        entry: impl Fn(usize) -> DumpEntry<'a>,
        held: &[Tain],
    ) -> Result<(), SetdumpError> {
        let fail = |error, committed| SetdumpError {
            error,
            committed,
            total,
            held: None,
        };
        // The usual dump needs no vector of limits: they are worked out batch by batch.
        let mut plain = held.is_empty();
        let mut before = None;
        // The length of each batch's ids, for its buffer.
        let mut ids = vec![0; total.div_ceil(MAX_SEND_FDS)];
        for i in 0..total {
            let e = entry(i);
            check_id(e.id).map_err(|why| fail(Error::InvalidId(i, why), 0))?;
            check_limit(i, e.limit).map_err(|err| fail(err, 0))?;
            plain = plain && before.is_none_or(|a| moved_in_order(a, e.limit, i));
            before = Some(e.limit);
            ids[i / MAX_SEND_FDS] += e.id.len();
        }
        let Ok(total32) = u32::try_from(total) else {
            return Err(fail(Error::TooMany(total), 0));
        };
        if total == 0 {
            return Ok(());
        }
        if let Err(error) = self.start_setdump(total32) {
            let held = match error {
                Error::Daemon(Op::Setdump, Errno::ENFILE) => self.count_held(),
                _ => None,
            };
            return Err(SetdumpError {
                held,
                ..fail(error, 0)
            });
        }
        let limits = if plain {
            Vec::new()
        } else {
            distinct_from(total, |i| entry(i).limit, held)
        };
        // Room for the longest batch at once: a buffer grown for a later batch, a few
        // bytes longer, moved to memory of its own (fresh pages, each costing about as
        // much as a socket's bind).
        let longest = ids.iter().max().copied().unwrap_or(0);
        let mut buf = Vec::with_capacity(1 + 14 * total.min(MAX_SEND_FDS) + longest);
        let mut fds: Vec<BorrowedFd<'_>> = Vec::with_capacity(MAX_SEND_FDS);
        let mut committed = 0;
        while committed < total {
            let batch = committed..total.min(committed + MAX_SEND_FDS);
            fds.clear();
            start_batch(&mut buf, batch.len(), ids[committed / MAX_SEND_FDS]);
            for i in batch.clone() {
                let e = entry(i);
                fds.push(e.fd);
                put_entry(
                    &mut buf,
                    e.id,
                    if plain { moved(e.limit, i) } else { limits[i] },
                );
            }
            let batch = batch.len();
            let last = committed + batch == total;
            self.send(&buf, &fds).map_err(|e| fail(e, committed))?;
            if let Err(e) = self.batch_reply(last) {
                let taken = e == Error::Interrupted && self.taken_after_stop(last);
                return Err(fail(e, committed + if taken { batch } else { 0 }));
            }
            committed += batch;
        }
        Ok(())
    }

    /// How many fds the daemon holds, when its rules let this client list them and it
    /// answers within a second: its `-n` maximum is not in the protocol, so this is what
    /// can honestly be said of a full daemon.
    fn count_held(&mut self) -> Option<usize> {
        let deadline = self.conn.deadline();
        let patience = Deadline::after(Duration::from_secs(1));
        self.conn.set_deadline(deadline.min(patience));
        let held = self.list().ok().map(|ids| ids.len());
        self.conn.set_deadline(deadline);
        held
    }

    fn start_setdump(&mut self, total: u32) -> Result<(), Error> {
        self.send(&encode_setdump_start(total), &[])?;
        let frame = self.conn.receive()?;
        let body = status_reply(Op::Setdump, &frame)?;
        if body.len() != 4 || !frame.fds.is_empty() {
            return Err(ProtocolError::BadReply(Op::Setdump, "a malformed setdump reply").into());
        }
        Ok(())
    }

    /// Whether the daemon took the batch just sent, whose answer a stop (the interrupt fd
    /// of [`Connection::set_interrupt`](crate::Connection::set_interrupt)) cut short:
    /// awaited [`STOP_GRACE`] longer at most, within the exchange's deadline, the stop
    /// aside. The daemon keeps a batch it has read: a caller that undoes what it made for
    /// the fds not taken would otherwise undo what the daemon holds.
    fn taken_after_stop(&mut self, last: bool) -> bool {
        let interrupt = self.conn.take_interrupt();
        let deadline = self.conn.deadline();
        self.conn
            .set_deadline(deadline.min(Deadline::after(STOP_GRACE)));
        let taken = self.batch_reply(last).is_ok();
        self.conn.set_deadline(deadline);
        self.conn.set_interrupt(interrupt);
        taken
    }

    /// Reads the daemon's answer to a data message, the `last` of the dump or not.
    fn batch_reply(&mut self, last: bool) -> Result<(), Error> {
        let bad = |what| Error::Protocol(ProtocolError::BadReply(Op::Setdump, what));
        match (self.errno_reply(Op::Setdump)?, last) {
            (Errno::EAGAIN, false) => Ok(()),
            (e, true) if e as i32 == 0 => Ok(()),
            (Errno::EAGAIN, true) => Err(bad("the daemon expects more fds than announced")),
            (e, false) if e as i32 == 0 => Err(bad("the daemon ended the dump early")),
            (e, _) => Err(Error::Daemon(Op::Setdump, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn start_layout() {
        assert_eq!(encode_setdump_start(0x01020304), *b"!\x01\x02\x03\x04");
    }

    #[test]
    fn batch_layout_and_distinct_limits() {
        let fd = std::io::stdin();
        let t = Tain::new(0x10, 999_999_999);
        let entries: Vec<DumpEntry<'_>> = [&b"a"[..], b"bc", b"d"]
            .iter()
            .map(|id| DumpEntry {
                fd: fd.as_fd(),
                id,
                limit: t,
            })
            .collect();
        let limits = distinct_limits(&entries);
        assert_eq!(limits, vec![t, Tain::new(0x11, 0), Tain::new(0x11, 1)]);
        let mut buf = Vec::new();
        encode_setdump_batch(&mut buf, &entries[..2], &limits[..2]);
        let mut want = b".".to_vec();
        want.extend_from_slice(&t.pack());
        want.extend_from_slice(b"\x01a\0");
        want.extend_from_slice(&Tain::new(0x11, 0).pack());
        want.extend_from_slice(b"\x02bc\0");
        assert_eq!(buf, want);
    }

    #[test]
    fn distinct_limits_skip_taken_ones() {
        let fd = std::io::stdin();
        let mk = |s, n| DumpEntry {
            fd: fd.as_fd(),
            id: b"x",
            limit: Tain::new(s, n),
        };
        // fd 0 at 5ns, fd 1 at 4ns (+1 → 5ns, taken → 6ns).
        let l = distinct_limits(&[mk(1, 5), mk(1, 4)]);
        assert_eq!(l, vec![Tain::new(1, 5), Tain::new(1, 6)]);
        // Held at 5ns and 6ns: fd 0 moves to 7ns, fd 1 (at 5ns) to 8ns.
        let l = distinct_limits_beside(&[mk(1, 5), mk(1, 4)], &[Tain::new(1, 5), Tain::new(1, 6)]);
        assert_eq!(l, vec![Tain::new(1, 7), Tain::new(1, 8)]);
    }

    #[test]
    fn distinct_limits_in_any_order() {
        let fd = std::io::stdin();
        let mk = |n| DumpEntry {
            fd: fd.as_fd(),
            id: b"x",
            limit: Tain::new(1, n),
        };
        let entries: Vec<DumpEntry<'_>> = [9, 3, 3, 1, 8, 0, 5, 5].into_iter().map(mk).collect();
        let held = [
            Tain::new(1, 4),
            Tain::new(1, 9),
            Tain::new(1, 10),
            Tain::new(1, 4),
        ];
        let l = distinct_limits_beside(&entries, &held);
        let mut all: Vec<Tain> = l.iter().chain(&held[..3]).copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), entries.len() + 3, "{l:?}");
        for ((e, t), i) in entries.iter().zip(&l).zip(0u64..) {
            assert!(*t >= e.limit.add_nanos(i), "{l:?}");
        }
    }

    /// The quick look that spares the vector of limits says yes exactly when the moved
    /// limits truly increase: on every sequence of three limits made of seconds and
    /// nanoseconds near the edges (equal limits, a limit 1 ns below the one before, the
    /// last seconds of TAI64N, where moving a limit saturates).
    #[test]
    fn moved_limits_increase_only_where_they_do() {
        let secs = [0, 1, 2, u64::MAX - 6, u64::MAX - 5, u64::MAX - 1, u64::MAX];
        let nanos = [0, 1, 2, 999_999_998, 999_999_999];
        let limits: Vec<Tain> = (secs.iter())
            .flat_map(|&s| nanos.iter().map(move |&n| Tain::new(s, n)))
            .collect();
        let exact = |e: &[Tain]| (1..e.len()).all(|i| moved(e[i - 1], i - 1) < moved(e[i], i));
        let (mut yes, mut no) = (0, 0);
        for &a in &limits {
            for &b in &limits {
                for &c in &limits {
                    let e = [a, b, c];
                    let quick = (1..e.len()).all(|i| moved_in_order(e[i - 1], e[i], i));
                    assert_eq!(quick, exact(&e), "{a:?} {b:?} {c:?}");
                    if quick {
                        yes += 1;
                    } else {
                        no += 1;
                    }
                }
            }
        }
        assert!(yes > 1000 && no > 1000, "{yes} {no}");
    }
}
