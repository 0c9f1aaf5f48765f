//! Stage 1 of config mode, second half: raw entries to typed [`FdSpec`]s, or the first
//! error, located.
//!
//! Everything a file can get wrong is caught here, before anything is opened: keys that do
//! not apply to the kind, bad values, unknown users and groups, both `lifetime` and
//! `expires`, an `expires` in the past, duplicate or out-of-range ids. A `[defaults]` value
//! fills in a key an entry leaves out, for the kinds the key applies to; it is ignored for
//! the others. Users and groups are looked up here, so `--check` proves them too.

use foldhash::{HashMap, HashMapExt};
use std::cell::RefCell;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use nix::unistd::{Gid, Group, Uid, User};
use toml::Spanned;

use crate::config::diag::{Diag, Place, entry_label};
use crate::config::load::parse::{InstantText, NameOrId, OctalText, RawConfig, RawEntry};
use crate::config::model::{
    Config, DEFAULT_DIRECTORY_MODE, Entry, Expiry, Extra, FdSpec, IFNAME_MAX, InetOptions, Kind,
    NETLINK_FAMILIES, NO_SOCKET_OPTIONS, OpenMode, Perms, SocketOptions, SocketPath, SocketType,
    Timestamping, Transport, UNIX_PATH_MAX, UnixAddress, default_id,
};
use fdholder::error::strerror;
use fdholder::proto::check_id;

/// Whether `key` means something for an entry of `kind` (with its unix `socket` type).
pub fn applies(key: &str, kind: Kind, socket: SocketType) -> bool {
    use Kind::*;
    match key {
        "kind" | "lifetime" | "expires" => true,
        "id" | "name" => kind != Pipe,
        "path" if kind == Special => true,
        "writable" => kind == Special,
        "path" | "mode" | "owner" | "group" | "directory-mode" => {
            matches!(kind, Unix | Fifo | File)
        }
        "listen" | "reuse-address" | "reuse-port" | "ipv6-only" | "freebind" | "bind-to-device" => {
            matches!(kind, Tcp | Udp)
        }
        "receive-buffer" | "send-buffer" | "priority" | "mark" | "timestamping" => {
            matches!(kind, Unix | Tcp | Udp | Netlink)
        }
        // Linux refuses them on IP sockets (EOPNOTSUPP).
        "pass-credentials" | "pass-security" => matches!(kind, Unix | Netlink),
        "family" | "groups" => kind == Netlink,
        "pass-packet-info" => matches!(kind, Tcp | Udp | Netlink),
        "ip-tos" | "ip-ttl" => matches!(kind, Tcp | Udp),
        "symlinks" => matches!(kind, Unix | Fifo),
        "socket" => kind == Unix,
        "backlog" => kind == Tcp || (kind == Unix && socket != SocketType::Dgram),
        "keepalive" | "nodelay" => kind == Tcp,
        "broadcast" => kind == Udp,
        "open" | "create" | "truncate" => kind == File,
        "read-id" | "write-id" | "buffer-size" => kind == Pipe,
        _ => false,
    }
}

/// Keys that name one fd and so cannot be defaults.
const ENTRY_ONLY: [&str; 6] = ["kind", "id", "path", "listen", "read-id", "write-id"];

/// A value found for a key: in the entry, or in `[defaults]`.
struct Found<'a, T> {
    value: &'a T,
    span: Range<usize>,
    place: &'a Place,
}

impl<T> Found<'_, T> {
    fn err(&self, what: impl Into<String>) -> Diag {
        Diag::new(self.span.clone(), self.place, what)
    }
}

/// What one load works out once for all its entries. The user and group names, each asked
/// of the user database once: an `owner` or `group` in `[defaults]` was a lookup per entry,
/// a dozen system calls and a read of /etc/passwd or /etc/group each, three times a plain
/// entry's whole cost (within a run, one answer per name also keeps its entries alike if
/// the database changes). And the permissions and the expiry of the entries that take all
/// of theirs from `[defaults]`, the same for every such entry: they were worked out again
/// for each, a duration parsed and a mode read per entry.
#[derive(Debug, Default)]
pub(super) struct Shared {
    users: RefCell<HashMap<String, nix::Result<Option<Uid>>>>,
    groups: RefCell<HashMap<String, nix::Result<Option<Gid>>>>,
    primary: RefCell<HashMap<Uid, Option<Gid>>>,
    default_perms: RefCell<Option<Rc<Perms>>>,
    default_expiry: RefCell<Option<Expiry>>,
}

impl Shared {
    /// The uid of the user `name`, if the database has one.
    fn user(&self, name: &str) -> nix::Result<Option<Uid>> {
        once(&self.users, name, |n| {
            User::from_name(n).map(|u| u.map(|u| u.uid))
        })
    }

    /// The gid of the group `name`, if the database has one.
    fn group(&self, name: &str) -> nix::Result<Option<Gid>> {
        once(&self.groups, name, |n| {
            Group::from_name(n).map(|g| g.map(|g| g.gid))
        })
    }

    /// The primary group of `uid` in the user database, the group an `owner` without
    /// `group` gets (as `chown user:` and systemd's `SocketUser=` give it); none for a uid
    /// the database does not know, whose file keeps the group it is created with.
    fn primary_group(&self, uid: Uid) -> Option<Gid> {
        *self
            .primary
            .borrow_mut()
            .entry(uid)
            .or_insert_with(|| User::from_uid(uid).ok().flatten().map(|u| u.gid))
    }
}

/// The answer `known` has for `name`, or else `look`'s, kept there (its key copied only
/// then, as most names are met again).
fn once<T: Copy>(
    known: &RefCell<HashMap<String, T>>,
    name: &str,
    look: impl FnOnce(&str) -> T,
) -> T {
    if let Some(&answer) = known.borrow().get(name) {
        return answer;
    }
    let answer = look(name);
    known.borrow_mut().insert(name.to_string(), answer);
    answer
}

/// One entry being validated, with the defaults it may draw on.
struct Ctx<'a> {
    entry: &'a RawEntry,
    defaults: &'a RawEntry,
    shared: &'a Shared,
    place: Place,
    span: Range<usize>,
    kind: Kind,
    socket: SocketType,
    /// The entry's `path` is moved in once the entry is found valid ([`push_entry`]):
    /// [`Ctx::entry_path`] checks it and leaves an empty path.
    path_later: bool,
}

impl<'a> Ctx<'a> {
    /// The entry's own `path` (not a symlink's), checked as [`absolute_path`] does: a copy,
    /// or an empty path where the caller hands the string over after.
    fn entry_path(&self, f: &Found<'_, String>) -> Result<PathBuf, Diag> {
        check_absolute_path(f)?;
        Ok(match self.path_later {
            true => PathBuf::new(),
            false => PathBuf::from(f.value),
        })
    }

    fn err(&self, what: impl Into<String>) -> Diag {
        Diag::new(self.span.clone(), &self.place, what)
    }

