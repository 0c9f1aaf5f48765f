//! Stages 3 and 6 of config mode: the daemon's socket is chosen and asked what it holds; the fds
//! a run opened, and the held ones whose limit alone changed, become one setdump, through
//! the library's [`Client::setdump_with`] (which makes every limit distinct, from each
//! other and from the limits of the fds the daemon keeps, and sends at most 253 fds a
//! message).
//!
//! `--prune` is part of the same setdump: each id to prune is sent with a limit already
//! past ([`PRUNED_LIMIT`]), so the daemon replaces what it holds under that id (closing it)
//! and closes the new one too at its next idle turn, as it closes any expired fd. The set
//! and the prune then succeed or fail together, and the prune needs only
//! `S6_FDHOLDER_SETDUMP`: the daemon's setdump checks no `S6_FDHOLDER_STORE_REGEX`, which
//! its delete does (s6-rc's fdholder allows only `^pipe:s6rc-`).

use std::borrow::Cow;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;

use crate::config::model::{Config, EntryIdx, Expiry};
use crate::config::open::Opened;
use crate::config::plan::{self, Item, ItemIdx, Plan};
use crate::config::reconcile::Report;
use crate::fatal::Fatal;
use crate::names::USAGE_CONFIG;
use fdholder::Deadline;
use fdholder::Tain;
use fdholder::error::{Error, SetdumpError};
use fdholder::held::{self, FetchError, Holdings};
use fdholder::{Client, DumpEntry, HeldFd};

/// The limit a pruned id is sent with: long past, so the daemon closes it at its next
/// idle turn (s6-fdholderd closes, whenever its loop times out, every fd whose limit is
/// not in the future). The library moves it a few nanoseconds apart from every other.
pub fn pruned_limit() -> Tain {
    Tain::from_system_time(std::time::SystemTime::UNIX_EPOCH + PRUNED_LIMIT)
}

/// How far after the Unix epoch [`pruned_limit`] is: any instant long past would do.
pub const PRUNED_LIMIT: Duration = Duration::from_secs(1);

/// The daemon's socket: the command line's, else the file's `fdholder`, else a usage error.
pub fn daemon_socket(
    command_line: Option<&Path>,
    file: Option<&Path>,
    file_name: &Path,
) -> Result<PathBuf, Fatal> {
    command_line.or(file).map(Path::to_path_buf).ok_or_else(|| {
        Fatal::Usage(format!(
            "{USAGE_CONFIG} (no socket: give one, or set fdholder in {})",
            file_name.display()
        ))
    })
}

/// Learns what the daemon holds, from the getdump `asked` (sent, maybe while the file
/// was read), within `deadline`. Without GETDUMP and LIST rights nothing can be compared:
/// an error, unless `replace_all` (then `None`: nothing is compared).
pub fn ask(
    asked: held::Pending,
    deadline: Deadline,
    replace_all: bool,
) -> Result<(Client, Option<Holdings>), Fatal> {
    let socket = &asked.socket().to_path_buf();
    match asked.finish(deadline) {
        Ok((client, holdings)) => Ok((client, Some(holdings))),
        Err(FetchError::Request(_, Error::Daemon(_, Errno::EPERM))) if replace_all => {
            let client = Client::connect(socket, deadline)
                .map_err(|e| Fatal::Connect(socket.to_path_buf(), e))?;
            Ok((client, None))
        }
        Err(FetchError::Request(op, e)) => Err(Fatal::Compare(op, e)),
        Err(FetchError::Connect(e)) => Err(Fatal::Connect(socket.to_path_buf(), e)),
    }
}

/// The entries a run opens, as a config and a plan of their own: the run's own when it
/// opens every entry (the usual first run), so that nothing is copied then.
#[derive(Debug)]
pub struct Selection<'a> {
    /// The entries with an fd to open, in file order.
    pub config: Cow<'a, Config>,
    /// Their items.
    pub plan: Cow<'a, Plan>,
    /// For each of those items, its index in the whole plan: [`Selection::item`]. `None`
    /// when every item is opened, each its own.
    items: Option<Vec<ItemIdx>>,
}

impl Selection<'_> {
    /// The index in the whole plan of the selection's `i`-th item.
    pub fn item(&self, i: usize) -> ItemIdx {
        self.items.as_ref().map_or(ItemIdx(i), |items| items[i])
    }

    /// The indices in the whole plan of the selection's items.
    pub fn items(&self) -> impl Iterator<Item = ItemIdx> + '_ {
        (0..self.plan.items.len()).map(|i| self.item(i))
    }
}

