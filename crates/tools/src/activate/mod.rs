//! `s6-fdholder-activate`: retrieves held fds and chain-loads a program the way systemd's
//! socket activation starts a service, fds from 3 on with `LISTEN_FDS`, `LISTEN_PID` and
//! `LISTEN_FDNAMES`, so that daemons written for `sd_listen_fds` run unchanged under s6.
//!
//! Everything that can fail is done before the exec: every id is retrieved (all or
//! nothing is executed), then the fds are placed and the environment built. The
//! daemon's connection is closed before the fds are placed, and every other fd above them
//! is made close-on-exec, those the tool inherited too (but for `-k`): `prog` gets fds 0, 1,
//! 2 and the passed ones, as a service started by systemd does.

pub mod select;

use std::convert::Infallible;
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use fdholder::{Client, Deadline, Op};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};

use crate::fatal::Fatal;
use crate::notify::listener::{Held, Listener, Store, notify_socket};
use crate::notify::spawn;
use crate::notify::store::{StoreId, in_store_order};

/// The variables the tool sets; inherited values of theirs are dropped.
pub const VARS: [&str; 3] = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/// One fd to pass: the id to retrieve and the name it gets in `LISTEN_FDNAMES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// The id, as the daemon holds it.
    pub id: Vec<u8>,
    /// Its name, already checked by [`crate::fdname::check`].
    pub name: String,
}

/// Where the fds to pass come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The command line's ids and names.
    Given(Vec<Wanted>),
    /// The entries of a config file that the selectors pick (`-c file -s selector`).
    Config {
        /// The TOML file.
        file: PathBuf,
        /// The `-s` values, in order.
        selectors: Vec<String>,
    },
}

/// How many fds an fd store keeps when `-m` does not say: systemd's own default is 0 (no
/// store), which `-s` asking for one cannot mean.
pub const DEFAULT_STORE_MAX: usize = 64;

/// `-s prefix` and `-m max`: an fd store for `prog`, kept in the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Every id of the store starts with this.
    pub prefix: String,
    /// The most fds it keeps.
    pub max: usize,
}

/// What the command line asks of `s6-fdholder-activate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivateOptions {
    /// The daemon's socket; with `-c`, the file's `fdholder` when absent.
    pub socket: Option<PathBuf>,
    /// `-t`, in milliseconds; 0 for none.
    pub timeout_ms: u32,
    /// `-D`: delete the ids, once all of them are retrieved.
    pub delete: bool,
    /// `-N`: pass the fds with `O_NONBLOCK` (systemd's `NonBlocking=yes`).
    pub nonblock: bool,
    /// `-k`: fds the tool inherited that `prog` inherits too (s6-supervise's
    /// notification-fd, say); every other one above the passed fds is made close-on-exec.
    pub keep: Vec<RawFd>,
    /// `-3`: the fd to write the readiness newline to when `prog` sends `READY=1`.
    pub notif: Option<RawFd>,
    /// `-s` and `-m`: `prog`'s fd store in the daemon.
    pub store: Option<StoreOptions>,
    /// The fds to pass.
    pub source: Source,
    /// The program to exec and its arguments; never empty.
    pub prog: Vec<OsString>,
}

/// The fds and the daemon's socket the options name, reading the config file if any.
fn resolve(opts: &ActivateOptions) -> Result<(Vec<Wanted>, PathBuf), Fatal> {
    match &opts.source {
        Source::Given(wanted) => {
            let socket = opts
                .socket
                .clone()
                .ok_or_else(|| Fatal::Usage("no socket given".into()))?;
            Ok((wanted.clone(), socket))
        }
        Source::Config { file, selectors } => {
            let config = crate::config::load::read_config(file, false)?;
            let wanted = select::select(&config, file, selectors)?;
            let socket = opts.socket.clone().or(config.fdholder).ok_or_else(|| {
                Fatal::Usage(format!(
                    "{} (no socket given, and {} sets no `fdholder`)",
                    crate::names::USAGE_ACTIVATE_CONFIG,
                    crate::text::one_line(&file.to_string_lossy())
                ))
            })?;
            Ok((wanted, socket))
        }
    }
}

/// An fd of the store, retrieved, with its id.
type StoredFd = (StoreId, OwnedFd);

