//! Import of systemd socket units: a `.socket` file to the config-mode TOML that opens the
//! same sockets and FIFOs, with a warning for every directive that cannot be carried over.

use std::fmt;

/// Why a unit cannot be converted at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitError(pub String);

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Prints the TOML for `unit` on stdout, and the warnings on stderr.
pub fn run(unit: &std::path::Path) -> Result<(), crate::error::Fatal> {
    Err(crate::error::Fatal::Unit(UnitError(format!(
        "{}: not yet",
        unit.display()
    ))))
}
