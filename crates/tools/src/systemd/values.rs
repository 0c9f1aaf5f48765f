//! The values of socket-unit directives, read as systemd reads them: listen addresses
//! (systemd.socket(5)), booleans, octal modes, sizes with K/M/G suffixes (`%` specifiers: [`super::specifiers`]).
//! Each reader returns the value or why it is not one.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// Where a `Listen*=` line listens, in config mode's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A Unix socket at a path, or `@name` in the abstract namespace.
    Unix(String),
    /// An IP address and port.
    Ip(SocketAddr),
    /// A FIFO at a path.
    Fifo(String),
    /// A netlink family, by config mode's (systemd's) name, and multicast groups.
    Netlink(&'static str, u32),
    /// A special file (character device or regular file) at a path.
    Special(String),
}

/// Reads a `ListenNetlink=` value as systemd does: `FAMILY [GROUP]`, the family by name
/// or number, the group (a bit mask) 0 when absent.
pub fn netlink(v: &str) -> Result<Target, String> {
    use crate::config::model::NETLINK_FAMILIES;
    let mut words = v.split_whitespace();
    let family = words.next().unwrap_or("");
    let found = NETLINK_FAMILIES
        .iter()
        .find(|(n, p)| *n == family || family.parse::<i32>().is_ok_and(|f| f == *p));
    let Some(&(name, _)) = found else {
        return Err(format!(
            "{family:?} is not a netlink family config mode opens"
        ));
    };
    let groups = match words.next() {
        None => 0,
        Some(g) => g
            .parse::<u32>()
            .map_err(|_| format!("{g:?} is not a netlink group"))?,
    };
    match words.next() {
        Some(extra) => Err(format!("{extra:?} after FAMILY GROUP")),
        None => Ok(Target::Netlink(name, groups)),
    }
}

/// Reads a `ListenStream=` or `ListenDatagram=` address: an absolute path, `@name`, a port
/// alone (every address, IPv6 and so dual-stack by default, as systemd), `IP:PORT` or
/// `[IPv6]:PORT`.
pub fn socket_address(v: &str) -> Result<Target, String> {
    if v.starts_with('/') || v.starts_with('@') {
        if v.len() < 2 {
            return Err("an empty socket name".into());
        }
        return Ok(Target::Unix(v.to_string()));
    }
    if v.starts_with("vsock:") {
        return Err("config mode has no AF_VSOCK sockets".into());
    }
    let port = |p: u16| {
        if p == 0 {
            Err("port 0 is not a port systemd listens on".to_string())
        } else {
            Ok(p)
        }
    };
    if v.bytes().all(|b| b.is_ascii_digit()) {
        let p = v
            .parse::<u16>()
            .map_err(|_| format!("{v} is not a port number"))?;
        return Ok(Target::Ip(SocketAddr::new(
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            port(p)?,
        )));
    }
    match v.parse::<SocketAddr>() {
        Ok(a) => port(a.port()).map(|_| Target::Ip(a)),
        Err(_) => Err(format!(
            "{v:?} is not an absolute path, @name, port, IP:PORT or [IPv6]:PORT"
        )),
    }
}

/// Reads a `ListenFIFO=` path.
pub fn fifo_path(v: &str) -> Result<Target, String> {
    if v.starts_with('/') {
        Ok(Target::Fifo(v.to_string()))
    } else {
        Err(format!("{v:?} is not an absolute path"))
    }
}

/// Reads a boolean as systemd does: 1/yes/y/true/t/on or 0/no/n/false/f/off, any case.
pub fn boolean(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Ok(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Ok(false),
        _ => Err(format!("{v:?} is not a boolean")),
    }
}

/// Reads an octal file mode, at most 07777, as config mode writes it: `"0660"`.
pub fn mode(v: &str) -> Result<String, String> {
    match u32::from_str_radix(v, 8) {
        Ok(m) if m <= 0o7777 && !v.starts_with('+') => Ok(format!("{m:04o}")),
        _ => Err(format!("{v:?} is not an octal mode up to 07777")),
    }
}

