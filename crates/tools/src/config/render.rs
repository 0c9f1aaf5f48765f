//! What config mode prints: the plan (`--check` without a daemon), the plan against the
//! daemon, the `--json` document and `-v`'s summary, from the decisions already made in
//! [`crate::config::plan`] and [`crate::config::reconcile`]; nothing here decides.

use std::fmt;
use std::io::{self, Write};

use crate::config::model::Config;
use crate::config::plan::{Item, Plan, kind_name};
use crate::config::reconcile::{Report, State};
use crate::expiry;
use crate::text::{fds, field, show_id};

/// An item's plan line, without its end of line: tab-separated, the id, the kind, the
/// address, the expiry (RFC 3339 UTC, or `never`) and the TAI64N limit. Ids and paths may
/// hold any character but NUL: theirs are escaped ([`field`]) so that the line is one line
/// of five fields.
pub fn plan_line(config: &Config, plan: &Plan, item: &Item) -> String {
    PlanLine { config, plan, item }.to_string()
}

/// [`plan_line`], written where it is displayed: [`write_plan`] writes each line straight
/// into its buffer, not into a string of its own first.
struct PlanLine<'a> {
    config: &'a Config,
    plan: &'a Plan,
    item: &'a Item,
}

impl fmt::Display for PlanLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (plan, item) = (self.plan, self.item);
        let e = &self.config.entries[item.entry];
        let limit = plan.limit(e);
        write!(
            f,
            "{}\t{}\t{}\t{}\t{}",
            field(item.id(self.config)),
            kind_name(&e.spec, item.end),
            field(&e.address()),
            crate::expiry::show(limit, plan.now),
            limit
        )
    }
}

/// Writes the plan as `--check` prints it: per fd, tab-separated, the id, the kind, the
/// address, the expiry in UTC (RFC 3339, or `never`) and the TAI64N limit.
pub fn write_plan(out: &mut (impl Write + ?Sized), config: &Config, plan: &Plan) -> io::Result<()> {
    for item in &plan.items {
        writeln!(out, "{}", PlanLine { config, plan, item })?;
    }
    Ok(())
}

/// Writes the plan against the daemon, one line per id, fields separated by tabs: the
/// sign, then the plan line (id, kind, address, expiry, TAI64N limit), then for a
/// changed id `differs: ...`; an extra id shows what the daemon holds, or only its id.
pub fn write_states(
    out: &mut (impl Write + ?Sized),
    report: &Report,
    config: &Config,
    plan: &Plan,
) -> io::Result<()> {
    for row in &report.fds {
        let sign = row.state.map_or('?', State::sign);
        write!(out, "{sign}\t")?;
        match (row.item(), row.kind(), row.address(), row.held_limit()) {
            (Some(item), ..) => {
                let item = &plan.items[item];
                write!(out, "{}", PlanLine { config, plan, item })?;
            }
            (None, Some(kind), Some(address), Some(limit)) => write!(
                out,
                "{}\t{kind}\t{address}\t{}\t{limit}",
                show_id(row.raw_id(config, plan)),
                expiry::show(limit, plan.now)
            )?,
            _ => write!(out, "{}", show_id(row.raw_id(config, plan)))?,
        }
        if let Some(fix) = row.fix() {
            write!(out, "\t{fix}")?;
        }
        if !row.differs().is_empty() {
            let d: Vec<String> = row.differs().iter().map(ToString::to_string).collect();
            write!(out, "\tdiffers: {}", d.join("; "))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The JSON document of the report of `config` and `plan`, pretty-printed, with a final
/// newline.
pub fn to_json(
    report: &mut Report,
    config: &Config,
    plan: &Plan,
) -> Result<String, serde_json::Error> {
    report.fill_addresses(config, plan);
    serde_json::to_string_pretty(report).map(|mut s| {
        s.push('\n');
        s
    })
}

/// One line that says what a run did.
pub fn summary(report: &Report) -> String {
    let t = &report.totals;
    let kept = match t.extra - t.deleted {
        0 => String::new(),
        n => format!("; {n} held but not in the file, kept (--prune deletes them)"),
    };
    if t.set == 0 && t.deleted == 0 && t.fixed == 0 {
        return format!("nothing to do: {} held as declared{kept}", fds(t.same));
    }
    if t.fixed > 0 {
        return format!(
            "set {} ({} new, {} changed), fixed {} in place, deleted {}, {} held as \
             declared{kept}",
            fds(t.set),
            t.new,
            t.changed - t.fixed,
            fds(t.fixed),
            t.deleted,
            t.same
        );
    }
    if t.replaced > 0 {
        // `--replace-all`: the `=` ids it set again were replaced, not left alone.
        return format!(
            "set {} ({} new, {} changed, {} replaced though held as declared), deleted {}, \
             {} left as declared{kept}",
            fds(t.set),
            t.new,
            t.changed,
            t.replaced,
            t.deleted,
            t.same - t.replaced
        );
    }
    format!(
        "set {} ({} new, {} changed), deleted {}, {} held as declared{kept}",
        fds(t.set),
        t.new,
        t.changed,
        t.deleted,
        t.same
    )
}
