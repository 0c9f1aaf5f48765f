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

use super::unit::{Assignment, Unit};
use super::values::{self, Target};

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
    /// A Unix socket bound to a path, or a FIFO: something with a file's mode and owner.
    fn has_path(&self) -> bool {
        match &self.target {
            Target::Unix(p) => !p.starts_with('@'),
            Target::Fifo(_) => true,
            Target::Ip(_) => false,
        }
    }
    fn is_connection_socket(&self) -> bool {
        matches!(self.kind, ListenKind::Stream | ListenKind::SeqPacket)
            && !matches!(self.target, Target::Fifo(_))
    }

    /// Config mode's `kind`.
    fn kind(&self) -> Kind {
        match (&self.target, self.kind) {
            (Target::Unix(_), _) => Kind::Unix,
            (Target::Fifo(_), _) => Kind::Fifo,
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
            Target::Unix(p) | Target::Fifo(p) => default_id(self.kind(), p),
            Target::Ip(a) => default_id(self.kind(), &a.to_string()),
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
            Target::Unix(p) | Target::Fifo(p) => t.push(("path", p.as_str().into())),
            Target::Ip(a) => t.push(("listen", a.to_string().into())),
        }
        if self.is_unix() {
            let ty = match self.kind {
                ListenKind::Datagram => "dgram",
                ListenKind::SeqPacket => "seqpacket",
                ListenKind::Stream | ListenKind::Fifo => "stream",
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
fn read_word(v: &str) -> Result<Option<Value>, String> {
    if v.contains(char::is_whitespace) || v.contains('/') {
        Err(format!("{v:?} is not a network interface name"))
    } else {
        Ok(Some(v.into()))
    }
}
fn read_bind_ipv6_only(v: &str) -> Result<Option<Value>, String> {
    match v {
        "default" => Ok(None),
        "both" => Ok(Some(false.into())),
        "ipv6-only" => Ok(Some(true.into())),
        _ => Err(format!("{v:?} is not default, both or ipv6-only")),
    }
}

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
        applies: |l| buffer_applies(l, "config mode sets receive-buffer on tcp and udp only"),
        scope: "sockets",
    },
    Spec {
        directive: "SendBuffer",
        key: "send-buffer",
        read: read_size,
        applies: |l| buffer_applies(l, "config mode sets send-buffer on tcp and udp only"),
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

fn buffer_applies(l: &Listen, why: &'static str) -> Applies {
    if l.is_ip() {
        Applies::Carry
    } else if l.is_unix() {
        Applies::Lost(why)
    } else {
        Applies::Ignore
    }
}

/// Why a known `[Socket]` directive is not carried over; `None` for those config mode
/// has no equivalent of, said in general terms.
fn not_carried(key: &str) -> Option<&'static str> {
    Some(match key {
        "ListenNetlink" => "config mode has no netlink sockets",
        "ListenSpecial" | "Writable" => "config mode opens no special files",
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
        "Symlinks" => "config mode creates no symlinks",
        "RemoveOnStop" => "the fd-holder never removes the files of the sockets it holds",
        "ExecStartPre" | "ExecStartPost" | "ExecStopPre" | "ExecStopPost" => {
            "config mode runs no commands"
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
        _ => return None,
    })
}

/// The `Listen*=` directives config mode has no kind for; they share systemd's list.
const OTHER_LISTENS: [&str; 4] = [
    "ListenNetlink",
    "ListenSpecial",
    "ListenMessageQueue",
    "ListenUSBFunction",
];

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
}

impl Gathered {
    fn socket(&mut self, a: &Assignment, text: &str) {
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
        let value = match values::specifiers(&a.value) {
            Ok(v) => v,
            Err(why) => return self.warnings.push(lost(a.line, text, why)),
        };
        let result = if let Some(kind) = listen_kind(key) {
            let target = match kind {
                ListenKind::Fifo => values::fifo_path(&value),
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
            (spec.read)(&value).map(|v| {
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
            Err("config mode has no equivalent".into())
        };
        if let Err(why) = result {
            self.warnings.push(lost(a.line, text, why));
        }
    }

    fn take(&mut self, a: &Assignment) {
        let text = format!("{}={}", a.key, a.value);
        match (a.section.as_str(), a.key.as_str()) {
            ("Socket", _) => self.socket(a, &text),
            ("Unit", "Description") => self.description = Some(a.value.clone()),
            ("Unit", "Documentation") => {}
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

/// Converts a parsed unit; `name` (the unit's file name) goes into the comments.
pub fn convert(unit: &Unit, name: &str) -> Result<Conversion, toml::ser::Error> {
    let mut g = Gathered::default();
    for s in &unit.skipped {
        g.warnings.push(lost(s.line, &s.text, s.why));
    }
    for a in &unit.assignments {
        g.take(a);
    }
    if let Some((line, text)) = &g.accept {
        g.warnings.push(lost(
            *line,
            text,
            "the fd-holder holds the listening socket; a service instance per connection \
             is s6-ipcserver's or s6-tcpserver's job",
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
    if let Some((line, name)) = &g.fd_name {
        name_ids(&mut listens, *line, name, &mut g.warnings);
    }
    let tables: Vec<Table> = listens
        .iter()
        .map(|l| Table(entry(l, &g.settings, &mut g.warnings)))
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
        let Some(s) = settings.get(spec.directive) else {
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
                vec![("kind", "\"fifo\"".into()), ("path", "\"/run/f\"".into())],
                vec![
                    ("kind", "\"unix\"".into()),
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
        assert_eq!(
            w,
            [(
                3,
                "ListenNetlink=route not carried over: config mode has no netlink sockets"
                    .to_string()
            )]
        );
        assert_eq!(fds.len(), 1);
        assert_eq!(fds[0]["path"].as_str(), Some("/b"));
        assert_eq!(fds[0].get("mode"), None);
        assert_eq!(fds[0]["backlog"].as_integer(), Some(7));
    }

    #[test]
    fn bind_ipv6_only() {
        for (v, want) in [
            ("both", Some(false)),
            ("ipv6-only", Some(true)),
            ("default", None),
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
        let (fds, w) = conv("ListenStream=/a\nListenStream=9\nFileDescriptorName=web\n");
        let ids: Vec<_> = fds.iter().map(|f| f["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["web:0", "web:1"]);
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
        assert_eq!(fds[0].get("receive-buffer"), None);
        assert_eq!(fds[0]["mode"].as_str(), Some("0600"));
        assert_eq!(fds[1]["receive-buffer"].as_integer(), Some(1024));
        assert_eq!(fds[1]["nodelay"].as_bool(), Some(true));
        assert_eq!(fds[1].get("mode"), None);
        assert_eq!(
            w,
            [
                (
                    4,
                    "ReceiveBuffer=1K not carried over: unix:/u is a Unix socket; config mode \
                     sets receive-buffer on tcp and udp only"
                        .to_string()
                ),
                (
                    7,
                    "Broadcast=yes not carried over: systemd applies it to UDP sockets, and \
                     none is carried over"
                        .to_string()
                ),
            ]
        );
    }

    #[test]
    fn what_cannot_be_read() {
        let (fds, w) = conv(
            "ListenStream=run/a\nListenSequentialPacket=1.2.3.4:5\nListenFIFO=f\n\
             Backlog=lots\nListenStream=%t/x\nAccept=yes\nFoo=bar\n[Other]\nX=1\n",
        );
        assert!(fds.is_empty());
        let lines: Vec<usize> = w.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8, 10]);
        assert!(w[4].1.contains("%t"), "{w:?}");
        assert!(w[5].1.starts_with("Accept=yes not carried over: "), "{w:?}");
        assert_eq!(
            w[6].1,
            "Foo=bar not carried over: config mode has no equivalent"
        );
        assert!(w[7].1.contains("[Other]"), "{w:?}");
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
