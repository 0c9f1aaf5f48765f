//! From a parsed unit to config-mode TOML: which `Listen*=` lines become `[[fd]]` entries,
//! which options become which keys on which entries, and a warning for everything else.
//!
//! Options are table-driven (`OPTIONS`): each knows its TOML key, how to read its value
//! and, per entry, whether config mode can carry it, whether it means nothing there (as in
//! systemd: `NoDelay=` on a Unix socket), or whether it is lost (a warning).

use crate::config::model::{Kind, default_id};
use std::collections::HashMap;

use serde::Serialize;
use serde::ser::SerializeMap;
use toml::Value;

use super::specifiers::Specifiers;
use super::unit::{Assignment, Unit};
use super::values::{self, Target};

/// Why a unit cannot be converted at all.
#[derive(Debug)]
pub enum ConvertError {
    /// A value carried over has a specifier that cannot be resolved: its line, and
    /// `Key=value: why`.
    Specifier(usize, String),
    /// The TOML could not be written.
    Toml(toml::ser::Error),
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConvertError::Specifier(line, why) => write!(f, "line {line}: {why}"),
            ConvertError::Toml(e) => write!(f, "unable to write TOML: {e}"),
        }
    }
}

impl std::error::Error for ConvertError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConvertError::Specifier(..) => None,
            ConvertError::Toml(e) => Some(e),
        }
    }
}

impl From<toml::ser::Error> for ConvertError {
    fn from(e: toml::ser::Error) -> Self {
        ConvertError::Toml(e)
    }
}

/// A line of the unit that is not carried over as written, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The line it is about.
    pub line: usize,
    /// What happened to it, e.g. `Accept=yes not carried over: ...`.
    pub message: String,
}

fn lost(line: usize, what: &str, why: impl std::fmt::Display) -> Warning {
    Warning {
        line,
        // Escaped: a unit line may hold a lone CR or other control characters, and the
        // warning is one line on stderr.
        message: comment(&format!("{what} not carried over: {why}")),
    }
}

/// The directive a listen line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListenKind {
    Stream,
    Datagram,
    SeqPacket,
    Fifo,
    Netlink,
    Special,
}

/// One fd the unit declares.
#[derive(Clone, Debug)]
struct Listen {
    line: usize,
    /// `Key=value` as written, for comments and warnings.
    text: String,
    kind: ListenKind,
    target: Target,
    /// The id, once decided.
    id: Option<String>,
}

impl Listen {
    fn is_ip(&self) -> bool {
        matches!(self.target, Target::Ip(_))
    }
    fn is_tcp(&self) -> bool {
        self.is_ip() && self.kind == ListenKind::Stream
    }
    fn is_udp(&self) -> bool {
        self.is_ip() && self.kind == ListenKind::Datagram
    }
    fn is_v6(&self) -> bool {
        matches!(self.target, Target::Ip(a) if a.is_ipv6())
    }
    fn is_unix(&self) -> bool {
        matches!(self.target, Target::Unix(_))
    }
    fn is_netlink(&self) -> bool {
        matches!(self.target, Target::Netlink(..))
    }
    /// A Unix socket bound to a path, or a FIFO: something with a file's mode and owner.
    fn has_path(&self) -> bool {
        match &self.target {
            Target::Unix(p) => !p.starts_with('@'),
            Target::Fifo(_) => true,
            Target::Ip(_) | Target::Netlink(..) | Target::Special(_) => false,
        }
    }
    /// A socket, not a FIFO or special file.
    fn is_socket(&self) -> bool {
        !matches!(self.target, Target::Fifo(_) | Target::Special(_))
    }
    fn is_special(&self) -> bool {
        matches!(self.target, Target::Special(_))
    }
    fn is_connection_socket(&self) -> bool {
        matches!(self.kind, ListenKind::Stream | ListenKind::SeqPacket)
            && !matches!(self.target, Target::Fifo(_) | Target::Special(_))
    }

    /// Config mode's `kind`.
    fn kind(&self) -> Kind {
        match (&self.target, self.kind) {
            (Target::Unix(_), _) => Kind::Unix,
            (Target::Fifo(_), _) => Kind::Fifo,
            (Target::Netlink(..), _) => Kind::Netlink,
            (Target::Special(_), _) => Kind::Special,
            (Target::Ip(_), ListenKind::Datagram) => Kind::Udp,
            (Target::Ip(_), _) => Kind::Tcp,
        }
    }

