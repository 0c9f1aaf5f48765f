//! Env-mode edge cases, each run through Debian's C tool and ours on the same input: same
//! exit code, same message (ours may add a reason after it), same fds held.

use crate::common::*;

/// An environment from name-value pairs.
fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What one tool did: exit code, stderr, and the ids its daemon holds afterwards.
#[derive(Debug)]
struct Run {
    code: i32,
    err: String,
    held: Vec<String>,
}

/// Runs `prog` with `args` then the socket of a fresh daemon, `env`, and one fresh fd
/// mapped to [`FIRST_CHILD_FD`].
fn run(prog: &str, args: &[&str], env: &[(String, String)]) -> Run {
    let d = Daemon::start();
    let mut argv: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    argv.push(d.socket.clone().into());
    let out = run_prog(prog, argv, env, fresh_fds(1));
    let (code, err) = code_and_err(&out);
    Run {
        code,
        err,
        held: d.list(),
    }
}

/// Runs both tools; they must agree. Returns our exit code and message.
fn same_as_c(args: &[&str], env: &[(String, String)]) -> (i32, String) {
    let what = format!("{args:?} {env:?}");
    let c = run(C_TOOL, args, env);
    let ours = run(BIN, args, env);
    assert_eq!(
        ours.code, c.code,
        "{what}: exit code; C said {c:?}, we {ours:?}"
    );
    assert_same_message(&c.err, &ours.err, &what);
    assert_eq!(ours.held, c.held, "{what}: what the daemon holds");
    (ours.code, ours.err)
}

/// Both tools accept `env`, silently.
fn accepted(env: &[(String, String)]) {
    assert_eq!(same_as_c(&[], env), (0, String::new()), "{env:?}");
}

/// Both tools refuse `env` with exit 100 and exactly `VAR not set`.
fn not_set(env: &[(String, String)], message: &str) {
    let want = format!("s6-fdholder-setdump: fatal: {message}\n");
    assert_eq!(same_as_c(&[], env), (100, want), "{env:?}");
}

/// Both tools refuse `env` with exit 100 and `invalid $VAR` (ours with a reason).
fn invalid(env: &[(String, String)], start: &str) {
    assert_fatal(&same_as_c(&[], env), 100, start, "");
}

/// One fd, mapped to [`FIRST_CHILD_FD`], with this id.
fn one_fd(id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("S6_FD#", "1".into()),
        ("S6_FD_0", FIRST_CHILD_FD.to_string()),
        ("S6_FDID_0", id.into()),
    ]
}

fn env_of(pairs: Vec<(&str, String)>) -> Vec<(String, String)> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn one_fd_with(var: &'static str, value: &str) -> Vec<(String, String)> {
    let mut v = one_fd("pipe:case");
    v.retain(|(k, _)| *k != var);
    v.push((var, value.into()));
    env_of(v)
}

#[test]
fn the_count() {
    not_set(&env(&[]), "S6_FD# not set");
    for bad in ["x", "", "+1", " 1", "1 ", "-1", "4294967296"] {
        invalid(&env(&[("S6_FD#", bad)]), "invalid $S6_FD#");
    }
    // Zero connects, sends nothing and succeeds; leading zeros are allowed.
    for zero in ["0", "000"] {
        accepted(&env(&[("S6_FD#", zero)]));
    }
    not_set(&env(&[("S6_FD#", "1")]), "S6_FD_0 not set");
    let mut two = one_fd("pipe:first");
    two[0].1 = "2".into();
    not_set(&env_of(two), "S6_FD_1 not set");
}

#[test]
fn the_fd_number() {
    for bad in ["x", "", "+10", " 10", "10 ", "4294967296"] {
        invalid(&one_fd_with("S6_FD_0", bad), "invalid $S6_FD_0");
    }
    // Leading zeros are allowed.
    let padded = format!("00{FIRST_CHILD_FD}");
    accepted(&one_fd_with("S6_FD_0", &padded));
    // The index is looked up in its plain form only: S6_FD_00 is not S6_FD_0.
    let mut v = one_fd("pipe:case");
    v[1].0 = "S6_FD_00";
    not_set(&env_of(v), "S6_FD_0 not set");
}

#[test]
fn the_id() {
    let mut v = one_fd("x");
    v.pop();
    not_set(&env_of(v), "S6_FDID_0 not set");
    for bad in [String::new(), "i".repeat(256)] {
        invalid(&one_fd_with("S6_FDID_0", &bad), "invalid $S6_FDID_0");
    }
    accepted(&one_fd_with("S6_FDID_0", &"i".repeat(255)));
}

#[test]
fn the_limit() {
    let good = label_in(std::time::Duration::from_secs(1000));
    for bad in [
        String::new(),
        "@".into(),
        good[1..].to_string(),
        good[..24].to_string(),
        format!("{}g", &good[..24]),
    ] {
        invalid(&one_fd_with("S6_FDLIMIT_0", &bad), "invalid $S6_FDLIMIT_0");
    }
    // Uppercase hex, and anything after the 24th digit, are accepted.
    for ok in [good.to_uppercase(), format!("{good}junk")] {
        accepted(&one_fd_with("S6_FDLIMIT_0", &ok));
    }
}

