//! A run that failed for want of fds is undone all the same: the rollback asks sock_diag
//! which file each of the run's sockets is bound to on the sock_diag socket the opening
//! kept, as no fd is left to make another.
//!
//! A test binary of its own with a single test: it fills this process's fd table.

use std::os::fd::OwnedFd;
use std::time::SystemTime;

use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

#[test]
fn a_rollback_with_no_fd_left_removes_every_socket() {
    use fdtools::config::{load::load, open::open_all, plan::plan};
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..20)
        .map(|i| {
            let path = dir.path().join(format!("s{i}.sock"));
            format!("[[fd]]\nkind = \"unix\"\npath = \"{}\"\n", path.display())
        })
        .collect();
    let now = SystemTime::now();
    let config = load(&text, now).unwrap();
    let p = plan(&config, now);
    let opened = open_all(&config, &p, &Default::default(), &mut |_| Ok(())).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 20);
    // Every fd number taken, under a soft limit lowered to just above what is open.
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    setrlimit(Resource::RLIMIT_NOFILE, open + 8, hard).unwrap();
    let mut filler: Vec<OwnedFd> = Vec::new();
    loop {
        match nix::unistd::dup(std::io::stdin()) {
            Ok(fd) => filler.push(fd),
            Err(Errno::EMFILE) => break,
            Err(e) => panic!("dup: {e}"),
        }
    }
    assert!(!filler.is_empty());
    let left = opened.rollback(&config, &p, 0);
    drop(filler);
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    assert!(left.is_empty(), "left: {left:?}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "every socket file is removed"
    );
}