    /// Config mode's `kind`, as the TOML writes it.
    fn toml_kind(&self) -> &'static str {
        self.kind().name()
    }

    /// The id config mode derives when none is given.
    fn default_id(&self) -> String {
        match &self.target {
            Target::Unix(p) | Target::Fifo(p) | Target::Special(p) => {
                default_id(self.kind(), p).to_string()
            }
            Target::Ip(a) => default_id(self.kind(), &a.to_string()).to_string(),
            Target::Netlink(f, g) => default_id(self.kind(), &format!("{f}:{g}")).to_string(),
        }
    }

    /// The id it gets: the one decided, or the default.
    fn id(&self) -> String {
        self.id.clone().unwrap_or_else(|| self.default_id())
    }

    /// What it is, in words.
    fn noun(&self) -> &'static str {
        match self.toml_kind() {
            "unix" => "Unix socket",
            "fifo" => "FIFO",
            "udp" => "UDP socket",
            "netlink" => "netlink socket",
            "special" => "special file",
            _ => "TCP socket",
        }
    }

    /// The keys that say what and where: kind, id, path or listen, socket type.
    fn base(&self) -> Vec<(&'static str, Value)> {
        let mut t = vec![("kind", Value::from(self.toml_kind()))];
        if let Some(id) = &self.id {
            t.push(("id", id.as_str().into()));
        }
        match &self.target {
            Target::Unix(p) | Target::Fifo(p) | Target::Special(p) => {
                t.push(("path", p.as_str().into()))
            }
            Target::Ip(a) => t.push(("listen", a.to_string().into())),
            Target::Netlink(f, g) => {
                t.push(("family", (*f).into()));
                t.push(("groups", i64::from(*g).into()));
            }
        }
        if self.is_unix() {
            let ty = match self.kind {
                ListenKind::Datagram => "dgram",
                ListenKind::SeqPacket => "seqpacket",
                ListenKind::Stream
                | ListenKind::Fifo
                | ListenKind::Netlink
                | ListenKind::Special => "stream",
            };
            t.push(("socket", ty.into()));
        }
        t
    }
}

