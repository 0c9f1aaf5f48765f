//! Issue 10's attacks, each a test: rollback by identity (a socket swapped in is left
//! alone), stale means no socket bound (a bound socket that does not listen, a listener
//! whose backlog is full), every path operation of a run through a directory fd (under
//! strace), and an errno byte no C library knows in each reply.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fdholder::error::ProtocolError;
use fdholder::{Client, Connection, Deadline, Error, Tain};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, bind, socket};

use crate::common::{BIN, Daemon, assert_fatal, code_and_err, ids, setdump_ids};
use crate::config_mode::{run, tree};
use crate::fake_server::{Fake, until_closed};

/// Answers a getdump (`?`) with an empty dump.
fn empty_dump(conn: &mut Connection) {
    assert_eq!(conn.receive().unwrap().payload, b"?");
    conn.send(&[0; 9], &[]).unwrap();
}

/// A config file in `dir` with `text`, private to root as the trust checks want.
fn config_in(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("fds.toml");
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn unix_entry(path: &Path) -> String {
    format!("[[fd]]\nkind = \"unix\"\npath = \"{}\"\n", path.display())
}

#[test]
fn rollback_leaves_a_socket_swapped_in_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("new/a.sock"), dir.path().join("new/b.sock"));
    let config = config_in(dir.path(), &(unix_entry(&a) + &unix_entry(&b)));
    let swapped = a.clone();
    // The late failure: the daemon refuses the setdump, after every fd is open. Before it
    // answers, another process takes a.sock: unlink, bind, listen.
    let f = Fake::serve(move |conn| {
        empty_dump(conn);
        assert_eq!(conn.receive().unwrap().payload.first(), Some(&b'!'));
        fs::remove_file(&swapped).unwrap();
        let theirs = UnixListener::bind(&swapped).unwrap();
        let ino = fs::symlink_metadata(&swapped).unwrap().ino();
        conn.send(&[nix::errno::Errno::EPERM as u8], &[]).unwrap();
        until_closed(conn);
        (theirs, ino)
    });
    let (code, err) = code_and_err(&run(&[&"-c", &config, &f.socket]));
    let (theirs, ino) = f.join();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "warning: {} is no longer the file this run made: it is left alone",
            a.display()
        )),
        "{err}"
    );
    // Their socket file is still there, the very one, and still works.
    assert_eq!(fs::symlink_metadata(&a).unwrap().ino(), ino);
    let _c = UnixStream::connect(&a).unwrap();
    theirs.set_nonblocking(true).unwrap();
    assert!(theirs.accept().is_ok(), "their socket still accepts");
    // What was the run's own is gone: b.sock; the directory stays (their socket is in it).
    assert!(!b.exists());
    assert_eq!(tree(&dir.path().join("new")), vec![a.clone()]);
}

/// A symlink the run made, swapped for another while the run waits for the daemon, is
/// left alone by the rollback: the run holds its own link's inode (an O_PATH fd), so the
/// new link cannot get its number and pass for it.
#[test]
fn rollback_leaves_a_symlink_swapped_in_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (sock, link) = (dir.path().join("a.sock"), dir.path().join("lnk"));
    let text = format!("{}symlinks = [\"{}\"]\n", unix_entry(&sock), link.display());
    let config = config_in(dir.path(), &text);
    let swapped = link.clone();
    let f = Fake::serve(move |conn| {
        empty_dump(conn);
        assert_eq!(conn.receive().unwrap().payload.first(), Some(&b'!'));
        fs::remove_file(&swapped).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &swapped).unwrap();
        conn.send(&[nix::errno::Errno::EPERM as u8], &[]).unwrap();
        until_closed(conn);
    });
    let (code, err) = code_and_err(&run(&[&"-c", &config, &f.socket]));
    f.join();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "warning: {} is no longer the file this run made: it is left alone",
            link.display()
        )),
        "{err}"
    );
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("/etc/passwd"));
    assert!(!sock.exists(), "the run's own socket is removed");
}

/// A unix socket bound at `path` that does not listen.
fn bound_only(path: &Path) -> OwnedFd {
    let s = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    bind(s.as_raw_fd(), &UnixAddr::new(path).unwrap()).unwrap();
    s
}

