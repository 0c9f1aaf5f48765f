//! Config mode: a TOML file declares the fds; they are opened all or none and set into the
//! daemon in one setdump.
//!
//! The pipeline, in the order [`run`] goes through it, one module per stage:
//! 1. [`load`]: the file read ([`load::trust`]), parsed with spans ([`load::parse`]) and
//!    validated ([`load::validate`]) into the [`model`] types. Every config error is found
//!    here, located by [`diag`]; nothing is created, opened or sent for a bad file.
//! 2. [`plan`]: one item per fd, every limit counted from one `now`.
//! 3. The daemon asked what it holds ([`apply::ask`]: getdump, or list), before anything
//!    is created, so an unreachable daemon costs nothing. (With the socket on the command
//!    line the getdump is sent before stage 1 and its answer read here.)
//! 4. [`reconcile`]: each id new, the same, changed or extra ([`reconcile::compare`] reads
//!    a held fd back), and what to do with it. `--check` stops here and prints
//!    ([`render`]).
//! 5. [`open`]: what is to be opened, all or none, undone on failure; a stop signal
//!    ([`interrupt`]) undoes it too.
//! 6. [`apply`]: the setdump, the prune in it.
//! 7. [`render`]: the `--json` document, `-v`'s summary.

pub mod apply;
pub mod diag;
pub mod fixup;
pub mod interrupt;
pub mod load;
pub mod model;
pub mod open;
pub mod plan;
pub mod reconcile;
pub mod render;
pub mod rules;

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::fatal::{Fatal, Outcome};
use crate::names::SETDUMP as PROG;
use crate::text::warn;
use fdholder::Deadline;
use fdholder::error::strerror;
use fdholder::held::{Holdings, Pending};
use fdholder::{Client, HeldFd};

use crate::config::interrupt::Interrupt;
use crate::config::model::Config;
use crate::config::open::Leftover;
use crate::config::plan::{Plan, kind_name};
use crate::config::reconcile::Report;
use crate::text::one_line;

/// What config mode needs from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigOptions {
    /// The TOML file.
    pub file: PathBuf,
    /// The daemon's socket from the command line; wins over the file's `fdholder`.
    pub socket: Option<PathBuf>,
    /// `-t`, in milliseconds; 0 for none.
    pub timeout_ms: u32,
    /// `--check`: validate and print the plan, touch nothing.
    pub check: bool,
    /// `-v`: report each fd opened.
    pub verbose: bool,
    /// `--json`: print the plan or the result as one JSON document.
    pub json: bool,
    /// `--prune`: delete the ids the daemon holds and the file does not declare.
    pub prune: bool,
    /// `--replace-all`: open and set every fd, compared or not.
    pub replace_all: bool,
    /// `--allow-insecure-config`: take, as root, a config file others could have written.
    pub allow_insecure_config: bool,
    /// `--exit-code`: end with [`Outcome::Changed`] or [`Outcome::Unchanged`].
    pub exit_code: bool,
    /// `--force`: with `--replace-all`, replace held pipes both of whose ends are held.
    pub force: bool,
}

impl ConfigOptions {
    /// A plain run of `file`: no socket on the command line, no timeout, no option set.
    pub fn new(file: PathBuf) -> ConfigOptions {
        ConfigOptions {
            file,
            socket: None,
            timeout_ms: 0,
            check: false,
            verbose: false,
            json: false,
            prune: false,
            replace_all: false,
            allow_insecure_config: false,
            exit_code: false,
            force: false,
        }
    }
}

/// How a run that succeeded ends: with `--exit-code`, whether `report` changes (or, a plan,
/// would change) what the daemon holds.
fn outcome(opts: &ConfigOptions, report: &Report) -> Outcome {
    if !opts.exit_code {
        Outcome::Done
    } else if report.changes() {
        Outcome::Changed
    } else {
        Outcome::Unchanged
    }
}

/// Tells, on stderr, what a failed run could not remove.
fn warn_leftovers(leftovers: &[Leftover]) {
    for l in leftovers {
        let lossy = l.path.to_string_lossy();
        let path = one_line(&lossy);
        match l.errno {
            Some(errno) => eprintln!(
                "{PROG}: warning: unable to remove {path}: {}",
                strerror(errno)
            ),
            None => eprintln!(
                "{PROG}: warning: {path} is no longer the file this run made: it is left alone"
            ),
        }
    }
}

