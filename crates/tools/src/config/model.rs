//! The validated domain of config mode: what a file declares once [`super::load`] has
//! accepted it. Every later stage (plan, reconcile, open, apply) reads these types and
//! nothing of the TOML text; the names of the kinds and the default-id convention live here.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use nix::unistd::{Gid, Uid};
use serde::Deserialize;

use super::diag::Place;

/// The kinds of fd a config can declare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Unix domain socket, bound (and listening unless datagram).
    Unix,
    /// A listening TCP socket.
    Tcp,
    /// A bound UDP socket.
    Udp,
    /// A named pipe.
    Fifo,
    /// A regular file.
    File,
    /// An anonymous pipe: two fds.
    Pipe,
    /// A netlink socket, bound to multicast groups.
    Netlink,
    /// A character device or regular file that exists, opened as it is (systemd's
    /// `ListenSpecial=`).
    Special,
}

/// The netlink families config mode opens, by systemd's names (`ListenNetlink=`), with
/// their protocol numbers.
pub const NETLINK_FAMILIES: &[(&str, i32)] = &[
    ("route", 0),
    ("usersock", 2),
    ("inet-diag", 4),
    ("nflog", 5),
    ("selinux", 7),
    ("iscsi", 8),
    ("audit", 9),
    ("fib-lookup", 10),
    ("netfilter", 12),
    ("ip6-fw", 13),
    ("dnrtmsg", 14),
    ("kobject-uevent", 15),
    ("generic", 16),
    ("scsitransport", 18),
    ("rdma", 20),
    ("crypto", 21),
];

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 8] = [
        Kind::Unix,
        Kind::Tcp,
        Kind::Udp,
        Kind::Fifo,
        Kind::File,
        Kind::Pipe,
        Kind::Netlink,
        Kind::Special,
    ];

    /// The kind's name, as in the file and in default ids.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Unix => "unix",
            Kind::Tcp => "tcp",
            Kind::Udp => "udp",
            Kind::Fifo => "fifo",
            Kind::File => "file",
            Kind::Pipe => "pipe",
            Kind::Netlink => "netlink",
            Kind::Special => "special",
        }
    }
}

/// A Unix socket's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketType {
    /// `SOCK_STREAM`.
    Stream,
    /// `SOCK_DGRAM`.
    Dgram,
    /// `SOCK_SEQPACKET`.
    Seqpacket,
}

/// How a `file` entry is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpenMode {
    /// `O_RDONLY`.
    Read,
    /// `O_WRONLY`.
    Write,
    /// `O_WRONLY | O_APPEND`.
    Append,
    /// `O_RDWR`.
    ReadWrite,
}

/// What plans, reports and `-v` call an fd: its kind, with a unix socket's type and a
/// pipe's end. Declared entries and held fds read back are named with the same words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdKind {
    /// A unix stream socket.
    UnixStream,
    /// A unix datagram socket.
    UnixDgram,
    /// A unix seqpacket socket.
    UnixSeqpacket,
    /// A TCP socket.
    Tcp,
    /// A UDP socket.
    Udp,
    /// A named pipe.
    Fifo,
    /// A regular file.
    File,
    /// A netlink socket.
    Netlink,
    /// A special file (`ListenSpecial=`).
    Special,
    /// A pipe's read end.
    PipeRead,
    /// A pipe's write end.
    PipeWrite,
}

impl FdKind {
    /// Its name: `unix-stream`, `tcp`, `pipe-read`...
    pub fn name(self) -> &'static str {
        match self {
            FdKind::UnixStream => "unix-stream",
            FdKind::UnixDgram => "unix-dgram",
            FdKind::UnixSeqpacket => "unix-seqpacket",
            FdKind::Tcp => "tcp",
            FdKind::Udp => "udp",
            FdKind::Fifo => "fifo",
            FdKind::File => "file",
            FdKind::Netlink => "netlink",
            FdKind::Special => "special",
            FdKind::PipeRead => "pipe-read",
            FdKind::PipeWrite => "pipe-write",
        }
    }

    /// A unix socket of this type.
    pub fn unix(socket: SocketType) -> FdKind {
        match socket {
            SocketType::Stream => FdKind::UnixStream,
            SocketType::Dgram => FdKind::UnixDgram,
            SocketType::Seqpacket => FdKind::UnixSeqpacket,
        }
    }
}

