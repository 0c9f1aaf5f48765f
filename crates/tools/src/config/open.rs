//! Stage 4 of config mode: opens every fd of the plan, all or none.
//!
//! Everything this run creates on disk (sockets, FIFOs, files, parent directories) is
//! recorded as it is created, so that a failure, here or later in the setdump, can close
//! every fd and remove exactly what this run made, and nothing else.
//!
//! Permissions are set by the umask at creation: with `mode` M the umask is `~M`, so a
//! socket, FIFO, file or directory is born with exactly M and is never more open than
//! asked, with no chmod afterwards (modes are at most 0777, which a umask can express). The
//! owner and group follow, without following a symlink. A symlink as the last component of
//! a path is never followed: bind(2) and mkfifo(2) refuse an existing one, files are opened
//! with `O_NOFOLLOW`, and chown is `fchown` on the fd, or for a socket on an `O_PATH` fd of
//! its file once that is known to be a socket of ours with one link (so that a file swapped
//! in, or a hard link to someone else's, is never chowned).
//!
//! The directory of every path is opened first, one component at a time from `/`
//! (`Opener::open_dir`), creating what is missing; FIFOs and files are then made and
//! opened relative to that fd, and everything is removed relative to it, so a symlink
//! swapped in on the way later cannot send a creation or a removal elsewhere. A symlink met
//! on the way is followed only when root (or the user running the tool) owns it, as
//! `/var/run` is: one planted by another user, in `/tmp` say, is refused.
//!
//! A unix socket path is bound first and looked at only if bind says it is in use, so the
//! common case costs socket, bind, listen and close. A socket file the caller names as
//! replaceable (the daemon's own socket, being replaced) is renamed aside rather than
//! unlinked, so that a failure can put it back: the rollback renames it back, a finished
//! run removes it.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, FcntlArg, OFlag, fcntl, open, openat};
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, UnixAddr, bind, connect, listen,
    setsockopt, socket, sockopt,
};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat, lstat, mkdirat, umask};
use nix::unistd::{
    UnlinkatFlags, fchown, fchownat, ftruncate, geteuid, mkfifoat, pipe2, unlink, unlinkat,
};

use super::diag::Diag;
use super::parse::{OpenMode, SocketType};
use super::plan::{Item, Plan};
use super::validate::{Config, Entry, FdSpec, InetOptions, Perms, Transport, UnixAddress};
use fdholder::error::strerror;

/// The permission bits a FIFO or file gets when the config gives no `mode` (less the umask).
const DEFAULT_FILE_MODE: u32 = 0o666;

/// A directory opened by [`Opener::open_dir`] (`O_PATH`), shared by what is made in it.
type Dir = Rc<OwnedFd>;

/// Something this run created on disk.
#[derive(Debug)]
struct Created {
    /// The plan item it was created for.
    item: usize,
    /// The directory it was created in, and its name there: it is removed from there.
    parent: Dir,
    name: OsString,
    /// Its whole path, for messages.
    path: PathBuf,
    dir: bool,
}

impl Created {
    /// Removes it from its directory; a directory something else now lives in stays.
    fn remove(&self) -> Result<(), Errno> {
        let flag = if self.dir {
            UnlinkatFlags::RemoveDir
        } else {
            UnlinkatFlags::NoRemoveDir
        };
        match unlinkat(&*self.parent, self.name.as_os_str(), flag) {
            Err(Errno::ENOTEMPTY | Errno::EEXIST) if self.dir => Ok(()),
            r => r,
        }
    }
}

/// A socket file renamed aside to bind a new socket in its place.
#[derive(Debug)]
struct Aside {
    /// The plan item it was moved for.
    item: usize,
    path: PathBuf,
    aside: PathBuf,
}

/// The fds of a plan, opened, and what was created on disk for them.
#[derive(Debug)]
pub struct Opened {
    /// One fd per plan item, in plan order.
    pub fds: Vec<OwnedFd>,
    created: Vec<Created>,
    asides: Vec<Aside>,
}

/// A path this run created and could not remove when undoing its work.
#[derive(Debug)]
pub struct Leftover {
    /// The path.
    pub path: PathBuf,
    /// Why it could not be removed.
    pub errno: Errno,
}

