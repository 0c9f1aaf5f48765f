//! Stage 4 of config mode, the plan against the daemon: each id of the file, and each id
//! the daemon holds, gets a [`State`] (`+` new, `=` same, `~` changed, `-` extra) and an [`Action`], and the whole
//! is one [`Report`], printed by `--check` and, after a run, by `--json`.
//!
//! What a run sends follows from the states: `+` and `~` entries are opened and set, `=`
//! ones are left alone, so a second run of the same file changes nothing. A `~` whose only
//! difference is its expiry re-sends the fd the daemon holds with the new limit, so a socket
//! whose address is in use by that very fd need not be bound again. A pipe's two ends go
//! together: if one is opened, a new pipe gives both. With `--replace-all` every entry is
//! opened and set, as a plain setdump; with `--prune`, `-` ids are deleted.

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::os::fd::AsFd;
use std::rc::Rc;

use serde::Serialize;

pub mod compare;
pub mod fix;
pub mod guard;

use self::compare::{Difference, Field, HeldKind, address_of, held_kind};
use crate::config::model::{Config, Entry, FdSpec};
use crate::config::plan::{Item, ItemIdx, Plan, fd_kind};
use crate::expiry::Expiry;
use crate::fdinfo;
use crate::names::SETDUMP as PROG;
use crate::text::warn;
use fdholder::HeldFd;
use fdholder::Tain;
use fdholder::error::strerror;
use fdholder::held::{Holdings, Source};

/// Which fd of a getdump, by its place in the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeldIdx(pub usize);

impl std::ops::Index<HeldIdx> for [HeldFd] {
    type Output = HeldFd;
    fn index(&self, i: HeldIdx) -> &HeldFd {
        &self[i.0]
    }
}

/// How an id compares with the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// `+`: declared, not held.
    New,
    /// `=`: held as declared.
    Same,
    /// `~`: held, but not as declared.
    Changed,
    /// `-`: held, not declared.
    Extra,
}

impl State {
    /// Its sign in the plan: `+`, `=`, `~` or `-`.
    pub fn sign(self) -> char {
        match self {
            State::New => '+',
            State::Same => '=',
            State::Changed => '~',
            State::Extra => '-',
        }
    }
}

/// What a run does (or, in a plan, would do) with an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Open the entry's fd and set it.
    OpenAndSet,
    /// Set the fd the daemon holds again, with the declared limit.
    SetLimit,
    /// Nothing: held as declared.
    None,
    /// Delete it from the daemon (`--prune`).
    Delete,
    /// Leave it held though the file does not declare it.
    Keep,
    /// Fix the held fd itself (see [`fix`]); with a changed expiry, set it again too.
    FixInPlace,
}

/// One id of the report. 24 bytes, what few rows have boxed apart: a large run has a row
/// per fd, and each page of memory a run touches costs it about as much as binding a
/// socket (at 104 bytes, the rows were a sixth of a 1000-socket run's memory). A declared
/// id is its plan item's ([`Row::raw_id`]): at 24 bytes the rows of a run fit where its
/// file's text was, freed once read.
#[derive(Clone, Debug)]
pub struct Row {
    /// How it compares; `None` when nothing was compared.
    pub state: Option<State>,
    /// What is done with it.
    pub action: Action,
    /// What it is: [`Row::kind`].
    kind: Option<HeldKind>,
    /// Its plan item: [`Row::item`].
    item: Slot,
    /// Where it is in the getdump: [`Row::held`].
    held: Slot,
    /// What differs, its address and expiry, an extra id's own bytes and limit; `None`
    /// for a declared id that differs in nothing until [`Report::fill_addresses`] (the
    /// JSON document fills it).
    detail: Option<Box<Detail>>,
}

/// An index of a plan item or a getdump, or none, in 4 bytes: an index is an fd's, below
/// fs.nr_open's ceiling of 2^30.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot(Option<std::num::NonZeroU32>);

impl Slot {
    fn new(i: Option<usize>) -> Slot {
        Slot(
            i.and_then(|i| u32::try_from(i + 1).ok())
                .and_then(std::num::NonZeroU32::new),
        )
    }

    fn get(self) -> Option<usize> {
        self.0.map(|i| (i.get() - 1) as usize)
    }
}

