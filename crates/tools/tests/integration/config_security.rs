//! Config mode's security review, one test per finding, against real daemons: modes are
//! never wider than asked even for an instant (checked by an unprivileged user connecting
//! in a tight loop while the run binds); a symlink at an fd's path, or planted by another
//! user on the way to it, is never followed to create, chmod, chown or remove anything
//! else; a config file others could have written is refused when run as root.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, open};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid, fchownat, setfsgid, setfsuid};

use crate::common::{BIN, Daemon, assert_fatal, code_and_err};
use crate::config_mode::{run, tree, write_config};

/// `nobody`'s uid and `nogroup`'s gid on Debian.
const NOBODY: u32 = 65534;

/// What an unprivileged user gets when it tries to use `path` right now: `None` while the
/// path does not exist, `Some(Ok(()))` when the permission check let it through.
fn try_as_this_thread(path: &Path, fifo: bool) -> Option<Result<(), Errno>> {
    let r = if fifo {
        let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        open(path, flags, Mode::empty()).map(drop)
    } else {
        let s = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .unwrap();
        connect(s.as_raw_fd(), &UnixAddr::new(path).unwrap())
    };
    match r {
        Err(Errno::ENOENT) => None,
        // Past the permission check: nobody reader (ENXIO), not listening yet
        // (ECONNREFUSED), or in.
        Err(Errno::ENXIO | Errno::ECONNREFUSED | Errno::EAGAIN) => Some(Ok(())),
        r => Some(r),
    }
}

#[test]
fn modes_are_never_wider_than_asked_even_for_an_instant() {
    // 300 sockets and 300 FIFOs, mode 0600, run under umask 0 (so that a creation that
    // relied on a chmod afterwards would leave each open to all for an instant). A thread
    // whose file-system ids are nobody's (setfsuid: that thread alone, its capabilities
    // over files dropped) waits for each path to appear and tries it at once. Every try
    // must be refused. (Checked: with bind/mkfifo under the process umask followed by a
    // chmod, this test fails.)
    const N: usize = 300;
    let d = Daemon::start();
    fs::set_permissions(d.dir.path(), fs::Permissions::from_mode(0o711)).unwrap();
    let dir = d.path("spied");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let paths: Vec<(PathBuf, bool)> = (0..N)
        .map(|i| (dir.join(format!("s{i}")), false))
        .chain((0..N).map(|i| (dir.join(format!("f{i}")), true)))
        .collect();
    let text: String = paths
        .iter()
        .map(|(p, fifo)| {
            let kind = if *fifo { "fifo" } else { "unix" };
            format!(
                "[[fd]]\nkind = \"{kind}\"\npath = \"{}\"\nmode = \"0600\"\n",
                p.display()
            )
        })
        .collect();
    let config = write_config(&d, "c.toml", &text);
    fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let (spied, stop) = (paths.clone(), done.clone());
    let private = config.clone();
    let spy = std::thread::spawn(move || {
        setfsgid(Gid::from_raw(NOBODY));
        setfsuid(Uid::from_raw(NOBODY));
        // The spy really is nobody for files: root's 0600 config is closed to it.
        let probe = open(&private, OFlag::O_RDONLY, Mode::empty());
        assert_eq!(
            probe.err(),
            Some(Errno::EACCES),
            "the spy is not unprivileged"
        );
        let mut let_through = Vec::new();
        let mut tries = 0u64;
        for (path, fifo) in &spied {
            loop {
                tries += 1;
                match try_as_this_thread(path, *fifo) {
                    None if stop.load(Ordering::Relaxed) => break,
                    None => continue,
                    Some(Err(Errno::EACCES)) => break,
                    Some(r) => {
                        let_through.push((path.clone(), r));
                        break;
                    }
                }
            }
        }
        (let_through, tries)
    });
    let out = Command::new("sh")
        .args(["-c", "umask 0; exec \"$0\" \"$@\""])
        .arg(BIN)
        .arg("-c")
        .arg(&config)
        .arg(&d.socket)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    done.store(true, Ordering::Relaxed);
    let (let_through, tries) = spy.join().unwrap();
    assert_eq!(code_and_err(&out), (0, String::new()));
    assert!(
        let_through.is_empty(),
        "let through ({tries} tries): {let_through:?}"
    );
    assert_eq!(d.list().len(), 2 * N);
    for (p, _) in &paths {
        assert_eq!(p.symlink_metadata().unwrap().mode() & 0o777, 0o600);
    }
}