/// An fd that could not be opened: the message, and what could not be undone.
#[derive(Debug)]
pub struct OpenFailure {
    /// What went wrong, for which entry.
    pub diag: Diag,
    /// What this run created and could not remove.
    pub leftovers: Vec<Leftover>,
}

impl Opened {
    /// Closes every fd, and removes what this run created for plan items from `keep` on,
    /// newest first (so directories are empty when their turn comes). Items before `keep`
    /// are the ones a daemon has taken: their files stay.
    pub fn rollback(mut self, keep: usize) -> Vec<Leftover> {
        drop(std::mem::take(&mut self.fds));
        let mut left = Vec::new();
        let undo = self.created.iter().rev().filter(|c| c.item >= keep);
        for c in undo.clone().filter(|c| !c.dir) {
            if let Err(errno) = c.remove() {
                left.push(Leftover {
                    path: c.path.clone(),
                    errno,
                });
            }
        }
        // The sockets moved aside for items the daemon did not take go back in place.
        let (back, taken): (Vec<Aside>, Vec<Aside>) =
            self.asides.drain(..).partition(|a| a.item >= keep);
        for a in back.iter().rev() {
            if let Err(errno) = nix::fcntl::renameat(AT_FDCWD, &a.aside, AT_FDCWD, &a.path) {
                left.push(Leftover {
                    path: a.aside.clone(),
                    errno,
                });
            }
        }
        left.extend(remove_asides(taken));
        for c in undo.filter(|c| c.dir) {
            // (Something else now lives in it, or a kept item: not ours to remove.)
            if let Err(errno) = c.remove() {
                left.push(Leftover {
                    path: c.path.clone(),
                    errno,
                });
            }
        }
        left
    }

    /// Removes the sockets moved aside: the daemon took what replaced them. Returns what
    /// could not be removed.
    pub fn drop_asides(&mut self) -> Vec<Leftover> {
        remove_asides(std::mem::take(&mut self.asides))
    }

    /// Finishes a run the daemon accepted: truncates the files that ask for it (only now,
    /// so that a failed run leaves their contents alone), then closes every fd.
    pub fn finish(self, config: &Config, plan: &Plan) -> Result<(), Diag> {
        for (item, fd) in plan.items.iter().zip(&self.fds) {
            let e = &config.entries[item.entry];
            if let FdSpec::File {
                truncate: true,
                path,
                ..
            } = &e.spec
            {
                ftruncate(fd, 0).map_err(|errno| {
                    fail(e, format!("unable to truncate {}", path.display()), errno)
                })?;
            }
        }
        Ok(())
    }
}

/// Unlinks the moved-aside socket files; returns what could not be.
fn remove_asides(asides: Vec<Aside>) -> Vec<Leftover> {
    asides
        .into_iter()
        .filter_map(|a| {
            unlink(&a.aside).err().map(|errno| Leftover {
                path: a.aside,
                errno,
            })
        })
        .collect()
}

/// Where a socket file is moved aside: a hidden name in its own directory.
fn aside_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".s6-fdholder-setdump-old.{}", std::process::id()));
    path.with_file_name(name)
}

/// A failure for `e`: what was being done, and why, in the C library's words.
fn fail(e: &Entry, doing: String, errno: Errno) -> Diag {
    Diag::new(
        e.span.clone(),
        &e.place,
        format!("{doing}: {}", strerror(errno)),
    )
}

/// A failure for `e` that no errno describes.
fn refuse(e: &Entry, what: String) -> Diag {
    Diag::new(e.span.clone(), &e.place, what)
}

/// The process umask, changed only when a creation needs another one, and put back at the end.
#[derive(Debug, Default)]
struct Umask {
    original: Option<Mode>,
    current: Option<Mode>,
}

impl Umask {
    fn set(&mut self, mask: Mode) {
        if self.current != Some(mask) {
            let old = umask(mask);
            self.original.get_or_insert(old);
            self.current = Some(mask);
        }
    }

    /// Sets the umask for creating with `mode` (exactly, from 0777), or the process's own
    /// for no mode; returns the mode to pass to the creating call.
    fn for_mode(&mut self, mode: Option<u32>, default: u32) -> Mode {
        match mode {
            Some(m) => {
                self.set(Mode::from_bits_truncate(!m & 0o777));
                Mode::from_bits_truncate(0o777)
            }
            None => {
                if let Some(o) = self.original {
                    self.set(o);
                }
                Mode::from_bits_truncate(default)
            }
        }
    }
}

