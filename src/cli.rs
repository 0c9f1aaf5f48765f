//! The command line: argv to a [`Command`], with no I/O.
//!
//! clap parses; every error it reports becomes the C tool's usage line (exit 100) with the
//! reason appended, whatever clap would print by default.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::{ContextKind, ErrorKind};
use clap::{Arg, ArgAction, ArgMatches};

use crate::env::{EnvOptions, scan_u32};
use crate::error::Fatal;

/// The program's name, as it prefixes every message.
pub const PROG: &str = "s6-fdholder-setdump";
/// Env mode's usage, exactly the C tool's.
pub const USAGE_ENV: &str = "s6-fdholder-setdump [ -t timeout ] socket";
/// Config mode's usage.
pub const USAGE_CONFIG: &str = "s6-fdholder-setdump [ -t timeout ] [ -v ] [ --check ] [ --json ] \
     [ --prune | --replace-all ] [ --allow-insecure-config ] -c file [ socket ]";

/// What config mode needs from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigOptions {
    /// The TOML file.
    pub file: PathBuf,
    /// The daemon's socket from the command line; wins over the file's `fdholder`.
    pub socket: Option<PathBuf>,
    /// `-t`, in milliseconds; 0 for none.
    pub timeout_ms: u32,
    /// `--check`: validate and print the plan, touch nothing.
    pub check: bool,
    /// `-v`: report each fd opened.
    pub verbose: bool,
    /// `--json`: print the plan or the result as one JSON document.
    pub json: bool,
    /// `--prune`: delete the ids the daemon holds and the file does not declare.
    pub prune: bool,
    /// `--replace-all`: open and set every fd, compared or not.
    pub replace_all: bool,
    /// `--allow-insecure-config`: take, as root, a config file others could have written.
    pub allow_insecure_config: bool,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Env mode.
    Env(EnvOptions),
    /// Config mode.
    Config(ConfigOptions),
    /// `--help` or `--version`: print this text and exit 0.
    Print(String),
}

/// The clap definition, also used to keep the man page true to the options.
pub fn command() -> clap::Command {
    clap::Command::new(PROG)
        .version(env!("CARGO_PKG_VERSION"))
        .about("Hand fds to an s6-fdholderd daemon in one setdump, from the environment or a TOML file")
        .override_usage(format!("{USAGE_ENV}\n       {USAGE_CONFIG}"))
        .arg(timeout_arg())
        .arg(
            Arg::new("config")
                .short('c')
                .long("config")
                .value_name("file")
                .value_parser(clap::builder::PathBufValueParser::new())
                .help("Config mode: open the fds this TOML file declares and set them"),
        )
        .arg(
            Arg::new("check")
                .long("check")
                .action(ArgAction::SetTrue)
                .requires("config")
                .help("Validate the file and print the plan; open, create and send nothing"),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .action(ArgAction::SetTrue)
                .requires("config")
                .help("Report each fd opened, on stderr"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .requires("config")
                .help("Print the plan (--check) or the result as one JSON document"),
        )
        .arg(
            Arg::new("prune")
                .long("prune")
                .action(ArgAction::SetTrue)
                .requires("config")
                .help("Also delete the ids the daemon holds and the file does not declare"),
        )
        .arg(
            Arg::new("replace-all")
                .long("replace-all")
                .action(ArgAction::SetTrue)
                .requires("config")
                .conflicts_with("prune")
                .help("Open and set every fd, even those held as declared"),
        )
        .arg(
            Arg::new("allow-insecure-config")
                .long("allow-insecure-config")
                .action(ArgAction::SetTrue)
                .requires("config")
                .help("Run as root, take a config file that others could have written"),
        )
        .arg(
            Arg::new("socket")
                .value_name("socket")
                .value_parser(clap::builder::PathBufValueParser::new())
                .help("The daemon's socket"),
        )
}

/// `-t timeout`, as every s6-fdholder tool takes it.
pub(crate) fn timeout_arg() -> Arg {
    Arg::new("timeout")
        .short('t')
        .value_name("timeout")
        .value_parser(clap::builder::OsStringValueParser::new())
        .help("Give up after this many milliseconds in all (0: never)")
}

/// `-t`'s value in milliseconds, 0 when absent, or why it is not one.
pub(crate) fn timeout_ms(m: &ArgMatches) -> Result<u32, String> {
    match get::<OsString>(m, "timeout") {
        None => Ok(0),
        Some(t) => scan_u32(t.as_encoded_bytes())
            .map_err(|_| format!("-t takes a number of milliseconds, not {t:?}")),
    }
}

/// What clap made of argv.
pub(crate) enum Parsed {
    /// The options and operands.
    Matches(ArgMatches),
    /// `--help` or `--version`: the text to print.
    Print(String),
}

/// Runs clap's `cmd` on `args`: the matches or the text to print, or why argv is wrong
/// (`missing` says what a missing required argument means for the tool at hand).
pub(crate) fn clap_parse(
    cmd: clap::Command,
    args: &[OsString],
    missing: &str,
) -> Result<Parsed, String> {
    match cmd.try_get_matches_from(args) {
        Ok(m) => Ok(Parsed::Matches(m)),
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                Ok(Parsed::Print(e.render().to_string()))
            }
            _ => Err(reason(&e, missing)),
        },
    }
}

