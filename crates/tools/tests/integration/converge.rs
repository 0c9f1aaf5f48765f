//! Config mode converging on real daemons: a second run changes nothing; a change is one
//! `~` and one replacement, the rest untouched (the held objects' inodes prove it); an id
//! the file drops is `-` and `--prune` deletes it; a daemon that denies getdump still gets
//! a plan from list; `--replace-all` reopens everything; a unix socket the daemon holds is
//! recognised and replaced, or put back when the run fails; the JSON parses back.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use fdholder::{Client, Deadline, Tain};
use fdtools::fdinfo::{Kind, describe, unix_diag};
use serde_json::Value;

use crate::common::{Daemon, Rules, assert_fatal, code_and_err};
use crate::config_mode::{free_port, held, run, tree, write_config};

/// Every held id and the device and inode of the object its fd refers to.
fn inodes(d: &Daemon) -> BTreeMap<String, (u64, u64)> {
    held(d)
        .into_iter()
        .map(|(id, h)| (id, describe(h.fd.as_fd()).unwrap().inode))
        .collect()
}

/// Runs the tool on `config` against `d` with `args` first; expects exit 0 and returns
/// stdout and stderr.
fn ok(d: &Daemon, config: &Path, args: &[&str]) -> (String, String) {
    let mut all: Vec<&dyn AsRef<std::ffi::OsStr>> = args.iter().map(|a| a as _).collect();
    all.extend([&"-c" as &dyn AsRef<std::ffi::OsStr>, &config, &d.socket]);
    let out = run(&all);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 0, "{args:?}: {err}");
    (String::from_utf8(out.stdout).unwrap(), err)
}

/// `--check`'s lines against `d`: sign, id, and the rest of the line.
fn plan(d: &Daemon, config: &Path) -> Vec<(String, String, String)> {
    let (out, _) = ok(d, config, &["--check"]);
    out.lines()
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let (sign, id) = (f.next().unwrap(), f.next().unwrap());
            (sign.into(), id.into(), f.next().unwrap_or("").into())
        })
        .collect()
}

/// The signs of `--check`'s lines, by id.
fn signs(d: &Daemon, config: &Path) -> BTreeMap<String, String> {
    plan(d, config)
        .into_iter()
        .map(|(s, id, _)| (id, s))
        .collect()
}

/// `--json` output of the tool on `config` against `d`, with `args` first, parsed.
fn json(d: &Daemon, config: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend(args);
    let (out, _) = ok(d, config, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A file of every kind: a unix socket with a mode and backlog, tcp with an id of its own
/// and an instant, udp, a FIFO with a lifetime, a file, a pipe; `tcp` is the tcp port.
fn every_kind(d: &Daemon, tcp: u16, udp: u16) -> String {
    let root = d.dir.path().display();
    let at = humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(86400));
    format!(
        r#"
[[fd]]
kind = "unix"
path = "{root}/run/web.sock"
mode = "0660"
backlog = 7

[[fd]]
kind = "tcp"
listen = "127.0.0.1:{tcp}"
id = "http"
expires = "{at}"

[[fd]]
kind = "udp"
listen = "127.0.0.1:{udp}"

[[fd]]
kind = "fifo"
path = "{root}/fifo"
lifetime = "10min"

[[fd]]
kind = "file"
path = "{root}/log"
open = "append"
create = true

[[fd]]
kind = "pipe"
read-id = "pipe:r"
write-id = "pipe:w"
"#
    )
}

/// A daemon, and [`every_kind`] written to `c.toml`: applied or not. Returns the daemon,
/// the file, the tcp port and the udp port.
fn every_kind_file(apply: bool) -> (Daemon, PathBuf, u16, u16) {
    let d = Daemon::start();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (tcp, udp) = (free_port(lo), free_port(lo));
    let config = write_config(&d, "c.toml", &every_kind(&d, tcp, udp));
    if apply {
        ok(&d, &config, &[]);
    }
    (d, config, tcp, udp)
}

#[test]
fn a_second_run_changes_nothing() {
    let (d, config, ..) = every_kind_file(true);
    let before = inodes(&d);
    assert_eq!(before.len(), 7);
    let signs = signs(&d, &config);
    assert!(signs.values().all(|s| s == "="), "{signs:?}");
    let (out, err) = ok(&d, &config, &["-v"]);
    assert_eq!(out, "");
    assert_eq!(
        err,
        "s6-fdholder-setdump: info: nothing to do: 7 fds held as declared\n"
    );
    assert_eq!(inodes(&d), before, "nothing reopened, nothing replaced");
}

#[test]
fn a_fifo_and_a_file_through_a_symlink_converge() {
    // Declared through root's symlink on the way, as `/var/run/x` is `/run/x`: the kernel
    // gives the held fds' paths resolved, and the second run must still find them held as
    // declared, not reopen them at every run.
    let d = Daemon::start();
    let real = d.path("real");
    fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, d.path("alias")).unwrap();
    let alias = d.path("alias").display().to_string();
    let text = format!(
        "[[fd]]\nkind = \"fifo\"\npath = \"{alias}/x.fifo\"\n\
         [[fd]]\nkind = \"file\"\npath = \"{alias}/x.log\"\nopen = \"append\"\ncreate = true\n"
    );
    let config = write_config(&d, "c.toml", &text);
    ok(&d, &config, &[]);
    let before = inodes(&d);
    assert_eq!(before.len(), 2);
    let first = signs(&d, &config);
    assert!(first.values().all(|s| s == "="), "{first:?}");
    let (_, err) = ok(&d, &config, &["-v"]);
    assert_eq!(
        err,
        "s6-fdholder-setdump: info: nothing to do: 2 fds held as declared\n"
    );
    assert_eq!(inodes(&d), before, "nothing reopened");
    // The file replaced behind the held fd: changed, whatever way the path is written.
    fs::remove_file(real.join("x.log")).unwrap();
    fs::write(real.join("x.log"), "").unwrap();
    assert_ne!(signs(&d, &config).values().filter(|s| *s == "~").count(), 0);
}

