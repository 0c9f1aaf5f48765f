//! Test helpers: a real `s6-fdholderd` per test in a temporary directory, and ways to run
//! the tool and Debian's `s6-fdholder-*` clients against it.

#![allow(dead_code)]

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;

use command_fds::{CommandFdExt, FdMapping};
use fdholder::{DumpEntry, Tain};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

/// The tool under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_s6-fdholder-setdump");

/// Debian's C tool, to compare with.
pub const C_TOOL: &str = "/usr/bin/s6-fdholder-setdump";

/// The first fd number a dump's fds get in the child.
pub const FIRST_CHILD_FD: i32 = 10;

/// Raises this process's soft fd limit to the hard one (children inherit it): dumps of
/// 1000 fds need more than the usual 1024 once the daemon's own fds are counted.
pub fn raise_fd_limit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    });
}

/// Fails the test with a clear message when Debian's s6 is not installed.
pub fn require_s6() {
    let ok = Command::new("s6-fdholderd")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        ok,
        "s6-fdholderd is not on PATH: install Debian's s6 package (.ci/run does)"
    );
}

/// What the daemon's rules grant the test's uid.
#[derive(Clone, Debug)]
pub struct Rules {
    /// May connect at all.
    pub allow: bool,
    /// S6_FDHOLDER_SETDUMP.
    pub setdump: bool,
    /// S6_FDHOLDER_GETDUMP.
    pub getdump: bool,
    /// S6_FDHOLDER_LIST.
    pub list: bool,
    /// S6_FDHOLDER_STORE_REGEX.
    pub store_regex: Option<String>,
    /// S6_FDHOLDER_RETRIEVE_REGEX.
    pub retrieve_regex: Option<String>,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            allow: true,
            setdump: true,
            getdump: true,
            list: true,
            store_regex: Some(".*".into()),
            retrieve_regex: Some(".*".into()),
        }
    }
}

impl Rules {
    fn write(&self, dir: &Path) {
        let uid = dir.join("uid").join(nix::unistd::geteuid().to_string());
        let env = uid.join("env");
        fs::create_dir_all(&env).unwrap();
        if self.allow {
            fs::write(uid.join("allow"), "").unwrap();
        }
        for (flag, name) in [
            (self.setdump, "S6_FDHOLDER_SETDUMP"),
            (self.getdump, "S6_FDHOLDER_GETDUMP"),
            (self.list, "S6_FDHOLDER_LIST"),
        ] {
            if flag {
                fs::write(env.join(name), "\n").unwrap();
            }
        }
        for (re, name) in [
            (&self.store_regex, "S6_FDHOLDER_STORE_REGEX"),
            (&self.retrieve_regex, "S6_FDHOLDER_RETRIEVE_REGEX"),
        ] {
            if let Some(re) = re {
                fs::write(env.join(name), format!("{re}\n")).unwrap();
            }
        }
    }
}

/// A running `s6-fdholderd` in its own temporary directory, stopped on drop.
pub struct Daemon {
    /// The temporary directory (rules, socket, and room for the test's own files).
    pub dir: TempDir,
    /// The daemon's socket.
    pub socket: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    /// A daemon that lets the test do everything and holds up to 1000 fds.
    pub fn start() -> Daemon {
        Daemon::with(Rules::default(), 1000)
    }

    /// A daemon with these rules and `-n maxfds`, once it accepts connections.
    pub fn with(rules: Rules, maxfds: u32) -> Daemon {
        require_s6();
        raise_fd_limit();
        let dir = tempfile::Builder::new()
            .prefix("fdh-test")
            .tempdir()
            .unwrap();
        let rulesdir = dir.path().join("rules");
        rules.write(&rulesdir);
        let socket = dir.path().join("s");
        let mut child = Command::new("s6-fdholder-daemon")
            .arg("-1")
            .arg("-n")
            .arg(maxfds.to_string())
            .arg("-i")
            .arg(&rulesdir)
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn s6-fdholder-daemon");
        // Readiness: -1 makes the daemon write a newline once it accepts. No sleeping.
        let mut byte = [0u8; 1];
        let mut out = child.stdout.take().unwrap();
        let n = out.read(&mut byte).unwrap();
        assert_eq!(
            (n, byte[0]),
            (1, b'\n'),
            "s6-fdholder-daemon did not become ready"
        );
        Daemon {
            dir,
            socket,
            child: Some(child),
        }
    }

    /// A path inside the daemon's temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs a Debian `s6-fdholder-*` client against this daemon.
    pub fn s6(&self, tool: &str, args: &[&str]) -> Output {
        let mut c = Command::new(tool);
        c.args(args.iter().take_while(|a| **a != "SOCKET"));
        c.arg(&self.socket);
        c.args(args.iter().skip_while(|a| **a != "SOCKET").skip(1));
        c.output().expect("run an s6-fdholder client")
    }

    /// The ids the daemon holds, by `s6-fdholder-list`, sorted.
    pub fn list(&self) -> Vec<String> {
        let out = self.s6("s6-fdholder-list", &["SOCKET"]);
        assert!(out.status.success(), "s6-fdholder-list: {out:?}");
        let mut ids: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        ids.sort();
        ids
    }