impl Drop for Umask {
    fn drop(&mut self) {
        if let Some(o) = self.original {
            umask(o);
        }
    }
}

/// The file type bits of a mode.
fn file_type(mode: u32) -> SFlag {
    SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits())
}

/// How messages name a file type.
fn type_name(t: SFlag) -> &'static str {
    match t {
        SFlag::S_IFREG => "a regular file",
        SFlag::S_IFDIR => "a directory",
        SFlag::S_IFLNK => "a symlink",
        SFlag::S_IFIFO => "a FIFO",
        SFlag::S_IFSOCK => "a socket",
        SFlag::S_IFCHR => "a character device",
        SFlag::S_IFBLK => "a block device",
        _ => "a file of unknown type",
    }
}

/// What a connect says about a socket file.
enum Probe {
    /// Something is bound to it.
    Live,
    /// Nothing is: ECONNREFUSED.
    Stale,
}

/// Connects to the socket at `addr` to learn whether it is in use, trying `first`'s type
/// and then the others (a connect of the wrong type fails with EPROTOTYPE).
fn probe(addr: &UnixAddr, first: SockType) -> Result<Probe, Errno> {
    let mut types = vec![first];
    types.extend(
        [SockType::Stream, SockType::Datagram, SockType::SeqPacket]
            .into_iter()
            .filter(|&t| t != first),
    );
    for t in types {
        let s = socket(
            AddressFamily::Unix,
            t,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )?;
        match connect(s.as_raw_fd(), addr) {
            // A full backlog (EAGAIN) is still someone's backlog.
            Ok(()) | Err(Errno::EAGAIN | Errno::EINPROGRESS) => return Ok(Probe::Live),
            Err(Errno::ECONNREFUSED) => return Ok(Probe::Stale),
            Err(Errno::EPROTOTYPE) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Errno::EPROTOTYPE)
}

/// `(device, inode)` of a file.
fn file_id(st: &FileStat) -> (u64, u64) {
    (st.st_dev, st.st_ino)
}

/// The file `name` in `dir`, not following a symlink.
fn stat_in(dir: &OwnedFd, name: &OsStr) -> Result<FileStat, Errno> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
}

/// Unlinks `name` from `dir` if it is still the file `id`: true if it was. What was looked
/// at and what is removed can then differ only by a swap in the instant between two calls.
fn unlink_if_same(dir: &OwnedFd, name: &OsStr, id: (u64, u64)) -> Result<bool, Errno> {
    if file_id(&stat_in(dir, name)?) != id {
        return Ok(false);
    }
    unlinkat(dir, name, UnlinkatFlags::NoRemoveDir).map(|()| true)
}

/// Clears the way for binding `path` (`name` in `dir`): a stale socket is unlinked; a live
/// socket or anything that is not a socket is left alone, and the entry fails. The file
/// removed is the one probed: a socket bound anew there meanwhile is left alone.
fn clear_stale(
    e: &Entry,
    (dir, name): (&OwnedFd, &OsStr),
    path: &Path,
    addr: &UnixAddr,
    ty: SockType,
) -> Result<(), Diag> {
    let shown = path.display();
    let st = match stat_in(dir, name) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(errno) => return Err(fail(e, format!("unable to stat {shown}"), errno)),
    };
    let t = file_type(st.st_mode);
    if t != SFlag::S_IFSOCK {
        return Err(refuse(
            e,
            format!(
                "{shown} exists and is {}, not a socket: it is left alone",
                type_name(t)
            ),
        ));
    }
    match probe(addr, ty) {
        Ok(Probe::Stale) => match unlink_if_same(dir, name, file_id(&st)) {
            Ok(true) | Err(Errno::ENOENT) => Ok(()),
            Ok(false) => Err(refuse(
                e,
                format!("{shown} was replaced while it was probed: it is left alone"),
            )),
            Err(errno) => Err(fail(
                e,
                format!("unable to remove the stale socket {shown}"),
                errno,
            )),
        },
        Ok(Probe::Live) => Err(refuse(
            e,
            format!("{shown} is a live socket (a connect to it succeeds): it is left alone"),
        )),
        Err(errno) => Err(fail(
            e,
            format!("unable to probe the socket {shown}"),
            errno,
        )),
    }
}

