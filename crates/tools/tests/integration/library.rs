//! The library's client against real daemons: every operation round trips, the fds it hands
//! back work and are close-on-exec, and its clock agrees with the daemon's.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use fdholder::error::{Op, SetdumpError};
use fdholder::{Client, Deadline, DumpEntry, Error, Tain};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};

use crate::common::*;

fn client(d: &Daemon) -> Client {
    Client::connect(&d.socket, Deadline::after(Duration::from_secs(10))).unwrap()
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap()
}

fn assert_cloexec(fd: &impl AsFd) {
    let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD).unwrap());
    assert!(flags.contains(FdFlag::FD_CLOEXEC), "{flags:?}");
}

/// Writes through `w` and reads the same bytes at `r`: the two are ends of one pipe.
fn assert_same_pipe(w: OwnedFd, r: &OwnedFd, msg: &[u8]) {
    std::fs::File::from(w).write_all(msg).unwrap();
    let mut got = vec![0u8; msg.len()];
    std::fs::File::from(r.try_clone().unwrap())
        .read_exact(&mut got)
        .unwrap();
    assert_eq!(got, msg);
}

#[test]
fn store_retrieve_delete_and_list() {
    let d = Daemon::start();
    let mut c = client(&d);
    let (r, w) = pipe();
    c.store(&w, b"pipe:w", Tain::now() + Duration::from_secs(60))
        .unwrap();
    drop(w);
    assert_eq!(d.list(), ["pipe:w"]);
    assert_eq!(c.list().unwrap(), [b"pipe:w".to_vec()]);

    let kept = c.retrieve(b"pipe:w", false).unwrap();
    assert_cloexec(&kept);
    assert_same_pipe(kept, &r, b"kept");
    assert_eq!(d.list(), ["pipe:w"], "retrieve without delete keeps it");

    let taken = c.retrieve(b"pipe:w", true).unwrap();
    assert_cloexec(&taken);
    assert_same_pipe(taken, &r, b"taken");
    assert!(d.list().is_empty(), "retrieve with delete takes it");
    assert_eq!(
        c.retrieve(b"pipe:w", false).unwrap_err(),
        Error::Daemon(Op::Retrieve, Errno::ENOENT)
    );

    let forever = Tain::now() + Duration::from_secs(3600);
    c.store(&r, b"pipe:r", forever).unwrap();
    c.store(&r, b"pipe:r2", forever).unwrap();
    assert_eq!(
        c.store(&r, b"pipe:r", forever).unwrap_err(),
        Error::Daemon(Op::Store, Errno::EBUSY)
    );
    c.delete(b"pipe:r").unwrap();
    assert_eq!(d.list(), ["pipe:r2"]);
    assert_eq!(
        c.delete(b"pipe:r").unwrap_err(),
        Error::Daemon(Op::Delete, Errno::ENOENT)
    );
}

#[test]
fn setdump_then_getdump() {
    let d = Daemon::start();
    let pipes: Vec<(OwnedFd, OwnedFd)> = (0..3).map(|_| pipe()).collect();
    let base = Tain::new((Tain::now() + Duration::from_secs(500)).secs(), 0);
    let idnames = [&b"pipe:x"[..], b"unix:/nowhere", b"tcp:127.0.0.1:80"];
    let entries: Vec<DumpEntry<'_>> = pipes
        .iter()
        .zip(idnames)
        .map(|((_, w), id)| DumpEntry {
            fd: w.as_fd(),
            id,
            // All equal: the library makes them distinct by adding i ns to the i-th.
            limit: base,
        })
        .collect();
    client(&d).setdump(&entries).unwrap();

    // Debian's getdump sees each limit to the nanosecond.
    let mut want: Vec<(String, Option<String>)> = idnames
        .iter()
        .zip(0..)
        .map(|(id, i)| {
            let id = String::from_utf8(id.to_vec()).unwrap();
            (id, Some(base.add_nanos(i).to_string()))
        })
        .collect();
    want.sort();
    assert_eq!(d.getdump(), want);

    // The library's getdump returns the same, with fds that are the pipes' write ends.
    let mut held = client(&d).getdump().unwrap();
    held.sort_by(|a, b| a.id.cmp(&b.id));
    let mut by_id: Vec<_> = idnames.iter().zip(&pipes).zip(0..).collect();
    by_id.sort_by(|a, b| a.0.0.cmp(b.0.0));
    assert_eq!(held.len(), 3);
    for (h, ((id, (r, _)), i)) in held.into_iter().zip(by_id) {
        assert_eq!((&h.id[..], h.limit), (*id, base.add_nanos(i)));
        assert_cloexec(&h.fd);
        assert_same_pipe(h.fd, r, id);
    }
}