/// Gives `path`, not followed, to nobody.
fn give_to_nobody(path: &Path) {
    let nobody = (Some(Uid::from_raw(NOBODY)), Some(Gid::from_raw(NOBODY)));
    fchownat(
        AT_FDCWD,
        path,
        nobody.0,
        nobody.1,
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// A new directory `name` in `d`'s directory, nobody's: one another user can write in.
fn nobodys_dir(d: &Daemon, name: &str) -> PathBuf {
    let dir = d.path(name);
    fs::create_dir(&dir).unwrap();
    give_to_nobody(&dir);
    dir
}

/// A root-owned file no run may touch, and a way to check that none did.
struct Precious {
    path: PathBuf,
}

impl Precious {
    fn new(d: &Daemon) -> Precious {
        let path = d.path("precious");
        fs::write(&path, "keep me").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        Precious { path }
    }

    fn ino(&self) -> u64 {
        self.path.symlink_metadata().unwrap().ino()
    }

    fn assert_untouched(&self, what: &str) {
        let m = self.path.symlink_metadata().unwrap();
        assert_eq!(
            (m.mode() & 0o7777, m.uid(), m.gid(), m.nlink()),
            (0o644, 0, 0, 1),
            "{what}"
        );
        assert_eq!(fs::read_to_string(&self.path).unwrap(), "keep me", "{what}");
    }
}

#[test]
fn a_symlink_at_the_path_is_never_followed() {
    // At a socket's, a FIFO's or a file's own path, a symlink to a precious file: with a
    // mode, an owner and a group to give (and truncation asked for the file), the run
    // fails, and neither the file nor the link has changed.
    let d = Daemon::start();
    let precious = Precious::new(&d);
    let link = d.path("link");
    symlink(&precious.path, &link).unwrap();
    let perms = "mode = \"0666\"\nowner = \"nobody\"\ngroup = \"nogroup\"";
    for (entry, says) in [
        ("kind = \"unix\"", "exists and is a symlink, not a socket"),
        (
            "kind = \"unix\"\nsocket = \"dgram\"",
            "exists and is a symlink",
        ),
        ("kind = \"fifo\"", "exists and is a symlink, not a FIFO"),
        (
            "kind = \"file\"\nopen = \"write\"\ncreate = true\ntruncate = true",
            "(a symlink is not followed)",
        ),
    ] {
        let text = format!("[[fd]]\n{entry}\npath = \"{}\"\n{perms}\n", link.display());
        fails_first(&d, &text, says);
        precious.assert_untouched(entry);
        assert_eq!(fs::read_link(&link).unwrap(), precious.path, "{entry}");
    }
}

#[test]
fn another_users_symlink_on_the_way_is_not_followed() {
    // `nobody` plants a symlink where the run would create a directory, to a directory of
    // root's: nothing is created, chowned or truncated there, whatever the kind. A
    // symlink of root's on the way (as /var/run is) is followed.
    let d = Daemon::start();
    let precious = Precious::new(&d);
    let victim = d.path("victim");
    fs::create_dir(&victim).unwrap();
    fs::copy(&precious.path, victim.join("x")).unwrap();
    let planted = d.path("planted");
    symlink(&victim, &planted).unwrap();
    give_to_nobody(&planted);
    let before = tree(&victim);
    let says = format!(
        "{} is a symlink owned by uid {NOBODY}: it is not followed",
        planted.display()
    );
    for entry in [
        "kind = \"unix\"\npath = \"PLANTED/sub/x.sock\"\nowner = \"nobody\"",
        "kind = \"fifo\"\npath = \"PLANTED/x.fifo\"\nowner = \"nobody\"",
        "kind = \"file\"\npath = \"PLANTED/x\"\nopen = \"write\"\ncreate = true\ntruncate = true",
    ] {
        let entry = entry.replace("PLANTED", &planted.display().to_string());
        fails_first(&d, &format!("[[fd]]\n{entry}\n"), &says);
        assert_eq!(tree(&victim), before, "{entry}");
        assert_eq!(fs::read_to_string(victim.join("x")).unwrap(), "keep me");
    }

    let alias = d.path("alias");
    symlink(&victim, &alias).unwrap();
    let path = alias.join("new/y.sock");
    let text = format!("[[fd]]\nkind = \"unix\"\npath = \"{}\"\n", path.display());
    let config = write_config(&d, "ok.toml", &text);
    assert_eq!(
        code_and_err(&run(&[&"-c", &config, &d.socket])),
        (0, String::new())
    );
    assert!(
        victim.join("new/y.sock").exists(),
        "root's symlink is followed"
    );
}

#[test]
fn another_socket_swapped_in_is_never_chowned() {
    // As above, but the decoys are sockets of root's, each with one link (another
    // service's, say), which pass for the run's own by their type, owner and link count:
    // only sock_diag's word on which file the run's socket is bound to tells them apart.
    // (Checked: without that comparison, decoys are chowned.)
    let d = Daemon::start();
    let links = d.path("unix-links");
    let swapped = d.path("unix-swapped");
    // A decoy is where a swap left it, under its own name or the run's.
    let (swaps, code, err, decoys) = swap_in(&d, "unix", 200, |path| {
        drop(std::os::unix::net::UnixListener::bind(path).unwrap());
    });
    assert!(swaps > 0);
    for dir in [&links, &swapped] {
        for f in fs::read_dir(dir).into_iter().flatten().flatten() {
            let m = f.path().symlink_metadata().unwrap();
            assert!(
                !decoys.contains(&m.ino()) || (m.uid(), m.gid()) == (0, 0),
                "{} chowned ({swaps} swaps; the run: {code} {err})",
                f.path().display()
            );
        }
    }
    if code != 0 {
        assert!(
            code == 111
                && (err.contains("is another socket than the one bound there")
                    || err.contains("was replaced after")),
            "{err}"
        );
    }
}

#[test]
fn a_root_symlink_into_another_users_way_is_walked_too() {
    // Root's symlink `link` points into a directory of nobody's, at nobody's symlink to a
    // directory of root's. Followed by the kernel in one call, the way ended in root's
    // directory, which no one else can write in: the socket was bound there by its whole
    // path and chowned by its name, while nobody could repoint `d` between the walk and
    // the bind, and so choose where either landed (a helper's attack made the run chown a
    // root file it never made). Walked one component at a time, the way meets nobody's
    // symlink, in nobody's directory, which is not followed: nothing is created, chowned
    // or sent.
    let d = Daemon::start();
    let victim = d.path("victim");
    fs::create_dir(&victim).unwrap();
    let theirs = nobodys_dir(&d, "theirs");
    let planted = theirs.join("d");
    symlink(&victim, &planted).unwrap();
    give_to_nobody(&planted);
    let link = d.path("link");
    symlink(&planted, &link).unwrap();
    let text = format!(
        "[[fd]]\nkind = \"unix\"\npath = \"{}/app.sock\"\nowner = \"nobody\"\n",
        link.display()
    );
    let says = "is a symlink where another user can write: it is not followed";
    refused_first(&d, &text, &format!("{} {says}", planted.display()), &victim);

    // Root's symlinks all the way, relative ones and one through `..` included, are
    // followed, and the socket is bound where they lead.
    let inner = d.path("a/b");
    fs::create_dir_all(&inner).unwrap();
    symlink("../victim", d.path("a/up")).unwrap();
    symlink("a/up", d.path("two")).unwrap();
    symlink(d.path("two"), d.path("three")).unwrap();
    let text = format!(
        "[[fd]]\nkind = \"unix\"\npath = \"{}/ok.sock\"\nowner = \"nobody\"\n",
        d.path("three").display()
    );
    let config = write_config(&d, "ok.toml", &text);
    assert_eq!(
        code_and_err(&run(&[&"-c", &config, &d.socket])),
        (0, String::new())
    );
    let made = fs::symlink_metadata(victim.join("ok.sock")).unwrap();
    assert_eq!((made.uid(), made.gid()), (NOBODY, NOBODY));
    assert_eq!(d.list().len(), 1);
}

#[test]
fn a_root_symlink_where_others_can_write_is_not_followed() {
    // Who owns a symlink says nothing about who put it where it is. Root's symlink to a
    // directory of root's, moved by nobody into a directory of nobody's, or renamed by them
    // into a sticky one such as /tmp (which keeps them from removing what is not theirs,
    // not from adding), as anyone can move a link of root's from a directory of theirs
    // (say one root made for them): followed by no run. Nor is a second hard link to a
    // symlink of root's, wherever it is.
    let d = Daemon::start();
    let victim = d.path("victim");
    fs::create_dir(&victim).unwrap();
    let theirs = nobodys_dir(&d, "theirs");
    let moved = theirs.join("app");
    symlink(&victim, &moved).unwrap();
    let sticky = sticky_dir(&d, "sticky");
    let renamed = sticky.join("app");
    symlink(&victim, theirs.join("mine")).unwrap();
    fs::rename(theirs.join("mine"), &renamed).unwrap();
    let roots = d.path("roots");
    fs::create_dir(&roots).unwrap();
    let linked = roots.join("app");
    fs::hard_link(&moved, &linked).unwrap();
    let cases = [
        (
            &moved,
            "is a symlink where another user can write: it is not followed",
        ),
        (
            &renamed,
            "is a symlink where another user can write: it is not followed",
        ),
        (&linked, "is a symlink with 2 links: it is not followed"),
    ];
    for (link, says) in cases {
        let text = format!(
            "[[fd]]\nkind = \"unix\"\npath = \"{}/app.sock\"\nowner = \"nobody\"\n\
             [[fd]]\nkind = \"file\"\npath = \"{}/app.log\"\nopen = \"append\"\ncreate = true\n",
            link.display(),
            link.display()
        );
        refused_first(&d, &text, &format!("{} {says}", link.display()), &victim);
    }
}

/// Runs the config `text` against `d`: the run must fail at its first entry, saying
/// `says`, having sent nothing.
fn fails_first(d: &Daemon, text: &str, says: &str) {
    let config = write_config(d, "c.toml", text);
    let got = code_and_err(&run(&[&"-c", &config, &d.socket]));
    assert_fatal(
        &got,
        111,
        &format!("{}:1:1: fd[0] ", config.display()),
        says,
    );
    assert!(d.list().is_empty());
}

/// [`fails_first`], having also made nothing in `victim`.
fn refused_first(d: &Daemon, text: &str, says: &str, victim: &Path) {
    fails_first(d, text, says);
    assert_eq!(tree(victim), Vec::<PathBuf>::new());
}

/// A new directory `name` in `d`'s directory, root's and sticky, that all may write in, as
/// /tmp.
fn sticky_dir(d: &Daemon, name: &str) -> PathBuf {
    let dir = d.path(name);
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
    dir
}

#[test]
fn a_held_socket_is_not_found_through_another_users_symlink() {
    // A socket bound in a directory of nobody's is bound through the directory's fd: its
    // address says nothing of its path, and the comparison looked at the declared path to
    // learn whether it still leads to the held socket's file. With `lstat`, a declared
    // path through nobody's symlink into that directory led there: the held socket was
    // taken as the one declared and "fixed in place" to the new mode (a helper's attack
    // gave one user's socket to another this way). Looked at as a run would bind it, the
    // way is refused: the entry is to be replaced, and the run refuses that way too,
    // leaving the held socket's file as it was.
    let d = Daemon::start();
    let (a, m) = (nobodys_dir(&d, "a"), nobodys_dir(&d, "m"));
    let entry = |path: &Path, mode: &str| {
        format!(
            "[[fd]]\nkind = \"unix\"\nid = \"svc\"\npath = \"{}\"\nmode = \"{mode}\"\n",
            path.display()
        )
    };
    let config = write_config(&d, "c.toml", &entry(&a.join("s.sock"), "0600"));
    let first = code_and_err(&run(&[&"-c", &config, &d.socket]));
    assert_eq!(first, (0, String::new()));
    let sock = a.join("s.sock");
    assert_eq!(sock.symlink_metadata().unwrap().mode() & 0o777, 0o600);
    symlink(&a, m.join("run")).unwrap();
    give_to_nobody(&m.join("run"));
    let config = write_config(&d, "c.toml", &entry(&m.join("run/s.sock"), "0666"));
    let got = code_and_err(&run(&[&"-c", &config, &d.socket]));
    assert_eq!(got.0, 111, "{}", got.1);
    assert!(
        got.1.contains("is a symlink where another user can write"),
        "{}",
        got.1
    );
    assert_eq!(sock.symlink_metadata().unwrap().mode() & 0o777, 0o600);
    assert_eq!(d.list(), vec!["svc".to_string()]);
}

#[test]
fn a_held_fifo_is_not_found_through_another_users_symlink() {
    // A FIFO is held as `ctl` in a directory of root's; the config then declares the id in
    // a directory of nobody's, through nobody's symlink to root's. The held FIFO's path is
    // not the declared one as written, and the declared one leads to the held FIFO only
    // through nobody's symlink, which a run does not follow: it is not the FIFO declared
    // (a helper's attack had it fixed in place, chowned and chmodded for nobody), the entry
    // is to be replaced, and the run refuses that way.
    let d = Daemon::start();
    let m = nobodys_dir(&d, "m");
    let planted = m.join("run");
    let plant = |root: &Path| {
        symlink(root, &planted).unwrap();
        give_to_nobody(&planted);
    };
    held_fifo_not_found_at(
        &d,
        &planted.join("ctl"),
        plant,
        "is a symlink where another user can write",
    );
}

#[test]
fn a_hard_link_planted_where_others_write_is_not_adopted() {
    // Where fs.protected_hardlinks is off, another user can hard-link a root file or FIFO
    // into a directory where they can put a name, theirs or a sticky one such as /tmp, at a
    // config's path: the run found it there, opened it, and truncated the file (or, at the
    // next run, fixed the FIFO in place for them); a special entry held it read-write. A
    // FIFO or regular file the run did not make, with more than one link, where another
    // user can put a name, is left alone. (Made here as root, which may link anything.)
    let d = Daemon::start();
    let precious = Precious::new(&d);
    let fifo = d.path("precious.fifo");
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).unwrap();
    let sticky = sticky_dir(&d, "sticky");
    for dir in [nobodys_dir(&d, "theirs"), sticky] {
        fs::hard_link(&precious.path, dir.join("app.log")).unwrap();
        fs::hard_link(&fifo, dir.join("ctl")).unwrap();
        let root = dir.display();
        for (entry, name) in [
            (
                format!(
                    "kind = \"file\"\npath = \"{root}/app.log\"\nopen = \"write\"\ncreate = true\ntruncate = true"
                ),
                "app.log",
            ),
            (
                format!("kind = \"fifo\"\npath = \"{root}/ctl\"\nowner = \"nobody\""),
                "ctl",
            ),
            (
                format!("kind = \"special\"\npath = \"{root}/app.log\"\nwritable = true"),
                "app.log",
            ),
        ] {
            let says = "has 2 links, in a directory another user can write in: it is left alone";
            fails_first(
                &d,
                &format!("[[fd]]\n{entry}\n"),
                &format!("{root}/{name} {says}"),
            );
        }
        fs::remove_file(dir.join("app.log")).unwrap();
        fs::remove_file(dir.join("ctl")).unwrap();
    }
    precious.assert_untouched("the hard-linked file");
    let m = fifo.symlink_metadata().unwrap();
    assert_eq!((m.mode() & 0o777, m.uid()), (0o600, 0));
}

#[test]
fn a_file_of_another_users_in_a_sticky_directory_is_not_adopted() {
    // In a sticky directory others write in, such as /tmp, another user can make a file or
    // FIFO at a config's path before the run: the kernel keeps root's O_CREAT open from
    // taking it (fs.protected_regular, fs.protected_fifos), but the tool's O_EXCL open
    // failed and its second open, without O_CREAT, took it, and the service wrote to a
    // file its maker reads. Neither the user's nor the directory owner's: left alone.
    let d = Daemon::start();
    let sticky = sticky_dir(&d, "sticky");
    let log = sticky.join("app.log");
    fs::write(&log, "").unwrap();
    give_to_nobody(&log);
    let fifo = sticky.join("ctl");
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o666)).unwrap();
    give_to_nobody(&fifo);
    for (entry, path) in [
        (
            format!(
                "kind = \"file\"\npath = \"{}\"\nopen = \"append\"\ncreate = true",
                log.display()
            ),
            &log,
        ),
        (
            format!("kind = \"fifo\"\npath = \"{}\"", fifo.display()),
            &fifo,
        ),
    ] {
        let says = "in a sticky directory others write in: it is left alone";
        fails_first(
            &d,
            &format!("[[fd]]\n{entry}\n"),
            &format!("{} is uid {NOBODY}'s, {says}", path.display()),
        );
    }
}

