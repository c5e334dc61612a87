//! `make bench`: the functions measured as real processes against DynamoDB Local.
//!
//! Each function's release binary runs under a minimal Lambda Runtime API hosted by the
//! bench ([`runtime_api`], [`process::FunctionProcess`]) and is invoked with API Gateway
//! HTTP API events ([`event`]) or, for the scheduled clean-up, its rule input; every
//! invocation is measured the same way ([`invoke`]). Every pass is compared, in the same
//! run, with a floor: the same DynamoDB work done directly with the SDK from the bench
//! process ([`floor`], [`floor_ops`]).
//!
//! The passes are data ([`scenario`]): a function, its users ([`fixtures`]), how it is
//! called and what it must answer ([`calls`]), its floors and the read-backs after it.
//! One runner ([`runner`]) runs them all and fills the [`report`]; the `usersync` client
//! is measured through an HTTP gateway of the bench ([`sync`]); several `upsert-users`
//! processes fed at once show where DynamoDB Local becomes the limit ([`scaling`]).

pub mod calls;
pub mod contract;
pub mod error;
pub mod event;
pub mod fixtures;
pub mod floor;
pub mod floor_ops;
pub mod invoke;
pub mod process;
pub mod report;
pub mod runner;
pub mod runtime_api;
pub mod scaling;
pub mod scenario;
pub mod stats;
pub mod sync;