    /// The value of `key`: the entry's, or else the default's if the key applies here.
    fn get<'s, T: 'a>(
        &'s self,
        key: &str,
        field: impl Fn(&'a RawEntry) -> &'a Option<Spanned<T>>,
    ) -> Option<Found<'s, T>>
    where
        'a: 's,
    {
        if let Some(v) = field(self.entry) {
            return Some(Found {
                value: v.get_ref(),
                span: v.span(),
                place: &self.place,
            });
        }
        let v = field(self.defaults).as_ref()?;
        applies(key, self.kind, self.socket).then(|| Found {
            value: v.get_ref(),
            span: v.span(),
            place: &Place::Defaults,
        })
    }

    /// A key the kind requires.
    fn required<'s, T: 'a>(
        &'s self,
        key: &str,
        field: impl Fn(&'a RawEntry) -> &'a Option<Spanned<T>>,
    ) -> Result<Found<'s, T>, Diag>
    where
        'a: 's,
    {
        self.get(key, field).ok_or_else(|| {
            self.err(format!(
                "missing key `{key}` (a {} needs it)",
                self.kind.name()
            ))
        })
    }

    fn flag(
        &self,
        key: &str,
        field: impl Fn(&'a RawEntry) -> &'a Option<Spanned<bool>>,
    ) -> Option<bool> {
        self.get(key, field).map(|f| *f.value)
    }
}

/// Checks that an integer is in `lo..=hi`.
fn in_range(f: &Found<'_, i64>, key: &str, lo: i64, hi: i64) -> Result<i64, Diag> {
    if (lo..=hi).contains(f.value) {
        Ok(*f.value)
    } else {
        Err(f.err(format!(
            "`{key}` must be from {lo} to {hi}, not {}",
            f.value
        )))
    }
}

/// Reads permission bits: an octal string of at most 4 digits, at most 0777.
fn octal_mode(f: &Found<'_, OctalText>, key: &str) -> Result<u32, Diag> {
    let s = f.value.0.as_str();
    let ok = !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match u32::from_str_radix(s, 8) {
        Ok(m) if ok && m <= 0o777 => Ok(m),
        _ => Err(f.err(format!(
            "`{key}` must be an octal string from \"0000\" to \"0777\", not {s:?}"
        ))),
    }
}

/// Resolves a user or group: a number, or a name (a string of digits naming nobody is a
/// number, as chown(1) reads it).
fn resolve<T>(
    f: &Found<'_, NameOrId>,
    what: &str,
    by_name: impl Fn(&str) -> nix::Result<Option<T>>,
    from_raw: impl Fn(u32) -> T,
) -> Result<T, Diag> {
    // (u32::MAX is -1: "leave unchanged" to chown, never an id.)
    let number = |n: i64| {
        u32::try_from(n)
            .ok()
            .filter(|&n| n != u32::MAX)
            .map(&from_raw)
            .ok_or_else(|| f.err(format!("{what} {n} is out of range")))
    };
    match f.value {
        NameOrId::Id(n) => number(*n),
        NameOrId::Name(name) => match by_name(name) {
            Ok(Some(t)) => Ok(t),
            Ok(None) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) => {
                number(name.parse().unwrap_or(i64::MAX))
            }
            Ok(None) => Err(f.err(format!("no {what} is named {name:?}"))),
            Err(e) => Err(f.err(format!(
                "unable to look up {what} {name:?}: {}",
                strerror(e)
            ))),
        },
    }
}

/// Reads an absolute path with no NUL, not ending in `/`.
fn absolute_path(f: &Found<'_, String>) -> Result<PathBuf, Diag> {
    check_absolute_path(f)?;
    Ok(PathBuf::from(f.value))
}

/// Refuses a path that is not absolute, ends in `/` or holds a NUL.
fn check_absolute_path(f: &Found<'_, String>) -> Result<(), Diag> {
    let s = f.value.as_str();
    if !s.starts_with('/') {
        return Err(f.err(format!("the path {s:?} is not absolute")));
    }
    // The NUL looked for at every byte with no early exit, several bytes at a time.
    if s.ends_with('/') || s.bytes().fold(false, |nul, b| nul | (b == 0)) {
        return Err(f.err(format!("the path {s:?} does not name a file")));
    }
    Ok(())
}

/// Reads an RFC 3339 instant; humantime reads only `Z`, so an offset is applied here.
fn parse_instant(s: &str) -> Result<SystemTime, String> {
    let bad = |why: &str| format!("{s:?} is not an RFC 3339 date and time: {why}");
    let (base, offset) = if let Some(b) = s.strip_suffix(['Z', 'z']) {
        (b, 0i64)
    } else {
        let cut = s.len().checked_sub(6).filter(|&i| s.is_char_boundary(i));
        let (b, zone) = cut.map_or((s, ""), |i| s.split_at(i));
        let z = zone.as_bytes();
        let sign = match z.first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(bad("no time zone (Z or +HH:MM)")),
        };
        let num = |r: Range<usize>| zone.get(r).and_then(|d| d.parse::<i64>().ok());
        match (num(1..3), z.get(3), num(4..6)) {
            (Some(h), Some(b':'), Some(m)) if h < 24 && m < 60 => (b, sign * (h * 3600 + m * 60)),
            _ => return Err(bad("a bad time zone offset")),
        }
    };
    let utc = match humantime::parse_rfc3339(&format!("{base}Z")) {
        Ok(t) => t,
        // humantime refuses years before 1970: one well formed (as it is in 1972, a leap
        // year like any February 29 it may name) is simply in the past.
        Err(e) => match base.get(..4).and_then(|y| y.parse::<u16>().ok()) {
            Some(year) if year < 1970 && base.get(4..).is_some() => {
                humantime::parse_rfc3339(&format!("1972{}Z", &base[4..]))
                    .map_err(|_| bad(&e.to_string()))?;
                return Ok(SystemTime::UNIX_EPOCH);
            }
            _ => return Err(bad(&e.to_string())),
        },
    };
    let shift = Duration::from_secs(offset.unsigned_abs());
    let t = if offset > 0 {
        utc.checked_sub(shift)
    } else {
        utc.checked_add(shift)
    };
    t.ok_or_else(|| bad("out of range"))
}

/// `found`, unless it comes from the defaults and the entry has its own.
fn own_or_default<T>(found: Option<Found<'_, T>>, own: bool) -> Option<Found<'_, T>> {
    found.filter(|f| !own || *f.place != Place::Defaults)
}

/// The entry's lifetime: `lifetime` xor `expires`, the entry's own winning over defaults.
fn expiry(ctx: &Ctx<'_>, now: SystemTime) -> Result<Expiry, Diag> {
    // An entry that sets neither key takes the defaults', which apply to every kind.
    let own = ctx.entry.lifetime.is_some() || ctx.entry.expires.is_some();
    from_defaults(&ctx.shared.default_expiry, own, || own_expiry(ctx, now))
}

/// `work`'s answer, for an entry with keys of its `own`; for one that takes them all from
/// `[defaults]`, the answer `once` holds, worked out by the first such entry.
fn from_defaults<T: Clone>(
    once: &RefCell<Option<T>>,
    own: bool,
    work: impl FnOnce() -> Result<T, Diag>,
) -> Result<T, Diag> {
    if own {
        return work();
    }
    if let Some(known) = once.borrow().as_ref() {
        return Ok(known.clone());
    }
    let answer = work()?;
    *once.borrow_mut() = Some(answer.clone());
    Ok(answer)
}

/// [`expiry`], worked out.
fn own_expiry(ctx: &Ctx<'_>, now: SystemTime) -> Result<Expiry, Diag> {
    for table in [ctx.entry, ctx.defaults] {
        if let (Some(_), Some(e)) = (&table.lifetime, &table.expires) {
            let place = if std::ptr::eq(table, ctx.entry) {
                ctx.place.clone()
            } else {
                Place::Defaults
            };
            return Err(Diag::new(
                e.span(),
                &place,
                "`lifetime` and `expires` cannot both be given",
            ));
        }
    }
    // An entry that sets either key overrides both defaults.
    let own = ctx.entry.lifetime.is_some() || ctx.entry.expires.is_some();
    if let Some(l) = own_or_default(ctx.get("lifetime", |e| &e.lifetime), own) {
        if l.value == "infinite" {
            return Ok(Expiry::Never);
        }
        // TAI64 counts 2^63 seconds from 2^62 seconds before 1970: a deadline past that
        // would set the label's top bit, which no TAI64 reader takes.
        let since_1970 = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let tai64_left = (1u64 << 62).saturating_sub(since_1970 + 60);
        return match humantime::parse_duration(l.value) {
            Ok(d) if d.as_secs() >= tai64_left => Err(l.err(format!(
                "`lifetime` {:?} ends after the last second TAI64 can write (\"infinite\" is no limit)",
                l.value
            ))),
            Ok(d) if !d.is_zero() => Ok(Expiry::After(d)),
            Ok(_) => Err(l.err("`lifetime` must be longer than 0")),
            // (humantime's own reasons, such as "expected number at 0", confuse more than help.)
            Err(_) => Err(l.err(format!(
                "`lifetime` must be a duration such as \"10min\" or \"1h 30s\", or \"infinite\", not {:?}",
                l.value
            ))),
        };
    }
    if let Some(x) = own_or_default::<InstantText>(ctx.get("expires", |e| &e.expires), own) {
        let t = parse_instant(&x.value.0).map_err(|e| x.err(format!("`expires`: {e}")))?;
        if t <= now {
            return Err(x.err(format!("`expires` {:?} is in the past", x.value.0)));
        }
        return Ok(Expiry::At(t));
    }
    Ok(Expiry::Never)
}

/// Mode, owner, group and directory mode of an entry that creates something on disk.
fn perms(ctx: &Ctx<'_>) -> Result<Rc<Perms>, Diag> {
    // An entry with none of the four keys takes them all from `[defaults]`, where they
    // apply alike to every kind that calls this.
    let e = ctx.entry;
    let own =
        e.mode.is_some() || e.directory_mode.is_some() || e.owner.is_some() || e.group.is_some();
    from_defaults(&ctx.shared.default_perms, own, || {
        own_perms(ctx).map(Rc::new)
    })
}

/// [`perms`], worked out.
fn own_perms(ctx: &Ctx<'_>) -> Result<Perms, Diag> {
    let mode = ctx
        .get("mode", |e| &e.mode)
        .map(|f| octal_mode(&f, "mode"))
        .transpose()?;
    let directory_mode = ctx
        .get("directory-mode", |e| &e.directory_mode)
        .map(|f| octal_mode(&f, "directory-mode"))
        .transpose()?
        .unwrap_or(DEFAULT_DIRECTORY_MODE);
    let owner = ctx
        .get("owner", |e| &e.owner)
        .map(|f| resolve(&f, "user", |n| ctx.shared.user(n), Uid::from_raw))
        .transpose()?;
    let group = ctx
        .get("group", |e| &e.group)
        .map(|f| resolve(&f, "group", |n| ctx.shared.group(n), Gid::from_raw))
        .transpose()?
        .or_else(|| owner.and_then(|uid| ctx.shared.primary_group(uid)));
    Ok(Perms {
        mode,
        owner,
        group,
        directory_mode,
    })
}

/// The id: the explicit one, or `derived` (the s6 convention), checked either way.
fn id(
    ctx: &Ctx<'_>,
    derived: impl FnOnce() -> Rc<str>,
    derived_span: Range<usize>,
) -> Result<Rc<str>, Diag> {
    match ctx.get("id", |e| &e.id) {
        Some(f) => {
            check_id(f.value.as_bytes()).map_err(|e| f.err(format!("bad `id`: {e}")))?;
            Ok(Rc::from(f.value.as_str()))
        }
        None => {
            let derived = derived();
            check_id(derived.as_bytes()).map_err(|e| {
                Diag::new(
                    derived_span,
                    &ctx.place,
                    format!("the default id {derived:?} cannot be used ({e}): set `id`"),
                )
            })?;
            Ok(derived)
        }
    }
}

/// An id given as a pipe's `read-id` or `write-id`.
fn pipe_id(f: &Found<'_, String>, key: &str) -> Result<Rc<str>, Diag> {
    check_id(f.value.as_bytes()).map_err(|e| f.err(format!("bad `{key}`: {e}")))?;
    Ok(Rc::from(f.value.as_str()))
}

/// Refuses permission keys written in an entry that creates nothing on disk (`what`);
/// defaults for them are ignored there.
fn not_without(ctx: &Ctx<'_>, what: &str) -> Result<(), Diag> {
    let perm_keys = ["mode", "owner", "group", "directory-mode"];
    match ctx.entry.find_key(|k| perm_keys.contains(&k)) {
        Some((key, span)) => Err(Diag::new(
            span,
            &ctx.place,
            format!("`{key}` does not apply to {what}"),
        )),
        None => Ok(()),
    }
}

fn unix_spec(ctx: &Ctx<'_>) -> Result<FdSpec, Diag> {
    let path = ctx.required("path", |e| &e.path)?;
    let address = match path.value.strip_prefix('@') {
        Some(name) if name.is_empty() || name.len() > UNIX_PATH_MAX => {
            return Err(path.err(format!(
                "an abstract socket name is 1 to {UNIX_PATH_MAX} bytes after the @"
            )));
        }
        Some(name) => UnixAddress::Abstract(name.as_bytes().into()),
        None => {
            let p = ctx.entry_path(&path)?;
            if path.value.len() > UNIX_PATH_MAX {
                return Err(path.err(format!(
                    "a unix socket path is at most {UNIX_PATH_MAX} bytes, this one is {}",
                    path.value.len()
                )));
            }
            UnixAddress::Path(SocketPath::new(p))
        }
    };
    let backlog = match ctx.get("backlog", |e| &e.backlog) {
        Some(b) => in_range(&b, "backlog", 0, nix::libc::SOMAXCONN.into())? as i32,
        None => nix::libc::SOMAXCONN,
    };
    if matches!(address, UnixAddress::Abstract(_)) {
        not_without(ctx, "an abstract socket")?;
    }
    let perms = perms(ctx)?;
    Ok(FdSpec::Unix {
        id: id(
            ctx,
            || default_id(Kind::Unix, path.value),
            path.span.clone(),
        )?,
        address,
        socket: ctx.socket,
        backlog,
        perms,
    })
}

/// Whether `a` is an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
fn is_v4_mapped(a: &SocketAddr) -> bool {
    matches!(a, SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some())
}

fn inet_spec(ctx: &Ctx<'_>, transport: Transport) -> Result<FdSpec, Diag> {
    let listen = ctx.required("listen", |e| &e.listen)?;
    let address: SocketAddr = super::scope::parse_listen(listen.value).map_err(|e| match e {
        super::scope::ListenError::NoInterface(name) => listen.err(format!(
            "`listen` names no network interface {name:?} in {:?}",
            listen.value
        )),
        super::scope::ListenError::Syntax => listen.err(format!(
            "`listen` must be IP:PORT with an IP literal (IPv6 in brackets), not {:?}",
            listen.value
        )),
    })?;
    if address.port() == 0 {
        return Err(listen.err("`listen` needs a port other than 0"));
    }
    let ipv6_only = match ctx.get("ipv6-only", |e| &e.ipv6_only) {
        Some(f) if address.is_ipv4() && *f.place != Place::Defaults => {
            return Err(f.err("`ipv6-only` applies to an IPv6 address only"));
        }
        // The kernel refuses to bind an IPV6_V6ONLY socket to an IPv4-mapped address.
        Some(f) if *f.value && is_v4_mapped(&address) && *f.place != Place::Defaults => {
            return Err(f.err("`ipv6-only` cannot be true on an IPv4-mapped address"));
        }
        Some(f) if address.is_ipv6() && !(*f.value && is_v4_mapped(&address)) => Some(*f.value),
        _ => None,
    };
    let buffer = |key, field: fn(&RawEntry) -> &Option<Spanned<i64>>| {
        ctx.get(key, field)
            .map(|f| in_range(&f, key, 1, i32::MAX.into()).map(|n| n as usize))
            .transpose()
    };
    let bind_to_device = match ctx.get("bind-to-device", |e| &e.bind_to_device) {
        Some(f) if f.value.is_empty() || f.value.len() > IFNAME_MAX || f.value.contains('\0') => {
            return Err(f.err(format!(
                "`bind-to-device` must be an interface name of 1 to {IFNAME_MAX} bytes"
            )));
        }
        f => f.map(|f| f.value.clone()),
    };
    let backlog = match ctx.get("backlog", |e| &e.backlog) {
        Some(b) => in_range(&b, "backlog", 0, nix::libc::SOMAXCONN.into())? as i32,
        None => nix::libc::SOMAXCONN,
    };
    let options = InetOptions {
        address,
        written: label(ctx.entry).into(),
        reuse_address: ctx
            .flag("reuse-address", |e| &e.reuse_address)
            .unwrap_or(true),
        reuse_port: ctx.flag("reuse-port", |e| &e.reuse_port),
        ipv6_only,
        freebind: ctx.flag("freebind", |e| &e.freebind),
        bind_to_device,
        receive_buffer: buffer("receive-buffer", |e| &e.receive_buffer)?,
        send_buffer: buffer("send-buffer", |e| &e.send_buffer)?,
        keepalive: ctx.flag("keepalive", |e| &e.keepalive),
        nodelay: ctx.flag("nodelay", |e| &e.nodelay),
        broadcast: ctx.flag("broadcast", |e| &e.broadcast),
    };
    Ok(FdSpec::Inet {
        id: id(
            ctx,
            || default_id(ctx.kind, &address.to_string()),
            listen.span.clone(),
        )?,
        transport,
        backlog,
        options: Box::new(options),
    })
}

fn netlink_spec(ctx: &Ctx<'_>) -> Result<FdSpec, Diag> {
    let family = ctx.required("family", |e| &e.family)?;
    let Some(&(name, protocol)) = NETLINK_FAMILIES
        .iter()
        .find(|(n, _)| *n == family.value.as_str())
    else {
        let names: Vec<&str> = NETLINK_FAMILIES.iter().map(|(n, _)| *n).collect();
        return Err(family.err(format!(
            "`family` must be one of {}, not {:?}",
            names.join(", "),
            family.value
        )));
    };
    let groups = match ctx.get("groups", |e| &e.groups) {
        Some(f) => in_range(&f, "groups", 0, u32::MAX.into())? as u32,
        None => 0,
    };
    Ok(FdSpec::Netlink {
        id: id(
            ctx,
            || default_id(Kind::Netlink, &format!("{name}:{groups}")),
            family.span.clone(),
        )?,
        family: name,
        protocol,
        groups,
    })
}

fn fifo_spec(ctx: &Ctx<'_>) -> Result<FdSpec, Diag> {
    let path = ctx.required("path", |e| &e.path)?;
    Ok(FdSpec::Fifo {
        path: ctx.entry_path(&path)?,
        perms: perms(ctx)?,
        id: id(
            ctx,
            || default_id(Kind::Fifo, path.value),
            path.span.clone(),
        )?,
    })
}

fn file_spec(ctx: &Ctx<'_>) -> Result<FdSpec, Diag> {
    let path = ctx.required("path", |e| &e.path)?;
    let open = ctx
        .get("open", |e| &e.open)
        .map_or(OpenMode::Read, |f| *f.value);
    let create = ctx.flag("create", |e| &e.create).unwrap_or(false);
    let truncate = match ctx.get("truncate", |e| &e.truncate) {
        Some(f) if *f.value && open == OpenMode::Read => {
            return Err(f.err("`truncate` needs `open` = \"write\", \"append\" or \"read-write\""));
        }
        f => f.is_some_and(|f| *f.value),
    };
    if !create {
        not_without(ctx, "a file opened without `create` = true")?;
    }
    let perms = if create {
        perms(ctx)?
    } else {
        Rc::new(Perms::default())
    };
    Ok(FdSpec::File {
        path: ctx.entry_path(&path)?,
        open,
        create,
        truncate,
        perms,
        id: id(
            ctx,
            || default_id(Kind::File, path.value),
            path.span.clone(),
        )?,
    })
}

fn pipe_spec(ctx: &Ctx<'_>) -> Result<FdSpec, Diag> {
    let read = ctx.required("read-id", |e| &e.read_id)?;
    let write = ctx.required("write-id", |e| &e.write_id)?;
    let buffer_size = ctx
        .get("buffer-size", |e| &e.buffer_size)
        .map(|f| in_range(&f, "buffer-size", 1, i32::MAX.into()).map(|n| n as i32))
        .transpose()?;
    Ok(FdSpec::Pipe {
        read_id: pipe_id(&read, "read-id")?,
        write_id: pipe_id(&write, "write-id")?,
        buffer_size,
    })
}

/// Checks that `table` has no key that means nothing for its kind.
fn check_keys(ctx: &Ctx<'_>) -> Result<(), Diag> {
    let Some((key, span)) = ctx.entry.find_key(|k| !applies(k, ctx.kind, ctx.socket)) else {
        return Ok(());
    };
    let what = if key == "backlog" && ctx.kind == Kind::Unix {
        "a dgram unix socket".to_string()
    } else {
        format!("kind {}", ctx.kind.name())
    };
    Err(Diag::new(
        span,
        &ctx.place,
        format!("`{key}` does not apply to {what}"),
    ))
}

/// Checks the `[defaults]` table: no key that names one fd.
fn check_defaults(defaults: &RawEntry) -> Result<(), Diag> {
    match defaults.find_key(|k| ENTRY_ONLY.contains(&k)) {
        Some((key, span)) => Err(Diag::new(
            span,
            &Place::Defaults,
            format!("`{key}` names one fd and cannot be a default"),
        )),
        None => Ok(()),
    }
}

/// How messages name the entry `e`: its kind and address as written.
fn label(e: &RawEntry) -> String {
    let address = e
        .path
        .as_ref()
        .or(e.listen.as_ref())
        .map(|s| s.get_ref().as_str());
    entry_label(e.kind.as_ref().map(|k| k.get_ref().name()), address)
}

/// Validates one entry.
pub(super) fn entry(
    index: usize,
    raw: &Spanned<RawEntry>,
    defaults: &RawEntry,
    now: SystemTime,
    shared: &Shared,
) -> Result<Entry, Diag> {
    // The entry's label is made only for a message (the place is made without it).
    unlabelled(index, raw, (defaults, shared), now, false).map_err(|mut d| {
        if let Place::Fd { label: l, .. } = &mut d.place {
            *l = label(raw.get_ref());
        }
        d
    })
}

/// [`entry`] for a raw entry that is dropped after: the entry is appended to `entries`
/// and its own path is then the raw entry's `path` string, moved, not copied (an
/// allocation and a copy an entry fewer; moved once the entry is in place, as the entry
/// was otherwise moved once more). Returns the entry. Its messages' place has no label: a
/// caller that takes this way words errors again through [`validate`].
pub(super) fn push_entry<'e>(
    entries: &'e mut Vec<Entry>,
    index: usize,
    raw: &mut Spanned<RawEntry>,
    defaults: &RawEntry,
    now: SystemTime,
    shared: &Shared,
) -> Result<&'e Entry, Diag> {
    let e = unlabelled(index, raw, (defaults, shared), now, true)?;
    let len = entries.len();
    entries.push(e);
    let e = &mut entries[len];
    if let (Some(to), Some(from)) = (e.spec.own_path_mut(), raw.get_mut().path.as_mut()) {
        *to = PathBuf::from(std::mem::take(from.get_mut()));
    }
    Ok(e)
}