#[test]
fn another_users_link_in_the_way_of_symlinks_is_not_kept() {
    // A `symlinks` link that already points at the socket is left as it is, and that was
    // so whoever made it: in a sticky directory, another user could make it first, keep
    // it, and later point it at a socket of theirs for the service's clients. Another
    // user's link where another user can put a name is left alone, and the entry fails;
    // root's own, already there, is kept.
    let d = Daemon::start();
    let sticky = sticky_dir(&d, "sticky");
    let sock = d.path("srv/app.sock");
    let link = sticky.join("app");
    symlink(&sock, &link).unwrap();
    give_to_nobody(&link);
    let text = format!(
        "[[fd]]\nkind = \"unix\"\npath = \"{}\"\nsymlinks = [\"{}\"]\n",
        sock.display(),
        link.display()
    );
    let says = "where another user can put a name: it is left alone";
    fails_first(
        &d,
        &text,
        &format!("the symlink {} is uid {NOBODY}'s, {says}", link.display()),
    );
    assert!(!sock.exists(), "the socket made is removed");
    fs::remove_file(&link).unwrap();
    symlink(&sock, &link).unwrap();
    let config = write_config(&d, "c.toml", &text);
    assert_eq!(
        code_and_err(&run(&[&"-c", &config, &d.socket])),
        (0, String::new())
    );
    assert_eq!(d.list().len(), 1);
}

