//! The inspect tool's command line: argv to an [`InspectCommand`], with no I/O.
//!
//! Errors are reported as the setdump tool's are: the usage line of the form in use and the
//! reason, exit 100.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction};

use super::{Parsed, clap_parse, timeout_arg, timeout_ms, usage_error};
use crate::fatal::Fatal;
use crate::inspect::InspectOptions;
use crate::names::{INSPECT as PROG, USAGE_INSPECT as USAGE, USAGE_SYSTEMD};

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InspectCommand {
    /// Show what a daemon holds.
    Inspect(InspectOptions),
    /// Print the config-mode TOML equivalent to this systemd socket unit, a template's
    /// with this instance.
    FromSystemd(PathBuf, Option<String>),
    /// `--help` or `--version`: print this text and exit 0.
    Print(String),
}

/// The clap definition, also used to keep the man page true to the options.
pub fn command() -> clap::Command {
    clap::Command::new(PROG)
        .version(env!("CARGO_PKG_VERSION"))
        .about("Show the fds an s6-fdholderd daemon holds, or convert a systemd socket unit")
        .override_usage(format!("{USAGE}\n       {USAGE_SYSTEMD}"))
        .arg(timeout_arg())
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print one JSON document instead of the table"),
        )
        .arg(
            Arg::new("toml")
                .long("toml")
                .action(ArgAction::SetTrue)
                .conflicts_with("json")
                .help("Print what the daemon holds as a config file for s6-fdholder-setdump -c"),
        )
        .arg(
            Arg::new("from-systemd")
                .long("from-systemd")
                .value_name("unit.socket")
                .value_parser(clap::builder::PathBufValueParser::new())
                .conflicts_with_all(["timeout", "json", "toml", "socket"])
                .help("Print the config-mode TOML for this systemd socket unit"),
        )
        .arg(
            Arg::new("instance")
                .long("instance")
                .value_name("NAME")
                .conflicts_with_all(["timeout", "json", "socket"])
                .help("The instance of a template unit (NAME@.socket), for %i and %I"),
        )
        .arg(
            Arg::new("socket")
                .value_name("socket")
                .value_parser(clap::builder::PathBufValueParser::new())
                .required_unless_present("from-systemd")
                .help("The daemon's socket"),
        )
}

/// Parses argv (including the program name) into an [`InspectCommand`].
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<InspectCommand, Fatal> {
    let args: Vec<OsString> = args.into_iter().collect();
    let systemd = args
        .iter()
        .skip(1)
        .any(|a| a.as_encoded_bytes().starts_with(b"--from-systemd"));
    let usage = |why: &str| usage_error(if systemd { USAGE_SYSTEMD } else { USAGE }, why);
    let m = match clap_parse(command(), &args, "no socket given").map_err(|why| usage(&why))? {
        Parsed::Matches(m) => m,
        Parsed::Print(text) => return Ok(InspectCommand::Print(text)),
    };
    if let Some(unit) = m.get_one::<PathBuf>("from-systemd") {
        let instance = m.get_one::<String>("instance").cloned();
        return Ok(InspectCommand::FromSystemd(unit.clone(), instance));
    }
    let timeout_ms = timeout_ms(&m).map_err(|why| usage(&why))?;
    match m.get_one::<PathBuf>("socket") {
        Some(socket) => Ok(InspectCommand::Inspect(InspectOptions {
            socket: socket.clone(),
            timeout_ms,
            json: m.get_flag("json"),
            toml: m.get_flag("toml"),
        })),
        None => Err(usage("no socket given")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<InspectCommand, String> {
        let mut v = vec![OsString::from(PROG)];
        v.extend(args.iter().map(OsString::from));
        parse(v).map_err(|e| e.to_string())
    }

    #[test]
    fn forms() {
        assert_eq!(
            p(&["-t", "500", "--json", "/s"]),
            Ok(InspectCommand::Inspect(InspectOptions {
                socket: "/s".into(),
                timeout_ms: 500,
                json: true,
                toml: false,
            }))
        );
        assert_eq!(
            p(&["/s"]),
            Ok(InspectCommand::Inspect(InspectOptions {
                socket: "/s".into(),
                timeout_ms: 0,
                json: false,
                toml: false,
            }))
        );
        assert_eq!(
            p(&["--from-systemd", "web.socket"]),
            Ok(InspectCommand::FromSystemd("web.socket".into(), None))
        );
        assert_eq!(
            p(&["--from-systemd", "a@.socket", "--instance", "x"]),
            Ok(InspectCommand::FromSystemd(
                "a@.socket".into(),
                Some("x".into())
            ))
        );
        assert!(matches!(p(&["--help"]), Ok(InspectCommand::Print(_))));
    }

    #[test]
    fn usage_errors() {
        for (args, line, why) in [
            (&[][..], USAGE, "no socket given"),
            (
                &["-t", "x", "/s"][..],
                USAGE,
                "-t takes a number of milliseconds",
            ),
            (&["--jsn", "/s"][..], USAGE, "unknown option --jsn"),
            (&["/s", "/t"][..], USAGE, "unexpected argument /t"),
            (&["--json", "--json", "/s"][..], USAGE, "given twice"),
            (
                &["--from-systemd", "u.socket", "/s"][..],
                USAGE_SYSTEMD,
                "does not go with",
            ),
            (
                &["--json", "--from-systemd", "u.socket"][..],
                USAGE_SYSTEMD,
                "does not go with",
            ),
            (&["--from-systemd"][..], USAGE_SYSTEMD, "needs a value"),
            (&["--instance", "x", "/s"][..], USAGE, "does not go with"),
        ] {
            let e = p(args).unwrap_err();
            assert!(e.starts_with(line) && e.contains(why), "{args:?}: {e}");
        }
    }
}
