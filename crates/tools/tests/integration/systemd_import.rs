//! `s6-fdholder-inspect --from-systemd`: the shipped example units convert to exactly the
//! shipped TOML and warnings, the failures exit as documented, and config mode applies
//! that TOML to a real daemon, which then holds what the unit declared.
//!
//! After a deliberate change of the output, regenerate the examples with:
//! `cd examples/systemd && for u in *.socket; do n=${u%.socket};
//!  s6-fdholder-inspect --from-systemd $u >$n.toml 2>$n.stderr; [ -s $n.stderr ] || rm $n.stderr; done`

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;

const INSPECT: &str = env!("CARGO_BIN_EXE_s6-fdholder-inspect");

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/systemd")
}

/// Every example unit's name without `.socket`, sorted.
fn example_units() -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(examples_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".socket").map(str::to_owned)
        })
        .collect();
    v.sort();
    v
}

/// Converts `unit` (a path relative to `dir`, as a user in that directory types it).
fn convert_in(dir: &Path, unit: &str) -> Output {
    Command::new(INSPECT)
        .current_dir(dir)
        .args(["--from-systemd", unit])
        .output()
        .expect("run s6-fdholder-inspect")
}

#[test]
fn each_example_converts_to_its_shipped_toml_and_warnings() {
    let units = example_units();
    assert!(units.len() >= 4, "{units:?}");
    let dir = examples_dir();
    for u in &units {
        let out = convert_in(&dir, &format!("{u}.socket"));
        let (code, err) = code_and_err(&out);
        assert_eq!(code, 0, "{u}: {err}");
        let want = fs::read_to_string(dir.join(format!("{u}.toml"))).unwrap();
        let got = String::from_utf8(out.stdout).unwrap();
        assert_eq!(got, want, "{u}.toml is not what the tool prints");
        let want_err = fs::read_to_string(dir.join(format!("{u}.stderr"))).unwrap_or_default();
        assert_eq!(err, want_err, "{u}.stderr is not what the tool prints");
        for line in err.lines() {
            assert!(
                line.starts_with(&format!("s6-fdholder-inspect: warning: {u}.socket:"))
                    || line.starts_with(&format!("s6-fdholder-inspect: warning: {u}.service:")),
                "{line}"
            );
        }
        let doc: toml::Table = got.parse().unwrap();
        assert!(!doc["fd"].as_array().unwrap().is_empty(), "{u}");
    }
}

#[test]
fn a_unit_with_nothing_to_carry_over_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("nl.socket"),
        "[Socket]\nListenMessageQueue=/q\n",
    )
    .unwrap();
    let got = code_and_err(&convert_in(dir.path(), "nl.socket"));
    assert_eq!(
        got,
        (
            100,
            "s6-fdholder-inspect: warning: nl.socket:2: ListenMessageQueue=/q not carried \
             over: config mode has no POSIX message queues\n\
             s6-fdholder-inspect: fatal: nl.socket: no ListenStream, ListenDatagram, \
             ListenSequentialPacket, ListenFIFO, ListenNetlink or ListenSpecial that can be \
             carried over\n"
                .to_string()
        )
    );
}

#[test]
fn unreadable_and_non_utf8_units() {
    let dir = tempfile::tempdir().unwrap();
    let got = code_and_err(&convert_in(dir.path(), "none.socket"));
    assert_eq!(
        got,
        (
            111,
            "s6-fdholder-inspect: fatal: unable to read none.socket: No such file or directory\n"
                .to_string()
        )
    );
    fs::write(
        dir.path().join("bad.socket"),
        b"[Socket]\nListenFIFO=/\xff\n",
    )
    .unwrap();
    let got = code_and_err(&convert_in(dir.path(), "bad.socket"));
    assert_eq!(
        got,
        (
            100,
            "s6-fdholder-inspect: fatal: bad.socket:2: not UTF-8 text\n".to_string()
        )
    );
}