#[test]
fn a_held_fifo_is_not_found_through_a_second_link() {
    // The id of a FIFO held in a directory of root's is declared at a new path in a sticky
    // directory, where another user has put a hard link to the held FIFO: the new path
    // leads to the held FIFO, but by a link that may be theirs, so it is not the declared
    // one (it was fixed in place for them, chowned and chmodded); the entry is to be
    // replaced, and the opening refuses the link.
    let d = Daemon::start();
    let sticky = sticky_dir(&d, "sticky");
    let plant = |root: &Path| fs::hard_link(root.join("ctl"), sticky.join("ctl")).unwrap();
    held_fifo_not_found_at(&d, &sticky.join("ctl"), plant, "has 2 links");
}

/// Holds a FIFO at `srv/ctl` under the id `app-ctl`, calls `plant` with `srv`, then
/// declares the id at `moved` with nobody for owner: the run must fail saying `says`, the
/// held FIFO keep its mode and owner, and the daemon hold the id still.
fn held_fifo_not_found_at(d: &Daemon, moved: &Path, plant: impl FnOnce(&Path), says: &str) {
    let root = d.path("srv");
    fs::create_dir(&root).unwrap();
    let entry = |path: &Path, owner: &str| {
        format!(
            "[[fd]]\nkind = \"fifo\"\nid = \"app-ctl\"\npath = \"{}\"\nmode = \"0600\"\n{owner}",
            path.display()
        )
    };
    let config = write_config(d, "c.toml", &entry(&root.join("ctl"), ""));
    assert_eq!(
        code_and_err(&run(&[&"-c", &config, &d.socket])),
        (0, String::new())
    );
    plant(&root);
    let config = write_config(d, "c.toml", &entry(moved, "owner = \"nobody\"\n"));
    let got = code_and_err(&run(&[&"-c", &config, &d.socket]));
    assert_eq!(got.0, 111, "{}", got.1);
    assert!(got.1.contains(says), "{}", got.1);
    let held = root.join("ctl").symlink_metadata().unwrap();
    assert_eq!((held.mode() & 0o777, held.uid()), (0o600, 0));
    assert_eq!(d.list(), vec!["app-ctl".to_string()]);
}

