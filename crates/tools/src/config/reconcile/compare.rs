//! Declared against held: how the fd the daemon holds under an entry's id differs from what
//! the entry declares.
//!
//! The held fd is read as the kernel describes it ([`crate::fdinfo`]). The entry's path,
//! when it has one, is looked at with lstat (never followed), to learn whether it still
//! leads to the held socket, FIFO or file, and for a unix socket with which mode, owner and
//! group. Only what is declared and can be read back is compared: a key the entry leaves
//! out, socket buffer sizes too small to be told from the kernel's floor
//! ([`kernel_buffer`]: the kernel doubles and clamps them), and the permissions of a
//! regular file (applied only when a run creates one) are not; a FIFO's are. Backlogs are compared as the kernel
//! clamps them (`net.core.somaxconn`).
//!
//! Expiry: the limit a run sends is counted from the run's start, so an entry with a
//! `lifetime` never declares the limit an earlier run sent. A held limit is the same as a
//! `lifetime` when it is finite and no later than this run's limit (it may have come from
//! an earlier run of the same lifetime); the same as an `expires` instant within
//! [`TOLERANCE`]; the same as `infinite` when it means no limit.

use std::fmt;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{AddressFamily, SockType, getsockopt, sockopt};
use nix::sys::stat::{FileStat, lstat};
use serde::Serialize;

use crate::config::model::{Entry, Expiry, FdKind, FdSpec, InetOptions, Perms, UnixAddress};
use crate::config::model::{OpenMode, SocketOptions, SocketType, Timestamping};
use crate::config::open::open_dir_as_run;
use crate::config::plan::{Item, kind_name};
use crate::expiry::{is_never, show};
use crate::fdinfo::{self, Access, Address, FdInfo, Kind, SocketInfo};
use fdholder::HeldFd;
use fdholder::Tain;

/// How far a held limit may be from a declared `expires` instant and still be the same: the
/// library and the daemon move limits apart by nanoseconds.
pub const TOLERANCE: Duration = Duration::from_secs(1);

/// What of a held fd can differ from its entry: the file's own key names where one exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `kind`.
    Kind,
    /// `address`.
    Address,
    /// `listening`.
    Listening,
    /// `access`.
    Access,
    /// `open`.
    Open,
    /// `buffer-size`.
    BufferSize,
    /// `path`.
    Path,
    /// `file`.
    File,
    /// `backlog`.
    Backlog,
    /// `mode`.
    Mode,
    /// `owner`.
    Owner,
    /// `group`.
    Group,
    /// `reuse-address`.
    ReuseAddress,
    /// `reuse-port`.
    ReusePort,
    /// `ipv6-only`.
    Ipv6Only,
    /// `freebind`.
    Freebind,
    /// `keepalive`.
    Keepalive,
    /// `nodelay`.
    Nodelay,
    /// `broadcast`.
    Broadcast,
    /// `bind-to-device`.
    BindToDevice,
    /// `receive-buffer`.
    ReceiveBuffer,
    /// `send-buffer`.
    SendBuffer,
    /// `pass-credentials`.
    PassCredentials,
    /// `pass-security`.
    PassSecurity,
    /// `priority`.
    Priority,
    /// `pass-packet-info`.
    PassPacketInfo,
    /// `mark`.
    Mark,
    /// `ip-tos`.
    IpTos,
    /// `ip-ttl`.
    IpTtl,
    /// `timestamping`.
    Timestamping,
    /// `symlinks`.
    Symlinks,
    /// `expiry`.
    Expiry,
    /// `pipe`.
    Pipe,
}

