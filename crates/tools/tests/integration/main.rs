//! The integration tests: one binary, one module per purpose. Every test that talks to a
//! daemon starts its own real `s6-fdholderd` (Debian's `s6`) in a temporary directory.

mod common;
mod config_faults;
mod config_mode;
mod config_security;
mod converge;
mod docs;
mod env_cases;
mod env_mode;
mod fake_server;
mod faults;
mod inspect;
mod library;
mod props;
mod socket_options;
mod systemd_import;
mod systemd_meaning;
