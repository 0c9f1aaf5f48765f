//! The inspect tool, `s6-fdholder-inspect`: the `ss` of an fd-holder. It shows what a
//! daemon holds, one row per fd, from a getdump whose fds it describes with
//! [`crate::fdinfo`]; and it converts systemd socket units ([`crate::systemd`]).
//!
//! When getdump cannot be had, the ids from list still answer "what is held"
//! ([`fdholder::held::fetch`]); the tool then says so on stderr.

pub mod report;
pub mod toml;

use std::io::Write;
use std::path::PathBuf;

use crate::fatal::Fatal;
use crate::names::INSPECT as PROG;
use crate::text::warn;
use fdholder::Deadline;
use fdholder::Tain;
use fdholder::error::{io_errno, strerror};
use fdholder::held::{self, Holdings};
use report::{Report, show_id};

/// What inspecting a daemon needs from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InspectOptions {
    /// The daemon's socket.
    pub socket: PathBuf,
    /// `-t`, in milliseconds; 0 for none.
    pub timeout_ms: u32,
    /// `--json`: one JSON document instead of the table.
    pub json: bool,
    /// `--toml`: a config file that recreates what the daemon holds.
    pub toml: bool,
}

/// The failure to write the output.
fn write_error(e: std::io::Error) -> Fatal {
    Fatal::Write(io_errno(&e))
}

/// Writes `text` to stdout.
pub fn print(text: &str) -> Result<(), Fatal> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(write_error)
}

/// Runs the inspect tool against a daemon.
pub fn run(opts: &InspectOptions) -> Result<(), Fatal> {
    let report = match held::fetch(&opts.socket, Deadline::from_millis(opts.timeout_ms))
        .map_err(|e| Fatal::fetch(&opts.socket, e))?
        .1
    {
        Holdings::Dump(dump) if opts.toml => return print(&toml::snapshot(&dump, Tain::now())),
        Holdings::Ids(ids, why) if opts.toml => {
            warn(PROG, format_args!("{why}: only ids are known, from list"));
            return print(&toml::ids_only(&ids, &why.to_string()));
        }
        Holdings::Dump(dump) => {
            let (report, failed) = Report::from_dump(&dump, Tain::now());
            for f in failed {
                warn(
                    PROG,
                    format_args!(
                        "unable to describe the fd held as {}: {}",
                        show_id(&f.id),
                        strerror(f.errno)
                    ),
                );
            }
            report
        }
        Holdings::Ids(ids, why) => {
            warn(PROG, format_args!("{why}: showing ids only, from list"));
            Report::from_ids(&ids)
        }
    };
    if opts.json {
        print(&report.to_json().map_err(|e| write_error(e.into()))?)
    } else {
        print(&report.to_table())
    }
}
