//! Config mode: a TOML file declares the fds; they are opened all or none and set into the
//! daemon in one setdump.

use crate::cli::ConfigOptions;
use crate::error::Fatal;

/// Runs config mode.
pub fn run(_opts: &ConfigOptions) -> Result<(), Fatal> {
    Err(Fatal::Usage("config mode is not built yet".into()))
}