/// Whether a symlink owned by `uid` may be followed on the way to what the run creates:
/// root's and the running user's are; another user's could point anywhere.
fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == geteuid().as_raw()
}

/// The directory and the last component of a path that validation made absolute and not
/// ending in `/`.
fn split(path: &Path) -> (&Path, &OsStr) {
    (
        path.parent().unwrap_or(Path::new("/")),
        path.file_name().unwrap_or(path.as_os_str()),
    )
}

/// Opens the fds, recording what it creates.
#[derive(Default)]
struct Opener<'a> {
    umask: Umask,
    created: Vec<Created>,
    asides: Vec<Aside>,
    /// Socket files (device, inode) that may be replaced.
    replaceable: Option<&'a HashSet<(u64, u64)>>,
    /// The plan item being opened.
    item: usize,
    /// Every directory opened so far, by its path as written.
    dirs: HashMap<PathBuf, Dir>,
}

impl Opener<'_> {
    fn record(&mut self, parent: &Dir, name: &OsStr, path: &Path, dir: bool) {
        self.created.push(Created {
            item: self.item,
            parent: parent.clone(),
            name: name.to_os_string(),
            path: path.to_path_buf(),
            dir,
        });
    }

    /// Opens the directory `dir` (absolute) for entry `e`, one component at a time from
    /// `/`, never through another user's symlink; with `create`, a missing one is made with
    /// those permission bits and recorded.
    fn open_dir(&mut self, e: &Entry, dir: &Path, create: Option<u32>) -> Result<Dir, Diag> {
        if let Some(d) = self.dirs.get(dir) {
            return Ok(d.clone());
        }
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let root = Path::new("/");
        let mut cur = match self.dirs.get(root) {
            Some(d) => d.clone(),
            None => Rc::new(
                open(root, flags, Mode::empty())
                    .map_err(|errno| fail(e, "unable to open directory /".into(), errno))?,
            ),
        };
        self.dirs.insert(root.to_path_buf(), cur.clone());
        let mut here = root.to_path_buf();
        for c in dir.components() {
            let name = match c {
                Component::Normal(n) => n,
                Component::ParentDir => OsStr::new(".."),
                _ => continue,
            };
            here.push(name);
            if let Some(d) = self.dirs.get(&here) {
                cur = d.clone();
                continue;
            }
            let next = self.open_component(e, &cur, name, &here, create)?;
            cur = Rc::new(next);
            self.dirs.insert(here.clone(), cur.clone());
        }
        Ok(cur)
    }

    /// One step of [`Opener::open_dir`]: `name` in `parent`, which is `here`.
    fn open_component(
        &mut self,
        e: &Entry,
        parent: &Dir,
        name: &OsStr,
        here: &Path,
        create: Option<u32>,
    ) -> Result<OwnedFd, Diag> {
        let shown = here.display();
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let mut r = openat(&**parent, name, flags | OFlag::O_NOFOLLOW, Mode::empty());
        if let (Err(Errno::ENOENT), Some(mode)) = (&r, create) {
            let m = self.umask.for_mode(Some(mode), 0);
            match mkdirat(&**parent, name, m) {
                Ok(()) => self.record(parent, name, here, true),
                // Made meanwhile by someone else: looked at below like any other.
                Err(Errno::EEXIST) => {}
                Err(errno) => {
                    return Err(fail(
                        e,
                        format!("unable to create directory {shown}"),
                        errno,
                    ));
                }
            }
            r = openat(&**parent, name, flags | OFlag::O_NOFOLLOW, Mode::empty());
        }
        match r {
            // A symlink (O_NOFOLLOW with O_DIRECTORY), or not a directory at all.
            Err(Errno::ENOTDIR) => {
                let st = stat_in(parent, name)
                    .map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
                let t = file_type(st.st_mode);
                if t != SFlag::S_IFLNK {
                    return Err(refuse(
                        e,
                        format!("{shown} is {}, not a directory", type_name(t)),
                    ));
                }
                if !trusted_owner(st.st_uid) {
                    return Err(refuse(
                        e,
                        format!(
                            "{shown} is a symlink owned by uid {}: it is not followed \
                             (only root's are, on the way to what the run creates)",
                            st.st_uid
                        ),
                    ));
                }
                openat(&**parent, name, flags, Mode::empty())
                    .map_err(|errno| fail(e, format!("unable to open directory {shown}"), errno))
            }
            r => r.map_err(|errno| fail(e, format!("unable to open directory {shown}"), errno)),
        }
    }

    /// Binds `fd` to the socket path, creating parents and replacing a stale socket.
    fn bind_path(
        &mut self,
        e: &Entry,
        fd: &OwnedFd,
        path: &Path,
        ty: SockType,
        perms: &Perms,
    ) -> Result<(), Diag> {
        let addr = UnixAddr::new(path).map_err(|errno| fail(e, "bad socket path".into(), errno))?;
        let (parent, name) = split(path);
        let dir = self.open_dir(e, parent, Some(perms.directory_mode))?;
        // bind(2) takes no directory fd: the path is looked up again, through `dir` unless
        // a directory on the way was swapped meanwhile, which the chown below detects.
        let try_bind = |me: &mut Opener| {
            me.umask.for_mode(perms.mode, 0);
            bind(fd.as_raw_fd(), &addr)
        };
        let mut r = try_bind(self);
        if r == Err(Errno::EADDRINUSE) {
            if !self.move_aside(e, path)? {
                clear_stale(e, (&dir, name), path, &addr, ty)?;
            }
            r = try_bind(self);
        }
        r.map_err(|errno| fail(e, format!("unable to bind to {}", path.display()), errno))?;
        self.record(&dir, name, path, false);
        if perms.owner.is_some() || perms.group.is_some() {
            chown_socket(e, &dir, name, path, perms)?;
        }
        Ok(())
    }

    /// Renames the socket file at `path` aside if it is a replaceable one; false if not.
    fn move_aside(&mut self, e: &Entry, path: &Path) -> Result<bool, Diag> {
        let ours = match lstat(path) {
            Ok(st) => self
                .replaceable
                .is_some_and(|r| r.contains(&(st.st_dev, st.st_ino))),
            Err(_) => false,
        };
        if !ours {
            return Ok(false);
        }
        let aside = aside_path(path);
        nix::fcntl::renameat(AT_FDCWD, path, AT_FDCWD, &aside).map_err(|errno| {
            fail(
                e,
                format!("unable to move the held socket {} aside", path.display()),
                errno,
            )
        })?;
        self.asides.push(Aside {
            item: self.item,
            path: path.to_path_buf(),
            aside,
        });
        Ok(true)
    }

    fn unix(
        &mut self,
        e: &Entry,
        address: &UnixAddress,
        socket_type: SocketType,
        backlog: i32,
        perms: &Perms,
    ) -> Result<OwnedFd, Diag> {
        let ty = match socket_type {
            SocketType::Stream => SockType::Stream,
            SocketType::Dgram => SockType::Datagram,
            SocketType::Seqpacket => SockType::SeqPacket,
        };
        let fd = socket(AddressFamily::Unix, ty, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|errno| fail(e, "unable to create a socket".into(), errno))?;
        match address {
            UnixAddress::Path(path) => self.bind_path(e, &fd, path, ty, perms)?,
            UnixAddress::Abstract(name) => {
                let addr = UnixAddr::new_abstract(name)
                    .map_err(|errno| fail(e, "bad abstract socket name".into(), errno))?;
                bind(fd.as_raw_fd(), &addr)
                    .map_err(|errno| fail(e, "unable to bind".into(), errno))?;
            }
        }
        if ty != SockType::Datagram {
            listen_on(e, &fd, backlog)?;
        }
        Ok(fd)
    }

    fn inet(
        &mut self,
        e: &Entry,
        transport: Transport,
        address: std::net::SocketAddr,
        backlog: i32,
        o: &InetOptions,
    ) -> Result<OwnedFd, Diag> {
        let family = if address.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        let ty = match transport {
            Transport::Tcp => SockType::Stream,
            Transport::Udp => SockType::Datagram,
        };
        let fd = socket(family, ty, SockFlag::SOCK_CLOEXEC, None)
            .map_err(|errno| fail(e, "unable to create a socket".into(), errno))?;
        set_options(e, &fd, o)?;
        bind(fd.as_raw_fd(), &SockaddrStorage::from(address))
            .map_err(|errno| fail(e, format!("unable to bind to {address}"), errno))?;
        if transport == Transport::Tcp {
            listen_on(e, &fd, backlog)?;
        }
        Ok(fd)
    }

    fn fifo(&mut self, e: &Entry, path: &Path, perms: &Perms) -> Result<OwnedFd, Diag> {
        let shown = path.display();
        let (parent, name) = split(path);
        let dir = self.open_dir(e, parent, Some(perms.directory_mode))?;
        let m = self.umask.for_mode(perms.mode, DEFAULT_FILE_MODE);
        let not_fifo = |t| {
            let what = format!("{shown} exists and is {}, not a FIFO", type_name(t));
            Err(refuse(e, what))
        };
        let created = match mkfifoat(&*dir, name, m) {
            Ok(()) => {
                self.record(&dir, name, path, false);
                true
            }
            Err(Errno::EEXIST) => {
                // Looked at before it is opened: opening a device can have effects.
                let st = stat_in(&dir, name)
                    .map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
                match file_type(st.st_mode) {
                    SFlag::S_IFIFO => false,
                    t => return not_fifo(t),
                }
            }
            Err(errno) => return Err(fail(e, format!("unable to create the FIFO {shown}"), errno)),
        };
        // Read-write and non-blocking: holding it neither blocks nor ever sees end of file.
        let flags = OFlag::O_RDWR | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let fd = match openat(&*dir, name, flags, Mode::empty()) {
            Err(Errno::ELOOP) => return not_fifo(SFlag::S_IFLNK),
            r => r.map_err(|errno| fail(e, format!("unable to open {shown}"), errno))?,
        };
        // What was opened is what was looked at or made, not something swapped in since.
        let st = fstat(&fd).map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
        match file_type(st.st_mode) {
            SFlag::S_IFIFO => {}
            t => return not_fifo(t),
        }
        if created {
            ours(e, &st, path)?;
            chown_fd(e, &fd, path, perms)?;
        }
        Ok(fd)
    }

    fn file(
        &mut self,
        e: &Entry,
        path: &Path,
        mode: OpenMode,
        create: bool,
        perms: &Perms,
    ) -> Result<OwnedFd, Diag> {
        let shown = path.display();
        let (parent, name) = split(path);
        let dir = self.open_dir(e, parent, create.then_some(perms.directory_mode))?;
        let access = match mode {
            OpenMode::Read => OFlag::O_RDONLY,
            OpenMode::Write => OFlag::O_WRONLY,
            OpenMode::Append => OFlag::O_WRONLY | OFlag::O_APPEND,
            OpenMode::ReadWrite => OFlag::O_RDWR,
        };
        // O_NONBLOCK: a FIFO or device at the path must not hang the run; it is refused below.
        let flags =
            access | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
        let mut created = false;
        let mut r = Err(Errno::EEXIST);
        if create {
            // O_EXCL: the fd is the file made here, whatever is swapped in afterwards.
            let m = self.umask.for_mode(perms.mode, DEFAULT_FILE_MODE);
            r = openat(&*dir, name, flags | OFlag::O_CREAT | OFlag::O_EXCL, m);
            if r.is_ok() {
                self.record(&dir, name, path, false);
                created = true;
            }
        }
        if matches!(r, Err(Errno::EEXIST)) {
            r = openat(&*dir, name, flags, Mode::empty());
        }
        let fd = r.map_err(|errno| {
            let why = if errno == Errno::ELOOP {
                " (a symlink is not followed)"
            } else {
                ""
            };
            fail(e, format!("unable to open {shown}{why}"), errno)
        })?;
        let st = fstat(&fd).map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
        let t = file_type(st.st_mode);
        if t != SFlag::S_IFREG {
            return Err(refuse(
                e,
                format!("{shown} is {}, not a regular file", type_name(t)),
            ));
        }
        fcntl(&fd, FcntlArg::F_SETFL(flags & OFlag::O_APPEND))
            .map_err(|errno| fail(e, format!("unable to set the flags of {shown}"), errno))?;
        if created {
            chown_fd(e, &fd, path, perms)?;
        }
        Ok(fd)
    }
}

