//! Against an in-process fake daemon, only for what a real one cannot be made to do:
//! another MAXFDS, made-up replies, a connection dropped mid-dump, silence, MSG_CTRUNC.
//!
//! The fake speaks through the library's own [`Connection`], so it needs no codec of its own.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fdholder::error::{ProtocolError, SetdumpError};
use fdholder::{Client, Connection, Deadline, DumpEntry, Error, Tain};
use nix::errno::Errno;
use tempfile::TempDir;

use crate::common::*;

/// How long a fake waits for the client at most, so that a broken test ends.
const FAKE_PATIENCE: Duration = Duration::from_secs(20);

/// A fake daemon at a socket in a temporary directory, serving one connection with `script`
/// in a thread.
pub(crate) struct Fake<T> {
    _dir: TempDir,
    /// The fake daemon's socket.
    pub(crate) socket: PathBuf,
    thread: JoinHandle<T>,
}

impl<T: Send + 'static> Fake<T> {
    pub(crate) fn serve(script: impl FnOnce(&mut Connection) -> T + Send + 'static) -> Fake<T> {
        let dir = tempfile::Builder::new()
            .prefix("fdh-fake")
            .tempdir()
            .unwrap();
        let socket = dir.path().join("s");
        let listener = UnixListener::bind(&socket).unwrap();
        let thread = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            stream.set_nonblocking(true).unwrap();
            let deadline = Deadline::after(FAKE_PATIENCE);
            script(&mut Connection::from_socket(
                OwnedFd::from(stream),
                deadline,
            ))
        });
        Fake {
            _dir: dir,
            socket,
            thread,
        }
    }

    /// What the script returned, once the client is gone.
    pub(crate) fn join(self) -> T {
        self.thread.join().expect("the fake daemon's script failed")
    }
}

/// Reads the `!` request and returns the total it announces.
fn read_setdump_start(conn: &mut Connection) -> u32 {
    let f = conn.receive().unwrap();
    assert_eq!((f.payload.len(), f.payload[0], f.fds.len()), (5, b'!', 0));
    u32::from_be_bytes(f.payload[1..5].try_into().unwrap())
}

/// Answers the `!` request with success and `trips`.
fn accept_setdump(conn: &mut Connection, trips: u32) {
    let mut reply = vec![0u8];
    reply.extend_from_slice(&trips.to_be_bytes());
    conn.send(&reply, &[]).unwrap();
}

/// Reads one data message and returns the ids it carries (one per fd, checked).
fn read_batch(conn: &mut Connection) -> Vec<Vec<u8>> {
    let f = conn.receive().unwrap();
    assert_eq!(f.payload.first(), Some(&b'.'));
    // The test's own reading of `tain(12) idlen(1) id NUL`, independent of the library's.
    let mut ids = Vec::new();
    let mut rest = &f.payload[1..];
    while !rest.is_empty() {
        let idlen = usize::from(rest[12]);
        assert_eq!(rest[13 + idlen], 0, "an id ends with NUL");
        ids.push(rest[13..13 + idlen].to_vec());
        rest = &rest[14 + idlen..];
    }
    assert_eq!(ids.len(), f.fds.len(), "one entry per fd");
    ids
}

/// Waits for the client to close its end.
pub(crate) fn until_closed(conn: &mut Connection) {
    while conn.receive().is_ok() {}
}

/// Plays a daemon built on skalibs 2.13 (MAXFDS 255): announces trips of 255, then takes
/// the fds. Returns the number of fds in each data message and every id received.
fn maxfds_255(conn: &mut Connection) -> (Vec<usize>, Vec<Vec<u8>>) {
    let total = read_setdump_start(conn) as usize;
    accept_setdump(conn, 1 + (total as u32 - 1) / 255);
    let (mut batches, mut ids) = (Vec::new(), Vec::new());
    while ids.len() < total {
        let got = read_batch(conn);
        batches.push(got.len());
        ids.extend(got);
        let errno = if ids.len() < total {
            Errno::EAGAIN as u8
        } else {
            0
        };
        conn.send(&[errno], &[]).unwrap();
    }
    until_closed(conn);
    (batches, ids)
}

