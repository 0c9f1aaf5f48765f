//! `s6-fdholder-activate` against real daemons and real consumers: a probe that reports
//! everything a started program sees, dbus-daemon on its `systemd:` address, a server on
//! python3-systemd, and services under a real s6-svscan whose clients wait in the backlog
//! of the socket the daemon holds.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fdholder::{Client, Deadline, Tain};
use serde_json::Value;

use crate::common::{Daemon, Rules, code_and_err};

/// The tool under test.
const ACTIVATE: &str = env!("CARGO_BIN_EXE_s6-fdholder-activate");
/// Debian's python3 (python3-systemd is installed for it, not for any other python3).
const PYTHON: &str = "/usr/bin/python3";
/// How long a test waits for an answer before it fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/activate")
        .join(name)
}

/// Binds a listening unix socket at `path` and hands it to the daemon under `unix:PATH`;
/// the test keeps no copy, so that only the daemon holds it.
fn hold_unix(d: &Daemon, path: &Path) -> String {
    let id = format!("unix:{}", path.display());
    hold(d, UnixListener::bind(path).expect("bind"), &id);
    id
}

fn hold(d: &Daemon, fd: impl AsFd, id: &str) {
    let mut c = Client::connect(&d.socket, Deadline::from_millis(5000)).expect("connect");
    c.store(fd, id.as_bytes(), Tain::now() + Duration::from_secs(3600))
        .expect("store");
}

fn activate(args: &[&str]) -> Output {
    Command::new(ACTIVATE)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run s6-fdholder-activate")
}

/// Runs the probe through the tool with `args` before `--`; its report.
fn probe(args: &[&str]) -> Value {
    let probe = script("probe.py");
    let mut all = args.to_vec();
    all.extend(["--", PYTHON, probe.to_str().unwrap()]);
    let out = activate(&all);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).expect("the probe's JSON")
}