/// listen(2) with the entry's backlog.
fn listen_on(e: &Entry, fd: &OwnedFd, backlog: i32) -> Result<(), Diag> {
    let backlog = Backlog::new(backlog).unwrap_or(Backlog::MAXCONN);
    listen(fd, backlog).map_err(|errno| fail(e, "unable to listen".into(), errno))
}

/// Checks that a file this run has just made is still its own: owned by the user running
/// the tool, with one link. A hard link to someone else's file, swapped in at its name
/// between its creation and its opening, is neither.
fn ours(e: &Entry, st: &FileStat, path: &Path) -> Result<(), Diag> {
    if st.st_uid == geteuid().as_raw() && st.st_nlink == 1 {
        return Ok(());
    }
    Err(refuse(
        e,
        format!(
            "{} was replaced after it was made (owner uid {}, {} links): it is not chowned",
            path.display(),
            st.st_uid,
            st.st_nlink
        ),
    ))
}

/// Gives the socket file `name` in `dir` the entry's owner and group: through an `O_PATH`
/// fd of the file, once that is a socket of this run's ([`ours`]), so that nothing
/// swapped in at the name is chowned.
fn chown_socket(
    e: &Entry,
    dir: &OwnedFd,
    name: &OsStr,
    path: &Path,
    perms: &Perms,
) -> Result<(), Diag> {
    let shown = path.display();
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(dir, name, flags, Mode::empty())
        .map_err(|errno| fail(e, format!("unable to open {shown} to chown it"), errno))?;
    let st = fstat(&fd).map_err(|errno| fail(e, format!("unable to stat {shown}"), errno))?;
    let t = file_type(st.st_mode);
    if t != SFlag::S_IFSOCK {
        return Err(refuse(
            e,
            format!(
                "{shown} is {} since it was bound: it is not chowned",
                type_name(t)
            ),
        ));
    }
    ours(e, &st, path)?;
    fchownat(&fd, "", perms.owner, perms.group, AtFlags::AT_EMPTY_PATH)
        .map_err(|errno| fail(e, format!("unable to chown {shown}"), errno))
}

