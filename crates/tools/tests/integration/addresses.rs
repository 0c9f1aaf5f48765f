//! Addresses that converge: each form applied twice plans nothing the second time, with
//! the socket the daemon holds bound where the file says. The kernel drops the scope of a
//! non-link-local IPv6 address (`[::1%1]` is bound as `[::1]`), a scope may name an
//! interface (`%lo`), an IPv4-mapped address is reported as written, and IPV6_V6ONLY on a
//! specific IPv6 address changes nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsFd;

use fdtools::fdinfo::{Address, Kind, describe};

use crate::common::Daemon;
use crate::config_mode::{free_port, held, write_config};
use crate::contract::tool;

/// Applies a tcp entry on `listen` (with `extra` keys) twice; returns the daemon and the
/// address the held socket is bound to.
fn twice(listen: &str, extra: &str) -> (Daemon, SocketAddr) {
    let d = Daemon::start();
    let text = format!("[[fd]]\nkind = \"tcp\"\nid = \"t\"\nlisten = \"{listen}\"\n{extra}");
    let config = write_config(&d, "c.toml", &text);
    let (code, _, err) = tool(&d, &config, &["--exit-code"]);
    assert_eq!(code, 2, "{listen}: {err}");
    let (code, out, err) = tool(&d, &config, &["--check", "--exit-code"]);
    assert_eq!(
        code, 0,
        "{listen}: nothing to do the second time: {out}{err}"
    );
    assert!(out.starts_with("=\tt\t"), "{out}");
    let (code, _, err) = tool(&d, &config, &["--exit-code"]);
    assert_eq!(code, 0, "{listen}: {err}");
    let h = held(&d).remove("t").unwrap();
    let Kind::Socket(s) = describe(h.fd.as_fd()).unwrap().kind else {
        panic!("not a socket")
    };
    let Address::Ip(bound) = s.address else {
        panic!("not bound to an IP address")
    };
    (d, bound)
}

fn port() -> u16 {
    free_port(IpAddr::V6(Ipv6Addr::LOCALHOST))
}

#[test]
fn ipv6_only_on_a_specific_ipv6_address() {
    let p = port();
    let (d, bound) = twice(&format!("[::1]:{p}"), "ipv6-only = true\n");
    assert_eq!(bound, format!("[::1]:{p}").parse().unwrap());
    // Declared otherwise: no change, since no IPv4 packet reaches [::1] either way.
    let config = write_config(
        &d,
        "c.toml",
        &format!("[[fd]]\nkind = \"tcp\"\nid = \"t\"\nlisten = \"[::1]:{p}\"\nipv6-only = false\n"),
    );
    assert_eq!(tool(&d, &config, &["--check", "--exit-code"]).0, 0);
}

#[test]
fn a_scope_on_a_non_link_local_address_by_index() {
    let p = port();
    let (_d, bound) = twice(&format!("[::1%1]:{p}"), "");
    assert_eq!(
        bound,
        format!("[::1]:{p}").parse().unwrap(),
        "the kernel drops it"
    );
}

#[test]
fn a_scope_by_interface_name() {
    let p = port();
    let (_d, bound) = twice(&format!("[::1%lo]:{p}"), "");
    assert_eq!(bound.port(), p);
}

#[test]
fn a_link_local_address_scoped_by_name() {
    // fe80::1 is not an address of lo: freebind lets the socket bind it all the same.
    let p = port();
    let (_d, bound) = twice(&format!("[fe80::1%lo]:{p}"), "freebind = true\n");
    let lo = nix::net::if_::if_nametoindex("lo").unwrap();
    let SocketAddr::V6(v6) = bound else { panic!() };
    assert_eq!((v6.scope_id(), v6.port()), (lo, p), "the scope is kept");
}

#[test]
fn an_ipv4_mapped_address() {
    let p = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let (_d, bound) = twice(&format!("[::ffff:127.0.0.1]:{p}"), "");
    assert_eq!(bound, format!("[::ffff:127.0.0.1]:{p}").parse().unwrap());
    std::net::TcpStream::connect(("127.0.0.1", p)).expect("reachable over IPv4");
}
