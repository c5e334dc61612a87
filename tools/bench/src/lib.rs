//! `make bench`: the functions measured as real processes against DynamoDB Local.
//!
//! Each function's release binary runs under a minimal Lambda Runtime API hosted by the
//! bench ([`runtime_api`], [`process::FunctionProcess`]) and is invoked with API Gateway
//! HTTP API events ([`event`]) or, for the scheduled clean-up, its rule input; every
//! invocation is measured the same way ([`invoke`]). Every pass is compared, in the same
//! run, with a floor: the same DynamoDB work done directly with the SDK from the bench
//! process ([`floor`]). Scenario modules ([`upsert`]; [`removal`] for the hard, soft and
//! filter deletes and the purge) build the requests, check every answer and fill
//! [`report::PassResult`]s.

pub mod event;
pub mod floor;
pub mod invoke;
pub mod process;
pub mod removal;
pub mod report;
pub mod runtime_api;
pub mod stats;
pub mod upsert;