/// The id an entry gets when it names none: its kind and address, `KIND:ADDRESS`
/// (`unix:/run/a.sock`, `unix:@name`, `tcp:[::1]:80`, `fifo:/run/f`, `file:/var/log/x`).
pub fn default_id(kind: Kind, address: &str) -> Rc<str> {
    // Put together in a buffer kept for the next entry, then copied once into the one
    // allocation the id keeps (its plan item and report row share it): a String of its
    // own was one allocation an entry more, and a stack buffer turned into a `str` cost a
    // UTF-8 check as long again as the copy.
    thread_local! {
        static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    SCRATCH.with_borrow_mut(|id| {
        id.clear();
        id.push_str(kind.name());
        id.push(':');
        id.push_str(address);
        Rc::from(id.as_str())
    })
}

/// The longest path a Unix socket address can hold (`sun_path` less its NUL).
pub const UNIX_PATH_MAX: usize = 107;
/// The longest interface name `SO_BINDTODEVICE` takes (`IFNAMSIZ` less its NUL).
pub const IFNAME_MAX: usize = 15;
/// The default mode of parent directories this run creates.
pub const DEFAULT_DIRECTORY_MODE: u32 = 0o755;

/// Which `[[fd]]` entry of a [`Config`], by its place in the file: in 4 bytes, as a plan
/// item has one (a file of 2^32 entries would not fit in memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryIdx(u32);

impl EntryIdx {
    /// The `i`-th entry.
    pub fn new(i: usize) -> EntryIdx {
        EntryIdx(i as u32)
    }

    /// Its place in the file.
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

impl std::ops::Index<EntryIdx> for Vec<Entry> {
    type Output = Entry;
    fn index(&self, i: EntryIdx) -> &Entry {
        &self[i.get()]
    }
}

/// A validated config file.
#[derive(Clone, Debug)]
pub struct Config {
    /// The daemon's socket, from the file's `fdholder` key.
    pub fdholder: Option<PathBuf>,
    /// The entries, in file order.
    pub entries: Vec<Entry>,
}

/// One validated `[[fd]]` entry. Its index and place in 4 bytes each, as an entry is
/// most of a large run's memory (what past 4 GiB of text becomes: [`Entry::new`]).
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its index among the file's `[[fd]]` tables: [`Entry::index`].
    index: u32,
    /// Where its table (its `[[fd]]` header) starts in the text: [`Entry::span`].
    start: u32,
    /// What to open.
    pub spec: FdSpec,
    /// What most entries leave out; `None` where it sets none of it. Apart, as an entry's
    /// size is most of a large run's memory, and shared: the entries made alike from one
    /// (`load::validate::like`) have the same. Read through [`Entry::expiry`],
    /// [`Entry::name`], [`Entry::sockopts`] and [`Entry::symlinks`].
    pub extra: Option<Rc<Extra>>,
}

/// What an [`Entry`] may add to its kind and its address.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extra {
    /// How long the daemon holds it.
    pub expiry: Expiry,
    /// Its `name`, for `LISTEN_FDNAMES`, if the file gives one.
    pub name: Option<Box<str>>,
    /// Socket options of a unix, tcp, udp or netlink entry; `None` where none is set.
    pub sockopts: Option<SocketOptions>,
    /// Symbolic links to a unix socket's path or a FIFO, made beside it.
    pub symlinks: Box<[PathBuf]>,
}

impl Extra {
    /// `extra` to share, or `None` where it holds nothing.
    pub fn shared(extra: Extra) -> Option<Rc<Extra>> {
        (extra != Extra::default()).then(|| Rc::new(extra))
    }
}

