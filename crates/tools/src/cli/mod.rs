//! The command lines: argv to a command, with no I/O, for the binaries.
//!
//! clap parses; every error it reports becomes the tool's usage line (exit 100) with the
//! reason appended, whatever clap would print by default. What the tools share is here.

pub mod activate;
pub mod inspect;
pub mod setdump;

use std::ffi::OsString;

use clap::error::{ContextKind, ErrorKind};
use clap::{Arg, ArgMatches};
use fdholder::envdump::scan_u32;

use crate::fatal::Fatal;

/// A usage error: the form's usage line and what was wrong with argv.
pub fn usage_error(line: &str, why: &str) -> Fatal {
    Fatal::Usage(format!("{line} ({why})"))
}

/// `-t timeout`, as every s6-fdholder tool takes it.
pub fn timeout_arg() -> Arg {
    Arg::new("timeout")
        .short('t')
        .value_name("timeout")
        .value_parser(clap::builder::OsStringValueParser::new())
        .help("Give up after this many milliseconds in all (0: never)")
}

/// `-t`'s value in milliseconds, 0 when absent, or why it is not one.
pub fn timeout_ms(m: &ArgMatches) -> Result<u32, String> {
    match m.get_one::<OsString>("timeout") {
        None => Ok(0),
        Some(t) => scan_u32(t.as_encoded_bytes())
            .map_err(|_| format!("-t takes a number of milliseconds, not {t:?}")),
    }
}

/// What clap made of argv.
pub enum Parsed {
    /// The options and operands.
    Matches(ArgMatches),
    /// `--help` or `--version`: the text to print.
    Print(String),
}

/// Runs clap's `cmd` on `args`: the matches or the text to print, or why argv is wrong
/// (`missing` says what a missing required argument means for the tool at hand).
pub fn clap_parse(cmd: clap::Command, args: &[OsString], missing: &str) -> Result<Parsed, String> {
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
