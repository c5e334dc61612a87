//! Why a run stops. Any of these aborts the bench with a non-zero exit: figures from a
//! function that answered wrongly, crashed or left the tables in another state than its
//! floor would compare different work. A missed target is not an error; the report
//! says so.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt::Write as _;

use crate::contract::{FilterError, StoreError};

/// An error kept whole as the source of a [`BenchError`] (the SDK's, the Runtime API's).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A failure of the bench. Displays without its source; [`chain`] gives the whole story.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The command line or the environment does not say how to run.
    #[error("{0}")]
    Usage(String),
    /// A file, a directory or a `/proc` entry could not be read or written.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A `/proc` entry did not hold the field the bench reads from it.
    #[error("{path}: no {field}")]
    Proc { path: String, field: &'static str },
    /// A DynamoDB request failed or could not be built (the SDK's error is the source).
    #[error("{operation}")]
    Dynamo {
        operation: String,
        #[source]
        source: BoxError,
    },
    /// A table could not be created from template.yaml, or DynamoDB Local not reached.
    #[error("{what}")]
    Setup {
        what: String,
        #[source]
        source: devctl::DevError,
    },
    /// A user item did not encode or decode as `UserRecord`.
    #[error("{what}")]
    Record {
        what: String,
        #[source]
        source: StoreError,
    },
    /// The filter of a filter-delete pass does not parse (the function would refuse it).
    #[error("filter {query}")]
    Filter {
        query: String,
        #[source]
        source: FilterError,
    },
    /// The local Runtime API could not listen.
    #[error("runtime API")]
    RuntimeApi(#[source] BoxError),
    /// A function process failed: it could not start, exited, reported an init or
    /// invocation error, or was not ready or did not answer in time.
    #[error("function {function} (pid {pid}): {what}\n--- last log lines ---\n{log_tail}")]
    Process {
        function: String,
        pid: u32,
        what: String,
        log_tail: String,
    },
    /// A function posted a response that is not JSON.
    #[error("{function}: response is not JSON: {body}")]
    NotJson {
        function: String,
        body: String,
        #[source]
        source: serde_json::Error,
    },
    /// The function answered, but not what the pass requires of it.
    #[error("{function} {pass}, {scenario}")]
    Answer {
        function: &'static str,
        pass: &'static str,
        scenario: String,
        #[source]
        wrong: Box<WrongAnswer>,
    },
    /// The function printed no summary line with its DynamoDB requests for an invocation.
    #[error("{function}: {what}")]
    Log { function: String, what: String },
    /// A floor, or a table read back after a pass, is not as the pass must leave it.
    #[error("{pass}")]
    Check {
        pass: String,
        #[source]
        failure: Box<CheckFailure>,
    },
    /// The scenario data, or the bench itself, is inconsistent.
    #[error("{0}")]
    Scenario(String),
}

impl BenchError {
    /// A failed DynamoDB request, its SDK error kept as the source.
    pub fn dynamo(operation: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Dynamo {
            operation: operation.into(),
            source: source.into(),
        }
    }

    /// A failed read or write of `what` (a path).
    pub fn io(what: impl std::fmt::Display, source: std::io::Error) -> Self {
        Self::Io {
            what: what.to_string(),
            source,
        }
    }

    /// A floor or a read-back of `pass` found the tables not as the pass leaves them.
    pub fn check(pass: impl Into<String>, failure: CheckFailure) -> Self {
        Self::Check {
            pass: pass.into(),
            failure: Box::new(failure),
        }
    }

    /// A user item that is not a `UserRecord`.
    pub fn record(what: impl Into<String>, source: StoreError) -> Self {
        Self::Record {
            what: what.into(),
            source,
        }
    }
}

/// What is wrong with a function's answer.
#[derive(Debug, thiserror::Error)]
pub enum WrongAnswer {
    /// Not the document the endpoint answers (no status, no body, no result list, ...).
    #[error("{0}")]
    Malformed(String),
    /// The HTTP body is not JSON.
    #[error("body is not JSON: {body}")]
    BodyNotJson {
        body: String,
        #[source]
        source: serde_json::Error,
    },
    /// Another status than the pass requires.
    #[error("HTTP {status} {body}")]
    Status { status: u16, body: String },
    /// Not one result per item sent.
    #[error("{answered} results for {sent} items")]
    Count { answered: usize, sent: usize },
    /// Some items did not answer what the pass requires.
    #[error(
        "{wrong} of {sent} items did not answer `{expected}` (by extended_info: {by_info:?}); first: {first}"
    )]
    Items {
        wrong: usize,
        sent: usize,
        expected: &'static str,
        by_info: BTreeMap<String, usize>,
        first: String,
    },
    /// The summary of a soft delete, a filter delete or a purge says something else
    /// than the pass requires.
    #[error("{0}")]
    Summary(String),
    /// A filter delete answered a user that is not among those the filter matches, or
    /// one it had deleted already.
    #[error("deleted {id}, {why}")]
    Stray {
        id: String,
        /// `which does not match` or `deleted twice`.
        why: &'static str,
    },
    /// A filter delete or a purge still had work left after the most invocations allowed.
    #[error("still `remaining` after {0} invocations")]
    Unfinished(usize),
    /// The invocations of a filter delete or a purge handled another number of users.
    #[error("{handled} users {verb} in {invocations} invocations, expected {expected}")]
    Total {
        verb: &'static str,
        handled: usize,
        invocations: usize,
        expected: usize,
    },
}

/// What a floor or a read-back found.
#[derive(Debug, thiserror::Error)]
pub enum CheckFailure {
    /// Users present that must be gone, or missing that must be there.
    #[error("{found} of {of} users found in {table}, expected {}", if *all { "all" } else { "none" })]
    Found {
        table: String,
        found: usize,
        of: usize,
        /// Whether all were expected (else none).
        all: bool,
    },
    /// A floor's reads found another number of users than the pass leaves there.
    #[error("{found} of {of} users found, expected {expected}")]
    FloorFound {
        found: usize,
        of: usize,
        expected: usize,
    },
    /// A card claim left in place names someone else than its deleted user.
    #[error("claim {claim} in {table} names {owner:?}, not its deleted user")]
    Claim {
        claim: String,
        table: String,
        owner: Option<String>,
    },
    /// A user is not soft-deleted as the function does it.
    #[error("{user} in {table} is {record}")]
    NotSoftDeleted {
        user: String,
        table: String,
        record: String,
    },
    /// An item the check reads is not there.
    #[error("{pk} is not in {table}")]
    Missing { pk: String, table: String },
    /// What the bench seeds differs from what `upsert-users` writes.
    #[error(
        "the bench seeds the {what} unlike upsert-users: {seeded} against the function's {written}"
    )]
    Seed {
        what: &'static str,
        seeded: String,
        written: String,
    },
}

/// The error and each of its sources, `: `-separated (what `bench failed:` prints).
pub fn chain(e: &dyn StdError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(text, ": {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_the_pass_then_what_was_wrong() {
        let e = BenchError::check(
            "hard delete, floor DeleteItem per user",
            CheckFailure::Found {
                table: "t".into(),
                found: 3,
                of: 10,
                all: false,
            },
        );
        assert_eq!(
            chain(&e),
            "hard delete, floor DeleteItem per user: 3 of 10 users found in t, expected none"
        );
    }
}
