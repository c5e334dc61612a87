//! The common crate of the bulk user API, in layers; each folder is one, and a module
//! imports only from the layers below its own (checked by `tests/layers.rs`):
//!
//! - [`http`]: what an HTTP endpoint does with a request — one pipeline (deadline, admin
//!   check, body, `Idempotency-Key`, the service, the summary log line, the answer), the
//!   request bodies, content negotiation and the three answer dialects clients parse.
//! - [`service`]: what happens to a request — upsert, removal (delete, soft delete,
//!   restore), filter delete, the scheduled clean-up and its purge.
//! - [`store`]: everything DynamoDB — keys, records, batched reads, conditional
//!   transactions, finds, idempotency records, request counting.
//! - [`domain`]: the user and its parts, parsing into them, per-item outcomes, filters.
//!
//! Beside them, used by every layer: [`config`] (read once at cold start), [`deadline`]
//! (the invocation's time budget) and [`auth`] (token verification); [`app`] is what a
//! function builds once from them (configuration, store, call counter, metrics sink);
//! [`metrics`] writes each invocation's CloudWatch metrics.

pub mod app;
pub mod auth;
pub mod config;
pub mod deadline;
pub mod domain;
#[cfg(test)]
mod hostile_input;
pub mod http;
pub mod metrics;
pub mod service;
pub mod store;
#[cfg(test)]
mod testing;
