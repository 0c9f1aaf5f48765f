//! Fixing in place: what can be changed on the held socket (options, backlog) or on its
//! socket file (mode) is changed there, so the daemon keeps the same socket; a run that
//! fails afterwards puts every fix back.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;

use fdtools::config::reconcile::compare::held_backlog;
use fdtools::fdinfo::describe;
use nix::sys::socket::{getsockopt, sockopt};

use crate::common::Daemon;
use crate::config_mode::{free_port, held, write_config};
use crate::contract::tool;

/// The id and rest of each `--check` line, by id: (sign, rest).
fn check(d: &Daemon, config: &std::path::Path) -> BTreeMap<String, (String, String)> {
    let (code, out, err) = tool(d, config, &["--check"]);
    assert_eq!(code, 0, "{err}");
    out.lines()
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let (sign, id) = (f.next().unwrap(), f.next().unwrap());
            (id.into(), (sign.into(), f.next().unwrap_or("").into()))
        })
        .collect()
}

fn tcp_entry(port: u16, backlog: u32, nodelay: bool) -> String {
    format!(
        "[[fd]]\nkind = \"tcp\"\nid = \"web\"\nlisten = \"127.0.0.1:{port}\"\n\
         backlog = {backlog}\nnodelay = {nodelay}\nkeepalive = {nodelay}\n"
    )
}

#[test]
fn nodelay_and_backlog_of_a_held_tcp_socket_are_fixed_in_place() {
    let d = Daemon::start();
    let port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let config = write_config(&d, "c.toml", &tcp_entry(port, 7, false));
    assert_eq!(tool(&d, &config, &[]).0, 0);
    let h = held(&d).remove("web").unwrap();
    let inode = describe(h.fd.as_fd()).unwrap().inode;
    assert_eq!(held_backlog(h.fd.as_fd()), Some(7));
    // A client queued on the held socket before the fix stays queued after it.
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();

    fs::write(&config, tcp_entry(port, 5, true)).unwrap();
    let (sign, rest) = check(&d, &config).remove("web").unwrap();
    assert_eq!(sign, "~");
    assert!(
        rest.ends_with("\tin place\tdiffers: keepalive no → yes; nodelay no → yes; backlog 7 → 5"),
        "{rest}"
    );
    assert_eq!(tool(&d, &config, &["--check", "--exit-code"]).0, 2);
    let (code, _, err) = tool(&d, &config, &["-v", "--exit-code"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("info: fixed web in place\n"), "{err}");
    assert!(
        err.contains(
            "info: set 0 fds (0 new, 0 changed), fixed 1 fd in place, deleted 0, 0 held as declared"
        ),
        "{err}"
    );
    let h = held(&d).remove("web").unwrap();
    assert_eq!(
        describe(h.fd.as_fd()).unwrap().inode,
        inode,
        "the same socket"
    );
    assert!(getsockopt(&h.fd.as_fd(), sockopt::TcpNoDelay).unwrap());
    assert!(getsockopt(&h.fd.as_fd(), sockopt::KeepAlive).unwrap());
    assert_eq!(held_backlog(h.fd.as_fd()), Some(5));
    let listener = TcpListener::from(h.fd);
    let (accepted, _) = listener.accept().unwrap();
    assert_eq!(accepted.peer_addr().unwrap(), client.local_addr().unwrap());
    // Converged: nothing planned, exit 0 with --exit-code.
    assert_eq!(check(&d, &config)["web"].0, "=");
    assert_eq!(tool(&d, &config, &["--exit-code"]).0, 0);
}

#[test]
fn a_failed_run_puts_its_fixes_back() {
    let d = Daemon::start();
    let path = d.path("run/s.sock");
    let unix = |mode: &str| {
        format!(
            "[[fd]]\nkind = \"unix\"\npath = \"{}\"\nmode = \"{mode}\"\n",
            path.display()
        )
    };
    let config = write_config(&d, "c.toml", &unix("0660"));
    assert_eq!(tool(&d, &config, &[]).0, 0);
    let mode = || fs::symlink_metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(), 0o660);
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let text = format!(
        "{}\n[[fd]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:{port}\"\n",
        unix("0600")
    );
    fs::write(&config, text).unwrap();
    let (code, _, err) = tool(&d, &config, &[]);
    assert_eq!(code, 111, "{err}");
    assert!(err.contains("Address already in use"), "{err}");
    assert_eq!(mode(), 0o660, "the mode is put back");
    drop(taken);
    assert_eq!(tool(&d, &config, &[]).0, 0, "once the port is free");
    assert_eq!(mode(), 0o600);
}

#[test]
fn a_fifos_mode_and_a_sockets_buffers_are_fixed_in_place() {
    let d = Daemon::start();
    let fifo = d.path("f");
    let udp = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let text = |mode: &str, buf: u32| {
        format!(
            "[[fd]]\nkind = \"fifo\"\npath = \"{}\"\nmode = \"{mode}\"\n\n\
             [[fd]]\nkind = \"udp\"\nid = \"u\"\nlisten = \"127.0.0.1:{udp}\"\n\
             receive-buffer = {buf}\nsend-buffer = {buf}\n",
            fifo.display()
        )
    };
    let config = write_config(&d, "c.toml", &text("0600", 65536));
    assert_eq!(tool(&d, &config, &[]).0, 0);
    let id = format!("fifo:{}", fifo.display());
    let before: Vec<_> = {
        let h = held(&d);
        [&h[&id], &h["u"]]
            .iter()
            .map(|h| describe(h.fd.as_fd()).unwrap().inode)
            .collect()
    };
    let u = held(&d).remove("u").unwrap();
    // The kernel reports twice what was set.
    assert_eq!(
        getsockopt(&u.fd.as_fd(), sockopt::RcvBuf).unwrap(),
        2 * 65536
    );
    assert_eq!(tool(&d, &config, &["--check", "--exit-code"]).0, 0);

    fs::write(&config, text("0640", 131072)).unwrap();
    let plan = check(&d, &config);
    assert!(
        plan[&id]
            .1
            .ends_with("\tin place\tdiffers: mode 0600 → 0640"),
        "{plan:?}"
    );
    assert!(
        plan["u"].1.ends_with(
            "\tin place\tdiffers: receive-buffer 131072 → 262144; send-buffer 131072 → 262144"
        ),
        "{plan:?}"
    );
    let (code, _, err) = tool(&d, &config, &["--exit-code", "-v"]);
    assert_eq!(code, 2, "{err}");
    let h = held(&d);
    let after: Vec<_> = [&h[&id], &h["u"]]
        .iter()
        .map(|h| describe(h.fd.as_fd()).unwrap().inode)
        .collect();
    assert_eq!(after, before, "the same FIFO and socket");
    assert_eq!(
        fs::metadata(&fifo).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(
        getsockopt(&h["u"].fd.as_fd(), sockopt::RcvBuf).unwrap(),
        2 * 131072
    );
    assert_eq!(
        getsockopt(&h["u"].fd.as_fd(), sockopt::SndBuf).unwrap(),
        2 * 131072
    );
    assert_eq!(tool(&d, &config, &["--check", "--exit-code"]).0, 0);
}
