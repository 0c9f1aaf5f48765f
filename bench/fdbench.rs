//! The benchmark's timer (run by `bench/run.sh`, not a tool for users): runs one
//! `s6-fdholder-setdump` (ours or Debian's C one) many times against a daemon, each time with
//! a fresh env-mode dump of N fds, and prints each run's wall time and the peak RSS.
//!
//! Why a program and not bash: a child's peak RSS is only visible through getrusage, and the
//! spawn must not include building a 60000-variable environment. Each run's environment is
//! built before its clock starts; the clock covers `posix_spawn` to `waitpid`, the tool's
//! whole life. One tool per process, so `RUSAGE_CHILDREN`'s peak RSS is that tool's.
//!
//! Usage: `fdbench TOOL SOCKET N RUNS FIRST_RUN TAG`. Run `r` (FIRST_RUN.. FIRST_RUN+RUNS)
//! sends ids `pipe:bench-TAG<r>-<i>`, unique so the daemon never replaces one, and limits
//! distinct across runs and fds, so that the C tool's equal deadlines (it sends the same
//! "no limit" for every fd) never reach the daemon's deadline tree. Both tools get the same
//! variables, values of the same length, and the same N fds (`/dev/null`, inherited).
//! Output: `wall_ns <ns>` per run, then `maxrss_kb <kb>` and `cpu_ns <total user+sys>`.
//!
//! `fdbench --once CMD ARGS...` times one run of any command (config mode, the floor
//! programs, s6-fdholder-list) the same way, with this process's environment, its stdout
//! sent to /dev/null, and prints the same three lines: the one wrapper for every side.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::ExitCode;
use std::time::Instant;

use nix::fcntl::{OFlag, open};
use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, posix_spawn};
use nix::sys::resource::{Resource, UsageWho, getrlimit, getrusage, setrlimit};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};

/// TAI64 seconds of the benchmark's limits: year 2106, far past any run, far before
/// getdump's "no limit" threshold.
const LIMIT_BASE_SECS: u64 = 0x4000_0001_0000_0000;

struct Args {
    tool: CString,
    socket: CString,
    n: usize,
    runs: u64,
    first_run: u64,
    tag: String,
}

fn parse_args() -> Result<Args, String> {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let [tool, socket, n, runs, first_run, tag] = &v[..] else {
        return Err("usage: fdbench TOOL SOCKET N RUNS FIRST_RUN TAG".into());
    };
    let num = |s: &str, what: &str| s.parse::<u64>().map_err(|e| format!("{what} {s:?}: {e}"));
    let cstr = |s: &str| CString::new(s).map_err(|e| e.to_string());
    Ok(Args {
        tool: cstr(tool)?,
        socket: cstr(socket)?,
        n: num(n, "N")? as usize,
        runs: num(runs, "RUNS")?,
        first_run: num(first_run, "FIRST_RUN")?,
        tag: tag.clone(),
    })
}

/// The environment `s6-fdholder-getdump` would write for these fds, for run `run`.
fn dump_env(fds: &[OwnedFd], run: u64, tag: &str) -> Vec<CString> {
    let mut env = Vec::with_capacity(1 + 3 * fds.len());
    let mut push = |s: String| env.push(CString::new(s).expect("no NUL in a variable"));
    push(format!("S6_FD#={}", fds.len()));
    for (i, fd) in fds.iter().enumerate() {
        push(format!("S6_FD_{i}={}", fd.as_raw_fd()));
        push(format!("S6_FDID_{i}=pipe:bench-{tag}{run:07}-{i:05}"));
        push(format!(
            "S6_FDLIMIT_{i}=@{:016x}{:08x}",
            LIMIT_BASE_SECS + run,
            i
        ));
    }
    env
}

fn bench(a: &Args) -> Result<(), String> {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(|e| e.to_string())?;
    // Not close-on-exec: the tool inherits them, as from s6-fdholder-getdump.
    let fds = (0..a.n)
        .map(|_| open("/dev/null", OFlag::O_RDONLY, Mode::empty()))
        .collect::<Result<Vec<OwnedFd>, _>>()
        .map_err(|e| format!("open /dev/null: {e} (raise ulimit -n)"))?;
    let argv = [a.tool.clone(), a.socket.clone()];
    let actions = PosixSpawnFileActions::init().map_err(|e| e.to_string())?;
    let attr = PosixSpawnAttr::init().map_err(|e| e.to_string())?;
    for run in a.first_run..a.first_run + a.runs {
        let env = dump_env(&fds, run, &a.tag);
        let start = Instant::now();
        let pid = posix_spawn(a.tool.as_c_str(), &actions, &attr, &argv, &env)
            .map_err(|e| format!("spawn {:?}: {e}", a.tool))?;
        let status = waitpid(pid, None).map_err(|e| e.to_string())?;
        let wall = start.elapsed();
        if status != WaitStatus::Exited(pid, 0) {
            return Err(format!("run {run} of {:?} ended with {status:?}", a.tool));
        }
        println!("wall_ns {}", wall.as_nanos());
    }
    print_usage()
}

/// Prints the peak RSS and the CPU time of the children waited for so far.
fn print_usage() -> Result<(), String> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| e.to_string())?;
    let cpu = |t: nix::sys::time::TimeVal| {
        t.tv_sec() as i128 * 1_000_000_000 + t.tv_usec() as i128 * 1000
    };
    println!("maxrss_kb {}", usage.max_rss());
    println!(
        "cpu_ns {}",
        cpu(usage.user_time()) + cpu(usage.system_time())
    );
    Ok(())
}

/// `--once CMD ARGS...`: one timed run of a command, which must exit 0.
fn once(cmd: &[String]) -> Result<(), String> {
    let argv = cmd
        .iter()
        .map(|a| CString::new(a.as_str()).map_err(|e| e.to_string()))
        .collect::<Result<Vec<CString>, _>>()?;
    let Some(tool) = argv.first() else {
        return Err("usage: fdbench --once CMD ARGS...".into());
    };
    let env = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<CString>, _>>()?;
    let mut actions = PosixSpawnFileActions::init().map_err(|e| e.to_string())?;
    let null = open(
        "/dev/null",
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("open /dev/null: {e}"))?;
    actions
        .add_dup2(null.as_raw_fd(), 1)
        .map_err(|e| e.to_string())?;
    let attr = PosixSpawnAttr::init().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let pid = nix::spawn::posix_spawnp(tool.as_c_str(), &actions, &attr, &argv, &env)
        .map_err(|e| format!("spawn {tool:?}: {e}"))?;
    let status = waitpid(pid, None).map_err(|e| e.to_string())?;
    let wall = start.elapsed();
    if status != WaitStatus::Exited(pid, 0) {
        return Err(format!("{cmd:?} ended with {status:?}"));
    }
    println!("wall_ns {}", wall.as_nanos());
    print_usage()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((flag, cmd)) if flag == "--once" => once(cmd),
        _ => parse_args().and_then(|a| bench(&a)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fdbench: {e}");
            ExitCode::FAILURE
        }
    }
}
