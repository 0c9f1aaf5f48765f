//! A `listen` value to a socket address, scoped IPv6 addresses included: `[fe80::1%2]:80`
//! (the scope by interface index, as std parses it) and `[fe80::1%lo]:80` (by interface
//! name, which std refuses, looked up with `if_nametoindex`).
//!
//! The kernel keeps a scope only where it means something: a link-local unicast address
//! (`fe80::/10`) or a link- or interface-local multicast one. Elsewhere (`[::1%1]`) it binds
//! the address and drops the scope, so that the held socket reports none: [`effective`] is
//! the address as the kernel will report it, which is what a held socket is compared with.

use std::net::{SocketAddr, SocketAddrV6};

/// Why a `listen` value is not an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenError {
    /// Not `IP:PORT` with an IP literal.
    Syntax,
    /// `%NAME` names no network interface of this host.
    NoInterface(String),
}

/// Parses `IP:PORT`, `[IPv6]:PORT`, `[IPv6%INDEX]:PORT` or `[IPv6%NAME]:PORT`.
pub fn parse_listen(s: &str) -> Result<SocketAddr, ListenError> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let (Some(rest), Some(close)) = (s.strip_prefix('['), s.find(']')) else {
        return Err(ListenError::Syntax);
    };
    let inside = &rest[..close - 1];
    let (ip, name) = inside.split_once('%').ok_or(ListenError::Syntax)?;
    if name.is_empty() || name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ListenError::Syntax);
    }
    let port: u16 = s[close + 1..]
        .strip_prefix(':')
        .and_then(|p| p.parse().ok())
        .ok_or(ListenError::Syntax)?;
    let ip = ip.parse().map_err(|_| ListenError::Syntax)?;
    let index = nix::net::if_::if_nametoindex(name)
        .map_err(|_| ListenError::NoInterface(name.to_string()))?;
    Ok(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, index)))
}

/// The address as a socket bound to `a` reports it: the scope dropped where the kernel
/// drops it (see the module's comment).
pub fn effective(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) if v6.scope_id() != 0 => {
            let ip = v6.ip();
            let seg = ip.segments()[0];
            let link_local = seg & 0xffc0 == 0xfe80;
            // ff01::/16 (interface-local) and ff02::/16 (link-local) multicast.
            let scoped_multicast = seg & 0xff0f == 0xff01 || seg & 0xff0f == 0xff02;
            if link_local || scoped_multicast {
                a
            } else {
                SocketAddr::V6(SocketAddrV6::new(*ip, v6.port(), v6.flowinfo(), 0))
            }
        }
        _ => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_by_index_and_by_name() {
        let lo = nix::net::if_::if_nametoindex("lo").unwrap();
        let a = parse_listen("[fe80::1%lo]:8084").unwrap();
        assert_eq!(a, format!("[fe80::1%{lo}]:8084").parse().unwrap());
        assert_eq!(
            parse_listen("[::1%1]:80"),
            Ok("[::1%1]:80".parse().unwrap())
        );
        assert_eq!(
            parse_listen("[fe80::1%nosuchif0]:80"),
            Err(ListenError::NoInterface("nosuchif0".into()))
        );
        for bad in [
            "localhost:80",
            "[fe80::1%lo]",
            "[fe80::1%]:80",
            "[x%lo]:80",
            "[fe80::1%lo]:x",
        ] {
            assert_eq!(parse_listen(bad), Err(ListenError::Syntax), "{bad}");
        }
    }

    #[test]
    fn the_kernel_keeps_a_scope_only_where_it_means_something() {
        let e = |s: &str| effective(s.parse().unwrap()).to_string();
        assert_eq!(e("[::1%1]:80"), "[::1]:80");
        assert_eq!(e("[fe80::1%1]:80"), "[fe80::1%1]:80");
        assert_eq!(e("[ff02::1%1]:80"), "[ff02::1%1]:80");
        assert_eq!(e("[2001:db8::1%1]:80"), "[2001:db8::1]:80");
        assert_eq!(e("127.0.0.1:80"), "127.0.0.1:80");
    }
}
