//! Records of `Idempotency-Key`s: one item per key (`IDEMPOTENCY#<operation>#<digest>`),
//! claimed before the request runs and holding its answer afterwards, so that a retry of
//! the same request gets the first answer instead of applying the request twice.
//!
//! A claim is one conditional `PutItem`: it applies when the key is new, expired, or its
//! lease is over; otherwise the record found comes back with the refusal (no second read)
//! and tells what the key is doing. Records expire after [`RETENTION`] through the
//! table's TTL attribute `expires_at`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

use super::{Store, StoreError, bounded, keys, request_error};
use crate::deadline::Deadline;

/// How long a key and its answer are kept.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Answers larger than this are not kept (DynamoDB items hold at most 400 KB); the key
/// is released instead and a retry applies the request again.
pub const MAX_STORED_BODY: usize = 350_000;

/// One request's hold on a key: which record, what request, and who holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyClaim {
    pk: String,
    fingerprint: String,
    /// Drawn per claim: a condition failing on a record that carries it is our own
    /// claim, written by an attempt whose answer was lost.
    holder: String,
}

impl KeyClaim {
    /// The claim of the caller `subject`'s `key` on `operation` by the request whose
    /// fingerprint (what makes two requests the same) is `fingerprint`.
    pub fn new(operation: &str, subject: &str, key: &str, fingerprint: String) -> Self {
        Self {
            pk: keys::idempotency(operation, subject, key),
            fingerprint,
            holder: uuid::Uuid::new_v4().simple().to_string(),
        }
    }
}

/// An answer kept for the retries of its request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAnswer {
    /// The HTTP status.
    pub status: u16,
    /// Its `Content-Type`, if it had one.
    pub content_type: Option<String>,
    /// The body, as sent.
    pub body: Vec<u8>,
}

/// What claiming a key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// The key was free (new, expired or its lease over): the request may run.
    Claimed,
    /// The record is this claim's own, written by an attempt whose answer was lost: the
    /// request may run.
    OurEarlierClaim,
    /// The same request ran before: its answer.
    Done(StoredAnswer),
    /// The same request is running (its lease is not over).
    Pending,
    /// The key was used for a different request.
    Mismatch,
}

/// The state of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum State {
    /// Claimed by a running request until `lease_until`.
    Pending,
    /// Holds the answer.
    Done,
    /// Given up (expired at once), so the next request with the key claims it.
    Released,
}

/// A key's record under `IDEMPOTENCY#<operation>#<digest>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct IdempotencyRecord {
    pk: String,
    state: State,
    /// SHA-256 of the request; a record without one matches no request.
    #[serde(default)]
    fingerprint: String,
    /// The claim holding a pending record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    holder: Option<String>,
    /// Epoch milliseconds: a pending record may be claimed again after this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_until: Option<u64>,
    /// The answer's status (done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    /// The answer's content type (done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    /// The answer's body, as binary (done).
    #[serde(default, with = "serde_bytes", skip_serializing_if = "Option::is_none")]
    body: Option<Vec<u8>>,
    /// Epoch seconds; the table's TTL attribute.
    expires_at: u64,
}

impl IdempotencyRecord {
    fn new(claim: &KeyClaim, state: State, expires_at: u64) -> Self {
        Self {
            pk: claim.pk.clone(),
            state,
            fingerprint: claim.fingerprint.clone(),
            holder: None,
            lease_until: None,
            status: None,
            content_type: None,
            body: None,
            expires_at,
        }
    }

    /// What the record found in the way of `claim` means for it.
    fn judge(self, claim: &KeyClaim) -> Claimed {
        if self.holder.as_deref() == Some(claim.holder.as_str()) {
            return Claimed::OurEarlierClaim;
        }
        if self.fingerprint != claim.fingerprint {
            return Claimed::Mismatch;
        }
        if self.state != State::Done {
            return Claimed::Pending;
        }
        Claimed::Done(StoredAnswer {
            status: self.status.unwrap_or(200),
            content_type: self.content_type,
            body: self.body.unwrap_or_default(),
        })
    }
}

