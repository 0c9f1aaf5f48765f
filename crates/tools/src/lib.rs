//! The s6-fdholder tools, on the [`fdholder`] protocol library: `s6-fdholder-setdump` (env
//! mode and config mode), `s6-fdholder-inspect` and `s6-fdholder-activate`. The binaries in
//! `src/bin/` are thin: parse the command line ([`cli`]), run a mode, end with
//! [`fatal::Fatal`]'s exit code.
//!
//! Layers, each importing only those below it:
//! 1. [`names`], [`text`], [`sys`], [`expiry`], [`sockdiag`], [`fdinfo`], [`inetdiag`],
//!    [`fdname`]: vocabulary and the system calls std lacks.
//! 2. [`config::diag`] and [`systemd::error`] (located messages, a unit that cannot be
//!    converted), then [`fatal`]: every way a tool can end, and its exit code.
//! 3. The modes: [`env_mode`], [`config`], [`inspect`], [`systemd`]; then [`notify`] and
//!    [`activate`], which reads config files through [`config::load::read_config`].
//! 4. [`cli`]: argv to a command, for the binaries.

pub mod activate;
pub mod cli;
pub mod config;
pub mod env_mode;
pub mod expiry;
pub mod fatal;
pub mod fdinfo;
pub mod fdname;
pub mod inetdiag;
pub mod inspect;
pub mod names;
pub mod notify;
pub mod sockdiag;
pub mod sys;
pub mod systemd;
pub mod text;