/// How an option bears on one entry.
enum Applies {
    /// Config mode has the key for this kind: carry it.
    Carry,
    /// The option means nothing for this kind, to systemd too.
    Ignore,
    /// systemd would apply it, config mode cannot: warn.
    Lost(&'static str),
}

fn carry_if(yes: bool) -> Applies {
    if yes { Applies::Carry } else { Applies::Ignore }
}

/// A socket-unit option config mode knows.
struct Spec {
    directive: &'static str,
    key: &'static str,
    /// The TOML value, `None` for a value that means the default (BindIPv6Only=default).
    read: fn(&str) -> Result<Option<Value>, String>,
    applies: fn(&Listen) -> Applies,
    /// What systemd applies it to, for the warning when none is carried over.
    scope: &'static str,
}

fn read_bool(v: &str) -> Result<Option<Value>, String> {
    values::boolean(v).map(|b| Some(b.into()))
}
fn read_mode(v: &str) -> Result<Option<Value>, String> {
    values::mode(v).map(|m| Some(m.into()))
}
fn read_size(v: &str) -> Result<Option<Value>, String> {
    values::size(v).map(|n| Some(n.into()))
}
fn read_unsigned(v: &str) -> Result<Option<Value>, String> {
    values::unsigned(v).map(|n| Some(n.into()))
}
/// A user or group: a number as an integer, a name as a string (config mode looks it up).
fn read_name(v: &str) -> Result<Option<Value>, String> {
    match values::unsigned(v) {
        Ok(n) => Ok(Some(n.into())),
        Err(_) if !v.contains(char::is_whitespace) => Ok(Some(v.into())),
        Err(_) => Err(format!("{v:?} is not a user or group name")),
    }
}
fn read_int(v: &str) -> Result<Option<Value>, String> {
    match v.parse::<i32>() {
        Ok(n) if n >= 0 => Ok(Some(n.into())),
        _ => Err(format!("{v:?} is not a number from 0 to {}", i32::MAX)),
    }
}
/// As systemd's `socket_timestamping_from_string_harder`: off, us (usec, µs), ns (nsec), or
/// a boolean (yes is us).
fn read_timestamping(v: &str) -> Result<Option<Value>, String> {
    let name = match v {
        "off" => "off",
        "us" | "usec" | "µs" => "us",
        "ns" | "nsec" => "ns",
        _ => match values::boolean(v) {
            Ok(true) => "us",
            Ok(false) => "off",
            Err(_) => return Err(format!("{v:?} is not off, us, ns or a boolean")),
        },
    };
    Ok(Some(name.into()))
}
/// As systemd's `ip_tos_from_string`: a name (low-delay, throughput, reliability,
/// low-cost) or a number from 0 to 255.
fn read_ip_tos(v: &str) -> Result<Option<Value>, String> {
    let n = match v {
        "low-delay" => 0x10,
        "throughput" => 0x08,
        "reliability" => 0x04,
        "low-cost" => 0x02,
        _ => match v.parse::<u8>() {
            Ok(n) => n,
            Err(_) => {
                return Err(format!(
                    "{v:?} is not low-delay, throughput, reliability, low-cost or 0 to 255"
                ));
            }
        },
    };
    Ok(Some(i64::from(n).into()))
}
/// A TTL (hop limit): 1 to 255.
fn read_ip_ttl(v: &str) -> Result<Option<Value>, String> {
    match v.parse::<u8>() {
        Ok(n) if n >= 1 => Ok(Some(i64::from(n).into())),
        _ => Err(format!("{v:?} is not a TTL from 1 to 255")),
    }
}
/// A list of absolute paths, as `Symlinks=` takes.
fn read_paths(v: &str) -> Result<Option<Value>, String> {
    let paths: Vec<Value> = v.split_whitespace().map(Value::from).collect();
    match v.split_whitespace().find(|p| !p.starts_with('/')) {
        Some(p) => Err(format!("{p:?} is not an absolute path")),
        None => Ok(Some(Value::Array(paths))),
    }
}
fn read_word(v: &str) -> Result<Option<Value>, String> {
    if v.contains(char::is_whitespace) || v.contains('/') {
        Err(format!("{v:?} is not a network interface name"))
    } else {
        Ok(Some(v.into()))
    }
}
/// As systemd's `parse_socket_address_bind_ipv6_only_or_bool`: the three words, or a
/// boolean (yes is ipv6-only, no is both).
fn read_bind_ipv6_only(v: &str) -> Result<Option<Value>, String> {
    match v {
        "default" => Ok(None),
        "both" => Ok(Some(false.into())),
        "ipv6-only" => Ok(Some(true.into())),
        _ => values::boolean(v)
            .map(|b| Some(b.into()))
            .map_err(|_| format!("{v:?} is not default, both, ipv6-only or a boolean")),
    }
}

/// systemd's defaults for options config mode would otherwise leave to the umask or to its
/// own default: written out when the unit relies on them (systemd.socket(5)).
const SYSTEMD_DEFAULTS: &[(&str, &str)] = &[("SocketMode", "0666"), ("DirectoryMode", "0755")];

/// Every option carried over, in the order their keys are written.
const OPTIONS: &[Spec] = &[
    Spec {
        directive: "Backlog",
        key: "backlog",
        read: read_unsigned,
        applies: |l| carry_if(l.is_connection_socket()),
        scope: "stream and seqpacket sockets",
    },
    Spec {
        directive: "SocketMode",
        key: "mode",
        read: read_mode,
        applies: |l| carry_if(l.has_path()),
        scope: "Unix sockets with a path, and FIFOs",
    },
    Spec {
        directive: "SocketUser",
        key: "owner",
        read: read_name,
        applies: |l| carry_if(l.has_path()),
        scope: "Unix sockets with a path, and FIFOs",
    },
    Spec {
        directive: "SocketGroup",
        key: "group",
        read: read_name,
        applies: |l| carry_if(l.has_path()),
        scope: "Unix sockets with a path, and FIFOs",
    },
    Spec {
        directive: "DirectoryMode",
        key: "directory-mode",
        read: read_mode,
        applies: |l| carry_if(l.has_path()),
        scope: "Unix sockets with a path, and FIFOs",
    },
    Spec {
        directive: "ReusePort",
        key: "reuse-port",
        read: read_bool,
        applies: |l| carry_if(l.is_ip()),
        scope: "IP sockets",
    },
    Spec {
        directive: "BindIPv6Only",
        key: "ipv6-only",
        read: read_bind_ipv6_only,
        applies: |l| carry_if(l.is_v6()),
        scope: "IPv6 sockets",
    },
    Spec {
        directive: "FreeBind",
        key: "freebind",
        read: read_bool,
        applies: |l| carry_if(l.is_ip()),
        scope: "IP sockets",
    },
    Spec {
        directive: "BindToDevice",
        key: "bind-to-device",
        read: read_word,
        applies: |l| carry_if(l.is_ip()),
        scope: "IP sockets",
    },
    Spec {
        directive: "ReceiveBuffer",
        key: "receive-buffer",
        read: read_size,
        applies: |l| carry_if(l.is_socket()),
        scope: "sockets",
    },
    Spec {
        directive: "SendBuffer",
        key: "send-buffer",
        read: read_size,
        applies: |l| carry_if(l.is_socket()),
        scope: "sockets",
    },
    Spec {
        directive: "KeepAlive",
        key: "keepalive",
        read: read_bool,
        applies: |l| carry_if(l.is_tcp()),
        scope: "TCP sockets",
    },
    Spec {
        directive: "NoDelay",
        key: "nodelay",
        read: read_bool,
        applies: |l| carry_if(l.is_tcp()),
        scope: "TCP sockets",
    },
    Spec {
        directive: "Broadcast",
        key: "broadcast",
        read: read_bool,
        applies: |l| carry_if(l.is_udp()),
        scope: "UDP sockets",
    },
    Spec {
        directive: "PassCredentials",
        key: "pass-credentials",
        read: read_bool,
        // On an IP socket Linux refuses it, and systemd goes on without.
        applies: |l| carry_if(l.is_unix() || l.is_netlink()),
        scope: "Unix and netlink sockets",
    },
    Spec {
        directive: "PassSecurity",
        key: "pass-security",
        read: read_bool,
        applies: |l| carry_if(l.is_unix() || l.is_netlink()),
        scope: "Unix and netlink sockets",
    },
    Spec {
        directive: "PassPacketInfo",
        key: "pass-packet-info",
        read: read_bool,
        // systemd sets it on IP and netlink sockets only.
        applies: |l| carry_if(l.is_ip() || l.is_netlink()),
        scope: "IP and netlink sockets",
    },
    Spec {
        directive: "Priority",
        key: "priority",
        read: read_int,
        applies: |l| carry_if(l.is_socket()),
        scope: "sockets",
    },
    Spec {
        directive: "Mark",
        key: "mark",
        read: read_int,
        applies: |l| carry_if(l.is_socket()),
        scope: "sockets",
    },
    Spec {
        directive: "IPTOS",
        key: "ip-tos",
        read: read_ip_tos,
        applies: |l| carry_if(l.is_ip()),
        scope: "IP sockets",
    },
    Spec {
        directive: "IPTTL",
        key: "ip-ttl",
        read: read_ip_ttl,
        applies: |l| carry_if(l.is_ip()),
        scope: "IP sockets",
    },
    Spec {
        directive: "Timestamping",
        key: "timestamping",
        read: read_timestamping,
        applies: |l| carry_if(l.is_socket()),
        scope: "sockets",
    },
    Spec {
        directive: "Writable",
        key: "writable",
        read: read_bool,
        applies: |l| carry_if(l.is_special()),
        scope: "special files",
    },
    Spec {
        directive: "Symlinks",
        key: "symlinks",
        read: read_paths,
        applies: |l| carry_if(l.has_path()),
        scope: "Unix sockets with a path, and FIFOs",
    },
    Spec {
        directive: "PipeSize",
        key: "buffer-size",
        read: read_size,
        applies: |l| {
            if matches!(l.target, Target::Fifo(_)) {
                Applies::Lost(
                    "config mode's buffer-size is for anonymous pipes (kind = \"pipe\") only",
                )
            } else {
                Applies::Ignore
            }
        },
        scope: "FIFOs",
    },
];

/// Why a known `[Socket]` directive is not carried over; `None` for those config mode
/// has no equivalent of, said in general terms.
fn not_carried(key: &str) -> Option<&'static str> {
    Some(match key {
        "ListenMessageQueue" | "MessageQueueMaxMessages" | "MessageQueueMessageSize" => {
            "config mode has no POSIX message queues"
        }
        "ListenUSBFunction" | "USBFunctionDescriptors" | "USBFunctionStrings" => {
            "config mode has no USB FunctionFS endpoints"
        }
        "Service" => {
            "there is no activation: the service retrieves its fds from the fd-holder by id"
        }
        "MaxConnections" | "MaxConnectionsPerSource" => {
            "it goes with Accept=yes, which is not carried over"
        }
        "SocketProtocol" => "config mode opens plain TCP and UDP sockets only",
        "RemoveOnStop" => {
            "the fd-holder never removes the files of the sockets it holds: remove them in \
             the service's finish script, or leave them for the next run to replace"
        }
        "ExecStartPre" | "ExecStartPost" | "ExecStopPre" | "ExecStopPost" => {
            "config mode runs no commands: in s6, the service's run script (or s6-rc's up) does"
        }
        "RuntimeDirectory" | "RuntimeDirectoryMode" | "RuntimeDirectoryPreserve" => {
            "the directory is the service's: in s6, its run script (or s6-rc's up) makes it; \
             config mode makes a socket's missing parent directories itself"
        }
        _ => return None,
    })
}

