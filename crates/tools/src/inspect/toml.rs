//! `s6-fdholder-inspect --toml`: what a daemon holds, written as a config file for
//! `s6-fdholder-setdump -c`. Applied to the same daemon it plans nothing; applied to a fresh
//! daemon (after a reboot) it recreates the same fds: sockets with their addresses and the
//! options the kernel reports, FIFOs, files, pipes whose two ends are held, each under its
//! id and with its remaining lifetime (rounded up to the second, so that the held limit is
//! never later than the one the file declares, which is what makes them the same).
//!
//! What no entry can recreate is written as a comment saying why: a pipe end whose other
//! end is not held (the process at the other end has it), a file or FIFO deleted since it
//! was opened, a socket that is neither bound nor listening as an entry makes one, anything
//! else.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{AddressFamily, SockType, getsockopt, sockopt};
use nix::sys::stat::lstat;

use crate::config::reconcile::compare::held_backlog;
use crate::expiry::is_never;
use crate::fdinfo::{self, Access, Address, FdInfo, Kind, SocketInfo};
use crate::text::one_line;
use fdholder::HeldFd;
use fdholder::Tain;

/// A TOML string literal (basic string, escaped as TOML wants).
fn string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// One `[[fd]]` table being written.
struct Table(String);

impl Table {
    fn new(kind: &str) -> Table {
        Table(format!("[[fd]]\nkind = {}\n", string(kind)))
    }
    fn str(&mut self, key: &str, value: &str) -> &mut Table {
        let _ = writeln!(self.0, "{key} = {}", string(value));
        self
    }
    fn raw(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Table {
        let _ = writeln!(self.0, "{key} = {value}");
        self
    }
    /// The lifetime left at `now`; nothing for no limit.
    fn expiry(&mut self, limit: Tain, now: Tain) -> &mut Table {
        if !is_never(limit, now) {
            let left = limit.duration_since(now).unwrap_or_default();
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            self.str("lifetime", &format!("{}s", secs.max(1)));
        }
        self
    }
}

/// A comment line for what cannot be recreated.
fn comment(out: &mut String, id: &[u8], why: &str) {
    let _ = writeln!(
        out,
        "# not recreated: {}: {}\n",
        one_line(&String::from_utf8_lossy(id)),
        one_line(why)
    );
}

/// Whether `path` still leads to the object of inode `inode`.
fn still_there(path: &Path, inode: (u64, u64)) -> bool {
    lstat(path).is_ok_and(|st| (st.st_dev, st.st_ino) == inode)
}

/// The snapshot when only list answered: every id a comment.
pub fn ids_only(ids: &[Vec<u8>], why: &str) -> String {
    let mut out = String::from(
        "# Only the ids of what the daemon holds are known: nothing is recreated.\n\n",
    );
    for id in ids {
        comment(&mut out, id, &format!("only its id is known ({why})"));
    }
    out
}

/// The snapshot of `dump` at `now`, fds sorted by id.
pub fn snapshot(dump: &[HeldFd], now: Tain) -> String {
    let mut out = String::from(
        "# What the daemon held, as an s6-fdholder-setdump config file \
         (s6-fdholder-inspect --toml).\n\n",
    );
    let mut order: Vec<usize> = (0..dump.len()).collect();
    order.sort_by(|&a, &b| dump[a].id.cmp(&dump[b].id));
    let infos: Vec<Option<FdInfo>> = dump
        .iter()
        .map(|h| fdinfo::describe(h.fd.as_fd()).ok())
        .collect();
    // Pipes by inode: the first read end and the first write end held.
    let mut pipes: HashMap<(u64, u64), (Option<usize>, Option<usize>)> = HashMap::new();
    for &i in &order {
        if let Some(info) = &infos[i]
            && let Kind::Pipe(access) = &info.kind
        {
            let ends = pipes.entry(info.inode).or_default();
            match access {
                Access::Read if ends.0.is_none() => ends.0 = Some(i),
                Access::Write if ends.1.is_none() => ends.1 = Some(i),
                _ => {}
            }
        }
    }
    for &i in &order {
        let h = &dump[i];
        let Some(info) = &infos[i] else {
            comment(&mut out, &h.id, "the kernel cannot describe it");
            continue;
        };
        let Ok(id) = std::str::from_utf8(&h.id) else {
            comment(
                &mut out,
                &h.id,
                "its id is not UTF-8, which a config file needs",
            );
            continue;
        };
        match &info.kind {
            Kind::Socket(s) => socket(&mut out, h, id, s, info.inode, now),
            Kind::Fifo(path, _) if still_there(path, info.inode) => {
                let mut t = Table::new("fifo");
                t.str("id", id).str("path", &path.to_string_lossy());
                t.expiry(h.limit, now);
                out.push_str(&t.0);
                out.push('\n');
            }
            Kind::File(path, access) if still_there(path, info.inode) => {
                let append = fcntl(h.fd.as_fd(), FcntlArg::F_GETFL)
                    .is_ok_and(|f| OFlag::from_bits_truncate(f).contains(OFlag::O_APPEND));
                let open = match (access, append) {
                    (Access::Read, _) => "read",
                    (Access::Write, false) => "write",
                    (Access::Write, true) => "append",
                    (Access::ReadWrite, _) => "read-write",
                };
                let mut t = Table::new("file");
                t.str("id", id)
                    .str("path", &path.to_string_lossy())
                    .str("open", open);
                t.expiry(h.limit, now);
                out.push_str(&t.0);
                out.push('\n');
            }
            Kind::Fifo(path, _) | Kind::File(path, _) => comment(
                &mut out,
                &h.id,
                &format!(
                    "{} no longer leads to it (deleted or replaced)",
                    path.display()
                ),
            ),
            Kind::Pipe(Access::ReadWrite) => comment(&mut out, &h.id, "a pipe open read-write"),
            Kind::Pipe(access) => match pipes.get(&info.inode) {
                Some((Some(r), Some(w))) if (*r == i) == (*access == Access::Read) => {
                    if *access == Access::Read {
                        pipe(&mut out, dump, *r, *w, now);
                    }
                }
                _ => comment(
                    &mut out,
                    &h.id,
                    "a pipe end whose other end the daemon does not hold (its process has it)",
                ),
            },
            Kind::Other(link) => comment(&mut out, &h.id, &format!("no entry opens {link}")),
        }
    }
    out
}

/// A pipe entry from its read end `r` and write end `w` in `dump`.
fn pipe(out: &mut String, dump: &[HeldFd], r: usize, w: usize, now: Tain) {
    let (Ok(read_id), Ok(write_id)) = (
        std::str::from_utf8(&dump[r].id),
        std::str::from_utf8(&dump[w].id),
    ) else {
        return comment(out, &dump[r].id, "its other end's id is not UTF-8");
    };
    let mut t = Table::new("pipe");
    t.str("read-id", read_id).str("write-id", write_id);
    if let Ok(size) = fcntl(dump[r].fd.as_fd(), FcntlArg::F_GETPIPE_SZ) {
        t.raw("buffer-size", size);
    }
    // One entry, one expiry: the later of the two ends'.
    t.expiry(dump[r].limit.max(dump[w].limit), now);
    out.push_str(&t.0);
    out.push('\n');
}

/// A socket entry, or the comment saying why there is none.
fn socket(out: &mut String, h: &HeldFd, id: &str, s: &SocketInfo, inode: (u64, u64), now: Tain) {
    let fd = h.fd.as_fd();
    let table = match (s.family, s.kind, &s.address) {
        (Some(AddressFamily::Unix), ty, Address::Path(_) | Address::Abstract(_)) => {
            unix(fd, id, s, ty, inode)
        }
        (Some(AddressFamily::Inet | AddressFamily::Inet6), ty, Address::Ip(a)) => {
            inet(fd, id, s, ty, *a)
        }
        _ => Err("a socket no entry makes: not bound, or of another family".to_string()),
    };
    match table {
        Ok(mut t) => {
            t.expiry(h.limit, now);
            out.push_str(&t.0);
            out.push('\n');
        }
        Err(why) => comment(out, &h.id, &why),
    }
}

fn unix(
    fd: BorrowedFd<'_>,
    id: &str,
    s: &SocketInfo,
    ty: SockType,
    inode: (u64, u64),
) -> Result<Table, String> {
    let (name, listens) = match ty {
        SockType::Stream => ("stream", true),
        SockType::SeqPacket => ("seqpacket", true),
        SockType::Datagram => ("dgram", false),
        _ => return Err("a unix socket of a type no entry makes".into()),
    };
    if s.listening != listens {
        return Err(format!(
            "a {name} unix socket that is not as an entry makes one"
        ));
    }
    let path = match &s.address {
        Address::Path(p) => p.to_string_lossy().into_owned(),
        Address::Abstract(n) => format!("@{}", String::from_utf8_lossy(n)),
        _ => return Err("a unix socket that is not bound".into()),
    };
    let mut t = Table::new("unix");
    t.str("id", id).str("path", &path);
    if ty != SockType::Stream {
        t.str("socket", name);
    }
    if listens && let Some(b) = held_backlog(fd) {
        t.raw("backlog", b);
    }
    // The socket file's permissions, when the path still leads to the socket's own file.
    if let (Address::Path(p), Ok(diag)) = (&s.address, fdinfo::unix_diag(inode.1))
        && let (Some((dev, ino)), Ok(st)) = (diag.file, lstat(p))
        && st.st_dev == dev
        && st.st_ino as u32 == ino
    {
        t.str("mode", &format!("{:04o}", st.st_mode & 0o777))
            .raw("owner", st.st_uid)
            .raw("group", st.st_gid);
    }
    Ok(t)
}

fn inet(
    fd: BorrowedFd<'_>,
    id: &str,
    s: &SocketInfo,
    ty: SockType,
    address: std::net::SocketAddr,
) -> Result<Table, String> {
    let tcp = match (ty, s.listening) {
        (SockType::Stream, true) => true,
        (SockType::Datagram, _) => false,
        _ => return Err("a tcp socket that does not listen".into()),
    };
    let mut t = Table::new(if tcp { "tcp" } else { "udp" });
    t.str("id", id).str("listen", &address.to_string());
    if tcp && let Some(b) = held_backlog(fd) {
        t.raw("backlog", b);
    }
    let flag = |t: &mut Table, key: &str, v: nix::Result<bool>| {
        if let Ok(v) = v {
            t.raw(key, v);
        }
    };
    flag(&mut t, "reuse-address", getsockopt(&fd, sockopt::ReuseAddr));
    if s.reuse_port {
        t.raw("reuse-port", true);
    }
    if let Some(v6only) = s.v6only {
        t.raw("ipv6-only", v6only);
    }
    if getsockopt(&fd, sockopt::IpFreebind).unwrap_or(false) {
        t.raw("freebind", true);
    }
    if let Ok(dev) = getsockopt(&fd, sockopt::BindToDevice)
        && !dev.is_empty()
    {
        t.str("bind-to-device", &dev.to_string_lossy());
    }
    if tcp {
        flag(&mut t, "keepalive", getsockopt(&fd, sockopt::KeepAlive));
        flag(&mut t, "nodelay", getsockopt(&fd, sockopt::TcpNoDelay));
    } else {
        flag(&mut t, "broadcast", getsockopt(&fd, sockopt::Broadcast));
    }
    Ok(t)
}
