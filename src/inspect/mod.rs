//! The inspect tool, `s6-fdholder-inspect`: the `ss` of an fd-holder. It shows what a
//! daemon holds, one row per fd, from a getdump whose fds it describes with
//! [`crate::fdinfo`]; and it converts systemd socket units ([`crate::systemd`]).
//!
//! When getdump cannot be had, the ids from list still answer "what is held"
//! ([`crate::held::fetch`]); the tool then says so on stderr.

pub mod cli;
pub mod report;

use std::io::Write;

use crate::conn::Deadline;
use crate::error::{Fatal, io_errno, strerror, warn};
use crate::held::{self, Holdings};
use crate::tai64n::Tain;
use cli::{InspectOptions, PROG};
use report::{Report, show_id};

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
    let report = match held::fetch(&opts.socket, Deadline::from_millis(opts.timeout_ms))?.1 {
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