    /// Every held fd's id and limit label (None: no limit), by `s6-fdholder-getdump`, sorted.
    pub fn getdump(&self) -> Vec<(String, Option<String>)> {
        let out = self.s6("s6-fdholder-getdump", &["SOCKET", "env"]);
        assert!(out.status.success(), "s6-fdholder-getdump: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let var = |name: String| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
        };
        let n: usize = var("S6_FD#".into()).unwrap().parse().unwrap();
        let mut v: Vec<_> = (0..n)
            .map(|i| {
                (
                    var(format!("S6_FDID_{i}")).unwrap(),
                    var(format!("S6_FDLIMIT_{i}")),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Stops the daemon now (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            let _ = c.wait();
        }
    }

    /// The daemon's pid.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().unwrap().id() as i32)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `n` fresh fds (each the read end of its own pipe: cheap, and distinguishable).
///
/// Close-on-exec, so that they do not leak into processes other tests spawn meanwhile;
/// [`run_tool`] clears the flag on the copies it hands to the tool.
pub fn fresh_fds(n: usize) -> Vec<OwnedFd> {
    (0..n)
        .map(|_| {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .expect("pipe")
                .0
        })
        .collect()
}

/// The entries of a dump of `fds` under `ids`, in order, each with `limit`.
pub fn dump_entries<'a>(fds: &'a [OwnedFd], ids: &'a [String], limit: Tain) -> Vec<DumpEntry<'a>> {
    fds.iter()
        .zip(ids)
        .map(|(fd, id)| DumpEntry {
            fd: fd.as_fd(),
            id: id.as_bytes(),
            limit,
        })
        .collect()
}

/// `n` ids of the form `pipe:PREFIX-i`.
pub fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("pipe:{prefix}-{i}")).collect()
}

/// The environment `s6-fdholder-getdump` would write for fds numbered from
/// [`FIRST_CHILD_FD`] with these ids and limits.
pub fn dump_env(ids: &[String], limits: &[Option<String>]) -> Vec<(String, String)> {
    let mut env = vec![("S6_FD#".to_string(), ids.len().to_string())];
    for (i, id) in ids.iter().enumerate() {
        env.push((
            format!("S6_FD_{i}"),
            (FIRST_CHILD_FD + i as i32).to_string(),
        ));
        env.push((format!("S6_FDID_{i}"), id.clone()));
        if let Some(Some(l)) = limits.get(i) {
            env.push((format!("S6_FDLIMIT_{i}"), l.clone()));
        }
    }
    env
}

/// Runs the tool with only `env` (and PATH) in its environment and `fds` mapped to
/// [`FIRST_CHILD_FD`] onwards.
pub fn run_tool<I, S>(args: I, env: &[(String, String)], fds: Vec<OwnedFd>) -> Output
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    run_prog(BIN, args, env, fds)
}

/// Runs `prog` (the tool or [`C_TOOL`]) as [`run_tool`] does.
pub fn run_prog<I, S>(prog: &str, args: I, env: &[(String, String)], fds: Vec<OwnedFd>) -> Output
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mappings = fds
        .into_iter()
        .zip(FIRST_CHILD_FD..)
        .map(|(parent_fd, child_fd)| FdMapping {
            parent_fd,
            child_fd,
        })
        .collect();
    let mut c = Command::new(prog);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(args.into_iter().map(Into::into))
        .stdin(Stdio::null());
    c.fd_mappings(mappings).expect("fd mappings");
    c.output().expect("run the tool")
}

/// Runs the tool in env mode against `socket` for a dump of `ids` (fresh fds, no limits).
pub fn setdump_ids(socket: &Path, ids: &[String]) -> Output {
    let fds = fresh_fds(ids.len());
    run_tool([socket.as_os_str()], &dump_env(ids, &[]), fds)
}

/// The exit code and stderr of a finished tool run.
pub fn code_and_err(out: &Output) -> (i32, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Checks that our message is the C tool's, optionally followed by ` (reason)` or
/// `: reason`, on one line.
pub fn assert_same_message(c: &str, ours: &str, what: &str) {
    if c.is_empty() {
        assert_eq!(ours, "", "{what}: C said nothing");
        return;
    }
    let Some(rest) = ours.strip_prefix(c.trim_end_matches('\n')) else {
        panic!("{what}: ours {ours:?} does not start with C's {c:?}");
    };
    assert!(
        rest == "\n" || (rest.starts_with(": ") || rest.starts_with(" (")) && rest.ends_with('\n'),
        "{what}: ours {ours:?} goes on from C's {c:?} in another way"
    );
    assert_eq!(ours.lines().count(), 1, "{what}: {ours:?}");
}

/// Checks a failed run: its exit code, and that its message is one `fatal` line that starts
/// with `start` (after `s6-fdholder-setdump: fatal: `) and says `says`.
pub fn assert_fatal(got: &(i32, String), code: i32, start: &str, says: &str) {
    let (got_code, err) = got;
    assert_eq!(*got_code, code, "{err}");
    let start = format!("s6-fdholder-setdump: fatal: {start}");
    assert!(
        err.starts_with(&start) && err.contains(says) && err.lines().count() == 1,
        "{err:?} should start with {start:?} and say {says:?}"
    );
}

/// The `S6_FDLIMIT_i` label of the whole second `d` from now (nanoseconds 0, so that the
/// nanoseconds the tool adds never carry into the next second).
pub fn label_in(d: std::time::Duration) -> String {
    let t = fdholder::Tain::now() + d;
    fdholder::Tain::new(t.secs(), 0).to_string()
}

/// The raw number of an fd, for messages.
pub fn raw(fd: &impl AsRawFd) -> i32 {
    fd.as_raw_fd()
}