/// The probe's fds from 3 on, as (fd, address, cloexec, nonblock, listening).
fn passed(report: &Value) -> Vec<(i64, String, bool, bool, bool)> {
    report["fds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fd"].as_i64().unwrap() >= 3)
        .map(|f| {
            (
                f["fd"].as_i64().unwrap(),
                f["address"].as_str().unwrap_or("not a socket").to_string(),
                f["cloexec"].as_bool().unwrap(),
                f["nonblock"].as_bool().unwrap(),
                f["listening"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn fd_numbers(report: &Value) -> Vec<i64> {
    report["fds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fd"].as_i64().unwrap())
        .collect()
}

#[test]
fn activate_the_probe_sees_its_fds_in_order_and_nothing_else() {
    let d = Daemon::start();
    let a = d.path("a.sock");
    let b = d.path("b.sock");
    let id_a = hold_unix(&d, &a);
    let id_b = hold_unix(&d, &b);
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_addr = tcp.local_addr().unwrap().to_string();
    let id_tcp = format!("tcp:{tcp_addr}");
    hold(&d, &tcp, &id_tcp);
    drop(tcp);
    // The order given, not the order stored.
    let report = probe(&[
        "-n",
        "web:admin:api",
        d.socket.to_str().unwrap(),
        &id_b,
        &id_tcp,
        &id_a,
    ]);
    let pid = report["pid"].as_i64().unwrap().to_string();
    assert_eq!(report["env"]["LISTEN_PID"], Value::from(pid));
    assert_eq!(report["env"]["LISTEN_FDS"], "3");
    assert_eq!(report["env"]["LISTEN_FDNAMES"], "web:admin:api");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    assert_eq!(
        passed(&report),
        [
            (3, s(&b), false, false, true),
            (4, tcp_addr, false, false, true),
            (5, s(&a), false, false, true),
        ]
    );
    // Nothing else: not the connection to the daemon, not any fd of the tool's.
    assert_eq!(fd_numbers(&report), [0, 1, 2, 3, 4, 5]);
    // Without -D the daemon still holds them all.
    assert_eq!(d.list().len(), 3);
}

#[test]
fn activate_fds_it_inherited_are_not_passed_on_but_for_dash_k() {
    use command_fds::{CommandFdExt, FdMapping};
    let d = Daemon::start();
    let id = hold_unix(&d, &d.path("a.sock"));
    let run = |keep: &[&str]| {
        let mut c = Command::new(ACTIVATE);
        c.args(keep)
            .args([d.socket.to_str().unwrap(), &id, "--", PYTHON])
            .arg(script("probe.py"));
        let fds = crate::common::fresh_fds(2);
        let mappings = fds
            .into_iter()
            .zip([8, 9])
            .map(|(parent_fd, child_fd)| FdMapping {
                parent_fd,
                child_fd,
            })
            .collect();
        c.fd_mappings(mappings).unwrap();
        let out = c.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        fd_numbers(&serde_json::from_slice(&out.stdout).unwrap())
    };
    assert_eq!(run(&[]), [0, 1, 2, 3]);
    assert_eq!(run(&["-k", "9"]), [0, 1, 2, 3, 9]);
    // A kept fd cannot be one of the numbers the passed fds take.
    let out = activate(&["-k", "3", d.socket.to_str().unwrap(), &id, "--", "true"]);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 100, "{err}");
    assert!(err.contains("-k 3: the 1 passed fds take 3 to 3"), "{err}");
}

#[test]
fn activate_prog_gets_sigpipe_back_to_its_default() {
    let d = Daemon::start();
    let id = hold_unix(&d, &d.path("a.sock"));
    // (Not the probe: python3 ignores SIGPIPE itself.)
    let out = activate(&[
        d.socket.to_str().unwrap(),
        &id,
        "--",
        "grep",
        "^SigIgn:",
        "/proc/self/status",
    ]);
    let line = String::from_utf8(out.stdout).unwrap();
    let mask = u64::from_str_radix(line.trim().trim_start_matches("SigIgn:").trim(), 16).unwrap();
    assert_eq!(mask & (1 << 12), 0, "SIGPIPE ignored: {line}");
}

#[test]
fn activate_default_names_come_from_the_ids_and_one_name_names_all() {
    let d = Daemon::start();
    let id_a = hold_unix(&d, &d.path("a.sock"));
    let id_b = hold_unix(&d, &d.path("b.sock"));
    let socket = d.socket.to_str().unwrap();
    let report = probe(&[socket, &id_a, &id_b]);
    let want = format!(
        "{}:{}",
        fdtools::fdname::from_id(id_a.as_bytes()),
        fdtools::fdname::from_id(id_b.as_bytes())
    );
    assert_eq!(report["env"]["LISTEN_FDNAMES"], Value::from(want.clone()));
    assert!(want.starts_with("unix_/"), "{want}");
    let report = probe(&["-n", "bus", socket, &id_a, &id_b]);
    assert_eq!(report["env"]["LISTEN_FDNAMES"], "bus:bus");
}

#[test]
fn activate_inherited_listen_variables_are_replaced() {
    let d = Daemon::start();
    let id = hold_unix(&d, &d.path("a.sock"));
    let probe_py = script("probe.py");
    let out = Command::new(ACTIVATE)
        .args([d.socket.to_str().unwrap(), &id, "--", PYTHON])
        .arg(&probe_py)
        .env("LISTEN_FDS", "7")
        .env("LISTEN_PID", "1")
        .env("LISTEN_FDNAMES", "stale")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["env"]["LISTEN_FDS"], "1");
    assert_eq!(
        report["env"]["LISTEN_FDNAMES"],
        "unix_".to_string() + &id[5..]
    );
    assert_ne!(report["env"]["LISTEN_PID"], "1");
}

#[test]
fn activate_dash_n_capital_sets_nonblocking_and_its_absence_clears_it() {
    let d = Daemon::start();
    let path = d.path("a.sock");
    let l = UnixListener::bind(&path).unwrap();
    l.set_nonblocking(true).unwrap();
    let id = format!("unix:{}", path.display());
    hold(&d, &l, &id);
    drop(l);
    let socket = d.socket.to_str().unwrap();
    // Held non-blocking (say, by an earlier -N run): passed blocking without -N.
    assert!(!passed(&probe(&[socket, &id]))[0].3);
    assert!(passed(&probe(&["-N", socket, &id]))[0].3);
}

#[test]
fn activate_dash_d_deletes_what_it_retrieves() {
    let d = Daemon::start();
    let id_a = hold_unix(&d, &d.path("a.sock"));
    let id_b = hold_unix(&d, &d.path("b.sock"));
    let report = probe(&["-D", d.socket.to_str().unwrap(), &id_a]);
    assert_eq!(report["env"]["LISTEN_FDS"], "1");
    assert_eq!(d.list(), [id_b]);
}

/// Runs the tool with a program that would leave a mark; checks it left none.
fn fails_without_exec(args: &[&str], mark: &Path) -> (i32, String) {
    let mut all = args.to_vec();
    all.extend(["--", "touch", mark.to_str().unwrap()]);
    let got = code_and_err(&activate(&all));
    assert!(!mark.exists(), "{args:?} executed the program: {got:?}");
    assert_eq!(got.1.lines().count(), 1, "{got:?}");
    assert!(got.1.starts_with("s6-fdholder-activate: "), "{got:?}");
    got
}

#[test]
fn activate_failures_name_the_id_and_execute_nothing() {
    let d = Daemon::with(
        Rules {
            retrieve_regex: Some("^unix:".into()),
            ..Rules::default()
        },
        100,
    );
    let mark = d.path("executed");
    let socket = d.socket.to_str().unwrap();
    let id = hold_unix(&d, &d.path("a.sock"));
    // The program runs when all is well: the mark can appear.
    let ok = activate(&[socket, &id, "--", "touch", mark.to_str().unwrap()]);
    assert!(ok.status.success() && mark.exists(), "{ok:?}");
    fs::remove_file(&mark).unwrap();
    // Not held, after one that is: nothing runs, and the fd retrieved first is not passed.
    let (code, err) = fails_without_exec(&[socket, &id, "unix:/nope"], &mark);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("unable to retrieve fd for id unix:/nope: No such file or directory (the daemon holds no fd"),
        "{err}"
    );
    // Held, but the rules deny its retrieval.
    hold(
        &d,
        UnixListener::bind(d.path("t.sock")).unwrap(),
        "tcp:denied",
    );
    let (code, err) = fails_without_exec(&[socket, &id, "tcp:denied"], &mark);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("for id tcp:denied: Operation not permitted (the daemon's rules"),
        "{err}"
    );
    // No daemon there.
    let gone = d.path("nothing-here").to_str().unwrap().to_string();
    let (code, err) = fails_without_exec(&[&gone, &id], &mark);
    assert_eq!(code, 111, "{err}");
    assert!(err.contains("unable to connect"), "{err}");
    // A bad command line.
    let (code, err) = fails_without_exec(&["-n", "a:b", socket, &id], &mark);
    assert_eq!(code, 100, "{err}");
    assert!(err.starts_with("s6-fdholder-activate: usage: "), "{err}");
    // A program that cannot be executed.
    let out = activate(&[socket, &id, "--", "/nonexistent/prog"]);
    let (code, err) = code_and_err(&out);
    assert_eq!(code, 111, "{err}");
    assert!(err.contains("unable to exec /nonexistent/prog"), "{err}");
    // Without -D, failures take nothing away from the daemon.
    assert_eq!(d.list(), ["tcp:denied".to_string(), id.clone()]);
}