/// The socket options of an entry that sets none.
pub static NO_SOCKET_OPTIONS: SocketOptions = SocketOptions {
    pass_credentials: None,
    pass_security: None,
    priority: None,
    pass_packet_info: None,
    mark: None,
    ip_tos: None,
    ip_ttl: None,
    timestamping: None,
    receive_buffer: None,
    send_buffer: None,
};

impl Entry {
    /// The `index`-th entry of its file, its table starting where `span` does. An index or
    /// an offset past 4 GiB is kept as 4 GiB less one: a message about an entry whose table
    /// starts past the first 4 GiB of its file points there instead.
    pub fn new(index: usize, span: Range<usize>, spec: FdSpec, extra: Option<Rc<Extra>>) -> Entry {
        let small = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Entry {
            index: small(index),
            start: small(span.start),
            spec,
            extra,
        }
    }

    /// Its index among the file's `[[fd]]` tables.
    pub fn index(&self) -> usize {
        self.index as usize
    }

    /// Where its table starts, as a span for messages about it (which show where a span
    /// starts, and no more).
    pub fn span(&self) -> Range<usize> {
        let start = self.start as usize;
        start..start
    }

    /// How long the daemon holds it.
    pub fn expiry(&self) -> Expiry {
        self.extra.as_ref().map_or(Expiry::Never, |x| x.expiry)
    }

    /// Its socket options, every one `None` where it sets none.
    pub fn sockopts(&self) -> &SocketOptions {
        self.set_sockopts().unwrap_or(&NO_SOCKET_OPTIONS)
    }

    /// Its socket options, if it sets any.
    pub fn set_sockopts(&self) -> Option<&SocketOptions> {
        self.extra.as_ref()?.sockopts.as_ref()
    }

    /// Its `name`, if the file gives one.
    pub fn name(&self) -> Option<&str> {
        self.extra.as_ref()?.name.as_deref()
    }

    /// The symbolic links made beside its socket or FIFO.
    pub fn symlinks(&self) -> &[PathBuf] {
        self.extra.as_ref().map_or(&[], |x| &x.symlinks)
    }

    /// How messages name it: `fd[I] (KIND:ADDRESS)`, the address as written. Made only
    /// for a message: a run of 10 000 entries need not make 10 000 labels.
    pub fn place(&self) -> Place {
        let kind = self.spec.kind();
        let label = match &self.spec {
            FdSpec::Inet { options, .. } => options.written.to_string(),
            // Written with no address (a netlink entry has `family`, not `path`).
            FdSpec::Pipe { .. } | FdSpec::Netlink { .. } => kind.name().to_string(),
            // A path or `@name`, read from the file (so UTF-8), is the address as written.
            _ => [kind.name(), ":", &self.address()].concat(),
        };
        Place::Fd {
            index: self.index(),
            label,
        }
    }

    /// Where its fd lives: a path, `@name`, `IP:PORT`, `FAMILY:GROUPS`, or `-` for a pipe.
    pub fn address(&self) -> String {
        match &self.spec {
            FdSpec::Unix {
                address: UnixAddress::Path(p),
                ..
            } => p.to_string_lossy().into_owned(),
            FdSpec::Fifo { path: p, .. }
            | FdSpec::File { path: p, .. }
            | FdSpec::Special { path: p, .. } => p.to_string_lossy().into_owned(),
            FdSpec::Unix {
                address: UnixAddress::Abstract(name),
                ..
            } => format!("@{}", String::from_utf8_lossy(name)),
            FdSpec::Inet { options, .. } => options.address.to_string(),
            FdSpec::Netlink { family, groups, .. } => format!("{family}:{groups}"),
            FdSpec::Pipe { .. } => "-".to_string(),
        }
    }
}

/// When the daemon lets go of an fd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Expiry {
    /// Never ("infinite", the default).
    #[default]
    Never,
    /// This long after the run starts.
    After(Duration),
    /// At this instant.
    At(SystemTime),
}