#[test]
fn one_changed_port_is_one_replacement() {
    let (d, config, tcp, _) = every_kind_file(true);
    let before = inodes(&d);
    let moved = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace(&format!(":{tcp}\""), &format!(":{moved}\""));
    fs::write(&config, text).unwrap();
    let lines = plan(&d, &config);
    let changed: Vec<_> = lines.iter().filter(|(s, ..)| s == "~").collect();
    assert_eq!(changed.len(), 1, "{lines:?}");
    assert_eq!(changed[0].1, "http");
    assert!(
        changed[0].2.ends_with(&format!(
            "\tdiffers: address 127.0.0.1:{tcp} → 127.0.0.1:{moved}"
        )),
        "{:?}",
        changed[0]
    );
    assert_eq!(lines.iter().filter(|(s, ..)| s == "=").count(), 6);

    let (_, err) = ok(&d, &config, &["-v"]);
    assert!(
        err.ends_with("info: set 1 fd (0 new, 1 changed), deleted 0, 6 held as declared\n"),
        "{err}"
    );
    let after = inodes(&d);
    for (id, ino) in &before {
        assert_eq!(id == "http", after[id] != *ino, "{id}");
    }
    let h = &held(&d)["http"];
    let Kind::Socket(s) = describe(h.fd.as_fd()).unwrap().kind else {
        panic!()
    };
    assert_eq!(s.address.to_string(), format!("127.0.0.1:{moved}"));
    TcpListener::bind(("127.0.0.1", tcp)).expect("the old socket was closed");
}

#[test]
fn a_dropped_entry_is_extra_and_prune_deletes_it() {
    let (d, config, _, udp) = every_kind_file(true);
    let text = fs::read_to_string(&config).unwrap();
    let cut = text.find("[[fd]]\nkind = \"udp\"").unwrap();
    let end = cut + text[cut..].find("\n\n").unwrap();
    fs::write(&config, format!("{}{}", &text[..cut], &text[end + 2..])).unwrap();
    let udp_id = format!("udp:127.0.0.1:{udp}");

    let lines = plan(&d, &config);
    let extra = lines.iter().find(|(s, ..)| s == "-").unwrap();
    assert_eq!(extra.1, udp_id);
    assert!(
        extra
            .2
            .starts_with(&format!("udp\t127.0.0.1:{udp}\tnever\t@")),
        "{extra:?}"
    );
    let (_, err) = ok(&d, &config, &["-v"]);
    assert!(err.contains("1 held but not in the file, kept"), "{err}");
    assert!(d.list().contains(&udp_id), "kept without --prune");

    let (_, err) = ok(&d, &config, &["-v", "--prune"]);
    assert!(err.contains(&format!("info: deleted {udp_id}\n")), "{err}");
    assert_eq!(d.list().len(), 6);
    assert!(!d.list().contains(&udp_id));
    assert!(signs(&d, &config).values().all(|s| s == "="));
}

