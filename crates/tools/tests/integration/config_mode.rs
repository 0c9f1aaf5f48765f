//! Config mode against real daemons: every kind of fd is read back from the daemon and
//! checked against what the file asked for; rollback leaves nothing held and nothing on
//! disk; live sockets and non-sockets are left alone; config errors are exit 100 with
//! `file:line:col`; `--check` touches nothing; every example ships working.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use fdholder::{Client, Deadline, HeldFd, Tain};
use fdtools::fdinfo::{Access, Address, Kind, describe};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{AddressFamily, SockType};

use crate::common::{Daemon, Rules, code_and_err, run_tool};

/// The uid and gid the tests give files: `nobody` and `nogroup` on Debian.
const NOBODY: u32 = 65534;

/// Runs the tool with these arguments, no environment but PATH, and no fds.
pub(crate) fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let args: Vec<OsString> = args.iter().map(|a| a.as_ref().to_os_string()).collect();
    run_tool(args, &[], Vec::new())
}

/// Writes a config file into the daemon's directory.
pub(crate) fn write_config(d: &Daemon, name: &str, text: &str) -> PathBuf {
    let path = d.path(name);
    fs::write(&path, text).unwrap();
    path
}

/// A loopback port free right now (tests run in parallel: the race is accepted).
pub(crate) fn free_port(ip: IpAddr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the daemon holds, by id, read back with the library's getdump.
pub(crate) fn held(d: &Daemon) -> BTreeMap<String, HeldFd> {
    let mut c = Client::connect(&d.socket, Deadline::NEVER).unwrap();
    c.getdump()
        .unwrap()
        .into_iter()
        .map(|h| (String::from_utf8(h.id.clone()).unwrap(), h))
        .collect()
}

/// Every path under `dir`, sorted: to prove a run left nothing behind.
pub(crate) fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.symlink_metadata().unwrap().is_dir() {
            out.extend(tree(&p));
        }
        out.push(p);
    }
    out.sort();
    out
}

/// The permission bits, owner and group of a path, not following a symlink.
fn perms(path: &Path) -> (u32, u32, u32) {
    let m = path.symlink_metadata().unwrap();
    (m.permissions().mode() & 0o7777, m.uid(), m.gid())
}

fn flags(h: &HeldFd) -> OFlag {
    OFlag::from_bits_truncate(fcntl(h.fd.as_fd(), FcntlArg::F_GETFL).unwrap())
}

/// Checks that a held fd is what a `--check` line says: its kind and address.
fn assert_is(h: &HeldFd, kind: &str, address: &str) {
    let info = describe(h.fd.as_fd()).unwrap().kind;
    let socket = |family, ty, listening| match &info {
        Kind::Socket(s) => {
            assert_eq!(
                (s.family, s.kind, s.listening, s.address.to_string()),
                (Some(family), ty, listening, address.to_string()),
                "{kind} {address}"
            );
        }
        k => panic!("{kind} {address}: {k:?}"),
    };
    let ip = || {
        if address.starts_with('[') {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        }
    };
    match kind {
        "unix-stream" => socket(AddressFamily::Unix, SockType::Stream, true),
        "unix-dgram" => socket(AddressFamily::Unix, SockType::Datagram, false),
        "unix-seqpacket" => socket(AddressFamily::Unix, SockType::SeqPacket, true),
        "tcp" => socket(ip(), SockType::Stream, true),
        "udp" => socket(ip(), SockType::Datagram, false),
        "fifo" => {
            assert_eq!(info, Kind::Fifo(address.into(), Access::ReadWrite));
            assert!(flags(h).contains(OFlag::O_NONBLOCK));
        }
        "file" => assert!(matches!(&info, Kind::File(p, _) if p == Path::new(address))),
        "pipe-read" => assert_eq!(info, Kind::Pipe(Access::Read)),
        "pipe-write" => assert_eq!(info, Kind::Pipe(Access::Write)),
        _ => panic!("unknown kind {kind}"),
    }
}

