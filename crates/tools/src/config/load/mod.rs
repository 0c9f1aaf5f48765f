//! Stage 1 of config mode: from the file to a validated
//! [`Config`](crate::config::model::Config), or the first error, located at
//! `file:line:col`. [`trust`] reads the file (refusing, as root, one that others could have
//! written), [`parse`] makes raw structs with spans, [`validate`] makes the
//! [`crate::config::model`] types.

pub mod parse;
pub mod scope;
pub mod trust;
pub mod validate;
