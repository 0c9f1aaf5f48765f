//! `s6-fdholder-setdump`: parse the command line, run the mode, map the error to an exit code.
//!
//! The entry point is the C runtime's `main`, not std's (`#![no_main]`). The tool runs once
//! per dump and its run is mostly start-up; std's own set-up before `fn main` (the main
//! thread's stack guard, found by reading /proc/self/maps, a signal stack and handlers for
//! stack overflows) cost ~100 µs of a ~700 µs start on the benchmark machine (bench/run.sh):
//! with it the tool was no faster than the C one for one fd. What of that set-up matters
//! here is done by [`fdtools::sys::prepare_process`] and, before anything is printed,
//! [`fdtools::sys::ignore_sigpipe`]; the arguments are read from the
//! `argv` the C runtime passes, and stdout is flushed before returning, as std would at exit.
#![no_main]

use std::ffi::{OsString, c_char, c_int};
use std::io::Write;

use fdtools::cli::setdump::{self as cli, Command};
use fdtools::fatal::Outcome;
use fdtools::names::SETDUMP;

// SAFETY: the binary's only `main` symbol, the one the C runtime calls; under `#![no_main]`
// std defines none.
#[unsafe(no_mangle)]
extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    fdtools::sys::prepare_process();
    // SAFETY: the C runtime hands `main` argc valid strings in argv, and nothing changes them.
    let args = unsafe { fdtools::sys::args_from_c(argc, argv) };
    let code = run(args);
    // Nothing useful to do if stdout is gone.
    let _ = std::io::stdout().flush();
    code.into()
}

fn run(args: Vec<OsString>) -> u8 {
    let result = match cli::parse(args) {
        // Env mode prints only when it fails: SIGPIPE is ignored then (below).
        Ok(Command::Env(opts)) => fdtools::env_mode::run(&opts).map(|()| Outcome::Done),
        Ok(Command::Config(opts)) => {
            fdtools::sys::ignore_sigpipe();
            fdtools::config::run(&opts)
        }
        Ok(Command::Print(text)) => {
            fdtools::sys::ignore_sigpipe();
            // Nothing useful to do if stdout is gone.
            let _ = std::io::stdout().write_all(text.as_bytes());
            Ok(Outcome::Done)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => {
            fdtools::sys::ignore_sigpipe();
            e.report(SETDUMP)
        }
    }
}