impl Field {
    /// Its name in messages, plans and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Field::Kind => "kind",
            Field::Address => "address",
            Field::Listening => "listening",
            Field::Access => "access",
            Field::Open => "open",
            Field::BufferSize => "buffer-size",
            Field::Path => "path",
            Field::File => "file",
            Field::Backlog => "backlog",
            Field::Mode => "mode",
            Field::Owner => "owner",
            Field::Group => "group",
            Field::ReuseAddress => "reuse-address",
            Field::ReusePort => "reuse-port",
            Field::Ipv6Only => "ipv6-only",
            Field::Freebind => "freebind",
            Field::Keepalive => "keepalive",
            Field::Nodelay => "nodelay",
            Field::Broadcast => "broadcast",
            Field::BindToDevice => "bind-to-device",
            Field::ReceiveBuffer => "receive-buffer",
            Field::SendBuffer => "send-buffer",
            Field::PassCredentials => "pass-credentials",
            Field::PassSecurity => "pass-security",
            Field::Priority => "priority",
            Field::PassPacketInfo => "pass-packet-info",
            Field::Mark => "mark",
            Field::IpTos => "ip-tos",
            Field::IpTtl => "ip-ttl",
            Field::Timestamping => "timestamping",
            Field::Symlinks => "symlinks",
            Field::Expiry => "expiry",
            Field::Pipe => "pipe",
        }
    }
}

impl Serialize for Field {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One way a held fd differs from its entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// What differs.
    pub what: Field,
    /// As the daemon holds it.
    pub held: String,
    /// As the file declares it.
    pub declared: String,
}

/// In JSON: `what`, `held`, `declared`, and the same two values as `before` and `after`
/// (what the daemon held before a run, what it holds after), the words a config
/// management tool's diff uses.
impl Serialize for Difference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Difference", 5)?;
        st.serialize_field("what", &self.what)?;
        st.serialize_field("held", &self.held)?;
        st.serialize_field("declared", &self.declared)?;
        st.serialize_field("before", &self.held)?;
        st.serialize_field("after", &self.declared)?;
        st.end()
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} → {}", self.what, self.held, self.declared)
    }
}

/// What comparing one held fd with its entry found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Every difference; none when the held fd is as declared.
    pub differs: Vec<Difference>,
    /// For a unix socket bound to a path: the path's device and inode (lstat), when it is
    /// the held socket's own socket file. A run may replace that file, and no other.
    pub own_file: Option<(u64, u64)>,
}

impl Verdict {
    fn differ(&mut self, what: Field, held: impl ToString, declared: impl ToString) {
        self.differs.push(Difference {
            what,
            held: held.to_string(),
            declared: declared.to_string(),
        });
    }
}

/// What a held fd is, in the file's words: a kind an entry declares, or a socket, a pipe
/// or a file that none can.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeldKind {
    /// A kind an entry declares.
    Fd(FdKind),
    /// A socket of another family or type.
    Socket,
    /// A pipe open at both ends.
    Pipe,
    /// Anything else.
    Other,
}

impl HeldKind {
    /// Its name: `unix-stream`, `tcp`, `pipe-read`, `fifo`..., or `socket`, `pipe`, `other`.
    pub fn name(self) -> &'static str {
        match self {
            HeldKind::Fd(kind) => kind.name(),
            HeldKind::Socket => "socket",
            HeldKind::Pipe => "pipe",
            HeldKind::Other => "other",
        }
    }
}

/// What a held fd is ([`HeldKind`]).
pub fn held_kind(info: &FdInfo) -> HeldKind {
    use AddressFamily::{Inet, Inet6, Netlink, Unix};
    HeldKind::Fd(match &info.kind {
        Kind::Socket(s) => match (s.family, s.kind) {
            (Some(Unix), SockType::Stream) => FdKind::UnixStream,
            (Some(Unix), SockType::Datagram) => FdKind::UnixDgram,
            (Some(Unix), SockType::SeqPacket) => FdKind::UnixSeqpacket,
            (Some(Inet | Inet6), SockType::Stream) => FdKind::Tcp,
            (Some(Inet | Inet6), SockType::Datagram) => FdKind::Udp,
            (Some(Netlink), SockType::Raw) => FdKind::Netlink,
            _ => return HeldKind::Socket,
        },
        Kind::Pipe(Access::Read) => FdKind::PipeRead,
        Kind::Pipe(Access::Write) => FdKind::PipeWrite,
        // Neither end alone: no entry declares one.
        Kind::Pipe(Access::ReadWrite) => return HeldKind::Pipe,
        Kind::Fifo(..) => FdKind::Fifo,
        Kind::File(..) => FdKind::File,
        Kind::Other(_) => return HeldKind::Other,
    })
}