#[test]
fn a_daemon_that_denies_getdump_gets_a_plan_from_list() {
    let d = Daemon::with(
        Rules {
            getdump: false,
            ..Rules::default()
        },
        1000,
    );
    let entry = |id: &str| {
        format!("[[fd]]\nkind = \"pipe\"\nread-id = \"{id}-r\"\nwrite-id = \"{id}-w\"\n")
    };
    let config = write_config(&d, "c.toml", &entry("a"));
    ok(&d, &config, &[]);
    fs::write(&config, entry("a") + &entry("b")).unwrap();
    let warning = "s6-fdholder-setdump: warning: the daemon's rules do not grant \
                   S6_FDHOLDER_GETDUMP: comparing ids only, from list\n";
    let (out, err) = ok(&d, &config, &["--check"]);
    assert_eq!(err, warning);
    let signs: Vec<&str> = out.lines().map(|l| &l[..1]).collect();
    assert_eq!(signs, ["=", "=", "+", "+"], "{out}");

    let doc = json(&d, &config, &["--check"]);
    assert_eq!(doc["source"], "list");
    assert_eq!(doc["fallback"], "getdump-denied");
    assert_eq!(doc["totals"]["same"], 2);
    assert_eq!(doc["totals"]["new"], 2);

    let (_, err) = ok(&d, &config, &["-v"]);
    assert!(err.contains("set 2 fds (2 new, 0 changed), deleted 0, 2 held as declared"));
    assert_eq!(d.list(), ["a-r", "a-w", "b-r", "b-w"]);

    // Without list either, nothing can be compared: exit 1, unless --replace-all.
    let none = Daemon::with(
        Rules {
            getdump: false,
            list: false,
            ..Rules::default()
        },
        1000,
    );
    let got = code_and_err(&run(&[&"-c", &config, &none.socket]));
    assert_fatal(
        &got,
        1,
        "unable to compare the file with what the daemon holds: unable to get fd list: ",
        "(--replace-all sets every fd without comparing)",
    );
    let doc = json(&none, &config, &["--replace-all"]);
    assert!(doc["source"].is_null());
    assert_eq!(doc["totals"]["set"], 4);
    assert!(
        doc["fds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["state"].is_null())
    );
}

#[test]
fn json_plan_and_result_parse_back() {
    let (d, config, tcp, _) = every_kind_file(false);
    let doc = json(&d, &config, &["--check"]);
    assert_eq!(doc["daemon"], d.socket.display().to_string());
    assert_eq!(
        (&doc["source"], &doc["applied"]),
        (&"getdump".into(), &false.into())
    );
    let fds = doc["fds"].as_array().unwrap();
    assert_eq!(fds.len(), 7);
    for f in fds {
        assert_eq!(
            (&f["state"], &f["action"]),
            (&"new".into(), &"open-and-set".into())
        );
    }
    let http = fds.iter().find(|f| f["id"] == "http").unwrap();
    assert_eq!(http["kind"], "tcp");
    assert_eq!(http["address"], format!("127.0.0.1:{tcp}"));
    let label = http["expires"]["tai64n"].as_str().unwrap();
    let limit = Tain::parse_label(label.as_bytes()).unwrap();
    let rfc = humantime::parse_rfc3339(http["expires"]["rfc3339"].as_str().unwrap()).unwrap();
    assert_eq!(limit.secs(), Tain::from_system_time(rfc).secs());
    assert!(fds[0]["expires"].is_null(), "no lifetime: never");
    assert_eq!(
        doc["totals"],
        serde_json::json!({"new": 7, "same": 0, "changed": 0, "extra": 0, "set": 7, "deleted": 0, "replaced": 0, "fixed": 0})
    );

    let doc = json(&d, &config, &[]);
    assert_eq!(doc["applied"], true);
    assert_eq!(doc["totals"]["set"], 7);
    assert_eq!(d.list().len(), 7);

    // A change and a dropped entry, applied with --prune.
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace("backlog = 7", "backlog = 5")
        .replace("[[fd]]\nkind = \"pipe\"", "[[fdx]]\nkind = \"pipe\"");
    let text = &text[..text.find("[[fdx]]").unwrap()];
    fs::write(&config, text).unwrap();
    let doc = json(&d, &config, &["--prune"]);
    let fds = doc["fds"].as_array().unwrap();
    let by_id = |id: &str| fds.iter().find(|f| f["id"] == id).unwrap();
    let unix = by_id(&format!("unix:{}", d.path("run/web.sock").display()));
    assert_eq!(unix["state"], "changed");
    assert_eq!(
        unix["differs"],
        serde_json::json!([{"what": "backlog", "held": "7", "declared": "5", "before": "7", "after": "5"}])
    );
    assert_eq!(unix["action"], "fix-in-place", "listen again");
    for id in ["pipe:r", "pipe:w"] {
        let f = by_id(id);
        assert_eq!(
            (&f["state"], &f["action"]),
            (&"extra".into(), &"delete".into())
        );
        assert_eq!(
            f["kind"],
            if id == "pipe:r" {
                "pipe-read"
            } else {
                "pipe-write"
            }
        );
    }
    assert_eq!(
        doc["totals"],
        serde_json::json!({"new": 0, "same": 4, "changed": 1, "extra": 2, "set": 0, "deleted": 2, "replaced": 0, "fixed": 1})
    );
    assert_eq!(d.list().len(), 5);
}

#[test]
fn replace_all_reopens_everything() {
    let (d, config, ..) = every_kind_file(true);
    let before = inodes(&d);
    // The tcp and udp sockets are held on their ports: a new one cannot bind there. The
    // rest is reopened, the held unix socket included.
    let text = fs::read_to_string(&config).unwrap();
    let cut = text.find("[[fd]]\nkind = \"tcp\"").unwrap();
    let end = text.find("[[fd]]\nkind = \"fifo\"").unwrap();
    fs::write(&config, format!("{}{}", &text[..cut], &text[end..])).unwrap();
    // The held pipe's two ends are both held: replacing them takes --force.
    let (_, err) = ok(&d, &config, &["-v", "--replace-all", "--force"]);
    assert!(
        err.contains(
            "set 5 fds (0 new, 0 changed, 5 replaced though held as declared), deleted 0, \
             0 left as declared"
        ),
        "{err}"
    );
    let after = inodes(&d);
    assert_eq!(after.len(), 7);
    for (id, ino) in &before {
        // A FIFO or file opened again is the same object; the dropped tcp and udp are kept.
        let same = ["http", "udp:", "fifo:", "file:"]
            .iter()
            .any(|p| id.starts_with(p));
        assert_eq!(same, after[id] == *ino, "{id}");
    }
    assert!(UnixStream::connect(d.path("run/web.sock")).is_ok());
}

/// The socket file of the unix socket the daemon holds under `id`: (device, inode) as
/// sock_diag reports it.
fn held_socket_file(d: &Daemon, id: &str) -> (u64, u32) {
    let h = &held(d)[id];
    unix_diag(describe(h.fd.as_fd()).unwrap().inode.1)
        .unwrap()
        .file
        .unwrap()
}

fn file_id(path: &Path) -> (u64, u32) {
    let m = path.symlink_metadata().unwrap();
    (m.dev(), m.ino() as u32)
}

#[test]
fn a_held_unix_socket_is_recognised_and_replaced() {
    let d = Daemon::start();
    let path = d.path("run/s.sock");
    let id = format!("unix:{}", path.display());
    let entry = |mode: &str, backlog: u32| {
        format!(
            "[[fd]]\nkind = \"unix\"\npath = \"{}\"\nmode = \"{mode}\"\nbacklog = {backlog}\n",
            path.display()
        )
    };
    let config = write_config(&d, "c.toml", &entry("0660", 7));
    ok(&d, &config, &[]);
    let first = inodes(&d)[&id];
    assert_eq!(held_socket_file(&d, &id), file_id(&path));

    // A new mode: `~`, fixed in place on the socket file of the daemon's own socket.
    fs::write(&config, entry("0600", 7)).unwrap();
    let lines = plan(&d, &config);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].0, "~");
    assert!(
        lines[0]
            .2
            .ends_with("\tin place\tdiffers: mode 0660 → 0600"),
        "{lines:?}"
    );
    ok(&d, &config, &[]);
    let second = inodes(&d)[&id];
    assert_eq!(second, first, "the same socket");
    assert_eq!(held_socket_file(&d, &id), file_id(&path), "the same file");
    assert_eq!(
        path.symlink_metadata().unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(held_socket_file(&d, &id), file_id(&path));

    // A new backlog, by listening again.
    fs::write(&config, entry("0600", 5)).unwrap();
    assert!(
        plan(&d, &config)[0]
            .2
            .ends_with("\tin place\tdiffers: backlog 7 → 5")
    );
    ok(&d, &config, &[]);
    assert_eq!(inodes(&d)[&id], second);

    assert_eq!(signs(&d, &config)[&id], "=");
    assert!(
        UnixStream::connect(&path).is_ok(),
        "the new socket listens there"
    );
    let leftovers: Vec<PathBuf> = tree(&d.path("run"));
    assert_eq!(leftovers, [path], "nothing moved aside is left");
}

