//! `s6-fdholder-setdump`: parse the command line, run the mode, map the error to an exit code.
//!
//! The entry point is the C runtime's `main`, not std's (`#![no_main]`). The tool runs once
//! per dump and its run is mostly start-up; std's own set-up before `fn main` (the main
//! thread's stack guard, found by reading /proc/self/maps, a signal stack and handlers for
//! stack overflows) cost ~100 µs of a ~700 µs start on the benchmark machine (bench/run.sh):
//! with it the tool was no faster than the C one for one fd. What of that set-up matters
//! here is done by [`fdholder::prepare_process`], and stdout is flushed before returning,
//! as std would at exit.
#![no_main]

use std::ffi::{c_char, c_int};
use std::io::Write;

use fdholder::cli::{self, Command, PROG};

// SAFETY: the binary's only `main` symbol, the one the C runtime calls; under `#![no_main]`
// std defines none. std::env::args_os still works: glibc hands argv to std's initialiser.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    fdholder::prepare_process();
    let code = run();
    // Nothing useful to do if stdout is gone.
    let _ = std::io::stdout().flush();
    code.into()
}

fn run() -> u8 {
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
        Ok(()) => 0,
        Err(e) => e.report(PROG),
    }
}
