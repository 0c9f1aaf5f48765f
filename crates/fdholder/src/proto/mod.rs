//! The s6-fdholderd operations, one file each, on a [`Client`] connection.
//!
//! Each operation packs its request (a pure function, tested on bytes), sends it, and checks
//! the reply's shape strictly before it maps the daemon's errno, as s6's own client does.

mod client;
mod delete;
mod getdump;
mod list;
mod retrieve;
mod setdump;
mod store;

pub use client::{Client, DumpEntry, HeldFd, MAX_ID_LEN, check_id};
pub use delete::encode_delete;
pub use getdump::encode_getdump;
pub use list::encode_list;
pub use retrieve::encode_retrieve;
pub use setdump::{
    distinct_limits, distinct_limits_beside, encode_setdump_batch, encode_setdump_start,
};
pub use store::encode_store;
