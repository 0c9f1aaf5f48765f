//! Faults in config mode, against real daemons: running out of fds while opening, a
//! directory the run may not write in or create, SIGTERM while opening 1000 sockets and
//! while the daemon does not answer. After each: exit 111, one line naming what failed, the
//! daemon holding only what it acknowledged, and nothing else left on disk. (A port already
//! bound is in config_mode.rs: `a_taken_port_rolls_everything_back`.)

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::{BIN, Daemon, assert_fatal, code_and_err};
use crate::config_mode::{tree, write_config};
use crate::faults::{ContinueOnDrop, relay};

/// `n` unix sockets in `dir` (which the run creates), with names long enough that the
/// `-v` lines of 1000 of them fill a pipe several times over.
fn sockets_config(dir: &Path, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "[[fd]]\nkind = \"unix\"\npath = \"{}/{i:04}-{}.sock\"\n",
                dir.display(),
                "x".repeat(40)
            )
        })
        .collect()
}

/// The id of socket `i` of [`sockets_config`].
fn socket_id(dir: &Path, i: usize) -> String {
    format!("unix:{}/{i:04}-{}.sock", dir.display(), "x".repeat(40))
}

/// Starts the tool with `args`, no environment but PATH, stderr piped.
fn spawn(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Child {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the tool; its exit code and what is left of its stderr in `stderr`, after
/// `seen`.
fn finish(mut child: Child, mut stderr: impl Read, seen: String) -> (i32, String) {
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), seen + &rest)
}

#[test]
fn running_out_of_fds_while_opening_undoes_everything() {
    // The run raises its soft limit to the hard one: both are lowered.
    let d = Daemon::start();
    let dir = d.path("new/deep");
    let text = format!(
        "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n{}",
        sockets_config(&dir, 100)
    );
    let config = write_config(&d, "c.toml", &text);
    let before = tree(d.dir.path());
    let out = Command::new("prlimit")
        .arg("--nofile=40:40")
        .arg(BIN)
        .arg("-c")
        .arg(&config)
        .arg(&d.socket)
        .output()
        .expect("run prlimit");
    let got = code_and_err(&out);
    assert_fatal(
        &got,
        111,
        &format!("{}:", config.display()),
        "unable to create a socket: Too many open files",
    );
    assert!(got.1.contains(": fd["), "names the entry: {}", got.1);
    assert_eq!(tree(d.dir.path()), before, "nothing left on disk");
    assert!(d.list().is_empty(), "nothing held");
}

/// A copy of the tool that `nobody` can run, in `d`'s directory, which `nobody` may now
/// enter (the build's own copy may sit in a directory `nobody` cannot).
pub(crate) fn nobodys_copy(d: &Daemon) -> PathBuf {
    let root = d.dir.path();
    fs::set_permissions(root, fs::Permissions::from_mode(0o711)).unwrap();
    let bin = root.join("tool");
    fs::copy(BIN, &bin).unwrap();
    bin
}

/// Lets `nobody` use the daemon `d` and returns [`nobodys_copy`].
fn open_to_nobody(d: &Daemon) -> PathBuf {
    let root = d.dir.path();
    let bin = nobodys_copy(d);
    fs::set_permissions(&d.socket, fs::Permissions::from_mode(0o777)).unwrap();
    let uid = root.join("rules/uid");
    let me = uid.join(nix::unistd::geteuid().to_string());
    let status = Command::new("cp")
        .arg("-a")
        .arg(&me)
        .arg(uid.join("65534"))
        .status()
        .unwrap();
    assert!(status.success());
    bin
}

/// Lets `nobody` use the daemon `d` ([`open_to_nobody`]) and gives it a directory of its
/// own in `d`'s: the tool's copy, and that directory.
fn nobody_with_a_dir(d: &Daemon) -> (PathBuf, PathBuf) {
    let bin = open_to_nobody(d);
    let ours = d.path("nobodys");
    fs::create_dir(&ours).unwrap();
    nix::unistd::chown(&ours, Some(65534.into()), Some(65534.into())).unwrap();
    (bin, ours)
}

/// Runs `bin` as `nobody` (setpriv, util-linux) with `args`.
fn run_as_nobody(bin: &Path, args: &[&dyn AsRef<std::ffi::OsStr>]) -> (i32, String) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin)
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv");
    code_and_err(&out)
}

#[test]
fn a_directory_the_run_may_not_write_in_or_create() {
    // As root, permissions stop nothing: the run is made as `nobody`, in a directory of
    // root's (0755) where it may neither bind nor create a directory. The entries before
    // the one that fails (a pipe, a socket, a FIFO in a new directory, all in a directory
    // of nobody's) are undone.
    let d = Daemon::start();
    let (bin, ours) = nobody_with_a_dir(&d);
    let roots = d.path("roots");
    fs::create_dir(&roots).unwrap();
    fs::set_permissions(&roots, fs::Permissions::from_mode(0o755)).unwrap();
    let first = format!(
        "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n\
         [[fd]]\nkind = \"unix\"\npath = \"{0}/a.sock\"\n\
         [[fd]]\nkind = \"fifo\"\npath = \"{0}/new/f\"\n",
        ours.display()
    );
    for (name, path, says) in [
        (
            "in.toml",
            roots.join("x.sock"),
            format!(
                "unable to bind to {}/x.sock: Permission denied",
                roots.display()
            ),
        ),
        (
            "under.toml",
            roots.join("missing/y.sock"),
            format!(
                "unable to create directory {}/missing: Permission denied",
                roots.display()
            ),
        ),
    ] {
        let text = format!(
            "{first}[[fd]]\nkind = \"unix\"\npath = \"{}\"\n",
            path.display()
        );
        let config = write_config(&d, name, &text);
        let before = tree(d.dir.path());
        let got = run_as_nobody(&bin, &[&"-c", &config, &d.socket]);
        let at = format!(
            "{}:11:1: fd[3] (unix:{}): ",
            config.display(),
            path.display()
        );
        assert_fatal(&got, 111, &at, &says);
        assert_eq!(tree(d.dir.path()), before, "{name}: nothing left on disk");
        assert!(d.list().is_empty(), "{name}: nothing held");
    }
}