/// Whether [`like`] may make entries from `e`, made of a table of `kind` and `path` alone:
/// a path that is not an abstract socket name, and no symlinks (from `[defaults]`), which
/// are checked against the path.
pub(super) fn is_template(e: &Entry) -> bool {
    e.symlinks().is_empty()
        && matches!(
            e.spec,
            FdSpec::Unix {
                address: UnixAddress::Path(_),
                ..
            } | FdSpec::Fifo { .. }
                | FdSpec::File { .. }
                | FdSpec::Special { .. }
        )
}

/// What [`entry`] makes of a table of `kind` and `path` alone, its `path` at `path`, given
/// `template`, what it made of another such table of the same kind ([`is_template`]):
/// nothing else in such an entry depends on its path. `None` where the path would not do:
/// [`entry`] then finds out why.
pub(super) fn like(
    template: &Entry,
    index: usize,
    span: Range<usize>,
    path: &str,
) -> Option<Entry> {
    let kind = template.spec.kind();
    let fits = path.starts_with('/')
        && !path.ends_with('/')
        && (kind != Kind::Unix || path.len() <= UNIX_PATH_MAX);
    if !fits {
        return None;
    }
    let id = default_id(kind, path);
    // (A NUL in the path is one in the id.)
    check_id(id.as_bytes()).ok()?;
    Some(Entry::new(
        index,
        span,
        template.spec.with_own(path, id)?,
        template.extra.clone(),
    ))
}