/// Gives what `fd` refers to its owner and group, if the entry names them.
fn chown_fd(e: &Entry, fd: &OwnedFd, path: &Path, perms: &Perms) -> Result<(), Diag> {
    if perms.owner.is_none() && perms.group.is_none() {
        return Ok(());
    }
    fchown(fd, perms.owner, perms.group)
        .map_err(|errno| fail(e, format!("unable to chown {}", path.display()), errno))
}

/// Sets a tcp or udp entry's socket options; all of them matter before bind.
fn set_options(e: &Entry, fd: &OwnedFd, o: &InetOptions) -> Result<(), Diag> {
    let set = |name: &str, r: nix::Result<()>| {
        r.map_err(|errno| fail(e, format!("unable to set {name}"), errno))
    };
    if o.reuse_address {
        set("SO_REUSEADDR", setsockopt(fd, sockopt::ReuseAddr, &true))?;
    }
    if let Some(v) = o.reuse_port {
        set("SO_REUSEPORT", setsockopt(fd, sockopt::ReusePort, &v))?;
    }
    if let Some(v) = o.ipv6_only {
        set("IPV6_V6ONLY", setsockopt(fd, sockopt::Ipv6V6Only, &v))?;
    }
    if let Some(v) = o.freebind {
        set("IP_FREEBIND", setsockopt(fd, sockopt::IpFreebind, &v))?;
    }
    if let Some(dev) = &o.bind_to_device {
        set(
            "SO_BINDTODEVICE",
            setsockopt(fd, sockopt::BindToDevice, &dev.into()),
        )?;
    }
    if let Some(n) = o.receive_buffer {
        set("SO_RCVBUF", setsockopt(fd, sockopt::RcvBuf, &n))?;
    }
    if let Some(n) = o.send_buffer {
        set("SO_SNDBUF", setsockopt(fd, sockopt::SndBuf, &n))?;
    }
    if let Some(v) = o.keepalive {
        set("SO_KEEPALIVE", setsockopt(fd, sockopt::KeepAlive, &v))?;
    }
    if let Some(v) = o.nodelay {
        set("TCP_NODELAY", setsockopt(fd, sockopt::TcpNoDelay, &v))?;
    }
    if let Some(v) = o.broadcast {
        set("SO_BROADCAST", setsockopt(fd, sockopt::Broadcast, &v))?;
    }
    Ok(())
}

