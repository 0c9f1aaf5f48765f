//! The s6-fdholder tools, on the [`fdholder`] protocol library: `s6-fdholder-setdump` (env
//! mode and config mode) and `s6-fdholder-inspect`. The binaries in `src/bin/` are thin:
//! parse the command line ([`cli`]), run a mode, end with [`fatal::Fatal`]'s exit code.
//!
//! Layers, each importing only those below it:
//! 1. [`names`], [`text`], [`sys`], [`expiry`], [`fdinfo`], [`inetdiag`]: vocabulary and the system calls
//!    std lacks.
//! 2. [`config::diag`] and [`systemd::unit`](mod@systemd::unit) (located messages, the unit parser), then
//!    [`fatal`]: every way a tool can end, and its exit code.
//! 3. The modes: [`env_mode`], [`config`], [`inspect`], [`systemd`].
//! 4. [`cli`]: argv to a command, for the binaries.

pub mod cli;
pub mod config;
pub mod env_mode;
pub mod expiry;
pub mod fatal;
pub mod fdinfo;
pub mod inetdiag;
pub mod inspect;
pub mod names;
pub mod sys;
pub mod systemd;
pub mod text;