/// After comparing ids from list (Debian's daemon cannot getdump more than 253 fds), a run
/// that must set something does, however large the list reply: Debian's daemon sends a
/// reply larger than the socket's buffer again and again (docs/PROTOCOL.md, defect 7), and
/// the setdump once read it as its answer and failed.
#[test]
fn a_run_after_a_large_list_sets_what_it_must() {
    let d = Daemon::with(Rules::default(), 1100);
    let n = 1000;
    let mut text = String::new();
    for i in 0..n {
        let path = d.path(&format!("run/{i}"));
        let id = format!("{i:x>250}");
        text += &format!(
            "[[fd]]\nkind = \"unix\"\npath = \"{}\"\nid = \"{id}\"\n",
            path.display()
        );
    }
    let config = write_config(&d, "c.toml", &text);
    ok(&d, &config, &[]);
    assert_eq!(d.list().len(), n);
    text += "[[fd]]\nkind = \"pipe\"\nread-id = \"pipe:r\"\nwrite-id = \"pipe:w\"\n";
    fs::write(&config, &text).unwrap();
    let (_, err) = ok(&d, &config, &[]);
    assert!(err.contains("comparing ids only, from list"), "{err}");
    let held = d.list();
    assert_eq!(held.len(), n + 2);
    assert!(held.iter().any(|id| id == "pipe:r") && held.iter().any(|id| id == "pipe:w"));
}

