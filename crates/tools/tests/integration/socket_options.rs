//! The socket options of every socket kind (pass-credentials, pass-security, priority,
//! mark, timestamping, and the buffers of unix sockets) on a real daemon: the held sockets
//! have them, a second run plans only `=`, and a changed one is a `~` naming it.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;

use fdtools::sys::PassSec;
use nix::sys::socket::{getsockopt, sockopt};

use crate::common::{Daemon, code_and_err};
use crate::config_mode::{free_port, held, run, write_config};

/// `--check`'s lines for `config` against `d`.
fn check(d: &Daemon, config: &std::path::Path) -> Vec<String> {
    let out = run(&[&"--check", &"-c", &config, &d.socket]);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 0, "{err}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn config(d: &Daemon, port: u16, stamp: &str) -> String {
    let root = d.dir.path().display();
    format!(
        r#"
[[fd]]
kind = "unix"
path = "{root}/run/log.sock"
socket = "dgram"
pass-credentials = true
pass-security = true
priority = 6
mark = 7
timestamping = "{stamp}"
receive-buffer = 65536
send-buffer = 32768

[[fd]]
kind = "tcp"
listen = "127.0.0.1:{port}"
priority = 3
timestamping = "us"
pass-packet-info = true
ip-tos = 16
ip-ttl = 9

[[fd]]
kind = "udp"
listen = "[::1]:{port}"
ip-ttl = 7
"#
    )
}

#[test]
fn every_socket_option_is_held_and_converges() {
    let d = Daemon::start();
    let port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let path = write_config(&d, "o.toml", &config(&d, port, "ns"));
    let out = run(&[&"-c", &path, &d.socket]);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 0, "{err}");

    let fds = held(&d);
    let unix = fds[&format!("unix:{}/run/log.sock", d.dir.path().display())]
        .fd
        .as_fd();
    assert!(getsockopt(&unix, sockopt::PassCred).unwrap());
    assert!(getsockopt(&unix, PassSec).unwrap());
    assert_eq!(getsockopt(&unix, sockopt::Priority).unwrap(), 6);
    assert_eq!(getsockopt(&unix, sockopt::Mark).unwrap(), 7);
    assert!(getsockopt(&unix, sockopt::ReceiveTimestampns).unwrap());
    // The kernel doubles what is asked, for its bookkeeping.
    assert_eq!(getsockopt(&unix, sockopt::RcvBuf).unwrap(), 2 * 65536);
    assert_eq!(getsockopt(&unix, sockopt::SndBuf).unwrap(), 2 * 32768);
    let tcp = fds[&format!("tcp:127.0.0.1:{port}")].fd.as_fd();
    assert_eq!(getsockopt(&tcp, sockopt::Priority).unwrap(), 3);
    assert!(getsockopt(&tcp, sockopt::ReceiveTimestamp).unwrap());
    assert!(getsockopt(&tcp, sockopt::Ipv4PacketInfo).unwrap());
    assert_eq!(getsockopt(&tcp, sockopt::Ipv4Tos).unwrap(), 16);
    assert_eq!(getsockopt(&tcp, sockopt::Ipv4Ttl).unwrap(), 9);
    let udp = fds[&format!("udp:[::1]:{port}")].fd.as_fd();
    assert_eq!(getsockopt(&udp, sockopt::Ipv6Ttl).unwrap(), 7);

    let plan = check(&d, &path);
    assert_eq!(plan.len(), 3);
    assert!(plan.iter().all(|l| l.starts_with("=\t")), "{plan:?}");

    let changed = write_config(&d, "o2.toml", &config(&d, port, "off"));
    let plan = check(&d, &changed);
    assert!(plan[0].starts_with("~\t"), "{plan:?}");
    assert!(plan[0].contains("timestamping ns → off"), "{plan:?}");
    assert!(plan[1].starts_with("=\t"), "{plan:?}");
}

#[test]
fn netlink_sockets_are_held_and_converge() {
    let d = Daemon::start();
    let text = r#"
[[fd]]
kind = "netlink"
family = "kobject-uevent"
groups = 1
pass-credentials = true
receive-buffer = 134217728

[[fd]]
kind = "netlink"
id = "networkd"
family = "route"
groups = 1361
pass-packet-info = true
"#;
    let path = write_config(&d, "n.toml", text);
    let out = run(&[&"-c", &path, &d.socket]);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 0, "{err}");
    let fds = held(&d);
    let uevent = fds["netlink:kobject-uevent:1"].fd.as_fd();
    assert_eq!(getsockopt(&uevent, fdtools::sys::Protocol).unwrap(), 15);
    assert!(getsockopt(&uevent, sockopt::PassCred).unwrap());
    // Past rmem_max, as systemd sets udev's 128M: SO_RCVBUFFORCE, which root may use.
    let got = getsockopt(&uevent, sockopt::RcvBuf).unwrap();
    if nix::unistd::geteuid().is_root() {
        assert_eq!(got, 2 * 134217728);
    } else {
        assert!(got > 0);
    }
    let route = fds["networkd"].fd.as_fd();
    assert_eq!(getsockopt(&route, fdtools::sys::Protocol).unwrap(), 0);
    let addr: nix::sys::socket::NetlinkAddr =
        nix::sys::socket::getsockname(std::os::fd::AsRawFd::as_raw_fd(&route)).unwrap();
    assert_eq!(addr.groups(), 1361);
    assert!(getsockopt(&route, fdtools::sys::NetlinkPktInfo).unwrap());

    let plan = check(&d, &path);
    assert_eq!(plan.len(), 2);
    assert!(plan.iter().all(|l| l.starts_with("=\t")), "{plan:?}");
    let changed = write_config(&d, "n2.toml", &text.replace("1361", "1"));
    let plan = check(&d, &changed);
    assert!(
        plan[1].starts_with("~\t") && plan[1].contains("route:1361 → route:1"),
        "{plan:?}"
    );
}

