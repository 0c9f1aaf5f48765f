//! The integration tests: one binary, one module per purpose. Every test that talks to a
//! daemon starts its own real `s6-fdholderd` (Debian's `s6`) in a temporary directory.

mod activate;
mod addresses;
mod ansible;
mod common;
mod config_faults;
mod config_mode;
mod config_security;
mod contract;
mod converge;
mod docs;
mod env_cases;
mod env_mode;
mod fake_server;
mod faults;
mod hardening;
mod inplace;
mod inspect;
mod library;
mod notify;
mod props;
mod prune;
mod schemas;
mod snapshot;
mod snapshots;
mod socket_options;
mod systemd_import;
mod systemd_meaning;