#[test]
fn a_maxfds_255_daemon_gets_batches_of_at_most_253() {
    for (total, want) in [
        (254, &[253, 1][..]),
        (255, &[253, 2]),
        (256, &[253, 3]),
        (507, &[253, 253, 1]),
        (508, &[253, 253, 2]),
        (509, &[253, 253, 3]),
    ] {
        let fake = Fake::serve(maxfds_255);
        let sent = ids("trips", total);
        let out = setdump_ids(&fake.socket, &sent);
        assert_eq!(code_and_err(&out), (0, String::new()), "{total} fds");
        let (batches, got) = fake.join();
        assert_eq!(batches, want, "{total} fds");
        let got: Vec<String> = got
            .into_iter()
            .map(|id| String::from_utf8(id).unwrap())
            .collect();
        assert_eq!(got, sent);
    }
}

/// Runs the tool on `n` fresh fds against a fake playing `script`.
fn tool_against(script: impl FnOnce(&mut Connection) + Send + 'static, n: usize) -> (i32, String) {
    let fake = Fake::serve(script);
    let out = setdump_ids(&fake.socket, &ids("fake", n));
    fake.join();
    code_and_err(&out)
}

/// Runs the tool on `n` fresh fds against a fake that answers `!` with `reply` and then
/// waits for the client to go.
fn tool_against_reply(reply: &'static [u8], n: usize) -> (i32, String) {
    tool_against(
        move |conn| {
            read_setdump_start(conn);
            conn.send(reply, &[]).unwrap();
            until_closed(conn);
        },
        n,
    )
}

#[test]
fn eperm_and_enfile_replies() {
    let (code, err) = tool_against_reply(&[Errno::EPERM as u8], 2);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        "s6-fdholder-setdump: fatal: unable to set dump: Operation not permitted \
         (the daemon's rules do not grant S6_FDHOLDER_SETDUMP to this client)\n"
    );
    // After ENFILE the client asks for a list to say how many fds the daemon holds; a
    // daemon whose rules do not grant it leaves the message without the count.
    let (code, err) = tool_against(
        |conn| {
            read_setdump_start(conn);
            conn.send(&[Errno::ENFILE as u8], &[]).unwrap();
            assert_eq!(conn.receive().unwrap().payload, b"L");
            conn.send(&[Errno::EPERM as u8], &[]).unwrap();
            until_closed(conn);
        },
        2,
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err,
        "s6-fdholder-setdump: fatal: unable to set dump: Too many open files in system \
         (the daemon is full: it would hold more fds than its -n maximum)\n"
    );
}

#[test]
fn malformed_replies_are_protocol_errors() {
    // `\0` and a trip count of 3 bytes instead of 4.
    let got = tool_against_reply(&[0, 0, 0, 1], 2);
    assert_fatal(&got, 111, "unable to set dump: Protocol error", "");
    // A two-byte reply to a data message.
    let got = tool_against(
        |conn| {
            read_setdump_start(conn);
            accept_setdump(conn, 1);
            read_batch(conn);
            conn.send(&[0, 0], &[]).unwrap();
            until_closed(conn);
        },
        2,
    );
    assert_fatal(
        &got,
        111,
        "unable to set dump: Protocol error",
        "wrong length",
    );
}

#[test]
fn the_connection_closed_mid_dump() {
    let got = tool_against(
        |conn| {
            read_setdump_start(conn);
            accept_setdump(conn, 3);
            read_batch(conn);
            conn.send(&[Errno::EAGAIN as u8], &[]).unwrap();
            read_batch(conn);
            // Gone without answering the second batch.
        },
        600,
    );
    let says = "the daemon had already taken 253 of the 600 fds";
    assert_fatal(&got, 111, "unable to set dump: Broken pipe", says);
}

#[test]
fn the_connection_closed_before_any_reply() {
    let got = tool_against(
        |conn| {
            read_setdump_start(conn);
        },
        2,
    );
    let says = "its rules do not allow this client to connect";
    assert_fatal(&got, 1, "unable to set dump: Broken pipe", says);
}

/// A fake that reads the `!` request and never answers.
fn silent() -> Fake<()> {
    Fake::serve(|conn| {
        read_setdump_start(conn);
        until_closed(conn);
    })
}

/// A setdump of `entries` to `fake` within `deadline`, ended early once `stop` is readable,
/// which must fail: its error, and how long it took; the fake is done with.
fn failed_setdump<T: Send + 'static>(
    fake: Fake<T>,
    entries: &[DumpEntry<'_>],
    deadline: Deadline,
    stop: Option<OwnedFd>,
) -> (SetdumpError, Duration) {
    let start = Instant::now();
    let mut client = Client::connect(&fake.socket, deadline).unwrap();
    client.connection().set_interrupt(stop);
    let err = client.setdump(entries).unwrap_err();
    let took = start.elapsed();
    drop(client);
    fake.join();
    (err, took)
}