/// Permission bits, owner and group for what an entry creates on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Perms {
    /// Permission bits (at most 0777); `None`: as the process umask leaves them.
    pub mode: Option<u32>,
    /// The owner to give it.
    pub owner: Option<Uid>,
    /// The group to give it.
    pub group: Option<Gid>,
    /// Permission bits for parent directories this run creates.
    pub directory_mode: u32,
}

/// Where a Unix socket is bound.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum UnixAddress {
    /// A path in the file system.
    Path(SocketPath),
    /// A name in Linux's abstract namespace (without the `@`).
    Abstract(Box<[u8]>),
}

/// A unix socket's path: a [`Path`] (through `Deref`), kept in an allocation of its own, or
/// in its id's where the id is `unix:PATH`, as most are: one allocation an entry fewer.
#[derive(Clone)]
pub struct SocketPath(Held);

/// Where a [`SocketPath`] keeps its bytes.
#[derive(Clone)]
enum Held {
    Own(PathBuf),
    /// An id `unix:PATH`.
    InId(Rc<str>),
}

/// What an id holding its socket's path starts with.
const UNIX_ID_PREFIX: &str = "unix:";

impl SocketPath {
    /// The path `p`.
    pub fn new(p: PathBuf) -> SocketPath {
        SocketPath(Held::Own(p))
    }

    /// The path that the id `unix:PATH` ends with, kept in the id's allocation; `None` for
    /// another id.
    pub fn in_id(id: &Rc<str>) -> Option<SocketPath> {
        id.starts_with(UNIX_ID_PREFIX)
            .then(|| SocketPath(Held::InId(id.clone())))
    }

    /// The path, to change it, where it has an allocation of its own.
    pub fn own_mut(&mut self) -> Option<&mut PathBuf> {
        match &mut self.0 {
            Held::Own(p) => Some(p),
            Held::InId(_) => None,
        }
    }
}

impl std::ops::Deref for SocketPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        match &self.0 {
            Held::Own(p) => p,
            Held::InId(id) => Path::new(id.get(UNIX_ID_PREFIX.len()..).unwrap_or_default()),
        }
    }
}

/// As the path: where the bytes are kept says nothing.
impl std::fmt::Debug for SocketPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Path::fmt(self, f)
    }
}

impl PartialEq for SocketPath {
    fn eq(&self, other: &SocketPath) -> bool {
        **self == **other
    }
}

impl Eq for SocketPath {}

impl std::hash::Hash for SocketPath {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        Path::hash(self, h)
    }
}

impl UnixAddress {
    /// What two addresses are told apart by, equal exactly when the addresses are
    /// (paths compare by component, as [`Path`] does: `/a//b` is `/a/b`),
    /// for hashing as bytes: a path's hash by component costs ten times as much.
    pub fn key(&self) -> (bool, Cow<'_, [u8]>) {
        use std::os::unix::ffi::OsStrExt;
        let p = match self {
            UnixAddress::Abstract(name) => return (false, Cow::Borrowed(name)),
            UnixAddress::Path(p) => p.as_os_str().as_bytes(),
        };
        // Only an empty or a `.` component is written otherwise than its components say.
        // (Most paths have no `/` followed by `/` or `.`: one quick look settles them.)
        let suspect = slash_then_slash_or_dot(p);
        let plain = p.first() == Some(&b'/')
            && p.last() != Some(&b'/')
            && (!suspect || {
                let mut parts = p[1..].split(|&c| c == b'/');
                parts.all(|c| !c.is_empty() && c != b".")
            });
        if plain {
            return (true, Cow::Borrowed(p));
        }
        let mut key = Vec::with_capacity(p.len());
        for c in std::path::Path::new(std::ffi::OsStr::from_bytes(p)).components() {
            if !key.is_empty() && key != b"/" {
                key.push(b'/');
            }
            key.extend_from_slice(c.as_os_str().as_bytes());
        }
        (true, Cow::Owned(key))
    }
}

