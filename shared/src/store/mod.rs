//! How users are stored: one DynamoDB table, batched and conditional access.
//!
//! Key design (single table, partition key `pk` only; see `docs/storage.md`):
//!
//! | item | `pk` | purpose |
//! | --- | --- | --- |
//! | user | `USER#<link_id>` | the user record ([`records::UserRecord`]) |
//! | name registry | `NAME#<name>` | the live users carrying a name: name matching and `has_dublicates` |
//! | identifier claim | `IDENT#<kind>#<number>` | one owner per card/PIN number (uniqueness) |
//! | time profile | `TIMEPROFILE#<id>` | existence check for `time_profile_id` |
//! | idempotency record | `IDEMPOTENCY#<operation>#<digest>` | a request's `Idempotency-Key` and its answer |
//! | clean-up progress | `PROGRESS#<filter digest>` | where a saved filter delete's scan stopped, for the next run |
//!
//! Secondary indexes: `email-index` (`email`) for filters by e-mail, and the sparse
//! `deleted-index` (`del_shard` + `deleted_at`) holding only soft-deleted users, for the
//! scheduled clean-up.
//!
//! Nothing above this layer sees the SDK, a key format or a raw item: reads are typed
//! ([`read`], [`find`]), writes are described as units ([`units`]) and conditions as
//! expressions of placeholders ([`expression`]).

pub mod actions;
pub mod batch;
pub mod calls;
mod dry;
pub mod expression;
pub mod find;
pub mod idempotency;
pub mod keys;
pub mod progress;
pub mod read;
pub mod records;
pub mod token;
pub mod tx;
pub mod units;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use crate::deadline::Deadline;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The table and the client, shared by every request of a warm function.
#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
    concurrency: usize,
    /// How long transactions have recently taken (shared by the invocations of a warm
    /// function).
    tx_latency: Arc<Latency>,
    /// A dry run's writes, kept instead of sent (see [`dry`]); `None`: a real store.
    dry: Option<Arc<dry::Overlay>>,
}

impl Store {
    /// A store on `table`, keeping at most `concurrency` DynamoDB requests in flight per
    /// operation (DynamoDB Local and small on-demand tables throttle beyond a few dozen).
    pub fn new(client: Client, table: impl Into<String>, concurrency: usize) -> Self {
        Self {
            client,
            table: table.into(),
            concurrency: concurrency.max(1),
            tx_latency: Arc::default(),
            dry: None,
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The in-flight request bound.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }
}

/// A moving average of how long a kind of request takes to be answered (answers only:
/// requests that timed out are not samples).
///
/// A write that cannot be answered before the deadline should not be sent: the function
/// would answer without knowing its fate, and DynamoDB may apply it afterwards. Writes
/// are therefore started only while the time left exceeds the recent latency.
#[derive(Debug, Default)]
pub(crate) struct Latency {
    /// Exponentially weighted moving average in microseconds (weight 1/8 per sample);
    /// 0 until the first sample.
    micros: AtomicU64,
}

impl Latency {
    /// Adds a sample.
    pub(crate) fn record(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // Concurrent updates may lose a sample; an average does not need every one.
        let old = self.micros.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.micros.store(new, Ordering::Relaxed);
    }

    /// The expected time of the next request.
    pub(crate) fn expected(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::Relaxed))
    }
}

/// A failure of the store that is not an outcome of an item.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A DynamoDB request failed in a way retrying will not fix (missing table, access
    /// denied, validation error).
    #[error("DynamoDB {operation} failed")]
    Request {
        /// The operation.
        operation: &'static str,
        /// The SDK error, kept whole for the logs.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A DynamoDB request had no answer before the deadline (a stalled connection, a
    /// server that does not respond); a write may or may not have been applied.
    #[error("DynamoDB {0} was not answered before the deadline")]
    Unanswered(&'static str),
    /// A stored item does not have the shape this code writes.
    #[error("stored item {pk} could not be read")]
    Corrupt {
        /// The item's key.
        pk: String,
        /// What did not fit.
        #[source]
        source: serde_dynamo::Error,
    },
    /// An item could not be encoded (a bug, never client input).
    #[error("item could not be encoded")]
    Encode(#[source] serde_dynamo::Error),
    /// A request could not be built (a bug, never client input).
    #[error("request could not be built")]
    Build(#[from] aws_sdk_dynamodb::error::BuildError),
}

/// Runs one DynamoDB request — connecting, every attempt and the SDK's own retries — for
/// at most the time left before `deadline`; `None` when it had not finished by then (the
/// request is abandoned). Every request of the store goes through here, so a stalled or
/// restarting DynamoDB can never hold an answer past its deadline. A write abandoned this
/// way may still have been applied: callers treat it as unconfirmed, never as done.
pub(crate) async fn bounded<F: Future>(deadline: &Deadline, request: F) -> Option<F::Output> {
    let left = deadline.remaining();
    if left.is_zero() {
        // Not even started: polled once, a request would already be built and signed.
        return None;
    }
    tokio::time::timeout(left, request).await.ok()
}

/// How an SDK error should be handled by the retry loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Throttling, a server error or a transport failure that outlived the SDK's own
    /// retries: back off and try again while the deadline allows.
    Retryable,
    /// Anything else.
    Fatal,
}

/// Error codes DynamoDB uses for throttling and transient server trouble.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
    "LimitExceededException",
];

pub(crate) fn classify<E, R>(err: &SdkError<E, R>) -> Failure
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Failure::Retryable
        }
        SdkError::ServiceError(e) => match e.err().code() {
            Some(code) if RETRYABLE_CODES.contains(&code) => Failure::Retryable,
            _ => Failure::Fatal,
        },
        _ => Failure::Fatal,
    }
}

pub(crate) fn request_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Request {
        operation,
        source: Box::new(err),
    }
}
