//! `s6-fdholder-activate`'s command line: argv to [`ActivateOptions`], with no I/O.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches};
use fdholder::envdump::scan_u32;
use fdholder::proto::{MAX_ID_LEN, check_id};

use super::{Parsed, clap_parse, timeout_arg, timeout_ms, usage_error};
use crate::activate::{ActivateOptions, DEFAULT_STORE_MAX, Source, StoreOptions, Wanted};
use crate::fatal::Fatal;
use crate::fdname;
use crate::names::{ACTIVATE as PROG, USAGE_ACTIVATE, USAGE_ACTIVATE_CONFIG};

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActivateCommand {
    /// Retrieve, place, exec.
    Run(ActivateOptions),
    /// `--help` or `--version`: print this text and exit 0.
    Print(String),
}

/// The clap definition, also used to keep the man page true to the options.
pub fn command() -> clap::Command {
    clap::Command::new(PROG)
        .version(env!("CARGO_PKG_VERSION"))
        .about(
            "Retrieve fds from an s6-fdholderd daemon and exec a program with them at 3, 4, ... \
             and LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES set (systemd socket activation)",
        )
        .override_usage(format!("{USAGE_ACTIVATE}\n       {USAGE_ACTIVATE_CONFIG}"))
        .arg(timeout_arg())
        .arg(
            Arg::new("delete")
                .short('D')
                .action(ArgAction::SetTrue)
                .help("Delete the ids from the daemon, once every one could be retrieved"),
        )
        .arg(
            Arg::new("nonblock")
                .short('N')
                .action(ArgAction::SetTrue)
                .help("Pass the fds with O_NONBLOCK set (systemd's NonBlocking=yes); else cleared"),
        )
        .arg(
            Arg::new("keep")
                .short('k')
                .value_name("fd")
                .action(ArgAction::Append)
                .value_parser(clap::builder::OsStringValueParser::new())
                .help("Let prog inherit this fd too (it must be above the passed fds)"),
        )
        .arg(
            Arg::new("names")
                .short('n')
                .value_name("names")
                .conflicts_with("config")
                .help("The fds' names, colon-separated, one per id or one for all"),
        )
        .arg(
            Arg::new("config")
                .short('c')
                .value_name("file")
                .value_parser(clap::builder::PathBufValueParser::new())
                .help("Take the ids and names from this config file's entries"),
        )
        .arg(
            Arg::new("selector")
                .short('e')
                .value_name("entry")
                .action(ArgAction::Append)
                .help("With -c: the entries with this name, or the fd with this id"),
        )
        .arg(
            Arg::new("notif")
                .short('3')
                .value_name("notif")
                .value_parser(clap::builder::OsStringValueParser::new())
                .help("Write a newline to fd notif when prog sends READY=1 (sd_notify)"),
        )
        .arg(
            Arg::new("store")
                .short('s')
                .value_name("prefix")
                .help("Keep prog's fd store (sd_notify FDSTORE=1) in the daemon, ids under prefix"),
        )
        .arg(
            Arg::new("store-max")
                .short('m')
                .value_name("max")
                .requires("store")
                .value_parser(clap::builder::OsStringValueParser::new())
                .help("The most fds the store keeps (systemd's FileDescriptorStoreMax=)"),
        )
        .arg(
            Arg::new("operands")
                .value_name("socket id")
                .num_args(0..)
                .value_parser(clap::builder::OsStringValueParser::new())
                .help("The daemon's socket, then the ids to retrieve (none with -c)"),
        )
        .arg(
            Arg::new("prog")
                .value_name("prog")
                .num_args(1..)
                .last(true)
                .required(true)
                .value_parser(clap::builder::OsStringValueParser::new())
                .help("After --: the program to exec, and its arguments"),
        )
}