#[test]
fn an_uppercase_label_means_the_same_limit() {
    let label = label_in(std::time::Duration::from_secs(1000));
    let d = Daemon::start();
    let env = one_fd_with("S6_FDLIMIT_0", &label.to_uppercase());
    let out = run_tool([&d.socket], &env, fresh_fds(1));
    assert_eq!(code_and_err(&out), (0, String::new()));
    let held = d.getdump();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].1.as_deref().map(|l| &l[..17]), Some(&label[..17]));
}

#[test]
fn usage_errors() {
    let none = env(&[("S6_FD#", "0")]);
    for args in [&["-x"][..], &["-t", "abc"], &["-t", "5x"], &["-t", "-5"]] {
        let (code, err) = same_as_c(args, &none);
        assert_eq!(code, 100, "{args:?}");
        assert!(
            err.starts_with(
                "s6-fdholder-setdump: usage: s6-fdholder-setdump [ -t timeout ] socket"
            ),
            "{err}"
        );
    }
    // No socket at all: run both by hand, as `run` always appends one.
    let c = run_prog(C_TOOL, Vec::<String>::new(), &none, vec![]);
    let ours = run_tool(Vec::<String>::new(), &none, vec![]);
    let (c, ours) = (code_and_err(&c), code_and_err(&ours));
    assert_eq!((ours.0, c.0), (100, 100));
    assert_same_message(&c.1, &ours.1, "no socket");
    // A timeout in milliseconds, 0 meaning none, leading zeros allowed.
    for args in [&["-t", "0"][..], &["-t", "05000"], &["-t5000"]] {
        assert_eq!(same_as_c(args, &none), (0, String::new()), "{args:?}");
    }
}

#[test]
fn zero_fds_with_no_daemon_fails_to_connect() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nothing");
    let zero = env(&[("S6_FD#", "0")]);
    for prog in [C_TOOL, BIN] {
        let out = run_prog(prog, [&path], &zero, vec![]);
        let (code, err) = code_and_err(&out);
        assert_eq!(code, 111, "{prog}: {err}");
        assert!(
            err.contains("unable to connect to a fd-holder daemon at"),
            "{err}"
        );
    }
}

// Deliberate differences: we check the whole environment before connecting.

#[test]
fn difference_a_bad_fd_variable_with_no_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nothing");
    let bad = one_fd_with("S6_FD_0", "x");
    let c = code_and_err(&run_prog(C_TOOL, [&path], &bad, fresh_fds(1)));
    let ours = code_and_err(&run_tool([&path], &bad, fresh_fds(1)));
    assert_eq!(c.0, 111, "C connects before it reads S6_FD_0: {}", c.1);
    assert_eq!(ours.0, 100, "{}", ours.1);
    assert!(
        ours.1
            .starts_with("s6-fdholder-setdump: fatal: invalid $S6_FD_0"),
        "{}",
        ours.1
    );
}

#[test]
fn difference_an_fd_that_is_not_open() {
    let not_open = one_fd_with("S6_FD_0", "999");
    let c = run(C_TOOL, &[], &not_open);
    let ours = run(BIN, &[], &not_open);
    assert_eq!(
        (c.code, c.err.as_str()),
        (
            1,
            "s6-fdholder-setdump: fatal: unable to set dump: Bad file descriptor\n"
        )
    );
    assert_eq!(
        (ours.code, ours.err.as_str()),
        (
            100,
            "s6-fdholder-setdump: fatal: invalid $S6_FD_0: fd 999 is not open\n"
        )
    );
    assert!(c.held.is_empty() && ours.held.is_empty());
}

#[test]
fn difference_a_label_with_a_second_or_more_of_nanoseconds() {
    // Debian's daemon dies ("unable to iopause: Invalid argument") once such a deadline
    // is the next one to pass; the C tool sends it as it is. We refuse it.
    let label = format!(
        "{}ffffffff",
        &label_in(std::time::Duration::from_secs(1000))[..17]
    );
    let bad = one_fd_with("S6_FDLIMIT_0", &label);
    for prog in [C_TOOL, BIN] {
        let d = Daemon::start();
        let out = run_prog(prog, [&d.socket], &bad, fresh_fds(1));
        let (code, err) = code_and_err(&out);
        let list = d.s6("s6-fdholder-list", &["SOCKET"]);
        if prog == C_TOOL {
            assert!(
                !list.status.success(),
                "the daemon survived: {err} {list:?}"
            );
        } else {
            assert_eq!(code, 100, "{err}");
            assert!(
                err.starts_with("s6-fdholder-setdump: fatal: invalid $S6_FDLIMIT_0: "),
                "{err}"
            );
            assert!(list.status.success() && list.stdout.is_empty(), "{list:?}");
        }
    }
}
