//! What the inspect tool shows: one [`Row`] per held fd, as an aligned table or one JSON
//! document with stable field names (the man page documents each one).
//!
//! Rows are built from what getdump returned, described by [`crate::fdinfo`], or from the
//! ids of a list when getdump could not be had; then everything but the id is unknown.

use std::os::fd::AsFd;

use nix::errno::Errno;
use serde::Serialize;

use crate::expiry::{self, Expiry};
use crate::fdinfo::{self, Address, Kind};
pub use crate::text::show_id;
use fdholder::HeldFd;
use fdholder::Tain;
pub use fdholder::held::Source;

/// One held fd, as the table and the JSON show it; `None` is JSON's null.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The id (invalid UTF-8 replaced by U+FFFD).
    pub id: String,
    /// When the daemon closes it; `None` for never, or unknown (list).
    pub expires: Option<Expiry>,
    /// Whole seconds until then; `None` for never, or unknown.
    pub seconds_left: Option<u64>,
    /// `socket`, `pipe`, `fifo`, `file` or `other`.
    pub kind: Option<&'static str>,
    /// Sockets: `unix`, `inet`, `inet6`...
    pub family: Option<&'static str>,
    /// Sockets: `stream`, `dgram`, `seqpacket`...
    #[serde(rename = "type")]
    pub socket_type: Option<&'static str>,
    /// Sockets: the bound address (`/path`, `@abstract`, `IP:PORT`, `[IPv6]:PORT`).
    pub address: Option<String>,
    /// Sockets: whether `listen(2)` was called.
    pub listening: Option<bool>,
    /// IPv6 sockets: IPV6_V6ONLY.
    pub ipv6_only: Option<bool>,
    /// IP sockets: SO_REUSEPORT.
    pub reuse_port: Option<bool>,
    /// Pipes, FIFOs and files: `read`, `write` or `read-write`.
    pub access: Option<&'static str>,
    /// FIFOs and files: the path; other objects: what `/proc` links them to.
    pub path: Option<String>,
    /// The device of the object's inode.
    pub device: Option<u64>,
    /// The object's inode: the same fd seen twice has the same one.
    pub inode: Option<u64>,
    /// The id's bytes, to sort and to show in the table.
    #[serde(skip)]
    raw_id: Vec<u8>,
    /// The limit, for the table's whole-second expiry.
    #[serde(skip)]
    limit: Option<Tain>,
}

impl Row {
    /// A row with only its id known.
    fn bare(id: &[u8]) -> Row {
        Row {
            id: String::from_utf8_lossy(id).into_owned(),
            expires: None,
            seconds_left: None,
            kind: None,
            family: None,
            socket_type: None,
            address: None,
            listening: None,
            ipv6_only: None,
            reuse_port: None,
            access: None,
            path: None,
            device: None,
            inode: None,
            raw_id: id.to_vec(),
            limit: None,
        }
    }

    /// Fills in what the kernel says the fd is.
    fn describe(&mut self, info: &fdinfo::FdInfo) {
        self.kind = Some(info.kind.name());
        self.access = info.kind.access().map(|a| a.name());
        self.path = info.kind.path();
        self.device = Some(info.inode.0);
        self.inode = Some(info.inode.1);
        if let Kind::Socket(s) = &info.kind {
            self.family = Some(s.family_name());
            self.socket_type = Some(s.type_name());
            self.address = match &s.address {
                Address::None => None,
                a => Some(a.to_string()),
            };
            self.listening = Some(s.listening);
            self.ipv6_only = s.v6only;
            self.reuse_port = matches!(s.address, Address::Ip(_)).then_some(s.reuse_port);
        }
    }
}

/// Everything the tool shows: the JSON document, and what the table is made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// One row per held fd, sorted by id.
    pub fds: Vec<Row>,
    /// How many fds the daemon holds.
    pub total: usize,
    /// Where the rows came from.
    #[serde(serialize_with = "crate::text::serialize_source")]
    pub source: Source,
}

/// An fd that could not be described, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undescribed {
    /// Its id.
    pub id: Vec<u8>,
    /// The failed system call's errno.
    pub errno: Errno,
}

impl Report {
    fn new(mut fds: Vec<Row>, source: Source) -> Report {
        fds.sort_by(|a, b| a.raw_id.cmp(&b.raw_id));
        Report {
            total: fds.len(),
            fds,
            source,
        }
    }

