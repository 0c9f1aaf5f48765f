//! `s6-fdholder-setdump`: parse the command line, run the mode, map the error to an exit code.

use std::io::Write;
use std::process::ExitCode;

use fdholder::cli::{self, Command, PROG};

fn main() -> ExitCode {
    let result = match cli::parse(std::env::args_os()) {
        Ok(Command::Env(opts)) => fdholder::env::run(&opts),
        Ok(Command::Config(opts)) => fdholder::config::run(&opts),
        Ok(Command::Print(text)) => {
            // Nothing useful to do if stdout is gone.
            let _ = std::io::stdout().write_all(text.as_bytes());
            Ok(())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(e.report(PROG)),
    }
}
