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

use fdholder::{Client, Deadline};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};

use crate::fatal::Fatal;

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

/// Retrieves every wanted fd over one connection, which is closed on return. With `-D`,
/// every id is first retrieved without deleting it, and only then retrieved again and
/// deleted: an id that fails deletes nothing, where deleting as it goes would close the
/// fds already taken and lose them, daemon and service alike.
fn retrieve_all(
    socket: &std::path::Path,
    wanted: &[Wanted],
    opts: &ActivateOptions,
) -> Result<Vec<OwnedFd>, Fatal> {
    let deadline = Deadline::from_millis(opts.timeout_ms);
    let mut client =
        Client::connect(socket, deadline).map_err(|e| Fatal::Connect(socket.to_path_buf(), e))?;
    let mut retrieve = |delete: bool| {
        wanted
            .iter()
            .map(|w| {
                client
                    .retrieve(&w.id, delete)
                    .map_err(|e| Fatal::Retrieve(String::from_utf8_lossy(&w.id).into_owned(), e))
            })
            .collect::<Result<Vec<OwnedFd>, Fatal>>()
    };
    let fds = retrieve(false)?;
    if !opts.delete {
        return Ok(fds);
    }
    drop(fds);
    retrieve(true)
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

/// The environment for `prog`: this one without [`VARS`], then them for `wanted`.
pub fn environment(
    vars: impl Iterator<Item = (OsString, OsString)>,
    wanted: &[Wanted],
    pid: nix::unistd::Pid,
) -> Vec<Vec<u8>> {
    let mut env: Vec<Vec<u8>> = vars
        .filter(|(k, _)| !VARS.iter().any(|v| OsStr::new(v) == k))
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    let names: Vec<&str> = wanted.iter().map(|w| w.name.as_str()).collect();
    env.push(format!("LISTEN_FDS={}", wanted.len()).into_bytes());
    env.push(format!("LISTEN_PID={pid}").into_bytes());
    env.push(format!("LISTEN_FDNAMES={}", names.join(":")).into_bytes());
    env
}

/// Runs the tool: returns only on failure, having executed nothing.
pub fn run(opts: &ActivateOptions) -> Result<Infallible, Fatal> {
    let (wanted, socket) = resolve(opts)?;
    let end = RawFd::try_from(wanted.len() + 3).map_err(|_| Fatal::Pass(Errno::EMFILE))?;
    if let Some(k) = opts.keep.iter().find(|&&k| k < end) {
        let usage = match opts.source {
            Source::Given(_) => crate::names::USAGE_ACTIVATE,
            Source::Config { .. } => crate::names::USAGE_ACTIVATE_CONFIG,
        };
        return Err(Fatal::Usage(format!(
            "{usage} (-k {k}: the {} passed fds take 3 to {}; a kept fd must be above them)",
            wanted.len(),
            end - 1
        )));
    }
    let fds = retrieve_all(&socket, &wanted, opts)?;
    for fd in &fds {
        set_nonblock(fd, opts.nonblock).map_err(Fatal::Pass)?;
    }
    let env = environment(std::env::vars_os(), &wanted, nix::unistd::getpid());
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
        let env = environment(vars.into_iter(), &wanted, nix::unistd::Pid::from_raw(42));
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
