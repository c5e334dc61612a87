//! Batched reads that never lose a key.
//!
//! The SDK retries throttled *requests*, but `UnprocessedKeys` come back inside a
//! successful response and are never resubmitted for us. Here keys are deduplicated and
//! chunked (100 per `BatchGetItem`), chunks run with bounded concurrency, and only the
//! unprocessed subset is resubmitted after a capped full-jitter backoff, until the
//! deadline. What is still unresolved then is reported per key, never dropped.
//!
//! There is no batched write: `BatchWriteItem` cannot carry a condition, and every write
//! of this service is conditional on what was read (see [`super::units`]).

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::KeysAndAttributes;
use futures::StreamExt;
use futures::stream;

use super::keys::{key_item, pk_of};
use super::{Failure, Item, Store, StoreError, bounded, classify, request_error};
use crate::deadline::{Backoff, Deadline};

/// Keys per `BatchGetItem` (the DynamoDB limit).
pub const READ_CHUNK: usize = 100;

/// What a batched read found.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Found items by `pk`; a key that is neither here nor in `unresolved` does not exist.
    pub items: HashMap<String, Item>,
    /// Keys DynamoDB did not answer before the deadline.
    pub unresolved: HashSet<String>,
}

impl Store {
    /// Reads the items with the given keys (duplicates are read once), consistently.
    pub(super) async fn get_many(
        &self,
        pks: impl IntoIterator<Item = String>,
        deadline: &Deadline,
    ) -> Result<Fetched, StoreError> {
        let mut seen = HashSet::new();
        let mut unique: Vec<String> = pks.into_iter().filter(|k| seen.insert(k.clone())).collect();
        let mut fetched = Fetched::default();
        if let Some(overlay) = &self.dry {
            // What the dry run has written is read from it, not from the table.
            unique.retain(|pk| match overlay.get(pk) {
                Some(written) => {
                    if let Some(item) = written {
                        fetched.items.insert(pk.clone(), item);
                    }
                    false
                }
                None => true,
            });
        }
        let chunks: Vec<Vec<String>> = unique.chunks(READ_CHUNK).map(<[_]>::to_vec).collect();
        let mut results = stream::iter(chunks)
            .map(|chunk| self.get_chunk(chunk, deadline))
            .buffer_unordered(self.concurrency);
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
            let request = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send();
            let Some(sent) = bounded(deadline, request).await else {
                break;
            };
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
}
