//! `--check`'s warning about ids this client could not delete or retrieve later, read from
//! the daemon's own rules when they can be read.
//!
//! The protocol says nothing of the rules. They are found through the daemon itself: the
//! pid at the other end of a connection (SO_PEERCRED), its command line
//! (`/proc/PID/cmdline`: s6-fdholderd's `-i rulesdir`, relative to `/proc/PID/cwd`), and
//! the rules directory read as s6's accessrules do: `uid/UID`, then `gid/GID`, then
//! `uid/default`, the first with an `allow` or `deny` file deciding, its `env/` an envdir
//! (first line, trailing white space removed). A daemon run with `-x` (a cdb file), rules
//! this user cannot read, another user's daemon: nothing is said. An unset regex is the
//! daemon's `.^`, which matches nothing.
//!
//! The daemon's setdump checks no regex, so a file may declare ids that the same client
//! cannot delete (`S6_FDHOLDER_STORE_REGEX`) or retrieve (`S6_FDHOLDER_RETRIEVE_REGEX`)
//! afterwards. (`--prune` does not need the former: it goes through the setdump.)

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, UnixAddr, connect, getsockopt, socket, sockopt,
};

use crate::sys::PosixRegex;

/// What the daemon's rules say of this client's ids: the two regexes, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regexes {
    /// The rules directory they were read from.
    pub dir: PathBuf,
    /// `S6_FDHOLDER_STORE_REGEX` (store and delete); `None`: unset.
    pub store: Option<String>,
    /// `S6_FDHOLDER_RETRIEVE_REGEX`; `None`: unset.
    pub retrieve: Option<String>,
}

/// The pid of the process listening at `socket`.
fn daemon_pid(at: &Path) -> Option<i32> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ok()?;
    connect(fd.as_raw_fd(), &UnixAddr::new(at).ok()?).ok()?;
    let cred = getsockopt(&fd, sockopt::PeerCredentials).ok()?;
    Some(cred.pid())
}

/// The `-i` rules directory of s6-fdholderd's command line `args` (after argv[0]).
fn rules_dir(args: &[&[u8]]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if *a == b"--" || !a.starts_with(b"-") {
            return None;
        }
        // s6-fdholderd's options are "1c:n:i:x:t:T:": a letter with a value takes the
        // rest of its argument, or the next one (skalibs getopt).
        let letters = &a[1..];
        for (k, &c) in letters.iter().enumerate() {
            if matches!(c, b'c' | b'n' | b'i' | b'x' | b't' | b'T') {
                let value = if k + 1 < letters.len() {
                    &letters[k + 1..]
                } else {
                    it.next()?
                };
                if c == b'i' {
                    return Some(PathBuf::from(std::ffi::OsStr::from_bytes(value)));
                }
                break;
            }
        }
    }
    None
}

/// An envdir variable: the file's first line, trailing white space removed; `None` when
/// the file is absent or empty.
fn env_var(dir: &Path, name: &str) -> Option<String> {
    let text = std::fs::read(dir.join(name)).ok()?;
    if text.is_empty() {
        return None;
    }
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    Some(line.trim_end().replace('\0', "\n"))
}

/// The regexes the rules at `dir` give the uid `uid` and gid `gid`, as s6's accessrules
/// find them; `None` when no rule lets the client in.
fn regexes_in(dir: &Path, uid: u32, gid: u32) -> Option<Regexes> {
    for key in [
        format!("uid/{uid}"),
        format!("gid/{gid}"),
        "uid/default".to_string(),
    ] {
        let k = dir.join(&key);
        if k.join("allow").exists() {
            let env = k.join("env");
            return Some(Regexes {
                dir: dir.to_path_buf(),
                store: env_var(&env, "S6_FDHOLDER_STORE_REGEX"),
                retrieve: env_var(&env, "S6_FDHOLDER_RETRIEVE_REGEX"),
            });
        }
        if k.join("deny").exists() {
            return None;
        }
    }
    None
}

/// The regexes the daemon at `socket` applies to this process, when its rules can be read.
pub fn read(socket: &Path) -> Option<Regexes> {
    let pid = daemon_pid(socket)?;
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let cmdline = std::fs::read(proc.join("cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .collect();
    let dir = rules_dir(args.get(1..)?)?;
    let dir = if dir.is_absolute() {
        dir
    } else {
        std::fs::read_link(proc.join("cwd")).ok()?.join(dir)
    };
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    regexes_in(&dir, uid.as_raw(), gid.as_raw())
}

/// The two regexes compiled once, for many ids; `None` for one that does not compile.
pub struct Matcher {
    store: Option<PosixRegex>,
    retrieve: Option<PosixRegex>,
}

impl Regexes {
    /// Compiles the regexes (unset: the daemon's `.^`), once for every id of a file.
    pub fn matcher(&self) -> Matcher {
        let compile = |re: Option<&str>| {
            CString::new(re.unwrap_or(".^"))
                .ok()
                .and_then(|re| PosixRegex::new(&re))
        };
        Matcher {
            store: compile(self.store.as_deref()),
            retrieve: compile(self.retrieve.as_deref()),
        }
    }
}

/// Whether `re` matches `id`; `None` when it did not compile.
fn allows(re: Option<&PosixRegex>, id: &CString) -> Option<bool> {
    re.map(|re| re.matches(id))
}

/// What the client could not do later with `id`: `delete`, `retrieve`, both or none.
pub fn refused(m: &Matcher, id: &str) -> Vec<&'static str> {
    let mut v = Vec::new();
    let Ok(id) = CString::new(id) else {
        return v;
    };
    if allows(m.store.as_ref(), &id) == Some(false) {
        v.push("delete");
    }
    if allows(m.retrieve.as_ref(), &id) == Some(false) {
        v.push("retrieve");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_dir_of_a_command_line() {
        let args = |s: &str| -> Option<PathBuf> {
            let v: Vec<&[u8]> = s.split(' ').map(str::as_bytes).collect();
            rules_dir(&v)
        };
        assert_eq!(args("-1 -n 1000 -i /r"), Some("/r".into()));
        assert_eq!(args("-1i/r"), Some("/r".into()));
        assert_eq!(args("-x /r.cdb"), None);
        assert_eq!(args("-1 -n 10"), None);
    }

    #[test]
    fn regexes_as_the_daemon_applies_them() {
        let r = Regexes {
            dir: "/r".into(),
            store: Some("^pipe:".into()),
            retrieve: None,
        };
        assert_eq!(refused(&r.matcher(), "pipe:x"), ["retrieve"]);
        assert_eq!(refused(&r.matcher(), "unix:/x"), ["delete", "retrieve"]);
        let all = Regexes {
            store: Some(".*".into()),
            retrieve: Some("s6rc-".into()),
            ..r
        };
        assert!(refused(&all.matcher(), "pipe:s6rc-w-x").is_empty());
    }
}