#[test]
fn activate_dash_d_deletes_nothing_when_an_id_fails() {
    let d = Daemon::start();
    let mark = d.path("executed");
    let socket = d.socket.to_str().unwrap();
    let id_a = hold_unix(&d, &d.path("a.sock"));
    let id_b = hold_unix(&d, &d.path("b.sock"));
    let (code, _) = fails_without_exec(&["-D", socket, &id_a, "unix:/nope", &id_b], &mark);
    assert_eq!(code, 1);
    // Not even the id retrieved before the failing one: its fd would be lost with it.
    let mut both = vec![id_a, id_b];
    both.sort();
    assert_eq!(d.list(), both);
}

#[test]
fn activate_a_daemon_that_lets_no_one_in_or_a_bad_file_executes_nothing() {
    let d = Daemon::with(
        Rules {
            allow: false,
            ..Rules::default()
        },
        100,
    );
    let mark = d.path("executed");
    let socket = d.socket.to_str().unwrap();
    let (code, err) = fails_without_exec(&[socket, "unix:/a"], &mark);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("for id unix:/a"), "{err}");
    let file = d.path("bad.toml");
    fs::write(
        &file,
        "[[fd]]\nkind = \"unix\"\npath = \"/run/a.sock\"\nname = \"a:b\"\n",
    )
    .unwrap();
    let (code, err) = fails_without_exec(&["-c", file.to_str().unwrap(), "-e", "x", socket], &mark);
    assert_eq!(code, 100, "{err}");
    assert!(
        err.contains("bad.toml:4:8: fd[0] (unix:/run/a.sock): bad `name`"),
        "{err}"
    );
}