#[test]
fn the_clock_agrees_with_the_daemon() {
    // s6-fdholder-store -T 60000 makes the daemon's "now + 60 s"; our Tain::now() must be
    // within a couple of seconds of its "now", i.e. carry the same leap-second offset.
    let d = Daemon::start();
    let out = d.s6(
        "s6-fdholder-store",
        &["-T", "60000", "SOCKET", "pipe:clock"],
    );
    assert!(out.status.success(), "{out:?}");
    let held = client(&d).getdump().unwrap();
    assert_eq!(held.len(), 1);
    let ahead = held[0].limit.duration_since(Tain::now());
    assert!(
        ahead.is_some_and(|a| a > Duration::from_secs(58) && a < Duration::from_secs(62)),
        "the daemon's deadline is {ahead:?} from our now"
    );
    assert_eq!(d.getdump()[0].1, Some(held[0].limit.to_string()));
}

#[test]
fn a_limit_with_a_second_of_nanoseconds_is_refused() {
    let d = Daemon::start();
    let mut c = client(&d);
    let (_r, w) = pipe();
    let bad = Tain::new(
        (Tain::now() + Duration::from_secs(60)).secs(),
        1_000_000_000,
    );
    assert_eq!(
        c.store(&w, b"pipe:bad", bad).unwrap_err(),
        Error::InvalidLimit(0, bad)
    );
    let good = DumpEntry {
        fd: w.as_fd(),
        id: b"pipe:good",
        limit: Tain::now() + Duration::from_secs(60),
    };
    let entries = [
        good,
        DumpEntry {
            id: b"pipe:bad",
            limit: bad,
            ..good
        },
    ];
    assert_eq!(
        c.setdump(&entries).unwrap_err(),
        SetdumpError {
            error: Error::InvalidLimit(1, bad),
            committed: 0,
            total: 2,
            held: None,
        }
    );
    // Nothing was sent, and the daemon is alive.
    assert!(d.list().is_empty());
}

/// Debian's s6 2.11 daemon answers a list whose reply is larger than the socket's buffer
/// (here 1000 ids of 250 bytes) again and again, unasked, until the client hangs up
/// (docs/PROTOCOL.md, defect 7): the connection that asked it carries no other reply, so
/// [`fdholder::held::fetch`] answers its caller on a new one.
#[test]
fn a_large_list_reply_comes_again_unasked() {
    let d = Daemon::with(Rules::default(), 1100);
    let n = 1000;
    let fds = fresh_fds(n);
    let names: Vec<String> = (0..n).map(|i| format!("{i:0>250}")).collect();
    let limit = Tain::now() + Duration::from_secs(600);
    let entries = dump_entries(&fds, &names, limit);
    client(&d).setdump(&entries).unwrap();
    let mut c = client(&d);
    assert_eq!(c.list().unwrap().len(), n);
    c.connection()
        .set_deadline(Deadline::after(Duration::from_secs(2)));
    let again = c
        .connection()
        .receive()
        .expect("the list reply again, unasked");
    assert_eq!(again.payload.len(), 1 + 4 + n * 251);
    assert_eq!(again.payload[..5], [0, 0, 0, 3, 0xe8]);
    drop(c);
    // The library's own fetch falls back to list (a getdump of more than 253 fds breaks),
    // and the connection it hands back answers the next request with that request's reply.
    let (mut c, held) =
        fdholder::held::fetch(&d.socket, Deadline::after(Duration::from_secs(10))).unwrap();
    assert_eq!(held.source(), fdholder::held::Source::List);
    let (_, w) = pipe();
    c.store(&w, b"pipe:after-list", limit).unwrap();
    assert_eq!(c.list().unwrap().len(), n + 1);
}