/// What only some rows have: a changed id's differences, an extra id's, and what only
/// the JSON document shows.
#[derive(Clone, Debug, Default)]
struct Detail {
    /// What differs, for a changed id.
    differs: Vec<Difference>,
    /// Path, `@name`, `IP:PORT`, or `-` for a pipe; `None` when unknown.
    address: Option<String>,
    /// The declared expiry, as a run now would set it; for an extra id, the held one.
    /// `None` for never, or unknown.
    expires: Option<Expiry>,
    /// The id as shown (invalid UTF-8 replaced by U+FFFD): an extra id's from the start,
    /// a declared id's for the JSON document ([`Report::fill_addresses`]).
    shown_id: Option<Rc<str>>,
    /// The id's bytes, for an extra id (a declared id's are its plan item's): see
    /// [`Row::raw_id`].
    extra_id: Vec<u8>,
    /// The held limit of an extra id, for its plan line.
    held_limit: Option<Tain>,
}

/// The JSON form of a row: `id`, `state`, `kind`, `address`, `expires`, `differs`,
/// `action`, as a derived `Serialize` of these fields would write them.
impl Serialize for Row {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let detail = self.detail.as_deref();
        let mut row = s.serialize_struct("Row", 7)?;
        row.serialize_field("id", &detail.and_then(|x| x.shown_id.as_deref()))?;
        row.serialize_field("state", &self.state)?;
        row.serialize_field("kind", &self.kind())?;
        row.serialize_field("address", &self.address())?;
        row.serialize_field("expires", &detail.and_then(|x| x.expires.as_ref()))?;
        row.serialize_field("differs", self.differs())?;
        row.serialize_field("action", &self.action)?;
        row.end()
    }
}

/// How many ids are in each state, and what a run does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// `+` ids.
    pub new: usize,
    /// `=` ids.
    pub same: usize,
    /// `~` ids.
    pub changed: usize,
    /// `-` ids.
    pub extra: usize,
    /// Fds sent in the setdump.
    pub set: usize,
    /// Ids deleted.
    pub deleted: usize,
    /// `=` ids opened and set anyway (`--replace-all`): replaced though held as declared.
    pub replaced: usize,
    /// `~` ids fixed on the held fd itself, not replaced.
    pub fixed: usize,
}

/// The plan against a daemon, or the result of a run: the `--json` document, once
/// [`Report::fill_addresses`] has given the declared rows their ids, addresses and
/// expiries ([`render::to_json`](crate::config::render::to_json) does both).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The daemon's socket; `None` when no daemon was asked.
    pub daemon: Option<String>,
    /// What answered: `getdump`, `list`, or `None` when nothing was compared.
    #[serde(serialize_with = "crate::text::serialize_source")]
    pub source: Option<Source>,
    /// Why list answered instead of getdump: `getdump-denied`, `getdump-too-large`.
    pub fallback: Option<&'static str>,
    /// Whether the actions were carried out (a result) or not (a plan).
    pub applied: bool,
    /// The file's ids in file order, then the extra ids sorted.
    pub fds: Vec<Row>,
    /// The counts.
    pub totals: Totals,
    /// For each plan item whose unix socket file is the held socket's own: its device and
    /// inode, which a run may replace.
    #[serde(skip)]
    own_files: HashMap<ItemIdx, (u64, u64)>,
}

impl Report {
    /// The report of `plan` against what the daemon at `daemon` holds (`None`: nothing
    /// was compared, every entry is to be opened).
    pub fn new(
        config: &Config,
        plan: &Plan,
        daemon: Option<&std::path::Path>,
        holdings: Option<&Holdings>,
    ) -> Report {
        let now = plan.now;
        let mut report = Report {
            daemon: daemon.map(|d| d.display().to_string()),
            source: holdings.map(Holdings::source),
            fallback: match holdings {
                Some(Holdings::Ids(_, why)) => Some(why.code()),
                _ => None,
            },
            applied: false,
            fds: Vec::with_capacity(plan.items.len()),
            totals: Totals::default(),
            own_files: HashMap::new(),
        };
        // The held ids, and where each is in the dump.
        let held: HashMap<&[u8], Option<HeldIdx>> = match holdings {
            None => HashMap::new(),
            Some(Holdings::Ids(ids, _)) => ids.iter().map(|id| (&id[..], None)).collect(),
            Some(Holdings::Dump(dump)) => dump
                .iter()
                .enumerate()
                .map(|(i, h)| (&h.id[..], Some(HeldIdx(i))))
                .collect(),
        };
        let dump = match holdings {
            Some(Holdings::Dump(dump)) => &dump[..],
            _ => &[],
        };
        for (i, item) in plan.items.iter().enumerate() {
            let i = ItemIdx(i);
            let e = &config.entries[item.entry];
            let (row, own_file) = declared_row(e, item, i, holdings.is_some(), &held, dump, now);
            if let Some(f) = own_file {
                report.own_files.insert(i, f);
            }
            report.fds.push(row);
        }
        report.check_pipe_pairs(config, plan, dump);
        let declared: HashSet<&[u8]> = match held.is_empty() {
            true => HashSet::new(),
            false => plan.items.iter().map(|i| i.id(config).as_bytes()).collect(),
        };
        let mut extras: Vec<Row> = held
            .iter()
            .filter(|(id, _)| !declared.contains(*id))
            .map(|(&id, &at)| extra_row(id, at.map(|at| (at, &dump[at])), now))
            .collect();
        extras.sort_by(|a, b| a.raw_id(config, plan).cmp(b.raw_id(config, plan)));
        report.fds.extend(extras);
        report
    }