#[test]
fn a_silent_daemon_library_deadline() {
    let fake = silent();
    let fds = fresh_fds(2);
    let entries: Vec<DumpEntry<'_>> = fds
        .iter()
        .map(|fd| DumpEntry {
            fd: fd.as_fd(),
            id: b"pipe:silent",
            limit: Tain::now() + Duration::from_secs(60),
        })
        .collect();
    let deadline = Deadline::after(Duration::from_millis(300));
    let (err, took) = failed_setdump(fake, &entries, deadline, None);
    assert_eq!(
        err,
        SetdumpError {
            error: Error::Timeout,
            committed: 0,
            total: 2,
            held: None,
        }
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn a_batch_answered_just_after_a_stop_counts_as_taken() {
    // The stop (the interrupt fd made readable) comes while the daemon has the batch: its
    // answer 200 ms later still counts, for a caller must not undo what the daemon keeps.
    // Unanswered within the grace (a second), the batch counts as not taken.
    for (delay, taken) in [(200, 2), (2500, 0)] {
        let (stop, stop_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let fake = Fake::serve(move |conn| {
            let n = read_setdump_start(conn);
            accept_setdump(conn, n);
            read_batch(conn);
            nix::unistd::write(&stop_w, b"x").unwrap();
            std::thread::sleep(Duration::from_millis(delay));
            // The client may be gone by then.
            let _ = conn.send(&[0], &[]);
            until_closed(conn);
        });
        let fds = fresh_fds(2);
        let entries: Vec<DumpEntry<'_>> = fds
            .iter()
            .zip([&b"pipe:a"[..], b"pipe:b"])
            .map(|(fd, id)| DumpEntry {
                fd: fd.as_fd(),
                id,
                limit: Tain::now() + Duration::from_secs(60),
            })
            .collect();
        let deadline = Deadline::after(FAKE_PATIENCE);
        let (err, took) = failed_setdump(fake, &entries, deadline, Some(stop));
        assert_eq!(
            err,
            SetdumpError {
                error: Error::Interrupted,
                committed: taken,
                total: 2,
                held: None,
            },
            "answered after {delay} ms"
        );
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}

/// Runs `prog -t 300` against a silent fake; returns its exit code, message, and time.
fn silent_with_t(prog: &str) -> (i32, String, Duration) {
    let fake = silent();
    let start = Instant::now();
    let env = dump_env(&ids("silent", 2), &[]);
    let out = run_prog(
        prog,
        ["-t".as_ref(), "300".as_ref(), fake.socket.as_os_str()],
        &env,
        fresh_fds(2),
    );
    let took = start.elapsed();
    fake.join();
    let (code, err) = code_and_err(&out);
    (code, err, took)
}

#[test]
fn a_silent_daemon_tool_deadline() {
    let (code, err, took) = silent_with_t(BIN);
    assert_eq!(
        (code, err.as_str()),
        (
            111,
            "s6-fdholder-setdump: fatal: unable to set dump: Connection timed out\n"
        )
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    // The C tool says the same but exits 1, as if the daemon had refused (docs/PROTOCOL.md,
    // "The environment form of a dump").
    let (code, err, _) = silent_with_t(C_TOOL);
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "s6-fdholder-setdump: fatal: unable to set dump: Connection timed out\n"
        )
    );
}

#[test]
fn truncated_fds_are_a_protocol_error_and_are_closed() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    theirs.set_nonblocking(true).unwrap();
    let deadline = Deadline::after(Duration::from_secs(10));
    let mut ours = Connection::from_socket(OwnedFd::from(ours), deadline);
    let mut theirs = Connection::from_socket(OwnedFd::from(theirs), deadline);
    ours.set_receive_fd_capacity(1);

    // Three copies of one marker file: afterwards, no fd of this process may point at it.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let file = fs::File::create(&marker).unwrap();
    theirs
        .send(b"\0", &[file.as_fd(), file.as_fd(), file.as_fd()])
        .unwrap();
    assert_eq!(
        open_fds_to(&marker).len(),
        1,
        "the check sees the file's fd"
    );
    drop(file);
    assert_eq!(
        ours.receive().unwrap_err(),
        Error::Protocol(ProtocolError::ControlTruncated)
    );
    assert_eq!(open_fds_to(&marker), Vec::<String>::new());
}

/// The fds of this process that point at `path`.
fn open_fds_to(path: &Path) -> Vec<String> {
    fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            (fs::read_link(e.path()).ok()? == path).then(|| e.file_name().into_string().unwrap())
        })
        .collect()
}