/// A config file naming the daemon and three unix sockets, two of them named `web`.
fn web_config(d: &Daemon) -> PathBuf {
    let file = d.path("service.toml");
    fs::write(
        &file,
        format!(
            r#"fdholder = "{}"
[[fd]]
kind = "unix"
path = "{}"
name = "web"
[[fd]]
kind = "unix"
path = "{}"
name = "admin"
[[fd]]
kind = "unix"
path = "{}"
name = "web"
"#,
            d.socket.display(),
            d.path("http.sock").display(),
            d.path("admin.sock").display(),
            d.path("https.sock").display(),
        ),
    )
    .unwrap();
    file
}

#[test]
fn activate_takes_ids_and_names_from_the_config_file_that_provisioned_them() {
    let d = Daemon::start();
    let file = web_config(&d);
    // Provisioning: config mode opens and sets the fds the file declares.
    let out = Command::new(crate::common::BIN)
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let f = file.to_str().unwrap();
    let report = probe(&["-c", f, "-e", "web"]);
    assert_eq!(report["env"]["LISTEN_FDNAMES"], "web:web");
    let s = |n: &str| d.path(n).to_str().unwrap().to_string();
    let addrs: Vec<String> = passed(&report).into_iter().map(|p| p.1).collect();
    assert_eq!(addrs, [s("http.sock"), s("https.sock")]);
    // By id too; file order whatever the selectors' order.
    let id = format!("unix:{}", s("https.sock"));
    let report = probe(&["-c", f, "-e", &id, "-e", "admin"]);
    assert_eq!(report["env"]["LISTEN_FDNAMES"], "admin:web");
    assert_eq!(fd_numbers(&report), [0, 1, 2, 3, 4]);
    // A selector that picks nothing: a usage-class error, nothing run.
    let (code, err) = fails_without_exec(&["-c", f, "-e", "web", "-e", "wbe"], &d.path("x"));
    assert_eq!(code, 100, "{err}");
    assert!(err.contains("declares no fd named wbe"), "{err}");
}

/// A child process, killed and reaped however the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn activate_dbus_daemon_serves_on_the_socket_it_was_passed() {
    let d = Daemon::start();
    let bus = d.path("bus");
    let id = hold_unix(&d, &bus);
    let config = script("bus.conf");
    let _bus = Reaped(
        Command::new(ACTIVATE)
            .args([
                d.socket.to_str().unwrap(),
                &id,
                "--",
                "dbus-daemon",
                "--nofork",
            ])
            .arg(format!("--config-file={}", config.display()))
            .args(["--nopidfile", "--nosyslog"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian's dbus-daemon package)"),
    );
    // The socket listens already (the daemon holds it): the call waits in its backlog until
    // the bus accepts it; no need to wait for the bus to start.
    let out = Command::new("dbus-send")
        .arg(format!("--bus=unix:path={}", bus.display()))
        .args([
            "--print-reply",
            "--reply-timeout=20000",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.ListNames",
        ])
        .output()
        .expect("dbus-send (Debian's dbus-bin package)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("string \"org.freedesktop.DBus\""),
        "{stdout}"
    );
}

/// Sends `message` on a new connection to `path`, and returns the answer.
fn ask(path: &Path, message: &str) -> std::io::Result<String> {
    let mut c = UnixStream::connect(path)?;
    c.set_read_timeout(Some(PATIENCE))?;
    c.write_all(message.as_bytes())?;
    let mut answer = String::new();
    c.read_to_string(&mut answer)?;
    Ok(answer)
}