/// Reads an unsigned decimal that fits in `u32`.
pub fn unsigned(v: &str) -> Result<i64, String> {
    match v.parse::<u32>() {
        Ok(n) if !v.starts_with('+') => Ok(n.into()),
        _ => Err(format!("{v:?} is not an unsigned number")),
    }
}

/// Reads a size as systemd's `parse_size` with base 1024: a number, perhaps with a
/// fraction, then perhaps B, K, M, G, T, P or E.
pub fn size(v: &str) -> Result<i64, String> {
    let bad = || format!("{v:?} is not a size (a number, then B, K, M, G, T, P or E)");
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let shift = match unit.trim_start() {
        "" | "B" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return Err(bad()),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole = int
        .parse::<u128>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(bad)?;
    // The fraction counts in whole bytes only, rounded down, as systemd does.
    let frac_bytes = if frac.is_empty() {
        0
    } else {
        let digits = &frac[..frac.len().min(18)];
        let n: u128 = digits.parse().map_err(|_| bad())?;
        n * (1u128 << shift) / 10u128.pow(digits.len() as u32)
    };
    i64::try_from(whole + frac_bytes).map_err(|_| format!("{v:?} is too large"))
}

/// Whether systemd accepts `name` as a FileDescriptorName: 1 to 255 printable ASCII
/// characters, no colon.
pub fn fd_name(name: &str) -> Result<(), String> {
    if !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b':')
    {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid name: 1 to 255 printable ASCII characters, no colon"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            socket_address("/run/a.sock"),
            Ok(Target::Unix("/run/a.sock".into()))
        );
        assert_eq!(socket_address("@x"), Ok(Target::Unix("@x".into())));
        assert_eq!(
            socket_address("8080"),
            Ok(Target::Ip("[::]:8080".parse().unwrap()))
        );
        assert_eq!(
            socket_address("127.0.0.1:53"),
            Ok(Target::Ip("127.0.0.1:53".parse().unwrap()))
        );
        assert_eq!(
            socket_address("[::1]:53"),
            Ok(Target::Ip("[::1]:53".parse().unwrap()))
        );
        for bad in [
            "run/a",
            "@",
            "0",
            "70000",
            "localhost:80",
            "1.2.3.4",
            "vsock:2:80",
        ] {
            assert!(socket_address(bad).is_err(), "{bad}");
        }
        assert!(fifo_path("x").is_err());
        assert_eq!(
            netlink("kobject-uevent 1"),
            Ok(Target::Netlink("kobject-uevent", 1))
        );
        assert_eq!(netlink("route 1361"), Ok(Target::Netlink("route", 1361)));
        assert_eq!(netlink("9"), Ok(Target::Netlink("audit", 0)));
        for bad in ["", "xfrm 1", "route -1", "route 1 2"] {
            assert!(netlink(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scalars() {
        assert_eq!(boolean("Yes"), Ok(true));
        assert_eq!(boolean("off"), Ok(false));
        assert!(boolean("maybe").is_err());
        assert_eq!(mode("660"), Ok("0660".into()));
        assert_eq!(mode("0755"), Ok("0755".into()));
        assert!(mode("0888").is_err());
        assert!(mode("17777").is_err());
        assert_eq!(unsigned("128"), Ok(128));
        assert!(unsigned("-1").is_err());
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("1M"), Ok(1 << 20));
        assert_eq!(size("1.5K"), Ok(1536));
        assert_eq!(size("2 G"), Ok(2 << 30));
        assert!(size("1Q").is_err());
        assert!(size("").is_err());
        assert!(size("9E").is_err());
    }

    #[test]
    fn specifiers_and_names() {
        assert!(fd_name("web").is_ok());
        assert!(fd_name("a:b").is_err());
        assert!(fd_name("").is_err());
    }
}
