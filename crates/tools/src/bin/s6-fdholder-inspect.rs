//! `s6-fdholder-inspect`: parse the command line, run the form asked for, map the error to an
//! exit code.

use std::process::ExitCode;

use fdtools::cli::inspect::{self as cli, InspectCommand};
use fdtools::names::INSPECT;

fn main() -> ExitCode {
    let result = match cli::parse(std::env::args_os()) {
        Ok(InspectCommand::Inspect(opts)) => fdtools::inspect::run(&opts),
        Ok(InspectCommand::FromSystemd(unit, instance)) => {
            fdtools::systemd::run(&unit, instance.as_deref())
        }
        Ok(InspectCommand::Print(text)) => fdtools::inspect::print(&text),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(e.report(INSPECT)),
    }
}
