//! A client for s6's fd-holder daemon, `s6-fdholderd`.
//!
//! # The wire, in brief
//! Client and daemon exchange skalibs "unixmessage" frames over a Unix stream socket: a
//! 4-byte big-endian payload length, a 2-byte fd count, the payload, and the fds as
//! `SCM_RIGHTS` on the header's `sendmsg` ([`frame`]). A [`conn::Connection`] carries frames
//! under one [`conn::Deadline`]; [`proto::Client`] speaks the operations (store, delete,
//! retrieve, list, getdump, setdump). Deadlines are TAI64N ([`tai64n::Tain`]). [`held`]
//! says what a daemon holds, falling back from getdump to list; [`envdump`] reads and
//! writes the environment form of a dump (`S6_FD#`, ...).
//!
//! # Example
//! ```no_run
//! use std::os::fd::AsFd;
//! use std::time::Duration;
//!
//! use fdholder::{Client, Deadline, DumpEntry, Tain};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // One deadline covers the connect and every request on the connection.
//!     let deadline = Deadline::after(Duration::from_secs(5));
//!     let mut client = Client::connect("/run/fdholder/s".as_ref(), deadline)?;
//!
//!     // Store one fd for an hour.
//!     let (r, _w) = std::io::pipe()?;
//!     let in_an_hour = Tain::now().add_nanos(3_600_000_000_000);
//!     client.store(r.as_fd(), b"pipe:example", in_an_hour)?;
//!
//!     // Everything the daemon holds, each fd a copy of the daemon's.
//!     let held = client.getdump()?;
//!     for fd in &held {
//!         println!("{} until {}", String::from_utf8_lossy(&fd.id), fd.limit);
//!     }
//!
//!     // Hand them back in one setdump (the daemon must not hold the ids any more).
//!     for fd in &held {
//!         client.delete(&fd.id)?;
//!     }
//!     let dump: Vec<DumpEntry<'_>> = held
//!         .iter()
//!         .map(|h| DumpEntry { fd: h.fd.as_fd(), id: &h.id, limit: h.limit })
//!         .collect();
//!     client.setdump(&dump)?;
//!     Ok(())
//! }
//! ```
//!
//! Errors ([`error::Error`], [`error::SetdumpError`]) say what happened and how far a
//! setdump got; they carry no exit code. The daemon's own defects that this library works
//! around are in the repository's `docs/PROTOCOL.md`.

pub mod conn;
pub mod envdump;
pub mod error;
pub mod frame;
pub mod held;
pub mod proto;
mod sys;
pub mod tai64n;

pub use conn::{Connection, Deadline};
pub use error::{Error, Op, SetdumpError};
pub use proto::{Client, DumpEntry, HeldFd};
pub use tai64n::Tain;