/// [`entry`], its messages' place without a label; with `path_later`, the entry's own
/// path left empty for [`push_entry`] to fill.
fn unlabelled(
    index: usize,
    raw: &Spanned<RawEntry>,
    (defaults, shared): (&RawEntry, &Shared),
    now: SystemTime,
    path_later: bool,
) -> Result<Entry, Diag> {
    let e = raw.get_ref();
    let place = Place::Fd {
        index,
        label: String::new(),
    };
    let Some(kind) = e.kind.as_ref().map(|k| *k.get_ref()) else {
        return Err(Diag::new(raw.span(), &place, "missing key `kind`"));
    };
    let mut ctx = Ctx {
        entry: e,
        defaults,
        shared,
        place,
        span: raw.span(),
        kind,
        socket: SocketType::Stream,
        path_later,
    };
    if kind == Kind::Unix {
        ctx.socket = ctx
            .get("socket", |e| &e.socket)
            .map_or(SocketType::Stream, |f| *f.value);
    }
    check_keys(&ctx)?;
    let spec = match kind {
        Kind::Unix => unix_spec(&ctx)?,
        Kind::Tcp => inet_spec(&ctx, Transport::Tcp)?,
        Kind::Udp => inet_spec(&ctx, Transport::Udp)?,
        Kind::Fifo => fifo_spec(&ctx)?,
        Kind::File => file_spec(&ctx)?,
        Kind::Pipe => pipe_spec(&ctx)?,
        Kind::Netlink => netlink_spec(&ctx)?,
        Kind::Special => {
            let path = ctx.required("path", |e| &e.path)?;
            FdSpec::Special {
                path: ctx.entry_path(&path)?,
                writable: ctx.flag("writable", |e| &e.writable).unwrap_or(false),
                id: id(
                    &ctx,
                    || default_id(Kind::Special, path.value),
                    path.span.clone(),
                )?,
            }
        }
    };
    let name = ctx
        .get("name", |e| &e.name)
        .map(|f| {
            crate::fdname::check(f.value)
                .map(|()| f.value.as_str().into())
                .map_err(|e| f.err(format!("bad `name`: {e}")))
        })
        .transpose()?;
    let extra = Extra {
        expiry: expiry(&ctx, now)?,
        name,
        sockopts: sockopts(&ctx)?,
        symlinks: symlinks(&ctx, &spec)?.into(),
    };
    Ok(Entry::new(index, ctx.span, spec, Extra::shared(extra)))
}