impl Store {
    /// Claims a key for its request, leased until `deadline` (and a second more), or
    /// finds what holds it.
    pub async fn claim_key(
        &self,
        claim: &KeyClaim,
        deadline: &Deadline,
    ) -> Result<Claimed, StoreError> {
        let now = epoch_millis();
        let remaining_ms = u64::try_from(deadline.remaining().as_millis()).unwrap_or(u64::MAX);
        let record = IdempotencyRecord {
            holder: Some(claim.holder.clone()),
            lease_until: Some(now.saturating_add(remaining_ms).saturating_add(1000)),
            ..IdempotencyRecord::new(claim, State::Pending, now / 1000 + RETENTION.as_secs())
        };
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&record).map_err(StoreError::Encode)?))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now_s \
                 OR (#state = :pending AND lease_until < :now_ms)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now_s", num(now / 1000))
            .expression_attribute_values(":now_ms", num(now))
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        let sent = bounded(deadline, request)
            .await
            .ok_or(StoreError::Unanswered("PutItem"))?;
        let old = match sent {
            Ok(_) => return Ok(Claimed::Claimed),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => {
                    c.item().cloned().unwrap_or_default()
                }
                _ => return Err(request_error("PutItem", e)),
            },
        };
        let old: IdempotencyRecord = from_item(old).map_err(|source| StoreError::Corrupt {
            pk: claim.pk.clone(),
            source,
        })?;
        Ok(old.judge(claim))
    }

    /// Keeps the answer of the claim's request for its retries (for [`RETENTION`]).
    pub async fn keep_answer(
        &self,
        claim: &KeyClaim,
        answer: StoredAnswer,
        deadline: &Deadline,
    ) -> Result<(), StoreError> {
        let expires_at = epoch_millis() / 1000 + RETENTION.as_secs();
        let record = IdempotencyRecord {
            status: Some(answer.status),
            content_type: answer.content_type,
            body: Some(answer.body),
            ..IdempotencyRecord::new(claim, State::Done, expires_at)
        };
        self.put_record(&record, deadline).await
    }

    /// Releases the key: the record expires at once, so the next request with the key
    /// claims it (one `PutItem` either way; the TTL removes it).
    pub async fn release_key(
        &self,
        claim: &KeyClaim,
        deadline: &Deadline,
    ) -> Result<(), StoreError> {
        let record = IdempotencyRecord::new(claim, State::Released, 0);
        self.put_record(&record, deadline).await
    }

    async fn put_record(
        &self,
        record: &IdempotencyRecord,
        deadline: &Deadline,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record).map_err(StoreError::Encode)?))
            .send();
        match bounded(deadline, request).await {
            Some(sent) => sent.map(drop).map_err(|e| request_error("PutItem", e)),
            None => Err(StoreError::Unanswered("PutItem")),
        }
    }
}

fn num(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(fingerprint: &str) -> KeyClaim {
        KeyClaim::new("upsert", "ops", "batch-1", fingerprint.into())
    }

    fn done(c: &KeyClaim) -> IdempotencyRecord {
        IdempotencyRecord {
            status: Some(200),
            content_type: Some("application/xml".into()),
            body: Some(b"<Result/>".to_vec()),
            ..IdempotencyRecord::new(c, State::Done, 1_900_000_000)
        }
    }

    #[test]
    fn records_round_trip_with_the_body_as_binary() {
        let c = claim("f");
        let item = to_item(done(&c)).unwrap();
        assert_eq!(item["state"], AttributeValue::S("done".into()));
        assert_eq!(item["status"], AttributeValue::N("200".into()));
        assert!(matches!(item["body"], AttributeValue::B(_)));
        assert!(!item.contains_key("holder"), "a kept answer has no holder");
        let back: IdempotencyRecord = from_item(item).unwrap();
        assert_eq!(back, done(&c));

        let released = IdempotencyRecord::new(&c, State::Released, 0);
        let item = to_item(&released).unwrap();
        assert_eq!(
            item.len(),
            4,
            "pk, state, fingerprint, expires_at: {item:?}"
        );
        assert_eq!(item["expires_at"], AttributeValue::N("0".into()));
    }

    #[test]
    fn a_record_in_the_way_is_ours_a_mismatch_pending_or_the_answer() {
        let ours = claim("f");
        let pending = IdempotencyRecord {
            holder: Some(ours.holder.clone()),
            lease_until: Some(1),
            ..IdempotencyRecord::new(&ours, State::Pending, 1)
        };
        assert_eq!(pending.clone().judge(&ours), Claimed::OurEarlierClaim);
        let again = claim("f");
        assert_eq!(pending.judge(&again), Claimed::Pending);
        assert_eq!(done(&ours).judge(&claim("g")), Claimed::Mismatch);
        assert_eq!(
            done(&ours).judge(&again),
            Claimed::Done(StoredAnswer {
                status: 200,
                content_type: Some("application/xml".into()),
                body: b"<Result/>".to_vec(),
            })
        );
        let released = IdempotencyRecord::new(&ours, State::Released, 0);
        assert_eq!(released.judge(&again), Claimed::Pending);
    }
}