/// A held fd's kind in the file's words: `unix-stream`, `tcp`, `pipe-read`, `fifo`...;
/// `socket` or `other` for what no entry can declare.
pub fn kind_of(info: &FdInfo) -> &'static str {
    held_kind(info).name()
}

/// A held fd's address as the plan shows one: the bound address, the path, or `-`.
pub fn address_of(info: &FdInfo) -> String {
    match &info.kind {
        Kind::Socket(s) => s.address.to_string(),
        Kind::Fifo(p, _) | Kind::File(p, _) => p.display().to_string(),
        Kind::Pipe(_) => "-".to_string(),
        Kind::Other(link) => link.clone(),
    }
}

/// Records a difference unless `held` and `declared` are equal; true if they are.
fn same<T: PartialEq + fmt::Display>(v: &mut Verdict, what: Field, held: T, declared: T) -> bool {
    let equal = held == declared;
    if !equal {
        v.differ(what, held, declared);
    }
    equal
}

/// How a held file is open, in the words of the `open` key.
fn held_open(held: &HeldFd, access: Access) -> &'static str {
    let append = fcntl(held.fd.as_fd(), FcntlArg::F_GETFL)
        .is_ok_and(|f| OFlag::from_bits_truncate(f).contains(OFlag::O_APPEND));
    match (access, append) {
        (Access::Read, _) => "read",
        (Access::Write, false) => "write",
        (Access::Write, true) => "append",
        (Access::ReadWrite, _) => "read-write",
    }
}