#[test]
fn a_socket_whose_chown_fails_is_removed() {
    // As `nobody`, a chown to root fails (EPERM) after the socket is bound and before the
    // run holds it: its file is still removed, with the entry before it, and a held socket
    // replaced (--replace-all) goes back in place, the same file, still listening.
    let d = Daemon::start();
    let (bin, ours) = nobody_with_a_dir(&d);
    let (a, b) = (ours.join("a.sock"), ours.join("b.sock"));
    let text = format!(
        "[[fd]]\nkind = \"unix\"\npath = \"{}\"\n\
         [[fd]]\nkind = \"unix\"\npath = \"{}\"\nowner = 0\n",
        a.display(),
        b.display()
    );
    let config = write_config(&d, "chown.toml", &text);
    let before = tree(d.dir.path());
    let got = run_as_nobody(&bin, &[&"-c", &config, &d.socket]);
    let at = format!("{}:4:1: fd[1] (unix:{}): ", config.display(), b.display());
    let says = format!("unable to chown {}: Operation not permitted", b.display());
    assert_fatal(&got, 111, &at, &says);
    assert!(!got.1.contains("warning"), "{}", got.1);
    assert_eq!(tree(d.dir.path()), before, "nothing left on disk");
    assert!(d.list().is_empty(), "nothing held");

    let held = write_config(
        &d,
        "held.toml",
        &format!("[[fd]]\nkind = \"unix\"\npath = \"{}\"\n", a.display()),
    );
    assert_eq!(run_as_nobody(&bin, &[&"-c", &held, &d.socket]).0, 0);
    let ino = || std::os::unix::fs::MetadataExt::ino(&fs::symlink_metadata(&a).unwrap());
    let was = ino();
    let again = write_config(
        &d,
        "again.toml",
        &format!(
            "[[fd]]\nkind = \"unix\"\npath = \"{}\"\nowner = 0\n",
            a.display()
        ),
    );
    let got = run_as_nobody(&bin, &[&"--replace-all", &"-c", &again, &d.socket]);
    assert_eq!(got.0, 111, "{}", got.1);
    assert!(!got.1.contains("warning"), "{}", got.1);
    assert_eq!(ino(), was, "the held socket's own file is back");
    assert!(
        std::os::unix::net::UnixStream::connect(&a).is_ok(),
        "and the held socket still listens there"
    );
    let names: Vec<_> = fs::read_dir(&ours)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["a.sock"], "no aside name is left");
}

#[test]
fn sigterm_while_opening_1000_sockets_leaves_nothing() {
    // The signal is sent once the run says (-v) it has opened its first socket. Its -v
    // lines then fill the stderr pipe, which is not read until the signal is sent: the run
    // cannot get past a few hundred sockets before it is signalled, and it looks for a
    // signal every 64 fds at least.
    let d = Daemon::start();
    let dir = d.path("socks");
    let config = write_config(&d, "c.toml", &sockets_config(&dir, 1000));
    let before = tree(d.dir.path());
    let mut child = spawn(&[&"-v", &"-c", &config, &d.socket]);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(first.contains(": info: opened unix:"), "{first}");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let (code, err) = finish(child, stderr, first);
    let last = err.lines().last().unwrap_or_default().to_string();
    assert_fatal(
        &(code, format!("{last}\n")),
        111,
        &format!("{}:", config.display()),
        "interrupted by SIGTERM after opening this entry; everything this run opened and \
         created is undone",
    );
    let opened = err
        .lines()
        .filter(|l| l.contains(": info: opened "))
        .count();
    assert!(
        (1..1000).contains(&opened),
        "signalled after {opened} sockets"
    );
    assert_eq!(tree(d.dir.path()), before, "nothing left on disk");
    assert!(d.list().is_empty(), "nothing held");
}

#[test]
fn sigterm_while_the_daemon_does_not_answer() {
    // The daemon is stopped once it has acknowledged the first batch of 253; the run waits
    // for the second reply (no -t) and is sent SIGTERM. It stops waiting, removes the files
    // of the fds the daemon did not acknowledge and keeps those of the 253 it holds.
    let d = Daemon::start();
    let dir = d.path("socks");
    let config = write_config(&d, "c.toml", &sockets_config(&dir, 600));
    let cont = ContinueOnDrop(d.pid());
    let relay = relay(&d, 1, Signal::SIGSTOP);
    let mut child = spawn(&[&"-c", &config, &relay.socket]);
    relay.signalled.recv().unwrap();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let stderr = child.stderr.take().unwrap();
    let got = finish(child, stderr, String::new());
    assert_fatal(
        &got,
        111,
        "unable to set dump: Interrupted system call (a signal asked the run to stop)",
        "; the daemon had already taken 253 of the 600 fds",
    );
    drop(cont);
    relay.thread.join().unwrap();
    let mut want: Vec<String> = (0..253).map(|i| socket_id(&dir, i)).collect();
    want.sort();
    assert_eq!(d.list(), want);
    let on_disk: Vec<String> = tree(&dir)
        .iter()
        .map(|p| format!("unix:{}", p.display()))
        .collect();
    assert_eq!(on_disk, want, "exactly the files of the fds held");
}