/// A run declaring the live socket at `path` fails (111), with the file untouched and
/// nothing held.
fn assert_left_alone(d: &Daemon, dir: &Path, path: &Path) {
    let ino = fs::symlink_metadata(path).unwrap().ino();
    let config = config_in(dir, &unix_entry(path));
    let got = code_and_err(&run(&[&"-c", &config, &d.socket]));
    assert_fatal(
        &got,
        111,
        &format!("{}:1:1: fd[0] ", config.display()),
        "is a live socket (a socket is bound to it): it is left alone",
    );
    assert_eq!(fs::symlink_metadata(path).unwrap().ino(), ino);
    assert!(d.list().is_empty());
}

#[test]
fn a_bound_socket_is_live_listening_or_not() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bound.sock");
    let _s = bound_only(&path);
    assert_left_alone(&d, dir.path(), &path);
}

#[test]
fn a_listener_with_a_full_backlog_is_live() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.sock");
    let _full = full_backlog(&path);
    assert_left_alone(&d, dir.path(), &path);
}

/// A listener at `path` whose backlog is full (a connect to it would wait), and the
/// connections that fill it.
fn full_backlog(path: &Path) -> (UnixListener, Vec<OwnedFd>) {
    let l = UnixListener::bind(path).unwrap();
    nix::sys::socket::listen(&l, nix::sys::socket::Backlog::new(0).unwrap()).unwrap();
    // Fill the backlog until a connect gets EAGAIN.
    let mut queued = Vec::new();
    loop {
        let c = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .unwrap();
        match nix::sys::socket::connect(c.as_raw_fd(), &UnixAddr::new(path).unwrap()) {
            Ok(()) => queued.push(c),
            Err(nix::errno::Errno::EAGAIN) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(queued.len() < 1000);
    }
    (l, queued)
}

/// The getdump is sent before the file is read only if the daemon takes the connection
/// at once: one whose backlog is full does not delay a bad file's error (exit 100), with
/// no `-t` to end the wait.
#[test]
fn a_bad_file_is_told_at_once_by_a_daemon_whose_backlog_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("full.sock");
    let _full = full_backlog(&socket);
    let config = config_in(dir.path(), "[[fd]]\nkind = \"tcp\"\nlisten = \"bad\"\n");
    let mut child = Command::new(BIN)
        .arg("-c")
        .arg(&config)
        .arg(&socket)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("still waiting for the daemon after 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let err = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(100), "{err}");
    assert!(err.contains("`listen` must be IP:PORT"), "{err}");
}

/// The errno byte no C library knows.
const UNKNOWN: u8 = 200;

#[test]
fn an_unknown_errno_byte_to_setdump_is_exit_111() {
    let f = Fake::serve(|conn| {
        assert_eq!(conn.receive().unwrap().payload.first(), Some(&b'!'));
        conn.send(&[UNKNOWN], &[]).unwrap();
        until_closed(conn);
    });
    let got = code_and_err(&setdump_ids(&f.socket, &ids("fake", 2)));
    f.join();
    assert_eq!(got.0, 111, "{}", got.1);
    assert!(got.1.contains("200"), "{}", got.1);
}

#[test]
fn an_unknown_errno_byte_to_getdump_is_exit_111_nothing_opened() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("never.sock");
    let config = config_in(dir.path(), &unix_entry(&sock));
    let f = Fake::serve(|conn| {
        assert_eq!(conn.receive().unwrap().payload, b"?");
        conn.send(&[UNKNOWN], &[]).unwrap();
        until_closed(conn);
    });
    let got = code_and_err(&run(&[&"-c", &config, &f.socket]));
    f.join();
    assert_eq!(got.0, 111, "{}", got.1);
    assert!(got.1.contains("200"), "{}", got.1);
    assert!(!sock.exists());
}