/// The reason, in our words, for a clap error; `missing` says what a missing required
/// argument means for the tool at hand.
fn reason(e: &clap::Error, missing: &str) -> String {
    let ctx = |k| e.get(k).map(|v| v.to_string()).unwrap_or_default();
    match e.kind() {
        ErrorKind::UnknownArgument => {
            let arg = ctx(ContextKind::InvalidArg);
            if arg.starts_with('-') {
                format!("unknown option {arg}")
            } else {
                format!("unexpected argument {arg}")
            }
        }
        ErrorKind::InvalidValue | ErrorKind::NoEquals => {
            format!("option {} needs a value", ctx(ContextKind::InvalidArg))
        }
        ErrorKind::ArgumentConflict => {
            let (arg, prior) = (ctx(ContextKind::InvalidArg), ctx(ContextKind::PriorArg));
            // clap reports a repeated option as a conflict with itself.
            if prior.is_empty() || prior == arg {
                format!("option {arg} given twice")
            } else {
                format!("{arg} does not go with {prior}")
            }
        }
        ErrorKind::MissingRequiredArgument => missing.to_string(),
        _ => e.kind().to_string(),
    }
}

/// A usage error: the mode's usage line and what was wrong.
fn usage(config_mode: bool, why: &str) -> Fatal {
    let line = if config_mode { USAGE_CONFIG } else { USAGE_ENV };
    Fatal::Usage(format!("{line} ({why})"))
}

fn get<'a, T: Clone + Send + Sync + 'static>(m: &'a ArgMatches, id: &str) -> Option<&'a T> {
    m.get_one::<T>(id)
}

/// Parses argv (including the program name) into a [`Command`].
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Fatal> {
    let args: Vec<OsString> = args.into_iter().collect();
    let config_mode = args
        .iter()
        .skip(1)
        .any(|a| a == "-c" || a.as_encoded_bytes().starts_with(b"--config"));
    let m = match clap_parse(
        command(),
        &args,
        "--check, -v, --json, --prune, --replace-all and --allow-insecure-config go with -c file",
    )
    .map_err(|why| usage(config_mode, &why))?
    {
        Parsed::Matches(m) => m,
        Parsed::Print(text) => return Ok(Command::Print(text)),
    };
    let timeout_ms = timeout_ms(&m).map_err(|why| usage(config_mode, &why))?;
    let socket = get::<PathBuf>(&m, "socket").cloned();
    match get::<PathBuf>(&m, "config") {
        Some(file) => Ok(Command::Config(ConfigOptions {
            file: file.clone(),
            socket,
            timeout_ms,
            check: m.get_flag("check"),
            verbose: m.get_flag("verbose"),
            json: m.get_flag("json"),
            prune: m.get_flag("prune"),
            replace_all: m.get_flag("replace-all"),
            allow_insecure_config: m.get_flag("allow-insecure-config"),
        })),
        None => {
            let socket = socket.ok_or_else(|| usage(false, "no socket given"))?;
            Ok(Command::Env(EnvOptions { socket, timeout_ms }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, String> {
        let mut v = vec![OsString::from(PROG)];
        v.extend(args.iter().map(OsString::from));
        parse(v).map_err(|e| e.to_string())
    }

    #[test]
    fn env_mode() {
        assert_eq!(
            p(&["-t", "0500", "/s"]),
            Ok(Command::Env(EnvOptions {
                socket: "/s".into(),
                timeout_ms: 500
            }))
        );
        assert_eq!(
            p(&["-t500", "/s"]),
            Ok(Command::Env(EnvOptions {
                socket: "/s".into(),
                timeout_ms: 500
            }))
        );
        assert_eq!(
            p(&["/s"]),
            Ok(Command::Env(EnvOptions {
                socket: "/s".into(),
                timeout_ms: 0
            }))
        );
    }

    #[test]
    fn usage_errors() {
        for (args, why) in [
            (&[][..], "no socket given"),
            (
                &["-t", "abc", "/s"][..],
                "-t takes a number of milliseconds, not \"abc\"",
            ),
            (&["-t", "-5", "/s"][..], "unknown option -5"),
            (&["-x", "/s"][..], "unknown option -x"),
            (&["-t"][..], "needs a value"),
            (&["/s", "extra"][..], "unexpected argument extra"),
        ] {
            let e = p(args).unwrap_err();
            assert!(e.starts_with(USAGE_ENV), "{args:?}: {e}");
            assert!(e.contains(why), "{args:?}: {e}");
        }
        let e = p(&["--check", "/s"]).unwrap_err();
        assert!(e.starts_with(USAGE_ENV), "{e}");
        let e = p(&["-c", "f.toml", "-t", "x"]).unwrap_err();
        assert!(e.starts_with(USAGE_CONFIG), "{e}");
    }

    #[test]
    fn config_mode() {
        assert_eq!(
            p(&["-v", "--check", "--config", "f.toml"]),
            Ok(Command::Config(ConfigOptions {
                file: "f.toml".into(),
                socket: None,
                timeout_ms: 0,
                check: true,
                verbose: true,
                json: false,
                prune: false,
                replace_all: false,
                allow_insecure_config: false,
            }))
        );
        let Ok(Command::Config(o)) = p(&["--json", "--prune", "-c", "f.toml", "/s"]) else {
            panic!()
        };
        assert!(o.json && o.prune && !o.replace_all && !o.check);
        let e = p(&["--prune", "--replace-all", "-c", "f.toml"]).unwrap_err();
        assert!(e.contains("does not go with"), "{e}");
        let e = p(&["--json", "/s"]).unwrap_err();
        assert!(e.starts_with(USAGE_ENV), "{e}");
    }

    #[test]
    fn help_is_printed() {
        assert!(matches!(p(&["--help"]), Ok(Command::Print(_))));
        assert!(matches!(p(&["--version"]), Ok(Command::Print(_))));
    }
}
