//! `--prune` in the setdump itself: a pruned id is sent with a limit already past, and
//! s6-fdholderd closes it as it closes any expired fd (its main loop, on a timeout, closes
//! every fd whose limit is not in the future; its setdump closes the fd an id held before).
//! First the daemon's behaviour itself, then the tool against a daemon whose
//! `S6_FDHOLDER_STORE_REGEX` refuses the deletes the tool used to send, and a run that fails
//! before its setdump, which prunes nothing.

use std::net::TcpListener;
use std::os::fd::{AsFd, OwnedFd};

use fdholder::{Client, Deadline, DumpEntry, Tain};
use fdtools::config::apply::pruned_limit;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::common::{Daemon, Rules, assert_fatal, code_and_err};
use crate::config_mode::{held, run, write_config};
use crate::contract::tool;

/// Waits (on the pipe, not a clock) until every read end of the pipe whose write end is
/// `w` is closed: the write end then polls as an error. Fails the test after 10 s.
fn wait_readers_closed(w: &OwnedFd) {
    let mut fds = [PollFd::new(w.as_fd(), PollFlags::empty())];
    let n = poll(&mut fds, PollTimeout::from(10_000u16)).expect("poll");
    assert_eq!(n, 1, "the daemon did not close the read end within 10 s");
    assert!(fds[0].revents().unwrap().contains(PollFlags::POLLERR));
}

#[test]
fn a_limit_past_closes_the_fd_and_the_id_held_before() {
    let d = Daemon::start();
    let mut c = Client::connect(&d.socket, Deadline::NEVER).unwrap();
    // An fd held under "x" with no near limit.
    let (r1, w1) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    c.store(
        &r1,
        b"x",
        Tain::now() + std::time::Duration::from_secs(3600),
    )
    .unwrap();
    drop(r1);
    // The same id in a setdump, with another pipe's read end and a limit past.
    let (r2, w2) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    let entries = [DumpEntry {
        fd: r2.as_fd(),
        id: b"x",
        limit: pruned_limit(),
    }];
    c.setdump(&entries).unwrap();
    drop(r2);
    drop(c);
    // The fd "x" held before is closed by the setdump, the one it sent at the daemon's
    // next timeout: both pipes lose their last reader.
    wait_readers_closed(&w1);
    wait_readers_closed(&w2);
    assert!(d.list().is_empty(), "the id is gone: {:?}", d.list());
}

/// s6-rc's rules: every right, but the store and delete regex `^pipe:`.
fn s6rc_like() -> Daemon {
    Daemon::with(
        Rules {
            store_regex: Some("^pipe:".into()),
            ..Rules::default()
        },
        1000,
    )
}

const TWO_PIPES: &str = "[[fd]]\nkind = \"pipe\"\nread-id = \"pipe:r\"\nwrite-id = \"pipe:w\"\n\n\
     [[fd]]\nkind = \"pipe\"\nread-id = \"other:r\"\nwrite-id = \"other:w\"\n";

#[test]
fn prune_works_where_the_store_regex_refuses_deletes() {
    let d = s6rc_like();
    let config = write_config(&d, "c.toml", TWO_PIPES);
    assert_eq!(tool(&d, &config, &[]).0, 0);
    assert_eq!(d.list(), ["other:r", "other:w", "pipe:r", "pipe:w"]);
    // The daemon itself refuses to delete an id its regex does not match.
    let mut c = Client::connect(&d.socket, Deadline::NEVER).unwrap();
    assert!(c.delete(b"other:r").is_err(), "the rules refuse the delete");
    drop(c);
    // A copy of the held write end, to see the daemon close the read end.
    let w = held(&d).remove("other:w").unwrap().fd;
    let config = write_config(
        &d,
        "c.toml",
        &TWO_PIPES[..TWO_PIPES.find("\n\n").unwrap() + 1],
    );
    let (code, _, err) = tool(&d, &config, &["--prune", "-v", "--exit-code"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("info: deleted other:r\n"), "{err}");
    wait_readers_closed(&w);
    assert_eq!(d.list(), ["pipe:r", "pipe:w"]);
    assert_eq!(
        tool(&d, &config, &["--check", "--prune", "--exit-code"]).0,
        0
    );
}

#[test]
fn prune_with_list_only_sends_a_placeholder() {
    let d = Daemon::with(
        Rules {
            getdump: false,
            store_regex: Some("^pipe:".into()),
            ..Rules::default()
        },
        1000,
    );
    // Set as the daemon's setdump allows (it checks no regex), keeping the write end.
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
    let mut c = Client::connect(&d.socket, Deadline::NEVER).unwrap();
    let limit = Tain::now() + std::time::Duration::from_secs(3600);
    c.setdump(&[DumpEntry {
        fd: r.as_fd(),
        id: b"other:r",
        limit,
    }])
    .unwrap();
    drop((r, c));
    let config = write_config(&d, "c.toml", "");
    let (code, _, err) = tool(&d, &config, &["--prune", "-v"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("comparing ids only, from list"), "{err}");
    wait_readers_closed(&w);
    assert!(d.list().is_empty(), "{:?}", d.list());
}

#[test]
fn a_run_that_fails_before_its_setdump_prunes_nothing() {
    let d = s6rc_like();
    let config = write_config(&d, "c.toml", TWO_PIPES);
    assert_eq!(tool(&d, &config, &[]).0, 0);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let text = format!("[[fd]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:{port}\"\n");
    let config = write_config(&d, "c.toml", &text);
    let got = code_and_err(&run(&[&"--prune", &"-c", &config, &d.socket]));
    assert_fatal(
        &got,
        111,
        &format!("{}:1:1: fd[0] (tcp:127.0.0.1:{port}): ", config.display()),
        "Address already in use",
    );
    assert_eq!(d.list(), ["other:r", "other:w", "pipe:r", "pipe:w"]);
}

#[test]
fn check_warns_of_ids_the_rules_would_not_let_this_client_delete() {
    let d = s6rc_like();
    let root = d.dir.path().display();
    let text = format!("{TWO_PIPES}\n[[fd]]\nkind = \"fifo\"\npath = \"{root}/f\"\n");
    let config = write_config(&d, "c.toml", &text);
    let (code, _, err) = tool(&d, &config, &["--check"]);
    assert_eq!(code, 0, "{err}");
    let warned: Vec<&str> = err.lines().filter(|l| l.contains("warning:")).collect();
    let rules = d.path("rules");
    assert_eq!(
        warned,
        [
            format!(
                "s6-fdholder-setdump: warning: the daemon's rules ({}) would not let this \
                 client delete other:r once set",
                rules.display()
            ),
            format!(
                "s6-fdholder-setdump: warning: the daemon's rules ({}) would not let this \
                 client delete other:w once set",
                rules.display()
            ),
            format!(
                "s6-fdholder-setdump: warning: the daemon's rules ({}) would not let this \
                 client delete fifo:{root}/f once set",
                rules.display()
            ),
        ],
        "{err}"
    );
    // Rules that allow everything: no warning.
    let open = Daemon::start();
    let config = write_config(&open, "c.toml", &text);
    let (code, _, err) = tool(&open, &config, &["--check"]);
    assert_eq!((code, err.as_str()), (0, ""));
}