/// Raises the soft limit on open fds to the hard one: a run may hold a copy of every fd
/// the daemon holds (getdump) while it opens as many new ones. Best effort: a run that
/// needs fewer does not care.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Writes `text` to stdout; a closed stdout leaves nothing useful to do about it.
/// Buffered in large blocks: stdout flushes at every newline, and a plan of 50 000 fds is
/// 50 000 lines, which were as many `write(2)` calls.
fn print(text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let _ = text(&mut out).and_then(|()| out.flush());
}

/// Prints the report of `config` and `plan` as JSON.
fn print_json(report: &mut Report, config: &Config, plan: &Plan) -> Result<(), Fatal> {
    let json = render::to_json(report, config, plan)
        .map_err(|e| Fatal::Write(fdholder::error::io_errno(&e.into())))?;
    print(|out| out.write_all(json.as_bytes()));
    Ok(())
}

/// Says on stderr, with `-v`, what was done, on one line whatever the ids and paths hold.
fn info(opts: &ConfigOptions, what: impl std::fmt::Display) {
    if opts.verbose {
        eprintln!("{PROG}: info: {}", one_line(&what.to_string()));
    }
}

/// Does what `report` decided: opens the entries to open, sends them, the held fds to set
/// again and the ids to prune (with a limit past) in one setdump, undoing the opening if
/// it fails. `dump` is the getdump the report was made from, if any. What was opened (the
/// fds sent, whose copies the daemon now holds, and the records of what was made on disk)
/// is left to the process's exit, as [`run`] is the last thing a process does.
fn carry_out(
    opts: &ConfigOptions,
    config: &Config,
    plan: &Plan,
    report: &Report,
    client: &mut Client,
    dump: &[HeldFd],
    locate: &dyn Fn(diag::Diag) -> diag::Located,
) -> Result<(), Fatal> {
    let sel = apply::select(config, plan, report);
    // Fixes in place first, each undone if the run fails before the daemon has answered.
    let fixed = fixup::fix_all(config, plan, report, dump).map_err(|d| Fatal::Open(locate(d)))?;
    for (item, ..) in report.to_fix() {
        info(
            opts,
            format_args!("fixed {} in place", plan.items[item].id(config)),
        );
    }
    // From here until the daemon has answered, a stop signal undoes the run instead of
    // ending it halfway; without a signalfd, signals act as they always have.
    let interrupt = Interrupt::block().ok();
    let stop = || interrupt.as_ref().and_then(Interrupt::pending);
    let mut opened_one = |item: &plan::Item| {
        if opts.verbose {
            let e = &sel.config.entries[item.entry];
            let what = format!("{} {}", kind_name(&e.spec, item.end), e.address());
            info(
                opts,
                format_args!("opened {} ({what})", item.id(&sel.config)),
            );
        }
        match interrupt.as_ref().and_then(Interrupt::now_and_then) {
            Some(signal) => Err(format!(
                "interrupted by {signal} after opening this entry; everything this run \
                 opened and created is undone"
            )),
            None => Ok(()),
        }
    };
    let opened = open::open_all(
        &sel.config,
        &sel.plan,
        &report.replaceable(sel.items()),
        &mut opened_one,
    )
    .map_err(|f| {
        warn_leftovers(&f.leftovers);
        Fatal::Open(locate(f.diag))
    });
    let mut opened = match opened {
        Ok(opened) => opened,
        Err(e) => {
            fixed.undo();
            return Err(e);
        }
    };
    if let Some(signal) = stop() {
        warn_leftovers(&opened.rollback(&sel.config, &sel.plan, 0));
        fixed.undo();
        return Err(Fatal::Signalled(signal));
    }
    let watch = interrupt.as_ref().and_then(|i| i.watch().ok());
    client.connection().set_interrupt(watch);
    if let Err(e) = apply::apply(client, config, plan, &sel, &opened, report, dump) {
        // The daemon keeps what it acknowledged: only the rest is undone.
        let keep = e.committed.min(sel.plan.items.len());
        warn_leftovers(&opened.rollback(&sel.config, &sel.plan, keep));
        // Nothing committed: the fixes are undone too. Part of the dump committed: the
        // daemon holds part of the run, and the fixes stay with it.
        if e.committed == 0 {
            fixed.undo();
        }
        return Err(Fatal::Setdump(e));
    }
    for (item, _) in report.limits_to_set() {
        info(
            opts,
            format_args!(
                "set {} again, with its new limit",
                plan.items[item].id(config)
            ),
        );
    }
    warn_leftovers(&opened.drop_asides());
    let sent = opened
        .finish(&sel.config, &sel.plan)
        .map_err(|d| Fatal::Open(locate(d)))?;
    // The pruned ids went in the setdump, with a limit past: the daemon has closed them,
    // or does at its next idle turn.
    for id in report.to_delete() {
        info(opts, format_args!("deleted {id}"));
    }
    leave_to_exit(sent);
    Ok(())
}

