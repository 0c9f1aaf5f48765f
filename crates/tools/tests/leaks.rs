//! No leaks: thousands of store/retrieve/setdump/getdump cycles against a real daemon, and
//! the library's error paths, leave this process with exactly the fds it started with; and
//! every fd the library creates or hands back is close-on-exec. Config mode's opening
//! stage, undone or finished, leaves the fds and the umask as it found them, and every fd
//! it opens (those it hands over, and the directories it walks) is close-on-exec.
//!
//! A test binary of its own with a single test: `/proc/self/fd` counts the whole process,
//! so no other test may open or close fds while it counts.

#[path = "integration/common.rs"]
mod common;

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use fdholder::error::ProtocolError;
use fdholder::{Client, Deadline, DumpEntry, Error, Op, Tain};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};

use common::Daemon;

/// Cycles on one connection.
const CYCLES: usize = 10_000;
/// Cycles with a connection each: 10 000 take 5.6 s here, 2 000 a second.
const CONNECTIONS: usize = 2_000;
/// Cycles of failures.
const FAILURES: usize = 1_000;
/// Config mode's openings, undone and finished in turn.
const CONFIG_CYCLES: usize = 200;

/// Fds open in this process.
fn open_fds() -> usize {
    // The directory's own fd is counted every time alike.
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn assert_cloexec(fd: impl AsFd, what: &str) {
    let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD).unwrap());
    assert!(
        flags.contains(FdFlag::FD_CLOEXEC),
        "{what} is not close-on-exec"
    );
}

fn connect(d: &Daemon) -> Client {
    let mut c = Client::connect(&d.socket, Deadline::after(Duration::from_secs(30))).unwrap();
    assert_cloexec(c.connection(), "the connection's socket");
    c
}

/// One cycle of every operation that moves fds, checking what comes back.
fn cycle(c: &mut Client, r: &OwnedFd, w: &OwnedFd) {
    let limit = Tain::now() + Duration::from_secs(600);
    c.store(w, b"pipe:leak-store", limit).unwrap();
    let got = c.retrieve(b"pipe:leak-store", true).unwrap();
    assert_cloexec(&got, "a retrieved fd");
    let entries = [
        DumpEntry {
            fd: r.as_fd(),
            id: b"pipe:leak-r",
            limit,
        },
        DumpEntry {
            fd: w.as_fd(),
            id: b"pipe:leak-w",
            limit,
        },
    ];
    c.setdump(&entries).unwrap();
    let held = c.getdump().unwrap();
    assert_eq!(held.len(), 2);
    for h in &held {
        assert_cloexec(&h.fd, "a getdump fd");
    }
    c.delete(b"pipe:leak-r").unwrap();
    c.delete(b"pipe:leak-w").unwrap();
}

/// One cycle of the failures that happen with fds in flight: refusals, and a getdump whose
/// fds the kernel truncates (they must be closed, and the connection given up).
fn failing_cycle(d: &Daemon, c: &mut Client, w: &OwnedFd) {
    let limit = Tain::now() + Duration::from_secs(600);
    assert_eq!(
        c.retrieve(b"pipe:leak-none", false).unwrap_err(),
        Error::Daemon(Op::Retrieve, Errno::ENOENT)
    );
    c.store(w, b"pipe:leak-dup", limit).unwrap();
    assert_eq!(
        c.store(w, b"pipe:leak-dup", limit).unwrap_err(),
        Error::Daemon(Op::Store, Errno::EBUSY)
    );
    c.store(w, b"pipe:leak-dup2", limit).unwrap();
    c.store(w, b"pipe:leak-dup3", limit).unwrap();
    let mut small = connect(d);
    // Room for one fd, which the control message's padding makes two: three overflow it.
    small.connection().set_receive_fd_capacity(1);
    assert_eq!(
        small.getdump().unwrap_err(),
        Error::Protocol(ProtocolError::ControlTruncated)
    );
    drop(small);
    c.delete(b"pipe:leak-dup").unwrap();
    c.delete(b"pipe:leak-dup2").unwrap();
    c.delete(b"pipe:leak-dup3").unwrap();
}