/// The lines `--check` prints against a daemon that holds nothing: `+`, then id, kind,
/// address, UTC expiry, TAI64N label.
fn check_lines(config: &Path, socket: &Path) -> Vec<[String; 5]> {
    let out = run(&[&"--check", &"-c", &config, &socket]);
    assert_eq!(code_and_err(&out), (0, String::new()));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<String> = l.split('\t').map(str::to_owned).collect();
            assert_eq!(f[0], "+", "{l}");
            f[1..].to_vec().try_into().unwrap()
        })
        .collect()
}

/// Applies `config` to `d`, checks every fd the daemon holds against `--check`'s plan,
/// and returns what it holds.
fn apply_and_inspect(d: &Daemon, config: &Path) -> BTreeMap<String, HeldFd> {
    let plan = check_lines(config, &d.socket);
    let out = run(&[&"-c", &config, &d.socket]);
    assert_eq!(
        code_and_err(&out),
        (0, String::new()),
        "{}",
        config.display()
    );
    let held = held(d);
    let ids: Vec<&String> = plan.iter().map(|l| &l[0]).collect();
    assert_eq!(held.keys().collect::<Vec<_>>().len(), plan.len());
    for [id, kind, address, _, label] in &plan {
        let h = held
            .get(id)
            .unwrap_or_else(|| panic!("{id} not held; {ids:?}"));
        assert_is(h, kind, address);
        let planned = Tain::parse_label(label.as_bytes()).unwrap();
        let apart = h.limit.secs().abs_diff(planned.secs());
        assert!(apart <= 5, "{id}: held {} planned {planned}", h.limit);
    }
    held
}

