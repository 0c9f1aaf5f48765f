//! The names of passed fds, as `LISTEN_FDNAMES` carries them (systemd's
//! `FileDescriptorName=`): shared by config files, the systemd import and
//! `s6-fdholder-activate`, so that all three accept the same names.

/// The longest name systemd accepts (`FDNAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Why `name` cannot be an fd's name, if it cannot: the rules of systemd's
/// `fdname_is_valid`, since the programs reading `LISTEN_FDNAMES` were written for systemd's.
pub fn check(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name cannot be empty".into());
    }
    if name.len() > NAME_MAX {
        return Err(format!(
            "a name is at most {NAME_MAX} bytes, not {}",
            name.len()
        ));
    }
    // ':' separates the names in LISTEN_FDNAMES; systemd refuses anything not printable ASCII.
    match name
        .chars()
        .find(|&c| c == ':' || !(' '..='~').contains(&c))
    {
        Some(':') => Err("a name cannot contain ':'".into()),
        Some(c) => Err(format!(
            "a name is printable ASCII only, not {:?}",
            c.to_string()
        )),
        None => Ok(()),
    }
}

/// The name an fd gets when none is given: its id, with every byte a name cannot hold
/// (`:`, anything not printable ASCII) made `_`, cut to [`NAME_MAX`] bytes. An id says
/// what the fd is (`unix:/run/x.sock` gives `unix_/run/x.sock`), where systemd's default,
/// the unit's name, has no counterpart here.
pub fn from_id(id: &[u8]) -> String {
    id.iter()
        .take(NAME_MAX)
        .map(|&b| {
            if b != b':' && (b' '..=b'~').contains(&b) {
                b as char
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check("http").is_ok());
        assert!(check("with space=x").is_ok());
        assert!(check(&"a".repeat(255)).is_ok());
        assert!(check("").unwrap_err().contains("empty"));
        assert!(check(&"a".repeat(256)).unwrap_err().contains("256"));
        assert!(check("a:b").unwrap_err().contains("':'"));
        assert!(check("a\tb").unwrap_err().contains("printable"));
        assert!(check("é").unwrap_err().contains("printable"));
    }

    #[test]
    fn default_names_are_valid() {
        assert_eq!(from_id(b"unix:/run/x.sock"), "unix_/run/x.sock");
        assert_eq!(from_id(b"tcp:[::1]:80"), "tcp_[__1]_80");
        assert_eq!(from_id("é\n".as_bytes()), "___");
        let long = from_id(&[b'x'; 300]);
        assert_eq!(long.len(), 255);
        for id in [&b"a:b"[..], b"\xff", &[b'x'; 300]] {
            assert!(check(&from_id(id)).is_ok());
        }
    }
}