/// Opens every fd of `plan`, calling `opened` for each (an `Err` from it stops the run:
/// the reason why, such as a signal); on the first failure, closes them all and undoes what
/// this run did on disk. A unix socket file whose device and inode are
/// in `replaceable` may be replaced (it is moved aside, and back on failure).
pub fn open_all(
    config: &Config,
    plan: &Plan,
    replaceable: &HashSet<(u64, u64)>,
    opened: &mut dyn FnMut(&Item) -> Result<(), String>,
) -> Result<Opened, OpenFailure> {
    let mut op = Opener {
        replaceable: Some(replaceable),
        ..Opener::default()
    };
    let mut fds = Vec::with_capacity(plan.items.len());
    let mut result = Ok(());
    for e in &config.entries {
        op.item = fds.len();
        let one = |fd: Result<OwnedFd, Diag>| fd.map(|fd| vec![fd]);
        let r = match &e.spec {
            FdSpec::Unix {
                address,
                socket,
                backlog,
                perms,
                ..
            } => one(op.unix(e, address, *socket, *backlog, perms)),
            FdSpec::Inet {
                transport,
                address,
                backlog,
                options,
                ..
            } => one(op.inet(e, *transport, *address, *backlog, options)),
            FdSpec::Fifo { path, perms, .. } => one(op.fifo(e, path, perms)),
            FdSpec::File {
                path,
                open,
                create,
                perms,
                ..
            } => one(op.file(e, path, *open, *create, perms)),
            FdSpec::Pipe { buffer_size, .. } => pipe(e, *buffer_size),
        };
        let stopped = r.and_then(|new| {
            for fd in new {
                fds.push(fd);
                opened(&plan.items[fds.len() - 1]).map_err(|why| refuse(e, why))?;
            }
            Ok(())
        });
        if let Err(d) = stopped {
            result = Err(d);
            break;
        }
    }
    let created = std::mem::take(&mut op.created);
    let asides = std::mem::take(&mut op.asides);
    drop(op);
    let opened = Opened {
        fds,
        created,
        asides,
    };
    match result {
        Ok(()) => Ok(opened),
        Err(diag) => Err(OpenFailure {
            diag,
            leftovers: opened.rollback(0),
        }),
    }
}

