//! The common crate of the bulk user API: domain types, request parsing, per-item
//! outcomes and answer dialects, auth, configuration and the DynamoDB store, plus the
//! services (what happens to a request) that the thin functions in `functions/` call.

pub mod app;
pub mod auth;
pub mod cleanup;
pub mod config;
pub mod deadline;
pub mod delete;
pub mod dialect;
pub mod domain;
pub mod error;
pub mod filter;
pub mod filter_delete;
#[cfg(test)]
mod hostile_input;
pub mod idempotency;
pub mod json;
pub mod metrics;
pub mod outcome;
pub mod restore_request;
mod state;
pub mod store;
pub mod upsert;
pub mod web;
