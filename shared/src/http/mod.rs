//! The HTTP side of the functions: requests in, answers out, in each endpoint's dialect.

pub mod body;
pub mod cursor;
pub mod dialect;
pub mod error;
pub mod idempotency;
pub mod negotiate;
pub mod pipeline;
pub mod query;
pub mod scim;
pub mod web;