/// The symlinks of a unix socket with a path or a FIFO: absolute paths, not the path
/// itself.
fn symlinks(ctx: &Ctx<'_>, spec: &FdSpec) -> Result<Vec<PathBuf>, Diag> {
    let Some(f) = ctx.get("symlinks", |e| &e.symlinks) else {
        return Ok(Vec::new());
    };
    // The path as written, not the spec's: with `path_later` that is still empty here.
    let target = match (spec, ctx.get("path", |e| &e.path)) {
        (
            FdSpec::Unix {
                address: UnixAddress::Path(_),
                ..
            }
            | FdSpec::Fifo { .. },
            Some(path),
        ) => Path::new(path.value.as_str()),
        _ => return Err(f.err("`symlinks` needs a path, not an abstract socket name")),
    };
    let mut out = Vec::with_capacity(f.value.len());
    for s in f.value {
        let one = Found {
            value: s,
            span: f.span.clone(),
            place: f.place,
        };
        let p = absolute_path(&one)?;
        if p == target || out.contains(&p) {
            return Err(f.err(format!(
                "`symlinks` has {} twice, or as the path itself",
                p.display()
            )));
        }
        out.push(p);
    }
    Ok(out)
}

/// The socket options every socket kind takes; the buffers here for a unix socket only
/// (a tcp or udp socket has them in its [`InetOptions`]). `None` where none is set.
fn sockopts(ctx: &Ctx<'_>) -> Result<Option<SocketOptions>, Diag> {
    if !matches!(ctx.kind, Kind::Unix | Kind::Tcp | Kind::Udp | Kind::Netlink) {
        return Ok(None);
    }
    let int = |key, field: fn(&RawEntry) -> &Option<Spanned<i64>>, lo, hi| {
        ctx.get(key, field)
            .map(|f| in_range(&f, key, lo, hi))
            .transpose()
    };
    let timestamping = match ctx.get("timestamping", |e| &e.timestamping) {
        None => None,
        Some(f) => Some(match f.value.as_str() {
            "off" => Timestamping::Off,
            "us" => Timestamping::Micro,
            "ns" => Timestamping::Nano,
            other => {
                return Err(f.err(format!(
                    "`timestamping` must be \"off\", \"us\" or \"ns\", not {other:?}"
                )));
            }
        }),
    };
    // A tcp or udp socket has its buffers in its InetOptions.
    let unix = matches!(ctx.kind, Kind::Unix | Kind::Netlink);
    let buffer = |key, field| {
        int(key, field, 1, i32::MAX.into()).map(|n| n.filter(|_| unix).map(|n| n as usize))
    };
    let o = SocketOptions {
        pass_credentials: ctx.flag("pass-credentials", |e| &e.pass_credentials),
        pass_security: ctx.flag("pass-security", |e| &e.pass_security),
        pass_packet_info: ctx.flag("pass-packet-info", |e| &e.pass_packet_info),
        priority: int("priority", |e| &e.priority, 0, i32::MAX.into())?.map(|n| n as i32),
        mark: int("mark", |e| &e.mark, 0, u32::MAX.into())?.map(|n| n as u32),
        ip_tos: int("ip-tos", |e| &e.ip_tos, 0, 255)?.map(|n| n as i32),
        ip_ttl: int("ip-ttl", |e| &e.ip_ttl, 1, 255)?.map(|n| n as i32),
        timestamping,
        receive_buffer: buffer("receive-buffer", |e| &e.receive_buffer)?,
        send_buffer: buffer("send-buffer", |e| &e.send_buffer)?,
    };
    Ok((o != NO_SOCKET_OPTIONS).then_some(o))
}