/// Whether `/` is followed by `/` or `.` anywhere in `p`: a look with no early exit,
/// which the compiler does several bytes at a time.
fn slash_then_slash_or_dot(p: &[u8]) -> bool {
    (p.iter().zip(p.get(1..).unwrap_or_default())).fold(false, |seen, (&a, &b)| {
        seen | ((a == b'/') & ((b == b'/') | (b == b'.')))
    })
}

/// TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A listening TCP socket.
    Tcp,
    /// A bound UDP socket.
    Udp,
}

/// Where a tcp or udp entry is bound, and its socket options; `None` leaves the kernel's
/// default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InetOptions {
    /// Where it is bound.
    pub address: SocketAddr,
    /// Its kind and `listen` as written (`tcp:[fe80::1%lo]:80`), for messages
    /// ([`Entry::place`]): the address read from it may say it otherwise.
    pub written: Box<str>,
    /// SO_REUSEADDR (default true).
    pub reuse_address: bool,
    /// SO_REUSEPORT.
    pub reuse_port: Option<bool>,
    /// IPV6_V6ONLY (IPv6 only).
    pub ipv6_only: Option<bool>,
    /// IP_FREEBIND.
    pub freebind: Option<bool>,
    /// SO_BINDTODEVICE.
    pub bind_to_device: Option<String>,
    /// SO_RCVBUF.
    pub receive_buffer: Option<usize>,
    /// SO_SNDBUF.
    pub send_buffer: Option<usize>,
    /// SO_KEEPALIVE (tcp).
    pub keepalive: Option<bool>,
    /// TCP_NODELAY (tcp).
    pub nodelay: Option<bool>,
    /// SO_BROADCAST (udp).
    pub broadcast: Option<bool>,
}

/// Socket options any socket entry (unix, tcp, udp) can set, after it is bound; `None`
/// leaves the kernel's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// SO_PASSCRED: SCM_CREDENTIALS with every message received.
    pub pass_credentials: Option<bool>,
    /// SO_PASSSEC: SCM_SECURITY with every message received.
    pub pass_security: Option<bool>,
    /// SO_PRIORITY.
    pub priority: Option<i32>,
    /// IP_PKTINFO, IPV6_RECVPKTINFO or NETLINK_PKTINFO, by family (tcp, udp, netlink).
    pub pass_packet_info: Option<bool>,
    /// SO_MARK.
    pub mark: Option<u32>,
    /// IP_TOS (tcp, udp).
    pub ip_tos: Option<i32>,
    /// IP_TTL, or IPV6_UNICAST_HOPS on IPv6 (tcp, udp).
    pub ip_ttl: Option<i32>,
    /// SO_TIMESTAMP or SO_TIMESTAMPNS.
    pub timestamping: Option<Timestamping>,
    /// SO_RCVBUF of a unix socket (a tcp or udp one has it in [`InetOptions`]).
    pub receive_buffer: Option<usize>,
    /// SO_SNDBUF of a unix socket.
    pub send_buffer: Option<usize>,
}

/// Which receive timestamps a socket's messages carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timestamping {
    /// None.
    Off,
    /// SO_TIMESTAMP: microseconds.
    Micro,
    /// SO_TIMESTAMPNS: nanoseconds.
    Nano,
}

impl Timestamping {
    /// Its name in the config file and in plans.
    pub fn name(self) -> &'static str {
        match self {
            Timestamping::Off => "off",
            Timestamping::Micro => "us",
            Timestamping::Nano => "ns",
        }
    }
}

