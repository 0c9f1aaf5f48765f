//! `s6-fdholder-inspect` against real daemons holding sockets, pipes, a file and a FIFO the
//! test made itself: every column and every JSON field is checked against what the test
//! knows of its own fds; then the fallbacks to list and the failures.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fdholder::{Client, Deadline, Tain};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn6, UnixAddr, bind, listen, setsockopt,
    socket, sockopt,
};
use nix::sys::stat::{Mode, fstat};
use serde_json::{Value, json};

use crate::common::*;

/// The tool under test.
const INSPECT: &str = env!("CARGO_BIN_EXE_s6-fdholder-inspect");

/// Runs the inspect tool with `args`.
fn inspect(args: &[&str]) -> Output {
    Command::new(INSPECT)
        .args(args)
        .output()
        .expect("run s6-fdholder-inspect")
}

/// Runs `--json` on the daemon and parses the document (the run must succeed).
fn inspect_json(d: &Daemon) -> (Value, String) {
    let out = inspect(&["--json", d.socket.to_str().unwrap()]);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 0, "{err}");
    (serde_json::from_slice(&out.stdout).unwrap(), err)
}

/// Runs the table form; returns its lines and stderr (the run must succeed).
fn inspect_table(d: &Daemon) -> (Vec<String>, String) {
    let out = inspect(&[d.socket.to_str().unwrap()]);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 0, "{err}");
    let text = String::from_utf8(out.stdout).unwrap();
    (text.lines().map(str::to_owned).collect(), err)
}

/// The table's lines as rows of cells keyed by id, after checking that every cell starts
/// where its column's title does.
fn table_rows(lines: &[String]) -> BTreeMap<String, Vec<String>> {
    let header = &lines[0];
    let titles: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        titles,
        [
            "ID", "LEFT", "EXPIRES", "KIND", "TYPE", "ADDRESS", "LISTEN", "ACCESS", "PATH"
        ]
    );
    let starts: Vec<usize> = titles.iter().map(|t| header.find(t).unwrap()).collect();
    let mut rows = BTreeMap::new();
    for line in &lines[1..] {
        let cells: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        assert_eq!(cells.len(), titles.len(), "{line:?}");
        for (&start, cell) in starts.iter().zip(&cells) {
            assert_eq!(
                line.get(start..start + cell.len()),
                Some(cell.as_str()),
                "{line:?}"
            );
        }
        rows.insert(cells[0].clone(), cells);
    }
    rows
}

/// An IPv6 TCP listener on [::1] with IPV6_V6ONLY set, or `None` without ::1.
fn v6only_listener() -> Option<(OwnedFd, u16)> {
    let s = socket(
        AddressFamily::Inet6,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    setsockopt(&s, sockopt::Ipv6V6Only, &true).unwrap();
    let addr = SockaddrIn6::from(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0));
    bind(std::os::fd::AsRawFd::as_raw_fd(&s), &addr).ok()?;
    listen(&s, Backlog::new(8).unwrap()).unwrap();
    let bound: SockaddrIn6 =
        nix::sys::socket::getsockname(std::os::fd::AsRawFd::as_raw_fd(&s)).unwrap();
    Some((s, bound.port()))
}

/// One fd the test stores, and the JSON row it expects for it (without `seconds_left`,
/// `device` and `inode`, which are checked apart).
struct Stored {
    id: String,
    fd: OwnedFd,
    /// Unix seconds of the limit; `None` for no limit.
    until: Option<u64>,
    row: Value,
}

fn socket_row(family: &str, ty: &str, address: Value, listening: bool) -> Value {
    let ip = family.starts_with("inet");
    json!({
        "kind": "socket", "family": family, "type": ty, "address": address,
        "listening": listening,
        "ipv6_only": if family == "inet6" { json!(true) } else { Value::Null },
        "reuse_port": if ip { json!(false) } else { Value::Null },
        "access": null, "path": null,
    })
}

fn plain_row(kind: &str, access: &str, path: Option<&Path>) -> Value {
    json!({
        "kind": kind, "family": null, "type": null, "address": null, "listening": null,
        "ipv6_only": null, "reuse_port": null, "access": access,
        "path": path.map(|p| p.to_str().unwrap()),
    })
}

