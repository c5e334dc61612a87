//! Finding users by something other than their key: a parallel scan segment filtered by
//! an expression, the `email-index`, and the sparse `deleted-index`. One page per call;
//! callers loop while the deadline allows and report what is left.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use super::expression::Expression;
use super::records::UserRecord;
use super::{Failure, Item, Store, StoreError, bounded, classify, keys, request_error};
use crate::deadline::{Backoff, Deadline};
use crate::domain::LinkId;

/// Items per page (before filtering; DynamoDB also stops a page at 1 MB).
pub const PAGE: i32 = 1000;

/// One page: what it found and where the next one starts (`None`: the last page).
#[derive(Debug, Default)]
pub struct Page<T> {
    /// The page's results.
    pub items: Vec<T>,
    /// Where to continue from.
    pub next: Option<Cursor>,
}

/// Where a scan or query continues: DynamoDB's `LastEvaluatedKey`, opaque to callers.
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor(Item);

impl Cursor {
    /// A scan continuing after the item whose key is `key` (from [`Cursor::key`]).
    pub fn after_key(key: &str) -> Self {
        Cursor(keys::key_item(key))
    }

    /// A scan continuing after user `id`.
    pub fn after_user(id: &LinkId) -> Self {
        Self::after_key(&keys::user(id))
    }

    /// An `email-index` query of `email` continuing after user `id`.
    pub fn after_email_entry(email: &str, id: &LinkId) -> Self {
        let mut item = keys::key_item(&keys::user(id));
        item.insert("email".into(), AttributeValue::S(email.to_owned()));
        Cursor(item)
    }

    /// The table key of the last item looked at: with [`Cursor::after_key`], enough to
    /// continue a scan.
    pub fn key(&self) -> Option<&str> {
        keys::pk_of(&self.0)
    }

    /// The user the last item looked at belongs to, if it is a user's.
    pub fn user(&self) -> Option<LinkId> {
        user_ids(std::slice::from_ref(&self.0)).pop()
    }
}

impl Store {
    /// One page of scan segment `segment` of `segments`: up to `limit` items looked at
    /// (at most [`PAGE`]), keeping the user items that satisfy `filter`.
    pub async fn scan_users(
        &self,
        filter: &Expression,
        (segment, segments): (i32, i32),
        limit: i32,
        start: Option<Cursor>,
        deadline: &Deadline,
    ) -> Result<Option<Page<UserRecord>>, StoreError> {
        let out = retrying("Scan", deadline, || {
            self.client
                .scan()
                .table_name(&self.table)
                .segment(segment)
                .total_segments(segments)
                .limit(limit.clamp(1, PAGE))
                .consistent_read(true)
                .filter_expression(filter.text())
                .set_expression_attribute_names(Some(filter.names().clone()))
                .set_expression_attribute_values(Some(filter.values().clone()))
                .set_exclusive_start_key(start.clone().map(|c| c.0))
                .send()
        })
        .await?;
        let Some(out) = out else { return Ok(None) };
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(UserRecord::from_item)
            .collect::<Result<_, _>>()?;
        Ok(Some(Page {
            items,
            next: out.last_evaluated_key.map(Cursor),
        }))
    }

    /// One page of up to `limit` (at most [`PAGE`]) of the users with this e-mail
    /// (`email-index`, keys only).
    pub async fn users_by_email(
        &self,
        email: &str,
        limit: i32,
        start: Option<Cursor>,
        deadline: &Deadline,
    ) -> Result<Option<Page<LinkId>>, StoreError> {
        let values = [(":e", email)];
        self.query_keys("email-index", "email = :e", &values, limit, start, deadline)
            .await
    }

    /// One page of the users of `deleted-index` shard `shard` (below
    /// [`keys::DELETED_SHARDS`]) soft-deleted before `before` (a stored time), oldest
    /// first.
    pub async fn soft_deleted_before(
        &self,
        shard: u8,
        before: &str,
        start: Option<Cursor>,
        deadline: &Deadline,
    ) -> Result<Option<Page<LinkId>>, StoreError> {
        let shard = keys::shard(shard);
        let values = [(":s", shard.as_str()), (":before", before)];
        let condition = "del_shard = :s AND deleted_at < :before";
        self.query_keys("deleted-index", condition, &values, PAGE, start, deadline)
            .await
    }

    /// One page of a keys-only index Query, as user ids.
    async fn query_keys(
        &self,
        index: &str,
        condition: &str,
        values: &[(&str, &str)],
        limit: i32,
        start: Option<Cursor>,
        deadline: &Deadline,
    ) -> Result<Option<Page<LinkId>>, StoreError> {
        let values: HashMap<String, AttributeValue> = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned())))
            .collect();
        let out = retrying("Query", deadline, || {
            self.client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(condition)
                .set_expression_attribute_values(Some(values.clone()))
                .limit(limit.clamp(1, PAGE))
                .set_exclusive_start_key(start.clone().map(|c| c.0))
                .send()
        })
        .await?;
        Ok(out.map(|o| Page {
            items: user_ids(&o.items.unwrap_or_default()),
            next: o.last_evaluated_key.map(Cursor),
        }))
    }
}

fn user_ids(items: &[Item]) -> Vec<LinkId> {
    items
        .iter()
        .filter_map(keys::pk_of)
        .filter_map(|pk| pk.strip_prefix(keys::USER_PREFIX))
        .filter_map(|id| uuid::Uuid::try_parse(id).ok().map(LinkId::from))
        .collect()
}

/// Sends a request, backing off on throttling until the deadline. `Ok(None)`: still
/// throttled, failing or unanswered at the deadline.
async fn retrying<T, E, R, F, Fut>(
    operation: &'static str,
    deadline: &Deadline,
    send: F,
) -> Result<Option<T>, StoreError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let mut backoff = Backoff::default();
    loop {
        let Some(sent) = bounded(deadline, send()).await else {
            tracing::warn!(operation, "no answer before the deadline");
            return Ok(None);
        };
        match sent {
            Ok(out) => return Ok(Some(out)),
            Err(e) if classify(&e) == Failure::Retryable => {
                tracing::warn!(operation, error = %e, "throttled or failed transiently");
                if !backoff.wait(deadline).await {
                    return Ok(None);
                }
            }
            Err(e) => return Err(request_error(operation, e)),
        }
    }
}
