//! Stage 1 of config mode, first half: TOML text to raw structs, keeping the span of
//! every value.
//!
//! Nothing here judges values beyond their TOML type: that is [`super::validate`]'s job,
//! and it needs the spans kept here (`toml::Spanned`) to point at `file:line:col`. Unknown
//! keys are refused here (`deny_unknown_fields`). The text is first read into toml's spanned
//! document tree so that an error in the middle of an `[[fd]]` table can be pinned to that
//! entry.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde::de::value::{Error as ValueError, StrDeserializer};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::value::{FromPlain, Plain};
use crate::config::diag::{Diag, Place, entry_label};
use crate::config::model::{Kind, OpenMode, SocketType};

/// A whole config file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The daemon's socket; the command line wins.
    pub fdholder: Option<Spanned<String>>,
    /// Values for keys an entry leaves out.
    pub defaults: Option<Spanned<RawEntry>>,
    /// The fds, in file order.
    #[serde(default)]
    pub fd: Vec<Spanned<RawEntry>>,
}

/// A user or group as written: a name, or a number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameOrId {
    /// A name to look up (or a string of digits, taken as a number if no such name exists).
    Name(String),
    /// A number, as written (range checked later).
    Id(i64),
}

impl<'de> Deserialize<'de> for NameOrId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NameOrId, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NameOrId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name or a number")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<NameOrId, E> {
                Ok(NameOrId::Name(s.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<NameOrId, E> {
                Ok(NameOrId::Id(n))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<NameOrId, E> {
                Ok(NameOrId::Id(i64::try_from(n).unwrap_or(i64::MAX)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Permission bits as written: a string, so that octal is never mistaken for decimal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OctalText(pub String);

impl<'de> Deserialize<'de> for OctalText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OctalText, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = OctalText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an octal string such as \"0660\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<OctalText, E> {
                Ok(OctalText(s.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// An instant as written: a string, or a TOML date-time (kept as its RFC 3339 text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstantText(pub String);

/// The private key under which toml hands a date-time to a visitor.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

impl<'de> Deserialize<'de> for InstantText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<InstantText, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InstantText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 date and time")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<InstantText, E> {
                Ok(InstantText(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InstantText, A::Error> {
                match map.next_key::<String>()? {
                    Some(k) if k == TOML_DATETIME_KEY => Ok(InstantText(map.next_value()?)),
                    _ => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl FromPlain for NameOrId {
    fn from_plain(v: Plain<'_>) -> Option<NameOrId> {
        match v {
            Plain::Str(s) => Some(NameOrId::Name(s.to_string())),
            Plain::Int(n) => Some(NameOrId::Id(n)),
            _ => None,
        }
    }
}

impl FromPlain for OctalText {
    fn from_plain(v: Plain<'_>) -> Option<OctalText> {
        String::from_plain(v).map(OctalText)
    }
}

impl FromPlain for InstantText {
    fn from_plain(v: Plain<'_>) -> Option<InstantText> {
        String::from_plain(v).map(InstantText)
    }
}

/// A unit enum from its name, through its own `Deserialize`, so that the names are the
/// ones toml accepts and are written once.
fn variant<T: for<'de> Deserialize<'de>>(v: Plain<'_>) -> Option<T> {
    match v {
        Plain::Str(s) => T::deserialize(StrDeserializer::<ValueError>::new(s)).ok(),
        _ => None,
    }
}

impl FromPlain for Kind {
    fn from_plain(v: Plain<'_>) -> Option<Kind> {
        // Every entry has one: by its name, not through serde (a test holds the two equal).
        match v {
            Plain::Str(s) => Kind::ALL.into_iter().find(|k| k.name() == s),
            _ => None,
        }
    }
}

impl FromPlain for SocketType {
    fn from_plain(v: Plain<'_>) -> Option<SocketType> {
        variant(v)
    }
}

impl FromPlain for OpenMode {
    fn from_plain(v: Plain<'_>) -> Option<OpenMode> {
        variant(v)
    }
}

/// Declares [`RawEntry`] and, from the same list, [`RawEntry::present`]: every key once.
macro_rules! raw_entry {
    ($( #[doc = $doc:literal] $key:literal $field:ident: $ty:ty, )*) => {
        /// One `[[fd]]` table, or the `[defaults]` table, as written: every key optional here.
        #[derive(Clone, Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawEntry {
            $(
                #[doc = $doc]
                #[serde(rename = $key)]
                pub $field: Option<Spanned<$ty>>,
            )*
        }

        impl RawEntry {
            /// The first key, in key order, written in this table and for which `pred`
            /// holds, with the span of its value.
            pub fn find_key(
                &self,
                pred: impl Fn(&'static str) -> bool,
            ) -> Option<(&'static str, Range<usize>)> {
                $(
                    if let Some(v) = &self.$field
                        && pred($key)
                    {
                        return Some(($key, v.span()));
                    }
                )*
                None
            }

            /// Sets `key` to `value`, written at `span`, as toml would; `None` for a key
            /// this table does not take, one it already has, or a value of another type.
            pub(super) fn set_plain(
                &mut self,
                key: &str,
                span: Range<usize>,
                value: Plain<'_>,
            ) -> Option<()> {
                match key {
                    $(
                        $key if self.$field.is_none() => {
                            self.$field = Some(Spanned::new(span, FromPlain::from_plain(value)?));
                        }
                    )*
                    _ => return None,
                }
                Some(())
            }
        }
    };
}

raw_entry! {
    /// unix | tcp | udp | fifo | file | pipe.
    "kind" kind: Kind,
    /// The id under which the daemon holds the fd.
    "id" id: String,
    /// The fd's name for `LISTEN_FDNAMES` (s6-fdholder-activate); not for a pipe.
    "name" name: String,
    /// unix, fifo, file: the path (`@name` for an abstract unix socket).
    "path" path: String,
    /// tcp, udp: `IP:PORT`.
    "listen" listen: String,
    /// unix: stream | dgram | seqpacket.
    "socket" socket: SocketType,
    /// unix stream and seqpacket, tcp: the listen backlog.
    "backlog" backlog: i64,
    /// unix, fifo, file: permission bits, an octal string.
    "mode" mode: OctalText,
    /// unix, fifo, file: the owner.
    "owner" owner: NameOrId,
    /// unix, fifo, file: the group.
    "group" group: NameOrId,
    /// unix, fifo, file: permission bits of parent directories this run creates.
    "directory-mode" directory_mode: OctalText,
    /// How long the daemon holds the fd: a duration, or "infinite".
    "lifetime" lifetime: String,
    /// When the daemon closes the fd: an RFC 3339 instant.
    "expires" expires: InstantText,
    /// tcp, udp: SO_REUSEADDR.
    "reuse-address" reuse_address: bool,
    /// tcp, udp: SO_REUSEPORT.
    "reuse-port" reuse_port: bool,
    /// tcp, udp on IPv6: IPV6_V6ONLY.
    "ipv6-only" ipv6_only: bool,
    /// tcp, udp: IP_FREEBIND.
    "freebind" freebind: bool,
    /// tcp, udp: SO_BINDTODEVICE.
    "bind-to-device" bind_to_device: String,
    /// tcp, udp: SO_RCVBUF.
    "receive-buffer" receive_buffer: i64,
    /// tcp, udp: SO_SNDBUF.
    "send-buffer" send_buffer: i64,
    /// tcp: SO_KEEPALIVE.
    "keepalive" keepalive: bool,
    /// tcp: TCP_NODELAY.
    "nodelay" nodelay: bool,
    /// udp: SO_BROADCAST.
    "broadcast" broadcast: bool,
    /// special: open it read-write.
    "writable" writable: bool,
    /// unix with a path, fifo: symlinks to it.
    "symlinks" symlinks: Vec<String>,
    /// netlink: the family, by systemd's name.
    "family" family: String,
    /// netlink: the multicast groups, a bit mask.
    "groups" groups: i64,
    /// unix: SO_PASSCRED.
    "pass-credentials" pass_credentials: bool,
    /// unix: SO_PASSSEC.
    "pass-security" pass_security: bool,
    /// tcp, udp, netlink: IP_PKTINFO, IPV6_RECVPKTINFO, NETLINK_PKTINFO.
    "pass-packet-info" pass_packet_info: bool,
    /// unix, tcp, udp: SO_PRIORITY.
    "priority" priority: i64,
    /// tcp, udp: IP_TOS.
    "ip-tos" ip_tos: i64,
    /// tcp, udp: IP_TTL or IPV6_UNICAST_HOPS.
    "ip-ttl" ip_ttl: i64,
    /// unix, tcp, udp: SO_MARK.
    "mark" mark: i64,
    /// unix, tcp, udp: off | us | ns.
    "timestamping" timestamping: String,
    /// file: read | write | append | read-write.
    "open" open: OpenMode,
    /// file: create it if absent.
    "create" create: bool,
    /// file: truncate it.
    "truncate" truncate: bool,
    /// pipe: the read end's id.
    "read-id" read_id: String,
    /// pipe: the write end's id.
    "write-id" write_id: String,
    /// pipe: F_SETPIPE_SZ.
    "buffer-size" buffer_size: i64,
}

/// A deserializer that only records the field names a struct asks for.
struct FieldNames(Option<&'static [&'static str]>);

impl<'de> Deserializer<'de> for &mut FieldNames {
    type Error = de::value::Error;
    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field names only"))
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(fields);
        Err(de::Error::custom("field names only"))
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The keys a config file accepts: the top level's, then an `[[fd]]` table's.
pub fn keys() -> (&'static [&'static str], &'static [&'static str]) {
    let mut top = FieldNames(None);
    let _ = RawConfig::deserialize(&mut top);
    let mut entry = FieldNames(None);
    let _ = RawEntry::deserialize(&mut entry);
    (top.0.unwrap_or_default(), entry.0.unwrap_or_default())
}

/// Rewords toml's messages to the file's terms (keys, not fields) and keeps them short.
fn reword(message: &str) -> String {
    let message = message.trim_end();
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let key = rest.split(", expected").next().unwrap_or(rest);
        return format!("unknown key {key}");
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("missing key {rest}");
    }
    message.to_string()
}

/// The label of an `[[fd]]` table as written, before it is deserialised.
fn raw_label(v: &DeValue<'_>) -> String {
    let DeValue::Table(t) = v else {
        return entry_label(None, None);
    };
    let text = |k: &str| match t.get(k).map(Spanned::get_ref) {
        Some(DeValue::String(s)) => Some(s.to_string()),
        _ => None,
    };
    entry_label(
        text("kind").as_deref(),
        text("path").or_else(|| text("listen")).as_deref(),
    )
}

/// Which part of the file each byte range of the parsed document belongs to.
///
/// toml spans a table written under a `[header]` by its header only: such a table runs on
/// to the next top-level item. An inline table's span covers it whole.
fn places(text: &str, doc: &DeTable<'_>) -> Vec<(Range<usize>, Place)> {
    let mut items: Vec<(Range<usize>, Place)> = Vec::new();
    for (key, value) in doc.iter() {
        match (&**key.get_ref(), value.get_ref()) {
            ("fd", DeValue::Array(fds)) => {
                items.extend(fds.iter().enumerate().map(|(index, v)| {
                    let label = raw_label(v.get_ref());
                    (v.span(), Place::Fd { index, label })
                }));
            }
            ("defaults", _) => items.push((value.span(), Place::Defaults)),
            _ => items.push((value.span(), Place::Top)),
        }
    }
    items.sort_by_key(|(r, _)| r.start);
    let starts: Vec<usize> = items.iter().map(|(r, _)| r.start).skip(1).collect();
    items
        .into_iter()
        .zip(starts.into_iter().chain([text.len()]))
        .map(|((r, place), next)| {
            let header = text.as_bytes().get(r.start) == Some(&b'[');
            (if header { r.start..next } else { r }, place)
        })
        .collect()
}

/// Parses config text into raw structs; the error's span points into `text`.
pub fn parse_str(text: &str) -> Result<RawConfig, Diag> {
    let to_diag = |e: toml::de::Error, places: &[(Range<usize>, Place)]| {
        let span = e.span().unwrap_or(0..0);
        let place = places
            .iter()
            .find(|(r, _)| r.contains(&span.start))
            .map_or(Place::Top, |(_, p)| p.clone());
        Diag::new(span, &place, reword(e.message()))
    };
    // Even a file that does not parse has a partial tree: its entries can still be named.
    let (doc, errors) = DeTable::parse_recoverable(text);
    if let Some(e) = errors.into_iter().next() {
        return Err(to_diag(e, &places(text, doc.get_ref())));
    }
    // The places (a label per entry) are worked out only for an error: the deserializer
    // consumes the tree, so the text is parsed again then, which costs nothing on success.
    RawConfig::deserialize(toml::de::Deserializer::from(doc)).map_err(|e| {
        let (doc, _) = DeTable::parse_recoverable(text);
        to_diag(e, &places(text, doc.get_ref()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::line_col;

    fn err(text: &str) -> (usize, usize, String) {
        let d = parse_str(text).unwrap_err();
        let (l, c) = line_col(text, d.span.start);
        (l, c, format!("{}{}", d.place, d.what))
    }

    #[test]
    fn reads_entries_with_spans() {
        let text = "fdholder = \"/s\"\n[defaults]\nlifetime = \"1h\"\n\n[[fd]]\nkind = \"unix\"\npath = \"/a\"\nowner = 5\ngroup = \"www\"\n\n[[fd]]\nkind = \"file\"\nexpires = 2030-01-01T00:00:00Z\n";
        let c = parse_str(text).unwrap();
        assert_eq!(c.fd.len(), 2);
        let path = c.fd[0].get_ref().path.as_ref().unwrap();
        assert_eq!(line_col(text, path.span().start), (7, 8));
        assert_eq!(
            c.fd[0].get_ref().owner.as_ref().unwrap().get_ref(),
            &NameOrId::Id(5)
        );
        assert_eq!(
            c.fd[1].get_ref().expires.as_ref().unwrap().get_ref().0,
            "2030-01-01T00:00:00Z"
        );
        assert_eq!(line_col(text, c.fd[1].span().start), (11, 1));
        assert!(c.defaults.unwrap().get_ref().lifetime.is_some());
    }

    #[test]
    fn errors_name_the_entry() {
        assert_eq!(
            err("[[fd]]\nkind = \"unix\"\npath = \"/a\"\nbogus = 1\n"),
            (4, 1, "fd[0] (unix:/a): unknown key `bogus`".into())
        );
        assert_eq!(
            err("[[fd]]\nkind = \"tcp\"\n[[fd]]\nkind = \"sock\"\n"),
            (
                4,
                8,
                "fd[1] (sock): unknown variant `sock`, expected one of `unix`, `tcp`, `udp`, `fifo`, `file`, `pipe`, `netlink`, `special`".into()
            )
        );
        assert_eq!(
            err("[defaults]\nbacklog = \"x\"\n"),
            (
                2,
                11,
                "defaults: invalid type: string \"x\", expected i64".into()
            )
        );
        let (l, _, m) = err("fdholder = 1\n");
        assert_eq!(
            (l, m.as_str()),
            (1, "invalid type: integer `1`, expected a string")
        );
        let (l, _, _) = err("[[fd]]\nkind = \n");
        assert_eq!(l, 2);
        let (l, c, m) = err("[[fd]]\nowner = 1.5\n");
        assert_eq!((l, c), (2, 9), "{m}");
        assert_eq!(
            err("[[fd]]\nkind = \"unix\"\n[defaults]\nbogus = 1\n"),
            (4, 1, "defaults: unknown key `bogus`".into())
        );
        assert_eq!(
            err("fd = [{ kind = \"tcp\", listen = \"1.2.3.4:5\" }, { kind = \"udp\", x = 1 }]\n"),
            (1, 63, "fd[1] (udp): unknown key `x`".into())
        );
        assert_eq!(
            err("[[fd]]\nkind = \"unix\"\n[other]\n"),
            (3, 2, "unknown key `other`".into())
        );
    }

    /// Kinds are read by their names as serde reads them.
    #[test]
    fn kinds_by_name_as_serde() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_plain(Plain::Str(k.name())), Some(k));
            assert_eq!(variant::<Kind>(Plain::Str(k.name())), Some(k));
        }
        assert_eq!(Kind::from_plain(Plain::Str("sock")), None);
        // serde names no kind that ALL lacks: its list of variants, in its message.
        let e = Kind::deserialize(StrDeserializer::<ValueError>::new("?")).unwrap_err();
        let listed = e.to_string().matches('`').count() / 2 - 1;
        assert_eq!(listed, Kind::ALL.len(), "{e}");
    }

    #[test]
    fn key_list() {
        let (top, entry) = keys();
        assert_eq!(top, ["fdholder", "defaults", "fd"]);
        assert!(entry.contains(&"directory-mode"));
        assert!(entry.contains(&"kind"));
        assert_eq!(entry.len(), 41);
    }
}