/// The span where an entry sets its id(s), or its table, for duplicate-id messages.
fn id_spans(raw: &RawEntry, table: Range<usize>) -> [Range<usize>; 2] {
    let span = |f: &Option<Spanned<String>>| f.as_ref().map(Spanned::span);
    let one = span(&raw.id)
        .or(span(&raw.path))
        .or(span(&raw.listen))
        .or(span(&raw.read_id))
        .unwrap_or(table.clone());
    [one, span(&raw.write_id).unwrap_or(table)]
}

/// Validates a whole file against the clock at `now`; the first error found is returned.
pub fn validate(raw: &RawConfig, now: SystemTime) -> Result<Config, Diag> {
    let fdholder = top(raw)?;
    let empty = RawEntry::default();
    let defaults = raw.defaults.as_ref().map_or(&empty, Spanned::get_ref);
    let mut entries = Vec::with_capacity(raw.fd.len());
    let mut invalid = None;
    let shared = Shared::default();
    for (index, r) in raw.fd.iter().enumerate() {
        match entry(index, r, defaults, now, &shared) {
            Ok(e) => entries.push(e),
            Err(d) => {
                invalid = Some(d);
                break;
            }
        }
    }
    // Every entry before the first invalid one is checked for duplicates, in file order: the
    // error reported is the one a check of each entry in turn would meet first.
    check_unique(raw, &entries)?;
    match invalid {
        Some(d) => Err(d),
        None => Ok(Config { fdholder, entries }),
    }
}

/// Checks the top level and `[defaults]`: the daemon's socket, if the file names one.
pub(super) fn top(raw: &RawConfig) -> Result<Option<PathBuf>, Diag> {
    let fdholder = match &raw.fdholder {
        Some(s) if !s.get_ref().starts_with('/') => {
            return Err(Diag::new(
                s.span(),
                &Place::Top,
                format!("`fdholder` must be an absolute path, not {:?}", s.get_ref()),
            ));
        }
        s => s.as_ref().map(|s| PathBuf::from(s.get_ref())),
    };
    if let Some(defaults) = &raw.defaults {
        check_defaults(defaults.get_ref())?;
    }
    Ok(fdholder)
}

/// Whether no two entries share an id or a unix address, as far as a 64-bit hash of each
/// tells: [`super::load`]'s check, which leaves the message of a repeat to [`validate`].
/// Two keys that hash alike (a repeat, or, about once in 10^9 files of 100 000 entries,
/// two keys that differ) send the file to [`validate`], which finds the repeat, or finds
/// none and gives the same config: a wrong answer here costs time, never a result.
/// Only the hashes are kept, 8 bytes a key in one table small enough to stay in cache:
/// with the keys borrowed from the entries, each probe that met a like tag compared two
/// keys, the other one's bytes far off in memory, and the check took 9.5 times as long
/// for 5 times the entries. They are taken as each entry is made ([`Keys::add`]), while
/// its strings are still in cache: a pass over every entry after the last one missed the
/// cache at each of them in a large file.
pub(super) struct Keys {
    state: foldhash::fast::RandomState,
    /// The ids' hashes.
    ids: Vec<u64>,
    /// The unix addresses' hashes.
    addresses: Vec<u64>,
}

/// An empty vector with room for `n` elements where memory allows it, else none yet (it
/// grows as it is filled): `n` is a bound guessed from a file's text, which a file with
/// many `[` in its comments makes far larger than its entries (and than memory: an abort
/// where a vector sized to what is there would do).
pub(super) fn room_for<T>(n: usize) -> Vec<T> {
    let mut v = Vec::new();
    // Failing, nothing is allocated: the vector grows as it would have without the room.
    let _ = v.try_reserve_exact(n);
    v
}

impl Keys {
    /// Room for the keys of `n` entries of one fd each, where memory allows ([`room_for`]).
    pub(super) fn with_capacity(n: usize) -> Keys {
        Keys {
            state: foldhash::fast::RandomState::default(),
            ids: room_for(n),
            addresses: room_for(n),
        }
    }

    /// The hash of `bytes` and `tag`, in one write each: a key is hashed alone, so no
    /// length need say where its bytes end (a `str`'s or a tuple's `Hash` wrote three
    /// times, and cost twice as much).
    fn hash(&self, bytes: &[u8], tag: u8) -> u64 {
        let mut h = self.state.build_hasher();
        h.write(bytes);
        h.write_u8(tag);
        h.finish()
    }

    /// Takes the keys of `e`.
    pub(super) fn add(&mut self, e: &Entry) {
        for id in e.spec.ids() {
            self.ids.push(self.hash(id.as_bytes(), 0));
        }
        if let FdSpec::Unix { address, .. } = &e.spec {
            let (path, key) = address.key();
            self.addresses.push(self.hash(&key, u8::from(path)));
        }
    }

    /// Whether no two keys taken hash alike.
    pub(super) fn all_unique(&self) -> bool {
        distinct(&self.ids) && distinct(&self.addresses)
    }
}

/// Whether no two of `hashes` are equal, as far as their top bits and their low 32 tell
/// (a wrong "no", about once in 10^5 files of 50 000 entries, costs [`Keys`]' caller time,
/// never a result). One table with open addressing, sized once, the hashes' own top bits
/// for a slot (they are uniform already, and a `HashSet` hashed them again), and 4 bytes a
/// slot: the top bits are the slot's, the low ones are kept, and a table of whole hashes
/// was twice the memory, each page of it costing a run about as much as binding a socket.
fn distinct(hashes: &[u64]) -> bool {
    let size = (2 * hashes.len()).next_power_of_two().max(2);
    let bits = size.trailing_zeros();
    let mut table = vec![0u32; size];
    for &h in hashes {
        // 0 marks a free slot: made odd, no kept part is 0.
        let low = h as u32 | 1;
        let mut slot = (h >> (64 - bits)) as usize;
        loop {
            match table[slot] {
                0 => {
                    table[slot] = low;
                    break;
                }
                seen if seen == low => return false,
                _ => slot = (slot + 1) & (size - 1),
            }
        }
    }
    true
}