/// The `open` key's value.
fn open_name(open: OpenMode) -> &'static str {
    match open {
        OpenMode::Read => "read",
        OpenMode::Write => "write",
        OpenMode::Append => "append",
        OpenMode::ReadWrite => "read-write",
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Compares the fd held under `item`'s id (described as `info`) with `e`, at `now`.
pub fn compare(e: &Entry, item: &Item, held: &HeldFd, info: &FdInfo, now: Tain) -> Verdict {
    let mut v = Verdict::default();
    symlinks(&mut v, e);
    let (declared, actual) = (kind_name(&e.spec, item.end), kind_of(info));
    if let FdSpec::Special { path, writable, .. } = &e.spec {
        // A device is no kind the held fd's description names: compared on its own.
        special(&mut v, e, held, info, (path, *writable));
    } else if declared != actual {
        v.differ(Field::Kind, actual, declared);
        // A unix socket of another type (stream, datagram, seqpacket) bound at the declared
        // path is still the daemon's own socket file there: known as such, a run may move
        // it aside to bind the declared one, as for any other replacement. What else differs
        // is moot: the socket is replaced.
        if let Kind::Socket(s) = &info.kind {
            let mut same_file = Verdict::default();
            unix(&mut same_file, e, s, info.inode);
            v.own_file = same_file.own_file;
        }
    } else {
        match (&e.spec, &info.kind) {
            (FdSpec::Unix { .. }, Kind::Socket(s)) => {
                unix(&mut v, e, s, info.inode);
                socket_options(&mut v, held, &e.spec, e.sockopts());
            }
            (
                FdSpec::Inet {
                    transport,
                    options,
                    backlog,
                    ..
                },
                Kind::Socket(s),
            ) => {
                let want = Address::Ip(crate::config::load::scope::effective(options.address));
                if s.address != want {
                    v.differ(Field::Address, &s.address, &want);
                }
                let tcp = *transport == crate::config::model::Transport::Tcp;
                if s.listening != tcp {
                    v.differ(Field::Listening, yes_no(s.listening), yes_no(tcp));
                }
                inet_options(&mut v, held, s, options);
                if tcp
                    && s.listening
                    && let Some(now) = held_backlog(held.fd.as_fd())
                {
                    same(&mut v, Field::Backlog, now, effective_backlog(*backlog));
                }
                socket_options(&mut v, held, &e.spec, e.sockopts());
            }
            (
                FdSpec::Netlink {
                    family,
                    protocol,
                    groups,
                    ..
                },
                Kind::Socket(_),
            ) => {
                netlink(&mut v, held, family, *protocol, *groups);
                socket_options(&mut v, held, &e.spec, e.sockopts());
            }
            // Access is compared only where the path leads to the held object.
            (FdSpec::Fifo { path, perms, .. }, Kind::Fifo(p, access)) => {
                // The held FIFO is the one at its path: its permissions are that file's.
                if same_path(&mut v, e, (p, path), info.inode)
                    && same(
                        &mut v,
                        Field::Access,
                        access.name(),
                        Access::ReadWrite.name(),
                    )
                    && let Ok(st) = nix::sys::stat::fstat(held.fd.as_fd())
                {
                    socket_file_perms(&mut v, &st, perms);
                }
            }
            (FdSpec::File { path, open, .. }, Kind::File(p, access)) => {
                let _ = same_path(&mut v, e, (p, path), info.inode)
                    && same(
                        &mut v,
                        Field::Open,
                        held_open(held, *access),
                        open_name(*open),
                    );
            }
            (
                FdSpec::Pipe {
                    buffer_size: Some(n),
                    ..
                },
                Kind::Pipe(_),
            ) => {
                let size = fcntl(held.fd.as_fd(), FcntlArg::F_GETPIPE_SZ);
                if let (Some(want), Ok(size)) = (pipe_capacity(*n), size) {
                    same(&mut v, Field::BufferSize, size, want);
                }
            }
            _ => {}
        }
    }
    let declared = e.expiry();
    let limit = crate::config::plan::limit(declared, now);
    expiry(&mut v, declared, limit, held.limit, now);
    v
}

/// Compares a held FIFO's or file's path with the declared one, and the inode the path
/// leads to now with the held one's; false if they differ. The kernel gives a held fd's
/// path with every symlink resolved: a declared path written otherwise (`/var/run/x` for a
/// held `/run/x`) is the held one's if it leads there as a run goes, by the walk with its
/// rules on symlinks, not as `lstat` goes, through any user's symlink to a file the config
/// no longer names.
fn same_path(
    v: &mut Verdict,
    e: &Entry,
    (held, declared): (&Path, &Path),
    inode: (u64, u64),
) -> bool {
    let found = stat_as_run(e, declared, held != declared);
    if let AsRun::Stat(st) = &found
        && (st.st_dev, st.st_ino) == inode
    {
        // A second link where another user can put a name may be theirs, to someone
        // else's file: not the declared one, which the opening then refuses too.
        let linked = st.st_nlink != 1
            && declared
                .parent()
                .is_none_or(crate::config::open::others_may_add_in);
        if !linked {
            return true;
        }
        v.differ(Field::File, format!("{} links", st.st_nlink), "one");
        return false;
    }
    if held != declared {
        v.differ(Field::Path, held.display(), declared.display());
        return false;
    }
    match found {
        AsRun::Stat(_) | AsRun::OffTheWay => {
            v.differ(Field::File, "replaced", "in place");
            false
        }
        AsRun::Missing => {
            v.differ(Field::File, "missing", "in place");
            false
        }
        // Not readable: not compared.
        AsRun::Unreadable => true,
    }
}

/// The backlog of a held listening socket, unix or tcp, as sock_diag reports it (the
/// kernel clamps it to `net.core.somaxconn`); `None` when it cannot be known.
pub fn held_backlog(fd: std::os::fd::BorrowedFd<'_>) -> Option<u32> {
    let info = fdinfo::describe(fd).ok()?;
    let Kind::Socket(s) = &info.kind else {
        return None;
    };
    match s.family? {
        AddressFamily::Unix => fdinfo::unix_diag(info.inode.1).ok()?.backlog,
        family @ (AddressFamily::Inet | AddressFamily::Inet6) => {
            crate::inetdiag::tcp_backlog(family, info.inode.1).ok()?
        }
        _ => None,
    }
}

/// The most connections `listen(backlog)` lets a socket queue: the kernel clamps it to
/// `net.core.somaxconn`.
fn effective_backlog(backlog: i32) -> u32 {
    // Read once per run, not once per socket.
    static SOMAXCONN: OnceLock<Option<u32>> = OnceLock::new();
    let max = SOMAXCONN.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
    });
    let declared = u32::try_from(backlog).unwrap_or(0);
    max.map_or(declared, |m| declared.min(m))
}