/// The fds of the main test: one of each kind inspect tells apart.
fn make_fds(d: &Daemon, first_limit: u64) -> Vec<Stored> {
    let mut v: Vec<(String, OwnedFd, Value)> = Vec::new();
    let stream = d.path("stream.sock");
    let l = UnixListener::bind(&stream).unwrap();
    v.push((
        "unix:stream".into(),
        l.into(),
        socket_row("unix", "stream", json!(stream.to_str().unwrap()), true),
    ));
    let dgram = d.path("dgram.sock");
    let u = UnixDatagram::bind(&dgram).unwrap();
    v.push((
        "unix:dgram".into(),
        u.into(),
        socket_row("unix", "dgram", json!(dgram.to_str().unwrap()), false),
    ));
    let abs = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    let name = format!("fdh-inspect-{}", std::process::id());
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&abs),
        &UnixAddr::new_abstract(name.as_bytes()).unwrap(),
    )
    .unwrap();
    v.push((
        "unix:abstract".into(),
        abs,
        socket_row("unix", "seqpacket", json!(format!("@{name}")), false),
    ));
    let t = TcpListener::bind("127.0.0.1:0").unwrap();
    let taddr = t.local_addr().unwrap().to_string();
    v.push((
        "tcp:v4".into(),
        t.into(),
        socket_row("inet", "stream", json!(taddr), true),
    ));
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uaddr = udp.local_addr().unwrap().to_string();
    v.push((
        "udp:v4".into(),
        udp.into(),
        socket_row("inet", "dgram", json!(uaddr), false),
    ));
    if let Some((s, port)) = v6only_listener() {
        v.push((
            "tcp:v6".into(),
            s,
            socket_row("inet6", "stream", json!(format!("[::1]:{port}")), true),
        ));
    }
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    v.push(("pipe:r".into(), r, plain_row("pipe", "read", None)));
    v.push(("pipe:w".into(), w, plain_row("pipe", "write", None)));
    let file = d.path("data");
    std::fs::write(&file, "x").unwrap();
    v.push((
        "file:data".into(),
        File::open(&file).unwrap().into(),
        plain_row("file", "read", Some(&file)),
    ));
    let fifo = d.path("fifo");
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    v.push((
        "fifo:f".into(),
        f.into(),
        plain_row("fifo", "read-write", Some(&fifo)),
    ));
    let n = v.len() as u64;
    v.into_iter()
        .zip(0..)
        .map(|((id, fd, row), i)| Stored {
            id,
            fd,
            // The last one has no limit.
            until: (i + 1 < n).then(|| first_limit + 100 * i),
            row,
        })
        .collect()
}

use std::os::unix::fs::OpenOptionsExt;

#[test]
fn every_column_and_field_matches_the_fds_the_test_stored() {
    let d = Daemon::start();
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let first = start + 1000;
    let fds = make_fds(&d, first);
    let mut c = Client::connect(&d.socket, Deadline::after(Duration::from_secs(10))).unwrap();
    let now = Tain::now();
    for s in &fds {
        let limit = match s.until {
            Some(u) => Tain::from_system_time(UNIX_EPOCH + Duration::from_secs(u)),
            None => Tain::no_limit_from(now),
        };
        c.store(s.fd.as_fd(), s.id.as_bytes(), limit).unwrap();
    }
    // The daemon's own getdump, for the labels.
    let labels: BTreeMap<String, Option<String>> = d.getdump().into_iter().collect();
    assert_eq!(labels.len(), fds.len());

    let (doc, err) = inspect_json(&d);
    let end = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(err, "");
    assert_eq!(doc["total"], json!(fds.len()));
    assert_eq!(doc["source"], "getdump");
    let rows = doc["fds"].as_array().unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "rows are sorted by id");

    let (lines, err) = inspect_table(&d);
    // The table is a second run, later than `end`: its time left is counted to its own end.
    let table_end = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(err, "");
    let table = table_rows(&lines);
    assert_eq!(table.len(), fds.len());

    for s in &fds {
        let row = rows.iter().find(|r| r["id"] == s.id.as_str()).unwrap();
        let mut row = row.as_object().unwrap().clone();
        let st = fstat(s.fd.as_fd()).unwrap();
        assert_eq!(row.remove("device"), Some(json!(st.st_dev)), "{}", s.id);
        assert_eq!(row.remove("inode"), Some(json!(st.st_ino)), "{}", s.id);
        let left = row.remove("seconds_left").unwrap();
        let expires = row.remove("expires").unwrap();
        let cells = &table[&s.id];
        match s.until {
            Some(u) => {
                let left = left.as_u64().unwrap();
                assert!(u - end - 1 <= left && left <= u - start, "{}: {left}", s.id);
                let utc = humantime::format_rfc3339(UNIX_EPOCH + Duration::from_secs(u));
                assert_eq!(
                    expires,
                    json!({"rfc3339": utc.to_string(), "tai64n": labels[&s.id].as_deref().unwrap()}),
                    "{}",
                    s.id
                );
                assert_eq!(cells[2], utc.to_string());
                let shown = humantime::parse_duration(&cells[1]).unwrap().as_secs();
                assert!(
                    u - table_end - 1 <= shown && shown <= u - start,
                    "{cells:?}"
                );
            }
            None => {
                assert_eq!((&left, &expires), (&Value::Null, &Value::Null), "{}", s.id);
                assert_eq!(labels[&s.id], None, "getdump agrees it has no limit");
                assert_eq!(cells[1..3], ["never", "never"]);
            }
        }
        row.remove("id");
        assert_eq!(Value::Object(row), s.row, "{}", s.id);

        // The table says the same as the JSON.
        let r = &s.row;
        let or_dash = |v: &Value| v.as_str().map_or("-".to_string(), str::to_owned);
        let ty = match (r["family"].as_str(), r["type"].as_str()) {
            (Some(f), Some(t)) => format!("{f}/{t}"),
            _ => "-".into(),
        };
        let listen = match r["listening"].as_bool() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        assert_eq!(
            cells[3..],
            [
                or_dash(&r["kind"]),
                ty,
                or_dash(&r["address"]),
                listen.to_string(),
                or_dash(&r["access"]),
                or_dash(&r["path"]),
            ],
            "{}",
            s.id
        );
    }
}