#[test]
fn symlinks_are_made_beside_and_removed_on_rollback() {
    let d = Daemon::start();
    let root = d.dir.path().display().to_string();
    let text = format!(
        "[[fd]]\nkind = \"unix\"\npath = \"{root}/run/a.sock\"\n\
         symlinks = [\"{root}/run/b.sock\", \"{root}/other/c.sock\"]\n\
         [[fd]]\nkind = \"fifo\"\npath = \"{root}/run/f\"\nsymlinks = [\"{root}/run/g\"]\n"
    );
    let path = write_config(&d, "s.toml", &text);
    let out = run(&[&"-c", &path, &d.socket]);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 0, "{err}");
    for (link, target) in [
        ("run/b.sock", "run/a.sock"),
        ("other/c.sock", "run/a.sock"),
        ("run/g", "run/f"),
    ] {
        assert_eq!(
            std::fs::read_link(d.path(link)).unwrap(),
            d.path(target),
            "{link}"
        );
    }
    let plan = check(&d, &path);
    assert!(plan.iter().all(|l| l.starts_with("=\t")), "{plan:?}");
    std::fs::remove_file(d.path("run/g")).unwrap();
    let plan = check(&d, &path);
    assert!(
        plan[1].starts_with("~\t") && plan[1].contains("symlinks"),
        "{plan:?}"
    );
    let (code, err) = code_and_err(&run(&[&"-c", &path, &d.socket]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_link(d.path("run/g")).unwrap(),
        d.path("run/f")
    );
    let plan = check(&d, &path);
    assert!(plan.iter().all(|l| l.starts_with("=\t")), "{plan:?}");

    // A run that fails after making a link removes it, and the directory it made.
    let text = format!(
        "[[fd]]\nkind = \"unix\"\npath = \"{root}/new/x.sock\"\n\
         symlinks = [\"{root}/new2/y.sock\"]\n\
         [[fd]]\nkind = \"fifo\"\npath = \"{root}/run/a.sock\"\n"
    );
    let bad = write_config(&d, "bad.toml", &text);
    let out = run(&[&"-c", &bad, &d.socket]);
    let (code, err) = code_and_err(&out);
    assert_ne!(code, 0, "{err}");
    assert!(!d.path("new2").exists() && !d.path("new").exists(), "{err}");
}

#[test]
fn special_files_are_opened_as_they_are_and_converge() {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let d = Daemon::start();
    let file = d.path("state");
    std::fs::write(&file, "x").unwrap();
    let text = format!(
        "[[fd]]\nkind = \"special\"\npath = \"/dev/null\"\nwritable = true\n\
         [[fd]]\nkind = \"special\"\nid = \"state\"\npath = \"{}\"\n",
        file.display()
    );
    let path = write_config(&d, "sp.toml", &text);
    let out = run(&[&"-c", &path, &d.socket]);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 0, "{err}");
    let fds = held(&d);
    let mode = |id: &str| {
        let fl = OFlag::from_bits_truncate(fcntl(fds[id].fd.as_fd(), FcntlArg::F_GETFL).unwrap());
        (fl & OFlag::O_ACCMODE, fl.contains(OFlag::O_NONBLOCK))
    };
    assert_eq!(mode("special:/dev/null"), (OFlag::O_RDWR, true));
    assert_eq!(mode("state"), (OFlag::O_RDONLY, true));
    let plan = check(&d, &path);
    assert!(plan.iter().all(|l| l.starts_with("=\t")), "{plan:?}");
    // A lifetime change is seen too.
    let short = write_config(
        &d,
        "sp1.toml",
        &format!("[defaults]\nlifetime = \"1h\"\n{text}"),
    );
    let plan = check(&d, &short);
    assert!(plan.iter().all(|l| l.starts_with("~\t")), "{plan:?}");
    let ro = write_config(
        &d,
        "sp2.toml",
        &text.replace("writable = true", "writable = false"),
    );
    let plan = check(&d, &ro);
    assert!(
        plan[0].starts_with("~\t") && plan[0].contains("read-write → read"),
        "{plan:?}"
    );

    // A directory is not a special file; nothing is held from the failed run.
    let dir = write_config(
        &d,
        "sp3.toml",
        "[[fd]]\nkind = \"special\"\npath = \"/tmp\"\n",
    );
    let (code, err) = code_and_err(&run(&[&"-c", &dir, &d.socket]));
    assert_eq!(code, 111, "{err}");
    assert!(
        err.contains("/tmp is a directory, not a character device or regular file"),
        "{err}"
    );
}
