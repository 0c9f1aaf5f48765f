//! Import of systemd socket units: `s6-fdholder-inspect --from-systemd UNIT.socket` prints
//! the config-mode TOML that opens the same sockets and FIFOs, and a warning on stderr for
//! every line it cannot carry over; the TOML stays valid whatever was left out.
//!
//! Three layers, each testable alone: [`mod@unit`] reads the file syntax, [`values`] reads
//! directive values as systemd does, [`convert`] maps directives to config-mode keys.
//! Drop-in directories (`UNIT.socket.d/*.conf`) are not read. The service the socket
//! activates, when its unit is beside it, is read too ([`service`]): what
//! `s6-fdholder-activate` does of it is said in warnings.

pub mod convert;
pub mod error;
pub mod service;
pub mod specifiers;
pub mod unit;
pub mod values;

pub use self::error::UnitError;

use std::path::Path;

use crate::fatal::Fatal;
use crate::inspect::print;
use crate::names::INSPECT as PROG;
use crate::text::warn;
use fdholder::error::io_errno;

/// Reads and converts the unit at `path`, a template's with `instance`: the TOML (`None`
/// when nothing can be carried over), and the warnings as stderr lines (`PATH:LINE: ...`).
pub fn convert_file(
    path: &Path,
    instance: Option<&str>,
) -> Result<(Option<String>, Vec<String>), Fatal> {
    let spec = specifiers::Specifiers::new(path, instance)
        .map_err(|e| Fatal::Unit(UnitError::Instance(path.to_path_buf(), e)))?;
    let bytes = std::fs::read(path).map_err(|e| Fatal::Read(path.to_path_buf(), io_errno(&e)))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Fatal::Unit(UnitError::NotUtf8(path.to_path_buf(), line))
    })?;
    let name = path
        .file_name()
        .map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy());
    let parsed = unit::parse(&text);
    let done = convert::convert_with(&parsed, &name, &spec).map_err(|e| {
        Fatal::Unit(match e {
            convert::ConvertError::Specifier(line, why) => {
                UnitError::Specifier(path.to_path_buf(), line, why)
            }
            convert::ConvertError::Toml(e) => UnitError::Toml(e.to_string()),
        })
    })?;
    let mut warnings: Vec<String> = done
        .warnings
        .iter()
        .map(|w| format!("{}:{}: {}", path.display(), w.line, w.message))
        .collect();
    // The service beside the socket unit, if it is there and readable as text.
    if let Some(service) = service::service_name(&parsed, &name) {
        let service_path = path.with_file_name(&service);
        if let Some(text) = std::fs::read(&service_path)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        {
            for (line, note) in service::notes(&unit::parse(&text), &service) {
                warnings.push(format!("{}:{line}: {note}", service_path.display()));
            }
        }
    }
    Ok((done.toml, warnings))
}

/// Runs `--from-systemd`, with `--instance` for a template: the warnings on stderr, then
/// the TOML on stdout.
pub fn run(path: &Path, instance: Option<&str>) -> Result<(), Fatal> {
    let (toml, warnings) = convert_file(path, instance)?;
    for w in &warnings {
        warn(PROG, w);
    }
    match toml {
        Some(toml) => print(&toml),
        None => Err(Fatal::Unit(UnitError::Nothing(path.to_path_buf()))),
    }
}