#[test]
fn activate_python_systemd_reads_the_fds_and_their_names() {
    let d = Daemon::start();
    let a = d.path("a.sock");
    let b = d.path("b.sock");
    let id_a = hold_unix(&d, &a);
    let id_b = hold_unix(&d, &b);
    let _server = Reaped(
        Command::new(ACTIVATE)
            .args(["-n", "alpha:beta", d.socket.to_str().unwrap(), &id_a, &id_b])
            .args(["--", PYTHON])
            .arg(script("named_server.py"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let from_a = ask(&a, "one").unwrap();
    let from_b = ask(&b, "two").unwrap();
    assert!(
        from_a.starts_with("alpha ") && from_a.ends_with(" one"),
        "{from_a}"
    );
    assert!(
        from_b.starts_with("beta ") && from_b.ends_with(" two"),
        "{from_b}"
    );
}

/// An s6 scan directory with one service, `svc`, whose run script starts the python3-systemd
/// server through the tool; s6-svscan is stopped, and the service with it, on drop.
struct Scan {
    dir: PathBuf,
    svscan: Option<Child>,
}

impl Scan {
    fn new(d: &Daemon, id: &str) -> Scan {
        let dir = d.path("scan");
        let svc = dir.join("svc");
        fs::create_dir_all(&svc).unwrap();
        let run = svc.join("run");
        fs::write(
            &run,
            format!(
                "#!/bin/sh\nexec 2>&1\nexec {ACTIVATE} -n app {} {id} -- {PYTHON} {}\n",
                d.socket.display(),
                script("named_server.py").display()
            ),
        )
        .unwrap();
        fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).unwrap();
        Scan { dir, svscan: None }
    }

    fn start(&mut self) {
        self.svscan = Some(
            Command::new("s6-svscan")
                .arg(&self.dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("s6-svscan"),
        );
    }

    fn svc(&self, args: &[&str]) -> Output {
        Command::new("s6-svc")
            .args(args)
            .arg(self.dir.join("svc"))
            .output()
            .unwrap()
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        if let Some(mut scan) = self.svscan.take() {
            let _ = self.svc(&["-xd"]);
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(scan.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = scan.wait();
        }
    }
}

#[test]
fn activate_under_s6_a_client_queued_while_the_service_is_down_is_served() {
    let d = Daemon::start();
    let app = d.path("app.sock");
    let id = hold_unix(&d, &app);
    // No service runs, no supervisor either: only the daemon has the socket.
    let mut early = UnixStream::connect(&app).expect("connect while the service is down");
    early.set_read_timeout(Some(PATIENCE)).unwrap();
    early.write_all(b"early").unwrap();
    let mut scan = Scan::new(&d, &id);
    scan.start();
    let mut answer = String::new();
    early.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("app ") && answer.ends_with(" early"),
        "{answer:?}"
    );
}

#[test]
fn activate_under_s6_restarts_refuse_no_connection() {
    let d = Daemon::start();
    let app = d.path("app.sock");
    let id = hold_unix(&d, &app);
    let mut scan = Scan::new(&d, &id);
    scan.start();
    // Served once: the service is up, so s6-supervise is there to take s6-svc's orders.
    let first = ask(&app, "first").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::new()));
    let clients = {
        let (stop, answers, app) = (stop.clone(), answers.clone(), app.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let got = ask(&app, &n.to_string()).map_err(|e| e.to_string());
                answers.lock().unwrap().push((n, got));
                n += 1;
            }
        })
    };
    const RESTARTS: usize = 20;
    let mut pids = vec![first.split(' ').nth(1).unwrap().to_string()];
    for i in 0..RESTARTS {
        // -wr: back once the service has gone down and its run script started again.
        let out = scan.svc(&["-T", "20000", "-wr", "-r"]);
        assert!(out.status.success(), "s6-svc -r: {out:?}");
        // Served by the new instance once it is up: the next restart must not kill it while
        // it starts, which would only test that the backlog waits longer.
        let answer = ask(&app, &format!("restart{i}")).unwrap();
        pids.push(answer.split(' ').nth(1).unwrap().to_string());
    }
    stop.store(true, Ordering::Relaxed);
    clients.join().unwrap();
    let answers = answers.lock().unwrap();
    let failed: Vec<_> = answers.iter().filter(|(_, a)| a.is_err()).collect();
    assert!(failed.is_empty(), "{failed:?} of {}", answers.len());
    for (n, a) in answers.iter() {
        let a = a.as_ref().unwrap();
        assert!(
            a.starts_with("app ") && a.ends_with(&format!(" {n}")),
            "{a}"
        );
    }
    // Every restart gave a new instance, and the clients were served across them.
    let mut distinct = pids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), RESTARTS + 1, "{pids:?}");
    let mut served_by: Vec<&str> = answers
        .iter()
        .filter_map(|(_, a)| a.as_ref().ok()?.split(' ').nth(1))
        .collect();
    served_by.dedup();
    assert!(served_by.len() > RESTARTS / 2, "{served_by:?}");
}
