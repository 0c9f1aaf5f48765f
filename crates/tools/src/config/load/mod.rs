//! Stage 1 of config mode: from the file to a validated
//! [`Config`], or the first error, located at
//! `file:line:col`. [`trust`] reads the file (refusing, as root, one that others could have
//! written), [`parse`] makes raw structs with spans, [`validate`] makes the
//! [`crate::config::model`] types.

pub mod parse;
pub mod scope;
pub mod trust;
pub mod validate;

use std::path::Path;
use std::time::SystemTime;

use crate::config::model::Config;
use crate::fatal::Fatal;

/// Reads and validates `file` as config mode does (trust checks unless `allow_insecure`),
/// for the tools that only read a config file (s6-fdholder-activate).
pub fn read_config(file: &Path, allow_insecure: bool) -> Result<Config, Fatal> {
    let strict = !allow_insecure && nix::unistd::geteuid().is_root();
    let text = trust::read(file, strict)?;
    let name = file.display().to_string();
    parse::parse_str(&text)
        .and_then(|raw| validate::validate(&raw, SystemTime::now()))
        .map_err(|d| Fatal::Config(d.locate(&name, &text)))
}