    /// The report of a getdump seen at `now`, and the fds that could not be described
    /// (their columns stay unknown).
    pub fn from_dump(dump: &[HeldFd], now: Tain) -> (Report, Vec<Undescribed>) {
        let mut failed = Vec::new();
        let rows = dump
            .iter()
            .map(|held| {
                let mut row = Row::bare(&held.id);
                row.expires = Expiry::of(held.limit, now);
                if row.expires.is_some() {
                    row.seconds_left = Some(expiry::seconds_left(held.limit, now));
                    row.limit = Some(held.limit);
                }
                match fdinfo::describe(held.fd.as_fd()) {
                    Ok(info) => row.describe(&info),
                    Err(errno) => failed.push(Undescribed {
                        id: held.id.clone(),
                        errno,
                    }),
                }
                row
            })
            .collect();
        (Report::new(rows, Source::Getdump), failed)
    }

    /// The report of a list: ids only.
    pub fn from_ids(ids: &[Vec<u8>]) -> Report {
        Report::new(ids.iter().map(|id| Row::bare(id)).collect(), Source::List)
    }

    /// The JSON document, pretty-printed, with a final newline.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self).map(|mut s| {
            s.push('\n');
            s
        })
    }

    /// The table: a header line, then one aligned line per fd.
    pub fn to_table(&self) -> String {
        let rows: Vec<[String; 9]> = self.fds.iter().map(|r| self.cells(r)).collect();
        table(&HEADER, &rows)
    }

    /// One row's cells: `?` for what is not known, `-` for what does not apply.
    fn cells(&self, r: &Row) -> [String; 9] {
        let id = show_id(&r.raw_id);
        if self.source == Source::List {
            return [id, q(), q(), q(), q(), q(), q(), q(), q()];
        }
        let (left, expires) = match (r.seconds_left, r.limit) {
            (Some(s), Some(l)) => (
                expiry::compact_duration(s),
                expiry::rfc3339(l, true).unwrap_or_else(|| l.to_string()),
            ),
            _ => ("never".into(), "never".into()),
        };
        let Some(kind) = r.kind else {
            return [id, left, expires, q(), q(), q(), q(), q(), q()];
        };
        let dash = || "-".to_string();
        let ty = match (r.family, r.socket_type) {
            (Some(f), Some(t)) => format!("{f}/{t}"),
            _ => dash(),
        };
        let listen = r
            .listening
            .map_or_else(dash, |l| (if l { "yes" } else { "no" }).into());
        [
            id,
            left,
            expires,
            kind.into(),
            ty,
            r.address.clone().unwrap_or_else(dash),
            listen,
            r.access.map_or_else(dash, str::to_string),
            r.path.clone().unwrap_or_else(dash),
        ]
    }
}

/// The table's column titles.
const HEADER: [&str; 9] = [
    "ID", "LEFT", "EXPIRES", "KIND", "TYPE", "ADDRESS", "LISTEN", "ACCESS", "PATH",
];

fn q() -> String {
    "?".to_string()
}

/// Columns separated by two spaces, each as wide as its widest cell; the last one unpadded.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.zip(widths).enumerate() {
            if i + 1 == N {
                l.push_str(cell);
            } else {
                l.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_columns() {
        let t = table(
            &["A", "BB", "C"],
            &[
                ["xxx".into(), "y".into(), "z".into()],
                ["x".into(), "-".into(), "".into()],
            ],
        );
        assert_eq!(t, "A    BB  C\nxxx  y   z\nx    -\n");
    }

    #[test]
    fn ids_stay_on_one_line() {
        assert_eq!(show_id(b"unix:/a b\n\xff"), "unix:/a b\\n\u{fffd}");
    }

    #[test]
    fn list_rows_are_unknown() {
        let r = Report::from_ids(&[b"b".to_vec(), b"a".to_vec()]);
        assert_eq!(r.total, 2);
        assert_eq!(
            r.to_table(),
            "ID  LEFT  EXPIRES  KIND  TYPE  ADDRESS  LISTEN  ACCESS  PATH\n\
             a   ?     ?        ?     ?     ?        ?       ?       ?\n\
             b   ?     ?        ?     ?     ?        ?       ?       ?\n"
        );
        let v: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
        assert_eq!(v["source"], "list");
        assert_eq!(v["fds"][0]["id"], "a");
        assert!(v["fds"][0]["kind"].is_null());
    }
}
