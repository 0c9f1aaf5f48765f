//! `s6-fdholder-inspect --toml`: a snapshot of what a daemon holds, as a config file. Applied
//! to the same daemon it plans nothing; applied to a fresh daemon after the first is gone
//! (as after a reboot) it recreates the same fds, under the same ids, with their lifetimes;
//! what cannot be recreated is a comment.

use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::process::Command;

use fdholder::{Client, Deadline, Tain};
use serde_json::Value;

use crate::common::Daemon;
use crate::config_mode::{free_port, write_config};
use crate::contract::tool;

const INSPECT: &str = env!("CARGO_BIN_EXE_s6-fdholder-inspect");

fn inspect(d: &Daemon, arg: &str) -> String {
    let out = Command::new(INSPECT)
        .arg(arg)
        .arg(&d.socket)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// What must be the same after a round trip: every field but the inode, the device and
/// the expiry (a new run counts the lifetime from its own start).
fn shape(json: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(json).unwrap();
    v["fds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let mut f = f.clone();
            let finite = !f["expires"].is_null();
            let o = f.as_object_mut().unwrap();
            for k in ["inode", "device", "expires", "seconds_left"] {
                o.remove(k);
            }
            o.insert("finite".into(), Value::Bool(finite));
            f
        })
        .collect()
}

#[test]
fn a_snapshot_plans_nothing_and_recreates_the_same_fds() {
    let mut a = Daemon::start();
    let root = a.dir.path().display().to_string();
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (tcp, udp) = (free_port(lo), free_port(lo));
    let text = format!(
        "[[fd]]\nkind = \"unix\"\npath = \"{root}/run/web.sock\"\nmode = \"0640\"\nbacklog = 9\n\n\
         [[fd]]\nkind = \"unix\"\npath = \"@{root}/abs\"\nsocket = \"dgram\"\n\n\
         [[fd]]\nkind = \"tcp\"\nid = \"http\"\nlisten = \"127.0.0.1:{tcp}\"\nbacklog = 7\n\
         nodelay = true\nlifetime = \"1h\"\n\n\
         [[fd]]\nkind = \"udp\"\nlisten = \"127.0.0.1:{udp}\"\nbroadcast = true\n\n\
         [[fd]]\nkind = \"fifo\"\npath = \"{root}/fifo\"\n\n\
         [[fd]]\nkind = \"file\"\npath = \"{root}/log\"\nopen = \"append\"\ncreate = true\n\n\
         [[fd]]\nkind = \"pipe\"\nread-id = \"pipe:r\"\nwrite-id = \"pipe:w\"\nbuffer-size = 65536\n"
    );
    let config = write_config(&a, "c.toml", &text);
    assert_eq!(tool(&a, &config, &[]).0, 0);
    // What cannot be recreated: a pipe end alone, a deleted file.
    let (r, _w) = nix::unistd::pipe().unwrap();
    let mut c = Client::connect(&a.socket, Deadline::NEVER).unwrap();
    c.store(
        &r,
        b"pipe:alone",
        Tain::now() + std::time::Duration::from_secs(60),
    )
    .unwrap();
    fs::write(a.path("gone"), "x").unwrap();
    let gone = fs::File::open(a.path("gone")).unwrap();
    c.store(
        gone.as_fd(),
        b"file:gone",
        Tain::now() + std::time::Duration::from_secs(60),
    )
    .unwrap();
    fs::remove_file(a.path("gone")).unwrap();
    drop(c);

    let snap_text = inspect(&a, "--toml");
    for why in [
        "# not recreated: pipe:alone: a pipe end whose other end",
        "# not recreated: file:gone: ",
    ] {
        assert!(snap_text.contains(why), "{why}: {snap_text}");
    }
    let snap = a.path("snap.toml");
    fs::write(&snap, &snap_text).unwrap();
    // The same daemon: nothing planned.
    let (code, out, err) = tool(&a, &snap, &["--check", "--exit-code"]);
    assert_eq!(code, 0, "{out}{err}");
    let signs: Vec<(&str, &str)> = out
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            (f.next().unwrap(), f.next().unwrap())
        })
        .collect();
    let same = signs.iter().filter(|(s, _)| *s == "=").count();
    assert_eq!(
        same, 8,
        "every recreatable fd is declared and the same: {out}"
    );
    let extra: Vec<&str> = signs
        .iter()
        .filter(|(s, _)| *s == "-")
        .map(|(_, id)| *id)
        .collect();
    assert_eq!(
        extra,
        ["file:gone", "pipe:alone"],
        "only what a comment explains: {out}"
    );
    let before = shape(&inspect(&a, "--json"));
    let lifetime = snap_text
        .split("id = \"http\"")
        .nth(1)
        .and_then(|t| t.split("lifetime = \"").nth(1))
        .and_then(|t| t.split('s').next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("http keeps a lifetime");
    assert!((3590..=3600).contains(&lifetime), "{lifetime}");

    // A fresh daemon after the first is gone (its sockets' files are left, stale).
    a.stop();
    let b = Daemon::start();
    let snap_b = write_config(&b, "snap.toml", &snap_text);
    let (code, _, err) = tool(&b, &snap_b, &["--exit-code"]);
    assert_eq!(code, 2, "{err}");
    let after = shape(&inspect(&b, "--json"));
    let recreatable: Vec<&Value> = before
        .iter()
        .filter(|f| f["id"] != "pipe:alone" && f["id"] != "file:gone")
        .collect();
    assert_eq!(recreatable, after.iter().collect::<Vec<_>>());
    let (code, out, err) = tool(&b, &snap_b, &["--check", "--exit-code"]);
    assert_eq!(code, 0, "{out}{err}");
    // And a snapshot of the new daemon is the same file, lifetimes aside.
    let strip = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with("lifetime") && !l.starts_with("# not recreated"))
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&inspect(&b, "--toml")), strip(&snap_text));
}