/// Checks that no two entries share an id or a unix address; the first repeat in file
/// order is the error. One hash map each, sized once and borrowing from the entries: no
/// id or path is copied.
fn check_unique(raw: &RawConfig, entries: &[Entry]) -> Result<(), Diag> {
    let mut ids: HashMap<&str, usize> = HashMap::with_capacity(entries.len() + 1);
    let mut unix_paths = HashMap::with_capacity(entries.len());
    for (index, (e, r)) in entries.iter().zip(&raw.fd).enumerate() {
        let spans = id_spans(r.get_ref(), r.span());
        for (id, span) in e.spec.ids().zip(spans) {
            if let Some(other) = ids.insert(id, index) {
                return Err(Diag::new(
                    span,
                    &e.place(),
                    format!("the id {id:?} is already the id of fd[{other}]"),
                ));
            }
        }
        if let FdSpec::Unix { address, .. } = &e.spec
            && let Some(other) = unix_paths.insert(address.key(), index)
        {
            let span = r.get_ref().path.as_ref().map_or(r.span(), Spanned::span);
            return Err(Diag::new(
                span,
                &e.place(),
                format!("fd[{other}] already binds this address"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse::parse_str;

    fn ok(text: &str) -> Config {
        let raw = parse_str(text).unwrap();
        validate(&raw, SystemTime::now()).unwrap()
    }

    fn err(text: &str) -> String {
        let raw = parse_str(text).unwrap();
        let d = validate(&raw, SystemTime::now()).unwrap_err();
        d.locate("f.toml", text).to_string()
    }

    /// Room that memory cannot give is not asked for at all (the guess from a text's `[`
    /// can be that large), and room that it can is.
    #[test]
    fn room_for_more_than_memory_is_none() {
        let none: Vec<Entry> = room_for(usize::MAX / 8);
        assert_eq!(none.capacity(), 0);
        let keys = Keys::with_capacity(usize::MAX / 4);
        assert_eq!((keys.ids.capacity(), keys.addresses.capacity()), (0, 0));
        let some: Vec<u64> = room_for(100);
        assert!(some.capacity() >= 100);
    }

    /// The fused load's check sees a repeated id and a repeated unix address, written
    /// alike or not; an id that is another entry's path is no repeat.
    #[test]
    fn all_unique_sees_repeats() {
        let entries = |text: &str| ok(text).entries;
        let a = entries("[[fd]]\nkind = \"unix\"\npath = \"/a/b\"\nid = \"/c\"\n");
        let b = entries("[[fd]]\nkind = \"unix\"\npath = \"/c\"\n");
        let c = entries("[[fd]]\nkind = \"unix\"\npath = \"/a//b\"\n");
        let d = entries("[[fd]]\nkind = \"pipe\"\nread-id = \"w\"\nwrite-id = \"/c\"\n");
        let all = |parts: &[&[Entry]]| {
            let mut keys = Keys::with_capacity(parts.len());
            parts
                .iter()
                .flat_map(|p| p.iter())
                .for_each(|e| keys.add(e));
            keys.all_unique()
        };
        assert!(all(&[&a, &b, &[]]));
        assert!(!all(&[&a, &c]));
        assert!(!all(&[&a, &d]));
        assert!(!all(&[&b, &b]));
        assert!(!all(&[&d, &d]));
    }

    /// An entry's place, made when a message needs it, names it as written.
    #[test]
    fn places_name_entries_as_written() {
        let text = "[[fd]]\nkind = \"unix\"\npath = \"/run/a.sock\"\n\
            [[fd]]\nkind = \"unix\"\npath = \"@abs\"\n\
            [[fd]]\nkind = \"tcp\"\nlisten = \"[0:0::1]:080\"\n\
            [[fd]]\nkind = \"udp\"\nlisten = \"127.0.0.1:53\"\n\
            [[fd]]\nkind = \"fifo\"\npath = \"/run/é f\"\n\
            [[fd]]\nkind = \"file\"\npath = \"/tmp/f\"\n\
            [[fd]]\nkind = \"special\"\npath = \"/dev/null\"\n\
            [[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n\
            [[fd]]\nkind = \"netlink\"\nfamily = \"route\"\n";
        let raw = parse_str(text).unwrap();
        let config = validate(&raw, SystemTime::now()).unwrap();
        assert_eq!(config.entries.len(), raw.fd.len());
        for (e, r) in config.entries.iter().zip(&raw.fd) {
            let want = Place::Fd {
                index: e.index(),
                label: label(r.get_ref()),
            };
            assert_eq!(e.place(), want);
        }
    }

    #[test]
    fn kinds_and_defaults() {
        let c = ok(r#"
fdholder = "/run/s"
[defaults]
lifetime = "10min"
backlog = 7
mode = "0640"
[[fd]]
kind = "unix"
path = "/run/a.sock"
[[fd]]
kind = "unix"
path = "@abs"
socket = "dgram"
[[fd]]
kind = "tcp"
listen = "[::1]:80"
ipv6-only = true
expires = "2999-01-01T00:00:00+01:00"
[[fd]]
kind = "pipe"
read-id = "pipe:r"
write-id = "pipe:w"
lifetime = "infinite"
[[fd]]
kind = "file"
path = "/tmp/f"
open = "append"
"#);
        assert_eq!(c.fdholder, Some(PathBuf::from("/run/s")));
        let specs: Vec<_> = c.entries.iter().map(|e| &e.spec).collect();
        assert!(
            matches!(specs[0], FdSpec::Unix { id, backlog: 7, perms, .. } if &**id == "unix:/run/a.sock" && perms.mode == Some(0o640))
        );
        assert!(
            matches!(specs[1], FdSpec::Unix { id, socket: SocketType::Dgram, address: UnixAddress::Abstract(_), .. } if &**id == "unix:@abs")
        );
        match specs[2] {
            FdSpec::Inet {
                id,
                backlog,
                options,
                ..
            } => {
                assert_eq!(&**id, "tcp:[::1]:80");
                assert_eq!(*backlog, 7);
                assert!(options.reuse_address);
                assert_eq!(options.ipv6_only, Some(true));
            }
            s => panic!("{s:?}"),
        }
        assert_eq!(
            c.entries[0].expiry(),
            Expiry::After(Duration::from_secs(600))
        );
        assert_eq!(
            c.entries[2].expiry(),
            Expiry::At(humantime::parse_rfc3339("2998-12-31T23:00:00Z").unwrap())
        );
        assert_eq!(c.entries[3].expiry(), Expiry::Never);
        assert!(
            c.entries[3]
                .spec
                .ids()
                .map(|id| &**id)
                .eq(["pipe:r", "pipe:w"])
        );
        assert!(
            matches!(specs[4], FdSpec::File { id, open: OpenMode::Append, create: false, .. } if &**id == "file:/tmp/f")
        );
    }

    /// The permissions and expiry worked out once for the entries that take all theirs from
    /// `[defaults]` are theirs alone: an entry with one key of its own, before or after
    /// them, gets its own, and the entries around it still the defaults'.
    #[test]
    fn defaults_worked_out_once_go_only_where_they_belong() {
        let c = load(
            r#"
[defaults]
lifetime = "1h"
mode = "0600"
owner = 0
[[fd]]
kind = "fifo"
path = "/run/own"
mode = "0640"
lifetime = "2h"
[[fd]]
kind = "unix"
path = "/run/a"
[[fd]]
kind = "file"
path = "/run/b"
open = "write"
create = true
group = 1
expires = "2999-01-01T00:00:00Z"
[[fd]]
kind = "unix"
path = "/run/c"
"#,
        );
        let perms = |e: &Entry| match &e.spec {
            FdSpec::Unix { perms, .. }
            | FdSpec::Fifo { perms, .. }
            | FdSpec::File { perms, .. } => (perms.mode, perms.group.map(Gid::as_raw)),
            _ => unreachable!(),
        };
        let hour = |n: u64| Expiry::After(Duration::from_secs(3600 * n));
        let got: Vec<_> = c.entries.iter().map(|e| (perms(e), e.expiry())).collect();
        let root_group = primary_group_of_root();
        assert_eq!(got[0], ((Some(0o640), root_group), hour(2)));
        assert_eq!(got[1], ((Some(0o600), root_group), hour(1)));
        assert!(matches!(got[2], ((Some(0o600), Some(1)), Expiry::At(_))));
        assert_eq!(got[3], got[1]);
    }

    /// The group root's files get from an owner of 0: its primary group, if it has one.
    fn primary_group_of_root() -> Option<u32> {
        User::from_uid(Uid::from_raw(0))
            .ok()
            .flatten()
            .map(|u| u.gid.as_raw())
    }

    /// What the fused load makes of `text`, which must be valid.
    fn load(text: &str) -> Config {
        super::super::load(text, SystemTime::now()).unwrap_or_else(|d| panic!("{d:?}"))
    }

    #[test]
    fn users_and_groups() {
        let c = ok("[[fd]]\nkind = \"fifo\"\npath = \"/f\"\nowner = \"root\"\ngroup = 12345\n");
        let FdSpec::Fifo { perms, .. } = &c.entries[0].spec else {
            panic!()
        };
        assert_eq!(perms.owner, Some(Uid::from_raw(0)));
        assert_eq!(perms.group, Some(Gid::from_raw(12345)));
        assert_eq!(perms.directory_mode, 0o755);
        // An owner alone brings its primary group; a uid nobody has brings none.
        for (owner, group) in [("\"root\"", Some(0)), ("0", Some(0)), ("4000000000", None)] {
            let c = ok(&format!(
                "[[fd]]\nkind = \"fifo\"\npath = \"/f\"\nowner = {owner}\n"
            ));
            let FdSpec::Fifo { perms, .. } = &c.entries[0].spec else {
                panic!()
            };
            assert_eq!(perms.group, group.map(Gid::from_raw), "{owner}");
        }
        assert!(
            err("[[fd]]\nkind = \"fifo\"\npath = \"/f\"\nowner = \"no-such-user-here\"\n")
                .ends_with("no user is named \"no-such-user-here\"")
        );
    }

    #[test]
    fn errors() {
        for (text, want) in [
            (
                "[[fd]]\nkind = \"fifo\"\n",
                "f.toml:1:1: fd[0] (fifo): missing key `path` (a fifo needs it)",
            ),
            (
                "[[fd]]\nkind = \"fifo\"\npath = \"x\"\n",
                "f.toml:3:8: fd[0] (fifo:x): the path \"x\" is not absolute",
            ),
            (
                "[[fd]]\nkind = \"fifo\"\npath = \"/x\"\nbacklog = 3\n",
                "f.toml:4:11: fd[0] (fifo:/x): `backlog` does not apply to kind fifo",
            ),
            (
                "[[fd]]\nkind = \"unix\"\nsocket = \"dgram\"\npath = \"/x\"\nbacklog = 3\n",
                "f.toml:5:11: fd[0] (unix:/x): `backlog` does not apply to a dgram unix socket",
            ),
            (
                "[defaults]\npath = \"/x\"\n",
                "f.toml:2:8: defaults: `path` names one fd and cannot be a default",
            ),
            (
                "[[fd]]\nkind = \"fifo\"\npath = \"/x\"\nmode = \"0800\"\n",
                "f.toml:4:8: fd[0] (fifo:/x): `mode` must be an octal string from \"0000\" to \"0777\", not \"0800\"",
            ),
            (
                "[[fd]]\nkind = \"tcp\"\nlisten = \"localhost:80\"\n",
                "f.toml:3:10: fd[0] (tcp:localhost:80): `listen` must be IP:PORT with an IP literal (IPv6 in brackets), not \"localhost:80\"",
            ),
            (
                "[[fd]]\nkind = \"tcp\"\nlisten = \"1.2.3.4:80\"\nlifetime = \"1h\"\nexpires = \"2999-01-01T00:00:00Z\"\n",
                "f.toml:5:11: fd[0] (tcp:1.2.3.4:80): `lifetime` and `expires` cannot both be given",
            ),
            (
                "[[fd]]\nkind = \"tcp\"\nlisten = \"1.2.3.4:80\"\nexpires = \"2001-01-01T00:00:00Z\"\n",
                "f.toml:4:11: fd[0] (tcp:1.2.3.4:80): `expires` \"2001-01-01T00:00:00Z\" is in the past",
            ),
            (
                "[[fd]]\nkind = \"tcp\"\nlisten = \"1.2.3.4:80\"\nlifetime = \"soon\"\n",
                "f.toml:4:12: fd[0] (tcp:1.2.3.4:80): `lifetime` must be a duration such as \"10min\" or \"1h 30s\", or \"infinite\", not \"soon\"",
            ),
            (
                "[[fd]]\nkind = \"tcp\"\nlisten = \"1.2.3.4:80\"\n[[fd]]\nkind = \"udp\"\nlisten = \"1.2.3.4:80\"\nid = \"tcp:1.2.3.4:80\"\n",
                "f.toml:7:6: fd[1] (udp:1.2.3.4:80): the id \"tcp:1.2.3.4:80\" is already the id of fd[0]",
            ),
            (
                "[[fd]]\nkind = \"pipe\"\nread-id = \"a\"\nwrite-id = \"a\"\n",
                "f.toml:4:12: fd[0] (pipe): the id \"a\" is already the id of fd[0]",
            ),
            (
                "[[fd]]\nkind = \"pipe\"\nread-id = \"\"\nwrite-id = \"a\"\n",
                "f.toml:3:11: fd[0] (pipe): bad `read-id`: the id is empty",
            ),
            (
                "[[fd]]\nkind = \"tcp\"\nlisten = \"1.2.3.4:80\"\nipv6-only = true\n",
                "f.toml:4:13: fd[0] (tcp:1.2.3.4:80): `ipv6-only` applies to an IPv6 address only",
            ),
            (
                "[[fd]]\nkind = \"file\"\npath = \"/f\"\nmode = \"0600\"\n",
                "f.toml:4:8: fd[0] (file:/f): `mode` does not apply to a file opened without `create` = true",
            ),
            (
                "fdholder = \"s\"\n",
                "f.toml:1:12: `fdholder` must be an absolute path, not \"s\"",
            ),
        ] {
            assert_eq!(err(text), want, "{text}");
        }
        let long = format!("[[fd]]\nkind = \"fifo\"\npath = \"/{}\"\n", "a".repeat(250));
        assert!(
            err(&long)
                .ends_with("cannot be used (the id is 256 bytes long, the most is 255): set `id`")
        );
    }

    #[test]
    fn instants() {
        let t = |s| parse_instant(s).map(|t| humantime::format_rfc3339(t).to_string());
        assert_eq!(
            t("2030-01-01T02:00:00+02:00"),
            Ok("2030-01-01T00:00:00Z".into())
        );
        assert_eq!(
            t("2030-01-01T00:00:00-00:30"),
            Ok("2030-01-01T00:30:00Z".into())
        );
        assert!(t("2030-01-01T00:00:00").is_err());
        assert!(t("2030-01-01T00:00:00+2:00").is_err());
    }

    #[test]
    fn every_key_applies_somewhere() {
        use Kind::*;
        for key in crate::config::load::parse::keys().1 {
            let somewhere = [Unix, Tcp, Udp, Fifo, File, Pipe, Netlink, Special]
                .into_iter()
                .any(|k| applies(key, k, SocketType::Stream));
            assert!(somewhere, "{key}");
        }
    }
}