    /// Marks the two held ends of a pipe entry as changed when they are not one pipe.
    fn check_pipe_pairs(&mut self, config: &Config, plan: &Plan, dump: &[HeldFd]) {
        let inode = |row: &Row| {
            let h = &dump[row.held()?];
            fdinfo::describe(h.fd.as_fd()).ok().map(|i| i.inode)
        };
        for (i, pair) in plan.items.windows(2).enumerate() {
            let e = &config.entries[pair[0].entry];
            if pair[0].entry != pair[1].entry || !matches!(e.spec, FdSpec::Pipe { .. }) {
                continue;
            }
            let (a, b) = (&self.fds[i], &self.fds[i + 1]);
            if let (Some(x), Some(y)) = (inode(a), inode(b))
                && x != y
            {
                for row in &mut self.fds[i..i + 2] {
                    row.changed(Field::Pipe, "not its other end's", "its other end's");
                }
            }
        }
    }

    /// Decides each id's action: what a run with `--replace-all` and `--prune` as given does.
    pub fn decide(&mut self, plan: &Plan, replace_all: bool, prune: bool) {
        for row in &mut self.fds {
            row.action = match row.state {
                Some(State::Extra) if prune => Action::Delete,
                Some(State::Extra) => Action::Keep,
                _ if replace_all => Action::OpenAndSet,
                Some(State::Same) => Action::None,
                Some(State::Changed)
                    if row.held().is_some()
                        && row.differs().iter().all(|d| d.what == Field::Expiry) =>
                {
                    Action::SetLimit
                }
                Some(State::Changed)
                    if row.held().is_some()
                        && row
                            .differs()
                            .iter()
                            .all(|d| d.what == Field::Expiry || fix::in_place(d.what)) =>
                {
                    Action::FixInPlace
                }
                Some(State::New | State::Changed) | None => Action::OpenAndSet,
            };
        }
        // An entry is opened whole: a pipe with one end to open gets a new pipe for both.
        let mut opened = vec![false; plan.items.last().map_or(0, |i| i.entry.get() + 1)];
        let items = self.items_to_open(plan.items.len());
        for (item, _) in plan.items.iter().zip(items).filter(|(_, open)| *open) {
            opened[item.entry.get()] = true;
        }
        for row in &mut self.fds {
            let Some(item) = row.item() else { continue };
            if row.action != Action::OpenAndSet && opened[plan.items[item].entry.get()] {
                row.changed(Field::Pipe, "held", "new with its other end");
                row.action = Action::OpenAndSet;
            }
        }
        self.count();
    }