#[test]
fn a_hard_link_swapped_in_is_never_chowned() {
    // Between the creation of a socket or FIFO and its chown, a thread swaps a hard link to
    // a precious root file in at its name (renameat2 RENAME_EXCHANGE, the moment the name
    // exists), as a user with write access to the directory could (this machine, like
    // many, has fs.protected_hardlinks off): the directory is writable by all, so the run
    // takes it for one that others can write in, as it is. Chowned by name, or through an
    // fd opened by name without a look at what it is, the precious file would become
    // nobody's. The run may fail or not, depending on when the swaps land; the file is
    // never chowned. (Checked: without the type and link-count checks, this test fails for
    // both kinds. In a directory only root and the run's user can write in, no one else
    // can swap anything in, and a socket is chowned by name.)
    let d = Daemon::start();
    let precious = Precious::new(&d);
    for (kind, says) in [
        (
            "unix",
            "is a regular file since it was bound: it is not chowned",
        ),
        ("fifo", "exists and is a regular file, not a FIFO"),
    ] {
        let (swaps, code, err) = swap_in_links(&d, &precious, kind, 200);
        precious.assert_untouched(&format!("{kind}: {swaps} swaps; the run: {code} {err}"));
        assert!(swaps > 0);
        if code != 0 {
            assert!(
                code == 111 && (err.contains(says) || err.contains("was replaced after")),
                "{err}"
            );
        }
    }
}