/// The fds the command line's ids and `-n` names ask for; none only with an fd store.
fn given(ids: &[OsString], names: Option<&String>, store: bool) -> Result<Vec<Wanted>, String> {
    if ids.is_empty() && !store {
        return Err("no id given".into());
    }
    let mut wanted = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id.as_encoded_bytes();
        check_id(id).map_err(|e| {
            format!(
                "invalid id {:?}: {e}",
                crate::text::one_line(&String::from_utf8_lossy(id))
            )
        })?;
        wanted.push(Wanted {
            id: id.to_vec(),
            name: fdname::from_id(id),
        });
    }
    if let Some(names) = names {
        let names: Vec<&str> = names.split(':').collect();
        for n in &names {
            fdname::check(n).map_err(|e| format!("-n: {e}"))?;
        }
        match names.len() {
            1 => wanted
                .iter_mut()
                .for_each(|w| w.name = names[0].to_string()),
            n if n == wanted.len() => {
                for (w, n) in wanted.iter_mut().zip(names) {
                    w.name = n.to_string();
                }
            }
            n => {
                return Err(format!(
                    "-n gives {n} names for {} ids: one per id, or one for all",
                    wanted.len()
                ));
            }
        }
    }
    Ok(wanted)
}

/// Parses argv (including the program name) into an [`ActivateCommand`].
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<ActivateCommand, Fatal> {
    let args: Vec<OsString> = args.into_iter().collect();
    let config_mode = args.iter().skip(1).take_while(|a| *a != "--").any(|a| {
        let a = a.as_encoded_bytes();
        a.starts_with(b"-") && !a.starts_with(b"--") && a.contains(&b'c')
    });
    let usage = |why: &str| {
        usage_error(
            if config_mode {
                USAGE_ACTIVATE_CONFIG
            } else {
                USAGE_ACTIVATE
            },
            why,
        )
    };
    let m: ArgMatches = match clap_parse(command(), &args, "no program given after --")
        .map_err(|why| usage(&why))?
    {
        Parsed::Matches(m) => m,
        Parsed::Print(text) => return Ok(ActivateCommand::Print(text)),
    };
    let timeout_ms = timeout_ms(&m).map_err(|why| usage(&why))?;
    let operands: Vec<OsString> = m
        .get_many::<OsString>("operands")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let prog: Vec<OsString> = m
        .get_many::<OsString>("prog")
        .map(|v| v.cloned().collect())
        .unwrap_or_default();
    let fd_number = |opt: &str, k: &OsString| {
        scan_u32(k.as_encoded_bytes())
            .ok()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| usage(&format!("{opt} takes an fd number, not {k:?}")))
    };
    let mut keep = Vec::new();
    for k in m.get_many::<OsString>("keep").into_iter().flatten() {
        keep.push(fd_number("-k", k)?);
    }
    let notif = m
        .get_one::<OsString>("notif")
        .map(|n| fd_number("-3", n))
        .transpose()?;
    if let Some(n) = notif {
        // As s6's notification-fd: 0 to 2 are the service's own stdio, which the tool
        // would close.
        if n < 3 {
            return Err(usage(&format!("-3 {n}: the notification fd is 3 or more")));
        }
        if keep.contains(&n) {
            return Err(usage(&format!(
                "-3 {n} and -k {n}: the notification fd is the listener's, not prog's"
            )));
        }
    }
    let store = match m.get_one::<String>("store") {
        None => None,
        Some(prefix) => {
            let max = match m.get_one::<OsString>("store-max") {
                None => DEFAULT_STORE_MAX,
                Some(n) => scan_u32(n.as_encoded_bytes())
                    .ok()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| usage(&format!("-m takes a number of fds, not {n:?}")))?,
            };
            check_id(prefix.as_bytes())
                .map_err(|e| usage(&format!("-s: invalid prefix {prefix:?}: {e}")))?;
            // Ending in ':', which no name holds, one store's ids are never another's.
            if !prefix.ends_with(':') {
                return Err(usage(&format!("-s {prefix:?}: a prefix ends with ':'")));
            }
            // Room for the shortest id of the store, NAME:SEQ with one character each.
            if prefix.len() + 3 > MAX_ID_LEN {
                return Err(usage(&format!(
                    "-s: a prefix of {} bytes leaves no room for an id of at most {MAX_ID_LEN}",
                    prefix.len()
                )));
            }
            Some(StoreOptions {
                prefix: prefix.clone(),
                max,
            })
        }
    };
    let (socket, source) = match m.get_one::<PathBuf>("config") {
        Some(file) => {
            if operands.len() > 1 {
                return Err(usage(
                    "with -c, the ids come from the file: give at most the socket",
                ));
            }
            let selectors: Vec<String> = m
                .get_many::<String>("selector")
                .map(|v| v.cloned().collect())
                .unwrap_or_default();
            if selectors.is_empty() {
                return Err(usage("-c file needs at least one -e entry"));
            }
            let source = Source::Config {
                file: file.clone(),
                selectors,
            };
            (operands.first().map(PathBuf::from), source)
        }
        None if m.contains_id("selector") => return Err(usage("-e goes with -c file")),
        None => {
            let Some((socket, ids)) = operands.split_first() else {
                return Err(usage("no socket given"));
            };
            let wanted = given(ids, m.get_one::<String>("names"), store.is_some())
                .map_err(|why| usage(&why))?;
            (Some(PathBuf::from(socket)), Source::Given(wanted))
        }
    };
    Ok(ActivateCommand::Run(ActivateOptions {
        socket,
        timeout_ms,
        delete: m.get_flag("delete"),
        nonblock: m.get_flag("nonblock"),
        keep,
        notif,
        store,
        source,
        prog,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<ActivateOptions, String> {
        let mut v = vec![OsString::from(PROG)];
        v.extend(args.iter().map(OsString::from));
        match parse(v).map_err(|e| e.to_string())? {
            ActivateCommand::Run(o) => Ok(o),
            ActivateCommand::Print(_) => Err("printed".into()),
        }
    }

    fn w(id: &str, name: &str) -> Wanted {
        Wanted {
            id: id.into(),
            name: name.into(),
        }
    }

    #[test]
    fn ids_and_names() {
        let o = p(&[
            "-D",
            "-t",
            "500",
            "/s",
            "unix:/a",
            "tcp:[::1]:80",
            "--",
            "prog",
            "-x",
        ])
        .unwrap();
        assert_eq!(
            o,
            ActivateOptions {
                socket: Some("/s".into()),
                timeout_ms: 500,
                delete: true,
                nonblock: false,
                keep: vec![],
                notif: None,
                store: None,
                source: Source::Given(vec![
                    w("unix:/a", "unix_/a"),
                    w("tcp:[::1]:80", "tcp_[__1]_80")
                ]),
                prog: vec!["prog".into(), "-x".into()],
            }
        );
        let o = p(&[
            "-N", "-k", "7", "-k9", "-n", "web", "/s", "a", "b", "--", "p",
        ])
        .unwrap();
        assert!(o.nonblock);
        assert_eq!(o.keep, [7, 9]);
        assert_eq!(o.source, Source::Given(vec![w("a", "web"), w("b", "web")]));
        let o = p(&["-n", "x:y", "/s", "a", "b", "--", "p"]).unwrap();
        assert_eq!(o.source, Source::Given(vec![w("a", "x"), w("b", "y")]));
    }

    #[test]
    fn config_form() {
        let o = p(&["-c", "f.toml", "-e", "web", "-e", "log", "--", "p"]).unwrap();
        assert_eq!(o.socket, None);
        assert_eq!(
            o.source,
            Source::Config {
                file: "f.toml".into(),
                selectors: vec!["web".into(), "log".into()]
            }
        );
        let o = p(&["-c", "f.toml", "-e", "web", "/s", "--", "p"]).unwrap();
        assert_eq!(o.socket, Some("/s".into()));
    }

    #[test]
    fn notify_and_store() {
        let o = p(&["-3", "5", "-s", "fdstore:web:", "-m", "8", "/s", "--", "p"]).unwrap();
        assert_eq!(o.notif, Some(5));
        assert_eq!(
            o.store,
            Some(StoreOptions {
                prefix: "fdstore:web:".into(),
                max: 8
            })
        );
        assert_eq!(o.source, Source::Given(vec![]), "no id needed with a store");
        let long = format!("{}:", "p".repeat(252));
        let e = p(&["-s", &long, "/s", "--", "p"]).unwrap_err();
        assert!(e.contains("leaves no room"), "{e}");
        assert!(p(&["-s", &long[1..], "/s", "--", "p"]).is_ok());
        let o = p(&["-s", "p:", "/s", "a", "--", "p"]).unwrap();
        assert_eq!(o.store.map(|s| s.max), Some(DEFAULT_STORE_MAX));
        for (args, why) in [
            (
                &["-3", "x", "/s", "a", "--", "p"][..],
                "-3 takes an fd number",
            ),
            (&["-m", "4", "/s", "a", "--", "p"][..], "-s"),
            (
                &["-s", "p", "-m", "x", "/s", "--", "p"][..],
                "-m takes a number",
            ),
            (&["-3", "4", "/s", "--", "p"][..], "no id given"),
            (&["-3", "2", "/s", "a", "--", "p"][..], "3 or more"),
            (
                &["-3", "4", "-k", "4", "/s", "a", "--", "p"][..],
                "-3 4 and -k 4",
            ),
            (&["-s", "web", "/s", "--", "p"][..], "ends with ':'"),
        ] {
            let e = p(args).unwrap_err();
            assert!(
                e.starts_with(USAGE_ACTIVATE) && e.contains(why),
                "{args:?}: {e}"
            );
        }
    }

    #[test]
    fn usage_errors() {
        for (args, usage, why) in [
            (
                &["/s", "a"][..],
                USAGE_ACTIVATE,
                "no program given after --",
            ),
            (
                &["/s", "a", "prog"][..],
                USAGE_ACTIVATE,
                "no program given after --",
            ),
            (&["/s", "--", "p"][..], USAGE_ACTIVATE, "no id given"),
            (&["--", "p"][..], USAGE_ACTIVATE, "no socket given"),
            (
                &["-n", "a:b:c", "/s", "a", "b", "--", "p"][..],
                USAGE_ACTIVATE,
                "3 names for 2 ids",
            ),
            (
                &["-n", "a::b", "/s", "a", "b", "--", "p"][..],
                USAGE_ACTIVATE,
                "empty",
            ),
            (
                &["-n", "a\tb", "/s", "a", "--", "p"][..],
                USAGE_ACTIVATE,
                "printable",
            ),
            (
                &["-t", "x", "/s", "a", "--", "p"][..],
                USAGE_ACTIVATE,
                "milliseconds",
            ),
            (&["-c", "f", "--", "p"][..], USAGE_ACTIVATE_CONFIG, "-e"),
            (&["-e", "x", "/s", "a", "--", "p"][..], USAGE_ACTIVATE, "-c"),
            (
                &["-c", "f", "-e", "x", "-n", "a", "--", "p"][..],
                USAGE_ACTIVATE_CONFIG,
                "does not go with",
            ),
            (
                &["-c", "f", "-e", "x", "/s", "id", "--", "p"][..],
                USAGE_ACTIVATE_CONFIG,
                "at most the socket",
            ),
            (
                &["-x", "/s", "a", "--", "p"][..],
                USAGE_ACTIVATE,
                "unknown option -x",
            ),
            (
                &["-k", "x", "/s", "a", "--", "p"][..],
                USAGE_ACTIVATE,
                "-k takes an fd number",
            ),
        ] {
            let e = p(args).unwrap_err();
            assert!(e.starts_with(usage), "{args:?}: {e}");
            assert!(e.contains(why), "{args:?}: {e}");
        }
        let long = "x".repeat(256);
        let e = p(&["/s", &long, "--", "p"]).unwrap_err();
        assert!(e.contains("invalid id"), "{e}");
    }
}