    /// The declared rows: (row index, plan item, action).
    fn declared(&self) -> impl Iterator<Item = (usize, ItemIdx, Action)> + '_ {
        self.fds
            .iter()
            .enumerate()
            .filter_map(|(r, row)| row.item().map(|item| (r, item, row.action)))
    }

    fn count(&mut self) {
        let mut t = Totals::default();
        for row in &self.fds {
            match row.state {
                Some(State::New) => t.new += 1,
                Some(State::Same) => t.same += 1,
                Some(State::Changed) => t.changed += 1,
                Some(State::Extra) => t.extra += 1,
                None => {}
            }
            if row.state == Some(State::Same) && row.action == Action::OpenAndSet {
                t.replaced += 1;
            }
            if row.action == Action::FixInPlace {
                t.fixed += 1;
                if row.limit_changed() {
                    t.set += 1;
                }
            }
            match row.action {
                Action::OpenAndSet | Action::SetLimit => t.set += 1,
                Action::Delete => t.deleted += 1,
                Action::None | Action::Keep | Action::FixInPlace => {}
            }
        }
        self.totals = t;
    }

    /// Which of the plan's `items` items are to be opened, found in one pass over the rows.
    pub fn items_to_open(&self, items: usize) -> Vec<bool> {
        let mut open = vec![false; items];
        for (_, item, action) in self.declared() {
            if action == Action::OpenAndSet {
                open[item.0] = true;
            }
        }
        open
    }

    /// The plan items whose held fd is to be set again with the declared limit, and where
    /// each is in the getdump.
    pub fn limits_to_set(&self) -> impl Iterator<Item = (ItemIdx, HeldIdx)> + '_ {
        self.fds
            .iter()
            .filter_map(|r| match (r.action, r.item(), r.held()) {
                (Action::SetLimit, Some(item), Some(held)) => Some((item, held)),
                (Action::FixInPlace, Some(item), Some(held)) if r.limit_changed() => {
                    Some((item, held))
                }
                _ => None,
            })
    }

    /// The extra ids to delete, as shown.
    pub fn to_delete(&self) -> impl Iterator<Item = &str> + '_ {
        self.deleted()
            .map(|(_, d)| d.shown_id.as_deref().unwrap_or_default())
    }

    /// The ids to prune, with where each is in the getdump when dumped.
    pub fn to_prune(&self) -> impl Iterator<Item = (&[u8], Option<HeldIdx>)> + '_ {
        self.deleted().map(|(r, d)| (&d.extra_id[..], r.held()))
    }

    /// The rows of the extra ids to delete, with their details (only an extra id is
    /// deleted, and each has its detail).
    fn deleted(&self) -> impl Iterator<Item = (&Row, &Detail)> + '_ {
        self.fds
            .iter()
            .filter(|r| r.action == Action::Delete)
            .filter_map(|r| Some((r, r.detail.as_deref()?)))
    }

    /// The socket files (device, inode) that the items `opening` (those to open, as
    /// [`Report::items_to_open`] gave them) may replace: those of the sockets the daemon
    /// holds under their own ids.
    pub fn replaceable(&self, opening: impl Iterator<Item = ItemIdx>) -> HashSet<(u64, u64)> {
        if self.own_files.is_empty() {
            return HashSet::new();
        }
        opening
            .filter_map(|item| self.own_files.get(&item).copied())
            .collect()
    }

    /// Whether carrying the report out changes what the daemon holds: an fd set or an id
    /// deleted.
    pub fn changes(&self) -> bool {
        self.totals.set > 0 || self.totals.deleted > 0 || self.totals.fixed > 0
    }

    /// The rows to fix in place: (plan item, where the held fd is in the getdump, what
    /// differs).
    pub fn to_fix(&self) -> impl Iterator<Item = (ItemIdx, HeldIdx, &[Difference])> + '_ {
        self.fds
            .iter()
            .filter_map(|r| match (r.action, r.item(), r.held()) {
                (Action::FixInPlace, Some(item), Some(held)) => Some((item, held, r.differs())),
                _ => None,
            })
    }

    /// Gives each declared row its id, address and expiry, which only the JSON document
    /// shows: two or three strings per fd that a run would otherwise make for nothing.
    pub fn fill_addresses(&mut self, config: &Config, plan: &Plan) {
        for row in &mut self.fds {
            if let Some(item) = row.item() {
                let item = &plan.items[item];
                let e = &config.entries[item.entry];
                let detail = row.detail();
                detail.shown_id = Some(Rc::clone(item.id(config)));
                detail.address = Some(e.address());
                detail.expires = Expiry::of(plan.limit(e), plan.now);
            }
        }
    }

    /// Marks the report as carried out.
    pub fn applied(&mut self) {
        self.applied = true;
    }
}

impl Row {
    /// The id's bytes, to show it: a declared id's are its item's in `plan`, made from
    /// `config`.
    pub fn raw_id<'a>(&'a self, config: &'a Config, plan: &Plan) -> &'a [u8] {
        match (self.item(), &self.detail) {
            (Some(item), _) => plan.items[item].id(config).as_bytes(),
            (None, Some(detail)) => &detail.extra_id,
            (None, None) => &[],
        }
    }