/// `--check`: warns, when the daemon's rules can be read ([`rules`]), of each declared id
/// this client could not delete or retrieve once set.
fn warn_refused_ids(socket: &std::path::Path, config: &Config, plan: &Plan) {
    let Some(r) = rules::read(socket) else {
        return;
    };
    let matcher = r.matcher();
    for item in &plan.items {
        let id = item.id(config);
        let refused = rules::refused(&matcher, id);
        if !refused.is_empty() {
            warn(
                PROG,
                format_args!(
                    "the daemon's rules ({}) would not let this client {} {} once set",
                    one_line(&r.dir.to_string_lossy()),
                    refused.join(" or "),
                    one_line(id)
                ),
            );
        }
    }
}

/// Runs config mode, as the last thing a process does: on success, the memory of the
/// file read and the fds sent are left to the process's end.
pub fn run(opts: &ConfigOptions) -> Result<Outcome, Fatal> {
    let now = SystemTime::now();
    // With the socket on the command line, the getdump is sent before the file is read, so
    // that the daemon prepares its answer meanwhile (a round trip costs ~0.5 ms here); what
    // fails of it is told only after the file is found valid.
    let early = opts
        .socket
        .as_deref()
        .map(|s| Pending::start(s, Deadline::from_millis(opts.timeout_ms)));
    let (places, config) = load::read(&opts.file, opts.allow_insecure_config, now)?;
    let name = opts.file.display().to_string();
    let locate = |d: diag::Diag| d.locate_entry(&name, &places);
    let plan = plan::plan(&config, now);
    let socket = match apply::daemon_socket(
        opts.socket.as_deref(),
        config.fdholder.as_deref(),
        &opts.file,
    ) {
        Ok(socket) => socket,
        // No daemon to compare with: the plan alone.
        Err(_) if opts.check => {
            // The plain plan needs no report: only --json and --exit-code read one.
            let mut report = (opts.json || opts.exit_code).then(|| {
                let mut report = Report::new(&config, &plan, None, None);
                report.decide(&plan, opts.replace_all, opts.prune);
                report
            });
            match &mut report {
                Some(report) if opts.json => print_json(report, &config, &plan)?,
                _ => print(|out| render::write_plan(out, &config, &plan)),
            }
            let done = report.as_ref().map_or(Outcome::Done, |r| outcome(opts, r));
            leave_to_exit((places, config, plan, report));
            return Ok(done);
        }
        Err(no_socket) => return Err(no_socket),
    };
    let deadline = Deadline::from_millis(opts.timeout_ms);
    raise_fd_limit();
    let asked = early.unwrap_or_else(|| Pending::start(&socket, deadline));
    let (mut client, holdings) = apply::ask(asked, deadline, opts.replace_all)?;
    if let Some(Holdings::Ids(_, why)) = &holdings {
        warn(PROG, format_args!("{why}: comparing ids only, from list"));
    }
    let mut report = Report::new(&config, &plan, Some(&socket), holdings.as_ref());
    report.decide(&plan, opts.replace_all, opts.prune);
    if opts.replace_all
        && !opts.force
        && let Some((read, write)) = report
            .held_pipes_to_replace(&config, &plan)
            .into_iter()
            .next()
    {
        return Err(Fatal::HeldPipe(read, write));
    }
    if opts.check {
        warn_refused_ids(&socket, &config, &plan);
        if opts.json {
            print_json(&mut report, &config, &plan)?;
        } else {
            print(|out| render::write_states(out, &report, &config, &plan));
        }
        return Ok(outcome(opts, &report));
    }
    let dump = match &holdings {
        Some(Holdings::Dump(dump)) => &dump[..],
        _ => &[],
    };
    carry_out(opts, &config, &plan, &report, &mut client, dump, &locate)?;
    report.applied();
    info(opts, render::summary(&report));
    if opts.json {
        print_json(&mut report, &config, &plan)?;
    }
    let done = outcome(opts, &report);
    leave_to_exit((places, config, plan, report));
    Ok(done)
}

/// Leaves what a finished run holds to the process's exit, which [`run`] comes right
/// before: freeing the file, the entries, the plan and the report a string at a time was a
/// tenth of a large run's own work, and closing the fds sent (the daemon holds its own
/// copies) a tenth of its system time; the exit does both at once.
fn leave_to_exit<T>(held: T) {
    std::mem::forget(held);
}
