//! Config mode: a TOML file declares the fds; they are opened all or none and set into the
//! daemon in one setdump.
//!
//! The pipeline, one module per stage: [`parse`] (text to raw structs with spans),
//! [`validate`] (raw to typed specs; every config error is found here), [`plan`] (one item
//! per fd, limits from one `now`), [`open`] (all or none, with rollback), [`apply`] (the
//! setdump). [`diag`] locates messages in the file. Nothing is created, opened or sent for a
//! bad file, and an unreachable daemon is found before anything is created.

pub mod apply;
pub mod compare;
pub mod diag;
pub mod open;
pub mod parse;
pub mod plan;
pub mod validate;

use std::io::Write;
use std::time::SystemTime;

use nix::errno::Errno;

use crate::cli::{ConfigOptions, PROG};
use crate::conn::Deadline;
use crate::error::{Fatal, strerror};
use crate::proto::Client;

use self::open::Leftover;
use self::plan::{address, kind_name};

/// Tells, on stderr, what a failed run could not remove.
fn warn_leftovers(leftovers: &[Leftover]) {
    for l in leftovers {
        eprintln!(
            "{PROG}: warning: unable to remove {}: {}",
            l.path.display(),
            strerror(l.errno)
        );
    }
}

/// Runs config mode.
pub fn run(opts: &ConfigOptions) -> Result<(), Fatal> {
    let now = SystemTime::now();
    let (text, raw) = parse::parse(&opts.file).map_err(|e| {
        // The only error without an errno is text that is not UTF-8.
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EILSEQ as i32));
        Fatal::Read(opts.file.clone(), errno)
    })?;
    let name = opts.file.display().to_string();
    let locate = |d: diag::Diag| d.locate(&name, &text);
    let config = raw
        .and_then(|raw| validate::validate(&raw, now))
        .map_err(|d| Fatal::Config(locate(d)))?;
    let plan = plan::plan(&config, now);
    if opts.check {
        let mut out = std::io::stdout().lock();
        // A closed stdout leaves nothing useful to do about it.
        let _ = plan::write_plan(&mut out, &config, &plan).and_then(|()| out.flush());
        return Ok(());
    }
    let socket = apply::daemon_socket(
        opts.socket.as_deref(),
        config.fdholder.as_deref(),
        &opts.file,
    )?;
    let deadline = Deadline::from_millis(opts.timeout_ms);
    let mut client =
        Client::connect(&socket, deadline).map_err(|e| Fatal::Connect(socket.clone(), e))?;
    let mut report = |item: &plan::Item| {
        if opts.verbose {
            let e = &config.entries[item.entry];
            eprintln!(
                "{PROG}: info: opened {} ({} {})",
                item.id,
                kind_name(&e.spec, item.end),
                address(e)
            );
        }
    };
    let opened = open::open_all(&config, &plan, &mut report).map_err(|f| {
        warn_leftovers(&f.leftovers);
        Fatal::Open(locate(f.diag))
    })?;
    match apply::apply(&mut client, &plan, &opened) {
        Ok(()) => opened
            .finish(&config, &plan)
            .map_err(|d| Fatal::Open(locate(d))),
        Err(e) => {
            // The daemon keeps what it acknowledged: only the rest is undone.
            warn_leftovers(&opened.rollback(e.committed));
            Err(Fatal::Setdump(e))
        }
    }
}