/// The entries of `config` that `report` says to open.
pub fn select<'a>(config: &'a Config, plan: &'a Plan, report: &Report) -> Selection<'a> {
    let to_open = report.items_to_open(plan.items.len());
    if to_open.iter().all(|&open| open) {
        return Selection {
            config: Cow::Borrowed(config),
            plan: Cow::Borrowed(plan),
            items: None,
        };
    }
    let mut entries = Vec::new();
    let mut items = Vec::new();
    let mut indices = Vec::new();
    let mut last = None;
    for (i, item) in plan.items.iter().enumerate() {
        if !to_open[i] {
            continue;
        }
        if last != Some(item.entry) {
            entries.push(config.entries[item.entry].clone());
            last = Some(item.entry);
        }
        items.push(Item {
            entry: EntryIdx::new(entries.len() - 1),
            ..item.clone()
        });
        indices.push(ItemIdx(i));
    }
    Selection {
        config: Cow::Owned(Config {
            fdholder: config.fdholder.clone(),
            entries,
        }),
        plan: Cow::Owned(Plan {
            items,
            now: plan.now,
        }),
        items: Some(indices),
    }
}

/// Sends the opened fds, then the held ones whose limit alone changed, each under its
/// plan item's id and limit. Opened fds come first, so that the count the daemon took
/// before a failure is a count of opened fds too.
///
/// `dump` is what getdump returned, empty when only list could answer: then the limits of
/// the fds the daemon keeps are unknown, and fixed instants (`expires`) are moved by a
/// part of a millisecond drawn from the clock, so that they are unlikely to meet the same
/// instant set by an earlier run.
pub fn apply(
    client: &mut Client,
    config: &Config,
    plan: &Plan,
    sel: &Selection<'_>,
    opened: &Opened,
    report: &Report,
    dump: &[HeldFd],
) -> Result<(), SetdumpError> {
    let jitter = if dump.is_empty() && report.source.is_some() {
        Duration::from_nanos(1 + u64::from(Tain::now().nanos()) % 1_000_000)
    } else {
        Duration::ZERO
    };
    let limit = |it: &Item| {
        let expiry = config.entries[it.entry].expiry();
        let limit = plan::limit(expiry, plan.now);
        match expiry {
            Expiry::At(_) => limit + jitter,
            _ => limit,
        }
    };
    // The opened fds first, each entry made when the setdump needs it (a vector of them
    // was 40 bytes an fd), then the few others: held fds set again, ids pruned.
    let mut others: Vec<DumpEntry<'_>> = Vec::new();
    others.extend(report.limits_to_set().map(|(item, at)| DumpEntry {
        fd: dump[at].fd.as_fd(),
        id: plan.items[item].id(config).as_bytes(),
        limit: limit(&plan.items[item]),
    }));
    // What each pruned id is replaced with: the held fd itself when dumped (so a client
    // that retrieves it in the moment before it expires gets what was held), else a pipe's
    // read end whose write end is closed (reads give end of file).
    let placeholder = match report.to_prune().any(|(_, at)| at.is_none()) {
        true => Some(
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| SetdumpError {
                    error: Error::Sys(e),
                    committed: 0,
                    total: opened.fds.len() + others.len(),
                    held: None,
                })?
                .0,
        ),
        false => None,
    };
    others.extend(report.to_prune().filter_map(|(raw, at)| {
        let fd = match at {
            Some(at) => dump[at].fd.as_fd(),
            None => placeholder.as_ref()?.as_fd(),
        };
        Some(DumpEntry {
            fd,
            id: raw,
            limit: pruned_limit(),
        })
    }));
    let held: Vec<Tain> = dump.iter().map(|h| h.limit).collect();
    let entry = |i: usize| match opened.fds.get(i) {
        Some(fd) => {
            let it = &plan.items[sel.item(i)];
            DumpEntry {
                fd: fd.as_fd(),
                id: it.id(config).as_bytes(),
                limit: limit(it),
            }
        }
        None => others[i - opened.fds.len()],
    };
    client.setdump_with(opened.fds.len() + others.len(), entry, &held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_wins() {
        let f = Path::new("f.toml");
        let got = daemon_socket(Some(Path::new("/a")), Some(Path::new("/b")), f);
        assert_eq!(got.unwrap(), Path::new("/a"));
        let got = daemon_socket(None, Some(Path::new("/b")), f);
        assert_eq!(got.unwrap(), Path::new("/b"));
        let e = daemon_socket(None, None, f).unwrap_err();
        assert_eq!(e.exit_code(), 100);
        assert!(
            e.to_string()
                .ends_with("(no socket: give one, or set fdholder in f.toml)")
        );
    }
}