#[test]
fn an_unknown_errno_byte_to_a_pruning_setdump_is_exit_111() {
    // --prune of an id the daemon holds and the config does not declare: it is pruned in
    // the setdump itself (sent with a limit long past), which the fake answers with 200.
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), "");
    let f = Fake::serve(|conn| {
        assert_eq!(conn.receive().unwrap().payload, b"?");
        let mut header = vec![0u8];
        header.extend(1u32.to_be_bytes());
        header.extend(1u32.to_be_bytes());
        conn.send(&header, &[]).unwrap();
        let (r, _w) = nix::unistd::pipe().unwrap();
        let mut entry = Tain::new(1 << 62, 0).pack().to_vec();
        entry.push(3);
        entry.extend(b"old\0");
        conn.send(&entry, &[std::os::fd::AsFd::as_fd(&r)]).unwrap();
        let f = conn.receive().unwrap();
        assert_eq!(f.payload.first(), Some(&b'!'), "{:?}", f.payload);
        conn.send(&[UNKNOWN], &[]).unwrap();
        until_closed(conn);
    });
    let got = code_and_err(&run(&[&"--prune", &"-c", &config, &f.socket]));
    f.join();
    assert_eq!(got.0, 111, "{}", got.1);
    assert!(got.1.contains("200"), "{}", got.1);
    assert!(!got.1.contains("deleted"), "{}", got.1);
}

#[test]
fn an_unknown_errno_byte_to_store_or_delete_is_a_protocol_error() {
    for op in [b'S', b'D'] {
        let f = Fake::serve(|conn| {
            conn.receive().unwrap();
            conn.send(&[UNKNOWN], &[]).unwrap();
            until_closed(conn);
        });
        let mut c = Client::connect(&f.socket, Deadline::after(Duration::from_secs(20))).unwrap();
        let r = if op == b'S' {
            let (r, _w) = nix::unistd::pipe().unwrap();
            c.store(&r, b"x", Tain::new(1 << 62, 0))
        } else {
            c.delete(b"x")
        };
        drop(c);
        f.join();
        match r {
            Err(Error::Protocol(ProtocolError::UnknownErrno(_, UNKNOWN))) => {}
            other => panic!("{}: {other:?}", op as char),
        }
    }
}

/// The calls that create, rename, remove, or change the owner or mode of a file.
const PATH_CHANGING: &[&str] = &[
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "creat",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "rmdir",
    "chmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "lchown",
    "fchownat",
    "link",
    "linkat",
    "symlink",
    "symlinkat",
    "truncate",
    "bind",
];

/// The quoted strings of one strace line's arguments.
fn quoted(args: &str) -> Vec<&str> {
    args.split('"').skip(1).step_by(2).collect()
}

/// Runs the tool under `strace -f` with `args`; its exit code, and every call of
/// [`PATH_CHANGING`] (or open with `O_CREAT`) given a path with a `/` in it outside
/// `/proc/self/fd/`.
fn traced(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (i32, Vec<String>, usize) {
    let (code, bad, seen, err) = traced_err(args);
    if code != 0 {
        eprintln!("{err}");
    }
    (code, bad, seen)
}

fn traced_err(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (i32, Vec<String>, usize, String) {
    let out_dir = tempfile::tempdir().unwrap();
    let log = out_dir.path().join("trace");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-s", "4096", "-e", "trace=%file,bind", "-o"])
        .arg(&log)
        .arg(BIN)
        .args(args.iter().map(|a| a.as_ref()))
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .output()
        .expect("strace (test.sh installs it)");
    let text = fs::read_to_string(&log).unwrap();
    let (mut bad, mut seen) = (Vec::new(), 0);
    for line in text.lines() {
        // `PID name(args) = result`
        let call = line
            .split_once(char::is_whitespace)
            .map_or(line, |(_, rest)| rest.trim_start());
        let Some((name, args)) = call.split_once('(') else {
            continue;
        };
        let creating_open = matches!(name, "open" | "openat") && args.contains("O_CREAT");
        if !(PATH_CHANGING.contains(&name) || creating_open) {
            continue;
        }
        seen += 1;
        if quoted(args)
            .iter()
            .any(|p| p.contains('/') && !p.starts_with("/proc/self/fd/"))
        {
            bad.push(line.to_string());
        }
    }
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), bad, seen, err)
}

