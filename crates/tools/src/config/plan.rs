//! Stage 2 of config mode: a validated file to an ordered plan, one item per fd to hold (a
//! pipe gives two), each with its id and its TAI64N limit.
//!
//! Every limit is computed from one `now`, so that the fds of one file expire together when
//! they say the same lifetime, and `--check` prints exactly what a run at that moment would
//! send (before the library moves equal limits apart by a few nanoseconds). Nothing here
//! touches the system.

use std::rc::Rc;
use std::time::SystemTime;

use crate::config::model::{Config, Entry, EntryIdx, Expiry, FdKind, FdSpec, Transport};
use fdholder::Tain;

/// Which fd of an entry an item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The entry's only fd.
    Whole,
    /// A pipe's read end.
    PipeRead,
    /// A pipe's write end.
    PipeWrite,
}

/// Which fd of a [`Plan`], by its place in the plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemIdx(pub usize);

impl std::ops::Index<ItemIdx> for Vec<Item> {
    type Output = Item;
    fn index(&self, i: ItemIdx) -> &Item {
        &self[i.0]
    }
}

/// One fd to hold, in 8 bytes: its id is its entry's ([`Item::id`]), as a large run has an
/// item per fd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Its entry in [`Config::entries`].
    pub entry: EntryIdx,
    /// Which of the entry's fds it is.
    pub end: End,
}

impl Item {
    /// The id the daemon holds it under, from its entry in `config` (the config the plan
    /// was made from).
    pub fn id<'a>(&self, config: &'a Config) -> &'a Rc<str> {
        id(&config.entries[self.entry].spec, self.end)
    }
}

/// The id of the fd of `spec` at `end` (a pipe's end, for a pipe).
pub fn id(spec: &FdSpec, end: End) -> &Rc<str> {
    match (spec.end_ids(), end) {
        ((_, Some(write)), End::PipeWrite) => write,
        ((one, _), _) => one,
    }
}

/// The fds to hold, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// One item per fd.
    pub items: Vec<Item>,
    /// The instant every limit is counted from.
    pub now: Tain,
}

impl Plan {
    /// When the daemon closes the fds of `e`, an entry of the plan: kept in no item, as
    /// each page a large run touches costs it about as much as binding a socket.
    pub fn limit(&self, e: &Entry) -> Tain {
        limit(e.expiry(), self.now)
    }
}

/// The limit of an entry's fds, from the run's one `now`.
pub fn limit(expiry: Expiry, now_tai: Tain) -> Tain {
    match expiry {
        Expiry::Never => Tain::no_limit_from(now_tai),
        Expiry::After(d) => now_tai + d,
        Expiry::At(t) => Tain::from_system_time(t),
    }
}

/// Makes the plan for `config`, with limits counted from `now`.
pub fn plan(config: &Config, now: SystemTime) -> Plan {
    let now_tai = Tain::from_system_time(now);
    let mut items = Vec::with_capacity(config.entries.len());
    for (entry, e) in config.entries.iter().enumerate() {
        let ends: &[End] = match e.spec {
            FdSpec::Pipe { .. } => &[End::PipeRead, End::PipeWrite],
            _ => &[End::Whole],
        };
        for &end in ends {
            items.push(Item {
                entry: EntryIdx::new(entry),
                end,
            });
        }
    }
    Plan {
        items,
        now: now_tai,
    }
}

/// How the plan and `-v` name an fd's kind, e.g. `unix-stream`, `tcp`, `pipe-read`.
pub fn kind_name(spec: &FdSpec, end: End) -> &'static str {
    fd_kind(spec, end).name()
}

/// The kind of the fd of `spec` at `end` (a pipe's end, for a pipe).
pub fn fd_kind(spec: &FdSpec, end: End) -> FdKind {
    match (spec, end) {
        (FdSpec::Unix { socket, .. }, _) => FdKind::unix(*socket),
        (FdSpec::Inet { transport, .. }, _) => match transport {
            Transport::Tcp => FdKind::Tcp,
            Transport::Udp => FdKind::Udp,
        },
        (FdSpec::Fifo { .. }, _) => FdKind::Fifo,
        (FdSpec::File { .. }, _) => FdKind::File,
        (FdSpec::Netlink { .. }, _) => FdKind::Netlink,
        (FdSpec::Special { .. }, _) => FdKind::Special,
        (FdSpec::Pipe { .. }, End::PipeWrite) => FdKind::PipeWrite,
        (FdSpec::Pipe { .. }, _) => FdKind::PipeRead,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::{parse::parse_str, validate::validate};
    use std::time::{Duration, UNIX_EPOCH};

    /// An item is as small as it can be: a large run has one per fd.
    #[test]
    fn an_item_is_8_bytes() {
        assert_eq!(std::mem::size_of::<Item>(), 8);
    }

    #[test]
    fn one_now_for_every_limit() {
        let text = r#"
[[fd]]
kind = "unix"
path = "@x"
socket = "seqpacket"
lifetime = "1min"
[[fd]]
kind = "pipe"
read-id = "r"
write-id = "w"
[[fd]]
kind = "udp"
listen = "[::1]:53"
expires = "2030-01-01T00:00:00Z"
"#;
        let now = UNIX_EPOCH + Duration::new(1_795_505_660, 5);
        let config = validate(&parse_str(text).unwrap(), now).unwrap();
        let p = plan(&config, now);
        let mut out = Vec::new();
        crate::config::render::write_plan(&mut out, &config, &p).unwrap();
        let now_tai = Tain::from_system_time(now);
        let limit = |i: usize| p.limit(&config.entries[p.items[i].entry]);
        assert_eq!(limit(0), now_tai + Duration::from_secs(60));
        assert_eq!(limit(1), Tain::no_limit_from(now_tai));
        assert_eq!(limit(1), limit(2));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "unix:@x\tunix-seqpacket\t@x\t2026-11-24T07:35:20Z\t@400000006b053e5d00000005\n\
                 r\tpipe-read\t-\tnever\t{nl}\n\
                 w\tpipe-write\t-\tnever\t{nl}\n\
                 udp:[::1]:53\tudp\t[::1]:53\t2030-01-01T00:00:00Z\t@4000000070dbd8a500000000\n",
                nl = Tain::no_limit_from(now_tai)
            )
        );
    }
}
