//! Env mode against real daemons: what the daemon holds after the tool ran.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use fdholder::{Client, Deadline};

use crate::common::*;

/// A dump of `n` fresh fds succeeds, silently, and the daemon lists every id.
fn dump_of(n: usize) {
    let d = Daemon::start();
    let ids = ids("size", n);
    let out = setdump_ids(&d.socket, &ids);
    assert_eq!(code_and_err(&out), (0, String::new()), "a dump of {n} fds");
    let mut want = ids;
    want.sort();
    assert_eq!(d.list(), want, "a dump of {n} fds");
}

macro_rules! dump_sizes {
    ($($name:ident: $n:expr,)*) => {
        $(
            #[test]
            fn $name() {
                dump_of($n);
            }
        )*
    };
}

// Around one and two batches of 253 (Linux, skalibs 2.14) and 255 (skalibs 2.13, Debian's
// daemon), and the daemon's default maximum.
dump_sizes! {
    dump_of_1: 1,
    dump_of_2: 2,
    dump_of_253: 253,
    dump_of_254: 254,
    dump_of_255: 255,
    dump_of_506: 506,
    dump_of_507: 507,
    dump_of_1000: 1000,
}

#[test]
fn ids_and_limits_read_back() {
    let d = Daemon::start();
    let near = label_in(Duration::from_secs(100));
    let far = label_in(Duration::from_secs(100_000));
    let ids: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|s| format!("pipe:back-{s}"))
        .collect();
    // Equal labels, no label, and distinct ones, in one dump.
    let limits = vec![
        Some(near.clone()),
        None,
        Some(far.clone()),
        Some(near.clone()),
        None,
    ];
    let out = run_tool([&d.socket], &dump_env(&ids, &limits), fresh_fds(ids.len()));
    assert_eq!(code_and_err(&out), (0, String::new()));
    let held = d.getdump();
    let seconds = |l: &Option<String>| l.as_ref().map(|l| l[..17].to_owned());
    let got: Vec<(String, Option<String>)> = held
        .iter()
        .map(|(id, l)| (id.clone(), seconds(l)))
        .collect();
    let want: Vec<(String, Option<String>)> = ids
        .iter()
        .zip(&limits)
        .map(|(id, l)| (id.clone(), seconds(l)))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_unix_socket_is_still_the_same_socket_when_retrieved() {
    let d = Daemon::start();
    let path = d.path("listening");
    let listener = UnixListener::bind(&path).unwrap();
    let inode = std::fs::metadata(format!("/proc/self/fd/{}", raw(&listener)))
        .unwrap()
        .ino();
    let id = format!("unix:{}", path.display());
    let env = dump_env(std::slice::from_ref(&id), &[]);
    // run_tool takes, and closes, the test's only copy of the socket.
    let out = run_tool([&d.socket], &env, vec![OwnedFd::from(listener)]);
    assert_eq!(code_and_err(&out), (0, String::new()));

    // Debian's client hands the fd to a program as its stdin: it is the same socket.
    let out = d.s6(
        "s6-fdholder-retrieve",
        &["SOCKET", &id, "readlink", "/proc/self/fd/0"],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("socket:[{inode}]")
    );

    // And it still listens at its path: a connection there is accepted on it.
    let mut client = Client::connect(&d.socket, Deadline::NEVER).unwrap();
    let listener = UnixListener::from(client.retrieve(id.as_bytes(), true).unwrap());
    let name = listener.local_addr().unwrap();
    assert_eq!(name.as_pathname(), Some(path.as_path()));
    let mut peer = UnixStream::connect(&path).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    peer.write_all(b"through").unwrap();
    let mut buf = [0u8; 7];
    accepted.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"through");
    assert!(d.list().is_empty(), "retrieve with delete took it back");
}

/// Runs `prog` on `n` fresh fds against a daemon of its own with these rules; returns the
/// daemon, to look at what it holds, and the exit code and message.
fn against(prog: &str, rules: &Rules, maxfds: u32, n: usize) -> (Daemon, (i32, String)) {
    let d = Daemon::with(rules.clone(), maxfds);
    let env = dump_env(&ids("refused", n), &[]);
    let got = code_and_err(&run_prog(prog, [&d.socket], &env, fresh_fds(n)));
    (d, got)
}

/// Our tool is refused as `start`..`says`, the daemon holds nothing, and the C tool fails
/// alike (exit code, and message up to our reason).
fn refused(rules: Rules, maxfds: u32, n: usize, start: &str, says: &str) {
    let (d, ours) = against(BIN, &rules, maxfds, n);
    assert_fatal(&ours, 1, start, says);
    assert!(d.list().is_empty());
    let (_, c) = against(C_TOOL, &rules, maxfds, n);
    assert_eq!(c.0, ours.0, "C: {}", c.1);
    assert_same_message(&c.1, &ours.1, "C and ours");
}

