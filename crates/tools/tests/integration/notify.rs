//! sd_notify through `s6-fdholder-activate -3 notif -s prefix`, under a real s6-svscan and
//! s6-supervise with a `notification-fd` file: python3-systemd's `notify()` and hand-made
//! datagrams as senders, `s6-svwait` and `s6-svc -w` to wait, the daemon's own list to see
//! the store.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use crate::common::Daemon;

const ACTIVATE: &str = env!("CARGO_BIN_EXE_s6-fdholder-activate");
/// Debian's python3, for which python3-systemd is installed.
const PYTHON: &str = "/usr/bin/python3";
/// The store's prefix in every test.
const PREFIX: &str = "fdstore:svc:";

/// A scan directory with one service, `svc`, run through the tool with `-3 3` (and a
/// `notification-fd` of 3) and `-s PREFIX`; s6-svscan and the service are stopped on drop.
struct Service {
    dir: PathBuf,
    report: PathBuf,
    log: PathBuf,
    svscan: Child,
}

impl Service {
    /// Starts the service in `mode` and waits until its first instance says it runs (a
    /// line on a FIFO: then s6-supervise is there for s6-svwait and s6-svc); returns the
    /// line too.
    fn start(d: &Daemon, mode: &str) -> (Service, String) {
        let fifo = d.path("sync");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let extra = fifo.display().to_string();
        let dir = d.path("scan");
        let svc = dir.join("svc");
        fs::create_dir_all(&svc).unwrap();
        let (report, log) = (d.path("report"), d.path("log"));
        let service =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/activate/notify_service.py");
        let run = svc.join("run");
        fs::write(
            &run,
            format!(
                "#!/bin/sh\nexec 2>>{}\nexec {ACTIVATE} -3 3 -s {PREFIX} {} -- {PYTHON} {} {} {mode} {extra}\n",
                log.display(),
                d.socket.display(),
                service.display(),
                report.display(),
            ),
        )
        .unwrap();
        fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(svc.join("notification-fd"), "3\n").unwrap();
        let svscan = Command::new("s6-svscan")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("s6-svscan");
        let s = Service {
            dir,
            report,
            log,
            svscan,
        };
        // Opening blocks until the service opens it for writing.
        let line = fs::read_to_string(&fifo).unwrap();
        (s, line)
    }

    fn svc_dir(&self) -> PathBuf {
        self.dir.join("svc")
    }

    /// `s6-svwait` on the service, with a timeout in milliseconds.
    fn svwait(&self, flag: &str, ms: u32) -> Output {
        Command::new("s6-svwait")
            .args([flag, "-t", &ms.to_string()])
            .arg(self.svc_dir())
            .output()
            .unwrap()
    }

    fn svc(&self, args: &[&str]) -> Output {
        Command::new("s6-svc")
            .args(args)
            .arg(self.svc_dir())
            .output()
            .unwrap()
    }

    /// The service's report lines, as JSON.
    fn report(&self) -> Vec<Value> {
        fs::read_to_string(&self.report)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.svc(&["-xd"]);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.svscan.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.svscan.wait();
    }
}

/// The ids under the store's prefix that the daemon holds.
fn store(d: &Daemon) -> Vec<String> {
    d.list()
        .into_iter()
        .filter(|i| i.starts_with(PREFIX))
        .collect()
}

