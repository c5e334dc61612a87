//! `make bench`: the functions measured as real processes against DynamoDB Local.
//!
//! Each function's release binary runs under a minimal Lambda Runtime API hosted by the
//! bench ([`runtime_api`], [`process::FunctionProcess`]) and is invoked with API Gateway
//! HTTP API events ([`event`]). Every pass is compared, in the same run, with a floor:
//! the same DynamoDB work done directly with the SDK from the bench process ([`floor`]).
//! A scenario module per function ([`upsert`]) builds the requests, checks every answer
//! and fills [`report::PassResult`]s.
//!
//! Adding a function (bulk delete, a scheduled clean-up, ...) means a module like
//! [`upsert`]: its events, its answer check, its floor, and a few lines in `main.rs`.

pub mod event;
pub mod floor;
pub mod process;
pub mod report;
pub mod runtime_api;
pub mod stats;
pub mod upsert;