/// What `getsockopt` reports of a socket buffer set to `n` bytes with SO_RCVBUF or
/// SO_SNDBUF: the kernel clamps `n` to `net.core.rmem_max` (or `wmem_max`) and doubles it
/// (room for its own bookkeeping), with a floor of a few kilobytes (SOCK_MIN_RCVBUF,
/// SOCK_MIN_SNDBUF: about 2.3 and 4.6 KiB, depending on the kernel's build). `None` when
/// the answer would be near that floor, or the clamp cannot be read: not compared.
pub fn kernel_buffer(n: usize, max_name: &str) -> Option<usize> {
    let max: usize = std::fs::read_to_string(format!("/proc/sys/net/core/{max_name}"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let doubled = n.min(max).checked_mul(2)?;
    (doubled >= 16 * 1024).then_some(doubled)
}

/// The capacity the kernel gives a pipe asked for `n` bytes: a power of two pages.
fn pipe_capacity(n: i32) -> Option<i32> {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()?;
    let page = i32::try_from(page).ok()?;
    let pages = u32::try_from(n.max(1)).ok()?.div_ceil(page as u32);
    i32::try_from(pages.checked_next_power_of_two()?)
        .ok()?
        .checked_mul(page)
}

/// Compares the held unix socket `s` (of inode `inode`) with `e`, a unix socket's entry
/// (nothing for another kind's): listening, address, backlog, and its socket file, which
/// it records as the daemon's own when it is the declared one.
fn unix(v: &mut Verdict, e: &Entry, s: &SocketInfo, inode: (u64, u64)) {
    let FdSpec::Unix {
        address,
        socket,
        backlog,
        perms,
        ..
    } = &e.spec
    else {
        return;
    };
    let (socket, backlog) = (*socket, *backlog);
    let want = match address {
        UnixAddress::Path(p) => Address::Path(p.to_path_buf()),
        UnixAddress::Abstract(n) => Address::Abstract(n.to_vec()),
    };
    let listens = socket != SocketType::Dgram;
    if s.listening != listens {
        v.differ(Field::Listening, yes_no(s.listening), yes_no(listens));
    }
    // A socket bound through its directory's fd (where another user could change the
    // path) says `/proc/self/fd/N/name`: it is the declared one if its socket file is.
    let through_fd = matches!((&s.address, address),
        (Address::Path(p), UnixAddress::Path(_)) if p.starts_with("/proc/self/fd/"));
    if s.address != want && !through_fd {
        v.differ(Field::Address, &s.address, &want);
        return;
    }
    // Without sock_diag, neither the socket file nor the backlog can be known.
    let Ok(diag) = fdinfo::unix_diag(inode.1) else {
        if through_fd {
            v.differ(Field::Address, &s.address, &want);
        }
        return;
    };
    if let (true, Some(held)) = (s.listening, diag.backlog) {
        let want = effective_backlog(backlog);
        if held != want {
            v.differ(Field::Backlog, held, want);
        }
    }
    let (UnixAddress::Path(path), Some((dev, ino))) = (address, diag.file) else {
        return;
    };
    match stat_as_run(e, path, through_fd) {
        AsRun::Stat(st) if st.st_dev == dev && st.st_ino as u32 == ino => {
            v.own_file = Some((st.st_dev, st.st_ino));
            socket_file_perms(v, &st, perms);
        }
        AsRun::Stat(_) => v.differ(Field::File, "replaced", "in place"),
        AsRun::Missing => v.differ(Field::File, "missing", "in place"),
        AsRun::OffTheWay => v.differ(Field::File, "not on a run's way", "in place"),
        AsRun::Unreadable => {}
    }
}

/// What is at a declared path, as a run would find it.
enum AsRun {
    /// This file (its last component not followed).
    Stat(FileStat),
    /// Nothing.
    Missing,
    /// Something, but only on a way that a run refuses (another user's symlink on it,
    /// say): not the declared file, whatever it is.
    OffTheWay,
    /// Not to be looked at.
    Unreadable,
}

impl AsRun {
    /// What a stat of the declared file says.
    fn of(stat: nix::Result<FileStat>) -> AsRun {
        match stat {
            Ok(st) => AsRun::Stat(st),
            Err(Errno::ENOENT) => AsRun::Missing,
            Err(_) => AsRun::Unreadable,
        }
    }
}

/// The file at `path`, reached as a run reaches it ([`open_dir_as_run`]) when `walk`: a
/// socket bound through its directory fd has an address that says nothing of its path,
/// and `lstat` would follow any symlink on the way to a file that only looks like the
/// held socket's own. Else by `lstat`: a socket bound by its whole path has that path for
/// its address, which the caller has found to be the declared one, in directories no
/// other user can change.
fn stat_as_run(e: &Entry, path: &Path, walk: bool) -> AsRun {
    let (Some(dir), Some(name), true) = (path.parent(), path.file_name(), walk) else {
        return AsRun::of(lstat(path));
    };
    let flags = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    match open_dir_as_run(e, dir) {
        Ok(d) => AsRun::of(nix::sys::stat::fstatat(&*d, name, flags)),
        Err(_) => match AsRun::of(lstat(path)) {
            AsRun::Stat(_) => AsRun::OffTheWay,
            other => other,
        },
    }
}

/// Compares the declared mode, owner and group of a socket file or FIFO with its stat.
fn socket_file_perms(v: &mut Verdict, st: &FileStat, perms: &Perms) {
    let mode = st.st_mode & 0o777;
    if let Some(m) = perms.mode {
        same(v, Field::Mode, format!("{mode:04o}"), format!("{m:04o}"));
    }
    if let Some(uid) = perms.owner.filter(|u| u.as_raw() != st.st_uid) {
        v.differ(Field::Owner, st.st_uid, uid);
    }
    if let Some(gid) = perms.group.filter(|g| g.as_raw() != st.st_gid) {
        v.differ(Field::Group, st.st_gid, gid);
    }
}

/// Whether Linux sets IPV6_V6ONLY itself on binding (inet6_bind): on a specific IPv6
/// address that is not v4-mapped, which no IPv4 peer can reach anyway, so `ipv6-only` means
/// nothing there and a declared `false` must not be a difference.
fn v6only_forced(a: &crate::fdinfo::Address) -> bool {
    match a {
        crate::fdinfo::Address::Ip(std::net::SocketAddr::V6(a)) => {
            !a.ip().is_unspecified() && a.ip().to_ipv4_mapped().is_none()
        }
        _ => false,
    }
}

/// Compares the options a tcp or udp entry declares with the held socket's.
fn inet_options(v: &mut Verdict, held: &HeldFd, s: &SocketInfo, o: &InetOptions) {
    let fd = held.fd.as_fd();
    let mut flag = |key, declared: Option<bool>, actual: nix::Result<bool>| {
        if let (Some(d), Ok(a)) = (declared, actual) {
            same(v, key, yes_no(a), yes_no(d));
        }
    };
    flag(
        Field::ReuseAddress,
        Some(o.reuse_address),
        getsockopt(&fd, sockopt::ReuseAddr),
    );
    flag(Field::ReusePort, o.reuse_port, Ok(s.reuse_port));
    flag(
        Field::Ipv6Only,
        o.ipv6_only.filter(|_| !v6only_forced(&s.address)),
        s.v6only.ok_or(Errno::EAFNOSUPPORT),
    );
    flag(
        Field::Freebind,
        o.freebind,
        getsockopt(&fd, sockopt::IpFreebind),
    );
    flag(
        Field::Keepalive,
        o.keepalive,
        getsockopt(&fd, sockopt::KeepAlive),
    );
    flag(
        Field::Nodelay,
        o.nodelay,
        getsockopt(&fd, sockopt::TcpNoDelay),
    );
    flag(
        Field::Broadcast,
        o.broadcast,
        getsockopt(&fd, sockopt::Broadcast),
    );
    // A buffer forced past the kernel's limit (SO_RCVBUFFORCE, as systemd forces one for
    // root) is reported as twice what was asked, unclamped: that is as declared too.
    if let (Some(n), Ok(held)) = (o.receive_buffer, getsockopt(&fd, sockopt::RcvBuf))
        && let Some(want) = kernel_buffer(n, "rmem_max")
        && Some(held) != n.checked_mul(2)
    {
        same(v, Field::ReceiveBuffer, held, want);
    }
    if let (Some(n), Ok(held)) = (o.send_buffer, getsockopt(&fd, sockopt::SndBuf))
        && let Some(want) = kernel_buffer(n, "wmem_max")
        && Some(held) != n.checked_mul(2)
    {
        same(v, Field::SendBuffer, held, want);
    }
    if let (Some(want), Ok(dev)) = (&o.bind_to_device, getsockopt(&fd, sockopt::BindToDevice)) {
        let dev = dev.to_string_lossy();
        if dev != want.as_str() {
            let shown = if dev.is_empty() { "none" } else { &dev };
            v.differ(Field::BindToDevice, shown, want);
        }
    }
}

/// Compares a special entry with the held fd: a character device or regular file, at the
/// path, opened as declared.
fn special(
    v: &mut Verdict,
    e: &Entry,
    held: &HeldFd,
    info: &FdInfo,
    (path, writable): (&Path, bool),
) {
    let at = match &info.kind {
        Kind::File(p, _) => p.clone(),
        Kind::Other(link) if link.starts_with('/') => std::path::PathBuf::from(link),
        _ => return v.differ(Field::Kind, kind_of(info), "special"),
    };
    if !same_path(v, e, (&at, path), info.inode) {
        return;
    }
    if let Ok(flags) = fcntl(held.fd.as_fd(), FcntlArg::F_GETFL) {
        let rw = OFlag::from_bits_truncate(flags) & OFlag::O_ACCMODE == OFlag::O_RDWR;
        same(
            v,
            Field::Open,
            if rw { "read-write" } else { "read" },
            if writable { "read-write" } else { "read" },
        );
    }
}

/// Checks that every declared symlink points at the entry's path.
fn symlinks(v: &mut Verdict, e: &Entry) {
    let Some((target, _)) = e.spec.linked() else {
        return;
    };
    for link in e.symlinks() {
        match nix::fcntl::readlink(link.as_path()) {
            Ok(t) if Path::new(&t) == target => {}
            Ok(t) => v.differ(
                Field::Symlinks,
                format!("{} -> {}", link.display(), Path::new(&t).display()),
                format!("{} -> {}", link.display(), target.display()),
            ),
            Err(_) => v.differ(
                Field::Symlinks,
                format!("{} missing", link.display()),
                format!("{} -> {}", link.display(), target.display()),
            ),
        }
    }
}

/// Compares a netlink entry's family and groups with the held socket's, as `FAMILY:GROUPS`.
fn netlink(v: &mut Verdict, held: &HeldFd, family: &str, protocol: i32, groups: u32) {
    let fd = held.fd.as_fd();
    let held_groups = nix::sys::socket::getsockname::<nix::sys::socket::NetlinkAddr>(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
    )
    .map(|a| a.groups());
    if let (Ok(p), Ok(g)) = (getsockopt(&fd, crate::sys::Protocol), held_groups) {
        if (p, g) != (protocol, groups) {
            let name = crate::config::model::NETLINK_FAMILIES
                .iter()
                .find(|(_, n)| *n == p)
                .map_or_else(|| p.to_string(), |(n, _)| n.to_string());
            v.differ(
                Field::Address,
                format!("{name}:{g}"),
                format!("{family}:{groups}"),
            );
        }
    }
}

/// Compares the [`SocketOptions`] a socket entry declares with the held socket's (the
/// buffers are not: the kernel doubles what is asked, within limits of its own).
fn socket_options(v: &mut Verdict, held: &HeldFd, spec: &FdSpec, o: &SocketOptions) {
    let fd = held.fd.as_fd();
    if let Some(want) = o.pass_packet_info {
        let got = match spec {
            FdSpec::Inet { options, .. } if options.address.is_ipv4() => {
                getsockopt(&fd, sockopt::Ipv4PacketInfo)
            }
            FdSpec::Inet { .. } => getsockopt(&fd, sockopt::Ipv6RecvPacketInfo),
            _ => getsockopt(&fd, crate::sys::NetlinkPktInfo),
        };
        if let Ok(got) = got {
            same(v, Field::PassPacketInfo, yes_no(got), yes_no(want));
        }
    }
    let mut flag = |key, declared: Option<bool>, actual: nix::Result<bool>| {
        if let (Some(d), Ok(a)) = (declared, actual) {
            same(v, key, yes_no(a), yes_no(d));
        }
    };
    flag(
        Field::PassCredentials,
        o.pass_credentials,
        getsockopt(&fd, sockopt::PassCred),
    );
    flag(
        Field::PassSecurity,
        o.pass_security,
        getsockopt(&fd, crate::sys::PassSec),
    );
    if let (Some(want), Ok(p)) = (o.priority, getsockopt(&fd, sockopt::Priority)) {
        same(v, Field::Priority, p, want);
    }
    if let (Some(want), Ok(m)) = (o.mark, getsockopt(&fd, sockopt::Mark)) {
        same(v, Field::Mark, m, want);
    }
    if let (Some(want), Ok(t)) = (o.ip_tos, getsockopt(&fd, sockopt::Ipv4Tos)) {
        same(v, Field::IpTos, t, want);
    }
    if let Some(want) = o.ip_ttl {
        let got = match spec {
            FdSpec::Inet { options, .. } if options.address.is_ipv6() => {
                getsockopt(&fd, sockopt::Ipv6Ttl)
            }
            _ => getsockopt(&fd, sockopt::Ipv4Ttl),
        };
        if let Ok(t) = got {
            same(v, Field::IpTtl, t, want);
        }
    }
    if let Some(want) = o.timestamping {
        let ns = getsockopt(&fd, sockopt::ReceiveTimestampns);
        let us = getsockopt(&fd, sockopt::ReceiveTimestamp);
        if let (Ok(ns), Ok(us)) = (ns, us) {
            let held = match (ns, us) {
                (true, _) => Timestamping::Nano,
                (false, true) => Timestamping::Micro,
                (false, false) => Timestamping::Off,
            };
            same(v, Field::Timestamping, held.name(), want.name());
        }
    }
}

/// Compares a held limit with the declared expiry (see the module's comment).
fn expiry(v: &mut Verdict, declared: Expiry, planned: Tain, held: Tain, now: Tain) {
    let finite = !is_never(held, now);
    let same = match declared {
        Expiry::Never => !finite,
        Expiry::At(_) => {
            let apart = held
                .duration_since(planned)
                .or(planned.duration_since(held));
            finite && apart.is_some_and(|d| d <= TOLERANCE)
        }
        Expiry::After(_) => finite && held <= planned + TOLERANCE,
    };
    if !same {
        v.differ(Field::Expiry, show(held, now), show(planned, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_capacities_are_powers_of_two_pages() {
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .unwrap()
            .unwrap() as i32;
        assert_eq!(pipe_capacity(1), Some(page));
        assert_eq!(pipe_capacity(page * 3), Some(page * 4));
        assert_eq!(pipe_capacity(page * 4), Some(page * 4));
    }

    #[test]
    fn expiries() {
        let now = Tain::now();
        let hour = Duration::from_secs(3600);
        let check = |declared, planned, held| {
            let mut v = Verdict::default();
            expiry(&mut v, declared, planned, held, now);
            v.differs.is_empty()
        };
        let never = Tain::no_limit_from(now);
        assert!(check(Expiry::Never, never, never.add_nanos(3)));
        assert!(!check(Expiry::Never, never, now + hour));
        // A lifetime: any finite limit no later than this run's.
        let life = Expiry::After(hour);
        assert!(check(life, now + hour, now + Duration::from_secs(60)));
        assert!(check(life, now + hour, (now + hour).add_nanos(5)));
        assert!(!check(life, now + hour, now + hour * 2));
        assert!(!check(life, now + hour, never));
        // An instant: within a second.
        let at = Expiry::At(std::time::SystemTime::now());
        assert!(check(at, now + hour, (now + hour).add_nanos(900)));
        assert!(!check(at, now + hour, now + hour + Duration::from_secs(2)));
        assert!(!check(at, now + hour, now));
        let mut v = Verdict::default();
        expiry(&mut v, Expiry::Never, never, now + hour, now);
        assert_eq!(
            v.differs[0].to_string(),
            format!("expiry {} → never", show(now + hour, now))
        );
    }
}