/// Config mode's opening stage, in this process: what the config at `config` declares is
/// opened, every fd of the process is checked close-on-exec, and the opening is undone
/// (`finish` false) or finished; the umask must be back to what it was.
fn config_cycle(config: &fdtools::config::model::Config, finish: bool) {
    use fdtools::config::{open::open_all, plan::plan};
    use nix::sys::stat::{Mode, umask};
    let p = plan(config, std::time::SystemTime::now());
    let fds = || -> std::collections::BTreeSet<i32> {
        let dir = std::fs::read_dir("/proc/self/fd").unwrap();
        dir.map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
            .collect()
    };
    let mask = Mode::from_bits_truncate(0o027);
    umask(mask);
    let had = fds();
    let opened = open_all(config, &p, &Default::default(), &mut |_| Ok(())).unwrap();
    assert_eq!(umask(mask), mask, "the umask is restored");
    assert_eq!(opened.fds.len(), p.items.len());
    // Every fd the opening left open: those handed over and the directories it walked
    // (read_dir's own is closed again by the time it is looked at).
    for n in fds().difference(&had) {
        // /proc's flags field is in octal; O_CLOEXEC is 02000000. A number already closed
        // again (read_dir's own) has no entry.
        if let Ok(info) = std::fs::read_to_string(format!("/proc/self/fdinfo/{n}")) {
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                .unwrap();
            assert!(flags & 0o2000000 != 0, "fd {n} is not close-on-exec");
        }
    }
    if finish {
        opened.finish(config, &p).unwrap();
    } else {
        assert!(opened.rollback(config, &p, 0).is_empty());
    }
}

/// Runs `f` and checks that this process has `before` fds open again; returns how long
/// `f` took.
fn leaves_fds_as_they_were(before: usize, what: &str, f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    let took = start.elapsed();
    assert_eq!(open_fds(), before, "after {what}");
    took
}

#[test]
fn no_fd_leaks() {
    let d = Daemon::start();
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    let before = open_fds();

    let one_connection = leaves_fds_as_they_were(before, "cycles on one connection", || {
        let mut c = connect(&d);
        for _ in 0..CYCLES {
            cycle(&mut c, &r, &w);
        }
    });
    let many_connections = leaves_fds_as_they_were(before, "cycles, a connection each", || {
        for _ in 0..CONNECTIONS {
            cycle(&mut connect(&d), &r, &w);
        }
    });
    let failing = leaves_fds_as_they_were(before, "failing cycles", || {
        let mut c = connect(&d);
        for _ in 0..FAILURES {
            failing_cycle(&d, &mut c, &w);
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display();
    let text = format!(
        "[[fd]]\nkind = \"unix\"\npath = \"{root}/a/b/s\"\nmode = \"0600\"\nowner = 0\n\
         [[fd]]\nkind = \"unix\"\nsocket = \"dgram\"\npath = \"@fdh-leaks-{pid}\"\n\
         [[fd]]\nkind = \"fifo\"\npath = \"{root}/c/f\"\nmode = \"0640\"\ngroup = 0\n\
         [[fd]]\nkind = \"file\"\npath = \"{root}/c/g\"\nopen = \"append\"\ncreate = true\n\
         [[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n",
        pid = std::process::id()
    );
    let raw = fdtools::config::load::parse::parse_str(&text).unwrap();
    let config =
        fdtools::config::load::validate::validate(&raw, std::time::SystemTime::now()).unwrap();
    let opening = leaves_fds_as_they_were(before, "config openings", || {
        for i in 0..CONFIG_CYCLES {
            config_cycle(&config, i % 2 == 1);
            if i % 2 == 0 {
                assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "undone");
            } else {
                std::fs::remove_dir_all(dir.path().join("a")).unwrap();
                std::fs::remove_dir_all(dir.path().join("c")).unwrap();
            }
        }
    });

    assert!(d.list().is_empty());
    eprintln!("{CONFIG_CYCLES} config openings, undone or finished: {opening:?}");
    eprintln!(
        "{CYCLES} cycles on one connection: {one_connection:?}; {CONNECTIONS} with a \
         connection each: {many_connections:?}; {FAILURES} failing cycles: {failing:?}"
    );
}