#[test]
fn every_path_operation_goes_through_a_directory_fd() {
    let d = Daemon::start();
    let conf = tempfile::tempdir().unwrap();
    // A directory others may write in: what a run binds there, it binds through the fd.
    let base = tempfile::tempdir().unwrap();
    fs::set_permissions(base.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let root = base.path().display();
    let sockets = |mode: &str| {
        format!(
            "[[fd]]\nkind = \"unix\"\npath = \"{root}/a/b/one.sock\"\nmode = \"{mode}\"\n\
             [[fd]]\nkind = \"unix\"\npath = \"{root}/a/b/c/two.sock\"\n\
             [[fd]]\nkind = \"fifo\"\npath = \"{root}/a/f.fifo\"\nmode = \"0620\"\n\
             [[fd]]\nkind = \"file\"\npath = \"{root}/a/d/log\"\nopen = \"append\"\n\
             create = true\nmode = \"0640\"\n"
        )
    };
    // 1. Nested directories, two sockets, a FIFO, a file.
    let config = config_in(conf.path(), &sockets("0600"));
    let (code, bad, seen) = traced(&[&"-c", &config, &d.socket]);
    assert_eq!((code, &bad), (0, &vec![]));
    assert!(seen >= 8, "{seen} calls seen");
    assert_eq!(d.list().len(), 4);
    // 2. A socket's mode changed: the daemon's own socket is replaced (moved aside).
    let config = config_in(conf.path(), &sockets("0660"));
    let (code, bad, _) = traced(&[&"-c", &config, &d.socket]);
    assert_eq!((code, &bad), (0, &vec![]));
    let one = base.path().join("a/b/one.sock");
    assert_eq!(fs::symlink_metadata(&one).unwrap().mode() & 0o777, 0o660);
    // 3. A late failure: a port already bound after new sockets in new directories.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let before = tree(base.path());
    let text = format!(
        "{}[[fd]]\nkind = \"unix\"\npath = \"{root}/n/m/new.sock\"\n\
         [[fd]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:{port}\"\n",
        sockets("0640")
    );
    let config = config_in(conf.path(), &text);
    let (code, bad, _) = traced(&[&"-c", &config, &d.socket]);
    assert_eq!((code, &bad), (111, &vec![]));
    assert_eq!(tree(base.path()), before, "rolled back");
    assert_eq!(fs::symlink_metadata(&one).unwrap().mode() & 0o777, 0o660);
}

#[test]
fn a_directory_above_the_config_writable_by_others_is_refused_as_root() {
    let d = Daemon::start();
    let top = tempfile::tempdir().unwrap();
    let mid = top.path().join("mid");
    fs::create_dir_all(mid.join("private")).unwrap();
    let config = config_in(
        &mid.join("private"),
        "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n",
    );
    fs::set_permissions(&mid, fs::Permissions::from_mode(0o757)).unwrap();
    let got = code_and_err(&run(&[&"-c", &config, &d.socket]));
    assert_fatal(
        &got,
        100,
        &format!(
            "refusing {}: its directory {} is writable by anyone (mode 0757); ",
            config.display(),
            mid.display()
        ),
        "--allow-insecure-config takes it anyway",
    );
    assert!(d.list().is_empty());
    fs::set_permissions(&mid, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(
        code_and_err(&run(&[&"-c", &config, &d.socket])),
        (0, String::new())
    );
    assert_eq!(d.list(), ["r", "w"]);
}

#[test]
fn a_deadline_equal_to_one_held_is_kept_apart() {
    // The daemon's deadline tree needs distinct keys (a defect of s6-fdholderd): a new fd whose
    // `expires` is exactly the limit of an fd it holds is moved away from it.
    let d = Daemon::start();
    let at = std::time::UNIX_EPOCH + Duration::from_secs(32_503_680_000); // 3000-01-01
    let limit = Tain::from_system_time(at);
    let (r, _w) = nix::unistd::pipe().unwrap();
    let mut c = Client::connect(&d.socket, Deadline::NEVER).unwrap();
    c.store(&r, b"held", limit).unwrap();
    drop(c);
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(
        dir.path(),
        "[[fd]]\nkind = \"pipe\"\nread-id = \"new-r\"\nwrite-id = \"new-w\"\n\
         expires = \"3000-01-01T00:00:00Z\"\n",
    );
    assert_eq!(
        code_and_err(&run(&[&"-c", &config, &d.socket])),
        (0, String::new())
    );
    let mut c = Client::connect(&d.socket, Deadline::NEVER).unwrap();
    let dump = c.getdump().unwrap();
    let mut limits: Vec<Tain> = dump.iter().map(|h| h.limit).collect();
    assert_eq!(dump.len(), 3);
    assert!(dump.iter().any(|h| h.id == b"held" && h.limit == limit));
    limits.sort();
    limits.dedup();
    assert_eq!(limits.len(), 3, "distinct deadlines: {limits:?}");
}

#[test]
fn a_signal_between_the_last_open_and_the_setdump() {
    // The last call of the opening is the umask put back; strace delivers SIGTERM as that
    // call is made, after the last look at the signals between fds and before the setdump.
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("run/f.fifo");
    let config = config_in(
        dir.path(),
        &format!(
            "[[fd]]\nkind = \"fifo\"\npath = \"{}\"\nmode = \"0600\"\n",
            fifo.display()
        ),
    );
    let strace = |extra: &[&str]| {
        let log = dir.path().join("trace");
        let out = Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=umask", "-o"])
            .arg(&log)
            .args(extra)
            .arg(BIN)
            .args(["-c".as_ref(), config.as_os_str(), d.socket.as_os_str()])
            .env_clear()
            .output()
            .expect("strace (test.sh installs it)");
        let calls = fs::read_to_string(&log)
            .unwrap()
            .lines()
            .filter(|l| l.contains("umask("))
            .count();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            calls,
        )
    };
    // A first run counts the umask calls; it is then undone by hand.
    let (code, err, calls) = strace(&[]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(calls >= 2, "{calls} umask calls");
    Client::connect(&d.socket, Deadline::NEVER)
        .unwrap()
        .delete(format!("fifo:{}", fifo.display()).as_bytes())
        .unwrap();
    fs::remove_dir_all(dir.path().join("run")).unwrap();
    let inject = format!("inject=umask:signal=SIGTERM:when={calls}");
    let (code, err, _) = strace(&["-e", &inject]);
    assert_eq!(
        (code, err.as_str()),
        (
            111,
            "s6-fdholder-setdump: fatal: interrupted by SIGTERM before the setdump; \
             everything this run opened and created is undone\n"
        )
    );
    assert!(d.list().is_empty());
    assert!(!dir.path().join("run").exists(), "nothing left on disk");
}

#[test]
fn converging_while_another_client_stores_and_deletes() {
    // The daemon queues a getdump's fds without duplicating them: when another client
    // deletes an id before the queue is flushed, the daemon's sendmsg fails and it drops
    // the connection (and, its fd number reused meanwhile, now and then another client's).
    // A run that meets it must stop cleanly (exit 111, nothing done); the others, and a
    // last run once the other client has stopped, converge.
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s/one.sock");
    let text = |mode: &str| {
        format!(
            "{}mode = \"{mode}\"\n[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n",
            unix_entry(&sock)
        )
    };
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let socket = d.socket.clone();
    let other = {
        let done = done.clone();
        std::thread::spawn(move || {
            let (r, _w) = nix::unistd::pipe().unwrap();
            let (mut n, mut ok) = (0, 0);
            // Bounded: at most 2000 store and delete pairs.
            while n < 2000 && !done.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("other:{}", n % 7);
                n += 1;
                let Ok(mut c) = Client::connect(&socket, Deadline::NEVER) else {
                    continue;
                };
                let limit = Tain::now() + Duration::from_secs(3600);
                if c.store(&r, id.as_bytes(), limit).is_ok() && c.delete(id.as_bytes()).is_ok() {
                    ok += 1;
                }
            }
            ok
        })
    };
    let mut dropped = 0;
    for i in 0..10 {
        // Every other run changes the socket's mode: the held socket is replaced.
        let mode = if i % 2 == 0 { "0600" } else { "0640" };
        let config = config_in(dir.path(), &text(mode));
        let got = code_and_err(&run(&[&"-c", &config, &d.socket]));
        if got.0 == 111 && got.1.contains("(the daemon closed the connection") {
            dropped += 1;
            continue;
        }
        assert_eq!(got, (0, String::new()), "run {i}");
    }
    assert!(dropped < 10, "every run was dropped");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let pairs = other.join().unwrap();
    assert!(pairs > 0);
    let config = config_in(dir.path(), &text("0600"));
    assert_eq!(
        code_and_err(&run(&[&"-c", &config, &d.socket])),
        (0, String::new())
    );
    // What the daemon holds is what is on disk: the socket held is the one at the path.
    let held: Vec<String> = d
        .list()
        .into_iter()
        .filter(|id| !id.starts_with("other:"))
        .collect();
    let mut want = vec![format!("unix:{}", sock.display()), "r".into(), "w".into()];
    want.sort();
    assert_eq!(held, want);
    let mut c = Client::connect(&d.socket, Deadline::NEVER).unwrap();
    let dump = c.getdump().unwrap();
    let s = dump.iter().find(|h| h.id.starts_with(b"unix:")).unwrap();
    let info = fdtools::fdinfo::describe(std::os::fd::AsFd::as_fd(&s.fd)).unwrap();
    let diag = fdtools::fdinfo::unix_diag(info.inode.1).unwrap();
    let st = fs::symlink_metadata(&sock).unwrap();
    assert_eq!(diag.file, Some((st.dev(), st.ino() as u32)));
    assert_eq!(tree(&dir.path().join("s")), vec![sock.clone()]);
    assert_eq!(st.mode() & 0o777, 0o600);
}

/// Runs config mode with the unix socket `sock` (with `extra` keys) whose symlink `taken`
/// is made a directory first, so that the symlink fails after the bind: the run must
/// exit 111 with no warning (everything it made removed).
fn run_with_symlink_onto_a_directory(d: &Daemon, dir: &Path, sock: &Path, extra: &str) {
    let taken = dir.join("taken");
    fs::create_dir(&taken).unwrap();
    let text = format!(
        "{}{extra}symlinks = [\"{}\"]\n",
        unix_entry(sock),
        taken.display()
    );
    let config = config_in(dir, &text);
    let (code, err) = code_and_err(&run(&[&"-c", &config, &d.socket]));
    assert_eq!(code, 111, "{err}");
    assert!(!err.contains("warning"), "{err}");
    assert!(taken.is_dir());
}

/// An entry whose socket is bound and whose symlink then fails (a directory stands at the
/// symlink's path) is undone whole: its socket file is removed, found by its socket, which
/// stays open until then. (Its fd was closed first, sock_diag could not tell the file,
/// and the socket file was left behind with a warning.)
#[test]
fn a_socket_whose_symlink_fails_is_removed() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("a.sock");
    run_with_symlink_onto_a_directory(&d, dir.path(), &sock, "");
    assert!(!sock.exists(), "the run's socket file is removed");
    assert!(d.list().is_empty());
}

/// A held socket replaced (moved aside for a new one with another backlog) by a run whose
/// symlink then fails is put back in place: the new socket's file is removed first (found
/// by its socket), so the held one's name is free again. (With the new socket's fd closed
/// first, its file stayed, and the held socket was left under its aside name.)
#[test]
fn a_replaced_socket_is_put_back_when_a_symlink_fails() {
    let d = Daemon::start();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("a.sock");
    let first = config_in(dir.path(), &unix_entry(&sock));
    let (code, err) = code_and_err(&run(&[&"-c", &first, &d.socket]));
    assert_eq!(code, 0, "{err}");
    let ino = fs::symlink_metadata(&sock).unwrap().ino();
    run_with_symlink_onto_a_directory(&d, dir.path(), &sock, "backlog = 7\n");
    assert_eq!(fs::symlink_metadata(&sock).unwrap().ino(), ino);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        3,
        "a.sock, taken and fds.toml, no aside: {names:?}"
    );
    assert_eq!(d.list(), vec![format!("unix:{}", sock.display())]);
}