#[test]
fn notify_ready_makes_s6_svwait_return_and_the_fd_store_survives_a_kill() {
    let d = Daemon::start();
    let (s, line) = Service::start(&d, "store");
    assert_eq!(line, "started\n");
    let out = s.svwait("-U", 30_000);
    assert!(out.status.success(), "s6-svwait -U: {out:?}\n{}", s.log());
    // READY=1 came after the stores: they are done. The memfd sent twice is stored once.
    assert_eq!(
        store(&d),
        [format!("{PREFIX}mem:1"), format!("{PREFIX}sock:2")],
        "{}",
        s.log()
    );
    let first = s.report();
    assert_eq!(
        first[0]["names"], "",
        "nothing to hand over on a first start"
    );
    assert!(first[0]["notify_socket"].as_str().unwrap().starts_with('@'));
    let stored = first[1]["stored"].clone();
    // The listener, the service's child, holds only what it needs: 0 to 2, the notify
    // socket, the service's pidfd and its copies of the two stored fds (the notification
    // fd is closed once written).
    let service = first[0]["pid"].as_i64().unwrap();
    let children = fs::read_to_string(format!("/proc/{service}/task/{service}/children")).unwrap();
    let listener: i64 = children.split_whitespace().next().unwrap().parse().unwrap();
    let mut links: Vec<String> = fs::read_dir(format!("/proc/{listener}/fd"))
        .unwrap()
        .map(|e| {
            fs::read_link(e.unwrap().path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    links.sort();
    assert_eq!(links.len(), 7, "{links:?}");
    assert!(links.iter().any(|l| l == "anon_inode:[pidfd]"), "{links:?}");
    assert!(
        links.iter().any(|l| l.starts_with("/memfd:kept")),
        "{links:?}"
    );

    // Killed, restarted by s6-supervise through the same run script, ready again.
    let out = s.svc(&["-T", "30000", "-wR", "-k"]);
    assert!(out.status.success(), "s6-svc -wR -k: {out:?}\n{}", s.log());
    let again = s.report();
    let last = again
        .iter()
        .rev()
        .find(|r| r.get("names").is_some())
        .unwrap();
    assert_ne!(last["pid"], first[0]["pid"], "a new instance");
    assert_eq!(last["listen_pid"], last["pid"].to_string());
    assert_eq!(last["names"], "mem:sock", "by name, in the order stored");
    let fds = last["fds"].as_array().unwrap();
    assert_eq!(fds.len(), 2);
    assert_eq!(fds[0]["fd"], 3);
    assert_eq!(fds[0]["inode"], stored["mem"], "the same memfd");
    assert_eq!(fds[0]["content"], "kept across restarts");
    assert_eq!(fds[1]["inode"], stored["sock"], "the same socket");
    // Handed back, still held: the next restart gets them again.
    assert_eq!(store(&d).len(), 2);
}

#[test]
fn notify_fdstoreremove_deletes_the_named_fds() {
    let d = Daemon::start();
    let (s, _) = Service::start(&d, "remove");
    let out = s.svwait("-U", 30_000);
    assert!(out.status.success(), "s6-svwait -U: {out:?}\n{}", s.log());
    assert_eq!(store(&d), [format!("{PREFIX}sock:2")], "{}", s.log());
}

#[test]
fn notify_ready_from_another_process_does_not_count() {
    let d = Daemon::start();
    let (s, line) = Service::start(&d, "child");
    // The child's READY=1 has been sent once the service says so.
    assert_eq!(line, "child done\n");
    assert!(s.svwait("-u", 30_000).status.success(), "the service is up");
    // And it is not ready: the one READY=1 came from another pid. (This must wait a while
    // to see that nothing comes; a second is plenty for a datagram already sent.)
    let out = s.svwait("-U", 1_000);
    assert!(
        !out.status.success(),
        "ready without READY=1 from the service: {out:?}"
    );
    let log = s.log();
    assert!(
        log.contains("s6-fdholder-activate: warning: notification from pid ")
            && log.contains("dropped: only the service's own"),
        "{log}"
    );
}

#[test]
fn notify_malformed_datagrams_are_dropped_with_a_warning_and_the_service_goes_on() {
    let d = Daemon::start();
    let (s, _) = Service::start(&d, "raw");
    let out = s.svwait("-U", 30_000);
    assert!(out.status.success(), "s6-svwait -U: {out:?}\n{}", s.log());
    let log = s.log();
    for want in [
        "a notification line that is not KEY=VALUE",
        "FDNAME=\"a:b\"",
        "not UTF-8 text",
    ] {
        assert!(log.contains(want), "{want:?} not in {log}");
    }
    // STATUS=, MAINPID=, WATCHDOG=, RELOADING= and unknown keys are ignored quietly.
    assert_eq!(log.lines().count(), 3, "{log}");
    assert!(store(&d).is_empty());
}
