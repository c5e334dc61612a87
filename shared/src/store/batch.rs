//! Batched reads and writes that never lose an item.
//!
//! The SDK retries throttled *requests*, but `UnprocessedKeys` / `UnprocessedItems` come
//! back inside a successful response and are never resubmitted for us. Here keys are
//! deduplicated and chunked (100 per `BatchGetItem`, 25 per `BatchWriteItem`), chunks run
//! with bounded concurrency, and only the unprocessed subset is resubmitted after a capped
//! full-jitter backoff, until the deadline. What is still unprocessed then is reported per
//! key, never dropped.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};
use futures::StreamExt;
use futures::stream;

use super::keys::{self, key_item, pk_of};
use super::{Failure, Item, Store, StoreError, classify, request_error};
use crate::deadline::{Backoff, Deadline};

/// Keys per `BatchGetItem` (the DynamoDB limit).
pub const READ_CHUNK: usize = 100;
/// Requests per `BatchWriteItem` (the DynamoDB limit).
pub const WRITE_CHUNK: usize = 25;

/// What a batched read found.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Found items by `pk`; a key that is neither here nor in `unresolved` does not exist.
    pub items: HashMap<String, Item>,
    /// Keys DynamoDB did not answer before the deadline.
    pub unresolved: HashSet<String>,
}

/// One write of a batch.
#[derive(Clone, Debug)]
pub enum WriteOp {
    /// Put a whole item.
    Put(Item),
    /// Delete the item with this `pk`.
    Delete(String),
}

impl WriteOp {
    fn pk(&self) -> Option<&str> {
        match self {
            WriteOp::Put(item) => pk_of(item),
            WriteOp::Delete(pk) => Some(pk),
        }
    }

    fn into_request(self) -> Result<WriteRequest, StoreError> {
        Ok(match self {
            WriteOp::Put(item) => WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                .build(),
            WriteOp::Delete(pk) => WriteRequest::builder()
                .delete_request(
                    DeleteRequest::builder()
                        .set_key(Some(key_item(&pk)))
                        .build()?,
                )
                .build(),
        })
    }
}

/// The fate of one write of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteStatus {
    /// DynamoDB applied it.
    Written,
    /// Not applied: still unprocessed or throttled at the deadline, or the batch was
    /// rejected. Safe to send again.
    NotProcessed,
}

impl Store {
    /// Reads the items with the given keys (duplicates are read once), consistently.
    pub async fn get_many(
        &self,
        pks: impl IntoIterator<Item = String>,
        deadline: &Deadline,
    ) -> Result<Fetched, StoreError> {
        let mut seen = HashSet::new();
        let unique: Vec<String> = pks.into_iter().filter(|k| seen.insert(k.clone())).collect();
        let chunks: Vec<Vec<String>> = unique.chunks(READ_CHUNK).map(<[_]>::to_vec).collect();
        let mut results = stream::iter(chunks)
            .map(|chunk| self.get_chunk(chunk, deadline))
            .buffer_unordered(self.concurrency);
        let mut fetched = Fetched::default();
        while let Some(part) = results.next().await {
            let part = part?;
            fetched.items.extend(part.items);
            fetched.unresolved.extend(part.unresolved);
        }
        Ok(fetched)
    }

