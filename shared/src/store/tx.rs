//! Conditional transactions: identifier claims, name-registry changes and the user write
//! they belong to commit together or not at all.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update,
};

use super::keys::{self, PK, key_item};
use super::records::UserRecord;
use super::{Failure, Store, StoreError, bounded, classify, request_error};
use crate::deadline::Deadline;
use crate::domain::filter::Expression;
use crate::domain::{Identifier, LinkId};

/// Actions per `TransactWriteItems` (the DynamoDB limit).
pub const TX_LIMIT: usize = 100;

/// A claim naming a user that no longer holds the identifier, as read: the claim may be
/// taken over while that user stays as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Takeover {
    /// The user the claim names.
    pub owner: LinkId,
    /// That user's version when read; `None`: it did not exist.
    pub version: Option<u64>,
}

/// What a user write expects to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No user with this id (create).
    Absent,
    /// The user at this version (update); anything else is a concurrent change.
    Version(u64),
}

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

    /// Puts a user, expecting it absent or at a version.
    pub fn put_user(
        &self,
        record: &UserRecord,
        expect: Expect,
    ) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record.to_item()?));
        let put = match expect {
            Expect::Absent => put.condition_expression("attribute_not_exists(pk)"),
            Expect::Version(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", num(v)),
        };
        Ok(TransactWriteItem::builder().put(put.build()?).build())
    }

    /// Deletes a user read at `version` (a concurrent change or delete fails the
    /// condition), and only if `also` holds then (a filter delete's filter). The version
    /// matters even then: the registry change and the namesake flags planned with the
    /// delete were planned on the user read.
    pub fn delete_user(
        &self,
        id: &LinkId,
        version: u64,
        also: Option<&Expression>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::user(id))))
            .expression_attribute_values(":v", num(version));
        let mut condition = "version = :v".to_owned();
        if let Some(e) = also {
            condition = format!("({}) AND {condition}", e.text);
            for (k, v) in &e.names {
                delete = delete.expression_attribute_names(k, v);
            }
            for (k, v) in &e.values {
                delete = delete.expression_attribute_values(k, v.clone());
            }
        }
        let delete = delete.condition_expression(condition).build()?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Claims an identifier for `owner`; fails if another user owns it.
    pub fn claim(
        &self,
        ident: &Identifier,
        owner: &LinkId,
    ) -> Result<TransactWriteItem, StoreError> {
        self.claim_put(ident, owner, None)
    }

    /// Takes over an identifier whose claim names a user that does not hold it any more:
    /// deleted (`previous.version` `None`) or no longer carrying the number (at that
    /// version): the claim, conditioned on still naming the previous owner. It must go
    /// with [`Store::owner_unchanged`] on that owner (once per owner and transaction:
    /// DynamoDB refuses two actions on one item), or with another action conditioned
    /// on the owner's version read.
    pub fn take_over(
        &self,
        ident: &Identifier,
        owner: &LinkId,
        previous: &Takeover,
    ) -> Result<TransactWriteItem, StoreError> {
        self.claim_put(ident, owner, Some(&previous.owner))
    }

    /// A check that the former owner of claims taken over is still as read (absent, or
    /// at the version read); failing, it cancels the takeover.
    pub fn owner_unchanged(&self, previous: &Takeover) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::user(&previous.owner))));
        let check = match previous.version {
            None => check.condition_expression("attribute_not_exists(pk)"),
            Some(v) => check
                .condition_expression("version = :v")
                .expression_attribute_values(":v", num(v)),
        };
        Ok(TransactWriteItem::builder()
            .condition_check(check.build()?)
            .build())
    }

    /// The claim item for `owner`: free or already ours, or (`previous`) still naming the
    /// user it is taken over from.
    fn claim_put(
        &self,
        ident: &Identifier,
        owner: &LinkId,
        previous: Option<&LinkId>,
    ) -> Result<TransactWriteItem, StoreError> {
        let (condition, expected) = match previous {
            None => ("attribute_not_exists(pk) OR #owner = :owner", owner),
            Some(prev) => ("#owner = :owner", prev),
        };
        let put = Put::builder()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(keys::identifier(ident)))
            .item("owner", AttributeValue::S(owner.to_string()))
            .condition_expression(condition)
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(expected.to_string()))
            .build()?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Frees an identifier `owner` holds; a claim that is already gone is fine, one that
    /// another user holds is left alone (the condition fails).
    pub fn release(
        &self,
        ident: &Identifier,
        owner: &LinkId,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::identifier(ident))))
            .condition_expression("attribute_not_exists(pk) OR #owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .build()?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Writes a name registry read at `read_ver` (0: read as absent) with its new
    /// holders; the version condition makes concurrent writers of one name take turns.
    pub fn registry_set(
        &self,
        name: &str,
        holders: &BTreeSet<LinkId>,
        read_ver: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::name(name))))
            .expression_attribute_values(":ver", num(read_ver + 1));
        let update = if holders.is_empty() {
            update.update_expression("SET ver = :ver REMOVE ids")
        } else {
            update
                .update_expression("SET ver = :ver, ids = :ids")
                .expression_attribute_values(
                    ":ids",
                    AttributeValue::Ss(holders.iter().map(ToString::to_string).collect()),
                )
        };
        let update = if read_ver == 0 {
            update.condition_expression("attribute_not_exists(pk)")
        } else {
            update
                .condition_expression("ver = :read")
                .expression_attribute_values(":read", num(read_ver))
        };
        Ok(TransactWriteItem::builder().update(update.build()?).build())
    }

    /// Sets the `name_dup` flag of another user whose name crosses between one and two
    /// live users, at the version read (a concurrent change of that user, a delete or a
    /// soft delete included, fails the transaction), bumping it so that a concurrent
    /// write of that user retries in turn.
    pub fn set_name_dup(
        &self,
        id: &LinkId,
        dup: bool,
        read_version: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::user(id))))
            .update_expression("SET name_dup = :dup, version = :next")
            .condition_expression("version = :read")
            .expression_attribute_values(":dup", AttributeValue::Bool(dup))
            .expression_attribute_values(":read", num(read_version))
            .expression_attribute_values(":next", num(read_version + 1))
            .build()?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// A number attribute.
pub fn num(n: u64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}
