//! Config mode: a TOML file declares the fds; they are opened all or none and set into the
//! daemon in one setdump.
//!
//! The pipeline, one module per stage: [`parse`] (text to raw structs with spans),
//! [`validate`] (raw to typed specs; every config error is found here), [`plan`] (one item
//! per fd, limits from one `now`), [`converge`] (the plan against what the daemon holds,
//! read back by [`compare`]: which ids are new, the same, changed or extra, and what to do
//! with each), [`open`] (all or none, with rollback), [`apply`] (the setdump). [`diag`]
//! locates messages in the file. Nothing is created, opened or sent for a bad file, and an
//! unreachable daemon is found before anything is created.

pub mod apply;
pub mod compare;
pub mod converge;
pub mod diag;
pub mod interrupt;
pub mod open;
pub mod parse;
pub mod plan;
pub mod trust;
pub mod validate;

use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::fatal::Fatal;
use crate::names::SETDUMP as PROG;
use crate::text::warn;
use fdholder::Deadline;
use fdholder::error::strerror;
use fdholder::held::Holdings;
use fdholder::{Client, HeldFd};

use self::converge::Report;
use self::interrupt::Interrupt;
use self::open::Leftover;
use self::plan::{Plan, address, kind_name};
use self::validate::Config;
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
}

/// Tells, on stderr, what a failed run could not remove.
fn warn_leftovers(leftovers: &[Leftover]) {
    for l in leftovers {
        eprintln!(
            "{PROG}: warning: unable to remove {}: {}",
            one_line(&l.path.to_string_lossy()),
            strerror(l.errno)
        );
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
fn print(text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) {
    let mut out = std::io::stdout().lock();
    let _ = text(&mut out).and_then(|()| out.flush());
}

/// Prints the report as JSON.
fn print_json(report: &Report) -> Result<(), Fatal> {
    let json = report
        .to_json()
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

/// Does what `report` decided: opens the entries to open, sends them and the held fds to
/// set again in one setdump (undoing the opening if it fails), then deletes the ids to
/// prune. `dump` is the getdump the report was made from, if any.
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
    // From here until the daemon has answered, a stop signal undoes the run instead of
    // ending it halfway; without a signalfd, signals act as they always have.
    let interrupt = Interrupt::block().ok();
    let stop = || interrupt.as_ref().and_then(Interrupt::pending);
    let mut opened_one = |item: &plan::Item| {
        let e = &sel.config.entries[item.entry];
        let what = format!("{} {}", kind_name(&e.spec, item.end), address(e));
        info(opts, format_args!("opened {} ({what})", item.id));
        match interrupt.as_ref().and_then(Interrupt::now_and_then) {
            Some(signal) => Err(format!(
                "interrupted by {signal} after opening this entry; everything this run \
                 opened and created is undone"
            )),
            None => Ok(()),
        }
    };
    let mut opened = open::open_all(
        &sel.config,
        &sel.plan,
        &report.replaceable(),
        &mut opened_one,
    )
    .map_err(|f| {
        warn_leftovers(&f.leftovers);
        Fatal::Open(locate(f.diag))
    })?;
    if let Some(signal) = stop() {
        warn_leftovers(&opened.rollback(0));
        return Err(Fatal::Interrupted(signal));
    }
    let watch = interrupt.as_ref().and_then(|i| i.watch().ok());
    client.connection().set_interrupt(watch);
    if let Err(e) = apply::apply(client, config, plan, &sel, &opened, report, dump) {
        // The daemon keeps what it acknowledged: only the rest is undone.
        warn_leftovers(&opened.rollback(e.committed.min(sel.items.len())));
        return Err(Fatal::Setdump(e));
    }
    for (item, _) in report.limits_to_set() {
        info(
            opts,
            format_args!("set {} again, with its new limit", plan.items[item].id),
        );
    }
    warn_leftovers(&opened.drop_asides());
    opened
        .finish(&sel.config, &sel.plan)
        .map_err(|d| Fatal::Open(locate(d)))?;
    for (id, raw) in report.to_delete() {
        client
            .delete(raw)
            .map_err(|e| Fatal::Prune(id.to_string(), e))?;
        info(opts, format_args!("deleted {id}"));
    }
    Ok(())
}

/// Reads and validates `file` as config mode does (trust checks unless
/// `allow_insecure`), for the tools that only read a config file (s6-fdholder-activate).
pub fn load(file: &std::path::Path, allow_insecure: bool) -> Result<Config, Fatal> {
    let strict = !allow_insecure && nix::unistd::geteuid().is_root();
    let text = trust::read(file, strict)?;
    let name = file.display().to_string();
    parse::parse_str(&text)
        .and_then(|raw| validate::validate(&raw, SystemTime::now()))
        .map_err(|d| Fatal::Config(d.locate(&name, &text)))
}

/// Runs config mode.
pub fn run(opts: &ConfigOptions) -> Result<(), Fatal> {
    let now = SystemTime::now();
    let strict = !opts.allow_insecure_config && nix::unistd::geteuid().is_root();
    let text = trust::read(&opts.file, strict)?;
    let raw = parse::parse_str(&text);
    let name = opts.file.display().to_string();
    let locate = |d: diag::Diag| d.locate(&name, &text);
    let config = raw
        .and_then(|raw| validate::validate(&raw, now))
        .map_err(|d| Fatal::Config(locate(d)))?;
    let plan = plan::plan(&config, now);
    let socket = match apply::daemon_socket(
        opts.socket.as_deref(),
        config.fdholder.as_deref(),
        &opts.file,
    ) {
        Ok(socket) => socket,
        // No daemon to compare with: the plan alone.
        Err(_) if opts.check => {
            if opts.json {
                let mut report = Report::new(&config, &plan, None, None);
                report.decide(&plan, opts.replace_all, opts.prune);
                return print_json(&report);
            }
            print(|out| plan::write_plan(out, &config, &plan));
            return Ok(());
        }
        Err(no_socket) => return Err(no_socket),
    };
    let deadline = Deadline::from_millis(opts.timeout_ms);
    raise_fd_limit();
    let (mut client, holdings) = apply::ask(&socket, deadline, opts.replace_all)?;
    if let Some(Holdings::Ids(_, why)) = &holdings {
        warn(PROG, format_args!("{why}: comparing ids only, from list"));
    }
    let mut report = Report::new(&config, &plan, Some(&socket), holdings.as_ref());
    report.decide(&plan, opts.replace_all, opts.prune);
    if opts.check {
        if opts.json {
            return print_json(&report);
        }
        print(|out| report.write_states(out, &config, &plan));
        return Ok(());
    }
    let dump = match &holdings {
        Some(Holdings::Dump(dump)) => &dump[..],
        _ => &[],
    };
    carry_out(opts, &config, &plan, &report, &mut client, dump, &locate)?;
    report.applied();
    info(opts, report.summary());
    if opts.json {
        print_json(&report)?;
    }
    Ok(())
}
