//! Faults against real daemons: one that runs out of fds, is killed or is stopped between
//! the batches of a 1000-fd dump, one that never answers, one that is full. (Rules that deny
//! the client are in env_mode.rs; replies a real daemon never gives are in fake_server.rs.)

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::{Receiver, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fdholder::{Client, Connection, Deadline, Error, Tain};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

use crate::common::*;

/// Sends SIGCONT to a daemon on drop, so that a test that stops it never leaves it stopped
/// (a stopped daemon would not see the SIGTERM that ends it).
pub(crate) struct ContinueOnDrop(pub(crate) Pid);

impl Drop for ContinueOnDrop {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

/// A relay between one client and a real daemon, in a thread.
pub(crate) struct Relay {
    /// Where the client connects.
    pub(crate) socket: PathBuf,
    /// Ends once the client has left.
    pub(crate) thread: JoinHandle<()>,
    /// Says when the daemon has been sent the signal.
    pub(crate) signalled: Receiver<()>,
}

/// Relays one client to the real daemon `d` request by request until the daemon has
/// answered `batches` setdump data messages, then sends the daemon `signal` and relays
/// nothing more. After SIGKILL it waits for the daemon to be dead and closes the client's
/// connection, as the daemon's death does; after SIGSTOP it keeps the connection open and
/// silent until the client leaves.
///
/// Why a relay: the signal must land between two batches, and only something that sees
/// the replies can time it. The daemon, its replies and what it ends up holding are real.
pub(crate) fn relay(d: &Daemon, batches: usize, signal: Signal) -> Relay {
    let socket = d.path("relay");
    let listener = UnixListener::bind(&socket).unwrap();
    let (target, pid) = (d.socket.clone(), d.pid());
    let (tell, signalled) = channel();
    let thread = std::thread::spawn(move || {
        let deadline = Deadline::after(Duration::from_secs(20));
        let (stream, _) = listener.accept().unwrap();
        stream.set_nonblocking(true).unwrap();
        let mut client = Connection::from_socket(OwnedFd::from(stream), deadline);
        let mut daemon = Connection::connect(&target, deadline).unwrap();
        let mut answered = 0;
        while answered < batches {
            let request = client.receive().unwrap();
            let fds: Vec<BorrowedFd<'_>> = request.fds.iter().map(AsFd::as_fd).collect();
            daemon.send(&request.payload, &fds).unwrap();
            let reply = daemon.receive().unwrap();
            assert!(reply.fds.is_empty());
            client.send(&reply.payload, &[]).unwrap();
            answered += usize::from(request.payload.first() == Some(&b'.'));
        }
        // The client sends its next batch only once it has read the last reply: waiting for
        // that batch (never forwarded) makes "the client knows what the daemon took" certain
        // before the daemon is signalled, and so before the test acts on `signalled`.
        let _next = client.receive();
        kill(pid, signal).unwrap();
        let _ = tell.send(());
        if signal == Signal::SIGKILL {
            // Dead, not yet reaped (the Daemon reaps it when dropped).
            waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT).unwrap();
        } else {
            while client.receive().is_ok() {}
        }
    });
    Relay {
        socket,
        thread,
        signalled,
    }
}

/// The end of the message for a 1000-fd dump cut short once the daemon had taken `n`.
fn taken(n: usize) -> String {
    format!("; the daemon had already taken {n} of the 1000 fds")
}

/// Checks that the daemon holds exactly the first `n` ids sent, as the message said.
fn assert_holds_first(d: &Daemon, sent: &[String], n: usize) {
    let mut want = sent[..n].to_vec();
    want.sort();
    assert_eq!(d.list(), want, "the daemon holds what the message says");
}

/// The tool's exit code and message for a dump of 1000 fresh fds with these ids.
fn dump_1000(socket: &std::path::Path, ids: &[String], args: &[&str]) -> (i32, String) {
    let mut argv: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    argv.push(socket.into());
    code_and_err(&run_tool(argv, &dump_env(ids, &[]), fresh_fds(ids.len())))
}

#[test]
fn a_daemon_out_of_fds_between_batches() {
    // With at most 400 fds open, the daemon takes the first batch of 253 and the kernel
    // truncates the second (MSG_CTRUNC): it drops the connection, keeping the first.
    let d = Daemon::start();
    let out = Command::new("prlimit")
        .arg(format!("--pid={}", d.pid()))
        .arg("--nofile=400:400")
        .output()
        .expect("run prlimit");
    assert!(out.status.success(), "{out:?}");
    let sent = ids("nofile", 1000);
    let got = dump_1000(&d.socket, &sent, &[]);
    let says = format!("(the daemon closed the connection){}", taken(253));
    assert_fatal(&got, 111, "unable to set dump: Broken pipe", &says);
    assert_holds_first(&d, &sent, 253);
}

#[test]
fn a_daemon_killed_between_batches() {
    let d = Daemon::start();
    let relay = relay(&d, 2, Signal::SIGKILL);
    let got = dump_1000(&relay.socket, &ids("killed", 1000), &[]);
    relay.thread.join().unwrap();
    let says = format!("(the daemon closed the connection){}", taken(506));
    assert_fatal(&got, 111, "unable to set dump: Broken pipe", &says);
    let gone = Client::connect(&d.socket, Deadline::after(Duration::from_secs(5)));
    assert_eq!(gone.unwrap_err(), Error::Connect(Errno::ECONNREFUSED));
}

#[test]
fn a_daemon_stopped_between_batches() {
    let d = Daemon::start();
    let cont = ContinueOnDrop(d.pid());
    let relay = relay(&d, 1, Signal::SIGSTOP);
    let sent = ids("stopped", 1000);
    let got = dump_1000(&relay.socket, &sent, &["-t", "1000"]);
    relay.thread.join().unwrap();
    assert_fatal(
        &got,
        111,
        "unable to set dump: Connection timed out",
        &taken(253),
    );
    drop(cont);
    assert_holds_first(&d, &sent, 253);
}

#[test]
fn a_daemon_that_never_answers_and_the_deadline() {
    // A stopped daemon's listening socket still takes the connection into its backlog;
    // then nothing. -t must be honoured within 10%, process start and exit included.
    let d = Daemon::start();
    let cont = ContinueOnDrop(d.pid());
    kill(d.pid(), Signal::SIGSTOP).unwrap();
    let start = Instant::now();
    let got = dump_1000(&d.socket, &ids("silent", 2), &["-t", "1000"]);
    let took = start.elapsed();
    assert_eq!(
        got,
        (
            111,
            "s6-fdholder-setdump: fatal: unable to set dump: Connection timed out\n".into()
        )
    );
    assert!(
        took >= Duration::from_millis(1000) && took < Duration::from_millis(1100),
        "-t 1000 took {took:?}"
    );
    drop(cont);
    assert!(d.list().is_empty());
}

#[test]
fn a_full_daemon_says_what_it_holds() {
    let d = Daemon::with(Rules::default(), 4);
    let mut c = Client::connect(&d.socket, Deadline::after(Duration::from_secs(10))).unwrap();
    let held = fresh_fds(2);
    for (fd, id) in held.iter().zip([&b"pipe:full-0"[..], b"pipe:full-1"]) {
        c.store(fd, id, Tain::now() + Duration::from_secs(60))
            .unwrap();
    }
    let got = code_and_err(&setdump_ids(&d.socket, &ids("more", 3)));
    let says = "(the daemon is full: it holds 2 fds and cannot take 3 more; \
                its -n maximum is below 5)";
    assert_fatal(
        &got,
        1,
        "unable to set dump: Too many open files in system",
        says,
    );
    assert_eq!(d.list(), ["pipe:full-0", "pipe:full-1"]);
}

#[test]
fn a_full_daemon_that_does_not_let_the_client_list() {
    let rules = Rules {
        list: false,
        ..Rules::default()
    };
    let d = Daemon::with(rules, 2);
    let got = code_and_err(&setdump_ids(&d.socket, &ids("more", 3)));
    let says = "(the daemon is full: it would hold more fds than its -n maximum)";
    assert_fatal(
        &got,
        1,
        "unable to set dump: Too many open files in system",
        says,
    );
    assert!(d.getdump().is_empty());
}