    async fn get_chunk(
        &self,
        chunk: Vec<String>,
        deadline: &Deadline,
    ) -> Result<Fetched, StoreError> {
        let mut pending: Vec<Item> = chunk.iter().map(|k| key_item(k)).collect();
        let mut fetched = Fetched::default();
        let mut backoff = Backoff::default();
        while !pending.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending.clone()))
                .consistent_read(true)
                .build()?;
            let sent = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await;
            match sent {
                Ok(mut out) => {
                    let found = out
                        .responses
                        .as_mut()
                        .and_then(|r| r.remove(&self.table))
                        .unwrap_or_default();
                    for item in found {
                        if let Some(pk) = pk_of(&item).map(str::to_owned) {
                            fetched.items.insert(pk, item);
                        }
                    }
                    pending = out
                        .unprocessed_keys
                        .and_then(|mut u| u.remove(&self.table))
                        .map(|k| k.keys)
                        .unwrap_or_default();
                }
                Err(e) if classify(&e) == Failure::Retryable => {
                    tracing::warn!(error = %e, keys = pending.len(), "BatchGetItem throttled or failed transiently");
                }
                Err(e) => return Err(request_error("BatchGetItem", e)),
            }
            if !pending.is_empty() && !backoff.wait(deadline).await {
                break;
            }
        }
        fetched.unresolved = pending
            .iter()
            .filter_map(|k| pk_of(k).map(str::to_owned))
            .collect();
        if !fetched.unresolved.is_empty() {
            tracing::warn!(
                keys = fetched.unresolved.len(),
                "BatchGetItem keys unresolved at the deadline"
            );
        }
        Ok(fetched)
    }

    /// Applies puts and deletes in batches of 25, resubmitting unprocessed writes with
    /// backoff until `deadline`. Returns each write's tag with its status, in no particular
    /// order. Keys must be distinct (DynamoDB rejects a batch naming one item twice).
    pub async fn write_many<T>(
        &self,
        ops: Vec<(T, WriteOp)>,
        deadline: &Deadline,
    ) -> Vec<(T, WriteStatus)> {
        let mut chunks: Vec<Vec<(T, WriteOp)>> =
            Vec::with_capacity(ops.len().div_ceil(WRITE_CHUNK));
        for op in ops {
            match chunks.last_mut() {
                Some(chunk) if chunk.len() < WRITE_CHUNK => chunk.push(op),
                _ => chunks.push(vec![op]),
            }
        }
        stream::iter(chunks)
            .map(|chunk| self.write_chunk(chunk, deadline))
            .buffer_unordered(self.concurrency)
            .flat_map(stream::iter)
            .collect()
            .await
    }

    async fn write_chunk<T>(
        &self,
        chunk: Vec<(T, WriteOp)>,
        deadline: &Deadline,
    ) -> Vec<(T, WriteStatus)> {
        let mut by_pk: HashMap<String, T> = HashMap::new();
        let mut pending = Vec::with_capacity(chunk.len());
        let mut done = Vec::with_capacity(chunk.len());
        for (tag, op) in chunk {
            let Some(pk) = op.pk().map(str::to_owned) else {
                tracing::error!("write without a pk");
                done.push((tag, WriteStatus::NotProcessed));
                continue;
            };
            match op.into_request() {
                Ok(req) => {
                    by_pk.insert(pk, tag);
                    pending.push(req);
                }
                Err(e) => {
                    tracing::error!(error = %e, "write request could not be built");
                    done.push((tag, WriteStatus::NotProcessed));
                }
            }
        }
        let mut backoff = Backoff::default();
        while !pending.is_empty() {
            let sent = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending.clone())
                .send()
                .await;
            match sent {
                Ok(out) => {
                    let unprocessed = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.table))
                        .unwrap_or_default();
                    let left: HashSet<String> = unprocessed.iter().filter_map(request_pk).collect();
                    for req in &pending {
                        if let Some(pk) = request_pk(req)
                            && !left.contains(&pk)
                            && let Some(tag) = by_pk.remove(&pk)
                        {
                            done.push((tag, WriteStatus::Written));
                        }
                    }
                    pending = unprocessed;
                }
                Err(e) if classify(&e) == Failure::Retryable => {
                    tracing::warn!(error = %e, items = pending.len(), "BatchWriteItem throttled or failed transiently");
                }
                Err(e) => {
                    let e = request_error("BatchWriteItem", e);
                    tracing::error!(error = ?e, items = pending.len(), "BatchWriteItem rejected");
                    break;
                }
            }
            if !pending.is_empty() && !backoff.wait(deadline).await {
                tracing::warn!(
                    items = pending.len(),
                    "BatchWriteItem items unprocessed at the deadline"
                );
                break;
            }
        }
        // Whatever is still mapped was not confirmed written.
        done.extend(
            by_pk
                .into_values()
                .map(|tag| (tag, WriteStatus::NotProcessed)),
        );
        done
    }
}

fn request_pk(req: &WriteRequest) -> Option<String> {
    let key = match (&req.put_request, &req.delete_request) {
        (Some(p), _) => &p.item,
        (None, Some(d)) => &d.key,
        (None, None) => return None,
    };
    key.get(keys::PK)
        .and_then(|v| v.as_s().ok())
        .map(String::to_owned)
}