/// An anonymous pipe, read end first, with its buffer size if asked.
fn pipe(e: &Entry, buffer_size: Option<i32>) -> Result<Vec<OwnedFd>, Diag> {
    let (r, w) = pipe2(OFlag::O_CLOEXEC)
        .map_err(|errno| fail(e, "unable to create a pipe".into(), errno))?;
    if let Some(n) = buffer_size {
        fcntl(w.as_fd(), FcntlArg::F_SETPIPE_SZ(n))
            .map_err(|errno| fail(e, format!("unable to set the pipe's size to {n}"), errno))?;
    }
    Ok(vec![r, w])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_replaced_since_it_was_looked_at_is_not_unlinked() {
        // What clear_stale does between its probe and the unlink: the name is unlinked only
        // if it is still the file probed. A live server that has bound anew there meanwhile
        // keeps its socket.
        let tmp = tempfile::tempdir().unwrap();
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let dir = open(tmp.path(), flags, Mode::empty()).unwrap();
        let (s, keep) = (tmp.path().join("s"), tmp.path().join("keep"));
        std::fs::write(&s, "probed").unwrap();
        let probed = file_id(&stat_in(&dir, OsStr::new("s")).unwrap());
        // Replaced, the probed file still alive under another name (so that its inode
        // number cannot be reused for the new one).
        std::fs::hard_link(&s, &keep).unwrap();
        std::fs::write(tmp.path().join("new"), "bound anew").unwrap();
        std::fs::rename(tmp.path().join("new"), &s).unwrap();
        assert_eq!(unlink_if_same(&dir, OsStr::new("s"), probed), Ok(false));
        assert_eq!(std::fs::read_to_string(&s).unwrap(), "bound anew");
        let now = file_id(&stat_in(&dir, OsStr::new("s")).unwrap());
        assert_eq!(unlink_if_same(&dir, OsStr::new("s"), now), Ok(true));
        assert!(!s.exists());
        assert_eq!(
            unlink_if_same(&dir, OsStr::new("s"), now),
            Err(Errno::ENOENT)
        );
    }
}