/// The `Listen*=` directives and what they open.
fn listen_kind(key: &str) -> Option<ListenKind> {
    Some(match key {
        "ListenStream" => ListenKind::Stream,
        "ListenDatagram" => ListenKind::Datagram,
        "ListenSequentialPacket" => ListenKind::SeqPacket,
        "ListenFIFO" => ListenKind::Fifo,
        "ListenNetlink" => ListenKind::Netlink,
        "ListenSpecial" => ListenKind::Special,
        _ => return None,
    })
}

/// The `Listen*=` directives config mode has no kind for; they share systemd's list.
const OTHER_LISTENS: [&str; 2] = ["ListenMessageQueue", "ListenUSBFunction"];

/// The last value set for an option, where.
struct Setting {
    line: usize,
    text: String,
    value: Option<Value>,
}

/// What the [Socket] section says, gathered in file order.
#[derive(Default)]
struct Gathered {
    listens: Vec<Listen>,
    settings: HashMap<&'static str, Setting>,
    fd_name: Option<(usize, String)>,
    accept: Option<(usize, String)>,
    description: Option<String>,
    warnings: Vec<Warning>,
    /// The first value whose specifiers cannot be resolved.
    unresolved: Option<(usize, String)>,
}

impl Gathered {
    fn socket(&mut self, a: &Assignment, text: &str, spec: &Specifiers) {
        let key = a.key.as_str();
        let is_listen = listen_kind(key).is_some() || OTHER_LISTENS.contains(&key);
        if a.value.is_empty() {
            // An empty assignment resets: every Listen*= shares one list in systemd.
            if is_listen {
                self.listens.clear();
            } else if key == "FileDescriptorName" {
                self.fd_name = None;
            } else if key == "Accept" {
                self.accept = None;
            } else if let Some(spec) = OPTIONS.iter().find(|s| s.directive == key) {
                self.settings.remove(spec.directive);
            }
            return;
        }
        if let Some(why) = not_carried(key) {
            self.warnings.push(lost(a.line, text, why));
            return;
        }
        let known = listen_kind(key).is_some()
            || OPTIONS.iter().any(|s| s.directive == key)
            || key == "FileDescriptorName"
            || key == "Accept";
        if !known {
            return self
                .warnings
                .push(lost(a.line, text, "config mode has no equivalent"));
        }
        let value = match spec.expand(&a.value) {
            Ok(v) => v,
            Err(why) => {
                if self.unresolved.is_none() {
                    self.unresolved = Some((a.line, format!("{text}: {why}")));
                }
                return;
            }
        };
        let result = if let Some(kind) = listen_kind(key) {
            let target = match kind {
                ListenKind::Fifo => values::fifo_path(&value),
                ListenKind::Netlink => values::netlink(&value),
                ListenKind::Special => match values::fifo_path(&value) {
                    Ok(Target::Fifo(p)) => Ok(Target::Special(p)),
                    other => other,
                },
                ListenKind::SeqPacket => match values::socket_address(&value) {
                    Ok(Target::Ip(_)) => Err("seqpacket sockets are Unix sockets only".into()),
                    other => other,
                },
                ListenKind::Stream | ListenKind::Datagram => values::socket_address(&value),
            };
            target.map(|target| {
                self.listens.push(Listen {
                    line: a.line,
                    text: text.to_string(),
                    kind,
                    target,
                    id: None,
                })
            })
        } else if let Some(spec) = OPTIONS.iter().find(|s| s.directive == key) {
            (spec.read)(&value).map(|mut v| {
                // A list (Symlinks=) grows with each line, as systemd's lists do.
                if let (Some(Value::Array(new)), Some(old)) = (&mut v, self.settings.get(key)) {
                    if let Some(Value::Array(before)) = &old.value {
                        let mut all = before.clone();
                        all.append(new);
                        *new = all;
                    }
                }
                self.settings.insert(
                    spec.directive,
                    Setting {
                        line: a.line,
                        text: text.to_string(),
                        value: v,
                    },
                );
            })
        } else if key == "FileDescriptorName" {
            values::fd_name(&value).map(|()| self.fd_name = Some((a.line, value)))
        } else if key == "Accept" {
            values::boolean(&value).map(|yes| {
                self.accept = yes.then(|| (a.line, text.to_string()));
            })
        } else {
            Ok(())
        };
        if let Err(why) = result {
            self.warnings.push(lost(a.line, text, why));
        }
    }

