//! One `TransactWriteItems`: identifier claims, name-registry changes and the user write
//! they belong to commit together or not at all, and a lost answer is found out by
//! sending the same transaction again.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::TransactWriteItem;

use super::{Failure, Store, StoreError, bounded, classify, request_error};
use crate::deadline::Deadline;

/// Actions per `TransactWriteItems` (the DynamoDB limit).
pub const TX_LIMIT: usize = 100;

/// Why one action of a cancelled transaction failed, from `CancellationReasons`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// This action was fine; the transaction failed elsewhere.
    None,
    /// Its condition did not hold.
    ConditionFailed,
    /// Another transaction held the item, or throughput was exceeded: try again.
    Transient,
    /// Anything else (validation, size): a bug or a corrupt item.
    Other(String),
}

/// The result of one `TransactWriteItems`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxResult {
    /// Every action applied.
    Committed,
    /// Nothing applied; one reason per action, in order.
    Cancelled(Vec<Reason>),
    /// Throttled, a transient failure, or no answer: nothing applied, or (the answer was
    /// lost) applied without our knowing. Send the same transaction with the same token
    /// again to find out.
    Retry,
}

impl Store {
    /// Whether a transaction sent now is expected to be answered before `deadline`, going
    /// by how long transactions have recently taken.
    pub fn transaction_fits(&self, deadline: &Deadline) -> bool {
        deadline.remaining() > self.tx_latency.expected()
    }

    /// Runs one transaction of at most [`TX_LIMIT`] actions, with the `ClientRequestToken`
    /// `token`: a transaction resent with the same token and the same actions within
    /// DynamoDB's ten-minute window is answered as applied, without applying anything a
    /// second time, if the first one was. A lost answer (a dropped connection, a timed-out
    /// attempt) is therefore [`TxResult::Retry`]: sending the same transaction again tells
    /// the truth either way. Gives up at `deadline` with `Retry`.
    pub async fn transact(
        &self,
        actions: Vec<TransactWriteItem>,
        token: &str,
        deadline: &Deadline,
    ) -> Result<TxResult, StoreError> {
        let n = actions.len();
        let request = self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .client_request_token(token)
            .send();
        let started = std::time::Instant::now();
        let Some(sent) = bounded(deadline, request).await else {
            tracing::warn!(
                actions = n,
                "TransactWriteItems unconfirmed at the deadline"
            );
            return Ok(TxResult::Retry);
        };
        if sent.is_ok() || matches!(&sent, Err(e) if e.as_service_error().is_some()) {
            self.tx_latency.record(started.elapsed());
        }
        match sent {
            Ok(_) => Ok(TxResult::Committed),
            Err(e) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                    e.as_service_error()
                {
                    let mut reasons: Vec<Reason> = c
                        .cancellation_reasons()
                        .iter()
                        .map(|r| match r.code() {
                            None | Some("None") => Reason::None,
                            Some("ConditionalCheckFailed") => Reason::ConditionFailed,
                            Some(
                                "TransactionConflict"
                                | "ProvisionedThroughputExceeded"
                                | "ThrottlingError",
                            ) => Reason::Transient,
                            Some(other) => Reason::Other(other.to_owned()),
                        })
                        .collect();
                    if reasons.len() != n {
                        // No per-action reasons: treat the whole transaction as transient.
                        reasons = vec![Reason::Transient; n];
                    }
                    return Ok(TxResult::Cancelled(reasons));
                }
                if classify(&e) == Failure::Retryable {
                    tracing::warn!(error = %e, "TransactWriteItems throttled or failed transiently");
                    return Ok(TxResult::Retry);
                }
                Err(request_error("TransactWriteItems", e))
            }
        }
    }
}
