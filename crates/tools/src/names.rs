//! The tools' names and usage lines, which messages at every layer print.

/// `s6-fdholder-setdump`'s name, as it prefixes every message.
pub const SETDUMP: &str = "s6-fdholder-setdump";
/// Env mode's usage, exactly the C tool's.
pub const USAGE_ENV: &str = "s6-fdholder-setdump [ -t timeout ] socket";
/// Config mode's usage.
pub const USAGE_CONFIG: &str = "s6-fdholder-setdump [ -t timeout ] [ -v ] [ --check ] [ --json ] \
     [ --prune | --replace-all [ --force ] ] [ --exit-code ] [ --allow-insecure-config ] -c file \
     [ socket ]";

/// `s6-fdholder-inspect`'s name, as it prefixes every message.
pub const INSPECT: &str = "s6-fdholder-inspect";
/// The usage of the inspect tool's daemon form.
pub const USAGE_INSPECT: &str = "s6-fdholder-inspect [ -t timeout ] [ --json | --toml ] socket";
/// The usage of the systemd import.
pub const USAGE_SYSTEMD: &str =
    "s6-fdholder-inspect --from-systemd unit.socket [ --instance NAME ]";

/// `s6-fdholder-activate`'s name, as it prefixes every message.
pub const ACTIVATE: &str = "s6-fdholder-activate";
/// The usage of the activation tool with ids on the command line.
pub const USAGE_ACTIVATE: &str = "s6-fdholder-activate [ -t timeout ] [ -D ] [ -N ] [ -k fd ] \
     [ -3 notif ] [ -s prefix [ -m max ] ] [ -n names ] socket [ id... ] -- prog...";
/// The usage of the activation tool with ids and names from a config file.
pub const USAGE_ACTIVATE_CONFIG: &str = "s6-fdholder-activate [ -t timeout ] [ -D ] [ -N ] \
     [ -k fd ] [ -3 notif ] [ -s prefix [ -m max ] ] -c file -e entry [ -e entry... ] \
     [ socket ] -- prog...";