/// What one entry opens, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FdSpec {
    /// A Unix socket, bound, and listening unless datagram.
    Unix {
        /// The id.
        id: Rc<str>,
        /// Where it is bound.
        address: UnixAddress,
        /// Its type.
        socket: SocketType,
        /// The listen backlog (not for dgram).
        backlog: i32,
        /// Mode, owner and group of the socket file (shared: the entries that take them
        /// from `[defaults]` have the same, and an entry is most of a run's memory).
        perms: Rc<Perms>,
    },
    /// A TCP or UDP socket.
    Inet {
        /// The id.
        id: Rc<str>,
        /// TCP or UDP.
        transport: Transport,
        /// The listen backlog (tcp).
        backlog: i32,
        /// Where it is bound, the options set before bind, and its address as written
        /// (boxed: the other kinds are half the size, and most entries are of another).
        options: Box<InetOptions>,
    },
    /// A named pipe, opened read-write and non-blocking.
    Fifo {
        /// The id.
        id: Rc<str>,
        /// Its path.
        path: PathBuf,
        /// Mode, owner and group if this run creates it.
        perms: Rc<Perms>,
    },
    /// A regular file.
    File {
        /// The id.
        id: Rc<str>,
        /// Its path.
        path: PathBuf,
        /// How it is opened.
        open: OpenMode,
        /// Create it if absent.
        create: bool,
        /// Truncate it once everything else has worked.
        truncate: bool,
        /// Mode, owner and group if this run creates it.
        perms: Rc<Perms>,
    },
    /// A raw netlink socket, bound (the kernel picks its port id).
    Netlink {
        /// The id.
        id: Rc<str>,
        /// The family's name, as in [`NETLINK_FAMILIES`].
        family: &'static str,
        /// Its protocol number.
        protocol: i32,
        /// The multicast groups it joins, as a bit mask (`nl_groups`).
        groups: u32,
    },
    /// A character device or regular file, opened read-only or read-write, non-blocking.
    Special {
        /// The id.
        id: Rc<str>,
        /// Its path.
        path: PathBuf,
        /// Opened read-write rather than read-only.
        writable: bool,
    },
    /// An anonymous pipe: two fds.
    Pipe {
        /// The read end's id.
        read_id: Rc<str>,
        /// The write end's id.
        write_id: Rc<str>,
        /// F_SETPIPE_SZ, if asked.
        buffer_size: Option<i32>,
    },
}

impl FdSpec {
    /// The kind the file declared.
    pub fn kind(&self) -> Kind {
        match self {
            FdSpec::Unix { .. } => Kind::Unix,
            FdSpec::Inet {
                transport: Transport::Tcp,
                ..
            } => Kind::Tcp,
            FdSpec::Inet {
                transport: Transport::Udp,
                ..
            } => Kind::Udp,
            FdSpec::Fifo { .. } => Kind::Fifo,
            FdSpec::File { .. } => Kind::File,
            FdSpec::Pipe { .. } => Kind::Pipe,
            FdSpec::Netlink { .. } => Kind::Netlink,
            FdSpec::Special { .. } => Kind::Special,
        }
    }