/// A held unix socket of another type at the declared path (stream → datagram →
/// seqpacket) is replaced: its socket file, the daemon's own, is moved aside for the new
/// one to be bound there, as for any other replacement.
#[test]
fn a_held_unix_socket_of_another_type_is_replaced() {
    let d = Daemon::start();
    let path = d.path("run/s.sock");
    let id = format!("unix:{}", path.display());
    let entry = |socket: &str| {
        format!(
            "[[fd]]\nkind = \"unix\"\npath = \"{}\"\nsocket = \"{socket}\"\n",
            path.display()
        )
    };
    let config = write_config(&d, "c.toml", &entry("stream"));
    ok(&d, &config, &[]);
    let mut before = inodes(&d)[&id];
    for (socket, kind) in [("dgram", "unix-dgram"), ("seqpacket", "unix-seqpacket")] {
        fs::write(&config, entry(socket)).unwrap();
        let lines = plan(&d, &config);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0].0, "~", "{lines:?}");
        assert!(lines[0].2.contains("\treplace\t"), "{lines:?}");
        ok(&d, &config, &[]);
        let after = inodes(&d)[&id];
        assert_ne!(after, before, "{socket}: a new socket is held");
        assert_eq!(
            held_socket_file(&d, &id),
            file_id(&path),
            "{socket}: bound there"
        );
        let info = describe(held(&d)[&id].fd.as_fd()).unwrap();
        assert_eq!(fdtools::config::reconcile::compare::kind_of(&info), kind);
        assert_eq!(signs(&d, &config)[&id], "=", "{socket}: converged");
        before = after;
    }
    let leftovers: Vec<PathBuf> = tree(&d.path("run"));
    assert_eq!(leftovers, [path], "nothing moved aside is left");
}

