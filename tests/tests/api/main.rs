//! Integration tests: handlers called in-process against DynamoDB Local, a fresh table
//! per test. Run through `make test`, which starts DynamoDB Local.

mod cleanup;
mod conditional;
mod delete;
mod dry_run;
mod filter_delete;
mod hostile_input;
mod iam;
mod idempotency;
mod metrics;
mod namesakes;
mod outage;
mod read;
mod scim;
mod soft_delete;
mod upsert_apply;
mod upsert_contract;
mod upsert_cost;
mod upsert_faults;
mod upsert_identifiers;
