//! `s6-fdholder-setdump`'s command line: argv to a [`Command`], with no I/O.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches};

use fdholder::envdump::scan_u32;

use super::{Parsed, clap_parse, timeout_arg, timeout_ms, usage_error};
use crate::config::ConfigOptions;
use crate::env_mode::EnvOptions;
use crate::fatal::Fatal;
use crate::names::{SETDUMP as PROG, USAGE_CONFIG, USAGE_ENV};

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
            Arg::new("force")
                .long("force")
                .action(ArgAction::SetTrue)
                .requires("replace-all")
                .help("With --replace-all, also replace held pipes whose two ends are held"),
        )
        .arg(
            Arg::new("exit-code")
                .long("exit-code")
                .action(ArgAction::SetTrue)
                .requires("config")
                .help("Exit 2 when the daemon's holdings changed (or, with --check, would change), 0 when not"),
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

/// A usage error: the mode's usage line and what was wrong.
fn usage(config_mode: bool, why: &str) -> Fatal {
    usage_error(if config_mode { USAGE_CONFIG } else { USAGE_ENV }, why)
}

fn get<'a, T: Clone + Send + Sync + 'static>(m: &'a ArgMatches, id: &str) -> Option<&'a T> {
    m.get_one::<T>(id)
}

/// Env mode's two usual command lines, `SOCKET` and `-t N SOCKET`, read without clap: env
/// mode runs once per dump and is mostly start-up, and building clap's parser touched more
/// code pages than the rest of a one-fd run (page faults). Anything else, or anything these
/// could get wrong (a value that starts with `-`, an empty one, a bad number), is `None` and
/// goes to clap, whose answer for these two shapes is the same (see the tests).
fn env_fast_path(args: &[OsString]) -> Option<EnvOptions> {
    let plain = |a: &OsString| !a.is_empty() && !a.as_encoded_bytes().starts_with(b"-");
    let (socket, timeout_ms) = match args {
        [_, socket] if plain(socket) => (socket, 0),
        [_, t, ms, socket] if t == "-t" && plain(ms) && plain(socket) => {
            (socket, scan_u32(ms.as_encoded_bytes()).ok()?)
        }
        _ => return None,
    };
    Some(EnvOptions {
        socket: PathBuf::from(socket),
        timeout_ms,
    })
}

/// Config mode's usual command lines, `-c FILE SOCKET`, `-c FILE` and `--check -c FILE`,
/// read without clap for the same reason as [`env_fast_path`]: clap's parser was a quarter
/// of the instructions of a one-socket run. Anything else goes to clap, whose answer for
/// these shapes is the same (see the tests).
fn config_fast_path(args: &[OsString]) -> Option<ConfigOptions> {
    let plain = |a: &OsString| !a.is_empty() && !a.as_encoded_bytes().starts_with(b"-");
    let (check, file, socket) = match args {
        [_, c, file, socket] if c == "-c" && plain(file) && plain(socket) => {
            (false, file, Some(socket))
        }
        [_, c, file] if c == "-c" && plain(file) => (false, file, None),
        [_, check, c, file] if check == "--check" && c == "-c" && plain(file) => (true, file, None),
        _ => return None,
    };
    Some(ConfigOptions {
        socket: socket.map(PathBuf::from),
        check,
        ..ConfigOptions::new(PathBuf::from(file))
    })
}

/// Parses argv (including the program name) into a [`Command`].
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, Fatal> {
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some(opts) = env_fast_path(&args) {
        return Ok(Command::Env(opts));
    }
    if let Some(opts) = config_fast_path(&args) {
        return Ok(Command::Config(opts));
    }
    let config_mode = args
        .iter()
        .skip(1)
        .any(|a| a == "-c" || a.as_encoded_bytes().starts_with(b"--config"));
    let m = match clap_parse(
        command(),
        &args,
        "--check, -v, --json, --prune, --replace-all, --force, --exit-code and \
         --allow-insecure-config go with -c file",
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
            exit_code: m.get_flag("exit-code"),
            force: m.get_flag("force"),
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

    /// The fast path answers exactly as clap does for every command line it takes.
    #[test]
    fn env_fast_path_agrees_with_clap() {
        let shapes: &[&[&str]] = &[
            &["/s"],
            &["s"],
            &["-t", "0500", "/s"],
            &["-t", "0", "/s"],
            &["-t", "4294967295", "/s"],
            &["-t", "4294967296", "/s"],
            &["-t", "12x", "/s"],
            &["-t", "", "/s"],
            &["-t", "-1", "/s"],
            &["-t", "5", "-c"],
            &["-t", "5", "--help"],
            &["-v", "5", "/s"],
            &["-t500", "/s"],
            &["--help"],
            &["-"],
            &[""],
            &["/s", "/t"],
        ];
        for shape in shapes {
            let mut v = vec![OsString::from(PROG)];
            v.extend(shape.iter().map(OsString::from));
            let Some(fast) = env_fast_path(&v) else {
                continue;
            };
            let m = clap_parse(command(), &v, "").expect("clap takes it");
            let Parsed::Matches(m) = m else {
                panic!("{shape:?}: clap prints")
            };
            assert_eq!(get::<PathBuf>(&m, "config"), None, "{shape:?}");
            assert_eq!(
                Some(&fast.socket),
                get::<PathBuf>(&m, "socket"),
                "{shape:?}"
            );
            assert_eq!(Ok(fast.timeout_ms), timeout_ms(&m), "{shape:?}");
        }
    }

    /// The config fast path answers exactly as clap does for every command line it takes.
    #[test]
    fn config_fast_path_agrees_with_clap() {
        let shapes: &[&[&str]] = &[
            &["-c", "f.toml", "/s"],
            &["-c", "f.toml"],
            &["--check", "-c", "f.toml"],
            &["-c", "f.toml", "-v"],
            &["-c", "-v", "/s"],
            &["-c", "", "/s"],
            &["-c", "f", ""],
            &["--check", "-c", "f", "/s"],
            &["-v", "-c", "f"],
            &["-cf", "/s"],
            &["--config", "f", "/s"],
            &["-c", "f", "/s", "/t"],
        ];
        let mut taken = 0;
        for shape in shapes {
            let mut v = vec![OsString::from(PROG)];
            v.extend(shape.iter().map(OsString::from));
            let Some(fast) = config_fast_path(&v) else {
                continue;
            };
            taken += 1;
            let m = clap_parse(command(), &v, "").expect("clap takes it");
            let Parsed::Matches(m) = m else {
                panic!("{shape:?}: clap prints")
            };
            let mut v = vec![
                OsString::from(PROG),
                OsString::from("--allow-insecure-config"),
            ];
            v.extend(shape.iter().map(OsString::from));
            let Ok(Command::Config(slow)) = parse(v) else {
                panic!("{shape:?}: not config mode")
            };
            assert_eq!(Some(&fast.file), get::<PathBuf>(&m, "config"), "{shape:?}");
            assert_eq!(
                ConfigOptions {
                    allow_insecure_config: false,
                    ..slow
                },
                fast,
                "{shape:?}"
            );
        }
        assert_eq!(taken, 3);
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
                check: true,
                verbose: true,
                ..ConfigOptions::new("f.toml".into())
            }))
        );
        let Ok(Command::Config(o)) = p(&["--check", "--exit-code", "-c", "f.toml"]) else {
            panic!()
        };
        assert!(o.exit_code && o.check && !o.force);
        let Ok(Command::Config(o)) = p(&["--replace-all", "--force", "-c", "f.toml"]) else {
            panic!()
        };
        assert!(o.force && o.replace_all);
        let e = p(&["--force", "-c", "f.toml"]).unwrap_err();
        assert!(e.contains("--replace-all"), "{e}");
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