#[test]
fn a_failed_run_puts_the_held_socket_back() {
    let d = Daemon::start();
    let path = d.path("run/s.sock");
    let id = format!("unix:{}", path.display());
    let unix = |mode: &str| {
        format!(
            "[[fd]]\nkind = \"unix\"\npath = \"{}\"\nmode = \"{mode}\"\n",
            path.display()
        )
    };
    let config = write_config(&d, "c.toml", &unix("0660"));
    ok(&d, &config, &[]);
    let (held_ino, file) = (inodes(&d)[&id], file_id(&path));
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let text = format!(
        "{}[[fd]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:{port}\"\n",
        unix("0600")
    );
    fs::write(&config, text).unwrap();
    let before = tree(d.dir.path());
    let got = code_and_err(&run(&[&"-c", &config, &d.socket]));
    assert_fatal(
        &got,
        111,
        &format!("{}:5:1: fd[1] ", config.display()),
        "Address already in use",
    );
    assert_eq!(tree(d.dir.path()), before, "nothing left on disk");
    assert_eq!(
        file_id(&path),
        file,
        "the daemon's socket file is back in place"
    );
    assert_eq!(inodes(&d)[&id], held_ino);
    assert_eq!(
        path.symlink_metadata().unwrap().permissions().mode() & 0o777,
        0o660
    );
    assert!(UnixStream::connect(&path).is_ok());
}

#[test]
fn an_expiry_change_sets_the_held_fd_again() {
    let d = Daemon::start();
    let port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let entry = |days: u64| {
        let at = SystemTime::now() + Duration::from_secs(86400 * days);
        format!(
            "[[fd]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:{port}\"\nexpires = \"{}\"\n",
            humantime::format_rfc3339_seconds(at)
        )
    };
    let config = write_config(&d, "c.toml", &entry(1));
    ok(&d, &config, &[]);
    let before = inodes(&d);
    fs::write(&config, entry(2)).unwrap();
    let doc = json(&d, &config, &["--check"]);
    assert_eq!(doc["fds"][0]["state"], "changed");
    assert_eq!(doc["fds"][0]["differs"][0]["what"], "expiry");
    assert_eq!(doc["fds"][0]["action"], "set-limit");
    // A new socket could not bind the port the held one listens on: the held one is sent.
    let (_, err) = ok(&d, &config, &["-v"]);
    assert!(err.contains("again, with its new limit"), "{err}");
    assert_eq!(inodes(&d), before);
    let limit = held(&d).into_values().next().unwrap().limit;
    let want = doc["fds"][0]["expires"]["tai64n"].as_str().unwrap();
    assert_eq!(
        limit.secs(),
        Tain::parse_label(want.as_bytes()).unwrap().secs()
    );
}

#[test]
fn a_pipe_end_lost_gives_a_new_pipe() {
    let d = Daemon::start();
    let config = write_config(
        &d,
        "c.toml",
        "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n",
    );
    ok(&d, &config, &[]);
    let mut c = Client::connect(&d.socket, Deadline::NEVER).unwrap();
    c.delete(b"w").unwrap();
    let lines = plan(&d, &config);
    assert_eq!((&lines[0].0[..], &lines[1].0[..]), ("~", "+"), "{lines:?}");
    assert!(
        lines[0]
            .2
            .ends_with("\tdiffers: pipe held → new with its other end")
    );
    ok(&d, &config, &[]);
    let h = held(&d);
    nix::unistd::write(h["w"].fd.as_fd(), b"x").unwrap();
    let mut buf = [0u8; 1];
    nix::unistd::read(h["r"].fd.as_fd(), &mut buf).unwrap();
    assert_eq!(&buf, b"x", "both ends are one pipe");
}

#[test]
fn more_fds_than_one_getdump_message_still_converge() {
    // Debian's s6 2.11 daemon drops the connection on a getdump of more than 253 fds.
    let d = Daemon::start();
    let text: String = (0..150)
        .map(|i| format!("[[fd]]\nkind = \"pipe\"\nread-id = \"r{i}\"\nwrite-id = \"w{i}\"\n"))
        .collect();
    let config = write_config(&d, "c.toml", &text);
    ok(&d, &config, &[]);
    let (_, err) = ok(&d, &config, &["-v"]);
    let doc = json(&d, &config, &["--check"]);
    assert_eq!(doc["totals"]["same"], 300);
    if doc["source"] == "list" {
        assert_eq!(doc["fallback"], "getdump-too-large");
        assert_eq!(
            err,
            "s6-fdholder-setdump: warning: the daemon dropped the connection during getdump: \
             it holds 300 fds, more than the 253 one message can carry (a daemon built on \
             skalibs before 2.14 cannot send them): comparing ids only, from list\n\
             s6-fdholder-setdump: info: nothing to do: 300 fds held as declared\n"
        );
    } else {
        // A daemon that can send them all.
        assert_eq!(doc["source"], "getdump");
        assert_eq!(
            err,
            "s6-fdholder-setdump: info: nothing to do: 300 fds held as declared\n"
        );
    }
    assert_eq!(d.list().len(), 300);
}