/// Runs `n` entries of `kind`, each owned by nobody, while a thread swaps a hard link to
/// `precious` in at each name as soon as it exists; the swaps made, and the run's exit
/// code and stderr. The links are gone afterwards.
fn swap_in_links(d: &Daemon, precious: &Precious, kind: &str, n: usize) -> (usize, i32, String) {
    let (swaps, code, err, _) = swap_in(d, kind, n, |link| {
        fs::hard_link(&precious.path, link).unwrap();
    });
    fs::remove_dir_all(d.path(&format!("{kind}-links"))).unwrap();
    for f in fs::read_dir(d.path(&format!("{kind}-swapped"))).unwrap() {
        let path = f.unwrap().path();
        if path.symlink_metadata().unwrap().ino() == precious.ino() {
            fs::remove_file(path).unwrap();
        }
    }
    (swaps, code, err)
}

/// Runs `n` entries of `kind`, each owned by nobody, in a directory all may write in,
/// while a thread swaps a decoy (made by `decoy` at a path of its own) in at each name as
/// soon as it exists; the swaps made, the run's exit code and stderr, and the decoys'
/// inodes. The decoys are left where the swaps put them: `KIND-links` or `KIND-swapped`.
fn swap_in(
    d: &Daemon,
    kind: &str,
    n: usize,
    decoy: impl Fn(&Path),
) -> (usize, i32, String, Vec<u64>) {
    use nix::fcntl::{RenameFlags, renameat2};
    let dir = d.path(&format!("{kind}-swapped"));
    let links = d.path(&format!("{kind}-links"));
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    fs::create_dir(&links).unwrap();
    let paths: Vec<(PathBuf, PathBuf)> = (0..n)
        .map(|i| {
            let link = links.join(i.to_string());
            decoy(&link);
            (dir.join(i.to_string()), link)
        })
        .collect();
    let inodes: Vec<u64> = paths
        .iter()
        .map(|(_, link)| link.symlink_metadata().unwrap().ino())
        .collect();
    let text: String = paths
        .iter()
        .map(|(p, _)| {
            let p = p.display();
            format!("[[fd]]\nkind = \"{kind}\"\npath = \"{p}\"\nowner = \"nobody\"\n")
        })
        .collect();
    let config = write_config(d, "c.toml", &text);
    let done = Arc::new(AtomicBool::new(false));
    let (swapped, stop) = (paths.clone(), done.clone());
    let swapper = std::thread::spawn(move || {
        let mut n = 0;
        for (path, link) in &swapped {
            loop {
                let exchange = RenameFlags::RENAME_EXCHANGE;
                match renameat2(AT_FDCWD, link, AT_FDCWD, path, exchange) {
                    Ok(()) => {
                        n += 1;
                        break;
                    }
                    Err(Errno::ENOENT) if !stop.load(Ordering::Relaxed) => continue,
                    Err(Errno::ENOENT) => return n,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        n
    });
    let (code, err) = code_and_err(&run(&[&"-c", &config, &d.socket]));
    done.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    (swaps, code, err, inodes)
}

#[test]
fn a_config_others_could_have_written_is_refused_as_root() {
    // Group- or world-writable, another user's, or in a directory that is (without the
    // sticky bit): refused, even for --check, unless --allow-insecure-config. The file
    // itself is read-only to the check: it runs before anything is opened or sent.
    let d = Daemon::start();
    let text = "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n";
    let config = write_config(&d, "c.toml", text);
    let mode = |p: &Path, m| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    let chown = |p: &Path, uid| nix::unistd::chown(p, Some(Uid::from_raw(uid)), None).unwrap();
    let shared = d.path("shared");
    fs::create_dir(&shared).unwrap();
    let in_shared = shared.join("c.toml");
    fs::write(&in_shared, text).unwrap();
    let refused = |file: &Path, why: &str| {
        for check in [true, false] {
            let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"-c", &file, &d.socket];
            if check {
                args.insert(0, &"--check");
            }
            let got = code_and_err(&run(&args));
            assert_fatal(
                &got,
                100,
                &format!("refusing {}: {why}; ", file.display()),
                "--allow-insecure-config takes it anyway",
            );
        }
        assert!(d.list().is_empty());
    };
    mode(&config, 0o664);
    refused(&config, "it is writable by its group (mode 0664)");
    mode(&config, 0o646);
    refused(&config, "it is writable by anyone (mode 0646)");
    mode(&config, 0o644);
    chown(&config, NOBODY);
    refused(&config, &format!("it is owned by uid {NOBODY}"));
    chown(&config, 0);
    mode(&shared, 0o777);
    refused(
        &in_shared,
        &format!(
            "its directory {} is writable by anyone (mode 0777)",
            shared.display()
        ),
    );
    // A symlink to it from a trusted place does not make it trusted: its real path counts.
    let link = d.path("link.toml");
    symlink(&in_shared, &link).unwrap();
    refused(
        &link,
        &format!(
            "its directory {} is writable by anyone (mode 0777)",
            shared.display()
        ),
    );
    mode(&shared, 0o1777);
    assert_eq!(
        code_and_err(&run(&[&"-c", &link, &d.socket])),
        (0, String::new()),
        "sticky"
    );
    assert_eq!(d.list(), ["r", "w"]);

    mode(&config, 0o666);
    let text = text.replace("\"r\"", "\"r2\"").replace("\"w\"", "\"w2\"");
    fs::write(&config, text).unwrap();
    let out = run(&[&"--allow-insecure-config", &"-c", &config, &d.socket]);
    assert_eq!(code_and_err(&out), (0, String::new()));
    assert_eq!(d.list(), ["r", "r2", "w", "w2"]);
}

#[test]
fn a_config_run_as_another_user_is_not_checked() {
    // Run as nobody, a file of nobody's, writable by all, is taken: it can do no more
    // than nobody can.
    let d = Daemon::start();
    fs::set_permissions(d.dir.path(), fs::Permissions::from_mode(0o711)).unwrap();
    let config = write_config(
        &d,
        "c.toml",
        "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n",
    );
    fs::set_permissions(&config, fs::Permissions::from_mode(0o666)).unwrap();
    nix::unistd::chown(&config, Some(Uid::from_raw(NOBODY)), None).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(crate::config_faults::nobodys_copy(&d))
        .arg("--check")
        .arg("-c")
        .arg(&config)
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code_and_err(&out), (0, String::new()));
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);
}