/// A free port on 127.0.0.1 for `kind` (tcp or udp), as the kernel hands them out.
fn free_port(kind: &str) -> u16 {
    if kind == "udp" {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

/// What the daemon should hold for one `[[fd]]`: its id, and the fields inspect reports.
struct Expected {
    id: String,
    kind: &'static str,
    family: Option<&'static str>,
    socket_type: Option<String>,
    address: Option<String>,
    path: Option<String>,
    /// A file's path and the mode the unit gave it.
    mode: Option<(String, u32)>,
}

/// `toml` with every path moved under `root`, abstract names made unique, and every IP
/// socket on a free loopback port; returns it and what the daemon should hold, by id.
fn relocate(toml: &str, root: &Path, tag: &str) -> (String, Vec<Expected>) {
    let mut doc: toml::Table = toml.parse().unwrap();
    let mut want = Vec::new();
    for fd in doc["fd"].as_array_mut().unwrap() {
        let fd = fd.as_table_mut().unwrap();
        let kind = fd["kind"].as_str().unwrap().to_string();
        if kind == "special" {
            // A device of this machine's stands in for the unit's.
            fd.insert("path".into(), "/dev/null".into());
            want.push(Expected {
                id: "special:/dev/null".into(),
                kind: "special",
                family: None,
                socket_type: None,
                address: None,
                path: None,
                mode: None,
            });
            continue;
        }
        if kind == "netlink" {
            // Nothing to move: a netlink socket has no path and no port.
            let (f, g) = (fd["family"].as_str().unwrap(), &fd["groups"]);
            want.push(Expected {
                id: format!("netlink:{f}:{g}"),
                kind: "socket",
                family: Some("netlink"),
                socket_type: None,
                address: None,
                path: None,
                mode: None,
            });
            continue;
        }
        if let Some(links) = fd.get_mut("symlinks").and_then(|l| l.as_array_mut()) {
            for l in links.iter_mut() {
                *l = format!("{}{}", root.display(), l.as_str().unwrap()).into();
            }
        }
        let (derived, address) = if let Some(path) = fd.get("path").and_then(|p| p.as_str()) {
            let new = match path.strip_prefix('@') {
                Some(name) => format!("@{tag}-{name}"),
                None => format!("{}{path}", root.display()),
            };
            fd.insert("path".into(), new.clone().into());
            (format!("{kind}:{new}"), new)
        } else {
            let addr = format!("127.0.0.1:{}", free_port(&kind));
            fd.insert("listen".into(), addr.clone().into());
            fd.remove("ipv6-only");
            (format!("{kind}:{addr}"), addr)
        };
        let socket_type = match kind.as_str() {
            "unix" => fd.get("socket").and_then(|t| t.as_str()).map(str::to_owned),
            "tcp" => Some("stream".into()),
            "udp" => Some("dgram".into()),
            _ => None,
        };
        let fifo = kind == "fifo";
        let mode = fd
            .get("mode")
            .and_then(|m| m.as_str())
            .map(|m| (address.clone(), u32::from_str_radix(m, 8).unwrap()));
        want.push(Expected {
            id: fd
                .get("id")
                .and_then(|i| i.as_str())
                .map_or(derived, str::to_owned),
            kind: if fifo { "fifo" } else { "socket" },
            family: match kind.as_str() {
                "unix" => Some("unix"),
                "tcp" | "udp" => Some("inet"),
                _ => None,
            },
            socket_type,
            path: fifo.then(|| address.clone()),
            address: (!fifo).then_some(address),
            mode,
        });
    }
    want.sort_by(|a, b| a.id.cmp(&b.id));
    (toml::to_string(&doc).unwrap(), want)
}

#[test]
fn each_example_applies_with_config_mode() {
    let dir = examples_dir();
    for u in example_units() {
        let d = Daemon::start();
        let toml = fs::read_to_string(dir.join(format!("{u}.toml"))).unwrap();
        let tag = d
            .dir
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let (toml, want) = relocate(&toml, &d.path("root"), &tag);
        let file = d.path(&format!("{u}.toml"));
        fs::write(&file, toml).unwrap();
        let out = run_tool(
            ["-c".as_ref(), file.as_os_str(), d.socket.as_os_str()],
            &[],
            vec![],
        );
        let (code, err) = code_and_err(&out);
        assert_eq!(code, 0, "{u}: {err}");
        let ids: Vec<&str> = want.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(d.list(), ids, "{u}");

        // A second run plans nothing: what the unit means is what is held.
        let out = run_tool(
            [
                "--check".as_ref(),
                "-c".as_ref(),
                file.as_os_str(),
                d.socket.as_os_str(),
            ],
            &[],
            vec![],
        );
        let plan = String::from_utf8(out.stdout).unwrap();
        assert!(plan.lines().all(|l| l.starts_with("=\t")), "{u}: {plan}");
        if u == "meaning" {
            use std::os::unix::fs::MetadataExt;
            let sock = d.path("root/run/meaning/meaning.sock");
            assert_eq!(
                fs::read_link(d.path("root/run/meaning-link.sock")).unwrap(),
                sock
            );
            let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
            let m = fs::symlink_metadata(&sock).unwrap();
            assert_eq!(
                (m.uid(), m.gid()),
                (nobody.uid.as_raw(), nobody.gid.as_raw())
            );
        }

        // What the daemon holds is what the unit declared, as inspect reads the fds.
        let out = Command::new(INSPECT)
            .args(["--json".as_ref(), d.socket.as_os_str()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for (row, w) in doc["fds"].as_array().unwrap().iter().zip(&want) {
            if w.kind == "special" {
                assert_eq!(row["path"].as_str(), Some("/dev/null"), "{u}");
                continue;
            }
            if w.family == Some("netlink") {
                assert_eq!(row["family"].as_str(), Some("netlink"), "{u}");
                continue;
            }
            let listening = w.socket_type.as_deref().map(|t| t != "dgram");
            assert_eq!(
                (
                    row["id"].as_str(),
                    row["kind"].as_str(),
                    row["family"].as_str(),
                    row["type"].as_str(),
                    row["address"].as_str(),
                    row["listening"].as_bool(),
                    row["path"].as_str(),
                ),
                (
                    Some(w.id.as_str()),
                    Some(w.kind),
                    w.family,
                    w.socket_type.as_deref(),
                    w.address.as_deref(),
                    listening,
                    w.path.as_deref(),
                ),
                "{u}"
            );
            if let Some((path, mode)) = &w.mode {
                let meta = fs::metadata(path).unwrap();
                assert_eq!(meta.permissions().mode() & 0o7777, *mode, "{u}: {path}");
            }
        }
    }
}