#[test]
fn every_kind_is_what_the_file_asks_for() {
    let d = Daemon::start();
    let root = d.dir.path().display().to_string();
    let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let (p1, p2, p3) = (free_port(lo4), free_port(lo6), free_port(lo4));
    let tomorrow = SystemTime::now() + Duration::from_secs(86400);
    let expires = humantime::format_rfc3339_seconds(tomorrow);
    let abs = format!("fdh-config-test-{}", std::process::id());
    let text = format!(
        r#"
[defaults]
lifetime = "10min"
mode = "0640"

[[fd]]
kind = "unix"
path = "{root}/a/b/web.sock"
mode = "0660"
owner = "nobody"
group = "nogroup"
directory-mode = "0750"
backlog = 5

[[fd]]
kind = "unix"
socket = "dgram"
path = "{root}/dgram.sock"

[[fd]]
kind = "unix"
socket = "seqpacket"
path = "@{abs}"
id = "seq"

[[fd]]
kind = "tcp"
listen = "127.0.0.1:{p1}"
reuse-port = true
expires = "{expires}"

[[fd]]
kind = "tcp"
listen = "[::1]:{p2}"
ipv6-only = true

[[fd]]
kind = "udp"
listen = "127.0.0.1:{p3}"
lifetime = "infinite"

[[fd]]
kind = "fifo"
path = "{root}/fifo"
owner = {NOBODY}

[[fd]]
kind = "file"
path = "{root}/logs/out.log"
open = "append"
create = true
mode = "0600"
group = "nogroup"

[[fd]]
kind = "pipe"
read-id = "pipe:s6rc-r-x"
write-id = "pipe:s6rc-w-x"
buffer-size = 131072
"#
    );
    let config = write_config(&d, "all.toml", &text);
    let before = Tain::now();
    let held = apply_and_inspect(&d, &config);
    let after = Tain::now();
    let ids: Vec<&str> = held.keys().map(String::as_str).collect();
    let want = [
        format!("fifo:{root}/fifo"),
        format!("file:{root}/logs/out.log"),
        "pipe:s6rc-r-x".into(),
        "pipe:s6rc-w-x".into(),
        "seq".into(),
        format!("tcp:127.0.0.1:{p1}"),
        format!("tcp:[::1]:{p2}"),
        format!("udp:127.0.0.1:{p3}"),
        format!("unix:{root}/a/b/web.sock"),
        format!("unix:{root}/dgram.sock"),
    ];
    assert_eq!(ids, want);
    let get = |id: &str| &held[id];
    let sock = |id: &str| match describe(get(id).fd.as_fd()).unwrap().kind {
        Kind::Socket(s) => s,
        k => panic!("{id}: {k:?}"),
    };

    // Sockets: type, listening and address are checked by apply_and_inspect; options here.
    assert_eq!(
        sock(&want[8]).address,
        Address::Path(d.path("a/b/web.sock"))
    );
    assert!(sock(&want[5]).reuse_port);
    assert_eq!(sock(&want[6]).v6only, Some(true));
    assert_eq!(sock("seq").address, Address::Abstract(abs.into_bytes()));

    // On disk: modes by the umask, owners and groups, created directories.
    assert_eq!(perms(&d.path("a/b/web.sock")), (0o660, NOBODY, NOBODY));
    assert_eq!(perms(&d.path("a")).0, 0o750);
    assert_eq!(perms(&d.path("a/b")).0, 0o750);
    assert_eq!(perms(&d.path("dgram.sock")), (0o640, 0, 0));
    assert!(
        d.path("fifo")
            .symlink_metadata()
            .unwrap()
            .file_type()
            .is_fifo()
    );
    // An owner without a group: the owner's primary group (nobody's is nogroup).
    assert_eq!(perms(&d.path("fifo")), (0o640, NOBODY, NOBODY));
    assert_eq!(perms(&d.path("logs/out.log")), (0o600, 0, NOBODY));
    assert_eq!(
        perms(&d.path("logs")).0,
        0o755,
        "the default directory mode"
    );

    // The file is opened for appending; the pipe's two ends are one pipe, of the size asked.
    assert_eq!(
        flags(get(&want[1])) & (OFlag::O_ACCMODE | OFlag::O_APPEND),
        OFlag::O_WRONLY | OFlag::O_APPEND
    );
    let r = get("pipe:s6rc-r-x");
    let w = get("pipe:s6rc-w-x");
    nix::unistd::write(w.fd.as_fd(), b"through").unwrap();
    let mut buf = [0u8; 7];
    nix::unistd::read(r.fd.as_fd(), &mut buf).unwrap();
    assert_eq!(&buf, b"through");
    assert!(fcntl(r.fd.as_fd(), FcntlArg::F_GETPIPE_SZ).unwrap() >= 131072);

    // Limits, to the second: a lifetime from the run's start, an instant, and no limit.
    let ten_min = Duration::from_secs(600);
    let limit = get(&want[8]).limit;
    assert!((before + ten_min).secs() <= limit.secs() && limit.secs() <= (after + ten_min).secs());
    assert_eq!(
        get(&want[5]).limit.secs(),
        Tain::from_system_time(tomorrow).secs()
    );
    let never = Tain::no_limit_from(before).secs();
    assert!(get(&want[7]).limit.secs() >= never);
    assert!(
        get("pipe:s6rc-r-x").limit.secs() < never,
        "pipes take the default lifetime"
    );
}

#[test]
fn every_example_applies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut names: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 2, "{names:?}");
    for example in names {
        let d = Daemon::start();
        let text = localize(&fs::read_to_string(&example).unwrap(), d.dir.path());
        let name = example.file_name().unwrap().to_str().unwrap();
        let config = write_config(&d, name, &text);
        let held = apply_and_inspect(&d, &config);
        assert!(!held.is_empty(), "{name}");
    }
}