    fn take(&mut self, a: &Assignment, spec: &Specifiers) {
        let text = format!("{}={}", a.key, a.value);
        match (a.section.as_str(), a.key.as_str()) {
            ("Socket", _) => self.socket(a, &text, spec),
            ("Unit", "Description") => self.description = Some(a.value.clone()),
            ("Unit", "Documentation") => {}
            ("Unit", key) if key.starts_with("Condition") || key.starts_with("Assert") => {
                self.warnings.push(lost(
                    a.line,
                    &text,
                    "the fd-holder opens its fds whatever the system is like; in s6, the \
                     run script of the service checks the condition before it starts",
                ))
            }
            ("Unit", _) => self.warnings.push(lost(
                a.line,
                &text,
                "in s6, the supervision tree (s6-rc) orders and links services",
            )),
            ("Install", _) => self.warnings.push(lost(
                a.line,
                &text,
                "in s6, s6-rc bundles decide what starts at boot",
            )),
            (section, _) => self.warnings.push(lost(
                a.line,
                &text,
                format!("the [{section}] section is not about sockets"),
            )),
        }
    }
}

/// One `[[fd]]` table, its keys in the order written.
struct Table(Vec<(&'static str, Value)>);

impl Serialize for Table {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct OneFd<'a> {
    fd: [&'a Table; 1],
}

#[derive(Serialize)]
struct Defaults {
    defaults: Table,
}

/// A comment line's text: control characters escaped, so the comment stays one line.
fn comment(text: &str) -> String {
    crate::text::show_id(text.as_bytes())
}

/// The converted unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversion {
    /// The config-mode TOML; `None` when the unit declares nothing config mode can open.
    pub toml: Option<String>,
    /// What was not carried over, by line.
    pub warnings: Vec<Warning>,
}

/// Converts a parsed unit; `name` (the unit's file name) goes into the comments and
/// gives the specifiers their values (a template's instance ones stay unresolvable).
pub fn convert(unit: &Unit, name: &str) -> Result<Conversion, ConvertError> {
    let spec = Specifiers::new(std::path::Path::new(name), None)
        .map_err(|e| ConvertError::Specifier(0, e.to_string()))?;
    convert_with(unit, name, &spec)
}

/// Converts a parsed unit, resolving specifiers with `spec`.
pub fn convert_with(
    unit: &Unit,
    name: &str,
    spec: &Specifiers,
) -> Result<Conversion, ConvertError> {
    let mut g = Gathered::default();
    for s in &unit.skipped {
        g.warnings.push(lost(s.line, &s.text, s.why));
    }
    for a in &unit.assignments {
        g.take(a, spec);
    }
    if let Some((line, why)) = g.unresolved.take() {
        return Err(ConvertError::Specifier(line, why));
    }
    if let Some((line, text)) = &g.accept {
        g.warnings.push(lost(
            *line,
            text,
            "the fd-holder holds the listening socket; for a service instance per \
             connection, run s6-ipcserverd (Unix) or s6-tcpserverd (TCP) on it, retrieved \
             with s6-fdholder-retrieve",
        ));
    }
    // Two lines that make the same default id would open the same socket twice.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut listens = Vec::new();
    for l in std::mem::take(&mut g.listens) {
        let id = l.default_id();
        match seen.get(&id) {
            Some(first) => g.warnings.push(lost(
                l.line,
                &l.text,
                format!("line {first} already declares {id}"),
            )),
            None => {
                seen.insert(id, l.line);
                listens.push(l);
            }
        }
    }
    // systemd refuses a unit with Symlinks= and other than one path to link to.
    let paths = listens.iter().filter(|l| l.has_path()).count();
    if paths != 1 {
        if let Some(s) = g.settings.remove("Symlinks") {
            g.warnings.push(lost(
                s.line,
                &s.text,
                format!("systemd refuses it with {paths} sockets or FIFOs in the file system"),
            ));
        }
    }
    if let Some((line, name)) = &g.fd_name {
        name_ids(&mut listens, *line, name, &mut g.warnings);
    }
    // FileDescriptorName= names every fd of the unit alike, in LISTEN_FDNAMES: the entries'
    // `name`, which s6-fdholder-activate -c passes on.
    let fd_name = g.fd_name.as_ref().map(|(_, n)| n.clone());
    let tables: Vec<Table> = listens
        .iter()
        .map(|l| {
            let mut t = entry(l, &g.settings, &mut g.warnings);
            if let Some(n) = &fd_name {
                let at = t.iter().position(|(k, _)| *k == "id").map_or(1, |i| i + 1);
                t.insert(at, ("name", n.as_str().into()));
            }
            Table(t)
        })
        .collect();
    for spec in OPTIONS {
        if let Some(s) = g.settings.get(spec.directive) {
            let used = listens
                .iter()
                .any(|l| !matches!((spec.applies)(l), Applies::Ignore));
            if s.value.is_some() && !used {
                g.warnings.push(lost(
                    s.line,
                    &s.text,
                    format!(
                        "systemd applies it to {}, and none is carried over",
                        spec.scope
                    ),
                ));
            }
        }
    }
    g.warnings.sort_by_key(|w| w.line);
    if tables.is_empty() {
        return Ok(Conversion {
            toml: None,
            warnings: g.warnings,
        });
    }
    let mut out = format!(
        "# s6-fdholder-setdump config (s6-fdholder-setdump.toml(5)), converted from {}\n\
         # by s6-fdholder-inspect --from-systemd.\n",
        comment(name)
    );
    if let Some(d) = &g.description {
        out.push_str(&format!("# Description: {}\n", comment(d)));
    }
    out.push('\n');
    // systemd keeps a socket unit's fds for as long as it runs.
    out.push_str(&toml::to_string(&Defaults {
        defaults: Table(vec![("lifetime", "infinite".into())]),
    })?);
    for (l, t) in listens.iter().zip(&tables) {
        out.push_str(&format!(
            "\n# {}:{}: {}\n",
            comment(name),
            l.line,
            comment(&l.text)
        ));
        out.push_str(&toml::to_string(&OneFd { fd: [t] })?);
    }
    Ok(Conversion {
        toml: Some(out),
        warnings: g.warnings,
    })
}

/// Gives every fd an id from FileDescriptorName: the name itself for one fd; `NAME:0`,
/// `NAME:1`... in the unit's order for several (systemd names them all alike and tells
/// them apart by order; a colon is never part of a systemd name).
fn name_ids(listens: &mut [Listen], line: usize, name: &str, warnings: &mut Vec<Warning>) {
    match listens {
        [] => {}
        [one] => one.id = Some(name.to_string()),
        many => {
            for (i, l) in many.iter_mut().enumerate() {
                l.id = Some(format!("{name}:{i}"));
            }
            warnings.push(Warning {
                line,
                message: format!(
                    "FileDescriptorName={name} carried over as the ids {name}:0 to {name}:{}: \
                     systemd gives all {} fds that one name, ids must be unique",
                    many.len() - 1,
                    many.len()
                ),
            });
        }
    }
}

/// One entry's keys: the base, then every option that applies, in [`OPTIONS`] order.
fn entry(
    l: &Listen,
    settings: &HashMap<&'static str, Setting>,
    warnings: &mut Vec<Warning>,
) -> Vec<(&'static str, Value)> {
    let mut t = l.base();
    for spec in OPTIONS {
        let default = SYSTEMD_DEFAULTS
            .iter()
            .find(|(d, _)| *d == spec.directive)
            .map(|(_, v)| Setting {
                line: l.line,
                text: String::new(),
                value: Some(Value::from(*v)),
            });
        let Some(s) = settings.get(spec.directive).or(default.as_ref()) else {
            continue;
        };
        match ((spec.applies)(l), &s.value) {
            (Applies::Carry, Some(v)) => t.push((spec.key, v.clone())),
            (Applies::Lost(why), Some(_)) => warnings.push(lost(
                s.line,
                &s.text,
                format!("{} is a {}; {why}", l.id(), l.noun()),
            )),
            _ => {}
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Converts `socket_section` (the lines after `[Socket]`, from line 2): the `[[fd]]`
    /// tables read back, and the warnings.
    fn conv(socket_section: &str) -> (Vec<toml::Table>, Vec<(usize, String)>) {
        let text = format!("[Socket]\n{socket_section}");
        let c = convert(&super::super::unit::parse(&text), "t.socket").unwrap();
        let fds = c.toml.map_or_else(Vec::new, |t| {
            let doc: toml::Table = t.parse().unwrap();
            assert_eq!(doc["defaults"]["lifetime"].as_str(), Some("infinite"));
            doc["fd"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_table().unwrap().clone())
                .collect()
        });
        let w = c
            .warnings
            .into_iter()
            .map(|w| (w.line, w.message))
            .collect();
        (fds, w)
    }

    fn keys(t: &toml::Table) -> Vec<(&str, String)> {
        t.iter().map(|(k, v)| (k.as_str(), v.to_string())).collect()
    }

    #[test]
    fn listen_forms() {
        let (fds, w) = conv(
            "ListenStream=80\nListenDatagram=[::1]:53\nListenSequentialPacket=@ctl\n\
             ListenFIFO=/run/f\nListenDatagram=/run/d\n",
        );
        assert_eq!(w, []);
        let got: Vec<Vec<(&str, String)>> = fds.iter().map(keys).collect();
        assert_eq!(
            got,
            [
                vec![("kind", "\"tcp\"".into()), ("listen", "\"[::]:80\"".into())],
                vec![
                    ("kind", "\"udp\"".into()),
                    ("listen", "\"[::1]:53\"".into())
                ],
                vec![
                    ("kind", "\"unix\"".into()),
                    ("path", "\"@ctl\"".into()),
                    ("socket", "\"seqpacket\"".into())
                ],
                vec![
                    ("directory-mode", "\"0755\"".into()),
                    ("kind", "\"fifo\"".into()),
                    ("mode", "\"0666\"".into()),
                    ("path", "\"/run/f\"".into())
                ],
                vec![
                    ("directory-mode", "\"0755\"".into()),
                    ("kind", "\"unix\"".into()),
                    ("mode", "\"0666\"".into()),
                    ("path", "\"/run/d\"".into()),
                    ("socket", "\"dgram\"".into())
                ],
            ]
        );
    }

    #[test]
    fn resets_and_last_wins() {
        let (fds, w) = conv(
            "ListenStream=/a\nListenNetlink=route\nListenStream=\nListenStream=/b\n\
             SocketMode=0600\nSocketMode=\nBacklog=5\nBacklog=7\n",
        );
        assert_eq!(w, []);
        assert_eq!(fds.len(), 1);
        assert_eq!(fds[0]["path"].as_str(), Some("/b"));
        // A reset is back to systemd's default, which is written out.
        assert_eq!(fds[0]["mode"].as_str(), Some("0666"));
        assert_eq!(fds[0]["backlog"].as_integer(), Some(7));
    }

    #[test]
    fn bind_ipv6_only() {
        for (v, want) in [
            ("both", Some(false)),
            ("ipv6-only", Some(true)),
            ("default", None),
            ("yes", Some(true)),
            ("no", Some(false)),
            ("On", Some(true)),
        ] {
            let (fds, w) = conv(&format!("ListenStream=8080\nBindIPv6Only={v}\n"));
            assert_eq!(w, [], "{v}");
            assert_eq!(
                fds[0].get("ipv6-only").and_then(|b| b.as_bool()),
                want,
                "{v}"
            );
        }
        let (fds, w) = conv("ListenStream=127.0.0.1:80\nBindIPv6Only=both\n");
        assert_eq!(fds[0].get("ipv6-only"), None);
        assert_eq!(
            w,
            [(
                3,
                "BindIPv6Only=both not carried over: systemd applies it to IPv6 sockets, \
                  and none is carried over"
                    .to_string()
            )]
        );
    }

    #[test]
    fn systemd_defaults_are_written_out() {
        let (fds, w) = conv(
            "ListenStream=/a\nListenStream=@b\nListenStream=9\nListenFIFO=/f\n\
             DirectoryMode=0700\n",
        );
        assert_eq!(w, []);
        let modes: Vec<_> = fds
            .iter()
            .map(|f| {
                (
                    f.get("mode").and_then(|v| v.as_str()),
                    f.get("directory-mode").and_then(|v| v.as_str()),
                )
            })
            .collect();
        assert_eq!(
            modes,
            [
                (Some("0666"), Some("0700")),
                (None, None),
                (None, None),
                (Some("0666"), Some("0700")),
            ]
        );
        let (fds, _) = conv("ListenStream=/a\nSocketMode=0600\nSocketUser=mysql\n");
        assert_eq!(fds[0]["mode"].as_str(), Some("0600"));
        assert_eq!(fds[0]["owner"].as_str(), Some("mysql"));
        assert_eq!(fds[0].get("group"), None);
    }

    #[test]
    fn symlinks_and_netlink() {
        let (fds, w) = conv(
            "ListenStream=/run/a.sock\nListenNetlink=kobject-uevent 1\n\
             Symlinks=/run/b.sock /dev/log\nPassCredentials=yes\nReceiveBuffer=128M\n",
        );
        assert_eq!(w, []);
        assert_eq!(
            fds[0]["symlinks"].to_string(),
            "[\"/run/b.sock\", \"/dev/log\"]"
        );
        assert_eq!(
            keys(&fds[1]),
            [
                ("family", "\"kobject-uevent\"".to_string()),
                ("groups", "1".into()),
                ("kind", "\"netlink\"".into()),
                ("pass-credentials", "true".into()),
                ("receive-buffer", "134217728".into()),
            ]
        );
        let (fds, w) = conv("ListenSpecial=/dev/rfkill\nWritable=yes\n");
        assert_eq!(w, []);
        assert_eq!(
            keys(&fds[0]),
            [
                ("kind", "\"special\"".to_string()),
                ("path", "\"/dev/rfkill\"".into()),
                ("writable", "true".into()),
            ]
        );
        let (fds, _) = conv("ListenFIFO=/a\nSymlinks=/b\nSymlinks=/c /d\n");
        assert_eq!(fds[0]["symlinks"].to_string(), "[\"/b\", \"/c\", \"/d\"]");
        let (fds, w) = conv("ListenFIFO=/a\nListenFIFO=/b\nSymlinks=/c\n");
        assert_eq!(fds[0].get("symlinks"), None);
        assert!(w[0].1.contains("systemd refuses it with 2"), "{w:?}");
    }

    #[test]
    fn conditions_are_not_ordering() {
        let u = super::super::unit::parse(
            "[Unit]\nConditionPathExists=/x\nAfter=a.service\n[Socket]\nListenFIFO=/f\n",
        );
        let w = convert(&u, "t.socket").unwrap().warnings;
        assert!(w[0].message.contains("checks the condition"), "{w:?}");
        assert!(w[1].message.contains("orders"), "{w:?}");
    }

    #[test]
    fn ids_stay_unique() {
        let (fds, w) = conv("ListenStream=/a\nListenStream=/a\n");
        assert_eq!(fds.len(), 1);
        assert_eq!(
            w,
            [(
                3,
                "ListenStream=/a not carried over: line 2 already declares unix:/a".to_string()
            )]
        );
        let (fds, w) = conv("ListenStream=/a\nFileDescriptorName=web\n");
        assert_eq!((fds[0]["id"].as_str(), w.len()), (Some("web"), 0));
        assert_eq!(fds[0]["name"].as_str(), Some("web"));
        let (fds, w) = conv("ListenStream=/a\nListenStream=9\nFileDescriptorName=web\n");
        let ids: Vec<_> = fds.iter().map(|f| f["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["web:0", "web:1"]);
        let names: Vec<_> = fds.iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["web", "web"]);
        assert_eq!(w[0].0, 4);
        let (fds, w) = conv("ListenStream=/a\nFileDescriptorName=a:b\n");
        assert_eq!((fds[0].get("id"), w[0].0), (None, 3));
    }

    #[test]
    fn options_go_where_config_mode_has_them() {
        let (fds, w) = conv(
            "ListenStream=/u\nListenStream=127.0.0.1:1\nReceiveBuffer=1K\nNoDelay=yes\n\
             SocketMode=600\nBroadcast=yes\n",
        );
        assert_eq!(fds[0]["receive-buffer"].as_integer(), Some(1024));
        assert_eq!(fds[0]["mode"].as_str(), Some("0600"));
        assert_eq!(fds[1]["receive-buffer"].as_integer(), Some(1024));
        assert_eq!(fds[1]["nodelay"].as_bool(), Some(true));
        assert_eq!(fds[1].get("mode"), None);
        assert_eq!(
            w,
            [(
                7,
                "Broadcast=yes not carried over: systemd applies it to UDP sockets, and \
                     none is carried over"
                    .to_string()
            )]
        );
        let (fds, w) = conv(
            "ListenDatagram=/u\nListenFIFO=/f\nPassCredentials=yes\nPassSecurity=1\n\
             Priority=6\nMark=7\nTimestamping=nsec\n",
        );
        assert_eq!(w, []);
        let want = [
            ("pass-credentials", "true"),
            ("pass-security", "true"),
            ("priority", "6"),
            ("mark", "7"),
            ("timestamping", "\"ns\""),
        ];
        for (k, v) in want {
            assert_eq!(fds[0][k].to_string(), v, "{k}");
            assert_eq!(fds[1].get(k), None, "{k}");
        }
        let (fds, w) = conv("ListenDatagram=127.0.0.1:9\nIPTOS=low-delay\nIPTTL=3\n");
        assert_eq!(w, []);
        assert_eq!(fds[0]["ip-tos"].as_integer(), Some(16));
        assert_eq!(fds[0]["ip-ttl"].as_integer(), Some(3));
        for (v, want) in [("us", "us"), ("µs", "us"), ("yes", "us"), ("no", "off")] {
            let (fds, _) = conv(&format!("ListenStream=/u\nTimestamping={v}\n"));
            assert_eq!(fds[0]["timestamping"].as_str(), Some(want), "{v}");
        }
    }

    #[test]
    fn what_cannot_be_read() {
        let (fds, w) = conv(
            "ListenStream=run/a\nListenSequentialPacket=1.2.3.4:5\nListenFIFO=f\n\
             Backlog=lots\nAccept=yes\nFoo=%H\n[Other]\nX=1\n",
        );
        assert!(fds.is_empty());
        let lines: Vec<usize> = w.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 9]);
        assert!(w[4].1.starts_with("Accept=yes not carried over: "), "{w:?}");
        assert_eq!(
            w[5].1,
            "Foo=%H not carried over: config mode has no equivalent"
        );
        assert!(w[6].1.contains("[Other]"), "{w:?}");
    }

    #[test]
    fn specifiers_resolve_or_stop_the_conversion() {
        let (fds, w) = conv("ListenStream=%t/%N.sock\nSocketUser=%u\n");
        assert_eq!(w, []);
        assert_eq!(fds[0]["path"].as_str(), Some("/run/t.sock"));
        assert_eq!(fds[0]["owner"].as_str(), Some("root"));
        let u = super::super::unit::parse("[Socket]\nListenStream=/a\nListenStream=/run/%i\n");
        match convert(&u, "t@.socket") {
            Err(ConvertError::Specifier(3, why)) => assert_eq!(
                why,
                "ListenStream=/run/%i: the specifier %i needs the instance of this template \
                 unit: give it with --instance NAME"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn description_is_one_comment_line() {
        let u = super::super::unit::parse("[Unit]\nDescription=a\u{7}b\n[Socket]\nListenFIFO=/f\n");
        let toml = convert(&u, "t.socket").unwrap().toml.unwrap();
        assert!(toml.contains("\n# Description: a\\u{7}b\n"), "{toml}");
        assert!(
            toml.contains("\n# t.socket:4: ListenFIFO=/f\n[[fd]]\n"),
            "{toml}"
        );
    }
}
