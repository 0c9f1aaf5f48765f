//! What `--replace-all` must not do unasked: swap a new pipe in for one the daemon holds
//! both ends of. Such a pipe is usually a running pipeline's (s6-rc holds a producer's and
//! a consumer's ends under `pipe:s6rc-r-NAME` and `pipe:s6rc-w-NAME`); a new one would
//! give the consumer, at its next restart, another pipe than the one the producer writes
//! to. `--force` is the second time of asking.

use super::{Field, Report, State};
use crate::config::model::Config;
use crate::config::model::FdSpec;
use crate::config::plan::Plan;

impl Report {
    /// The (read id, write id) of every pipe entry whose two ends the daemon holds as one
    /// pipe (or, when only list answered, holds both ids of), and which a run would open
    /// again.
    pub fn held_pipes_to_replace(&self, config: &Config, plan: &Plan) -> Vec<(String, String)> {
        let held = |r: usize| {
            let row = &self.fds[r];
            matches!(row.state, Some(State::Same | State::Changed))
                && !row.differs().iter().any(|d| d.what == Field::Pipe)
                && row.action == super::Action::OpenAndSet
        };
        plan.items
            .windows(2)
            .enumerate()
            .filter(|(_, pair)| {
                pair[0].entry == pair[1].entry
                    && matches!(config.entries[pair[0].entry].spec, FdSpec::Pipe { .. })
            })
            .filter(|&(r, _)| held(r) && held(r + 1))
            .map(|(_, pair)| {
                (
                    pair[0].id(config).to_string(),
                    pair[1].id(config).to_string(),
                )
            })
            .collect()
    }
}