#[test]
fn denied_getdump_falls_back_to_list() {
    let d = Daemon::with(
        Rules {
            getdump: false,
            ..Rules::default()
        },
        1000,
    );
    let mut c = Client::connect(&d.socket, Deadline::after(Duration::from_secs(10))).unwrap();
    let fds = fresh_fds(2);
    for (fd, id) in fds.iter().zip(["pipe:b", "pipe:a"]) {
        c.store(fd, id.as_bytes(), Tain::now() + Duration::from_secs(600))
            .unwrap();
    }
    let warning = "s6-fdholder-inspect: warning: the daemon's rules do not grant \
                   S6_FDHOLDER_GETDUMP: showing ids only, from list\n";
    let (lines, err) = inspect_table(&d);
    assert_eq!(err, warning);
    let rows = table_rows(&lines);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["pipe:a", "pipe:b"]);
    for cells in rows.values() {
        assert!(cells[1..].iter().all(|c| c == "?"), "{cells:?}");
    }
    let (doc, err) = inspect_json(&d);
    assert_eq!(err, warning);
    assert_eq!((&doc["source"], &doc["total"]), (&json!("list"), &json!(2)));
    for (row, id) in doc["fds"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["pipe:a", "pipe:b"])
    {
        let row = row.as_object().unwrap();
        assert_eq!(row["id"], id);
        assert!(row.iter().all(|(k, v)| k == "id" || v.is_null()), "{row:?}");
    }
}

#[test]
fn denied_getdump_and_list_is_a_refusal() {
    let d = Daemon::with(
        Rules {
            getdump: false,
            list: false,
            ..Rules::default()
        },
        1000,
    );
    let got = code_and_err(&inspect(&[d.socket.to_str().unwrap()]));
    assert_eq!(
        got,
        (
            1,
            "s6-fdholder-inspect: fatal: unable to get fd list: Operation not permitted \
             (the daemon's rules do not grant S6_FDHOLDER_LIST to this client)\n"
                .to_string()
        )
    );
}

#[test]
fn no_daemon_and_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = dir.path().join("s");
    let (code, err) = code_and_err(&inspect(&[nowhere.to_str().unwrap()]));
    assert_eq!(code, 111, "{err}");
    assert_eq!(
        err,
        format!(
            "s6-fdholder-inspect: fatal: unable to connect to a fd-holder daemon at {}: \
             No such file or directory\n",
            nowhere.display()
        )
    );
    let (code, err) = code_and_err(&inspect(&["-t", "x", "/s"]));
    assert_eq!(code, 100);
    assert!(
        err.starts_with("s6-fdholder-inspect: usage: s6-fdholder-inspect [ -t timeout ]"),
        "{err}"
    );
    let d = Daemon::with(
        Rules {
            allow: false,
            ..Rules::default()
        },
        1000,
    );
    let (code, err) = code_and_err(&inspect(&[d.socket.to_str().unwrap()]));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with("s6-fdholder-inspect: fatal: unable to get dump: Broken pipe"),
        "{err}"
    );
}

#[test]
fn more_fds_than_one_getdump_message_still_lists() {
    // Debian's s6 2.11 daemon drops the connection on a getdump of more than 253 fds.
    let d = Daemon::start();
    let n = 300;
    let fds = fresh_fds(n);
    let names = ids("many", n);
    let limit = Tain::now() + Duration::from_secs(600);
    let entries = dump_entries(&fds, &names, limit);
    Client::connect(&d.socket, Deadline::after(Duration::from_secs(10)))
        .unwrap()
        .setdump(&entries)
        .unwrap();
    let (doc, err) = inspect_json(&d);
    let got: Vec<&str> = doc["fds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, d.list());
    assert_eq!(doc["total"], json!(n));
    if doc["source"] == "list" {
        assert_eq!(
            err,
            format!(
                "s6-fdholder-inspect: warning: the daemon dropped the connection during \
                 getdump: it holds {n} fds, more than the 253 one message can carry (a daemon \
                 built on skalibs before 2.14 cannot send them): showing ids only, from list\n"
            )
        );
    } else {
        // A daemon that can send them all.
        assert_eq!(
            (doc["source"].as_str(), err.as_str()),
            (Some("getdump"), "")
        );
        assert!(doc["fds"][0]["kind"] == "pipe");
    }
}