/// Retrieves every wanted fd over one connection, which is closed on return, then with an
/// fd store every id under its prefix, in the order they were stored (the LIST right). With
/// `-D`, every wanted id is first retrieved without deleting it, and only then retrieved
/// again and deleted: an id that fails deletes nothing, where deleting as it goes would
/// close the fds already taken and lose them, daemon and service alike. The store's fds
/// stay held.
fn retrieve_all(
    socket: &std::path::Path,
    wanted: &[Wanted],
    opts: &ActivateOptions,
) -> Result<(Vec<OwnedFd>, Vec<StoredFd>), Fatal> {
    let deadline = Deadline::from_millis(opts.timeout_ms);
    let mut client =
        Client::connect(socket, deadline).map_err(|e| Fatal::Connect(socket.to_path_buf(), e))?;
    let retrieve = |client: &mut Client, delete: bool| {
        wanted
            .iter()
            .map(|w| {
                client
                    .retrieve(&w.id, delete)
                    .map_err(|e| Fatal::Retrieve(String::from_utf8_lossy(&w.id).into_owned(), e))
            })
            .collect::<Result<Vec<OwnedFd>, Fatal>>()
    };
    let mut fds = retrieve(&mut client, false)?;
    let mut stored = Vec::new();
    if let Some(store) = &opts.store {
        let ids = client.list().map_err(|e| Fatal::Request(Op::List, e))?;
        for s in in_store_order(&store.prefix, ids.iter().map(Vec::as_slice)) {
            let fd = client
                .retrieve(s.id.as_bytes(), false)
                .map_err(|e| Fatal::Retrieve(s.id.clone(), e))?;
            stored.push((s, fd));
        }
    }
    // The store's fds count too: nothing is deleted for a run that cannot start.
    check_keep(opts, fds.len() + stored.len())?;
    if opts.delete {
        drop(fds);
        fds = retrieve(&mut client, true)?;
    }
    Ok((fds, stored))
}

/// The first fd number above `n` passed fds, once every `-k` fd is known to lie above them
/// (else the usage error that says so).
fn check_keep(opts: &ActivateOptions, n: usize) -> Result<RawFd, Fatal> {
    let end = RawFd::try_from(n + 3).map_err(|_| Fatal::Pass(Errno::EMFILE))?;
    match opts.keep.iter().find(|&&k| k < end) {
        None => Ok(end),
        Some(k) => {
            let usage = match opts.source {
                Source::Given(_) => crate::names::USAGE_ACTIVATE,
                Source::Config { .. } => crate::names::USAGE_ACTIVATE_CONFIG,
            };
            Err(Fatal::Usage(format!(
                "{usage} (-k {k}: the {n} passed fds take 3 to {}; a kept fd must be above them)",
                end - 1
            )))
        }
    }
}

/// Starts the sd_notify listener for `-3` and `-s`, in a child that lives as long as this
/// process and the program it becomes; returns the `NOTIFY_SOCKET` address for `prog`.
/// `stored` are the store's fds handed to `prog`: the listener keeps copies, to know them
/// again and to see them hang up.
fn start_listener(
    opts: &ActivateOptions,
    socket: &std::path::Path,
    stored: &[StoredFd],
) -> Result<Option<String>, Fatal> {
    if opts.notif.is_none() && opts.store.is_none() {
        return Ok(None);
    }
    let notif = match opts.notif {
        // SAFETY: the number comes from -3: an fd this process inherited and never wrapped.
        Some(n) => Some(unsafe { crate::sys::adopt_inherited_fd(n) }.map_err(|_| {
            Fatal::Usage(format!(
                "{} (-3 {n}: fd {n} is not open)",
                crate::names::USAGE_ACTIVATE
            ))
        })?),
        None => None,
    };
    let ns = notify_socket().map_err(Fatal::Notify)?;
    let me = nix::unistd::getpid();
    let pidfd = crate::sys::pidfd_open(me.as_raw()).map_err(Fatal::Notify)?;
    let store = match &opts.store {
        None => None,
        Some(s) => {
            let mut held = Vec::with_capacity(stored.len());
            for (id, fd) in stored {
                let copy = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(3)).map_err(Fatal::Notify)?;
                held.push(Held {
                    id: id.clone(),
                    // SAFETY: fcntl just made this fd; nothing else knows its number.
                    fd: unsafe { std::os::fd::FromRawFd::from_raw_fd(copy) },
                    no_poll: false,
                });
            }
            Some(Store {
                daemon: socket.to_path_buf(),
                prefix: s.prefix.clone(),
                max: s.max,
                held,
            })
        }
    };
    let listener = Listener {
        socket: ns.fd,
        service: me.as_raw(),
        pidfd,
        notif,
        store,
    };
    spawn(listener).map_err(Fatal::Notify)?;
    Ok(Some(ns.address))
}

/// Sets or clears `O_NONBLOCK`. The flag belongs to the open file description, which the
/// daemon's copy shares: clearing it without `-N` keeps an earlier `-N` run from deciding
/// the mode of this one.
fn set_nonblock(fd: &OwnedFd, on: bool) -> Result<(), Errno> {
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    let want = if on {
        flags | OFlag::O_NONBLOCK
    } else {
        flags - OFlag::O_NONBLOCK
    };
    if want != flags {
        fcntl(fd, FcntlArg::F_SETFL(want))?;
    }
    Ok(())
}