#[test]
fn rules_that_deny_setdump() {
    let rules = Rules {
        setdump: false,
        ..Rules::default()
    };
    let start = "unable to set dump: Operation not permitted";
    refused(
        rules,
        1000,
        2,
        start,
        "rules do not grant S6_FDHOLDER_SETDUMP",
    );
}

#[test]
fn a_full_daemon_refuses_the_dump() {
    let start = "unable to set dump: Too many open files in system";
    refused(Rules::default(), 2, 3, start, "the daemon is full");
}

#[test]
fn rules_that_do_not_let_the_client_connect() {
    let rules = Rules {
        allow: false,
        ..Rules::default()
    };
    let (_, got) = against(BIN, &rules, 1000, 2);
    let says = "do not allow this client to connect";
    assert_fatal(&got, 1, "unable to set dump: Broken pipe", says);
    // The C tool's reason depends on where the close finds it: sending or receiving.
    let (_, (c_code, c_err)) = against(C_TOOL, &rules, 1000, 2);
    assert_eq!(c_code, 1, "{c_err}");
    assert!(
        [
            "s6-fdholder-setdump: fatal: unable to set dump: Broken pipe\n",
            "s6-fdholder-setdump: fatal: unable to set dump: Connection reset by peer\n"
        ]
        .contains(&c_err.as_str()),
        "{c_err}"
    );
}

#[test]
fn no_daemon_at_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nothing");
    let want = format!(
        "s6-fdholder-setdump: fatal: unable to connect to a fd-holder daemon at {}: \
         No such file or directory\n",
        path.display()
    );
    for prog in [BIN, C_TOOL] {
        let env = dump_env(&ids("nodaemon", 1), &[]);
        let out = run_prog(prog, [&path], &env, fresh_fds(1));
        assert_eq!(code_and_err(&out), (111, want.clone()), "{prog}");
    }
}

#[test]
fn a_bad_environment_never_reaches_the_daemon() {
    let d = Daemon::start();
    let good = ids("good", 3);
    let mut env = dump_env(&good, &[]);
    env[0].1 = "4".into();
    env.push(("S6_FD_3".into(), (FIRST_CHILD_FD + 3).to_string()));
    env.push(("S6_FDID_3".into(), String::new()));
    let out = run_tool([&d.socket], &env, fresh_fds(4));
    assert_fatal(&code_and_err(&out), 100, "invalid $S6_FDID_3", "");
    // The same with an fd that is not open: the C tool would have connected first.
    let out = run_tool([&d.socket], &env_with_fd3(&good, 999), fresh_fds(3));
    assert_eq!(
        code_and_err(&out),
        (
            100,
            "s6-fdholder-setdump: fatal: invalid $S6_FD_3: fd 999 is not open\n".into()
        )
    );
    assert!(d.list().is_empty());
}

/// The environment for `good` then a fourth fd numbered `fd`, with an id.
fn env_with_fd3(good: &[String], fd: i32) -> Vec<(String, String)> {
    let mut env = dump_env(good, &[]);
    env[0].1 = "4".into();
    env.push(("S6_FD_3".into(), fd.to_string()));
    env.push(("S6_FDID_3".into(), "pipe:bad".into()));
    env
}

/// docs/PROTOCOL.md, defect 1: four fds with one label, two deleted, two expired, then
/// one stored. Returns what the daemon lists at the end.
fn equal_deadlines_scenario(prog: &str) -> Vec<String> {
    let d = Daemon::start();
    let ids: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
    let label = label_in(Duration::from_secs(2));
    let limits = vec![Some(label); 4];
    let out = run_prog(prog, [&d.socket], &dump_env(&ids, &limits), fresh_fds(4));
    assert_eq!(code_and_err(&out), (0, String::new()), "{prog}");
    for id in ["a", "c"] {
        let out = d.s6("s6-fdholder-delete", &["SOCKET", id]);
        assert!(out.status.success(), "{out:?}");
    }
    wait_until_empty(&d, Duration::from_secs(15));
    let out = d.s6("s6-fdholder-store", &["SOCKET", "new"]);
    assert!(out.status.success(), "{out:?}");
    d.list()
}

/// Polls `list` until the daemon holds nothing; fails past `bound`.
fn wait_until_empty(d: &Daemon, bound: Duration) {
    let start = Instant::now();
    while !d.list().is_empty() {
        assert!(
            start.elapsed() < bound,
            "fds did not expire: {:?}",
            d.list()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn equal_deadlines_leave_the_daemon_sound() {
    assert_eq!(equal_deadlines_scenario(BIN), ["new"]);
}

#[test]
fn equal_deadlines_from_the_c_tool_break_the_daemon() {
    // The C tool sends the four equal deadlines as they are: the daemon's deadline tree
    // loses the new fd and shows an expired one.
    let held = equal_deadlines_scenario(C_TOOL);
    assert_ne!(held, ["new"]);
    assert!(
        held.iter().any(|id| id == "b" || id == "d"),
        "an expired id is listed: {held:?}"
    );
}
