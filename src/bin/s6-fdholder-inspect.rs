//! `s6-fdholder-inspect`: parse the command line, run the form asked for, map the error to an
//! exit code.

use std::process::ExitCode;

use fdholder::inspect::cli::{self, InspectCommand, PROG};

fn main() -> ExitCode {
    let result = match cli::parse(std::env::args_os()) {
        Ok(InspectCommand::Inspect(opts)) => fdholder::inspect::run(&opts),
        Ok(InspectCommand::FromSystemd(unit)) => fdholder::systemd::run(&unit),
        Ok(InspectCommand::Print(text)) => fdholder::inspect::print(&text),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(e.report(PROG)),
    }
}
