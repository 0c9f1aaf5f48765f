//! A client for s6's fd-holder daemon, `s6-fdholderd`, and the `s6-fdholder-setdump` tool
//! built on it.
//!
//! # The wire, in brief
//! Client and daemon exchange skalibs "unixmessage" frames over a Unix stream socket: a
//! 4-byte big-endian payload length, a 2-byte fd count, the payload, and the fds as
//! `SCM_RIGHTS` on the header's `sendmsg` ([`frame`]). A [`conn::Connection`] carries frames
//! under one [`conn::Deadline`]; [`proto::Client`] speaks the operations (store, delete,
//! retrieve, list, getdump, setdump). Deadlines are TAI64N ([`tai64n::Tain`]).
//!
//! # The two modes of the tool
//! [`env`] reads the fds a parent passed and `s6-fdholder-getdump`'s variables, as the C
//! tool does. [`config`] opens the sockets, FIFOs, files and pipes a TOML file declares, all
//! or none, and hands them over in one setdump.
//!
//! # Exit codes of the tool
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the daemon refused: an errno reply, or a connection closed before any reply |
//! | 100 | bad command line, environment or configuration |
//! | 111 | a system call failed: connect, open, timeout, connection lost after a reply |
//!
//! [`error::Fatal::exit_code`] is where they are decided.

pub mod cli;
pub mod config;
pub mod conn;
pub mod env;
pub mod error;
pub mod expiry;
pub mod fdinfo;
pub mod frame;
pub mod held;
pub mod inspect;
pub mod proto;
mod sys;
pub mod systemd;
pub mod tai64n;

pub use conn::{Connection, Deadline};
pub use error::{Error, Fatal, Op};
pub use proto::{Client, DumpEntry, HeldFd};
pub use sys::{inherited_fd, prepare_process};
pub use tai64n::Tain;
