//! Env mode: the fds a parent passed, as the environment describes them
//! ([`fdholder::envdump`]), handed to the daemon in one setdump. Every variable is checked
//! before anything is connected to.

use std::path::PathBuf;

use fdholder::envdump::{self, EnvError, EnvFd, Invalid, Var, VarKind};
use fdholder::{Client, Deadline, DumpEntry, Tain};

use crate::fatal::Fatal;
use crate::sys::{inherited_fds, with_environ};

/// Checks that every fd is open here and makes the dump, with "no limit" as the C tool
/// writes it (`now` + 2^61 s). Takes the fds by value so that the dump reuses their vector.
pub fn entries<'a>(fds: Vec<EnvFd<&'a [u8]>>, now: Tain) -> Result<Vec<DumpEntry<'a>>, EnvError> {
    let no_limit = Tain::no_limit_from(now);
    let raws: Vec<i32> = fds.iter().map(|e| e.fd).collect();
    // SAFETY: env mode never closes an inherited fd, and the process ends after the dump.
    let open = unsafe { inherited_fds(&raws) }.map_err(|i| {
        EnvError::Invalid(Var::Fd(VarKind::Fd, i as u32), Invalid::NotOpen(raws[i]))
    })?;
    Ok(fds
        .into_iter()
        .zip(open)
        .map(|(e, fd)| DumpEntry {
            fd,
            id: e.id,
            limit: e.limit.unwrap_or(no_limit),
        })
        .collect())
}

/// What env mode needs from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvOptions {
    /// The daemon's socket.
    pub socket: PathBuf,
    /// `-t`, in milliseconds; 0 for none.
    pub timeout_ms: u32,
}

/// Runs env mode: read and check the whole environment, connect, setdump. The ids are
/// borrowed from the environment, so all of it happens while the environment is read.
pub fn run(opts: &EnvOptions) -> Result<(), Fatal> {
    with_environ(|vars| {
        // S6_FD# and the number of variables first, in a walk that splits none of them.
        let (count, len) = vars.lookup(b"S6_FD#");
        let fds = envdump::parse_counted(count, len, vars)?;
        let deadline = Deadline::from_millis(opts.timeout_ms);
        let dump = entries(fds, Tain::now())?;
        let mut client = Client::connect(&opts.socket, deadline)
            .map_err(|e| Fatal::Connect(opts.socket.clone(), e))?;
        Client::setdump(&mut client, &dump)?;
        Ok(())
    })
}