    /// The path the entry is at, to set it, for a unix socket with a path, a FIFO, a file or
    /// a special file; `None` for the kinds with no path, and for a unix socket whose path
    /// is kept in its id ([`SocketPath::in_id`]), which cannot be set apart from the id.
    pub fn own_path_mut(&mut self) -> Option<&mut PathBuf> {
        match self {
            FdSpec::Unix {
                address: UnixAddress::Path(path),
                ..
            } => path.own_mut(),
            FdSpec::Fifo { path, .. }
            | FdSpec::File { path, .. }
            | FdSpec::Special { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The path a unix socket is bound at; `None` for an abstract one and the other kinds.
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            FdSpec::Unix {
                address: UnixAddress::Path(path),
                ..
            } => Some(path),
            _ => None,
        }
    }

    /// The path an entry's `symlinks` point at, with its permissions (for the directories
    /// made on the way): a unix socket's path or a FIFO's; `None` for the other kinds.
    pub fn linked(&self) -> Option<(&Path, &Perms)> {
        match self {
            FdSpec::Unix {
                address: UnixAddress::Path(path),
                perms,
                ..
            } => Some((path, perms)),
            FdSpec::Fifo { path, perms, .. } => Some((path, perms)),
            _ => None,
        }
    }

    /// This spec at another path, under another id: `None` for the kinds with no path
    /// (and an abstract unix socket). A unix socket's path is kept in its id's allocation
    /// where the id is `unix:PATH`.
    pub fn with_own(&self, path: &str, id: Rc<str>) -> Option<FdSpec> {
        let own = || PathBuf::from(path);
        Some(match self {
            FdSpec::Unix {
                address: UnixAddress::Path(_),
                socket,
                backlog,
                perms,
                ..
            } => FdSpec::Unix {
                address: UnixAddress::Path(
                    SocketPath::in_id(&id)
                        .filter(|p| p.as_os_str() == path)
                        .unwrap_or_else(|| SocketPath::new(own())),
                ),
                id,
                socket: *socket,
                backlog: *backlog,
                perms: Rc::clone(perms),
            },
            FdSpec::Fifo { perms, .. } => FdSpec::Fifo {
                id,
                path: own(),
                perms: Rc::clone(perms),
            },
            FdSpec::File {
                open,
                create,
                truncate,
                perms,
                ..
            } => FdSpec::File {
                id,
                path: own(),
                open: *open,
                create: *create,
                truncate: *truncate,
                perms: Rc::clone(perms),
            },
            FdSpec::Special { writable, .. } => FdSpec::Special {
                id,
                path: own(),
                writable: *writable,
            },
            _ => return None,
        })
    }

    /// The ids this entry's fds are held under: two for a pipe.
    pub fn ids(&self) -> impl Iterator<Item = &Rc<str>> {
        let (one, two) = self.end_ids();
        std::iter::once(one).chain(two)
    }

    /// The id of its fd (a pipe's read end's), and a pipe's write end's.
    pub fn end_ids(&self) -> (&Rc<str>, Option<&Rc<str>>) {
        match self {
            FdSpec::Unix { id, .. }
            | FdSpec::Inet { id, .. }
            | FdSpec::Fifo { id, .. }
            | FdSpec::File { id, .. }
            | FdSpec::Netlink { id, .. }
            | FdSpec::Special { id, .. } => (id, None),
            FdSpec::Pipe {
                read_id, write_id, ..
            } => (read_id, Some(write_id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quick look for `/` followed by `/` or `.` finds every such pair, at every place.
    #[test]
    fn the_quick_look_at_pairs_sees_every_one() {
        let naive = |p: &[u8]| {
            p.windows(2)
                .any(|w| w[0] == b'/' && matches!(w[1], b'/' | b'.'))
        };
        for len in 0..50 {
            for at in 0..len {
                for (a, b) in [(b'/', b'/'), (b'/', b'.'), (b'.', b'/'), (b'/', b'x')] {
                    let mut p = vec![b'x'; len];
                    p[at] = a;
                    if at + 1 < len {
                        p[at + 1] = b;
                    }
                    assert_eq!(slash_then_slash_or_dot(&p), naive(&p), "{p:?}");
                }
            }
        }
    }

    /// An entry stays as small as it is: the entries are most of a large run's memory.
    #[test]
    fn an_entry_is_72_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 72);
        assert_eq!(std::mem::size_of::<FdSpec>(), 56);
    }

    /// Two addresses have one key exactly when they are equal.
    #[test]
    fn address_keys_agree_with_equality() {
        let paths = [
            "/a/b", "/a//b", "/a/./b", "/a/b/.", "//a/b", "/a/../b", "/b", "/a/b/..", "/./a/b",
            "/a/.b", "/a./b", "/", "/.", "/a/b//",
        ];
        let mut all: Vec<UnixAddress> = paths
            .iter()
            .map(|p| UnixAddress::Path(SocketPath::new(PathBuf::from(p))))
            .collect();
        all.push(UnixAddress::Abstract(Box::from(&b"/a/b"[..])));
        all.push(UnixAddress::Abstract(Box::from(&b"/a//b"[..])));
        for x in &all {
            for y in &all {
                assert_eq!(x == y, x.key() == y.key(), "{x:?} {y:?}");
            }
        }
    }
}