/// `bytes` as a C string; the environment and argv hold none with a NUL inside.
fn c_string(bytes: &[u8]) -> Result<CString, Fatal> {
    CString::new(bytes).map_err(|_| Fatal::Pass(Errno::EINVAL))
}

/// The environment for `prog`: this one without [`VARS`], then them for `wanted`, and
/// `NOTIFY_SOCKET` (replacing an inherited one) when a listener hears it.
pub fn environment(
    vars: impl Iterator<Item = (OsString, OsString)>,
    wanted: &[Wanted],
    pid: nix::unistd::Pid,
    notify: Option<&str>,
) -> Vec<Vec<u8>> {
    let mut env: Vec<Vec<u8>> = vars
        .filter(|(k, _)| !VARS.iter().any(|v| OsStr::new(v) == k))
        .filter(|(k, _)| notify.is_none() || k != "NOTIFY_SOCKET")
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    if let Some(address) = notify {
        env.push(format!("NOTIFY_SOCKET={address}").into_bytes());
    }
    let names: Vec<&str> = wanted.iter().map(|w| w.name.as_str()).collect();
    env.push(format!("LISTEN_FDS={}", wanted.len()).into_bytes());
    env.push(format!("LISTEN_PID={pid}").into_bytes());
    env.push(format!("LISTEN_FDNAMES={}", names.join(":")).into_bytes());
    env
}

/// Runs the tool: returns only on failure, having executed nothing.
pub fn run(opts: &ActivateOptions) -> Result<Infallible, Fatal> {
    let (wanted, socket) = resolve(opts)?;
    // Before connecting, for the ids given; retrieve_all checks again with the store's.
    check_keep(opts, wanted.len())?;
    let (mut fds, stored) = retrieve_all(&socket, &wanted, opts)?;
    // The store's fds come after the explicit ones, under their names, as systemd does.
    let mut wanted = wanted;
    wanted.extend(stored.iter().map(|(s, _)| Wanted {
        id: s.id.clone().into_bytes(),
        name: s.name.clone(),
    }));
    let end = check_keep(opts, wanted.len())?;
    let notify = start_listener(opts, &socket, &stored)?;
    fds.extend(stored.into_iter().map(|(_, fd)| fd));
    for fd in &fds {
        set_nonblock(fd, opts.nonblock).map_err(Fatal::Pass)?;
    }
    let env = environment(
        std::env::vars_os(),
        &wanted,
        nix::unistd::getpid(),
        notify.as_deref(),
    );
    let env: Vec<CString> = env.iter().map(|e| c_string(e)).collect::<Result<_, _>>()?;
    let args: Vec<CString> = opts
        .prog
        .iter()
        .map(|a| c_string(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    let Some(prog) = args.first() else {
        return Err(Fatal::Usage("no program given".into()));
    };
    // SAFETY: the tool owns no fd from 3 on but `fds`: the connection is closed, and std
    // keeps none; fds inherited there are not owned by anything in the process.
    let placed = unsafe { crate::sys::place_from_3_unowned(fds) }.map_err(Fatal::Pass)?;
    crate::sys::cloexec_from(end, &opts.keep).map_err(Fatal::Pass)?;
    // Last before the exec: until then a closed stderr must stay an error, not a death.
    crate::sys::default_sigpipe().map_err(Fatal::Pass)?;
    let e = match nix::unistd::execvpe(prog, &args, &env) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    drop(placed);
    Err(Fatal::Exec(
        String::from_utf8_lossy(prog.as_bytes()).into_owned(),
        e,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_replaces_inherited_listen_vars() {
        let vars = [
            ("PATH", "/bin"),
            ("LISTEN_FDS", "9"),
            ("LISTEN_FDNAMES", "old"),
            ("LISTEN_PIDX", "kept"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let wanted = ["a", "b"].map(|n| Wanted {
            id: n.into(),
            name: n.into(),
        });
        let env = environment(
            vars.into_iter(),
            &wanted,
            nix::unistd::Pid::from_raw(42),
            None,
        );
        let env: Vec<String> = env
            .into_iter()
            .map(|e| String::from_utf8(e).unwrap())
            .collect();
        assert_eq!(
            env,
            [
                "PATH=/bin",
                "LISTEN_PIDX=kept",
                "LISTEN_FDS=2",
                "LISTEN_PID=42",
                "LISTEN_FDNAMES=a:b"
            ]
        );
    }
}