    /// The kind in the file's words (`unix-stream`, `tcp`, `pipe-read`...); for an extra
    /// id, what the held fd is, or `None` when only its id is known.
    pub fn kind(&self) -> Option<&'static str> {
        self.kind.map(HeldKind::name)
    }

    /// Its plan item, for a declared id.
    pub fn item(&self) -> Option<ItemIdx> {
        self.item.get().map(ItemIdx)
    }

    /// Its index in the getdump, when held and dumped.
    pub fn held(&self) -> Option<HeldIdx> {
        self.held.get().map(HeldIdx)
    }

    /// What differs, for a changed id.
    pub fn differs(&self) -> &[Difference] {
        self.detail.as_ref().map_or(&[], |d| &d.differs)
    }

    /// Its detail, made empty if it has none.
    fn detail(&mut self) -> &mut Detail {
        self.detail.get_or_insert_with(Box::default)
    }

    /// Its address: path, `@name`, `IP:PORT`, or `-` for a pipe; `None` when unknown,
    /// and for a declared id until [`Report::fill_addresses`].
    pub fn address(&self) -> Option<&str> {
        self.detail.as_ref()?.address.as_deref()
    }

    /// The limit the daemon holds an extra id with, when dumped.
    pub fn held_limit(&self) -> Option<Tain> {
        self.detail.as_ref()?.held_limit
    }

    /// Whether its expiry differs.
    fn limit_changed(&self) -> bool {
        self.differs().iter().any(|d| d.what == Field::Expiry)
    }

    /// How a `~` row is converged, as the plan says it: `in place` (the held fd fixed, or
    /// set again with its new limit) or `replace` (a new fd); `None` for another state.
    pub fn fix(&self) -> Option<&'static str> {
        match (self.state, self.action) {
            (Some(State::Changed), Action::FixInPlace | Action::SetLimit) => Some("in place"),
            (Some(State::Changed), Action::OpenAndSet) => Some("replace"),
            _ => None,
        }
    }

    fn changed(&mut self, what: Field, held: &str, declared: &str) {
        self.state = Some(State::Changed);
        self.detail().differs.push(Difference {
            what,
            held: held.to_string(),
            declared: declared.to_string(),
        });
    }
}

/// The row of the plan item `item` (the `i`-th, of entry `e`), compared with what the
/// daemon holds when `compared`: `held` says where each held id is in `dump`. Also the
/// item's socket file, when it is the held socket's own.
fn declared_row(
    e: &Entry,
    item: &Item,
    i: ItemIdx,
    compared: bool,
    held: &HashMap<&[u8], Option<HeldIdx>>,
    dump: &[HeldFd],
    now: Tain,
) -> (Row, Option<(u64, u64)>) {
    let mut row = Row {
        state: compared.then_some(State::New),
        kind: Some(HeldKind::Fd(fd_kind(&e.spec, item.end))),
        action: Action::OpenAndSet,
        item: Slot::new(Some(i.0)),
        held: Slot::new(None),
        // Filled in for a changed id, and for the JSON document ([`Report::fill_addresses`]).
        detail: None,
    };
    let id = crate::config::plan::id(&e.spec, item.end);
    let Some(&at) = held.get(id.as_bytes()) else {
        return (row, None);
    };
    row.state = Some(State::Same);
    row.held = Slot::new(at.map(|at| at.0));
    let Some(h) = at.map(|at| &dump[at]) else {
        return (row, None);
    };
    match fdinfo::describe(h.fd.as_fd()) {
        Ok(info) => {
            let v = compare::compare(e, item, h, &info, now);
            if !v.differs.is_empty() {
                row.state = Some(State::Changed);
                row.detail().differs = v.differs;
            }
            (row, v.own_file)
        }
        Err(errno) => {
            warn(
                PROG,
                format_args!(
                    "unable to describe the fd held as {}: {}: comparing its id only",
                    id,
                    strerror(errno)
                ),
            );
            (row, None)
        }
    }
}

/// The row of an id the daemon holds and the file does not declare; `held` is its place
/// in the getdump and the fd, when dumped.
fn extra_row(id: &[u8], held: Option<(HeldIdx, &HeldFd)>, now: Tain) -> Row {
    let info = held.and_then(|(_, h)| fdinfo::describe(h.fd.as_fd()).ok());
    Row {
        state: Some(State::Extra),
        kind: info.as_ref().map(held_kind),
        action: Action::Keep,
        item: Slot::new(None),
        held: Slot::new(held.map(|(at, _)| at.0)),
        detail: Some(Box::new(Detail {
            differs: Vec::new(),
            address: info.as_ref().map(address_of),
            expires: held.and_then(|(_, h)| Expiry::of(h.limit, now)),
            shown_id: Some(String::from_utf8_lossy(id).into()),
            extra_id: id.to_vec(),
            held_limit: held.map(|(_, h)| h.limit),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row stays as small as its doc says: the rows are a large run's memory.
    #[test]
    fn a_row_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Row>(), 24);
    }

    /// A slot gives back the index it was given, and none for none.
    #[test]
    fn slots_keep_their_index() {
        for i in [0, 1, 252, 1 << 20, (1 << 30) - 1] {
            assert_eq!(Slot::new(Some(i)).get(), Some(i));
        }
        assert_eq!(Slot::new(None).get(), None);
    }
}