/// An example rewritten to run in a test: paths under `/run/` moved into `root`, listen
/// addresses moved to the loopback on free ports, abstract names made unique.
pub fn localize(text: &str, root: &Path) -> String {
    let text = text
        .replace("\"/run/", &format!("\"{}/run/", root.display()))
        .replace("\"@", &format!("\"@{}-", std::process::id()));
    text.lines()
        .map(|line| {
            let Some(rest) = line.trim_start().strip_prefix("listen = \"") else {
                return line.to_string();
            };
            let addr: SocketAddr = rest[..rest.find('"').unwrap()].parse().unwrap();
            let ip = match addr {
                SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
            format!("listen = \"{}\"", SocketAddr::new(ip, free_port(ip)))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A config with an fd of every kind that creates something on disk, in new directories,
/// followed by `last`.
fn creating_config(root: &str, last: &str) -> String {
    format!(
        r#"
[[fd]]
kind = "unix"
path = "{root}/new/deep/s.sock"
[[fd]]
kind = "fifo"
path = "{root}/new2/f"
[[fd]]
kind = "file"
path = "{root}/new3/x/f"
open = "write"
create = true
[[fd]]
kind = "pipe"
read-id = "r"
write-id = "w"
{last}
"#
    )
}

/// An owner and a group in `[defaults]` are looked up once a run, not once an entry: the
/// user and group databases are each read once for 40 sockets, and every socket gets them.
#[test]
fn owners_are_looked_up_once_a_run() {
    let d = Daemon::start();
    let root = d.dir.path().display().to_string();
    let mut text = "[defaults]\nowner = \"nobody\"\ngroup = \"nogroup\"\n".to_string();
    for i in 0..40 {
        text += &format!("[[fd]]\nkind = \"unix\"\npath = \"{root}/own/{i}.sock\"\n");
    }
    let config = d.path("owners.toml");
    fs::write(&config, text).unwrap();
    let log = d.path("trace");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=openat", "-o"])
        .arg(&log)
        .arg(crate::common::BIN)
        .arg("-c")
        .arg(&config)
        .arg(&d.socket)
        .output()
        .expect("strace (test.sh installs it)");
    assert_eq!(code_and_err(&out), (0, String::new()));
    let trace = fs::read_to_string(&log).unwrap();
    let opens = |file: &str| trace.lines().filter(|l| l.contains(file)).count();
    assert_eq!(
        (opens("/etc/passwd"), opens("/etc/group")),
        (1, 1),
        "{trace}"
    );
    assert_eq!(d.list().len(), 40);
    for i in 0..40 {
        let (_, uid, gid) = perms(&d.path(&format!("own/{i}.sock")));
        assert_eq!((uid, gid), (NOBODY, NOBODY), "own/{i}.sock");
    }
}

#[test]
fn a_taken_port_rolls_everything_back() {
    let d = Daemon::start();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let root = d.dir.path().display().to_string();
    let last = format!("[[fd]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:{port}\"");
    let config = write_config(&d, "c.toml", &creating_config(&root, &last));
    let before = tree(d.dir.path());
    let got = code_and_err(&run(&[&"-c", &config, &d.socket]));
    crate::common::assert_fatal(
        &got,
        111,
        &format!("{}:17:1: fd[4] (tcp:127.0.0.1:{port}): ", config.display()),
        &format!("unable to bind to 127.0.0.1:{port}: Address already in use"),
    );
    assert_eq!(tree(d.dir.path()), before, "nothing left on disk");
    assert!(d.list().is_empty(), "nothing held");
}

#[test]
fn a_refused_setdump_rolls_everything_back() {
    let d = Daemon::with(
        Rules {
            setdump: false,
            ..Rules::default()
        },
        1000,
    );
    let root = d.dir.path().display().to_string();
    let config = write_config(&d, "c.toml", &creating_config(&root, ""));
    let before = tree(d.dir.path());
    let got = code_and_err(&run(&[&"-c", &config, &d.socket]));
    crate::common::assert_fatal(&got, 1, "unable to set dump: ", "S6_FDHOLDER_SETDUMP");
    assert_eq!(tree(d.dir.path()), before, "nothing left on disk");
}

#[test]
fn an_unreachable_daemon_creates_nothing() {
    let d = Daemon::start();
    let root = d.dir.path().display().to_string();
    let config = write_config(&d, "c.toml", &creating_config(&root, ""));
    let before = tree(d.dir.path());
    let got = code_and_err(&run(&[&"-c", &config, &d.path("nobody-here")]));
    crate::common::assert_fatal(&got, 111, "unable to connect to a fd-holder daemon", "");
    assert_eq!(tree(d.dir.path()), before);
}

/// The getdump is sent before the file is read, but a bad file is still told first (exit
/// 100), whether the daemon answers, is not there, or is there and holds what it held.
#[test]
fn a_bad_file_is_told_first_whatever_the_daemon() {
    let d = Daemon::start();
    let bad = write_config(
        &d,
        "bad.toml",
        "[[fd]]\nkind = \"unix\"\npath = \"relative\"\n",
    );
    for socket in [d.socket.clone(), d.path("nobody-here")] {
        let got = code_and_err(&run(&[&"-c", &bad, &socket]));
        crate::common::assert_fatal(
            &got,
            100,
            &format!("{}:3:8: fd[0] (unix:relative): ", bad.display()),
            "is not absolute",
        );
    }
    assert!(d.list().is_empty(), "nothing set for a bad file");
    // The same file made good is then applied on the daemon asked early.
    let path = d.path("good.sock");
    let good = write_config(
        &d,
        "good.toml",
        &format!("[[fd]]\nkind = \"unix\"\npath = \"{}\"\n", path.display()),
    );
    let (code, err) = code_and_err(&run(&[&"-c", &good, &d.socket]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(d.list(), vec![format!("unix:{}", path.display())]);
}

/// Runs a one-entry config and expects it to fail with exit 111 saying `says`.
fn fails_for(d: &Daemon, entry: &str, says: &str) {
    let config = write_config(d, "one.toml", &format!("[[fd]]\n{entry}\n"));
    let got = code_and_err(&run(&[&"-c", &config, &d.socket]));
    crate::common::assert_fatal(
        &got,
        111,
        &format!("{}:1:1: fd[0] ", config.display()),
        says,
    );
    assert!(d.list().is_empty());
}

/// A failure to open names the entry where the file has it, line and column, though the
/// run keeps only where each entry starts, not the file's text.
#[test]
fn a_failure_to_open_names_the_entry_where_it_is() {
    let d = Daemon::start();
    let live = d.path("live.sock");
    let _listener = UnixListener::bind(&live).unwrap();
    let free = d.path("free.sock");
    let config = write_config(
        &d,
        "two.toml",
        &format!(
            "# é\n[[fd]]\nkind = \"unix\"\npath = \"{}\"\n\n  [[fd]] # the live one\nkind = \"unix\"\npath = \"{}\"\n",
            free.display(),
            live.display()
        ),
    );
    let got = code_and_err(&run(&[&"-c", &config, &d.socket]));
    crate::common::assert_fatal(
        &got,
        111,
        &format!("{}:6:3: fd[1] ", config.display()),
        "is a live socket (a socket is bound to it): it is left alone",
    );
    assert!(d.list().is_empty());
    assert!(!free.exists(), "the first entry's socket is removed");
}

#[test]
fn live_sockets_and_other_files_are_left_alone() {
    let d = Daemon::start();
    let live = d.path("live.sock");
    let listener = UnixListener::bind(&live).unwrap();
    let ino = live.symlink_metadata().unwrap().ino();
    fails_for(
        &d,
        &format!("kind = \"unix\"\npath = \"{}\"", live.display()),
        "is a live socket (a socket is bound to it): it is left alone",
    );
    assert_eq!(live.symlink_metadata().unwrap().ino(), ino);
    listener.set_nonblocking(true).unwrap();
    while listener.accept().is_ok() {} // the probe's connection
    let _c = UnixStream::connect(&live).unwrap();
    assert!(listener.accept().is_ok(), "the live socket still works");

    let regular = d.path("regular.sock");
    fs::write(&regular, "keep me").unwrap();
    fails_for(
        &d,
        &format!("kind = \"unix\"\npath = \"{}\"", regular.display()),
        "exists and is a regular file, not a socket: it is left alone",
    );
    assert_eq!(fs::read_to_string(&regular).unwrap(), "keep me");

    // A symlink as the last component is never followed: not for bind, not for the FIFO,
    // not for the file.
    let target = d.path("target");
    let link = d.path("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for entry in [
        format!("kind = \"unix\"\npath = \"{}\"", link.display()),
        format!("kind = \"fifo\"\npath = \"{}\"", link.display()),
        format!(
            "kind = \"file\"\npath = \"{}\"\nopen = \"write\"\ncreate = true",
            link.display()
        ),
    ] {
        let says = if entry.contains("file") {
            "(a symlink is not followed)"
        } else {
            "exists and is a symlink"
        };
        fails_for(&d, &entry, says);
        assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
        assert!(!target.exists(), "{entry}");
    }

    fails_for(
        &d,
        &format!("kind = \"fifo\"\npath = \"{}\"", regular.display()),
        "exists and is a regular file, not a FIFO",
    );
    assert_eq!(fs::read_to_string(&regular).unwrap(), "keep me");
}

#[test]
fn a_stale_socket_is_replaced() {
    let d = Daemon::start();
    let path = d.path("stale.sock");
    drop(UnixListener::bind(&path).unwrap());
    let refused = UnixStream::connect(&path).unwrap_err();
    assert_eq!(
        refused.raw_os_error(),
        Some(nix::libc::ECONNREFUSED),
        "stale"
    );
    let config = write_config(
        &d,
        "c.toml",
        &format!("[[fd]]\nkind = \"unix\"\npath = \"{}\"\n", path.display()),
    );
    let out = run(&[&"-c", &config, &d.socket]);
    assert_eq!(code_and_err(&out), (0, String::new()));
    let held = held(&d);
    assert_is(
        &held[&format!("unix:{}", path.display())],
        "unix-stream",
        &path.display().to_string(),
    );
    assert!(
        UnixStream::connect(&path).is_ok(),
        "the held socket listens there"
    );
}

#[test]
fn check_opens_creates_and_sends_nothing() {
    let d = Daemon::start();
    let root = d.dir.path().display().to_string();
    let port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let last = format!("[[fd]]\nkind = \"tcp\"\nlisten = \"127.0.0.1:{port}\"");
    let text = format!(
        "fdholder = \"{root}/no-daemon\"\n{}",
        creating_config(&root, &last)
    );
    let config = write_config(&d, "c.toml", &text);
    let before = tree(d.dir.path());
    // The file's fdholder is asked, and is not there.
    let got = code_and_err(&run(&[&"--check", &"-c", &config]));
    crate::common::assert_fatal(&got, 111, "unable to connect to a fd-holder daemon", "");
    // Without any socket, the plan alone; with one, the plan against it: all new.
    let plain = config.with_file_name("plain.toml");
    fs::write(&plain, text.lines().skip(2).collect::<Vec<_>>().join("\n")).unwrap();
    for args in [
        vec![&"--check" as &dyn AsRef<std::ffi::OsStr>, &"-c", &plain],
        vec![&"--check", &"-c", &config, &d.socket],
    ] {
        let out = run(&args);
        assert_eq!(code_and_err(&out), (0, String::new()));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let ids: Vec<&str> = stdout
            .lines()
            .map(|l| l.trim_start_matches("+\t").split('\t').next().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                format!("unix:{root}/new/deep/s.sock"),
                format!("fifo:{root}/new2/f"),
                format!("file:{root}/new3/x/f"),
                "r".into(),
                "w".into(),
                format!("tcp:127.0.0.1:{port}"),
            ]
        );
    }
    fs::remove_file(&plain).unwrap();
    assert_eq!(tree(d.dir.path()), before, "nothing created");
    assert!(d.list().is_empty(), "nothing sent");
    TcpListener::bind(("127.0.0.1", port)).expect("the port was never bound");
}

#[test]
fn the_command_line_socket_wins_over_the_file() {
    let d = Daemon::start();
    let entry = "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n";
    let from_file = write_config(
        &d,
        "a.toml",
        &format!("fdholder = \"{}\"\n{entry}", d.socket.display()),
    );
    assert_eq!(code_and_err(&run(&[&"-c", &from_file])), (0, String::new()));
    assert_eq!(d.list(), ["r", "w"]);

    let elsewhere = write_config(
        &d,
        "b.toml",
        &format!("fdholder = \"/nonexistent/s\"\n{entry}"),
    );
    let with_r2 = elsewhere.with_file_name("c.toml");
    fs::write(
        &with_r2,
        fs::read_to_string(&elsewhere)
            .unwrap()
            .replace("\"r\"", "\"r2\"")
            .replace("\"w\"", "\"w2\""),
    )
    .unwrap();
    assert_eq!(
        code_and_err(&run(&[&"-c", &with_r2, &d.socket])),
        (0, String::new())
    );
    assert_eq!(d.list(), ["r", "r2", "w", "w2"]);

    let neither = write_config(&d, "d.toml", entry);
    let (code, err) = code_and_err(&run(&[&"-c", &neither]));
    assert_eq!(code, 100, "{err}");
    assert!(err.starts_with("s6-fdholder-setdump: usage: "), "{err}");
    assert!(err.contains("no socket"), "{err}");
}

#[test]
fn verbose_reports_each_fd_opened() {
    let d = Daemon::start();
    let config = write_config(
        &d,
        "c.toml",
        "[[fd]]\nkind = \"pipe\"\nread-id = \"r\"\nwrite-id = \"w\"\n",
    );
    let out = run(&[&"-v", &"-c", &config, &d.socket]);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        "s6-fdholder-setdump: info: opened r (pipe-read -)\n\
         s6-fdholder-setdump: info: opened w (pipe-write -)\n\
         s6-fdholder-setdump: info: set 2 fds (2 new, 0 changed), deleted 0, \
         0 held as declared\n"
    );
}

/// Every `tests/fixtures/invalid/NAME.toml` fails with exit 100 and exactly the message in
/// `NAME.err`, before any connection (the socket given does not exist).
#[test]
fn every_invalid_fixture_gives_its_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut seen = 0;
    let mut entries: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for toml in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
    {
        let name = toml.file_name().unwrap();
        let want = fs::read_to_string(toml.with_extension("err"))
            .unwrap_or_else(|_| panic!("{} has no .err file", toml.display()));
        // (The checkout may belong to another user than the one running the tests.)
        let out = Command::new(crate::common::BIN)
            .current_dir(&dir)
            .arg("--allow-insecure-config")
            .arg("-c")
            .arg(name)
            .arg("/nonexistent/socket")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let (code, err) = code_and_err(&out);
        assert_eq!(
            (code, err.as_str()),
            (100, want.as_str()),
            "{}",
            toml.display()
        );
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} fixtures");
    let errs = entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "err"));
    assert_eq!(errs.count(), seen, "an .err file without its .toml");
}

#[test]
fn a_missing_config_file_is_a_system_failure() {
    let got = code_and_err(&run(&[&"-c", &"/nonexistent/c.toml", &"/s"]));
    crate::common::assert_fatal(
        &got,
        111,
        "unable to read /nonexistent/c.toml: ",
        "No such file",
    );
}

/// The man page documents every key the parser accepts, and every kind, each in its own
/// tagged paragraph.
#[test]
fn the_man_page_documents_every_key() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../man/s6-fdholder-setdump.toml.5");
    let text = fs::read_to_string(&page).unwrap().replace("\\-", "-");
    assert!(text.starts_with(".TH "));
    let (top, entry) = fdtools::config::load::parse::keys();
    let kinds = ["unix", "tcp", "udp", "fifo", "file", "pipe"];
    for key in top.iter().chain(entry).chain(&kinds) {
        assert!(
            text.contains(&format!("\n.TP\n.B {key}\n")),
            "{key} is not documented"
        );
    }
}
