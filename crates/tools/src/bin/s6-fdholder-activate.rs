//! `s6-fdholder-activate`: parse the command line, retrieve and exec, or map the error to an
//! exit code. It returns only when it could not exec.

use std::io::Write;
use std::process::ExitCode;

use fdtools::cli::activate::{self as cli, ActivateCommand};
use fdtools::names::ACTIVATE;

fn main() -> ExitCode {
    let result = match cli::parse(std::env::args_os()) {
        Ok(ActivateCommand::Run(opts)) => fdtools::activate::run(&opts).map(|never| match never {}),
        Ok(ActivateCommand::Print(text)) => {
            // Nothing useful to do if stdout is gone.
            let _ = std::io::stdout().write_all(text.as_bytes());
            Ok(())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(e.report(ACTIVATE)),
    }
}
