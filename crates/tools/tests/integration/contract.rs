//! What a tool that drives convergence relies on: `--exit-code` (2 when the holdings
//! changed or would change, 0 when not, failures keep their codes), and `--replace-all`
//! that will not swap a held pipeline's pipe unless told twice.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::path::Path;

use fdtools::fdinfo::describe;

use crate::common::{Daemon, assert_fatal, code_and_err};
use crate::config_mode::{held, run, write_config};

/// Runs the tool with `args`, then `-c config socket`: exit code, stdout, stderr.
pub(crate) fn tool(d: &Daemon, config: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all: Vec<&dyn AsRef<OsStr>> = args.iter().map(|a| a as _).collect();
    all.extend([&"-c" as &dyn AsRef<OsStr>, &config, &d.socket]);
    let out = run(&all);
    let (code, err) = code_and_err(&out);
    (code, String::from_utf8(out.stdout).unwrap(), err)
}

const PIPE_AND_FIFO: &str =
    "[[fd]]\nkind = \"pipe\"\nread-id = \"pipe:r\"\nwrite-id = \"pipe:w\"\n";

#[test]
fn check_exit_code_is_2_then_0_after_the_apply() {
    let d = Daemon::start();
    let config = write_config(&d, "c.toml", PIPE_AND_FIFO);
    let (code, out, err) = tool(&d, &config, &["--check", "--exit-code"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.starts_with("+\tpipe:r"), "{out}");
    assert!(d.list().is_empty(), "--check sent nothing");
    // Without --exit-code a plan or a run that changes something still exits 0.
    assert_eq!(tool(&d, &config, &["--check"]).0, 0);
    let (code, _, err) = tool(&d, &config, &["--exit-code"]);
    assert_eq!(code, 2, "the run changed the holdings: {err}");
    assert_eq!(d.list(), ["pipe:r", "pipe:w"]);
    let (code, _, err) = tool(&d, &config, &["--check", "--exit-code"]);
    assert_eq!(code, 0, "nothing would change: {err}");
    let (code, _, err) = tool(&d, &config, &["--exit-code", "--json"]);
    assert_eq!(code, 0, "nothing changed: {err}");
    // A prune alone is a change too.
    let empty = write_config(&d, "empty.toml", "");
    assert_eq!(tool(&d, &empty, &["--check", "--exit-code"]).0, 0, "kept");
    assert_eq!(
        tool(&d, &empty, &["--check", "--exit-code", "--prune"]).0,
        2
    );
    assert_eq!(tool(&d, &empty, &["--exit-code", "--prune"]).0, 2);
    assert!(d.list().is_empty());
}

#[test]
fn exit_code_keeps_the_failure_codes() {
    let d = Daemon::start();
    let bad = write_config(&d, "bad.toml", "[[fd]]\nkind = \"nope\"\n");
    assert_eq!(tool(&d, &bad, &["--exit-code"]).0, 100);
    assert_eq!(tool(&d, &bad, &["--check", "--exit-code"]).0, 100);
    let config = write_config(&d, "c.toml", PIPE_AND_FIFO);
    let gone = Daemon::start();
    let gone_socket = gone.socket.clone();
    drop(gone);
    let mut all: Vec<&dyn AsRef<OsStr>> = vec![&"--exit-code", &"-c", &config];
    all.push(&gone_socket);
    assert_eq!(code_and_err(&run(&all)).0, 111);
}

#[test]
fn replace_all_refuses_a_held_pipe_unless_forced() {
    let d = Daemon::start();
    let config = write_config(&d, "c.toml", PIPE_AND_FIFO);
    assert_eq!(tool(&d, &config, &[]).0, 0);
    let inode = |d: &Daemon| describe(held(d)["pipe:r"].fd.as_fd()).unwrap().inode;
    let before = inode(&d);
    for args in [&["--replace-all"][..], &["--replace-all", "--check"]] {
        let (code, out, err) = tool(&d, &config, args);
        assert_fatal(
            &(code, err),
            100,
            "refusing to replace the pipe held as pipe:r and pipe:w: the daemon holds both",
            "(--replace-all --force replaces it)",
        );
        assert_eq!(out, "");
    }
    assert_eq!(inode(&d), before, "nothing was replaced");
    let (code, _, err) = tool(&d, &config, &["--replace-all", "--force", "-v"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "info: set 2 fds (0 new, 0 changed, 2 replaced though held as declared), \
             deleted 0, 0 left as declared"
        ),
        "{err}"
    );
    assert_ne!(inode(&d), before, "a new pipe");
    // One end gone: the other end alone may be replaced without --force.
    let mut c = fdholder::Client::connect(&d.socket, fdholder::Deadline::NEVER).unwrap();
    c.delete(b"pipe:w").unwrap();
    let (code, _, err) = tool(&d, &config, &["--replace-all"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(d.list(), ["pipe:r", "pipe:w"]);
}

#[test]
fn force_goes_with_replace_all_only() {
    let d = Daemon::start();
    let config = write_config(&d, "c.toml", PIPE_AND_FIFO);
    let (code, _, err) = tool(&d, &config, &["--force"]);
    assert_eq!(code, 100, "{err}");
    assert!(err.contains("--replace-all"), "{err}");
}
